"""MCP tools in the app, as a user drives it: Pilot keys, a real stdio MCP server, the
local server and the real SDK."""

from __future__ import annotations

import io
from typing import Any

from textual import events

from tests.support.app import (
    SIZE,
    main_screen,
    ready,
    turn_done,
    wait_for,
)
from tests.support.mcp import TOOL_NAMES, server_config
from tui_assistant.backend import Connection, connect
from tui_assistant.config import Profile, Settings, resolve_profile
from tui_assistant.store import Store
from tui_assistant.ui.app import TuiAssistantApp
from tui_assistant.ui.screens.tool_call import FunctionCallScreen
from tui_assistant.ui.widgets.tool_marker import ToolMarker


def mcp_app(store: Store, server: Any, *configs) -> TuiAssistantApp:
    settings = Settings(demo_token_delay=0.0, mcp_servers=tuple(configs))

    async def connector(profile: Profile, settings: Settings) -> Connection:
        return await connect(profile, settings, server=server)

    return TuiAssistantApp(
        settings=settings, profile=resolve_profile(settings, env={}), store=store,
        connector=connector,
    )


async def paste_and_send(pilot, text: str) -> None:
    screen = main_screen(pilot.app)
    pilot.app.post_message(events.Paste(text))
    await wait_for(pilot, lambda: screen.composer.text == text, "the pasted text")
    await pilot.press("enter")


def plain(widget) -> str:
    from rich.console import Console

    console = Console(width=100, file=io.StringIO(), record=True, color_system=None)
    console.print(widget.content)
    return console.export_text()


async def test_an_mcp_call_is_approved_and_shown_in_the_tool_pane(store, start_server, script):
    app = mcp_app(
        store, start_server(), server_config(script), server_config(script, "broken", "exit")
    )
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        demo, broken = app.workspace.mcp.servers["demo"], app.workspace.mcp.servers["broken"]
        await wait_for(pilot, lambda: demo.status == "ready" and broken.status == "failed",
                       "the MCP servers to start")
        await pilot.pause()
        pane = screen.activity
        assert "MCP server 'demo' ready: 7 tool(s)" in " ".join(pane.entries)
        assert "MCP server 'broken' could not start: it exited or closed its connection" in (
            " ".join(pane.entries)
        )

        await paste_and_send(pilot, '/call demo__echo {"text": "hi"}')
        await wait_for(pilot, lambda: isinstance(app.screen, FunctionCallScreen), "approval")
        assert app.screen.request.kind == "approve"
        assert app.screen.request.call.name == "demo__echo"
        await pilot.press("ctrl+y")
        await turn_done(pilot, screen, 1)
        replies = [v.text for v in screen.conversation.message_views if v.role == "assistant"]
        assert "echo: hi" in replies[-1]

        (entry,) = pane.calls.values()
        assert (entry.state.name, entry.state.outcome, entry.state.status) == (
            "demo__echo", "ok", "completed"
        )
        await pilot.pause(0.2)
        header = plain(entry.query_one(".entry-header"))
        assert "demo__echo() · MCP demo" in header and "✓" in header
        (marker,) = screen.conversation.query(ToolMarker)
        assert marker.summary.startswith("demo__echo() · MCP demo · completed · ")

        # A tool that raises is shown as failed.
        await paste_and_send(pilot, "/call demo__boom {}")
        await wait_for(pilot, lambda: isinstance(app.screen, FunctionCallScreen), "approval")
        await pilot.press("ctrl+y")
        await turn_done(pilot, screen, 2)
        await pilot.pause(0.2)
        failed = [e for e in pane.calls.values() if e.state.name == "demo__boom"]
        (entry,) = failed
        assert entry.state.outcome == "error"
        header = plain(entry.query_one(".entry-header"))
        assert "demo__boom() · MCP demo" in header and "✗" in header and "failed" in header


async def test_the_palette_restarts_a_server(store, start_server, script):
    app = mcp_app(store, start_server(), server_config(script, trusted=True))
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        demo = app.workspace.mcp.servers["demo"]
        await wait_for(pilot, lambda: demo.status == "ready", "the MCP server to start")
        await pilot.pause()

        def ready_lines() -> list[str]:
            return [e for e in screen.activity.entries if "MCP server 'demo' ready" in e]

        first = demo.client
        assert len(ready_lines()) == 1
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Restart MCP server demo")
        await pilot.pause(0.3)
        await pilot.press("enter")

        await wait_for(pilot, lambda: len(ready_lines()) == 2, "the server to restart")
        assert demo.status == "ready" and demo.client is not first
        names = sorted(f.name for f in app.workspace.mcp.functions())
        assert names == [f"demo__{n}" for n in TOOL_NAMES]


async def test_an_image_from_an_mcp_tool_is_shown_in_the_pane(store, start_server, script):
    from tui_assistant.files import image_path
    from tui_assistant.ui.widgets.image_preview import ImagePreview

    app = mcp_app(store, start_server(), server_config(script, trusted=True))
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await wait_for(pilot, lambda: app.workspace.mcp.servers["demo"].status == "ready",
                       "the MCP server to start")
        await paste_and_send(pilot, "/call demo__picture {}")
        await turn_done(pilot, screen, 1)
        (entry,) = screen.activity.calls.values()
        await wait_for(pilot, lambda: any(p.path for p in entry.query(ImagePreview)),
                       "the image in the pane")
        (preview,) = entry.query(ImagePreview)
        assert preview.path == image_path(entry.state.images[0])
        assert preview.path.read_bytes().startswith(b"\x89PNG")
        logs = plain(entry.query_one(".entry-logs"))
        assert "output submitted · ran on MCP server demo" in logs
        assert "[image/png image returned by the tool, shown to the user]" in logs


async def test_a_reopened_thread_shows_the_server_on_earlier_calls(store, start_server, script):
    app = mcp_app(store, start_server(), server_config(script, trusted=True))
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await wait_for(pilot, lambda: app.workspace.mcp.servers["demo"].status == "ready",
                       "the MCP server to start")
        await paste_and_send(pilot, '/call demo__echo {"text": "again"}')
        await turn_done(pilot, screen, 1)
        thread_id = screen.workspace.current.thread_id
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: screen.workspace.current is None, "a new thread")
        await pilot.press("alt+1")
        await wait_for(pilot, lambda: screen.workspace.current is not None
                       and screen.workspace.current.thread_id == thread_id, "the thread to reopen")
        await wait_for(pilot, lambda: len(screen.activity.calls) == 1, "the restored call")
        (entry,) = screen.activity.calls.values()
        assert entry.state.title == "demo__echo() · MCP demo"
        assert "1 earlier tool call(s) restored" in " ".join(screen.activity.entries)
