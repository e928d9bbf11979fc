"""The pane of saved threads: a virtual list that draws only the rows on screen.

Each thread is a two-line row: the title (with ▲ when pinned) and how long ago it was
used, then the assistant's name and a one-line preview of the last message. Threads come
in the store's order: pinned first, then by last activity.

The list is a line-API ``ScrollView`` rather than an ``OptionList``: an ``OptionList``
measures every option's prompt when options are added, which costs seconds for 10,000
threads. Here every row has the same height, so the scroll size is arithmetic and a frame
renders only the rows in view (cached per width). ``set_filter`` narrows the rows to
threads whose title, preview or assistant contain every typed word; it is a scan of
pre-lowered strings (a few milliseconds for 10,000 threads).

Choosing a row (enter, or a click) posts ``ThreadList.Chosen``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui_assistant.store import SavedThread
from tui_assistant.text import one_line, preview, relative_time

ROW_HEIGHT = 2
"""Lines per thread row."""


def _refines(words: list[str], before: list[str]) -> bool:
    """Whether every thread matching ``words`` also matched ``before`` (typing on)."""
    if len(words) < len(before):
        return False
    return all(new.find(old) >= 0 for new, old in zip(words, before, strict=False))


class ThreadList(ScrollView, can_focus=True):
    """Saved threads, pinned first, then most recently used.

    | Key | Action |
    | --- | --- |
    | up/down, k/j | move |
    | home/end, pageup/pagedown | jump |
    | enter | open the highlighted thread |
    | delete | delete the highlighted thread (asks first) |
    | a | archive or unarchive it |
    | p | pin or unpin it |
    | A | show or hide archived threads |
    | / | filter the list |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select", "Open", tooltip="Open the highlighted thread",
                id="threads.open", show=False),
        Binding("up,k", "cursor_up", "Up", tooltip="Highlight the thread above",
                id="threads.up", show=False),
        Binding("down,j", "cursor_down", "Down", tooltip="Highlight the thread below",
                id="threads.down", show=False),
        Binding("home", "first", "First", tooltip="Highlight the first thread",
                id="threads.first", show=False),
        Binding("end", "last", "Last", tooltip="Highlight the last thread",
                id="threads.last", show=False),
        Binding("pageup", "page_up", "Page up", tooltip="Move up a page",
                id="threads.page-up", show=False),
        Binding("pagedown", "page_down", "Page down", tooltip="Move down a page",
                id="threads.page-down", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "thread-list--highlight",
        "thread-list--title",
        "thread-list--detail",
    }
    """``--highlight``: the highlighted row; ``--title``: first line; ``--detail``: second."""

    DEFAULT_CSS = """
    ThreadList {
        height: 1fr;
        border: none;
        padding: 0;
        background: transparent;
        overflow-x: hidden;
        overflow-y: auto;
        scrollbar-size-vertical: 1;
    }
    ThreadList:focus {
        border: none;
    }
    ThreadList > .thread-list--title {
        text-style: bold;
    }
    ThreadList > .thread-list--detail {
        color: $text-muted;
    }
    ThreadList > .thread-list--highlight {
        color: $block-cursor-blurred-foreground;
        background: $block-cursor-blurred-background;
    }
    ThreadList:focus > .thread-list--highlight {
        color: $block-cursor-foreground;
        background: $block-cursor-background;
    }
    """

    highlighted: reactive[int | None] = reactive(None, always_update=True)
    """Index (in ``threads``) of the highlighted row, or ``None``."""

    @dataclass
    class Chosen(Message):
        """A thread was chosen with enter or a click."""

        thread_list: ThreadList
        thread: SavedThread

        @property
        def control(self) -> ThreadList:
            return self.thread_list

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.all_threads: list[SavedThread] = []
        """Every thread given to ``set_threads``."""
        self.threads: list[SavedThread] = []
        """The threads shown: ``all_threads`` narrowed by the filter."""
        self.running: set[str] = set()
        """Ids of threads with a run in progress (drawn with ●)."""
        self.open_id: str | None = None
        """The thread shown in the conversation (marked with ▌)."""
        self._one_assistant = True
        """Every thread talks to the same assistant: its name is not repeated on each row."""
        self.assistant_names: dict[str, str] = {}
        self.filter_text = ""
        self._haystacks: list[str] | None = None
        self._filtered: tuple[list[str], list[int]] | None = None
        """The last filter's words and the indices (in ``all_threads``) it kept."""
        self._rows: dict[tuple, tuple[Strip, Strip]] = {}
        self._styles: dict[bool, tuple[Style, Style, Style, Style]] = {}
        self._row_width = 0

    def on_mount(self) -> None:
        super().on_mount()
        self.set_interval(60, self._tick)

    def _tick(self) -> None:
        """Relative times age: redraw once a minute."""
        self._rows.clear()
        self.refresh()

    # -- content ---------------------------------------------------------------------

    def set_threads(self, threads: list[SavedThread], current: str | None = None) -> None:
        """Show ``threads`` (kept in this order) and highlight ``current`` (without choosing it)."""
        self.all_threads = list(threads)
        self.open_id = current
        self._one_assistant = len({t.assistant_id for t in self.all_threads}) <= 1
        self._rows.clear()
        self._haystacks = None
        self._filtered = None
        self._apply_filter(keep=current)
        self.highlight_thread(current)

    def set_assistant_names(self, names: dict[str, str]) -> None:
        """Assistant id → name, shown on each row (and matched by the filter)."""
        if names != self.assistant_names:
            self.assistant_names = dict(names)
            self._haystacks = None
            self._filtered = None
            self._rows.clear()
            if self.filter_text:
                self._apply_filter(keep=self._highlighted_id())
            self.refresh()

    def set_filter(self, text: str) -> None:
        """Show only threads whose title, preview or assistant contain every word of ``text``."""
        if text == self.filter_text:
            return
        self.filter_text = text
        self._apply_filter(keep=self._highlighted_id())
        if self.highlighted is None and self.threads and text.strip():
            self.highlighted = 0
        else:
            self.scroll_to(y=0, animate=False)

    def _highlighted_id(self) -> str | None:
        thread = self.thread_at(self.highlighted) if self.highlighted is not None else None
        return thread.thread_id if thread else None

    def _haystack_list(self) -> list[str]:
        if self._haystacks is None:
            names = self.assistant_names
            self._haystacks = [
                f"{t.title}\n{t.preview}\n{names.get(t.assistant_id, '')}".lower()
                for t in self.all_threads
            ]
        return self._haystacks

    def _apply_filter(self, keep: str | None) -> None:
        words = self.filter_text.lower().split()
        if words:
            haystacks = self._haystack_list()
            previous, self._filtered = self._filtered, None
            # Typing on narrows the last result: search only the rows it kept.
            if previous is not None and _refines(words, previous[0]):
                candidates = previous[1]
            else:
                candidates = range(len(haystacks))
            if len(words) == 1:
                word = words[0]
                kept = [i for i in candidates if word in haystacks[i]]
            else:
                kept = [i for i in candidates if all(w in haystacks[i] for w in words)]
            self._filtered = (words, kept)
            every = self.all_threads
            self.threads = [every[i] for i in kept]
        else:
            self._filtered = None
            self.threads = self.all_threads
        self._update_virtual_size()
        index = self.index_of(keep) if keep else None
        self.set_reactive(ThreadList.highlighted, index)
        self.refresh()

    def _update_virtual_size(self) -> None:
        width = self.scrollable_content_region.width
        self.virtual_size = Size(width, len(self.threads) * ROW_HEIGHT)

    # -- lookups ---------------------------------------------------------------------

    def highlight_thread(self, thread_id: str | None) -> None:
        self.highlighted = self.index_of(thread_id) if thread_id is not None else None

    def index_of(self, thread_id: str | None) -> int | None:
        if thread_id is None:
            return None
        for index, thread in enumerate(self.threads):
            if thread.thread_id == thread_id:
                return index
        return None

    def thread_at(self, index: int | None) -> SavedThread | None:
        if index is not None and 0 <= index < len(self.threads):
            return self.threads[index]
        return None

    def neighbour(self, thread_id: str | None, step: int) -> SavedThread | None:
        """The thread ``step`` rows after (1) or before (-1) ``thread_id`` in the list as
        shown; from no thread (or one not listed), the first or the last."""
        index = self.index_of(thread_id)
        if index is None:
            return self.thread_at(0 if step > 0 else len(self.threads) - 1)
        return self.thread_at(index + step) if index + step >= 0 else None

    @property
    def highlighted_thread(self) -> SavedThread | None:
        return self.thread_at(self.highlighted)

    # -- moving ----------------------------------------------------------------------

    def validate_highlighted(self, value: int | None) -> int | None:
        if value is None or not self.threads:
            return None
        return max(0, min(value, len(self.threads) - 1))

    def watch_highlighted(self, value: int | None) -> None:
        self.refresh()
        if value is not None:
            self._scroll_to_row(value)

    def _scroll_to_row(self, index: int) -> None:
        top = index * ROW_HEIGHT
        height = self.scrollable_content_region.height
        if not height:
            self.call_after_refresh(self._scroll_to_row_later, index)
            return
        if top < self.scroll_y:
            self.scroll_to(y=top, animate=False)
        elif top + ROW_HEIGHT > self.scroll_y + height:
            self.scroll_to(y=top + ROW_HEIGHT - height, animate=False)

    def _scroll_to_row_later(self, index: int) -> None:
        if self.scrollable_content_region.height and self.highlighted == index:
            self._scroll_to_row(index)

    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height // ROW_HEIGHT)

    def action_cursor_up(self) -> None:
        if self.threads:
            self.highlighted = (
                len(self.threads) - 1 if self.highlighted is None else self.highlighted - 1
            )

    def action_cursor_down(self) -> None:
        if self.threads:
            self.highlighted = 0 if self.highlighted is None else self.highlighted + 1

    def action_first(self) -> None:
        if self.threads:
            self.highlighted = 0

    def action_last(self) -> None:
        if self.threads:
            self.highlighted = len(self.threads) - 1

    def action_page_up(self) -> None:
        if self.threads:
            self.highlighted = max(0, (self.highlighted or 0) - self._page())

    def action_page_down(self) -> None:
        if self.threads:
            self.highlighted = (self.highlighted or 0) + self._page()

    def action_select(self) -> None:
        thread = self.highlighted_thread
        if thread is not None:
            self.post_message(self.Chosen(self, thread))

    async def _on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        index = (offset.y + round(self.scroll_y)) // ROW_HEIGHT
        if 0 <= index < len(self.threads):
            self.highlighted = index
            self.action_select()

    # -- drawing ---------------------------------------------------------------------

    def _on_resize(self, event: events.Resize) -> None:
        # Rendered rows stay: they are dropped when the width changes (render_line), and
        # the list gets a Resize right after its first frame, at the same width.
        self._update_virtual_size()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._rows.clear()
        self._styles.clear()

    def _row_styles(self, focused: bool) -> tuple[Style, Style, Style, Style]:
        """(base, highlighted base, title, detail) styles; computed once per focus state."""
        styles = self._styles.get(focused)
        if styles is None:
            base = self.rich_style
            styles = self._styles[focused] = (
                base,
                base + self.get_component_rich_style("thread-list--highlight", partial=True),
                self.get_component_rich_style("thread-list--title", partial=True),
                self.get_component_rich_style("thread-list--detail", partial=True),
            )
        return styles

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        line = y + round(self.scroll_y)
        index, part = divmod(line, ROW_HEIGHT)
        focused = self.has_focus
        if index >= len(self.threads) or width <= 0:
            return Strip.blank(width, self._row_styles(focused)[0])
        if width != self._row_width:
            self._rows.clear()
            self._row_width = width
        thread = self.threads[index]
        highlighted = index == self.highlighted
        # Rows are cached by content, so they survive filtering and moving the cursor.
        key = (thread, highlighted, highlighted and focused, thread.thread_id in self.running,
               thread.thread_id == self.open_id)
        row = self._rows.get(key)
        if row is None:
            if len(self._rows) > 2000:
                self._rows.clear()
            row = self._rows[key] = self._render_row(thread, width, highlighted, focused)
        return row[part]

    def _render_row(
        self, thread: SavedThread, width: int, highlighted: bool, focused: bool
    ) -> tuple[Strip, Strip]:
        plain, lit, title_style, detail_style = self._row_styles(focused)
        base = lit if highlighted else plain
        inner = max(4, width - 2)  # one cell of padding each side

        when = Text(relative_time(thread.last_used), style=detail_style)
        if thread.thread_id in self.running:
            when = Text.assemble(("● ", "bold"), when)
        title = Text(no_wrap=True, overflow="ellipsis", end="")
        if thread.pinned:
            title.append("▲ ", detail_style)
        title.append(one_line(thread.title, 200) or "Untitled", title_style)
        room = max(1, inner - when.cell_len - 1)
        title.truncate(room, overflow="ellipsis", pad=True)
        mark = Text("▌", style=self._accent()) if thread.thread_id == self.open_id else " "
        first = Text.assemble(mark, title, " ", when)

        detail = Text(no_wrap=True, overflow="ellipsis", end="", style=detail_style)
        if thread.archived:
            detail.append("archived · ", Style(italic=True))
        name = "" if self._one_assistant else self.assistant_names.get(thread.assistant_id, "")
        if name:
            detail.append(one_line(name, 40))
        if thread.preview:
            if name:
                detail.append(" · ")
            detail.append(preview(thread.preview, 200), Style(italic=True))
        detail.truncate(inner, overflow="ellipsis")
        second = Text.assemble(" ", detail)

        return self._strip(first, width, base), self._strip(second, width, base)

    def _accent(self) -> Style:
        theme = self.app.current_theme
        return Style(color=theme.accent or theme.primary, bold=True)

    def mark_open(self, thread_id: str | None) -> None:
        """Mark ``thread_id`` as the one shown (and highlight it)."""
        self.open_id = thread_id
        self._rows.clear()
        self.highlight_thread(thread_id)
        self.refresh()

    def _strip(self, text: Text, width: int, base: Style) -> Strip:
        text.truncate(width, overflow="ellipsis")
        segments = list(text.render(self.app.console, end=""))
        return Strip(Segment.apply_style(segments, base)).crop_extend(0, width, base)
