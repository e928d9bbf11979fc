"""A real stdio MCP server for the tests (written with the official SDK), and its config."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from tui_assistant.config import McpServerConfig

SERVER_SCRIPT = '''
import asyncio, base64, os, sys
from mcp.server.mcpserver import Image, MCPServer

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
if "exit" in sys.argv[1:]:
    print("demo server: cannot open the database /nowhere/db", file=sys.stderr, flush=True)
    sys.exit(3)

app = MCPServer("demo")


def note(what):
    log = os.environ.get("DEMO_LOG")
    if log:
        with open(log, "a") as fh:
            fh.write(what + "\\n")


@app.tool()
def echo(text: str) -> str:
    """Echo the text back."""
    note("echo " + text)
    return "echo: " + text


@app.tool()
def boom() -> str:
    """Always fails."""
    raise ValueError("kaboom")


@app.tool()
async def hang(seconds: float = 600) -> str:
    """Sleep for a while."""
    await asyncio.sleep(seconds)
    return "woke up"


@app.tool()
def token_length() -> str:
    """How long DEMO_TOKEN is (never the token itself)."""
    return str(len(os.environ.get("DEMO_TOKEN", "")))


@app.tool()
def picture() -> Image:
    """A one-pixel picture."""
    return Image(data=PNG, format="png")


@app.tool()
def exit_soon() -> str:
    """Exit a moment after answering."""
    import threading

    def leave():
        print("demo server: leaving", file=sys.stderr, flush=True)
        os._exit(5)

    threading.Timer(0.2, leave).start()
    return "bye"


@app.tool()
def die() -> str:
    """Exit the server."""
    print("demo server: dying on request", file=sys.stderr, flush=True)
    os._exit(7)


print("demo server: starting", file=sys.stderr, flush=True)
app.run()
'''

TOOL_NAMES = ["boom", "die", "echo", "exit_soon", "hang", "picture", "token_length"]


def server_config(script: Path, name: str = "demo", *args: str, **options: Any) -> McpServerConfig:
    return McpServerConfig(name=name, command=sys.executable, args=(str(script), *args), **options)
