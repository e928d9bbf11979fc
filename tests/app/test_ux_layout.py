"""Small terminals (issue 12, item 1): the conversation keeps most of the width, the
header keeps the run status, and every modal keeps its buttons (and the function-output
modal its countdown) on screen. Checked at 80×24, 100×30 and 160×45."""

from __future__ import annotations

import pytest
from textual import events
from textual.widgets import Button

from tests.support.app import (
    make_app,
    ready,
    turn_done,
    wait_for,
)
from tui_assistant.store import Store
from tui_assistant.ui.screens.assistant_form import AssistantForm
from tui_assistant.ui.screens.assistants import AssistantEditor, AssistantsScreen
from tui_assistant.ui.screens.help import HelpScreen
from tui_assistant.ui.screens.main import MainScreen
from tui_assistant.ui.screens.tool_call import FunctionCallScreen


def rows(app) -> list[str]:
    return [
        "".join(segment.text for segment in strip)
        for strip in app.screen._compositor.render_strips()
    ]


def assert_fits(app) -> None:
    """The modal's title, countdown and buttons are drawn whole, inside the dialog."""
    screen = app.screen
    dialog = screen.query_one("#dialog")
    assert screen.region.contains_region(dialog.region)
    parts = [*screen.query(Button), *screen.query("#countdown"), screen.query_one("#title")]
    for widget in parts:
        region = widget.region
        assert region.area > 0, widget
        assert dialog.region.contains_region(region), (widget, region, dialog.region)


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (160, 45)])
async def test_layout_and_modals_fit_the_terminal(store: Store, size: tuple[int, int]) -> None:
    width, height = size
    app = make_app(store)
    async with app.run_test(size=size) as pilot:
        screen = await ready(pilot)
        threads = screen.query_one("#threads-pane")
        conversation = screen.query_one("#conversation-pane")
        tools = screen.query_one("#activity-pane")
        assert "● ready" in rows(app)[0]
        if width < 120:
            assert conversation.region.width >= width * 0.7
            assert not tools.display
            # ctrl+t shows the tool pane over the conversation while it has focus.
            await pilot.press("ctrl+t")
            await pilot.pause()
            assert tools.display and tools.region.width > 0
            assert conversation.region.contains_region(tools.region)
            assert conversation.region.width >= width * 0.7
            await pilot.press("tab")
            await pilot.pause()
            assert not tools.display
        else:
            assert tools.display and tools.region.width >= 30 and threads.region.width >= 30
            assert conversation.region.width >= width * 0.5

        screen.composer.focus()
        app.post_message(events.Paste('/call get_weather {"city": "Oslo"}'))
        await wait_for(pilot, lambda: screen.composer.text.startswith("/call"), "the text")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, FunctionCallScreen), "the modal")
        await pilot.pause()
        assert_fits(app)
        await pilot.press(*"sunny", "ctrl+s")
        await turn_done(pilot, screen, 1)

        await pilot.press("f5")
        await wait_for(pilot, lambda: isinstance(app.screen, AssistantsScreen), "assistants")
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, AssistantEditor), "the editor")
        await pilot.pause()
        assert_fits(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, AssistantsScreen), "back")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the main screen")

        # F1: the table scrolls, the remapping example under it stays in view.
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "the help")
        await pilot.pause()
        detail = app.screen.query_one("#detail")
        assert app.screen.query_one("#dialog").region.contains_region(detail.region)
        assert '[keymap] "thread.rename" = "f3"' in " ".join(rows(app))
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the main screen")

        # The form shown when an endpoint has no assistant yet.
        app.push_screen(AssistantForm(model="demo", reason="The endpoint has no assistants."))
        await pilot.pause()
        assert_fits(app)
