"""The conversation pane's keys: bound on the screen, so they work from every pane, and
done by the pane (the palette's entries for it too)."""

from __future__ import annotations

from pathlib import Path

from textual.command import CommandPalette

from tests.support.app import SIZE, make_app, ready, say, turn_done, wait_for
from tui_assistant.server.models import DemoModel
from tui_assistant.store import Store
from tui_assistant.ui.screens.files import AttachFileScreen


async def run_command(pilot, name: str) -> None:
    await pilot.press("ctrl+p")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, CommandPalette), "the palette")
    await pilot.press(*name)
    await pilot.pause(0.3)
    await pilot.press("enter")
    await wait_for(pilot, lambda: not isinstance(pilot.app.screen, CommandPalette), "closed")


async def test_the_pane_keys_work_from_the_other_panes(store: Store, tmp_path: Path) -> None:
    notes = tmp_path / "notes.md"
    notes.write_text("# Notes\n")
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        pane = screen.conversation_pane
        extra = pane.extra_instructions

        screen.threads.focus()  # ctrl+r from the thread list
        await pilot.press("ctrl+r")
        assert extra.is_open and app.focused is extra
        await pilot.press("ctrl+r")  # again, from the box: closed, back to the composer
        assert not extra.is_open and app.focused is screen.composer

        screen.activity.focus()  # ctrl+o from the tool pane
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, AttachFileScreen), "the dialog")
        await pilot.press(*str(notes), "ctrl+s")
        await wait_for(pilot, lambda: app.screen is screen, "the dialog to close")
        assert pane.attachments.labels == ["notes.md (file_search)"]
        assert app.focused is screen.composer

        await run_command(pilot, "clear attachments")
        assert pane.attachments.labels == []

        await say(pilot, "copy me please")
        await turn_done(pilot, screen, replies=1)
        await run_command(pilot, "copy last reply")
        assert app.clipboard == DemoModel().reply_for("copy me please").strip("\n")
