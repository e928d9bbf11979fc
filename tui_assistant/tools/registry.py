"""Local functions the assistant may call, each with its JSON schema.

A ``LocalFunction`` is a Python callable plus what the model needs to call it (name,
description, a JSON schema of its arguments) and what the client needs to run it safely
(whether a human must approve each call, a time limit). A ``ToolRegistry`` holds them by
name; ``ToolRegistry.definitions()`` gives the ``tools`` entries to put on an assistant.

Plugin authors write ordinary functions and mark them with ``function_tool``; the schema
is inferred from the signature when it is not given::

    from tui_assistant.tools import function_tool

    @function_tool(needs_approval=True)
    def delete_branch(name: str, force: bool = False) -> str:
        \"\"\"Delete a git branch.\"\"\"
        ...

Arguments are checked against the schema (a practical subset of JSON Schema: ``type``,
``properties``, ``required``, ``enum``, ``items``, ``additionalProperties: false``) before
a function runs, so a function never sees arguments of the wrong shape.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = [
    "NAME_PATTERN",
    "LocalFunction",
    "ToolRegistry",
    "function_tool",
    "schema_from_signature",
    "validate_arguments",
]

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
"""What the Assistants API accepts as a function name."""

TOOL_MARK = "__tui_assistant_tool__"
"""The attribute ``function_tool`` sets on a decorated function."""

_JSON_TYPES: dict[Any, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    list: "array",
    tuple: "array",
    dict: "object",
}


@dataclass(frozen=True)
class LocalFunction:
    """A function the client can run when the assistant asks for it."""

    name: str
    description: str
    parameters: dict[str, Any]
    """A JSON schema of type ``object`` describing the keyword arguments."""
    func: Callable[..., Any] = field(repr=False, compare=False)
    """Called with the arguments as keyword arguments; sync or async."""
    needs_approval: bool = False
    """Ask the user before each call (config ``approval_required`` can also say so)."""
    timeout: float | None = None
    """Seconds the function may take; ``None`` means the configured default."""
    source: str = "built-in"
    """Where it came from: ``built-in``, an entry point or a module path."""

    def __post_init__(self) -> None:
        if not NAME_PATTERN.match(self.name):
            raise ValueError(
                f"invalid function name {self.name!r}: use 1-64 letters, digits, '_' or '-'"
            )
        if not isinstance(self.parameters, dict) or self.parameters.get("type") != "object":
            raise ValueError(f"the schema of {self.name} must be a JSON schema of type object")
        if self.timeout is not None and not self.timeout > 0:
            raise ValueError(f"the time limit of {self.name} must be a positive number")

    def definition(self) -> dict[str, Any]:
        """The assistant ``tools`` entry for this function."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


