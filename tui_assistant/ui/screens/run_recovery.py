"""Nothing lost under faults: unsent messages, failed runs, a thread that is busy.

``RunRecovery`` is a mixin of ``MainScreen`` (it subclasses ``Screen`` so its bindings
merge with the screen's). It keeps what the user needs to try again:

* A message that could not be sent stays on screen marked "not sent", its text goes back
  to the composer, and **F9** (or alt+r) sends it again (the marked copy is replaced, so it shows
  once). Pressing Enter on the same text does the same.
* A run that ended failed, expired or incomplete (or whose turn broke off with an error)
  is explained in the conversation; **F9** (or alt+r) then runs the assistant again on the thread as
  it is, without repeating the message.
* "This thread already has an active run": when the user's message reached the thread
  anyway (the run-creating request went through although its answer was lost), the app
  follows that run. Otherwise ``ActiveRunDialog`` asks whether to follow the other run
  and then send, to cancel it and send, or to keep the message unsent.
* What is in the composer is saved (a second after typing stops) and put back at the
  next start, so a crash or a quit loses nothing typed.
* The session's recovery notes (a stream cut and reattached, a submission sent again)
  go to the activity log, and a store file that had to be moved aside is announced once.

| Key | Action |
| --- | --- |
| F9, alt+r | send the unsent message again, or retry the failed run |
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Label, TextArea

from tui_assistant.errors import ActiveRunError, AppError
from tui_assistant.events import TERMINAL_STATUSES, RunCompleted, RunEvent, RunFailed
from tui_assistant.text import clean_text

if TYPE_CHECKING:
    from tui_assistant.backend import Connection
    from tui_assistant.engines.base import AssistantInfo
    from tui_assistant.store import SavedThread
    from tui_assistant.ui.app import TuiAssistantApp
    from tui_assistant.ui.screens.main import LiveRun
    from tui_assistant.ui.widgets.composer import Composer
    from tui_assistant.ui.widgets.conversation import Conversation
    from tui_assistant.ui.widgets.message_view import MessageView
    from tui_assistant.ui.widgets.status_header import StatusHeader
    from tui_assistant.ui.widgets.tool_activity import ToolActivity

RETRY_KEY = "F9"
CANCEL_WAIT = 15.0
"""Seconds to wait for another run to stop after cancelling it, before giving up."""
DRAFT_DELAY = 1.0
"""Seconds after the last keystroke before the composer's text is saved."""


