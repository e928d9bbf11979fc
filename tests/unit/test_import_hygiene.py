"""Headless modules never load Textual (or Rich); the CLI module loads no heavy library.

Each check runs in a fresh interpreter, so modules imported by other tests cannot hide
an import. Modules that do not exist yet are skipped by name (and reported), not failed.
"""

from __future__ import annotations

import importlib.util

import pytest

from tests.support.imports import loaded_after_import

HEADLESS = [
    "tui_assistant",
    "tui_assistant.engines",
    "tui_assistant.engines.base",
    "tui_assistant.session",
    "tui_assistant.store",
    "tui_assistant.config",
    "tui_assistant.paths",
    "tui_assistant.events",
    "tui_assistant.errors",
    "tui_assistant.cli",
    "tui_assistant.tools",
    "tui_assistant.tools.mcp",
    "tui_assistant.cli_mcp",
    "tui_assistant.files",
]


def _exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # the parent package is missing
        return False


@pytest.mark.parametrize("module", HEADLESS)
def test_headless_module_does_not_import_textual(module: str) -> None:
    if not _exists(module):
        pytest.skip(f"{module} does not exist yet")
    loaded = loaded_after_import([module])
    assert "textual" not in loaded
    assert "rich" not in loaded


def test_all_headless_modules_together() -> None:
    present = [name for name in HEADLESS if _exists(name)]
    missing = sorted(set(HEADLESS) - set(present))
    loaded = loaded_after_import(present)
    assert not {"textual", "rich"} & loaded, f"checked {present}; not yet present: {missing}"


def test_cli_import_is_light() -> None:
    loaded = loaded_after_import(["tui_assistant.cli"])
    heavy = {"textual", "rich", "openai", "httpx", "httpx2", "starlette", "uvicorn", "platformdirs",
             "mcp", "anyio"}
    assert not heavy & loaded
