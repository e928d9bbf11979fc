"""The conversation pane: the conversation, and the composer with what goes with the next
message (attachments, extra instructions).

The pane owns what happens in it, through the workspace it is given:

* **Showing a thread**: the cached copy at once, the endpoint's history
  (``load_history``), older pages as the user scrolls up (``Conversation.OlderRequested``,
  ``load_older``), with a reply still streaming in the thread kept after them; a search
  hit reached through older pages (``go_to_message``).
* **The conversation's side of a run** (``apply``): a reply starts, a reply is complete
  (with its footnotes, from the workspace), the run ended early (cancelled, incomplete);
  a failed run's notice (``show_error``), what F9 would do (``offer_retry``), and the
  ids the user's messages get once the run is over (``sync_after_run``).
* **Sending**: Enter in the composer (``SendRequested`` is posted unless the thread is
  busy), what a message takes along (``outgoing``: the attachments, the extra
  instructions, the user's message shown), the message moved to the end when it goes
  again (``send_again``) and a message that was not sent (``not_sent``; ``drop_unsent``
  and ``take_unsent`` when it is sent again).
* **Its keys' actions**: attach a file, clear the attachments, open or close the extra
  instructions, copy the last reply. Attach (ctrl+o) and extra instructions (ctrl+r)
  work wherever the focus is, so their bindings are the screen's
  (``ui/screens/main_keys.py``) and its actions call these; the palette offers all four.
* The composer's page-scroll requests, the closed extra instructions, the last
  session's draft and the notice of a replaced store.

Images a message refers to are previewed through the ``SavedImages`` the pane is given
(the tool pane is given the same one, so each image is saved once and both panes hear
when it is ready). The pane never touches its siblings: it posts
``ConversationPane.HistoryLoaded`` when a thread's history from the endpoint is shown,
and the screen has the tool pane read the thread's tool calls. What a run does to the
header and the tool pane is the screen's too (``MainScreen.on_run_event``).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import getters, on, work
from textual.app import ComposeResult
from textual.containers import Vertical

from tui_assistant.engines.base import ThreadMessage
from tui_assistant.errors import AppError, NotFoundError
from tui_assistant.events import MessageCompleted, MessageStarted, RunCompleted, RunEvent
from tui_assistant.store import CachedMessage, SavedThread
from tui_assistant.ui.keys import key_label
from tui_assistant.ui.widgets.attachment_bar import AttachmentBar
from tui_assistant.ui.widgets.composer import Composer
from tui_assistant.ui.widgets.conversation import Conversation
from tui_assistant.ui.widgets.extra_instructions import ExtraInstructions
from tui_assistant.ui.widgets.message_view import MessageView
from tui_assistant.ui.widgets.pane_message import PaneMessage
from tui_assistant.ui.widgets.reading_conversation import ReadingConversation
from tui_assistant.workspace import Workspace, from_cache

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tui_assistant.ui.screens.files import PendingAttachment
    from tui_assistant.ui.widgets.image_preview import SavedImages

__all__ = ["NEW_THREAD_HINT", "ConversationPane", "Outgoing"]

SEARCH_PAGES = 20
"""How many older history pages a search hit may load to reach its message."""
NEW_THREAD_HINT = (
    "New conversation. Type a message below and press Enter; the reply streams in here, "
    "and the thread is saved so you can come back to it."
)


@dataclass
class Outgoing:
    """A message being sent: its view in the conversation and what it takes along."""

    text: str
    view: MessageView
    attachments: list[PendingAttachment]
    extra: str | None
    """Extra instructions for this run only."""


class ConversationPane(Vertical):
    """See the module docstring."""

    conversation = getters.query_one(ReadingConversation)
    attachments = getters.query_one(AttachmentBar)
    extra_instructions = getters.query_one(ExtraInstructions)
    composer = getters.query_one(Composer)

    @dataclass
    class HistoryLoaded(PaneMessage):
        """The history of ``thread_id`` read from the endpoint is shown, with its images
        (``messages``: the newest page); its tool calls are for the tool pane to read."""

        thread_id: str
        messages: list[ThreadMessage]

    @dataclass
    class SendRequested(PaneMessage):
        """The user sent ``text`` from the composer (the thread is free; the composer is
        empty again and a marked unsent copy of the same words is gone)."""

        text: str

    def __init__(self, workspace: Workspace, images: SavedImages, *, id: str | None = None
                 ) -> None:
        super().__init__(id=id, classes="pane")
        self.workspace = workspace
        self.images = images

    def compose(self) -> ComposeResult:
        yield ReadingConversation(id="conversation")
        yield AttachmentBar(id="attachments")
        yield ExtraInstructions(id="extra-instructions")
        yield Composer(id="composer")

    def key(self, binding_id: str) -> str:
        return key_label(self.app, binding_id)

    # -- showing a thread -----------------------------------------------------------------

    async def show_restored(self, cached: list[CachedMessage]) -> None:
        """The thread open at start-up, from the cache (before the endpoint answers)."""
        await self.conversation.show_history(
            from_cache(cached), has_more=False,
            empty_hint="" if self.workspace.current else NEW_THREAD_HINT,
        )

    async def show_new_thread(self) -> None:
        await self.conversation.show_history([], has_more=False, empty_hint=NEW_THREAD_HINT)

    async def show_messages(self, thread: SavedThread, messages: list[ThreadMessage],
                            has_more: bool) -> None:
        """Show ``thread``'s ``messages``; a reply still streaming in it comes after them,
        with what it has written so far."""
        live = self.workspace.live.get(thread.thread_id)
        if live and live.message_id:
            messages = [m for m in messages if m.id != live.message_id]
        await self.conversation.show_history(
            messages, has_more=has_more, empty_hint="" if live else NEW_THREAD_HINT
        )
        if live and live.message_id:
            await self.conversation.start_reply(live.message_id, time.time(), live.text)

    @work(exclusive=True, group="history", exit_on_error=False, description="Loading history")
    async def load_history(self, thread: SavedThread) -> None:
        """``thread``'s newest page from the endpoint, in place of the cached copy."""
        try:
            page = await self.workspace.history(thread.thread_id)
            messages = await self.workspace.with_footnotes(page.messages)
        except NotFoundError:
            await self.conversation.add_notice(
                "This thread no longer exists on the endpoint; the copy shown is from the "
                "local cache.", "error",
            )
            return
        except AppError as error:
            await self.conversation.add_notice(f"{error.title}: {error.message}", "error")
            return
        if not self.workspace.is_showing(thread.thread_id):
            return
        await self.show_messages(thread, messages, page.has_more)
        for message in messages:
            if message.images:
                await self.show_images(message.id, message.images)
        self.post_message(self.HistoryLoaded(self, thread.thread_id, messages))

    @on(Conversation.OlderRequested)
    def older_requested(self, event: Conversation.OlderRequested) -> None:
        current = self.workspace.current
        if current is not None and self.workspace.engine is not None:
            self.load_older(current, event.before_id)

    @work(exclusive=True, group="older", exit_on_error=False, description="Loading older")
    async def load_older(self, thread: SavedThread, before_id: str) -> None:
        try:
            page = await self.workspace.history(thread.thread_id, before_id)
            messages = await self.workspace.with_footnotes(page.messages)
        except AppError as error:
            self.conversation.loading_older = False
            self.notify(error.message, title=error.title, severity="error")
            return
        if self.workspace.is_showing(thread.thread_id):
            await self.conversation.prepend_history(messages, has_more=page.has_more)

    async def _settle(self, group: str) -> None:
        """Wait for this pane's workers of ``group`` to finish (whatever their outcome)."""
        for worker in list(self.app.workers):
            if worker.node is self and worker.group == group and not worker.is_finished:
                try:
                    await worker.wait()
                except Exception:
                    pass

    async def go_to_message(self, message_id: str) -> bool:
        """Scroll the thread just opened to one of its messages and select it, loading
        its history and older pages (at most ``SEARCH_PAGES``) until it is there."""
        await asyncio.sleep(0)
        await self._settle("history")
        conversation = self.conversation
        pages = 0
        while not conversation.holds(message_id) and conversation.has_more \
                and pages < SEARCH_PAGES:
            pages += 1
            conversation.request_older()
            await asyncio.sleep(0)
            await self._settle("older")
            if not conversation.loading_older and not conversation.has_more:
                break
        view = await conversation.reveal(message_id)
        if view is None:
            self.notify("The message is no longer in this thread's history.",
                        severity="warning")
            return False
        conversation.focus()
        conversation.select(view, top=True)
        conversation.call_after_refresh(
            conversation.scroll_to_widget, view, animate=False, top=True
        )
        return True

    @on(Composer.ScrollRequested)
    def composer_scroll(self, event: Composer.ScrollRequested) -> None:
        self.conversation.scroll_by_request(event.where)

    # -- a run --------------------------------------------------------------------------

    async def apply(self, event: RunEvent) -> None:
        """The conversation's side of one event of the open thread's run (a ``TextDelta``
        goes straight to ``conversation.feed``: it is the hot path)."""
        conversation = self.conversation
        match event:
            case MessageStarted(message_id=message_id):
                await conversation.start_reply(message_id, time.time())
            case MessageCompleted(message_id=message_id, status=status):
                text = await self.workspace.footnoted(event.text, event.annotations,
                                                      event.images)
                conversation.complete_reply(
                    message_id, text, "" if status == "completed" else status
                )
                if event.images:
                    await self.show_images(message_id, event.images)
            case RunCompleted(status=status, reason=reason) if status != "completed":
                conversation.end_streaming(status)
                if status == "cancelled":
                    await conversation.add_notice(
                        "Run cancelled. What was written before the cancel is kept; "
                        f"{self.key('run.retry')} writes the reply again.", "info"
                    )
                elif status == "incomplete":
                    await conversation.add_notice(
                        f"The reply stopped early ({reason or 'incomplete'}).", "error"
                    )

    async def show_images(self, message_id: str, file_ids: Sequence[str]) -> None:
        """Previews of the images a message refers to, saved once each (``SavedImages``)."""
        await self.conversation.show_images(message_id, file_ids, self.images.paths)
        self.images.fetch(file_ids)

    async def show_error(self, text: str, status: str) -> None:
        """The run failed, or following it did: the reply ends (noted with ``status``)."""
        self.conversation.end_streaming(status)
        await self.conversation.add_notice(text, "error")

    async def offer_retry(self) -> None:
        await self.conversation.add_notice(
            f"{self.key('run.retry')} runs the assistant again on this thread (your "
            "message is not repeated).", "info",
        )

    async def sync_after_run(self, thread_id: str) -> None:
        """Give the messages shown without an id (the user's) their real ids."""
        messages = await self.workspace.sync_after_run(thread_id)
        if messages and self.workspace.is_showing(thread_id):
            self.conversation.take_ids(messages)

    @on(Composer.Submitted)
    def composer_submitted(self, event: Composer.Submitted) -> None:
        event.stop()
        if self.workspace.is_busy():
            self.notify("This thread has a run in progress: wait for it, or press "
                        f"{self.key('run.cancel')} to cancel it.", severity="warning")
            return
        if self.drop_unsent(event.text):
            self.refresh_bindings()
        self.composer.clear()
        self.post_message(self.SendRequested(self, event.text))

    # -- sending --------------------------------------------------------------------------

    async def outgoing(self, text: str) -> Outgoing:
        """Show the user's message ``text`` and take what goes with it (the attachment
        bar and the extra instructions are empty after)."""
        attachments = self.attachments.take()
        extra = self.extra_instructions.take()
        view = await self.conversation.add_user_message(text, time.time())
        return Outgoing(text, view, attachments, extra)

    async def send_again(self, outgoing: Outgoing) -> None:
        """The message goes again, after another run on its thread: it moves to the end."""
        note = outgoing.view.note
        if outgoing.view.is_mounted:
            await outgoing.view.remove()
        outgoing.view = await self.conversation.add_user_message(outgoing.text, time.time())
        outgoing.view.set_note(note)

    def not_sent(self, view: MessageView, text: str, thread_id: str | None = None) -> None:
        """``view`` holds a message that was not sent; its text goes back to the composer
        and F9 (or Enter) sends it again."""
        self.composer.restore(text)
        context = self.workspace.mark_unsent(text, thread_id)
        self.conversation.mark_unsent(context, view, "not sent — your text is back in the "
                                      f"composer; {self.key('run.retry')} or Enter sends it again")

    def drop_unsent(self, text: str) -> bool:
        """The user sends ``text`` again: drop its marked copy, so it shows once (True if
        there was one)."""
        if self.workspace.take_unsent(text) is None:
            return False
        self.conversation.drop_unsent(self.workspace.context())
        return True

    def take_unsent(self) -> str | None:
        """The unsent message of the open thread, to send again (F9): its marked copy
        goes, and so does its text in the composer."""
        context = self.workspace.context()
        text = self.workspace.take_unsent()
        if text is not None:
            self.conversation.drop_unsent(context)
            if self.composer.text.strip() == text.strip():
                self.composer.clear()
        return text

    # -- the pane's keys (bound on the screen: they work from every pane) -----------------

    @work(exclusive=True, group="files", exit_on_error=False, description="Attach a file")
    async def action_attach_file(self) -> None:
        from tui_assistant.ui.screens.files import AttachFileScreen

        picked = await self.app.push_screen_wait(AttachFileScreen())
        if picked is not None:
            self.attachments.add(picked)
        self.composer.focus()

    def action_clear_attachments(self) -> None:
        self.attachments.clear()

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

    def action_copy_last_reply(self) -> None:
        self.conversation.copy_last_reply()

    # -- start-up -----------------------------------------------------------------------

    def restore_draft(self) -> bool:
        """Put the last session's unsent text back in the composer (True if there was
        some); it is saved again as the user types."""
        return self.composer.keep_draft(self.workspace.load_draft, self.workspace.save_draft)

    async def show_store_notice(self) -> str | None:
        """Say once that a damaged store was replaced; returns the notice, if any."""
        store = self.workspace.store
        notice, store.notice = getattr(store, "notice", None), None
        if notice:
            await self.conversation.add_notice(notice, "error")
            self.notify(notice, title="Thread store replaced", severity="warning", timeout=30)
        return notice
