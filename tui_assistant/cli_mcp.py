"""``tui-assistant mcp``: the configured MCP servers, their state and their tools.

Each server is started as the app would start it, asked for its tools and stopped again.
Exit status: 0 when every server started (or none is configured), 1 when one failed.
Environment values are never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from tui_assistant.config import Settings

__all__ = ["add_parser", "run"]

WIDTH = 100


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "mcp",
        help="list the MCP servers of the config, their state and their tools",
        description="Start each [mcp.servers.NAME] of the config file as the app would, "
        "list its state and the tools it offers (with the names the assistant sees), and "
        "stop it again. Exits with status 1 when a server could not start.",
    )
    parser.add_argument(
        "--config", metavar="PATH", type=Path, default=argparse.SUPPRESS,
        help="read settings from PATH",
    )


def _one_line(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def _probe(settings: Settings):
    from tui_assistant.tools.mcp import McpManager

    manager = McpManager(
        settings.mcp_servers,
        call_timeout=settings.tool_timeout,
        approval_required=settings.approval_required,
    )
    manager.start()
    try:
        await manager.wait_started()
    finally:
        await manager.aclose()
    return list(manager.servers.values())


def run(settings: Settings, config_path: Path) -> int:
    if not settings.mcp_servers:
        print(f"no MCP servers configured: add [mcp.servers.NAME] to {config_path}")
        return 0
    servers = asyncio.run(_probe(settings))
    failed = 0
    for server in servers:
        config = server.config
        status = server.status if server.status == "failed" else "ready"
        flags = ["trusted" if config.trusted else "asks before each call"]
        if config.tools is not None:
            flags.append(f"tools = {len(config.tools)} chosen")
        print(f"{config.name}  {status}  {config.target}  ({', '.join(flags)})")
        if server.status == "failed":
            failed += 1
            print(f"  {server.problem}")
            for line in server.stderr_tail.splitlines():
                print(f"  stderr: {line}")
            continue
        width = max((len(t.api_name) for t in server.tools), default=0)
        for tool in server.tools:
            description = _one_line(tool.description, WIDTH - width - 4)
            print(f"  {tool.api_name:<{width}}  {description}".rstrip())
        if not server.tools:
            print("  (no tools)")
        if server.hidden:
            print(f"  not offered by the server: {', '.join(server.hidden)}")
    sys.stdout.flush()
    return 1 if failed else 0
