"""Dialog texts wrap, and Enter never confirms what cannot be undone (issue 12, item 4)."""

from __future__ import annotations

from tests.support.app import (
    make_app,
    ready,
    say,
    turn_done,
    wait_for,
)
from tui_assistant.store import Store
from tui_assistant.ui.screens.assistants import AssistantsScreen
from tui_assistant.ui.screens.dialogs import ConfirmDialog, ExportDialog
from tui_assistant.ui.screens.files import AttachFileScreen


def dialog_text(app) -> str:
    """The words inside the open dialog's frame, as drawn on the screen."""
    region = app.screen.query_one("#dialog").content_region
    rows = [
        "".join(segment.text for segment in strip)
        for strip in app.screen._compositor.render_strips()
    ]
    inside = [row[region.x : region.right] for row in rows[region.y : region.bottom]]
    return " ".join(" ".join(inside).split())


def words(text: str) -> str:
    return " ".join(text.split())


async def opened(pilot, screen_type: type, *keys: str):
    await pilot.press(*keys)
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, screen_type), screen_type.__name__)
    await pilot.pause()
    return pilot.app.screen


async def test_dialog_texts_wrap_at_80_columns_and_enter_cancels_a_delete(store: Store) -> None:
    app = make_app(store)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await ready(pilot)
        await say(pilot, "hello there")
        await turn_done(pilot, screen, replies=1)
        thread_id = screen.workspace.current.thread_id

        screen.threads.focus()
        dialog = await opened(pilot, ConfirmDialog, "delete")
        assert words(dialog.detail) in dialog_text(app)
        assert "Tab, then Enter: Delete" in dialog_text(app)
        await pilot.press("enter")  # Cancel has the focus: nothing is deleted
        await wait_for(pilot, lambda: app.screen is screen, "the dialog to close")
        assert store.get_thread("local", thread_id) is not None

        dialog = await opened(pilot, ExportDialog, "ctrl+s")
        assert "Messages, tool calls with their inputs and outputs, and token usage. " \
               "API keys are never written." in dialog_text(app)
        await pilot.press("escape")

        dialog = await opened(pilot, AttachFileScreen, "ctrl+o")
        assert "It is uploaded when the message is sent: for code_interpreter (data, code) " \
               "or file_search (documents to cite)." in dialog_text(app)
        await pilot.press("escape")

        await opened(pilot, AssistantsScreen, "f5")
        dialog = await opened(pilot, ConfirmDialog, "delete")
        assert words(dialog.detail) in dialog_text(app)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, AssistantsScreen), "cancelled")
        assert len(app.screen.options.options) == 1