class ToolRegistry:
    """Local functions by name. Later registrations of a name replace earlier ones."""

    def __init__(self, functions: Iterable[LocalFunction] = ()) -> None:
        self._functions: dict[str, LocalFunction] = {}
        for function in functions:
            self.add(function)

    def add(self, function: LocalFunction) -> None:
        self._functions[function.name] = function

    def get(self, name: str) -> LocalFunction | None:
        return self._functions.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._functions

    def __iter__(self) -> Iterator[LocalFunction]:
        return iter(sorted(self._functions.values(), key=lambda f: f.name))

    def __len__(self) -> int:
        return len(self._functions)

    @property
    def names(self) -> list[str]:
        return sorted(self._functions)

    def require_approval(self, names: Iterable[str]) -> None:
        """Mark the named functions as needing approval (unknown names are ignored)."""
        for name in names:
            function = self._functions.get(name)
            if function is not None and not function.needs_approval:
                self._functions[name] = replace(function, needs_approval=True)

    def definitions(self, names: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Assistant ``tools`` entries for ``names`` (every function when ``None``)."""
        chosen = self.names if names is None else [n for n in names if n in self._functions]
        return [self._functions[name].definition() for name in chosen]


# --------------------------------------------------------------------------- decorator


def _json_type(annotation: Any) -> dict[str, Any]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _json_type(options[0]) if len(options) == 1 else {}
    if origin is typing.Literal:
        values = list(typing.get_args(annotation))
        schema = _json_type(type(values[0])) if values else {}
        return {**schema, "enum": values}
    if origin in (list, tuple) or annotation in (list, tuple):
        args = typing.get_args(annotation)
        item = _json_type(args[0]) if args and args[0] is not Ellipsis else {}
        return {"type": "array", **({"items": item} if item else {})}
    if origin is dict:
        return {"type": "object"}
    kind = _JSON_TYPES.get(annotation)
    return {"type": kind} if kind else {}


def _docstring(func: Callable[..., Any]) -> str:
    doc = inspect.getdoc(func) or ""
    return doc.split("\n\n", 1)[0].replace("\n", " ").strip()


def schema_from_signature(func: Callable[..., Any]) -> dict[str, Any]:
    """A JSON schema for ``func``'s keyword arguments, from its type hints.

    Parameters without a default are required; ``*args``/``**kwargs`` are not allowed.
    """
    try:
        hints = typing.get_type_hints(func)
    except Exception:  # unresolvable annotations: fall back to untyped arguments
        hints = {}
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, parameter in inspect.signature(func).parameters.items():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise ValueError(f"{func.__name__}: *args and **kwargs cannot be described")
        if parameter.kind is parameter.POSITIONAL_ONLY:
            raise ValueError(f"{func.__name__}: positional-only parameters cannot be named")
        properties[name] = _json_type(hints.get(name, Any))
        if parameter.default is parameter.empty:
            required.append(name)
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def function_tool(
    func: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    parameters: dict[str, Any] | None = None,
    needs_approval: bool = False,
    timeout: float | None = None,
) -> Any:
    """Mark ``func`` as a local function for the assistant (usable bare or with options).

    The function itself is returned unchanged apart from a marker attribute, so it stays
    callable and testable as before.
    """

    def mark(target: Callable[..., Any]) -> Callable[..., Any]:
        function = LocalFunction(
            name=name or target.__name__,
            description=description if description is not None else _docstring(target),
            parameters=parameters if parameters is not None else schema_from_signature(target),
            func=target,
            needs_approval=needs_approval,
            timeout=timeout,
            source=getattr(target, "__module__", "") or "plugin",
        )
        setattr(target, TOOL_MARK, function)
        return target

    return mark(func) if func is not None else mark


# --------------------------------------------------------------------------- validation

_CHECKS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool)
    or (isinstance(v, float) and v.is_integer()),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
    "null": lambda v: v is None,
}


def _problems(schema: Any, value: Any, where: str, depth: int = 0) -> Iterator[str]:
    if not isinstance(schema, dict) or depth > 20:
        return
    expected = schema.get("type")
    if expected is not None:
        kinds = expected if isinstance(expected, list) else [expected]
        known = [k for k in kinds if k in _CHECKS]
        if known and not any(_CHECKS[k](value) for k in known):
            yield f"{where} must be {' or '.join(known)}"
            return
    if "enum" in schema and isinstance(schema["enum"], list) and value not in schema["enum"]:
        choices = ", ".join(repr(v) for v in schema["enum"])
        yield f"{where} must be one of {choices}"
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        for key in schema.get("required") or ():
            if key not in value:
                yield f"{where}.{key} is required" if where != "arguments" else f"{key} is required"
        for key, item in value.items():
            label = key if where == "arguments" else f"{where}.{key}"
            if key in properties:
                yield from _problems(properties[key], item, label, depth + 1)
            elif schema.get("additionalProperties") is False:
                yield f"{label} is not an accepted argument"
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            yield from _problems(schema["items"], item, f"{where}[{index}]", depth + 1)


def validate_arguments(schema: dict[str, Any], arguments: Any) -> list[str]:
    """What is wrong with ``arguments`` for ``schema`` (an empty list when nothing is)."""
    return list(_problems(schema, arguments, "arguments"))
