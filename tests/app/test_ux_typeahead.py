"""Keys typed while a dialog is opening go to the dialog (issue 12, "Also")."""

from __future__ import annotations

from textual import events

from tests.support.app import (
    SIZE,
    make_app,
    ready,
    say,
    turn_done,
    wait_for,
)
from tui_assistant.store import Store


def type_at_once(app, *keys: str) -> None:
    """Keys as a fast typist sends them: all queued before the app handles the first."""
    for key in keys:
        app.post_message(events.Key(key, key if len(key) == 1 else None))


async def test_keys_typed_ahead_of_a_dialog_reach_it(store: Store) -> None:
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        # No thread yet: F2 opens nothing (it says so), and the keys after it still type.
        type_at_once(app, "f2", "a", "b")
        await wait_for(pilot, lambda: screen.composer.text == "ab", "the typed text")
        screen.composer.clear()

        await say(pilot, "hello")
        await turn_done(pilot, screen, replies=1)
        # F2, a new name and Enter, typed before the rename dialog is on screen.
        type_at_once(app, "f2", "ctrl+u", "x", "y", "enter")
        await wait_for(pilot, lambda: screen.workspace.current.title == "xy", "the rename")
        await wait_for(pilot, lambda: app.screen is screen, "the dialog to close")
        assert [v.text for v in screen.conversation.message_views if v.role == "user"] == [
            "hello"
        ]  # nothing typed for the dialog was sent as a message
        assert screen.composer.text == ""


async def test_a_key_typed_after_delete_reaches_the_confirmation(store: Store) -> None:
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await say(pilot, "keep me")
        await turn_done(pilot, screen, replies=1)
        thread = screen.workspace.current
        screen.threads.focus()
        await pilot.pause()
        # Delete, then Escape before the confirmation is on screen: Escape answers it.
        type_at_once(app, "delete", "escape")
        await wait_for(pilot, lambda: app.screen is screen and app._type_ahead is None,
                       "the confirmation to be answered")
        await pilot.pause()
        assert app.screen is screen
        assert store.get_thread(thread.endpoint, thread.thread_id) is not None
