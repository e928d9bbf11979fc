"""The thread pane: a title, the filter box and the list of saved threads.

The pane owns what is done to saved threads: rename, delete, archive, pin, export, adopt
by id, the filter and showing archived threads, through the workspace it is given. It
keeps the rule for *which* thread an action means (``target``): the highlighted one
while the list has focus, otherwise the open one, and which thread the screen-wide keys
that move between threads mean (``neighbour``: alt+down/alt+up, ``numbered``: alt+1 …
alt+9; the screen opens it at once and leaves the focus where it is). Its own keys work
while the list has focus; the screen binds the keys that work from anywhere (F2, ctrl+s,
ctrl+l) to the same methods. It posts ``ThreadsPane.OpenRequested`` when a thread should
be shown (one adopted by id) and ``ThreadsPane.Deleted`` when a thread is gone.

| Key (list focused) | Action |
| --- | --- |
| delete | delete the highlighted thread (asks first) |
| a | archive or unarchive it |
| p | pin or unpin it |
| A | show or hide archived threads |
| / | filter the list as you type |
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Input, Label

from tui_assistant.errors import AppError
from tui_assistant.store import SavedThread
from tui_assistant.text import one_line
from tui_assistant.ui.keys import key_label
from tui_assistant.ui.screens.dialogs import ConfirmDialog, ExportDialog, TextPrompt
from tui_assistant.ui.widgets.pane_message import PaneMessage
from tui_assistant.ui.widgets.thread_filter import ThreadFilter
from tui_assistant.ui.widgets.thread_list import ThreadList
from tui_assistant.workspace import Workspace, check_thread_id

__all__ = ["ThreadsPane"]

LIST_HEAD = 200
"""Thread rows read at once (before the first frame, and when a long list changes); the
rest follow, read off the event loop."""
WIDTH_MIN, WIDTH_MAX = 16, 80
"""Columns the pane may be resized to (alt+left, alt+right)."""


class ThreadsPane(Vertical):
    """See the module docstring."""


    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("delete", "delete", "Delete", id="threads.delete",
                tooltip="Delete the highlighted thread (asks first)"),
        Binding("a", "archive", "Archive", id="threads.archive",
                tooltip="Archive or unarchive the highlighted thread"),
        Binding("p", "pin", "Pin", id="threads.pin",
                tooltip="Pin the highlighted thread to the top, or unpin it"),
        Binding("A", "toggle_archived", "Archived", id="threads.show-archived",
                tooltip="Show or hide archived threads", show=False),
        Binding("slash", "focus_filter", "Filter", id="threads.filter-focus",
                tooltip="Type to filter the thread list", show=False),
    ]

    @dataclass
    class OpenRequested(PaneMessage):
        """``thread`` should be shown (it was just adopted by id)."""

        thread: SavedThread

    @dataclass
    class Changed(PaneMessage):
        """The list was read again (a thread was renamed, pinned, archived …)."""

    @dataclass
    class Deleted(PaneMessage):
        """``thread`` was deleted (``was_open``: it was the one shown)."""

        thread: SavedThread
        was_open: bool

    def __init__(self, workspace: Workspace, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="pane")
        self.workspace = workspace
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

    def restore_width(self) -> None:
        """The width the pane was last given (kept in the store's state)."""
        width = self.workspace.store.get_state("threads_width")
        if width and width.isdigit():
            self.styles.width = max(WIDTH_MIN, min(WIDTH_MAX, int(width)))

    def resize(self, step: int, limit: int) -> None:
        """Make the pane ``step`` columns wider (or narrower), at most ``limit`` wide; the
        width is kept for the next start."""
        width = max(WIDTH_MIN, min(WIDTH_MAX, self.outer_size.width + step, limit))
        self.styles.width = width
        self.workspace.store.set_state("threads_width", str(width))

    def _open_id(self) -> str | None:
        current = self.workspace.current
        return current.thread_id if current else None

    # -- the list --------------------------------------------------------------------

    def show(self, threads: list[SavedThread], *, keep_highlight: bool = False) -> None:
        """Show ``threads`` with the open one highlighted (or keep the highlighted row,
        while the list has focus and ``keep_highlight``)."""
        listed = self.thread_list
        keep = listed.highlighted_thread if keep_highlight and listed.has_focus else None
        listed.set_threads(threads, self._open_id())
        if keep is not None:
            index = listed.index_of(keep.thread_id)
            if index is not None:
                listed.highlighted = index

    def reload(self, *, keep_highlight: bool = True) -> None:
        """Re-read the list after a change. A long list shows its head at once (a thread
        just used, renamed or pinned is among it) and the whole list a moment later."""
        self.post_message(self.Changed(self))
        listed = self.thread_list.all_threads
        if len(listed) < LIST_HEAD:
            self.show(self.workspace.list_threads(include_archived=self.show_archived),
                      keep_highlight=keep_highlight)
            return
        head = self.workspace.list_threads(include_archived=self.show_archived,
                                           limit=LIST_HEAD)
        ids = {t.thread_id for t in head}
        self.show(head + [t for t in listed if t.thread_id not in ids],
                  keep_highlight=keep_highlight)
        self.load_all()

    @work(exclusive=True, group="thread-list", exit_on_error=False,
          description="Listing saved threads")
    async def load_all(self) -> None:
        """Every saved thread, read off the event loop (start-up shows the first ones)."""
        saved = await asyncio.to_thread(self.workspace.list_threads,
                                        include_archived=self.show_archived)
        self.show(saved, keep_highlight=True)

    def target(self) -> SavedThread | None:
        """The thread an action means: the highlighted one while the list has focus,
        otherwise the open one. Says so when there is none."""
        threads = self.thread_list
        if threads.has_focus and threads.highlighted_thread is not None:
            return threads.highlighted_thread
        if self.workspace.current is None:
            self.notify("No thread is open or highlighted.", severity="warning")
        return self.workspace.current

    # -- moving between threads --------------------------------------------------------

    def neighbour(self, step: int) -> SavedThread | None:
        """The thread ``step`` rows after (1) or before (-1) the open one in the list as
        shown; from a new thread, the first or the last (alt+down, alt+up)."""
        return self.thread_list.neighbour(self._open_id(), step)

    def numbered(self, number: int) -> SavedThread | None:
        """The list's ``number``-th thread as shown, from 1 (alt+1 … alt+9)."""
        return self.thread_list.thread_at(number - 1)

    # -- what is done to a thread ------------------------------------------------------

    @work(exclusive=True, group="thread-actions", exit_on_error=False,
          description="Renaming the thread")
    async def action_rename(self) -> None:
        thread = self.target()
        if thread is None:
            return
        title = await self.app.push_screen_wait(
            TextPrompt(f"Rename “{_short(thread.title)}”", value=thread.title, action="Rename")
        )
        if title is None or title == thread.title:
            return
        fresh = self.workspace.rename(thread, title)
        self.reload()
        self.notify(f"Renamed to “{_short(fresh.title if fresh else title)}”.")

    @work(exclusive=True, group="thread-actions", exit_on_error=False,
          description="Deleting the thread")
    async def action_delete(self) -> None:
        thread = self.target()
        if thread is None:
            return
        if thread.thread_id in self.workspace.live:
            self.notify("This thread has a run in progress: cancel it "
                        f"({key_label(self.app, 'run.cancel')}) first.", severity="warning")
            return
        confirmed = await self.app.push_screen_wait(ConfirmDialog(
            f"Delete “{_short(thread.title)}”?",
            "The thread is deleted on the endpoint and removed from this machine. "
            "This cannot be undone.", confirm="Delete", danger=True,
        ))
        if not confirmed:
            return
        problem = await self.workspace.delete_remote(thread)
        if problem and not await self.app.push_screen_wait(ConfirmDialog(
            "The endpoint did not delete the thread.",
            f"{problem} Remove it from this machine anyway? It stays on the endpoint.",
            confirm="Remove here", danger=True,
        )):
            return
        was_open = self.workspace.is_showing(thread.thread_id)
        self.workspace.forget(thread)
        self.post_message(self.Deleted(self, thread, was_open))
        self.reload()
        where = "from this machine" if problem else "on the endpoint and here"
        self.notify(f"Deleted “{_short(thread.title)}” {where}.")

    def action_archive(self) -> None:
        thread = self.target()
        if thread is None:
            return
        archived = not thread.archived
        self.workspace.set_archived(thread, archived)
        self.reload()
        hint = ""
        if archived and not self.show_archived:
            hint = " Show archived threads from the palette or with A in the list."
        self.notify(f"{'Archived' if archived else 'Unarchived'} “{_short(thread.title)}”.{hint}")

    def action_pin(self) -> None:
        thread = self.target()
        if thread is None:
            return
        pinned = not thread.pinned
        self.workspace.set_pinned(thread, pinned)
        self.reload()
        self.notify(f"{'Pinned' if pinned else 'Unpinned'} “{_short(thread.title)}”.")

    def action_toggle_archived(self) -> None:
        self.show_archived = not self.show_archived
        self.query_one(".pane-title", Label).update(
            "Threads · with archived" if self.show_archived else "Threads"
        )
        self.reload()
        self.notify("Archived threads are shown." if self.show_archived
                    else "Archived threads are hidden.")

    def action_focus_filter(self) -> None:
        self.filter.focus()

    @work(exclusive=True, group="export", exit_on_error=False,
          description="Exporting the thread")
    async def action_export(self, fmt: str = "md") -> None:
        from tui_assistant.export import ExportError, default_filename, render, write_export

        thread = self.target()
        if thread is None:
            return
        default = Path.cwd() / default_filename(thread.title, thread.thread_id, fmt)  # type: ignore[arg-type]
        choice = await self.app.push_screen_wait(ExportDialog(thread.title, default, fmt))
        if choice is None:
            return
        if choice.path.exists() and not await self.app.push_screen_wait(ConfirmDialog(
            f"{choice.path} exists.", "Replace it with this export?", confirm="Replace",
            danger=True,
        )):
            return
        try:
            document, reason = await self.workspace.export(thread.thread_id)
            if reason:
                self.notify(f"Exporting the local copy: {reason}", severity="warning")
            text = render(document, choice.format, secrets=self.workspace.secrets())
            written = await asyncio.to_thread(write_export, choice.path, text)
        except (ExportError, AppError) as error:
            self.notify(error.message, title=error.title, severity="error")
            return
        source = " from the local cache" if document.source == "cache" else ""
        self.notify(f"Exported {len(document.messages)} messages{source} to {written}.",
                    title="Exported")

    @work(exclusive=True, group="thread-actions", exit_on_error=False,
          description="Opening a thread by id")
    async def action_open_by_id(self) -> None:
        thread_id = await self.app.push_screen_wait(TextPrompt(
            "Open a thread by id", placeholder="thread_…",
            detail="A thread created elsewhere (a script, another client). It is saved "
            "to the list with its history.", action="Open", check=check_thread_id,
        ))
        if thread_id:
            await self.adopt(thread_id)

    async def adopt(self, thread_id: str) -> SavedThread | None:
        """Save a thread that exists on the endpoint (unless saved already) and ask for
        it to be shown."""
        try:
            saved, added = await self.workspace.adopt(thread_id)
        except AppError as error:
            self.notify(error.message, title=f"Could not open {thread_id}", severity="error")
            return None
        if added:
            self.notify(f"Saved “{_short(saved.title)}” to the thread list.")
        self.reload()
        self.post_message(self.OpenRequested(self, saved))
        return saved

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


def _short(title: str, limit: int = 40) -> str:
    return one_line(title, limit) or "Untitled"
