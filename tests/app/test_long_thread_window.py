"""A long thread keeps only a window of its messages mounted (issue 12).

Scrolling up mounts older messages in small chunks and unmounts as many far below; the
view stays on the message it showed; a message mounted again comes back with its tool
marker and image previews. (Timings are ``bench/threads.py``'s business, not these tests'.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.pilot import Pilot

from tui_assistant.engines.base import ThreadMessage
from tui_assistant.tool_calls import ToolCallRecord
from tui_assistant.ui.widgets import conversation as conversation_module
from tui_assistant.ui.widgets.conversation import Conversation
from tui_assistant.ui.widgets.image_preview import ImagePreview
from tui_assistant.ui.widgets.message_view import MessageView
from tui_assistant.ui.widgets.tool_marker import ToolMarker

WINDOW = 30


@pytest.fixture(autouse=True)
def small_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conversation_module, "WINDOW", WINDOW)


class OneConversation(App):
    def compose(self) -> ComposeResult:
        yield Conversation(id="conversation")


def message(i: int) -> ThreadMessage:
    role = "user" if i % 2 == 0 else "assistant"
    text = f"message {i}" if i % 2 == 0 else f"message {i}\n\n- a point\n- another\n"
    return ThreadMessage(id=f"m{i:04d}", role=role, text=text, created_at=1000.0 + i)


def page(start: int, stop: int) -> list[ThreadMessage]:
    return [message(i) for i in range(start, stop)]


async def settle(pilot: Pilot, conversation: Conversation) -> None:
    """Until the window stops growing (it grows a chunk per frame)."""
    for _ in range(200):
        await pilot.pause()
        if conversation._window_task is None:
            await pilot.pause()
            if conversation._window_task is None:
                return
    raise AssertionError("the window kept growing")


def mounted_ids(conversation: Conversation) -> list[str]:
    return [v.message_id or "" for v in conversation.message_views]


def first_in_view(conversation: Conversation) -> MessageView:
    top = conversation.region.y
    return next(v for v in conversation.message_views if v.region.bottom > top)


async def test_mounted_messages_stay_bounded_while_scrolling_up_through_many_pages() -> None:
    app = OneConversation()
    async with app.run_test(size=(70, 20)) as pilot:
        conversation = app.query_one(Conversation)
        await conversation.show_history(page(250, 300), has_more=True)
        await settle(pilot, conversation)
        for start in range(200, -50, -50):  # five older pages, as the endpoint sends them
            conversation.scroll_home(animate=False, immediate=True)
            await settle(pilot, conversation)
            await conversation.prepend_history(page(start, start + 50),
                                               has_more=start > 0)
            await settle(pilot, conversation)
            assert len(conversation.message_views) <= WINDOW
        # Keep going up through what is loaded until the oldest message is mounted.
        for _ in range(100):
            if conversation.window[0] == 0:
                break
            conversation.scroll_home(animate=False, immediate=True)
            await settle(pilot, conversation)
            assert len(conversation.message_views) <= WINDOW
        assert conversation.loaded_count == 300
        ids = mounted_ids(conversation)
        assert ids[0] == "m0000" and len(ids) <= WINDOW
        assert ids == [f"m{i:04d}" for i in range(len(ids))]  # in order, none missing
        assert not conversation.query("#older")  # nothing older exists
        assert conversation.query("#newer")  # the newest are not mounted now

        # Down again: the newest come back and the oldest go.
        for _ in range(200):
            if conversation.window[1] == 300:
                break
            conversation.scroll_end(animate=False, immediate=True)
            await settle(pilot, conversation)
            assert len(conversation.message_views) <= WINDOW
        ids = mounted_ids(conversation)
        assert ids[-1] == "m0299" and len(ids) <= WINDOW
        assert not conversation.query("#newer")
        assert conversation.query("#older")


async def test_the_view_stays_on_the_same_message_when_older_ones_mount_above() -> None:
    app = OneConversation()
    async with app.run_test(size=(70, 20)) as pilot:
        conversation = app.query_one(Conversation)
        await conversation.show_history(page(100, 150), has_more=True)
        await settle(pilot, conversation)
        conversation.scroll_home(animate=False, immediate=True)
        await pilot.pause()
        view = first_in_view(conversation)
        row = view.region.y
        await conversation.prepend_history(page(50, 100), has_more=True)
        await settle(pilot, conversation)
        assert conversation.window[0] < 150 - 50  # older messages were mounted above
        assert conversation.scroll_y > 0
        assert view.is_attached and view.region.y == row  # not moved on screen

        # From messages loaded but not mounted (the window is full), the same.
        for _ in range(3):
            before = conversation.window[0]
            conversation.scroll_to(y=2, animate=False, immediate=True)
            await pilot.pause()
            view = first_in_view(conversation)
            row = view.region.y
            await settle(pilot, conversation)
            assert conversation.window[0] < before
            assert len(conversation.message_views) <= WINDOW
            assert view.is_attached and view.region.y == row


async def test_a_message_mounted_again_keeps_its_tool_marker_and_images(tmp_path: Path) -> None:
    app = OneConversation()
    async with app.run_test(size=(70, 20)) as pilot:
        conversation = app.query_one(Conversation)
        await conversation.show_history(page(0, 60), has_more=False)
        await settle(pilot, conversation)
        record = ToolCallRecord("call_1", "code_interpreter", status="completed", duration=0.5)
        assert await conversation.place_call(record, ["m0057"], 1057.0)
        picture = tmp_path / "plot.png"
        picture.write_bytes(b"not really a png")
        await conversation.show_images("m0057", ["file_a", "file_b"], {"file_a": picture})
        conversation.image_failed("file_b", "gone")
        await pilot.pause()

        def item() -> list[type]:
            children = list(conversation.children)
            view = conversation.view_of("m0057")
            assert view is not None
            at = children.index(view)
            return [type(w) for w in children[at - 1:at + 3]]

        assert item() == [ToolMarker, MessageView, ImagePreview, ImagePreview]

        # Up to the oldest: the window moves and m0057 is unmounted with what goes with it.
        for _ in range(100):
            if conversation.window[0] == 0:
                break
            conversation.scroll_home(animate=False, immediate=True)
            await settle(pilot, conversation)
        assert conversation.view_of("m0057") is None
        assert not conversation.query(ToolMarker) and not conversation.query(ImagePreview)

        # Back to the end (as ctrl+end): it is mounted again, marker and images with it.
        conversation.scroll_by_request("end")
        await settle(pilot, conversation)
        await pilot.pause()
        assert conversation.view_of("m0057") is not None
        assert item() == [ToolMarker, MessageView, ImagePreview, ImagePreview]
        (marker,) = conversation.query(ToolMarker)
        assert marker.call_id == "call_1" and conversation.markers["call_1"] is marker
        previews = {p.file_id: p for p in conversation.query(ImagePreview)}
        assert previews["file_a"].path == picture
        assert "not downloaded: gone" in str(
            previews["file_b"].query_one(".image-path").render())
        assert conversation.show_call("call_1")


async def test_an_unmounted_message_is_mounted_again_to_be_shown() -> None:
    app = OneConversation()
    async with app.run_test(size=(70, 20)) as pilot:
        conversation = app.query_one(Conversation)
        await conversation.show_history(page(0, 50), has_more=False)
        await settle(pilot, conversation)
        assert conversation.view_of("m0003") is None and conversation.holds("m0003")
        view = await conversation.reveal("m0003")
        assert view is not None and view.message_id == "m0003"
        await settle(pilot, conversation)
        assert len(conversation.message_views) <= WINDOW
        assert view.is_attached  # shown at the top of the view, the window around it
        assert conversation.region.y <= view.region.y < conversation.region.bottom
        assert conversation.query("#newer")  # what follows comes back on scrolling down