class ActiveRunDialog(ModalScreen[str]):
    """The thread is busy with a run the user did not start from here.

    Returns ``"follow"`` (show that run, then send), ``"cancel"`` (cancel it, then send)
    or ``"keep"`` (leave the message unsent).

    | Key | Action |
    | --- | --- |
    | f | follow the other run, then send |
    | c | cancel the other run, then send |
    | escape | keep the message unsent |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f", "choose('follow')", "Follow", id="activerun.follow",
                tooltip="Show the other run's reply, then send yours"),
        Binding("c", "choose('cancel')", "Cancel it", id="activerun.cancel",
                tooltip="Cancel the other run, then send yours"),
        Binding("escape", "choose('keep')", "Keep unsent", id="activerun.keep",
                tooltip="Send nothing now; your message stays unsent"),
    ]

    def __init__(self, run_id: str, status: str = "", *, retry: bool = False) -> None:
        super().__init__(classes="dialog-screen")
        self.run_id = run_id
        self.status = status
        self.retry = retry

    def compose(self) -> ComposeResult:
        what = "the retry" if self.retry else "your message"
        state = f" ({self.status.replace('_', ' ')})" if self.status else ""
        with Vertical(id="dialog"):
            yield Label(Text("This thread already has an active run"), id="title")
            yield Label(
                Text(
                    f"Run {clean_text(self.run_id)}{state} was started elsewhere (another "
                    f"window, program or device). Follow it and send {what} when it ends, "
                    f"cancel it and send {what} now, or keep {what} for later."
                ),
                id="detail",
            )
            with Horizontal(id="buttons"):
                yield Button("Follow, then send  f", id="follow", variant="primary")
                yield Button("Cancel it and send  c", id="cancel", variant="warning")
                yield Button("Keep unsent  esc", id="keep")

    def on_mount(self) -> None:
        self.query_one("#follow", Button).focus()

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id or "keep")

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)


class RunRecovery(Screen[None]):
    """The main screen's recovery actions (see the module docstring)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f9,alt+r", "retry", "Retry", id="run.retry",
                tooltip="Send the unsent message again, or retry the run that failed"),
    ]

    if TYPE_CHECKING:
        connection: Connection | None
        current: SavedThread | None
        assistant: AssistantInfo | None
        live: dict[str, LiveRun]

        @property
        def tui(self) -> TuiAssistantApp: ...

        @property
        def conversation(self) -> Conversation: ...

        @property
        def composer(self) -> Composer: ...

        @property
        def header(self) -> StatusHeader: ...

        @property
        def activity(self) -> ToolActivity: ...

        def send(self, text: str) -> object: ...

        def rerun_thread(self, thread: SavedThread) -> object: ...

        async def follow_run(self, thread: SavedThread, run_id: str) -> None: ...

        def _showing(self, thread_id: str) -> bool: ...

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._unsent: dict[str, tuple[MessageView | None, str]] = {}
        """Context (thread id, or "" for a new thread) -> (marked view, text)."""
        self._retryable: dict[str, str] = {}
        """Thread id -> how its last run ended, when F9 may run it again."""
        self._draft_timer = None
        self._draft_text = ""
        self._draft_saved: str | None = None
        """The draft as last read or written (nothing is written when it is unchanged)."""
        self._known_runs: set[str] = set()

    def known_runs(self, thread_id: str) -> set[str]:
        """The runs this app has seen (shared by its sessions, seeded from the store):
        a run-creating request that fails is never matched to one of them."""
        try:
            self._known_runs.update(
                r.run_id for r in self.tui.store.list_runs(self.tui.profile.endpoint_key,
                                                           thread_id)
            )
        except (AppError, AttributeError):
            pass
        return self._known_runs

    # -- the composer's text survives a quit or a crash ------------------------------------

    @property
    def _draft_key(self) -> str:
        return f"draft:{self.tui.profile.endpoint_key}"

    def restore_draft(self) -> None:
        """Put back what was in the composer when the app last stopped."""
        try:
            draft = self.tui.store.get_state(self._draft_key)
        except AppError:
            return
        self._draft_saved = draft
        if draft and not self.composer.text.strip():
            self.composer.restore(draft)
            self.activity.add("info", "restored the unsent text of the last session")

    @on(TextArea.Changed, "#composer")
    def _composer_changed(self, event: TextArea.Changed) -> None:
        self._draft_text = event.text_area.text
        if self._draft_timer is not None:
            self._draft_timer.stop()
        self._draft_timer = self.set_timer(DRAFT_DELAY, self.save_draft)

    def on_unmount(self) -> None:
        if self._draft_timer is not None:  # typed less than a second before quitting
            self._draft_timer.stop()
            if self._draft_value() != self._draft_saved:
                self._write_draft(self._draft_value())

    def _draft_value(self) -> str | None:
        return self._draft_text if self._draft_text.strip() else None

    async def save_draft(self) -> None:
        """Write the composer's text, off the event loop (a write waits for the disk)."""
        self._draft_timer = None
        value = self._draft_value()
        if value != self._draft_saved:
            self._draft_saved = value
            await asyncio.to_thread(self._write_draft, value)

    def _write_draft(self, value: str | None) -> None:
        try:
            self.tui.store.set_state(self._draft_key, value)
        except AppError:
            pass  # the store reports its own trouble; a draft is best effort

    # -- the context F9 works on ---------------------------------------------------------

    def _retry_context(self) -> str:
        return self.current.thread_id if self.current is not None else ""

    def can_retry(self) -> bool:
        context = self._retry_context()
        if context and context in self.live:
            return False
        return context in self._unsent or context in self._retryable

    def action_retry(self) -> None:
        context = self._retry_context()
        if context and context in self.live:
            self.notify("A reply is still being written in this thread.", severity="warning")
            return
        if context in self._unsent:
            view, text = self._unsent.pop(context)
            if view is not None and view.is_mounted:
                view.remove()
            if self.composer.text.strip() == text.strip():
                self.composer.clear()
            self.activity.add("info", "sending the message again")
            self.send(text)
        elif context in self._retryable and self.current is not None:
            del self._retryable[context]
            self.activity.add("info", "running the assistant again on this thread")
            self.rerun_thread(self.current)
        self.refresh_bindings()

    # -- unsent messages -------------------------------------------------------------------

    def remember_unsent(self, view: MessageView, text: str, thread_id: str | None) -> None:
        """``view`` holds a message that was not sent; F9 (or Enter) sends it again."""
        context = thread_id or self._retry_context()
        old = self._unsent.get(context)
        if old is not None and old[0] is not view and old[0] is not None and old[0].is_mounted:
            old[0].remove()  # one marked copy per context: the newest attempt
        self._unsent[context] = (view, text)
        view.set_note(
            f"not sent — your text is back in the composer; {RETRY_KEY} or Enter sends it again",
            failed=True,
        )
        self.refresh_bindings()

    def resending(self, text: str) -> None:
        """The user sends ``text`` again: drop the marked copy of it, so it shows once."""
        context = self._retry_context()
        unsent = self._unsent.get(context)
        if unsent is not None and unsent[1].strip() == text.strip():
            del self._unsent[context]
            if unsent[0] is not None and unsent[0].is_mounted:
                unsent[0].remove()
            self.refresh_bindings()

    # -- runs that ended badly -------------------------------------------------------------

    def turn_started(self, thread_id: str) -> None:
        if self._retryable.pop(thread_id, None) is not None:
            self.refresh_bindings()

    async def note_run_event(self, live: LiveRun, event: RunEvent) -> None:
        """After the screen showed ``event``: offer F9 when the run ended badly."""
        if isinstance(event, RunFailed) or (
            isinstance(event, RunCompleted) and event.status == "incomplete"
        ):
            await self.offer_retry(live.thread_id, event.status)
        elif isinstance(event, RunCompleted):
            self.turn_started(live.thread_id)

    async def offer_retry(self, thread_id: str, how: str) -> None:
        self._retryable[thread_id] = how
        self.refresh_bindings()
        if self._showing(thread_id):
            await self.conversation.add_notice(
                f"{RETRY_KEY} runs the assistant again on this thread (your message is "
                "not repeated).",
                "info",
            )

    # -- the endpoint's side of things ----------------------------------------------------

    def recovery_note(self, thread_id: str, text: str) -> None:
        """A session recovered from a fault (``Session.on_recovery``)."""
        self.activity.add("warn", text)
        if self._showing(thread_id):
            self.header.status = "reconnecting"

    async def show_store_notice(self) -> None:
        """Say once that a damaged store file was moved aside (``Store.notice``)."""
        store = self.tui.store
        self.restore_draft()
        notice, store.notice = getattr(store, "notice", None), None
        if not notice:
            return
        self.activity.add("error", notice)
        await self.conversation.add_notice(notice, "error")
        self.notify(notice, title="Thread store replaced", severity="warning", timeout=30)

    # -- a thread with an active run -------------------------------------------------------

    async def resolve_active_run(
        self,
        thread: SavedThread,
        error: ActiveRunError,
        text: str,
        view: MessageView | None,
    ) -> None:
        """Sending ``text`` (or retrying, when ``view`` is None) met another active run."""
        assert self.connection is not None
        engine = self.connection.engine
        thread_id = thread.thread_id
        run_id, status = error.run_id, ""
        try:
            latest = await engine.latest_run(thread_id)
        except AppError:
            latest = None
        if latest is not None and (not run_id or latest.id == run_id):
            run_id, status = latest.id, latest.status
        if view is not None and run_id and await self._arrived(thread_id, text, latest):
            view.set_note("")
            self.activity.add(
                "warn",
                f"your message reached the thread although sending it failed; run {run_id} "
                "is answering it: following that run",
            )
            await self.follow_run(thread, run_id)
            return
        if not run_id or status in TERMINAL_STATUSES:
            reason = error.message
            if status:
                reason = f"The thread was busy; run {run_id} has {status} since."
            self._give_up(thread, view, text, reason)
            return
        choice = await self.app.push_screen_wait(
            ActiveRunDialog(run_id, status, retry=view is None)
        )
        if choice == "keep":
            self._give_up(thread, view, text, error.message)
            return
        if choice == "cancel":
            self.activity.add("warn", f"cancelling run {run_id}…")
            if not await self._cancel_and_wait(thread_id, run_id):
                self._give_up(thread, view, text, "The other run could not be cancelled.")
                return
        else:
            self.activity.add("info", f"following run {run_id}")
            await self.follow_run(thread, run_id)
        if self.current is None or self.current.thread_id != thread_id:
            self._give_up(thread, view, text, "You left the thread before it was sent.")
            return
        if view is None:
            self.rerun_thread(thread)
        else:
            if view.is_mounted:
                await view.remove()
            self.send(text)

    def _give_up(
        self, thread: SavedThread, view: MessageView | None, text: str, reason: str
    ) -> None:
        self.activity.add("error", f"not sent: {reason}")
        if view is None:
            self._retryable[thread.thread_id] = "busy"
            self.refresh_bindings()
            self.notify(reason, title="Not retried", severity="warning")
            return
        self.composer.restore(text)
        self.remember_unsent(view, text, thread.thread_id)
        self.header.status = "error"
        self.notify(reason, title="Message not sent", severity="error")

    async def _arrived(self, thread_id: str, text: str, run) -> bool:
        """Whether the thread's newest user message is ``text``, added for ``run``."""
        assert self.connection is not None
        try:
            page = await self.connection.engine.list_messages(thread_id, limit=5)
        except AppError:
            return False
        users = [m for m in page.messages if m.role == "user"]
        if not users or users[-1].text.strip() != text.strip():
            return False
        created = getattr(run, "created_at", 0.0) or 0.0
        return users[-1].created_at >= created - 5

    async def _cancel_and_wait(self, thread_id: str, run_id: str) -> bool:
        assert self.connection is not None
        engine = self.connection.engine
        try:
            await engine.cancel_run(thread_id, run_id)
        except AppError as error:
            self.activity.add("error", f"could not cancel run {run_id}: {error.message}")
            return False
        deadline = time.monotonic() + CANCEL_WAIT
        delay = 0.2
        while time.monotonic() < deadline:
            try:
                info = await engine.retrieve_run(thread_id, run_id)
            except AppError:
                info = None
            if info is not None and info.status in TERMINAL_STATUSES:
                self.activity.add("info", f"run {run_id} {info.status}")
                return True
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 2.0)
        return False
