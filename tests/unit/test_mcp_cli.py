"""``tui-assistant mcp``: configured MCP servers, their state and their tools."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SECRET = "sk-mcp-CLI-SENTINEL-42"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui_assistant", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def write_config(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


def test_mcp_lists_servers_their_state_and_tools(tmp_path: Path, script: Path):
    config = write_config(tmp_path / "config.toml", f"""
[mcp.servers.demo]
command = {json.dumps(sys.executable)}
args = [{json.dumps(str(script))}]
env_from = {{ DEMO_TOKEN = "CLI_DEMO_TOKEN" }}
env = {{ DEMO_API_KEY = "{SECRET}" }}
trusted = true
tools = ["echo", "picture", "nope"]

[mcp.servers.broken]
command = {json.dumps(sys.executable)}
args = [{json.dumps(str(script))}, "exit"]
""")
    result = run("mcp", "--config", str(config), env={"CLI_DEMO_TOKEN": SECRET})
    assert result.returncode == 1  # a server could not start
    lines = result.stdout.splitlines()
    assert lines == [
        f"demo  ready  {sys.executable} {script}  (trusted, tools = 3 chosen)",
        "  demo__echo     Echo the text back.",
        "  demo__picture  A one-pixel picture.",
        "  not offered by the server: nope",
        f"broken  failed  {sys.executable} {script} exit  (asks before each call)",
        "  could not start: it exited or closed its connection",
        "  stderr: demo server: cannot open the database /nowhere/db",
    ]
    assert SECRET not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_mcp_without_servers(tmp_path: Path):
    config = write_config(tmp_path / "config.toml", 'theme = "nord"\n')
    result = run("mcp", "--config", str(config))
    assert result.returncode == 0
    assert result.stdout == f"no MCP servers configured: add [mcp.servers.NAME] to {config}\n"


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ('[mcp.servers.x]\nargs = ["a"]\n', "needs either command (stdio) or url (HTTP)"),
        ("[mcp.servers.x]\ncommand = 3\n", "mcp.servers.x.command must be a string"),
    ],
)
def test_bad_mcp_config_is_one_line(tmp_path: Path, table: str, problem: str):
    config = write_config(tmp_path / "config.toml", table)
    result = run("mcp", "--config", str(config))
    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("tui-assistant: error: ") and problem in line
