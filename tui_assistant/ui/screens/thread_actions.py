"""Living with many threads: rename, delete, archive, pin, filter, search, export, adopt.

``ThreadActions`` is a mixin of ``MainScreen`` (it subclasses ``Screen`` so its bindings
merge with the screen's). Thread actions work on the *target* thread: the highlighted row
when the thread list has focus, otherwise the open thread.

It also keeps the small things that follow a run: the per-run and per-thread token usage
in the header (runs are recorded in the store), streamed replies written to the message
cache (so search finds them at once), and the extra instructions for the next run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Input, Label

from tui_assistant.errors import AppError, EngineError, NotFoundError
from tui_assistant.events import Usage
from tui_assistant.export import (
    ExportError,
    collect,
    default_filename,
    from_cache,
    render,
    write_export,
)
from tui_assistant.store import CachedMessage, SavedThread, title_from_text
from tui_assistant.text import one_line
from tui_assistant.ui.screens.dialogs import ConfirmDialog, ExportDialog, TextPrompt
from tui_assistant.ui.screens.search import SearchScreen
from tui_assistant.ui.widgets.extra_instructions import ExtraInstructions
from tui_assistant.ui.widgets.message_view import MessageView
from tui_assistant.ui.widgets.reading_conversation import ReadingConversation
from tui_assistant.ui.widgets.thread_filter import ThreadFilter

if TYPE_CHECKING:
    from tui_assistant.backend import Connection
    from tui_assistant.engines.base import AssistantInfo
    from tui_assistant.ui.app import TuiAssistantApp
    from tui_assistant.ui.widgets.composer import Composer
    from tui_assistant.ui.widgets.conversation import Conversation
    from tui_assistant.ui.widgets.status_header import StatusHeader
    from tui_assistant.ui.widgets.thread_list import ThreadList

_THREAD_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-")
LIST_HEAD = 200
"""Thread rows read at once when a long list changes; the rest follow off the loop."""
SEARCH_PAGES = 20
"""How many older history pages a search hit may load to reach its message."""


def check_thread_id(value: str) -> str:
    if len(value) > 200 or not set(value) <= _THREAD_ID_CHARS:
        return "That does not look like a thread id (for example thread_abc123)."
    return ""


def short(title: str, limit: int = 40) -> str:
    return one_line(title, limit) or "Untitled"


class ThreadActions(Screen[None]):
    """The main screen's thread management (see the module docstring)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f2", "rename_thread", "Rename", id="thread.rename",
                tooltip="Rename the thread (the highlighted one in the list, or the open one)"),
        Binding("ctrl+f", "search_messages", "Search", id="search.open",
                tooltip="Search the messages of all saved threads"),
        Binding("ctrl+s", "export_thread", "Export", id="thread.export", show=False,
                tooltip="Export the thread to Markdown or JSON"),
        Binding("ctrl+l", "filter_threads", "Filter", id="thread.filter", show=False,
                tooltip="Filter the thread list as you type"),
        Binding("ctrl+r", "toggle_extra_instructions", "Extra instructions", show=False,
                id="composer.extra", tooltip="Extra instructions for the next run only"),
    ]

    if TYPE_CHECKING:
        connection: Connection | None
        current: SavedThread | None
        assistant: AssistantInfo | None
        live: dict

        @property
        def tui(self) -> TuiAssistantApp: ...

        @property
        def endpoint(self) -> str: ...

        @property
        def threads(self) -> ThreadList: ...

        @property
        def conversation(self) -> Conversation: ...

        @property
        def composer(self) -> Composer: ...

        @property
        def header(self) -> StatusHeader: ...

        async def open_thread(self, thread: SavedThread) -> None: ...

        async def action_new_thread(self) -> None: ...

        def refresh_threads(self) -> None: ...

        def follow_thread_assistant(self, thread: SavedThread) -> None: ...

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.show_archived = False
        """Whether the thread list includes archived threads."""
        self.run_usage: Usage | None = None
        """Token counts of the last finished run of the open thread (this session)."""

    # -- helpers ---------------------------------------------------------------------

    @property
    def thread_filter(self) -> ThreadFilter:
        return self.query_one(ThreadFilter)

    @property
    def extra_instructions(self) -> ExtraInstructions:
        return self.query_one(ExtraInstructions)

    def target_thread(self) -> SavedThread | None:
        """The highlighted thread when the list has focus, otherwise the open thread."""
        if self.threads.has_focus and self.threads.highlighted_thread is not None:
            return self.threads.highlighted_thread
        return self.current

    def _after_change(self, thread_id: str) -> SavedThread | None:
        """Re-read a changed thread, keep ``current`` fresh, redraw the list."""
        fresh = self.tui.store.get_thread(self.endpoint, thread_id)
        if fresh is not None and self.current is not None and self.current.thread_id == thread_id:
            self.current = fresh
        highlighted = self.threads.highlighted_thread
        self.refresh_threads()
        if self.threads.has_focus and highlighted is not None:
            index = self.threads.index_of(highlighted.thread_id)
            self.threads.highlighted = index if index is not None else self.threads.highlighted
        return fresh

    def _no_thread(self) -> None:
        self.notify("No thread is open or highlighted.", severity="warning")

    def refresh_thread_list(self) -> None:
        """Re-read the thread list after a change.

        A short list is read whole. A long one (thousands of threads take ~0.1 s to read)
        gets its first ``LIST_HEAD`` rows at once -- a thread that was just used, renamed
        or pinned is among them -- in front of the rows already shown, and the exact whole
        list a moment later, read off the event loop.
        """
        store = self.tui.store
        threads = self.threads
        current = self.current.thread_id if self.current else None
        if len(threads.all_threads) < LIST_HEAD:
            saved = store.list_threads(self.endpoint, include_archived=self.show_archived)
            threads.set_threads(saved, current)
            return
        head = store.list_threads(
            self.endpoint, include_archived=self.show_archived, limit=LIST_HEAD
        )
        ids = {t.thread_id for t in head}
        tail = [t for t in threads.all_threads if t.thread_id not in ids]
        threads.set_threads(head + tail, current)
        self.load_all_threads()

    @work(exclusive=True, group="thread-list", exit_on_error=False,
          description="Listing saved threads")
    async def load_all_threads(self) -> None:
        """Every saved thread, read off the event loop (start-up shows the first ones)."""
        store = self.tui.store
        saved = await asyncio.to_thread(
            store.list_threads, self.endpoint, include_archived=self.show_archived
        )
        threads = self.threads
        keep = threads.highlighted_thread
        current = self.current.thread_id if self.current else None
        threads.set_threads(saved, current)
        if keep is not None and (current is None or keep.thread_id != current):
            threads.highlight_thread(keep.thread_id)

    # -- rename, delete, archive, pin ------------------------------------------------

    @work(exclusive=True, group="thread-actions", exit_on_error=False,
          description="Renaming the thread")
    async def action_rename_thread(self) -> None:
        thread = self.target_thread()
        if thread is None:
            self._no_thread()
            return
        title = await self.app.push_screen_wait(
            TextPrompt("Rename the thread", value=thread.title, action="Rename")
        )
        if title is None or title == thread.title:
            return
        self.tui.store.rename_thread(self.endpoint, thread.thread_id, title)
        fresh = self._after_change(thread.thread_id)
        self.notify(f"Renamed to “{short(fresh.title if fresh else title)}”.")

    @work(exclusive=True, group="thread-actions", exit_on_error=False,
          description="Deleting the thread")
    async def action_delete_thread(self) -> None:
        thread = self.target_thread()
        if thread is None:
            self._no_thread()
            return
        if thread.thread_id in self.live:
            self.notify("This thread has a run in progress: cancel it (Escape) first.",
                        severity="warning")
            return
        confirmed = await self.app.push_screen_wait(
            ConfirmDialog(
                f"Delete “{short(thread.title)}”?",
                "The thread is deleted on the endpoint and removed from this machine. "
                "This cannot be undone.",
                confirm="Delete", danger=True,
            )
        )
        if not confirmed:
            return
        problem = ""
        if self.connection is None:
            problem = "Not connected to the endpoint."
        else:
            try:
                await self.connection.engine.delete_thread(thread.thread_id)
            except NotFoundError:
                pass  # already gone there: removing it here is all that is left to do
            except EngineError as error:
                problem = error.message
        if problem:
            local_only = await self.app.push_screen_wait(
                ConfirmDialog(
                    "The endpoint did not delete the thread.",
                    f"{problem} Remove it from this machine anyway? It stays on the endpoint.",
                    confirm="Remove here", danger=True,
                )
            )
            if not local_only:
                return
        self.tui.store.delete_thread(self.endpoint, thread.thread_id)
        if self.current is not None and self.current.thread_id == thread.thread_id:
            await self.action_new_thread()
        self.refresh_threads()
        where = "from this machine" if problem else "on the endpoint and here"
        self.notify(f"Deleted “{short(thread.title)}” {where}.")

    def action_archive_thread(self) -> None:
        thread = self.target_thread()
        if thread is None:
            self._no_thread()
            return
        archived = not thread.archived
        self.tui.store.set_archived(self.endpoint, thread.thread_id, archived)
        self._after_change(thread.thread_id)
        if archived and not self.show_archived:
            hint = " Show archived threads from the palette or with A in the list."
        else:
            hint = ""
        self.notify(f"{'Archived' if archived else 'Unarchived'} “{short(thread.title)}”.{hint}")

    def action_pin_thread(self) -> None:
        thread = self.target_thread()
        if thread is None:
            self._no_thread()
            return
        pinned = not thread.pinned
        self.tui.store.set_pinned(self.endpoint, thread.thread_id, pinned)
        self._after_change(thread.thread_id)
        self.notify(f"{'Pinned' if pinned else 'Unpinned'} “{short(thread.title)}”.")

    def action_toggle_archived(self) -> None:
        self.show_archived = not self.show_archived
        self.refresh_threads()
        title = self.query("#threads-pane > .pane-title")
        if title:
            title.first(Label).update("Threads · with archived" if self.show_archived
                                      else "Threads")
        self.notify("Archived threads are shown." if self.show_archived
                    else "Archived threads are hidden.")

    # -- the filter ------------------------------------------------------------------

    def action_filter_threads(self) -> None:
        self.thread_filter.focus()

    @on(Input.Changed, "ThreadFilter")
    def thread_filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.threads.set_filter(event.value)

    @on(ThreadFilter.Done)
    def thread_filter_done(self, event: ThreadFilter.Done) -> None:
        threads = self.threads
        if threads.highlighted is None and threads.threads:
            threads.highlighted = 0
        threads.focus()

    # -- search ----------------------------------------------------------------------

    def search_saved_messages(self, query: str) -> list:
        return self.tui.store.search_messages(self.endpoint, query, limit=SearchScreen.LIMIT)

    @work(exclusive=True, group="search", exit_on_error=False,
          description="Searching messages")
    async def action_search_messages(self) -> None:
        hit = await self.app.push_screen_wait(SearchScreen(self.search_saved_messages))
        if hit is not None:
            await self.open_message(hit.thread_id, hit.message_id)

    def _view_of(self, message_id: str) -> MessageView | None:
        for view in self.conversation.message_views:
            if view.message_id == message_id:
                return view
        return None

    async def _settle(self, group: str) -> None:
        """Wait for this screen's workers of ``group`` to finish (whatever their outcome)."""
        for worker in list(self.app.workers):
            if worker.node is self and worker.group == group and not worker.is_finished:
                try:
                    await worker.wait()
                except Exception:
                    pass

    async def open_message(self, thread_id: str, message_id: str) -> bool:
        """Open a saved thread scrolled to one of its messages (selected)."""
        thread = self.tui.store.get_thread(self.endpoint, thread_id)
        if thread is None:
            self.notify("That thread is no longer saved.", severity="warning")
            return False
        await self.open_thread(thread)
        await asyncio.sleep(0)
        await self._settle("history")
        view = self._view_of(message_id)
        pages = 0
        conversation = self.conversation
        while view is None and conversation.has_more and pages < SEARCH_PAGES:
            pages += 1
            conversation.request_older()
            await asyncio.sleep(0)
            await self._settle("older")
            view = self._view_of(message_id)
            if not conversation.loading_older and not conversation.has_more:
                break
        if view is None:
            self.notify("The message is no longer in this thread's history.",
                        severity="warning")
            return False
        conversation.focus()
        if isinstance(conversation, ReadingConversation):
            conversation.select(view, top=True)
        # Scroll again once pending layout work (an older page keeping its place) is done.
        conversation.call_after_refresh(
            conversation.scroll_to_widget, view, animate=False, top=True
        )
        return True

    # -- export ----------------------------------------------------------------------

    def _secrets(self) -> list[str]:
        profile = self.tui.profile
        found = [profile.secret.reveal()] if profile.secret is not None else []
        found += [v for v in profile.headers.values() if v]
        return found

    @work(exclusive=True, group="export", exit_on_error=False,
          description="Exporting the thread")
    async def action_export_thread(self, fmt: str = "md") -> None:
        thread = self.target_thread()
        if thread is None:
            self._no_thread()
            return
        default = Path.cwd() / default_filename(thread.title, thread.thread_id, fmt)  # type: ignore[arg-type]
        choice = await self.app.push_screen_wait(ExportDialog(thread.title, default, fmt))
        if choice is None:
            return
        if choice.path.exists():
            replace = await self.app.push_screen_wait(
                ConfirmDialog(f"{choice.path} exists.", "Replace it with this export?",
                              confirm="Replace", danger=True)
            )
            if not replace:
                return
        document = await self._gather_export(thread)
        if document is None:
            return
        try:
            text = render(document, choice.format, secrets=self._secrets())  # type: ignore[arg-type]
            written = await asyncio.to_thread(write_export, choice.path, text)
        except ExportError as error:
            self.notify(error.message, title=error.title, severity="error")
            return
        source = " from the local cache" if document.source == "cache" else ""
        self.notify(f"Exported {len(document.messages)} messages{source} to {written}.",
                    title="Exported")

    async def _gather_export(self, thread: SavedThread):
        names = getattr(self, "known_assistants", {})
        name = names[thread.assistant_id].label if thread.assistant_id in names else ""
        reason = "not connected"
        if self.connection is not None:
            try:
                return await collect(
                    self.connection.engine, thread.thread_id, title=thread.title,
                    endpoint=self.endpoint, assistant_id=thread.assistant_id,
                    assistant_name=name, created_at=thread.created_at,
                    last_used=thread.last_used,
                )
            except NotFoundError:
                reason = "the endpoint no longer has this thread"
            except AppError as error:
                reason = error.message
        try:
            document = from_cache(self.tui.store, self.endpoint, thread.thread_id,
                                  assistant_name=name, reason=reason)
        except ExportError as error:
            self.notify(error.message, title=error.title, severity="error")
            return None
        self.notify(f"Exporting the local copy: {reason}", severity="warning")
        return document

    # -- adopting a thread id --------------------------------------------------------

    @work(exclusive=True, group="thread-actions", exit_on_error=False,
          description="Opening a thread by id")
    async def action_open_thread_id(self) -> None:
        thread_id = await self.app.push_screen_wait(
            TextPrompt(
                "Open a thread by id",
                placeholder="thread_…",
                detail="A thread created elsewhere (a script, another client). It is saved "
                "to the list with its history.",
                action="Open",
                check=check_thread_id,
            )
        )
        if thread_id:
            await self.adopt_thread(thread_id)

    async def adopt_thread(self, thread_id: str) -> SavedThread | None:
        """Save a thread that exists on the endpoint (if it is not saved yet) and open it."""
        store = self.tui.store
        saved = store.get_thread(self.endpoint, thread_id)
        if saved is None:
            if self.connection is None:
                self.notify("Not connected: the thread cannot be checked or loaded.",
                            title="Not opened", severity="error")
                return None
            engine = self.connection.engine
            try:
                await engine.retrieve_thread(thread_id)
                page = await engine.list_messages(thread_id, limit=50)
                latest = await engine.latest_run(thread_id)
            except AppError as error:
                self.notify(error.message, title=f"Could not open {thread_id}",
                            severity="error")
                return None
            first_user = next((m.text for m in page.messages if m.role == "user"), "")
            assistant_id = (latest.assistant_id if latest else "") or (
                self.assistant.id if self.assistant else ""
            )
            saved = store.add_thread(self.endpoint, thread_id, assistant_id,
                                     title_from_text(first_user))
            if page.messages:
                newest = page.messages[-1]
                store.touch(self.endpoint, thread_id, preview=newest.text,
                            when=newest.created_at or time.time())
                saved = store.get_thread(self.endpoint, thread_id) or saved
            self.notify(f"Saved “{short(saved.title)}” to the thread list.")
        if saved.archived and not self.show_archived:
            store.set_archived(self.endpoint, thread_id, False)
            saved = store.get_thread(self.endpoint, thread_id) or saved
        self.refresh_threads()
        await self.open_thread(saved)
        self.composer.focus()
        return saved

    @work(exclusive=True, group="thread-actions", exit_on_error=False,
          description="Opening the requested thread")
    async def open_requested_thread(self) -> None:
        """Open the thread the command line asked for (``tui-assistant open ID``)."""
        thread_id = getattr(self.app, "open_thread_id", None)
        if thread_id:
            self.app.open_thread_id = None  # type: ignore[attr-defined]
            await self.adopt_thread(thread_id)

    # -- after a run -----------------------------------------------------------------

    def cache_streamed(self, thread_id: str, message_id: str, text: str) -> None:
        """Write a just-finished reply to the cache, so search finds it at once."""
        if message_id and text:
            self.tui.store.cache_messages(
                self.endpoint, thread_id,
                [CachedMessage(message_id, "assistant", text, time.time())],
            )

    def note_run_usage(self, thread_id: str, run_id: str, status: str,
                       usage: Usage | None) -> None:
        """Record a finished run and show its usage (and the thread's) in the header."""
        if run_id:
            self.tui.store.record_run(
                self.endpoint, thread_id, run_id, status,
                prompt_tokens=usage.prompt_tokens if usage else 0,
                completion_tokens=usage.completion_tokens if usage else 0,
                total_tokens=usage.total_tokens if usage else 0,
            )
        if self.current is not None and self.current.thread_id == thread_id:
            self.run_usage = usage
            self.show_thread_usage()

    def show_thread_usage(self) -> None:
        """``120 tokens (thread 1,234)`` in the header: the last run's, then the thread's
        total (from the runs recorded in the store)."""
        if self.current is None:
            self.run_usage = None
            self.header.usage = ""
            return
        total = self.tui.store.thread_usage(self.endpoint, self.current.thread_id)
        if self.run_usage is not None:
            usage = f"{self.run_usage.total_tokens:,} tokens"
            if total.runs:
                usage += f" (thread {total.total_tokens:,})"
        elif total.runs:
            usage = f"thread {total.total_tokens:,} tokens"
        else:
            usage = ""
        self.header.usage = usage

    def forget_run_usage(self) -> None:
        self.run_usage = None
        self.show_thread_usage()

    # -- extra instructions ----------------------------------------------------------

    def action_toggle_extra_instructions(self) -> None:
        extra = self.extra_instructions
        if extra.is_open and extra.has_focus:
            extra.close()
            self.composer.focus()
        else:
            extra.open()

    @on(ExtraInstructions.Closed)
    def extra_instructions_closed(self, event: ExtraInstructions.Closed) -> None:
        self.composer.focus()
        if not event.discarded and event.extra.value.strip():
            self.notify("The extra instructions go with your next message.")

    def take_extra_instructions(self) -> str | None:
        """The extra instructions for the run being started (cleared once taken)."""
        extras = self.query(ExtraInstructions)
        return extras.first().take() if extras else None

    # -- copying ---------------------------------------------------------------------

    def action_copy_last_reply(self) -> None:
        replies = [v for v in self.conversation.message_views if v.role == "assistant"]
        if not replies:
            self.notify("There is no reply to copy yet.", severity="warning")
            return
        conversation = self.conversation
        if isinstance(conversation, ReadingConversation):
            conversation.select(replies[-1])
            conversation.action_copy_message()
        else:
            self.app.copy_to_clipboard(replies[-1].text)
            self.notify("Copied the reply to the clipboard.", title="Copied")

    # -- the palette -----------------------------------------------------------------

    def library_commands(self) -> Iterator[SystemCommand]:
        """Palette entries for everything above."""
        yield SystemCommand("Rename thread", "Give the thread a new title (F2)",
                            self.action_rename_thread)
        yield SystemCommand("Delete thread", "Delete the thread here and on the endpoint",
                            self.action_delete_thread)
        yield SystemCommand("Archive or unarchive thread", "Hide the thread from the list, or "
                            "bring it back", self.action_archive_thread)
        yield SystemCommand("Pin or unpin thread", "Keep the thread at the top of the list",
                            self.action_pin_thread)
        yield SystemCommand(
            "Hide archived threads" if self.show_archived else "Show archived threads",
            "Toggle archived threads in the thread list", self.action_toggle_archived)
        yield SystemCommand("Filter threads", "Type to narrow the thread list (ctrl+l)",
                            self.action_filter_threads)
        yield SystemCommand("Search messages", "Full-text search of every saved thread "
                            "(ctrl+f)", self.action_search_messages)
        yield SystemCommand("Export thread as Markdown", "Write the thread to a .md file",
                            lambda: self.action_export_thread("md"))
        yield SystemCommand("Export thread as JSON", "Write the thread to a .json file",
                            lambda: self.action_export_thread("json"))
        yield SystemCommand("Open thread by id", "Adopt a thread created elsewhere",
                            self.action_open_thread_id)
        yield SystemCommand("Extra instructions for the next run",
                            "Add instructions to the next run only (ctrl+r)",
                            self.action_toggle_extra_instructions)
        yield SystemCommand("Copy last reply", "Copy the newest reply to the clipboard",
                            self.action_copy_last_reply)
        yield SystemCommand("Keys and help", "Every key, as remapped, and its keymap id (F1)",
                            self.app.action_help)  # type: ignore[attr-defined]
        manage = getattr(self, "action_manage_assistants", None)
        if manage is not None:
            yield SystemCommand("Manage assistants", "List, create, edit and delete "
                                "assistants; switch this thread's (F5)", manage)
