"""The ``[tools]`` table of config.toml: local functions, approvals, the time limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_assistant import config as config_module
from tui_assistant.config import DEFAULT_TOOL_TIMEOUT, Settings, load_settings
from tui_assistant.errors import ConfigError
from tui_assistant.tools import build_registry


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


def test_defaults():
    settings = Settings()
    assert settings.tool_modules == () and settings.approval_required == ()
    assert settings.tool_timeout == DEFAULT_TOOL_TIMEOUT and settings.tool_entry_points


def test_tools_table(tmp_path: Path):
    settings = load_settings(
        write(
            tmp_path,
            '[tools]\nmodules = ["my_tools", "~/t.py"]\napproval_required = ["deploy"]\n'
            "timeout = 12.5\nentry_points = false\n",
        )
    )
    assert settings.tool_modules == ("my_tools", "~/t.py")
    assert settings.approval_required == ("deploy",)
    assert settings.tool_timeout == 12.5
    assert settings.tool_entry_points is False


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("tools = 3\n", r"\[tools\] must be a table"),
        ("[tools]\nmodule = []\n", "unknown key 'tools.module'"),
        ('[tools]\nmodules = "my_tools"\n', "tools.modules must be an array of strings"),
        ("[tools]\nmodules = [1]\n", r"tools.modules\[0\] must be a string"),
        ('[tools]\nmodules = [" "]\n', r"tools.modules\[0\] must not be empty"),
        ('[tools]\napproval_required = ["rm -rf"]\n', "is not a function name"),
        ("[tools]\ntimeout = 0\n", "more than 0 and at most 540"),
        ("[tools]\ntimeout = 900\n", "more than 0 and at most 540"),
        ('[tools]\ntimeout = "30"\n', "tools.timeout must be a number"),
        ('[tools]\nentry_points = "yes"\n', "tools.entry_points must be true or false"),
    ],
)
def test_bad_tools_table(tmp_path: Path, text: str, problem: str):
    with pytest.raises(ConfigError, match=problem):
        load_settings(write(tmp_path, text))


def test_the_commented_example_is_valid_and_builds_a_registry(tmp_path: Path, monkeypatch):
    text = config_module.DEFAULT_CONFIG
    start = text.index("# [tools]")
    end = text.index("\n\n", start)
    example = "\n".join(line.removeprefix("# ") for line in text[start:end].splitlines())
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "assistant_tools.py").write_text(
        "from tui_assistant.tools import function_tool\n\n"
        "@function_tool\ndef delete_branch(name: str) -> str:\n    return name\n"
    )
    settings = load_settings(
        write(tmp_path, 'allowed_dir = "~/projects"\n' + text[:start] + example + "\n")
    )
    assert settings.tool_modules == ("my_tools", "~/bin/assistant_tools.py")
    registry, problems = build_registry(
        allowed_dir=settings.allowed_dir,
        modules=settings.tool_modules,
        approval_required=settings.approval_required,
        entry_points=settings.tool_entry_points,
    )
    assert [p.source for p in problems] == ["module my_tools"]  # not installed here
    assert registry.get("delete_branch").needs_approval
    assert "read_text_file" in registry
