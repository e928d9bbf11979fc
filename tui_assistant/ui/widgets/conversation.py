"""The conversation pane: messages of one thread, and the reply being streamed.

It also carries a one-line ``ToolMarker`` where each tool call happened and previews of
the images messages refer to; it mounts both itself (``mark_call``, ``show_images``).

Deltas are buffered and handed to the streaming ``MessageView`` on a timer
(``FLUSH_INTERVAL``), never per token. The scroller is anchored to the bottom while a
reply streams, until the user scrolls away. Reaching the top asks for older history.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual.containers import VerticalScroll
from textual.geometry import Size
from textual.message import Message
from textual.scrollbar import ScrollBar
from textual.widgets import Static

from tui_assistant.engines.base import ThreadMessage
from tui_assistant.text import clean_text
from tui_assistant.tool_calls import ToolCallRecord
from tui_assistant.ui.widgets.image_preview import ImagePreview
from tui_assistant.ui.widgets.lean_scrollbar import lean_vertical_scrollbar
from tui_assistant.ui.widgets.message_view import MessageView
from tui_assistant.ui.widgets.tool_marker import ToolMarker

FLUSH_INTERVAL = 1 / 10
"""Seconds between hand-overs of buffered text to the screen (100 ms)."""

FLUSH_CHARS = 1_200
"""Buffered characters that are handed over at once, without waiting for the timer. A
fast stream then renders in bounded pieces as it arrives, and the piece left for the
end of the reply (which the user waits for) stays small."""


SHOWN_FIRST = 8
"""Newest messages of a history mounted before it is first drawn; the older ones of the
same page follow ``CHUNK`` at a time, one chunk per frame, so a long history opens at
once. (An older page is mounted in one go: every mount means a layout pass over all the
messages mounted, which costs more than rendering the page's messages; see
docs/architecture.md.)"""

CHUNK = 8


class Notice(Static):
    """A one-paragraph notice in the conversation (an error, or how to get started)."""

    DEFAULT_CSS = """
    Notice {
        width: 1fr;
        padding: 0 1;
        margin: 0 0 1 0;
        color: $text-muted;
    }
    Notice.-error {
        color: $text-error;
        border-left: outer $error;
    }
    Notice.-info {
        border-left: outer $primary 30%;
    }
    """

    def __init__(self, text: str, kind: str = "info") -> None:
        super().__init__(Text(clean_text(text)), classes=f"-{kind}")


class BelowHint(Static):
    """``↓ new text below · ctrl+end``: shown while a reply streams out of view."""

    DEFAULT_CSS = """
    BelowHint {
        dock: bottom;
        width: auto;
        height: 1;
        padding: 0 1;
        background: $accent 30%;
        color: $text;
    }
    """

    def __init__(self) -> None:
        super().__init__("↓ new text below · ctrl+end jumps there")


class Conversation(VerticalScroll):
    """The messages of the open thread."""

    DEFAULT_CSS = """
    Conversation {
        height: 1fr;
        padding: 1 1 0 1;
        scrollbar-size-vertical: 1;
    }
    Conversation > #older {
        color: $text-muted;
        text-align: center;
        width: 1fr;
        margin: 0 0 1 0;
    }
    """

    @dataclass
    class OlderRequested(Message):
        """The user scrolled to the top and older messages exist."""

        conversation: Conversation
        before_id: str

        @property
        def control(self) -> Conversation:
            return self.conversation

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.can_focus = True
        self.has_more = False
        self.loading_older = False
        self._streaming: dict[str, MessageView] = {}
        self._pending: dict[str, list[str]] = {}
        self._pending_chars = 0
        self._timer = None
        self.markers: dict[str, ToolMarker] = {}
        """Tool-call markers by call id (those of the messages shown)."""
        self.assistant_name = ""
        """The name replies are labelled with (the thread's assistant)."""
        self._filling: asyncio.Task[None] | None = None
        """Mounts the older part of the history shown last, chunk by chunk."""
        self._held: list[ThreadMessage] = []
        """Messages of that history not mounted yet (oldest first)."""
        self._unsent: dict[str, MessageView] = {}
        """The message marked "not sent", by context (a thread id, or "" for a new one)."""

    @property
    def vertical_scrollbar(self) -> ScrollBar:
        return lean_vertical_scrollbar(self)  # repainted on every line a reply grows by

    def _size_updated(
        self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True
    ) -> bool:
        # While a reply streams only the virtual height grows; Textual would then ask
        # for a second layout pass (and a second frame) per flush. The scrollbars are
        # updated either way; a change of the pane's own size still lays out as usual.
        if size == self._size and container_size == self._container_size:
            layout = False
        return super()._size_updated(size, virtual_size, container_size, layout)

    def on_mount(self) -> None:
        self.anchor()
        self._timer = self.set_interval(FLUSH_INTERVAL, self.flush, pause=True)

    # -- history --------------------------------------------------------------------

    @property
    def message_views(self) -> list[MessageView]:
        return list(self.query_children(MessageView))

    @property
    def oldest_id(self) -> str | None:
        for message in self._held:
            if message.id:
                return message.id
        for view in self.query_children(MessageView):
            if view.message_id:
                return view.message_id
        return None

    def _stop_filling(self) -> None:
        if self._filling is not None:
            self._filling.cancel()
            self._filling = None
        self._held = []

    async def _after_refresh(self) -> None:
        drawn = asyncio.Event()
        self.call_after_refresh(drawn.set)
        await drawn.wait()

    async def _mount_above(self, views: list[MessageView], chunk_size: int) -> None:
        """Mount ``views`` above the messages shown, in chunks of ``chunk_size`` (newest
        first), one chunk per frame, keeping what is in view where it is."""
        for end in range(len(views), 0, -chunk_size):
            chunk = views[max(0, end - chunk_size):end]
            first = next(iter(self.query_children(MessageView)), None)
            before_height = self.virtual_size.height
            # held at the bottom by the anchor (Textual keeps it there), or scrolled away
            anchored = self.is_anchored and not self._anchor_released
            if first is not None:
                await self.mount_all(chunk, before=first)
            else:
                await self.mount_all(chunk)
            await self._after_refresh()
            if not anchored:
                grown = self.virtual_size.height - before_height
                self.scroll_to(y=self.scroll_y + grown, animate=False, immediate=True)

    async def _fill(self, views: list[MessageView]) -> None:
        try:
            await self._after_refresh()  # the newest messages are drawn first
            await self._mount_above(views, CHUNK)
        finally:
            self._held = []

    async def show_history(
        self, messages: Iterable[ThreadMessage], *, has_more: bool, empty_hint: str = ""
    ) -> None:
        """Replace everything with ``messages`` (oldest first) and scroll to the end.

        A history from the local cache (no run ids, no images) shows its newest
        ``SHOWN_FIRST`` at once and the older ones in chunks after the first frame
        (``prepend_history`` waits for them); a page from the endpoint is mounted whole."""
        self._stop_filling()
        self._streaming.clear()
        self._pending.clear()
        self._pending_chars = 0
        self.markers.clear()
        self.has_more = has_more
        self.loading_older = False
        messages = list(messages)
        views = [self._view_for(m) for m in messages]
        now, later = views[-SHOWN_FIRST:], views[:-SHOWN_FIRST]
        if any(m.run_id or m.images for m in messages):
            # A page from the endpoint: the screen places images and tool markers by
            # these views right after this returns, so all are mounted now.
            now, later = views, []
        with self.app.batch_update():
            await self.remove_children()
            if has_more:
                await self.mount(Static("↑ older messages load when you scroll up", id="older"))
            if now:
                await self.mount_all(now)
            elif empty_hint:
                await self.mount(Notice(empty_hint, "info"))
        self.scroll_end(animate=False, immediate=True)
        self.anchor()
        if later:
            self._held = messages[:len(later)]
            self._filling = asyncio.create_task(self._fill(later))

    async def prepend_history(self, messages: list[ThreadMessage], *, has_more: bool) -> None:
        """Put older ``messages`` above the current ones, keeping the view where it is.

        A history still being mounted (``show_history``) is finished first; this
        returns when all are mounted."""
        filling = self._filling
        if filling is not None:
            await asyncio.wait({filling})
            if filling.cancelled():  # another history was shown meanwhile
                return
            self._filling = None
        known = {v.message_id for v in self.query_children(MessageView)}
        views = [self._view_for(m) for m in messages if m.id not in known]
        marker = self.query("#older")
        if views:
            await self._mount_above(views, len(views))
        self.loading_older = False
        self.has_more = has_more
        if not has_more:
            await marker.remove()

    def _view_for(self, message: ThreadMessage) -> MessageView:
        note = "" if message.status == "completed" else message.status
        return MessageView(
            message.role,
            message.text,
            message_id=message.id,
            created_at=message.created_at,
            note=note,
            author=self.assistant_name if message.role == "assistant" else "",
        )

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        if self._streaming or self.query_children(BelowHint):
            self._update_below_hint()
        if new <= 0 and old > 0 and self.has_more and not self.loading_older:
            self.request_older()

    def request_older(self) -> None:
        before = self.oldest_id
        if before and self.has_more and not self.loading_older:
            self.loading_older = True
            self.post_message(self.OlderRequested(self, before))

    # -- the live turn ---------------------------------------------------------------

    async def add_user_message(self, text: str, created_at: float) -> MessageView:
        await self.query(Notice).remove()
        view = MessageView("user", text, created_at=created_at)
        await self.mount(view)
        self.scroll_end(animate=False)
        self.anchor()
        return view

    async def start_reply(self, message_id: str, created_at: float, text: str = "") -> MessageView:
        view = MessageView(
            "assistant", text, message_id=message_id, created_at=created_at, streaming=True,
            author=self.assistant_name,
        )
        self._streaming[message_id] = view
        await self.mount(view)
        return view

    def feed(self, message_id: str, text: str) -> None:
        """Buffer a delta; it reaches the screen on the next flush."""
        self._pending.setdefault(message_id, []).append(text)
        self._pending_chars += len(text)
        if self._pending_chars >= FLUSH_CHARS:
            self.flush()
        elif self._timer is not None:
            self._timer.resume()

    def flush(self) -> None:
        """Hand all buffered text to the streaming views."""
        if not self._pending:
            if self._timer is not None:
                self._timer.pause()
            return
        pending, self._pending = self._pending, {}
        self._pending_chars = 0
        for message_id, pieces in pending.items():
            view = self._streaming.get(message_id)
            if view is not None:
                view.append("".join(pieces))
        self._update_below_hint()

    def scroll_by_request(self, where: str) -> None:
        """Scroll as the composer asked (``page_up``, ``page_down``, ``home``, ``end``)."""
        if where == "page_up":
            self.scroll_page_up(animate=False)
        elif where == "page_down":
            self.scroll_page_down(animate=False)
        elif where == "home":
            self.scroll_home(animate=False)
        else:
            self.scroll_end(animate=False)
            self.anchor()
        self.call_after_refresh(self._update_below_hint)

    def _update_below_hint(self) -> None:
        """While a reply streams below the view, say so and how to get there."""
        away = bool(self._streaming) and self.max_scroll_y - self.scroll_y > 1
        hints = self.query_children(BelowHint)
        if away and not hints:
            self.mount(BelowHint())
        elif not away and hints:
            hints.remove()

    def complete_reply(self, message_id: str, text: str, note: str = "") -> None:
        self.flush()
        view = self._streaming.pop(message_id, None)
        if view is not None:
            view.finish(text)
            if note:
                view.set_note(note)
        self._update_below_hint()

    def end_streaming(self, note: str = "") -> None:
        """Finish any views still streaming (the run ended or was cancelled)."""
        self.flush()
        for view in self._streaming.values():
            view.finish()
            if note:
                view.set_note(note)
        self._streaming.clear()
        self._update_below_hint()

    def mark_unsent(self, context: str, view: MessageView, note: str) -> None:
        """``view`` holds a message of ``context`` that was not sent: mark it with
        ``note``. One marked copy per context: the newest attempt."""
        old = self._unsent.get(context)
        if old is not None and old is not view and old.is_mounted:
            old.remove()
        self._unsent[context] = view
        view.set_note(note, failed=True)

    def drop_unsent(self, context: str) -> None:
        """The unsent message of ``context`` is being sent again: its marked copy goes."""
        view = self._unsent.pop(context, None)
        if view is not None and view.is_mounted:
            view.remove()

    def take_ids(self, messages: Sequence[ThreadMessage]) -> None:
        """Give the messages shown without an id (the user's) their ids from ``messages``
        (matched by role and text)."""
        by_text = {(m.role, m.text): m.id for m in messages}
        for view in self.message_views:
            if view.message_id is None:
                view.message_id = by_text.get((view.role, view.text))

    async def add_notice(self, text: str, kind: str = "info") -> None:
        await self.mount(Notice(text, kind))
        self.scroll_end(animate=False)

    def view_of(self, message_id: str) -> MessageView | None:
        for view in self.query_children(MessageView):
            if view.message_id == message_id:
                return view
        return None

    # -- tool calls and images ---------------------------------------------------------

    async def mark_call(self, record: ToolCallRecord, *, before: MessageView | None = None,
                        live: bool = True) -> None:
        """A one-line marker for a tool call: at the end (a live call), or just before
        the reply it led to (history)."""
        marker = self.markers.get(record.call_id)
        if marker is not None and marker.is_attached:
            marker.set_summary(record.summary())
            return
        marker = ToolMarker(record.call_id, record.summary())
        self.markers[record.call_id] = marker
        if before is not None:
            await self.mount(marker, before=before)
        elif live:
            await self.mount(marker)
            self.scroll_end(animate=False)

    def update_calls(self, records: Iterable[ToolCallRecord]) -> None:
        for record in records:
            marker = self.markers.get(record.call_id)
            if marker is not None:
                marker.set_summary(record.summary())

    def anchor_for(self, reply_ids: Sequence[str], created_at: float) -> tuple[
            MessageView | None, bool]:
        """Where a call read back from history goes: before the first of its replies
        that is shown, else before the first message newer than it. The second value is
        False when the call is older than every message loaded (no marker then)."""
        ordered = self.message_views
        views = {v.message_id: v for v in ordered if v.message_id}
        anchor = next((views[i] for i in reply_ids if i in views), None)
        if anchor is None:
            anchor = next((v for v in ordered if v.created_at and v.created_at > created_at),
                          None)
        oldest = min((v.created_at for v in ordered if v.created_at), default=None)
        return anchor, anchor is not None or oldest is None or created_at >= oldest

    def show_call(self, call_id: str) -> bool:
        """Scroll to the marker of ``call_id`` and highlight it (False when not loaded)."""
        marker = self.markers.get(call_id)
        if marker is None or not marker.is_attached:
            return False
        for other in self.markers.values():
            other.set_class(other is marker, "-highlight")
        self.scroll_to_widget(marker, animate=False, top=True)
        return True

    async def show_images(self, message_id: str, file_ids: Sequence[str],
                          saved: dict[str, Path]) -> None:
        """Previews of the images a message refers to, under it (each file once)."""
        view = self.view_of(message_id)
        if view is None:
            return
        shown = {p.file_id for p in self.query_children(ImagePreview)}
        for file_id in file_ids:
            if file_id in shown:
                continue
            preview = ImagePreview(file_id, saved.get(file_id))
            preview.add_class("message-image")
            await self.mount(preview, after=view)

    def image_ready(self, file_id: str, path: Path) -> None:
        for preview in self.query_children(ImagePreview):
            if preview.file_id == file_id:
                preview.show(path)

    def image_failed(self, file_id: str, reason: str) -> None:
        for preview in self.query_children(ImagePreview):
            if preview.file_id == file_id:
                preview.failed(reason)
