"""Finding the user's own functions: entry points and module paths.

Two ways to add functions, both giving ``LocalFunction`` objects:

* A package declares an entry point in the group ``tui_assistant.tools``::

      [project.entry-points."tui_assistant.tools"]
      weather = "my_package.tools"            # a module
      forecast = "my_package.tools:forecast"   # one function, or a list of them

* ``config.toml`` names modules: ``[tools] modules = ["my_tools", "~/bin/tools.py"]``
  (an importable module name, or the path of a ``.py`` file).

What a target may be: a ``LocalFunction``; a function marked with ``function_tool``; a
list or tuple of those; or a module, whose ``TOOLS`` list is used when it has one and
otherwise every marked function it defines. A target that cannot be loaded is reported as
a ``PluginProblem`` and skipped; loading never raises.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
import types
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tui_assistant.tools.builtins import builtin_functions
from tui_assistant.tools.registry import TOOL_MARK, LocalFunction, ToolRegistry

__all__ = [
    "ENTRY_POINT_GROUP",
    "PluginProblem",
    "build_registry",
    "functions_in",
    "load_entry_points",
    "load_module",
]

ENTRY_POINT_GROUP = "tui_assistant.tools"


@dataclass(frozen=True)
class PluginProblem:
    """A plugin that could not be loaded, and why (shown to the user once)."""

    source: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.message}"


def functions_in(target: Any, source: str) -> list[LocalFunction]:
    """The local functions ``target`` provides (see the module docstring)."""
    if isinstance(target, LocalFunction):
        return [replace(target, source=source)]
    marked = getattr(target, TOOL_MARK, None)
    if isinstance(marked, LocalFunction):
        return [replace(marked, source=source)]
    if isinstance(target, types.ModuleType):
        listed = getattr(target, "TOOLS", None)
        if listed is not None:
            return functions_in(list(listed), source)
        found = []
        for value in vars(target).values():
            mark = getattr(value, TOOL_MARK, None)
            if isinstance(mark, LocalFunction) and getattr(value, "__module__", None) in (
                target.__name__,
                None,
            ):
                found.append(replace(mark, source=source))
        return found
    if isinstance(target, list | tuple):
        return [f for item in target for f in functions_in(item, source)]
    raise TypeError(
        f"{type(target).__name__} is not a tool: mark functions with function_tool, "
        "or provide LocalFunction objects"
    )


def load_module(spec: str) -> types.ModuleType:
    """Import ``spec``: a module name, or the path of a ``.py`` file."""
    looks_like_path = spec.endswith(".py") or "/" in spec or spec.startswith(("~", "."))
    if not looks_like_path:
        return importlib.import_module(spec)
    path = Path(spec).expanduser().resolve()
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    name = f"tui_assistant_user_tools_{path.stem}_{digest}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def load_entry_points(
    group: str = ENTRY_POINT_GROUP,
) -> tuple[list[LocalFunction], list[PluginProblem]]:
    """The functions of every installed entry point in ``group``."""
    from importlib.metadata import entry_points

    functions: list[LocalFunction] = []
    problems: list[PluginProblem] = []
    for entry in entry_points(group=group):
        source = f"entry point {entry.name} ({entry.value})"
        try:
            functions += functions_in(entry.load(), source)
        except Exception as exc:  # a broken plugin must not stop the app
            problems.append(PluginProblem(source, _describe(exc)))
    return functions, problems


def build_registry(
    *,
    allowed_dir: str | None = None,
    modules: Iterable[str] = (),
    approval_required: Iterable[str] = (),
    entry_points: bool = True,
) -> tuple[ToolRegistry, list[PluginProblem]]:
    """The registry the app uses: built-ins, then entry points, then configured modules
    (a later function of the same name replaces an earlier one), with the configured
    approvals applied."""
    registry = ToolRegistry(builtin_functions(allowed_dir))
    problems: list[PluginProblem] = []
    if entry_points:
        found, failed = load_entry_points()
        for function in found:
            registry.add(function)
        problems += failed
    for spec in modules:
        try:
            for function in functions_in(load_module(spec), f"module {spec}"):
                registry.add(function)
        except Exception as exc:  # includes SyntaxError in the user's file
            problems.append(PluginProblem(f"module {spec}", _describe(exc)))
    registry.require_approval(approval_required)
    return registry, problems
