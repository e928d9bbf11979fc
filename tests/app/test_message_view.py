"""How a streaming reply grows on screen: in calm steps, and whole when it is done."""

from __future__ import annotations

import time

import pytest
from textual.app import App, ComposeResult

from tui_assistant.ui.widgets import message_view
from tui_assistant.ui.widgets.conversation import Conversation


class OneConversation(App):
    def compose(self) -> ComposeResult:
        yield Conversation(id="conversation")


def paragraphs(*words: str) -> str:
    return "".join(f"{word}\n\n" for word in words)


async def test_new_lines_wait_for_the_next_step_and_a_finished_reply_shows_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(message_view, "GROWTH_INTERVAL", 60.0)  # no step comes by itself
    app = OneConversation()
    async with app.run_test(size=(60, 6)) as pilot:
        conversation = app.query_one(Conversation)
        view = await conversation.start_reply("msg_1", time.time())
        await pilot.pause()

        view.append(paragraphs("one"))
        await pilot.pause()
        assert view.size.height == 2  # the label and "one": the first growth is at once

        view.append(paragraphs("two", "three"))
        await pilot.pause()
        assert view.size.height == 2  # held back until the next step
        assert "three" in view.text

        view.append("four")
        view.finish()
        await pilot.pause()
        # label, one, blank, two, blank, three, blank, four
        assert view.size.height == 8
        assert conversation.max_scroll_y > 0
        assert conversation.scroll_y == conversation.max_scroll_y  # still following the end


async def test_held_lines_come_in_on_their_own_when_the_stream_pauses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(message_view, "GROWTH_INTERVAL", 0.05)
    app = OneConversation()
    async with app.run_test(size=(60, 30)) as pilot:
        conversation = app.query_one(Conversation)
        view = await conversation.start_reply("msg_1", time.time())
        await pilot.pause()
        view.append(paragraphs("one"))
        view.append(paragraphs("two"))  # too soon after the first growth: held
        assert view._height_cap == 2
        deadline = time.monotonic() + 5
        while view.size.height != 4 and time.monotonic() < deadline:
            await pilot.pause(0.02)
        assert view.size.height == 4  # label, one, blank, two: nothing else was appended
        assert view.has_class("-streaming")


async def test_messages_that_are_not_streaming_grow_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(message_view, "GROWTH_INTERVAL", 60.0)
    app = OneConversation()
    async with app.run_test(size=(60, 30)) as pilot:
        conversation = app.query_one(Conversation)
        view = await conversation.add_user_message("first line", time.time())
        await pilot.pause()
        view.append("\nsecond line")
        await pilot.pause()
        view.append("\nthird line")
        await pilot.pause()
        assert view.size.height == 4


async def test_a_large_burst_is_handed_over_without_waiting_for_the_timer() -> None:
    from tui_assistant.ui.widgets.conversation import FLUSH_CHARS

    app = OneConversation()
    async with app.run_test(size=(60, 30)) as pilot:
        conversation = app.query_one(Conversation)
        view = await conversation.start_reply("msg_1", time.time())
        await pilot.pause()
        conversation.feed("msg_1", "small ")
        assert view.text == ""  # a few words wait for the next flush
        burst = "word " * (FLUSH_CHARS // 5)
        conversation.feed("msg_1", burst)
        assert view.text == "small " + burst  # no await in between: no timer has run
