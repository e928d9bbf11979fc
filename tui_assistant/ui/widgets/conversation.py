"""The conversation pane: messages of one thread, and the reply being streamed.

It also carries a one-line ``ToolMarker`` where each tool call happened and previews of
the images messages refer to; it mounts both itself (``mark_call``, ``show_images``).

Deltas are buffered and handed to the streaming ``MessageView`` on a timer
(``FLUSH_INTERVAL``), never per token. The scroller is anchored to the bottom while a
reply streams, until the user scrolls away. Reaching the top asks for older history.

Of the history loaded only a window of at most ``WINDOW`` messages is mounted; it grows
a chunk per frame towards where the user scrolls and sheds messages far out of view at
the other end (docs/architecture.md, "Long threads").
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual.containers import VerticalScroll
from textual.geometry import Size
from textual.layout import DockArrangeResult
from textual.message import Message
from textual.scrollbar import ScrollBar
from textual.widget import Widget
from textual.widgets import Static

from tui_assistant.engines.base import ThreadMessage
from tui_assistant.text import clean_text
from tui_assistant.tool_calls import ToolCallRecord
from tui_assistant.ui.heap import freeze_startup_heap
from tui_assistant.ui.keys import key_label
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
"""Newest messages of a history mounted before it is first drawn; the older ones follow
``CHUNK`` at a time, one chunk per frame, so a long history opens at once."""

CHUNK = 6
"""History messages mounted per frame while the window of mounted messages grows (their
Markdown is rendered before, a few at a time between frames)."""

WINDOW = 60
"""Most history messages mounted at once (more only while that many do not fill the view
and the look-ahead on both sides). Every mount is a layout pass over all the widgets
mounted, and every full garbage collection walks their rendered lines, so their number
bounds the longest pause while scrolling: scrolling on past the window mounts more on
that side and unmounts as many far out of view on the other (they come back from memory,
markers and images included, when scrolled to again). See "Long threads" in
docs/architecture.md."""

RENDER_SLICE = 0.012
"""Seconds of Markdown rendering done ahead of a mount before the event loop gets a turn."""

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

    def on_mount(self) -> None:
        jump = key_label(self.app, "composer.newest", "^end")
        self.update(f"↓ new text below · {jump} jumps there")


class Conversation(VerticalScroll):
    """The messages of the open thread."""

    DEFAULT_CSS = """
    Conversation {
        height: 1fr;
        padding: 1 1 0 1;
        scrollbar-size-vertical: 1;
    }
    Conversation > #older, Conversation > #newer {
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
        """Tool-call markers by call id (those mounted)."""
        self.assistant_name = ""
        """The name replies are labelled with (the thread's assistant)."""
        self._unsent: dict[str, MessageView] = {}
        """The message marked "not sent", by context (a thread id, or "" for a new one)."""
        # The history shown, and the window of it that is mounted (see ``WINDOW``).
        self._history: list[ThreadMessage] = []
        """Every history message loaded for the thread shown (oldest first)."""
        self._lo = 0
        self._window_views: list[MessageView] = []
        """The mounted views of ``_history[_lo:_lo + len(_views)]``, in order."""
        self._window_task: asyncio.Task[None] | None = None
        self._pin: tuple[Widget, int] | None = None
        """A widget to keep where it is in the viewport through the next layouts (its
        line relative to the top of the view) while messages mount or unmount."""
        self._older: Static | None = None
        """``#older``: above the window while older messages exist, loaded or not."""
        self._newer: Static | None = None
        """``#newer``: below the window while newer loaded messages are not mounted."""
        self._placements: DockArrangeResult | None = None
        self._placed: dict[Widget, int] | None = None
        # What goes with a history message when it is (re)mounted.
        self._calls_before: dict[str, list[str]] = {}
        """Message id -> ids of the tool calls whose markers go just before it."""
        self._call_owner: dict[str, str] = {}
        self._records: dict[str, ToolCallRecord] = {}
        self._highlighted: str | None = None
        self._images_after: dict[str, list[str]] = {}
        """Message id -> file ids of the image previews under it."""
        self._image_owner: dict[str, str] = {}
        self._previews: dict[str, ImagePreview] = {}
        self._saved_images: dict[str, Path] = {}
        self._image_failures: dict[str, str] = {}

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

    def arrange(self, size: Size, optimal: bool = False) -> DockArrangeResult:
        result = super().arrange(size, optimal)
        if result is not self._placements:
            self._placements, self._placed = result, None
        pin = self._pin
        if pin is not None and not (self._anchored and not self._anchor_released):
            # Messages were mounted or unmounted around what is in view: scroll by as
            # much as it moved, in this same layout pass (as Textual's anchor does), so
            # no frame shows it displaced.
            widget, offset = pin
            y = self._y_of(widget)
            if y is not None:
                y = max(0, y - offset)
                if y != self.scroll_y:
                    self.set_reactive(Widget.scroll_y, y)
                    self.set_reactive(Widget.scroll_target_y, y)
                    self.vertical_scrollbar._reactive_position = y
        return result

    def on_mount(self) -> None:
        self.anchor()
        self._timer = self.set_interval(FLUSH_INTERVAL, self.flush, pause=True)

    # -- history --------------------------------------------------------------------

    @property
    def message_views(self) -> list[MessageView]:
        return list(self.query_children(MessageView))

    @property
    def oldest_id(self) -> str | None:
        for message in self._history:
            if message.id:
                return message.id
        for view in self.query_children(MessageView):
            if view.message_id:
                return view.message_id
        return None

    @property
    def loaded_count(self) -> int:
        """History messages loaded (mounted or not)."""
        return len(self._history)

    @property
    def window(self) -> tuple[int, int]:
        """The slice of the loaded history that is mounted, as (start, end)."""
        return self._lo, self._lo + len(self._window_views)

    def holds(self, message_id: str) -> bool:
        """Whether ``message_id`` is loaded (mounted, or ready to be mounted)."""
        return self.view_of(message_id) is not None or any(
            m.id == message_id for m in self._history)

    def _y_of(self, widget: Widget) -> int | None:
        """The line ``widget`` starts at in the scrolled content, as last laid out."""
        if self._placements is None:
            return None
        if self._placed is None:
            self._placed = {p.widget: p.region.y for p in self._placements.placements}
        return self._placed.get(widget)

    def _stop_window(self) -> None:
        if self._window_task is not None:
            self._window_task.cancel()
            self._window_task = None
        self._pin = None

    async def _after_refresh(self) -> None:
        drawn = asyncio.Event()
        self.call_after_refresh(drawn.set)
        await drawn.wait()

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

    def _item(self, view: MessageView) -> list[Widget]:
        """A history message's widgets as mounted: its markers, it, its images."""
        mid = view.message_id or ""
        widgets: list[Widget] = [
            marker for cid in self._calls_before.get(mid, ())
            if (marker := self.markers.get(cid)) is not None and marker.parent is self
        ]
        widgets.append(view)
        widgets.extend(
            preview for fid in reversed(self._images_after.get(mid, ()))
            if (preview := self._previews.get(fid)) is not None and preview.parent is self
        )
        return widgets

    def _new_item(self, view: MessageView) -> list[Widget]:
        """Fresh widgets for a history message about to be mounted."""
        mid = view.message_id or ""
        widgets: list[Widget] = []
        for cid in self._calls_before.get(mid, ()):
            widgets.append(self._new_marker(cid))
        widgets.append(view)
        for fid in reversed(self._images_after.get(mid, ())):
            widgets.append(self._new_preview(fid))
        return widgets

    def _new_marker(self, call_id: str) -> ToolMarker:
        marker = ToolMarker(call_id, self._records[call_id].summary())
        marker.set_class(call_id == self._highlighted, "-highlight")
        self.markers[call_id] = marker
        return marker

    def _new_preview(self, file_id: str) -> ImagePreview:
        preview = ImagePreview(file_id, self._saved_images.get(file_id))
        preview.add_class("message-image")
        self._previews[file_id] = preview
        return preview

    def _after_mounting(self, widgets: Iterable[Widget]) -> None:
        for widget in widgets:
            if isinstance(widget, ImagePreview) and widget.file_id in self._image_failures:
                widget.failed(self._image_failures[widget.file_id])

    def _view_width(self) -> int:
        for view in self._window_views:
            if view.is_mounted and view.content_size.width:
                return view.content_size.width
        return 0

    async def _prepare(self, views: Sequence[MessageView]) -> None:
        """Render the views' Markdown before they are mounted, a slice at a time with the
        event loop free in between, so the frame that mounts them only lays them out."""
        width = self._view_width()
        if not width:
            return
        started = time.perf_counter()
        for view in views:
            view.prepare(width)
            if time.perf_counter() - started > RENDER_SLICE:
                await asyncio.sleep(0)
                started = time.perf_counter()

    async def _sync_placeholders(self) -> None:
        """``#older`` above the window while older messages exist (loaded or not);
        ``#newer`` below it while newer loaded messages are not mounted."""
        above = self.has_more or self._lo > 0
        if above and self._older is None:
            self._older = Static("↑ older messages load when you scroll up", id="older")
            await self.mount(self._older, before=0 if self.children else None)
        elif not above and self._older is not None:
            older, self._older = self._older, None
            await older.remove()
        below = self._lo + len(self._window_views) < len(self._history)
        if below and self._newer is None and self._window_views:
            last = self._item(self._window_views[-1])[-1]
            self._newer = Static("↓ newer messages load when you scroll down", id="newer")
            await self.mount(self._newer, after=last)
        elif not below and self._newer is not None:
            newer, self._newer = self._newer, None
            await newer.remove()

    def _lookahead(self) -> int:
        return max(self.scrollable_content_region.height, 10)

    def _next_step(self) -> str | None:
        """Where the window should grow next: ``up``, ``down`` or nowhere."""
        if not self._window_views:
            return None
        top, view_height = round(self.scroll_y), self.scrollable_content_region.height
        ahead = self._lookahead()
        end = self._lo + len(self._window_views)
        if end < len(self._history):
            y = self._y_of(self._newer) if self._newer is not None else None
            if y is not None and y - (top + view_height) < ahead:
                return "down"
        if self._lo > 0:
            if len(self._window_views) < WINDOW:
                return "up"
            y = self._y_of(self._item(self._window_views[0])[0])
            if y is not None and top - y < ahead:
                return "up"
        return None

    def _check_window(self) -> None:
        """Grow the window if the view came near one of its ends (cheap when not)."""
        if self._window_task is None and self._next_step() is not None:
            self._window_task = asyncio.create_task(self._run_window())

    async def _run_window(self) -> None:
        try:
            await self._after_refresh()  # laid out: positions and widths are known
            while self.is_attached:
                step = self._next_step()
                if step is None:
                    break
                await self._grow(step)
        finally:
            if self._window_task is asyncio.current_task():
                self._window_task = None

    async def _settle_window(self) -> None:
        """Start growing the window if it should, and wait until it stops."""
        self._check_window()
        task = self._window_task
        if task is not None:
            await asyncio.wait({task})

    def _pin_view(self, avoid: Sequence[Widget] = ()) -> None:
        """Pin the first widget in view (not one of ``avoid``, nor a placeholder, which
        stays at the top or bottom) where it is."""
        top = round(self.scroll_y)
        for child in self.children:
            if child in avoid or child.id in ("older", "newer") or child.styles.dock != "none":
                continue
            y = self._y_of(child)
            if y is not None and y + child.outer_size.height > top:
                self._pin = (child, y - top)
                return
        self._pin = None

    async def _grow(self, step: str) -> None:
        """Mount ``CHUNK`` more history messages above or below the window, and unmount
        as many far out of view at the other end when the window is full."""
        end = self._lo + len(self._window_views)
        if step == "up":
            start, stop = max(0, self._lo - CHUNK), self._lo
        else:
            start, stop = end, min(len(self._history), end + CHUNK)
        history, window = self._history, self.window
        views = [self._view_for(m) for m in history[start:stop]]
        await self._prepare(views)
        if history is not self._history or window != self.window:
            return  # another history was shown, or the window moved meanwhile
        widgets = [w for view in views for w in self._new_item(view)]
        drop = self._to_drop(step, len(self._window_views) + len(views) - WINDOW)
        dropped = [w for view in drop for w in self._item(view)]
        self._pin_view(avoid=dropped)
        if step == "up":
            before = self._item(self._window_views[0])[0]
            self._window_views[:0] = views
            self._lo = start
            if drop:
                del self._window_views[-len(drop):]
            mounting = self.mount_all(widgets, before=before)
        else:
            newer = self._newer
            self._window_views.extend(views)
            if drop:
                del self._window_views[:len(drop)]
                self._lo += len(drop)
            mounting = self.mount_all(widgets, before=newer)
        for widget in dropped:
            self._forget(widget)
        removing = self.remove_children(dropped) if dropped else None
        try:
            await mounting
            if removing is not None:
                await removing
            self._after_mounting(widgets)
            await self._sync_placeholders()
            await self._after_refresh()
        finally:
            self._pin = None

    def _to_drop(self, step: str, excess: int) -> list[MessageView]:
        """Up to ``excess`` views at the far end from ``step``, all well out of view."""
        if excess <= 0:
            return []
        top = round(self.scroll_y)
        bottom = top + self.scrollable_content_region.height
        ahead = self._lookahead()
        candidates = self._window_views[::-1] if step == "up" else self._window_views
        drop: list[MessageView] = []
        for view in candidates[:excess]:
            if view in self._streaming.values():
                break
            item = self._item(view)
            first, last = self._y_of(item[0]), self._y_of(item[-1])
            if first is None or last is None:
                break
            if step == "up" and first < bottom + ahead:
                break
            if step == "down" and last + item[-1].outer_size.height > top - ahead:
                break
            drop.append(view)
        return drop

    def _forget(self, widget: Widget) -> None:
        if isinstance(widget, ToolMarker) and self.markers.get(widget.call_id) is widget:
            del self.markers[widget.call_id]
        elif isinstance(widget, ImagePreview) and self._previews.get(widget.file_id) is widget:
            del self._previews[widget.file_id]

    async def _mount_window(self, start: int, stop: int) -> None:
        """Replace the mounted history with ``_history[start:stop]`` (a jump)."""
        self._stop_window()
        views = [self._view_for(m) for m in self._history[start:stop]]
        await self._prepare(views)
        dropped = [w for view in self._window_views for w in self._item(view)]
        if self._newer is not None:
            dropped.append(self._newer)
            self._newer = None
        for widget in dropped:
            self._forget(widget)
        widgets = [w for view in views for w in self._new_item(view)]
        self._window_views, self._lo = views, start
        with self.app.batch_update():
            await self.remove_children(dropped)
            if self._older is not None:
                await self.mount_all(widgets, after=self._older)
            elif self.children:
                await self.mount_all(widgets, before=0)
            else:
                await self.mount_all(widgets)
            self._after_mounting(widgets)
            await self._sync_placeholders()

    async def reveal(self, message_id: str) -> MessageView | None:
        """The view of a loaded message, mounting the history around it if it is not."""
        view = self.view_of(message_id)
        if view is not None:
            return view
        index = next((i for i, m in enumerate(self._history) if m.id == message_id), None)
        if index is None:
            return None
        self.release_anchor()
        start = max(0, index - SHOWN_FIRST)
        await self._mount_window(start, min(len(self._history), index + SHOWN_FIRST + 1))
        view = self.view_of(message_id)
        if view is not None:
            await self._after_refresh()
            self.scroll_to_widget(view, animate=False, top=True, immediate=True)
        return view

    async def show_newest(self) -> None:
        """Mount the newest history messages again if the window was scrolled away."""
        if self._lo + len(self._window_views) < len(self._history):
            count = len(self._history)
            await self._mount_window(max(0, count - SHOWN_FIRST), count)

    async def show_history(
        self, messages: Iterable[ThreadMessage], *, has_more: bool, empty_hint: str = ""
    ) -> None:
        """Replace everything with ``messages`` (oldest first) and scroll to the end.

        A history from the local cache (no run ids, no images) shows its newest
        ``SHOWN_FIRST`` at once and the older ones in chunks after the first frame
        (``prepend_history`` waits for them); a page from the endpoint is mounted whole."""
        self._stop_window()
        self._streaming.clear()
        self._pending.clear()
        self._pending_chars = 0
        self.markers.clear()
        self._calls_before.clear()
        self._call_owner.clear()
        self._records.clear()
        self._highlighted = None
        self._images_after.clear()
        self._image_owner.clear()
        self._previews.clear()
        self._image_failures.clear()
        self.has_more = has_more
        self.loading_older = False
        messages = list(messages)
        self._history = messages
        shown = SHOWN_FIRST
        if any(m.run_id or m.images for m in messages):
            # A page from the endpoint: the screen places images and tool markers by
            # these views right after this returns, so all are mounted now.
            shown = WINDOW
        self._lo = max(0, len(messages) - shown)
        self._window_views = [self._view_for(m) for m in messages[self._lo:]]
        self._older = self._newer = None
        with self.app.batch_update():
            await self.remove_children()
            if self._window_views:
                await self.mount_all(self._window_views)
            elif empty_hint:
                await self.mount(Notice(empty_hint, "info"))
            await self._sync_placeholders()
        self.scroll_end(animate=False, immediate=True)
        self.anchor()
        self._check_window()
        freeze_startup_heap()  # start-up is over by the first history shown

    async def prepend_history(self, messages: list[ThreadMessage], *, has_more: bool) -> None:
        """Put older ``messages`` above the loaded ones, keeping the view where it is.

        When the top of what is loaded is in view (or fewer than ``WINDOW`` messages are
        mounted), this returns once they are mounted."""
        known = {m.id for m in self._history}
        known.update(v.message_id for v in self.query_children(MessageView))
        new = [m for m in messages if m.id not in known]
        self._history[:0] = new
        self._lo += len(new)
        self.has_more = has_more
        try:
            if new:
                await self._settle_window()
        finally:
            self.loading_older = False
            await self._sync_placeholders()

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        if self._streaming or self.query_children(BelowHint):
            self._update_below_hint()
        if self._history:
            self._check_window()
        if new <= 0 and old > 0 and self._lo == 0 and self.has_more and not self.loading_older:
            self.request_older()

    def request_older(self) -> None:
        before = self.oldest_id
        if before and self.has_more and not self.loading_older:
            self.loading_older = True
            self.post_message(self.OlderRequested(self, before))

    # -- the live turn ---------------------------------------------------------------

    async def add_user_message(self, text: str, created_at: float) -> MessageView:
        await self.show_newest()
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
        elif self._lo + len(self._window_views) < len(self._history):
            self.run_worker(self._to_end(), group="conversation-end", exclusive=True,
                            exit_on_error=False)
            return
        else:
            self.scroll_end(animate=False)
            self.anchor()
        self.call_after_refresh(self._update_below_hint)

    async def _to_end(self) -> None:
        await self.show_newest()
        self.scroll_end(animate=False, immediate=True)
        self.anchor()
        self.call_after_refresh(self._update_below_hint)

    def _update_below_hint(self) -> None:
        """While a reply streams below the view, say so and how to get there."""
        # A conversation shorter than the pane sits at its bottom with a negative
        # scroll offset: nothing is below it then.
        away = bool(self._streaming) and self.max_scroll_y - max(self.scroll_y, 0) > 1
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
        if before is not None and before in self._window_views and before.message_id:
            await self._mark_before(record, before.message_id)
            return
        marker = ToolMarker(record.call_id, record.summary())
        self.markers[record.call_id] = marker
        if before is not None:
            await self.mount(marker, before=before)
        elif live:
            await self.mount(marker)
            self.scroll_end(animate=False)

    async def _mark_before(self, record: ToolCallRecord, message_id: str) -> None:
        """A history call's marker, kept with the message it goes before (mounted with
        it whenever it is)."""
        call_id = record.call_id
        self._records[call_id] = record
        if self._call_owner.get(call_id) != message_id:
            self._call_owner[call_id] = message_id
            self._calls_before.setdefault(message_id, []).append(call_id)
        view = self.view_of(message_id)
        if view is not None and view in self._window_views:
            marker = self._new_marker(call_id)
            await self.mount(marker, before=view)

    def update_calls(self, records: Iterable[ToolCallRecord]) -> None:
        for record in records:
            if record.call_id in self._records:
                self._records[record.call_id] = record
            marker = self.markers.get(record.call_id)
            if marker is not None:
                marker.set_summary(record.summary())

    def _locate(self, reply_ids: Sequence[str], created_at: float) -> tuple[
            str | MessageView | None, bool]:
        """Where a call read back from history goes: before the first of its replies that
        is loaded, else before the first message newer than it -- a history message (by
        id) or a view of this session. The second value is False when the call is older
        than every message loaded (no marker then)."""
        window = set(self._window_views)
        live = [v for v in self.query_children(MessageView) if v not in window]
        ids = {m.id for m in self._history if m.id}
        live_ids = {v.message_id: v for v in live if v.message_id}
        anchor: str | MessageView | None = None
        for reply_id in reply_ids:
            if reply_id in ids:
                anchor = reply_id
                break
            if reply_id in live_ids:
                anchor = live_ids[reply_id]
                break
        if anchor is None:
            anchor = next((m.id for m in self._history
                           if m.id and m.created_at and m.created_at > created_at), None)
        if anchor is None:
            anchor = next((v for v in live if v.created_at and v.created_at > created_at),
                          None)
        times = [m.created_at for m in self._history if m.created_at]
        times += [v.created_at for v in live if v.created_at]
        oldest = min(times, default=None)
        return anchor, anchor is not None or oldest is None or created_at >= oldest

    def anchor_for(self, reply_ids: Sequence[str], created_at: float) -> tuple[
            MessageView | None, bool]:
        """The mounted view a history call's marker goes before (``None``: at the end, or
        not mounted), and whether the call is within the messages loaded."""
        anchor, loaded = self._locate(reply_ids, created_at)
        if isinstance(anchor, str):
            return self.view_of(anchor), loaded
        return anchor, loaded

    async def place_call(self, record: ToolCallRecord, reply_ids: Sequence[str],
                         created_at: float) -> bool:
        """Mark a call read back from history before the reply it led to (see
        ``_locate``); False when it is older than every message loaded."""
        anchor, loaded = self._locate(reply_ids, created_at)
        if not loaded:
            return False
        if isinstance(anchor, str):
            await self._mark_before(record, anchor)
        else:
            await self.mark_call(record, before=anchor)
        return True

    def show_call(self, call_id: str) -> bool:
        """Scroll to the marker of ``call_id`` and highlight it (False when not loaded)."""
        marker = self.markers.get(call_id)
        if marker is None or not marker.is_attached:
            owner = self._call_owner.get(call_id)
            if owner is None or not self.holds(owner):
                return False
            self.run_worker(self._reveal_call(call_id, owner), group="conversation-reveal",
                            exclusive=True, exit_on_error=False)
            return True
        self._highlighted = call_id
        for other in self.markers.values():
            other.set_class(other is marker, "-highlight")
        self.scroll_to_widget(marker, animate=False, top=True)
        return True

    async def _reveal_call(self, call_id: str, message_id: str) -> None:
        await self.reveal(message_id)
        await self._after_refresh()
        marker = self.markers.get(call_id)
        if marker is not None and marker.is_attached:
            self.show_call(call_id)

    async def show_images(self, message_id: str, file_ids: Sequence[str],
                          saved: dict[str, Path]) -> None:
        """Previews of the images a message refers to, under it (each file once)."""
        self._saved_images = saved
        view = self.view_of(message_id)
        history = view in self._window_views if view is not None else self.holds(message_id)
        if view is None and not history:
            return
        shown = {p.file_id for p in self.query_children(ImagePreview)}
        for file_id in file_ids:
            if file_id in shown or file_id in self._image_owner:
                continue
            if history:
                self._image_owner[file_id] = message_id
                self._images_after.setdefault(message_id, []).append(file_id)
            if view is None:
                continue
            if history:
                preview = self._new_preview(file_id)
            else:
                preview = ImagePreview(file_id, saved.get(file_id))
                preview.add_class("message-image")
            await self.mount(preview, after=view)

    def image_ready(self, file_id: str, path: Path) -> None:
        for preview in self.query_children(ImagePreview):
            if preview.file_id == file_id:
                preview.show(path)

    def image_failed(self, file_id: str, reason: str) -> None:
        self._image_failures[file_id] = reason
        for preview in self.query_children(ImagePreview):
            if preview.file_id == file_id:
                preview.failed(reason)
