"""The thread pane: a title, the filter box and the list of saved threads.

The pane owns the keys that act on the highlighted thread while the list has focus
(delete, archive, pin), showing archived threads, and the filter; it posts
``ThreadsPane.Requested`` for what needs the workspace and leaves that to the screen.
It also keeps the rule for *which* thread an action means: the highlighted one while
the list has focus, otherwise the open one (``target``).

| Key (list focused) | Action |
| --- | --- |
| delete | delete the highlighted thread (asks first) |
| a | archive or unarchive it |
| p | pin or unpin it |
| A | show or hide archived threads |
| / | filter the list as you type |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Label

from tui_assistant.store import SavedThread
from tui_assistant.ui.widgets.thread_filter import ThreadFilter
from tui_assistant.ui.widgets.thread_list import ThreadList

__all__ = ["ThreadsPane"]

ThreadAction = Literal["delete", "archive", "pin"]


class ThreadsPane(Vertical):
    """See the module docstring."""


    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("delete", "request('delete')", "Delete", id="threads.delete",
                tooltip="Delete the highlighted thread (asks first)"),
        Binding("a", "request('archive')", "Archive", id="threads.archive",
                tooltip="Archive or unarchive the highlighted thread"),
        Binding("p", "request('pin')", "Pin", id="threads.pin",
                tooltip="Pin the highlighted thread to the top, or unpin it"),
        Binding("A", "toggle_archived", "Archived", id="threads.show-archived",
                tooltip="Show or hide archived threads", show=False),
        Binding("slash", "focus_filter", "Filter", id="threads.filter-focus",
                tooltip="Type to filter the thread list", show=False),
    ]

    @dataclass
    class Requested(Message):
        """The user asked to delete, archive or pin ``thread`` from the list."""

        pane: ThreadsPane
        action: ThreadAction
        thread: SavedThread

        @property
        def control(self) -> ThreadsPane:
            return self.pane

    @dataclass
    class ArchivedToggled(Message):
        """Archived threads are now shown (or hidden): the list needs reloading."""

        pane: ThreadsPane
        shown: bool

        @property
        def control(self) -> ThreadsPane:
            return self.pane

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="pane")
        self.show_archived = False

    def compose(self) -> ComposeResult:
        yield Label("Threads", classes="pane-title")
        yield ThreadFilter(id="thread-filter")
        yield ThreadList(id="thread-list")

    @property
    def thread_list(self) -> ThreadList:
        return self.query_one(ThreadList)

    @property
    def filter(self) -> ThreadFilter:
        return self.query_one(ThreadFilter)

    def target(self, open_thread: SavedThread | None) -> SavedThread | None:
        """The thread an action means: the highlighted one while the list has focus,
        otherwise ``open_thread``."""
        threads = self.thread_list
        if threads.has_focus and threads.highlighted_thread is not None:
            return threads.highlighted_thread
        return open_thread

    def show(self, threads: list[SavedThread], open_id: str | None, *,
             keep_highlight: bool = False) -> None:
        """Show ``threads`` with ``open_id`` highlighted (or keep the highlighted row,
        while the list has focus and ``keep_highlight``)."""
        listed = self.thread_list
        keep = listed.highlighted_thread if keep_highlight and listed.has_focus else None
        listed.set_threads(threads, open_id)
        if keep is not None:
            index = listed.index_of(keep.thread_id)
            if index is not None:
                listed.highlighted = index

    # -- keys ------------------------------------------------------------------------

    def action_request(self, action: ThreadAction) -> None:
        thread = self.thread_list.highlighted_thread if self.thread_list.has_focus else None
        if thread is None:
            self.notify("No thread is highlighted.", severity="warning")
            return
        self.post_message(self.Requested(self, action, thread))

    def action_toggle_archived(self) -> None:
        self.show_archived = not self.show_archived
        self.query_one(".pane-title", Label).update(
            "Threads · with archived" if self.show_archived else "Threads"
        )
        self.post_message(self.ArchivedToggled(self, self.show_archived))

    def action_focus_filter(self) -> None:
        self.filter.focus()

    # -- the filter ------------------------------------------------------------------

    @on(Input.Changed, "ThreadFilter")
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.thread_list.set_filter(event.value)

    @on(ThreadFilter.Done)
    def _filter_done(self, event: ThreadFilter.Done) -> None:
        event.stop()
        threads = self.thread_list
        if threads.highlighted is None and threads.threads:
            threads.highlighted = 0
        threads.focus()
