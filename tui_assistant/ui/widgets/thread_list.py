"""The pane of saved threads.

Each row is a ``ThreadOption`` carrying its ``SavedThread``: the title, then a dim line
with how long ago it was used and a preview of its last message. Choosing a row posts
``ThreadList.Chosen``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.text import Text
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from tui_assistant.store import SavedThread
from tui_assistant.ui.sanitize import one_line, preview


def relative_time(when: float, now: float | None = None) -> str:
    """``now``, ``5m``, ``3h``, ``2d``, ``4w``, or a date for anything older."""
    seconds = max(0.0, (now if now is not None else time.time()) - when)
    for limit, size, unit in (
        (3600, 60, "m"),
        (86400, 3600, "h"),
        (7 * 86400, 86400, "d"),
        (56 * 86400, 7 * 86400, "w"),
    ):
        if seconds < 60:
            return "now"
        if seconds < limit:
            return f"{int(seconds // size)}{unit}"
    return time.strftime("%Y-%m-%d", time.localtime(when))


class ThreadOption(Option):
    """A saved thread as a two-line row: the title, then age and a preview."""

    def __init__(self, thread: SavedThread, *, width: int = 26, running: bool = False) -> None:
        self.thread = thread
        width = max(width, 12)
        title = Text(no_wrap=True, overflow="ellipsis", end="")
        if thread.pinned:
            title.append("▲ ", "dim")
        title.append(one_line(thread.title, 200) or "Untitled", "bold")
        title.truncate(width, overflow="ellipsis")
        detail = Text(no_wrap=True, overflow="ellipsis", end="")
        if running:
            detail.append("● running ", "bold")
        detail.append(relative_time(thread.last_used), "dim")
        if thread.preview:
            detail.append(" · " + preview(thread.preview, 200), "dim italic")
        detail.truncate(width, overflow="ellipsis")
        super().__init__(Text("\n").join([title, detail]), id=thread.thread_id)


class ThreadList(OptionList):
    """Saved threads, most recently used first.

    | Key | Action |
    | --- | --- |
    | up/down | move |
    | enter | open the highlighted thread |
    """

    DEFAULT_CSS = """
    ThreadList {
        height: 1fr;
        border: none;
        padding: 0;
        background: transparent;
    }
    ThreadList > .option-list--option {
        padding: 0 1;
    }
    """

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
        self.threads: list[SavedThread] = []
        self.running: set[str] = set()

    def set_threads(self, threads: list[SavedThread], current: str | None = None) -> None:
        """Show ``threads`` and highlight ``current`` (without choosing it)."""
        self.threads = list(threads)
        with self.app.batch_update():
            self.clear_options()
            width = (self.scrollable_content_region.width or 28) - 2
            self.add_options(
                [
                    ThreadOption(t, width=width, running=t.thread_id in self.running)
                    for t in self.threads
                ]
            )
            self.highlight_thread(current)

    def highlight_thread(self, thread_id: str | None) -> None:
        if thread_id is None:
            self.highlighted = None
            return
        try:
            self.highlighted = self.get_option_index(thread_id)
        except Exception:
            self.highlighted = None

    def index_of(self, thread_id: str | None) -> int | None:
        for index, thread in enumerate(self.threads):
            if thread.thread_id == thread_id:
                return index
        return None

    def thread_at(self, index: int) -> SavedThread | None:
        if 0 <= index < len(self.threads):
            return self.threads[index]
        return None

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        option = event.option
        if isinstance(option, ThreadOption):
            self.post_message(self.Chosen(self, option.thread))
