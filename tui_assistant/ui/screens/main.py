"""The main screen: threads, conversation, tool activity.

The screen mediates between the panes and owns the workers that talk to the engine:
connecting, loading history, and running the assistant. Panes post messages up; the
screen turns run events into pane updates. Nothing here blocks the event loop.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Label

from tui_assistant.backend import LOCAL_HINT, LOCAL_LABEL, Connection
from tui_assistant.engines.base import AssistantInfo, ThreadMessage
from tui_assistant.errors import ActiveRunError, AppError, EngineError, NotFoundError
from tui_assistant.events import (
    ActionRequired,
    MessageCompleted,
    MessageStarted,
    RunCompleted,
    RunEvent,
    RunFailed,
    RunStarted,
    RunStatusChanged,
    TextDelta,
    ToolCallCompleted,
    ToolCallDelta,
    ToolCallStarted,
)
from tui_assistant.session import Session
from tui_assistant.store import CachedMessage, SavedThread, title_from_text
from tui_assistant.ui.sanitize import one_line, preview
from tui_assistant.ui.screens.assistant_form import AssistantDraft, AssistantForm
from tui_assistant.ui.screens.assistant_picker import AssistantPicker
from tui_assistant.ui.screens.assistants import AssistantActions
from tui_assistant.ui.screens.run_recovery import RunRecovery
from tui_assistant.ui.screens.thread_actions import ThreadActions
from tui_assistant.ui.tools_controller import ToolsController
from tui_assistant.ui.widgets.attachment_bar import AttachmentBar
from tui_assistant.ui.widgets.composer import Composer
from tui_assistant.ui.widgets.conversation import Conversation
from tui_assistant.ui.widgets.extra_instructions import ExtraInstructions
from tui_assistant.ui.widgets.message_view import MessageView
from tui_assistant.ui.widgets.reading_conversation import ReadingConversation
from tui_assistant.ui.widgets.status_header import StatusHeader
from tui_assistant.ui.widgets.thread_filter import ThreadFilter
from tui_assistant.ui.widgets.thread_list import ThreadList
from tui_assistant.ui.widgets.tool_activity import ToolActivity
from tui_assistant.ui.widgets.tool_marker import ToolMarker

if TYPE_CHECKING:
    from tui_assistant.ui.app import TuiAssistantApp

HISTORY_PAGE = 50
FIRST_THREADS = 200
"""Threads listed before the first frame; the rest follow right after it."""
"""Messages fetched per history page (the newest page first, older ones on scroll)."""

NEW_THREAD_HINT = (
    "New conversation. Type a message below and press Enter; the reply streams in here, "
    "and the thread is saved so you can come back to it."
)

THREADS = Binding.Group("Threads")


@dataclass
class LiveRun:
    """A user turn in progress on one thread."""

    thread_id: str
    session: Session
    run_id: str = ""
    message_id: str = ""
    text: str = ""
    status: str = "queued"
    started: float = field(default_factory=time.monotonic)


class MainScreen(ThreadActions, AssistantActions, RunRecovery):
    """Threads on the left, the conversation in the middle, tool activity on the right."""

    CSS_PATH = "main.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+n", "new_thread", "New thread", tooltip="Start a new thread",
                id="thread.new"),
        Binding("alt+down,ctrl+pagedown", "next_thread", "Next", id="thread.next",
                tooltip="Open the next thread in the list", group=THREADS),
        Binding("alt+up,ctrl+pageup", "previous_thread", "Previous", id="thread.previous",
                tooltip="Open the previous thread in the list", group=THREADS),
        Binding("ctrl+g", "goto_thread", "Go to", tooltip="Find a thread by name",
                id="thread.goto"),
        Binding("escape", "cancel_run", "Cancel run", tooltip="Cancel the active run",
                id="run.cancel"),
        Binding("f4", "pick_assistant", "Assistant", tooltip="Choose the assistant",
                id="assistant.pick"),
        Binding("ctrl+o", "attach_file", "Attach", id="files.attach",
                tooltip="Attach a local file to the next message"),
        Binding("f8", "download_files", "Files", id="files.download",
                tooltip="Download the files this thread refers to"),
        Binding("ctrl+t", "focus_tools", "Tools", id="tools.focus",
                tooltip="Focus the tool-activity pane"),
        *[
            Binding(f"alt+{n}", f"jump_thread({n})", f"Thread {n}", show=False,
                    tooltip=f"Open thread {n} of the list", id=f"thread.jump-{n}")
            for n in range(1, 10)
        ],
    ]

    def __init__(self) -> None:
        super().__init__()
        self.connection: Connection | None = None
        self.ready = asyncio.Event()
        self.connect_error: AppError | None = None
        self.assistant: AssistantInfo | None = None
        self.current: SavedThread | None = None
        self.live: dict[str, LiveRun] = {}
        self.tools = ToolsController(self)

    # -- typed access ------------------------------------------------------------------

    @property
    def tui(self) -> TuiAssistantApp:
        return self.app  # type: ignore[return-value]

    @property
    def endpoint(self) -> str:
        return self.tui.profile.endpoint_key

    @property
    def header(self) -> StatusHeader:
        return self.query_one(StatusHeader)

    @property
    def threads(self) -> ThreadList:
        return self.query_one(ThreadList)

    @property
    def conversation(self) -> Conversation:
        return self.query_one(Conversation)

    @property
    def composer(self) -> Composer:
        return self.query_one(Composer)

    @property
    def activity(self) -> ToolActivity:
        return self.query_one(ToolActivity)

    # -- layout ------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield StatusHeader()
        with Horizontal(id="panes"):
            with Vertical(id="threads-pane", classes="pane"):
                yield Label("Threads", classes="pane-title")
                yield ThreadFilter(id="thread-filter")
                yield ThreadList(id="thread-list")
            with Vertical(id="conversation-pane", classes="pane"):
                yield ReadingConversation(id="conversation")
                yield AttachmentBar(id="attachments")
                yield ExtraInstructions(id="extra-instructions")
                yield Composer(id="composer")
            with Vertical(id="activity-pane", classes="pane"):
                yield Label("Tool activity", classes="pane-title")
                yield ToolActivity(id="activity")
        yield Footer()

    async def on_mount(self) -> None:
        store = self.tui.store
        # The first screenful now; every thread once the first frame is out.
        saved = store.list_threads(self.endpoint, limit=FIRST_THREADS)
        last = store.get_state(f"last_thread:{self.endpoint}")
        self.current = next((t for t in saved if t.thread_id == last), None)
        if self.current is None and last:
            found = store.get_thread(self.endpoint, last)
            self.current = found if found is not None and not found.archived else None
        self.threads.set_threads(saved, self.current.thread_id if self.current else None)
        if len(saved) >= FIRST_THREADS:
            self.call_after_refresh(self.load_all_threads)
        self.header.endpoint = "local server" if self.tui.profile.is_local else (
            self.tui.profile.base_url or ""
        )
        if self.current is not None:
            cached = store.cached_messages(self.endpoint, self.current.thread_id,
                                           limit=HISTORY_PAGE)
            await self.conversation.show_history(
                [_from_cache(m) for m in cached], has_more=False
            )
        else:
            await self.conversation.show_history([], has_more=False, empty_hint=NEW_THREAD_HINT)
        self.show_thread_usage()
        await self.show_store_notice()
        self.composer.focus()
        self.connect_endpoint()

    async def on_unmount(self) -> None:
        if self.connection is not None:
            connection, self.connection = self.connection, None
            await connection.close()

    # -- connecting ----------------------------------------------------------------------

    @work(exclusive=True, group="connect", exit_on_error=False, description="Connecting")
    async def connect_endpoint(self) -> None:
        profile = self.tui.profile
        self.header.status = "connecting"
        self.activity.add("info", f"connecting to {self.header.endpoint}…")
        try:
            self.connection = await self.tui.connector(profile, self.tui.settings)
        except AppError as error:
            self.connect_error = error
            self.header.status = "offline"
            self.activity.add("error", f"{error.title}: {error.message}")
            await self.conversation.add_notice(f"{error.title}: {error.message}", "error")
            self.ready.set()
            return
        self.header.endpoint = self.connection.label
        if self.connection.is_local and self.connection.label == LOCAL_LABEL:
            self.header.hint = LOCAL_HINT
        self.activity.add("ok", f"connected to {self.connection.label}")
        await self.choose_assistant(initial=True)
        # The thread shown while connecting gets its history from the endpoint. Taken
        # before ``ready`` is set: a message sent the moment the endpoint is ready may
        # create a new thread, whose reply must not race a history reload.
        shown_while_connecting = self.current
        self.header.status = "ready"
        self.ready.set()
        self.refresh_assistant_names()
        if shown_while_connecting is not None:
            self.load_history(shown_while_connecting)
        self.open_requested_thread()

    async def choose_assistant(self, *, initial: bool) -> None:
        assert self.connection is not None
        engine = self.connection.engine
        store = self.tui.store
        try:
            assistants = await engine.list_assistants()
        except AppError as error:
            await self.conversation.add_notice(f"{error.title}: {error.message}", "error")
            return
        chosen: AssistantInfo | None = None
        if initial:
            wanted = [
                self.tui.profile.assistant_id,
                self.current.assistant_id if self.current else None,
                store.get_state(f"assistant:{self.endpoint}"),
            ]
            for assistant_id in wanted:
                chosen = next((a for a in assistants if a.id == assistant_id), None)
                if chosen:
                    break
            if chosen is None and len(assistants) == 1:
                chosen = assistants[0]
        if chosen is None and assistants:
            picked = await self.app.push_screen_wait(
                AssistantPicker(assistants, self.assistant.id if self.assistant else None)
            )
            if picked == "create":
                chosen = await self.create_assistant()
            elif isinstance(picked, AssistantInfo):
                chosen = picked
            elif initial:
                chosen = assistants[0]
        elif chosen is None:
            chosen = await self.create_assistant(
                reason="This endpoint has no assistants yet. Create one to start talking."
            )
        if chosen is not None:
            self.set_assistant(chosen)

    async def create_assistant(self, reason: str = "") -> AssistantInfo | None:
        assert self.connection is not None
        draft: AssistantDraft | None = await self.app.push_screen_wait(
            AssistantForm(model=self.assistant.model if self.assistant else "", reason=reason)
        )
        if draft is None:
            return None
        try:
            return await self.connection.engine.create_assistant(
                name=draft.name, model=draft.model, instructions=draft.instructions
            )
        except AppError as error:
            self.notify(error.message, title=error.title, severity="error")
            return None

    def set_assistant(self, assistant: AssistantInfo) -> None:
        self.assistant = assistant
        self.header.assistant = assistant.label
        self.header.model = assistant.model
        self.tui.store.set_state(f"assistant:{self.endpoint}", assistant.id)
        self.activity.add("info", f"assistant: {assistant.label} ({assistant.model})")

    # -- threads -------------------------------------------------------------------------

    def refresh_threads(self) -> None:
        self.refresh_thread_list()

    async def open_thread(self, thread: SavedThread) -> None:
        if self.current is not None and self.current.thread_id == thread.thread_id:
            return
        self.current = thread
        self.tools.thread_changed(thread.title)
        store = self.tui.store
        store.set_state(f"last_thread:{self.endpoint}", thread.thread_id)
        self.threads.highlight_thread(thread.thread_id)
        cached = store.cached_messages(self.endpoint, thread.thread_id, limit=HISTORY_PAGE)
        await self._show_thread_messages(thread, [_from_cache(m) for m in cached], False)
        self.follow_thread_assistant(thread)
        self.forget_run_usage()
        self.header.status = self.live[thread.thread_id].status if thread.thread_id in self.live \
            else ("ready" if self.ready.is_set() and self.connection else self.header.status)
        if self.connection is not None:
            self.load_history(thread)

    async def _show_thread_messages(
        self, thread: SavedThread, messages: list[ThreadMessage], has_more: bool
    ) -> None:
        live = self.live.get(thread.thread_id)
        if live and live.message_id:
            messages = [m for m in messages if m.id != live.message_id]
        await self.conversation.show_history(
            messages, has_more=has_more, empty_hint="" if live else NEW_THREAD_HINT
        )
        if live and live.message_id:
            await self.conversation.start_reply(live.message_id, time.time(), live.text)

    @work(exclusive=True, group="history", exit_on_error=False, description="Loading history")
    async def load_history(self, thread: SavedThread) -> None:
        assert self.connection is not None
        try:
            page = await self.connection.engine.list_messages(
                thread.thread_id, limit=HISTORY_PAGE
            )
        except NotFoundError:
            await self.conversation.add_notice(
                "This thread no longer exists on the endpoint; the copy shown is from the "
                "local cache.",
                "error",
            )
            return
        except AppError as error:
            await self.conversation.add_notice(f"{error.title}: {error.message}", "error")
            return
        if self.current is None or self.current.thread_id != thread.thread_id:
            return
        messages = await self.tools.with_footnotes(page.messages)
        self._cache(thread.thread_id, messages)
        await self._show_thread_messages(thread, messages, page.has_more)
        await self.tools.show_message_images([(m.id, m.images) for m in messages if m.images])
        self.tools.start_rebuild(thread.thread_id)

    @on(Conversation.OlderRequested)
    def older_requested(self, event: Conversation.OlderRequested) -> None:
        if self.current is not None and self.connection is not None:
            self.load_older(self.current, event.before_id)

    @work(exclusive=True, group="older", exit_on_error=False, description="Loading older")
    async def load_older(self, thread: SavedThread, before_id: str) -> None:
        assert self.connection is not None
        try:
            page = await self.connection.engine.list_messages(
                thread.thread_id, limit=HISTORY_PAGE, before_id=before_id
            )
        except AppError as error:
            self.conversation.loading_older = False
            self.notify(error.message, title=error.title, severity="error")
            return
        if self.current is None or self.current.thread_id != thread.thread_id:
            return
        messages = await self.tools.with_footnotes(page.messages)
        self._cache(thread.thread_id, messages)
        await self.conversation.prepend_history(messages, has_more=page.has_more)

    def _cache(self, thread_id: str, messages: list[ThreadMessage]) -> None:
        self.tui.store.cache_messages(
            self.endpoint,
            thread_id,
            [CachedMessage(m.id, m.role, m.text, m.created_at) for m in messages],
        )

    @on(ThreadList.Chosen)
    async def thread_chosen(self, event: ThreadList.Chosen) -> None:
        await self.open_thread(event.thread)
        self.composer.focus()

    async def action_new_thread(self) -> None:
        self.current = None
        self.tools.thread_changed()
        self.tui.store.set_state(f"last_thread:{self.endpoint}", "")
        self.threads.highlight_thread(None)
        await self.conversation.show_history([], has_more=False, empty_hint=NEW_THREAD_HINT)
        self.forget_run_usage()
        if self.ready.is_set() and self.connection:
            self.header.status = "ready"
        self.composer.focus()

    async def _open_index(self, index: int) -> None:
        thread = self.threads.thread_at(index)
        if thread is not None:
            await self.open_thread(thread)

    async def action_next_thread(self) -> None:
        index = self.threads.index_of(self.current.thread_id if self.current else None)
        await self._open_index(0 if index is None else index + 1)

    async def action_previous_thread(self) -> None:
        index = self.threads.index_of(self.current.thread_id if self.current else None)
        if index is None:
            await self._open_index(len(self.threads.threads) - 1)
        elif index > 0:
            await self._open_index(index - 1)

    async def action_jump_thread(self, number: int) -> None:
        await self._open_index(number - 1)

    def action_goto_thread(self) -> None:
        def opener(thread: SavedThread):
            async def open_it() -> None:
                await self.open_thread(thread)
                self.composer.focus()

            return open_it

        commands = [
            (one_line(t.title, 60) or "Untitled", opener(t), one_line(t.preview, 80) or None)
            for t in self.threads.threads
        ]
        self.app.search_commands(commands, placeholder="Go to thread…")

    @work(exclusive=True, group="assistant", exit_on_error=False, description="Choose assistant")
    async def action_pick_assistant(self) -> None:
        if self.connection is None:
            self.notify("Not connected to an endpoint yet.", severity="warning")
            return
        await self.choose_assistant(initial=False)
        self.record_thread_assistant()

    @work(exclusive=True, group="assistant", exit_on_error=False, description="Create assistant")
    async def action_create_assistant(self) -> None:
        if self.connection is None:
            self.notify("Not connected to an endpoint yet.", severity="warning")
            return
        created = await self.create_assistant()
        if created is not None:
            self.set_assistant(created)

    # -- running -------------------------------------------------------------------------

    @on(Composer.Submitted)
    def composer_submitted(self, event: Composer.Submitted) -> None:
        if self.current is not None and self.current.thread_id in self.live:
            self.notify(
                "This thread has a run in progress: wait for it, or press Escape to cancel it.",
                severity="warning",
            )
            return
        self.resending(event.text)
        self.composer.clear()
        self.send(event.text)

    @work(group="run", exit_on_error=False, description="Running the assistant")
    async def send(self, text: str) -> None:
        attachments = self.tools.take_attachments()
        extra = self.take_extra_instructions()
        user_view = await self.conversation.add_user_message(text, time.time())
        if not self.ready.is_set():
            user_view.set_note("waiting for the endpoint…")
            await self.ready.wait()
            user_view.set_note("")
        if self.connection is None or self.assistant is None:
            reason = (
                self.connect_error.message if self.connect_error else "No assistant is chosen."
            )
            self.tools.restore_attachments(attachments)
            self._not_sent(user_view, text, reason)
            return
        if attachments:
            user_view.set_note("📎 " + ", ".join(a.path.name for a in attachments))
        engine = self.connection.engine
        store = self.tui.store
        thread = self.current
        try:
            if thread is None:
                thread_id = await engine.create_thread()
                thread = store.add_thread(
                    self.endpoint, thread_id, self.assistant.id, title_from_text(text)
                )
                self.current = thread
                store.set_state(f"last_thread:{self.endpoint}", thread_id)
                self.refresh_threads()
                self.activity.add("info", f"thread {short_id(thread_id)} saved")
            uploaded = await self.tools.upload(attachments)
        except AppError as error:
            self.tools.restore_attachments(attachments)
            self._not_sent(user_view, text, error.message)
            return
        live = self.new_live_run(thread.thread_id)
        store.touch(self.endpoint, thread.thread_id, preview=preview(text, 120))
        conflict = await self.follow_turn(
            live,
            live.session.send(
                thread.thread_id, self.assistant.id, text, attachments=uploaded,
                additional_instructions=extra,
            ),
            user_view,
            text,
        )
        if conflict is not None:  # the thread is busy: follow that run, or ask
            self.tools.restore_attachments(attachments)
            await self.resolve_active_run(thread, conflict, text, user_view)

    def new_live_run(self, thread_id: str) -> LiveRun:
        assert self.connection is not None
        return LiveRun(
            thread_id,
            Session(
                self.connection.engine,
                on_action=self.tools.action_handler(thread_id),
                on_recovery=self.recovery_note,
                seen_runs=self.known_runs(thread_id),
            ),
        )

    async def follow_turn(
        self, live: LiveRun, events, user_view: MessageView | None = None, text: str = ""
    ) -> ActiveRunError | None:
        """Show a turn's events as they come, and keep the thread's state around it.

        ``user_view`` is the message being sent (None for a retry or a run followed).
        Returns the ``ActiveRunError`` when the thread turned out to be busy before the
        run started (the caller decides what to do); other errors are shown here."""
        thread_id = live.thread_id
        store = self.tui.store
        self.live[thread_id] = live
        self.threads.running.add(thread_id)
        self.turn_started(thread_id)
        self.refresh_threads()
        conflict: ActiveRunError | None = None
        try:
            async for event in events:
                await self.on_run_event(live, event, user_view)
        except AppError as error:
            if isinstance(error, ActiveRunError) and not live.run_id:
                conflict = error
            elif not live.run_id and user_view is not None:
                self._not_sent(user_view, text, error.message, thread_id)
            else:
                await self._show_error(live, f"{error.title}: {error.message}")
                await self.offer_retry(thread_id, "error")
        finally:
            self.live.pop(thread_id, None)
            self.threads.running.discard(thread_id)
            if self._showing(thread_id):
                self.conversation.end_streaming("cancelled" if live.status == "cancelled" else "")
            if live.text:
                store.touch(self.endpoint, thread_id, preview=preview(live.text, 120))
            self.refresh_threads()
            self.refresh_bindings()
            if live.run_id:
                await self._sync_after_run(thread_id)
        return conflict

    @work(group="run", exit_on_error=False, description="Retrying the run")
    async def rerun_thread(self, thread: SavedThread) -> None:
        """Run the assistant again on ``thread`` without a new message (F9)."""
        if self.connection is None or self.assistant is None:
            self.notify("Not connected to an endpoint.", severity="warning")
            return
        live = self.new_live_run(thread.thread_id)
        conflict = await self.follow_turn(
            live, live.session.rerun(thread.thread_id, self.assistant.id)
        )
        if conflict is not None:
            await self.resolve_active_run(thread, conflict, "", None)

    async def follow_run(self, thread: SavedThread, run_id: str) -> None:
        """Show a run that is already going on ``thread`` until it ends."""
        live = self.new_live_run(thread.thread_id)
        live.run_id = run_id
        await self.follow_turn(live, live.session.attach(thread.thread_id, run_id))

    def _not_sent(
        self, view: MessageView, text: str, reason: str, thread_id: str | None = None
    ) -> None:
        self.composer.restore(text)
        self.remember_unsent(view, text, thread_id)
        self.header.status = "error"
        self.activity.add("error", f"not sent: {reason}")
        self.notify(reason, title="Message not sent", severity="error")

    async def _sync_after_run(self, thread_id: str) -> None:
        """Cache the thread's newest messages with their real ids."""
        if self.connection is None:
            return
        try:
            page = await self.connection.engine.list_messages(thread_id, limit=10)
        except EngineError:
            return
        self._cache(thread_id, page.messages)
        if self._showing(thread_id):
            views = self.conversation.message_views
            by_text = {(m.role, m.text): m.id for m in page.messages}
            for view in views:
                if view.message_id is None:
                    view.message_id = by_text.get((view.role, view.text))

    def _showing(self, thread_id: str) -> bool:
        return self.current is not None and self.current.thread_id == thread_id

    async def on_run_event(
        self, live: LiveRun, event: RunEvent, user_view: MessageView | None = None
    ) -> None:
        shown = self._showing(live.thread_id)
        if type(event) is TextDelta:  # the hot path: a hundred a second while a reply streams
            live.text += event.text
            if shown:
                self.conversation.feed(event.message_id, event.text)
            return
        log = self.activity.add
        await self.tools.on_event(live, event)
        match event:
            case RunStarted(run_id=run_id, model=model):
                live.run_id = run_id
                live.status = "queued"
                if shown:
                    self.header.usage = ""
                log("run", f"run {short_id(run_id)} started" + (f" · {model}" if model else ""))
            case RunStatusChanged(status=status):
                live.status = status
                log("status", f"  {status.replace('_', ' ')}")
            case MessageStarted(message_id=message_id):
                live.message_id = message_id
                live.text = ""
                live.status = "streaming"
                if shown:
                    await self.conversation.start_reply(message_id, time.time())
            case MessageCompleted(message_id=message_id, text=text, status=status):
                live.text = text
                self.cache_streamed(live.thread_id, message_id, text)
                if shown:
                    self.conversation.complete_reply(
                        message_id,
                        await self.tools.completed_text(event),
                        "" if status == "completed" else status,
                    )
                    if event.images:
                        await self.tools.show_message_images([(message_id, event.images)])
            case ToolCallStarted(kind=kind, name=name):
                log("tool", f"{kind} {name}".strip() + " started")
            case ToolCallDelta():
                pass
            case ToolCallCompleted(kind=kind, name=name, output=output):
                log("tool", f"{kind} {name}".strip() + f" → {one_line(output, 120)}")
            case ActionRequired(calls=calls):
                live.status = "requires_action"
                names = ", ".join(c.name for c in calls)
                log("warn", f"  requires action: {names}")
            case RunCompleted(status=status, usage=usage, reason=reason, left_out=left_out):
                live.status = status
                elapsed = time.monotonic() - live.started
                detail = f"run {short_id(live.run_id)} {status} in {elapsed:.1f} s"
                if usage is not None:
                    detail += (
                        f" · {usage.total_tokens:,} tokens (prompt {usage.prompt_tokens:,}, "
                        f"completion {usage.completion_tokens:,})"
                    ) + (" estimated" if usage.estimated else "")
                self.note_run_usage(live.thread_id, live.run_id, status, usage)
                if reason:
                    detail += f" · {reason}"
                if left_out:
                    detail += f" · {left_out} earlier messages left out to fit the model's window"
                log("ok" if status == "completed" else "warn", detail)
                if shown and status != "completed":
                    self.conversation.end_streaming(status)
                    if status == "cancelled":
                        await self.conversation.add_notice(
                            "Run cancelled. What was written before the cancel is kept.", "info"
                        )
                    elif status == "incomplete":
                        await self.conversation.add_notice(
                            f"The reply stopped early ({reason or 'incomplete'}).", "error"
                        )
            case RunFailed(status=status, code=code, message=message):
                live.status = status
                await self._show_error(
                    live,
                    f"The run {status}" + (f" ({code})" if code else "") + f": {message}"
                    if message else f"The run {status}" + (f" ({code})" if code else "") + ".",
                )
        if shown:
            self.header.status = live.status
        await self.note_run_event(live, event)

    async def _show_error(self, live: LiveRun, text: str) -> None:
        self.activity.add("error", text)
        if self._showing(live.thread_id):
            self.conversation.end_streaming(live.status)
            await self.conversation.add_notice(text, "error")
            self.header.status = "error" if live.status in ("queued", "streaming") else live.status

    @work(group="cancel", exit_on_error=False, description="Cancelling the run")
    async def action_cancel_run(self) -> None:
        live = self.live.get(self.current.thread_id) if self.current else None
        if live is None:
            return
        self.header.status = "cancelling"
        self.activity.add("warn", f"cancelling run {short_id(live.run_id) or '(starting)'}…")
        try:
            await live.session.cancel()
        except AppError as error:
            self.notify(error.message, title="Could not cancel", severity="error")

    # -- tools and files (the work is in ToolsController) --------------------------------

    @on(ToolActivity.Selected)
    def tool_call_selected(self, event: ToolActivity.Selected) -> None:
        self.tools.show_call(event.call_id)

    @on(ToolActivity.OpenRequested)
    def tool_file_open_requested(self, event: ToolActivity.OpenRequested) -> None:
        self.tools.open_file(event.call_id, event.path)

    @on(ToolMarker.Clicked)
    def tool_marker_clicked(self, event: ToolMarker.Clicked) -> None:
        self.tools.marker_clicked(event.marker)

    @work(exclusive=True, group="files", exit_on_error=False, description="Attach a file")
    async def action_attach_file(self) -> None:
        await self.tools.attach_file()
        self.composer.focus()

    def action_clear_attachments(self) -> None:
        self.tools.clear_attachments()

    @work(exclusive=True, group="files", exit_on_error=False, description="Download files")
    async def action_download_files(self) -> None:
        await self.tools.download_files()

    def action_focus_tools(self) -> None:
        self.activity.focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_run":
            return self.current is not None and self.current.thread_id in self.live
        if action == "retry":
            return self.can_retry()
        return True


def short_id(object_id: str) -> str:
    """``run_abc…wxyz`` → ``run_…wxyz``: enough to tell runs apart in the log."""
    prefix, _, rest = object_id.partition("_")
    return f"{prefix}_…{rest[-6:]}" if len(rest) > 8 else object_id


def _from_cache(message: CachedMessage) -> ThreadMessage:
    return ThreadMessage(message.message_id, message.role, message.text, message.created_at)
