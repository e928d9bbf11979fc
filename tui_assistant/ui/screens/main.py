"""The main screen: threads, conversation, tool activity.

The screen is a router. Panes own their keys and post messages; the screen answers each
with one handler that calls the ``Workspace`` (in a worker when it waits on the network)
and puts the result back into the panes. ``on_run_event`` is the one place a run is
rendered. The screen holds no domain state: the open thread, the assistant, live runs
and what F9 can retry are the workspace's. What concerns one pane alone is that pane's:
the thread list's actions are ``ThreadsPane``'s, the conversation's history, the reply
side of a run and what a message takes along are ``ConversationPane``'s, a thread's tool
history and the function calls that ask the user (and the outputs submitted) are
``ToolPane``'s. The screen places what those panes post where it belongs (a restored or
changed call's marker in the conversation) and makes the ``SavedImages`` both panes are
given, so each image is saved once. A send or a retry runs in the workspace from start
to end (``Workspace.exchange``); the screen shows its steps (``_show_steps``).

The dialog flows (assistants, files, search, a busy thread; a function call's, in the
tool pane) are imported where they are first used, so their modules are not on the path
to the first frame.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from typing import ClassVar

from textual import getters, on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal
from textual.screen import Screen

from tui_assistant.engines.base import AssistantInfo, ThreadMessage
from tui_assistant.errors import AppError
from tui_assistant.events import (
    MessageCompleted,
    MessageStarted,
    RunCompleted,
    RunFailed,
    RunStarted,
    TextDelta,
)
from tui_assistant.store import SavedThread
from tui_assistant.text import one_line, short_id
from tui_assistant.ui.commands import (
    ScreenCommands,
    ThreadCommands,
    goto_thread,
    main_screen_commands,
)
from tui_assistant.ui.screens.main_keys import MAIN_BINDINGS
from tui_assistant.ui.widgets.composer import Composer
from tui_assistant.ui.widgets.conversation import Conversation
from tui_assistant.ui.widgets.conversation_pane import ConversationPane, Outgoing
from tui_assistant.ui.widgets.extra_instructions import ExtraInstructions
from tui_assistant.ui.widgets.footer import Footer
from tui_assistant.ui.widgets.image_preview import SavedImages
from tui_assistant.ui.widgets.status_header import StatusHeader
from tui_assistant.ui.widgets.thread_list import ThreadList
from tui_assistant.ui.widgets.threads_pane import LIST_HEAD, ThreadsPane
from tui_assistant.ui.widgets.tool_activity import ToolActivity
from tui_assistant.ui.widgets.tool_marker import ToolMarker
from tui_assistant.ui.widgets.tool_pane import ToolPane
from tui_assistant.workspace import (
    BusyAnswer,
    LiveRun,
    Noted,
    NotSent,
    SentAgain,
    Step,
    ThreadCreated,
    TurnBroke,
    TurnEnded,
    TurnStarted,
    Workspace,
    from_cache,
    run_summary,
)


class MainScreen(Screen[None]):
    """Threads on the left, the conversation in the middle, tool activity on the right."""

    CSS_PATH = "main.tcss"
    COMMANDS: ClassVar = {ScreenCommands, ThreadCommands}

    BINDINGS: ClassVar[list[BindingType]] = MAIN_BINDINGS

    header = getters.query_one(StatusHeader)
    threads_pane = getters.query_one(ThreadsPane)
    threads = getters.query_one(ThreadList)
    conversation = getters.query_one(Conversation)
    composer = getters.query_one(Composer)
    activity = getters.query_one(ToolActivity)
    extra_instructions = getters.query_one(ExtraInstructions)
    conversation_pane = getters.query_one(ConversationPane)
    tool_pane = getters.query_one(ToolPane)

    def __init__(self, workspace: Workspace, connector, *, open_thread_id: str | None = None
                 ) -> None:
        super().__init__()
        self.workspace = workspace
        self.connector = connector
        self.open_thread_id = open_thread_id
        """A thread to adopt and open once connected (``tui-assistant open ID``)."""
        self.images = SavedImages(self, workspace.save_image,
                                  lambda: (self.activity, self.conversation))
        workspace.ask_busy = self._ask_busy
        workspace.on_recovery = self._recovery_note

    palette_commands = main_screen_commands  # the palette's entries (ui/commands.py)

    # -- layout and start ---------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield StatusHeader()
        with Horizontal(id="panes"):
            yield ThreadsPane(self.workspace, id="threads-pane")
            yield ConversationPane(self.workspace, self.images, id="conversation-pane")
            yield ToolPane(self.workspace, self.images, id="activity-pane")
        yield Footer()

    async def on_mount(self) -> None:
        self.threads_pane.restore_width()
        saved, cached = self.workspace.restore(limit=LIST_HEAD)
        self.threads_pane.show(saved)
        if len(saved) >= LIST_HEAD:  # the first screenful now, every thread right after
            self.call_after_refresh(self.threads_pane.load_all)
        self.header.show_thread(self.workspace)
        self.header.show_profile(self.workspace.profile)
        await self.conversation_pane.show_restored(cached)
        if self.conversation_pane.restore_draft():
            self.activity.add("info", "restored the unsent text of the last session")
        notice = await self.conversation_pane.show_store_notice()
        if notice:
            self.activity.add("error", notice)
        self.composer.focus()
        self.connect_endpoint()

    async def on_unmount(self) -> None:
        await self.workspace.disconnect()

    @work(exclusive=True, group="connect", exit_on_error=False, description="Connecting")
    async def connect_endpoint(self) -> None:
        self.header.status = "connecting"
        self.activity.add("info", f"connecting to {self.header.endpoint}…")
        try:
            connection = await self.workspace.connect(self.connector)
        except AppError as error:
            self.header.status = "offline"
            self.activity.add("error", f"{error.title}: {error.message}")
            await self.conversation.add_notice(f"{error.title}: {error.message}", "error")
            return
        self.header.show_connection(connection)
        self.activity.add("ok", f"connected to {connection.label} ({connection.kind} API)")
        if connection.code_interpreter:
            self.activity.add("info", connection.code_interpreter)
        for problem in self.workspace.registry_problems:
            self.notify(problem, title="A tool plugin could not be loaded", severity="warning")
        await self.choose_assistant(initial=True)
        # The thread shown while connecting gets its history from the endpoint. Taken
        # before ``ready`` is set: a message sent the moment the endpoint is ready may
        # create a new thread, whose reply must not race a history reload.
        shown_while_connecting = self.workspace.current
        self.header.status = "ready"
        self.workspace.ready.set()
        if shown_while_connecting is not None:
            self.conversation_pane.load_history(shown_while_connecting)
        if self.open_thread_id:
            thread_id, self.open_thread_id = self.open_thread_id, None
            await self.threads_pane.adopt(thread_id)

    # -- assistants -----------------------------------------------------------------------

    async def choose_assistant(self, *, initial: bool) -> None:
        try:
            from tui_assistant.ui.screens.assistants import choose_assistant

            chosen = await choose_assistant(self.app, self.workspace, initial=initial)
        except AppError as error:
            await self.conversation.add_notice(f"{error.title}: {error.message}", "error")
            return
        self.threads.set_assistant_names(self.workspace.assistant_names())
        if chosen is not None:
            self.set_assistant(chosen)

    def set_assistant(self, assistant: AssistantInfo) -> None:
        self.workspace.use_assistant(assistant)
        self.header.show_thread(self.workspace)
        self.conversation.assistant_name = assistant.label
        self.activity.add("info", f"assistant: {assistant.label} ({assistant.model})")

    def _use_thread_assistant(self) -> None:
        if self.workspace.record_thread_assistant():
            self.threads_pane.reload()

    @work(exclusive=True, group="assistant", exit_on_error=False, description="Choose assistant")
    async def action_pick_assistant(self) -> None:
        if self._not_connected():
            return
        await self.choose_assistant(initial=False)
        self._use_thread_assistant()

    @work(exclusive=True, group="assistant", exit_on_error=False, description="Create assistant")
    async def action_create_assistant(self) -> None:
        if self._not_connected():
            return
        from tui_assistant.ui.screens.assistants import create_assistant

        created = await create_assistant(self.app, self.workspace)
        if created is not None:
            self.set_assistant(created)

    @work(exclusive=True, group="assistant", exit_on_error=False,
          description="Managing assistants")
    async def action_manage_assistants(self) -> None:
        if self._not_connected():
            return
        from tui_assistant.ui.screens.assistants import manage_assistants

        managed = await manage_assistants(self.app, self.workspace)
        self.threads.set_assistant_names(self.workspace.assistant_names())
        if managed.use is not None:
            self.set_assistant(managed.use)
        if managed.chosen:
            self._use_thread_assistant()
            if self.workspace.current is not None:
                self.notify(f"This thread now talks to {one_line(managed.chosen, 40)}.")
        elif managed.deleted:  # the assistant in use was deleted: choose another
            await self.choose_assistant(initial=True)

    def _not_connected(self) -> bool:
        if self.workspace.connection is None:
            self.notify("Not connected to an endpoint yet.", severity="warning")
            return True
        return False

    # -- the thread list --------------------------------------------------------------------

    @on(ThreadList.Chosen)
    async def thread_chosen(self, event: ThreadList.Chosen) -> None:
        await self.open_thread(event.thread)
        self.composer.focus()

    def action_filter_threads(self) -> None:
        self.threads_pane.filter.focus()

    # -- opening threads -----------------------------------------------------------------

    async def open_thread(self, thread: SavedThread) -> None:
        if self.workspace.is_showing(thread.thread_id):
            return
        cached = self.workspace.open(thread)
        await self._show_thread(thread, from_cache(cached))
        if self.workspace.connection is not None:
            self.conversation_pane.load_history(thread)

    async def action_new_thread(self) -> None:
        self.workspace.new_thread()
        await self._show_thread(None)
        self.composer.focus()

    async def _show_thread(self, thread: SavedThread | None,
                           messages: Sequence[ThreadMessage] = ()) -> None:
        """The panes and the header show the thread just opened (``None``: a new one)."""
        self.activity.clear()
        self.threads.mark_open(thread.thread_id if thread else None)
        if thread is None:
            await self.conversation_pane.show_new_thread()
        else:
            self.activity.add("info", f"thread: {thread.title}")
            await self.conversation_pane.show_messages(thread, list(messages), False)
            follow = self.workspace.thread_assistant(thread)
            if follow is not None:
                self.set_assistant(follow)
        self.header.show_thread(self.workspace)
        live = self.workspace.live.get(thread.thread_id) if thread else None
        if live is not None:
            self.header.status = live.status
        elif self.workspace.ready.is_set() and self.workspace.connection:
            self.header.status = "ready"

    # Moving between threads: the thread pane chooses the thread, the key's action opens
    # it (a key that arrives meanwhile waits, so presses that come at once move as many
    # rows) and the focus stays where it is.

    async def _open(self, thread: SavedThread | None) -> None:
        if thread is not None:
            await self.open_thread(thread)

    async def action_next_thread(self) -> None:
        await self._open(self.threads_pane.neighbour(1))

    async def action_previous_thread(self) -> None:
        await self._open(self.threads_pane.neighbour(-1))

    async def action_jump_thread(self, number: int) -> None:
        await self._open(self.threads_pane.numbered(number))

    def action_goto_thread(self) -> None:
        goto_thread(self)

    @on(ConversationPane.HistoryLoaded)
    async def history_loaded(self, event: ConversationPane.HistoryLoaded) -> None:
        """A thread's history came from the endpoint: its tool calls, from its runs."""
        self.tool_pane.load_history(event.thread_id)

    @on(ToolPane.HistoryRestored)
    async def tool_history_restored(self, event: ToolPane.HistoryRestored) -> None:
        """The tool pane read a thread's calls back: their markers in the conversation."""
        if not self.workspace.is_showing(event.thread_id):
            return
        for call in event.calls:
            await self.conversation.place_call(call.record, call.reply_ids, call.created_at)

    # -- thread actions (the thread pane does them; these keys work from anywhere) -------

    def action_rename_thread(self) -> None:
        self.threads_pane.action_rename()

    def action_export_thread(self, fmt: str = "md") -> None:
        self.threads_pane.action_export(fmt)

    @on(ThreadsPane.OpenRequested)
    async def thread_open_requested(self, event: ThreadsPane.OpenRequested) -> None:
        await self.open_thread(event.thread)
        self.composer.focus()

    @on(ThreadsPane.Changed)
    def threads_changed(self, event: ThreadsPane.Changed) -> None:
        self.header.show_thread(self.workspace)

    def action_resize_threads(self, step: int) -> None:
        """Make the thread pane wider or narrower (kept for the next start)."""
        self.threads_pane.resize(step, self.size.width // 2)

    @on(ThreadsPane.Deleted)
    async def thread_deleted(self, event: ThreadsPane.Deleted) -> None:
        if event.was_open:
            await self.action_new_thread()

    # -- search ------------------------------------------------------------------------------

    @work(exclusive=True, group="search", exit_on_error=False, description="Searching messages")
    async def action_search_messages(self) -> None:
        from tui_assistant.ui.screens.search import search_messages

        hit = await search_messages(self.app, self.workspace)
        if hit is not None:
            await self.open_message(hit.thread_id, hit.message_id)

    async def open_message(self, thread_id: str, message_id: str) -> bool:
        """Open a saved thread scrolled to one of its messages (selected)."""
        thread = self.workspace.get_thread(thread_id)
        if thread is None:
            self.notify("That thread is no longer saved.", severity="warning")
            return False
        await self.open_thread(thread)
        return await self.conversation_pane.go_to_message(message_id)

    # -- sending and running ------------------------------------------------------------------

    @on(ConversationPane.SendRequested)
    def send_requested(self, event: ConversationPane.SendRequested) -> None:
        self.send(event.text)

    @work(group="run", exit_on_error=False, description="Running the assistant")
    async def send(self, text: str) -> None:
        outgoing = await self.conversation_pane.outgoing(text)
        if not self.workspace.ready.is_set():
            outgoing.view.set_note("waiting for the endpoint…")
            await self.workspace.ready.wait()
            outgoing.view.set_note("")
        if outgoing.attachments:
            outgoing.view.set_note("📎 " + ", ".join(a.path.name for a in outgoing.attachments))
        await self._show_steps(self.workspace.exchange(
            text, attachments=outgoing.attachments, extra=outgoing.extra), outgoing)

    @work(group="run", exit_on_error=False, description="Retrying the run")
    async def rerun_thread(self, thread_id: str) -> None:
        """Run the assistant again on the thread without a new message (F9)."""
        await self._show_steps(self.workspace.exchange("", thread_id=thread_id), None)

    async def _show_steps(self, steps: AsyncIterator[tuple[LiveRun | None, Step]],
                      outgoing: Outgoing | None) -> None:
        """Show a send or a retry as it goes (``outgoing``: the message sent, if any)."""
        async with aclosing(steps):  # type: ignore[type-var]
            async for live, step in steps:
                if live is not None and not isinstance(step, NotSent):
                    await self.on_run_event(live, step)
                    continue
                match step:
                    case Noted(kind=kind, text=text):
                        self.activity.add(kind, text)
                    case ThreadCreated(thread=thread):
                        self.threads_pane.reload()
                        self.threads.mark_open(thread.thread_id)
                        self.header.show_thread(self.workspace)
                        self.activity.add("info", f"thread {short_id(thread.thread_id)} saved")
                    case SentAgain() if outgoing is not None:
                        await self.conversation_pane.send_again(outgoing)
                    case NotSent(reason=reason) if outgoing is None:
                        self.activity.add("error", f"not retried: {reason}")
                        self.refresh_bindings()
                        self.notify(reason, title="Not retried", severity="warning")
                    case NotSent(reason=reason, thread_id=thread_id) if outgoing is not None:
                        self.conversation_pane.attachments.restore(outgoing.attachments)
                        self.conversation_pane.not_sent(outgoing.view, outgoing.text, thread_id)
                        self.header.status = "error"
                        self.activity.add("error", f"not sent: {reason}")
                        self.notify(reason, title="Message not sent", severity="error")
                        self.refresh_bindings()

    async def on_run_event(self, live: LiveRun, event: Step) -> None:
        """Render one event of a turn (the only place a run reaches the panes)."""
        shown = self.workspace.is_showing(live.thread_id)
        if type(event) is TextDelta:  # the hot path: a hundred a second while a reply streams
            if shown:
                self.conversation.feed(event.message_id, event.text)
            return
        if isinstance(event, TurnStarted | TurnBroke | TurnEnded):
            await self._turn_changed(live, event, shown)
            return
        if shown:
            changed = self.tool_pane.apply(event, live.run_id)
            for record in changed:
                await self.conversation.mark_call(record)
            self.conversation.update_calls(changed)
        self.activity.log_event(event)
        match event:
            case RunStarted():
                if shown:
                    self.header.usage = ""
            case MessageStarted() | MessageCompleted():
                if shown:
                    await self.conversation_pane.apply(event)
            case RunCompleted():
                await self._run_completed(live, event, shown)
            case RunFailed(status=status, code=code, message=message):
                what = f"The run {status}" + (f" ({code})" if code else "")
                await self._show_error(live, f"{what}: {message}" if message else f"{what}.")
                await self._offer_retry(live.thread_id)
        if shown:
            self.header.status = live.status

    async def _turn_changed(self, live: LiveRun, step: Step, shown: bool) -> None:
        thread_id = live.thread_id
        match step:
            case TurnStarted():
                self.threads.running.add(thread_id)
                self.threads_pane.reload()
            case TurnBroke(message=message):
                await self._show_error(live, message)
                await self._offer_retry(thread_id)
            case TurnEnded():
                self.threads.running.discard(thread_id)
                if shown:
                    self.conversation.end_streaming("cancelled" if live.status == "cancelled"
                                                    else "")
                self.threads_pane.reload()
                self.refresh_bindings()
                if live.run_id:
                    await self.conversation_pane.sync_after_run(thread_id)

    async def _run_completed(self, live: LiveRun, event: RunCompleted, shown: bool) -> None:
        status = event.status
        self.activity.add("ok" if status == "completed" else "warn", run_summary(live, event))
        if not shown:
            return
        self.header.usage = self.workspace.usage_label()
        await self.conversation_pane.apply(event)  # the reply's end, a notice
        if status == "cancelled":
            self.refresh_bindings()
        elif status == "incomplete":
            await self._offer_retry(live.thread_id)

    async def _show_error(self, live: LiveRun, text: str) -> None:
        self.activity.add("error", text)
        if self.workspace.is_showing(live.thread_id):
            await self.conversation_pane.show_error(text, live.status)
            self.header.status = "error" if live.status in ("queued", "streaming") else live.status

    @work(group="cancel", exit_on_error=False, description="Cancelling the run")
    async def action_cancel_run(self) -> None:
        live = self.workspace.live.get(self.workspace.context())
        if live is None:
            return
        self.header.status = "cancelling"
        self.activity.add("warn", f"cancelling run {short_id(live.run_id) or '(starting)'}…")
        try:
            await self.workspace.cancel(live.thread_id)
        except AppError as error:
            self.notify(error.message, title="Could not cancel", severity="error")

    # -- what F9 does: unsent messages, runs that ended badly, a busy thread --------------------

    def action_retry(self) -> None:
        workspace = self.workspace
        context = workspace.context()
        if workspace.is_busy():
            self.notify("A reply is still being written in this thread.", severity="warning")
            return
        text = self.conversation_pane.take_unsent()
        if text is not None:
            self.activity.add("info", "sending the message again")
            self.send(text)
        elif context in workspace.retryable and self.workspace.current is not None:
            how = workspace.retryable[context]
            self.activity.add("info", "writing the cancelled reply again" if how == "cancelled"
                              else "running the assistant again on this thread")
            self.rerun_thread(self.workspace.current.thread_id)
        else:
            self.notify("Nothing to retry here: the last reply finished and no message is "
                        "waiting to be sent.", severity="information")
        self.refresh_bindings()

    async def _offer_retry(self, thread_id: str) -> None:
        self.refresh_bindings()
        if self.workspace.is_showing(thread_id):
            await self.conversation_pane.offer_retry()

    async def _ask_busy(self, run_id: str, status: str, retry: bool) -> BusyAnswer:
        """The thread is busy with a run started elsewhere: what now? (``ActiveRunDialog``)"""
        from tui_assistant.ui.screens.active_run import ActiveRunDialog

        return await self.app.push_screen_wait(ActiveRunDialog(run_id, status, retry=retry))

    def _recovery_note(self, thread_id: str, text: str) -> None:
        """The session recovered from a fault (a stream cut, a submission resent)."""
        self.activity.add("warn", text)
        if self.workspace.is_showing(thread_id):
            self.header.status = "reconnecting"

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_run":
            return self.workspace.is_busy()
        return True

    # -- tools ---------------------------------------------------------------------------

    @on(ToolPane.CallsChanged)
    def tool_calls_changed(self, event: ToolPane.CallsChanged) -> None:
        """A call waits for the user, or got its output: its marker follows."""
        self.conversation.update_calls(event.records)

    @on(ToolActivity.Selected)
    def tool_call_selected(self, event: ToolActivity.Selected) -> None:
        if not self.conversation.show_call(event.call_id):
            self.notify("That call happened in a part of the conversation that is not loaded.",
                        severity="warning")

    @on(ToolMarker.Clicked)
    def tool_marker_clicked(self, event: ToolMarker.Clicked) -> None:
        self.activity.select(event.marker.call_id)
        self.conversation.show_call(event.marker.call_id)

    def action_attach_file(self) -> None:
        self.conversation_pane.action_attach_file()

    @work(exclusive=True, group="files", exit_on_error=False, description="Download files")
    async def action_download_files(self) -> None:
        from tui_assistant.ui.screens.files import download_files

        await download_files(self.app, self.workspace)

    def action_focus_tools(self) -> None:
        self.activity.focus()

    def action_toggle_extra_instructions(self) -> None:
        self.conversation_pane.action_toggle_extra_instructions()
