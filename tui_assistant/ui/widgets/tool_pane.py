"""The tool pane: a title and the tool activity (run lines, one entry per tool call).

The pane owns what concerns the tool calls of the open thread, through the workspace it
is given:

* **A run's events** (``apply``, called by ``MainScreen.on_run_event``): the calls they
  start or change, each named with the MCP server it runs on, and their images fetched.
  The screen marks the calls it gets back in the conversation, before the reply they
  lead to.
* **Tool history**: the calls of a thread opened from history, read from its run steps
  (``load_history``, a worker) and added to the activity collapsed. Where each goes in
  the conversation is the conversation's: the pane posts ``ToolPane.HistoryRestored``
  with the calls and the replies they led to, and the screen places their markers.
* **The human in the loop**: the pane is the workspace's ``ask_human`` (a function call
  that needs approval or an output typed by hand opens ``ask_about_call`` of
  ``ui/screens/tool_call.py``, the call shown as waiting meanwhile) and its
  ``on_tool_result`` (an output submitted for a call shown here). It sets both when it
  is made, before the screen connects, so no run can reach a function call first.
  Each time a call changes that way it posts ``ToolPane.CallsChanged``, for the screen
  to update the call's marker in the conversation.

Images are fetched through the ``SavedImages`` the pane is given; the conversation pane
is given the same one, so each file is saved once and both panes hear when it is ready.
The activity's own keys (select, show in the conversation, expand, open an image) are
``ToolActivity``'s; ctrl+t, which focuses it from anywhere, is the screen's. The pane
never touches its siblings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import getters, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label

from tui_assistant.errors import AppError, NotSupportedError
from tui_assistant.tool_calls import ToolCallRecord
from tui_assistant.ui.widgets.pane_message import PaneMessage
from tui_assistant.ui.widgets.tool_activity import ToolActivity
from tui_assistant.workspace import HistoryCall, Workspace

if TYPE_CHECKING:
    from tui_assistant.events import RunEvent
    from tui_assistant.tools import CallResult, HumanAnswer, HumanRequest
    from tui_assistant.ui.widgets.image_preview import SavedImages

__all__ = ["ToolPane"]


class ToolPane(Vertical):
    """See the module docstring."""

    activity = getters.query_one(ToolActivity)

    @dataclass
    class HistoryRestored(PaneMessage):
        """The tool calls of ``thread_id``'s newest runs were read back and are shown in
        the pane (``calls``, oldest first: each record as the pane holds it, with the
        replies it led to and when it was made); their markers are for the screen to
        place in the conversation."""

        thread_id: str
        calls: list[HistoryCall]

    @dataclass
    class CallsChanged(PaneMessage):
        """Calls shown in the pane changed outside a run's events (waiting for the user,
        an output submitted)."""

        records: list[ToolCallRecord]

    def __init__(self, workspace: Workspace, images: SavedImages, *, id: str | None = None
                 ) -> None:
        super().__init__(id=id, classes="pane")
        self.workspace = workspace
        self.images = images
        workspace.ask_human = self._ask_human
        workspace.on_tool_result = self._tool_result

    def compose(self) -> ComposeResult:
        yield Label("Tool activity", classes="pane-title")
        yield ToolActivity(id="activity")

    def apply(self, event: RunEvent, run_id: str) -> list[ToolCallRecord]:
        """One event of the open thread's run: the calls it started or changed (each
        named with the MCP server it runs on, if any); their images are fetched."""
        changed, images = self.activity.apply(event, run_id)
        for record in changed:
            record.via = record.via or self.workspace.mcp.server_of(record.name)
        self.workspace.note_images(images)
        self.images.fetch(images)
        return changed

    # -- tool history --------------------------------------------------------------------

    @work(exclusive=True, group="tool-history", exit_on_error=False,
          description="Loading tool history")
    async def load_history(self, thread_id: str) -> None:
        """The calls of a thread opened from history, from its run steps."""
        try:
            calls = await self.workspace.tool_history(thread_id)
        except NotSupportedError:
            if self.workspace.is_showing(thread_id):
                self.activity.add("info", "this endpoint keeps no run steps: no tool history")
            return
        except AppError:
            return
        if not self.workspace.is_showing(thread_id):
            return
        activity = self.activity
        activity.restore(call.record for call in calls)
        shown = [
            HistoryCall(activity.record(call.record.call_id) or call.record, call.reply_ids,
                        call.created_at)
            for call in calls
        ]
        self.post_message(self.HistoryRestored(self, thread_id, shown))
        for call in shown:
            self.images.fetch(call.record.images)

    # -- the human in the loop and submitted outputs ---------------------------------------

    async def _ask_human(self, thread_id: str, request: HumanRequest) -> HumanAnswer:
        """A function call needs the user (approval, or an output typed by hand)."""
        shown = self.workspace.is_showing(thread_id)
        record = self.activity.record(request.call.call_id) if shown else None
        from tui_assistant.ui.screens.tool_call import ask_about_call

        return await ask_about_call(self.app, request, record, self._call_changed)

    def _tool_result(self, thread_id: str, result: CallResult) -> None:
        """A function output was submitted (run locally, approved, answered …)."""
        if not self.workspace.is_showing(thread_id):
            return
        record = self.activity.took_output(result)
        if record is not None:
            self.images.fetch(result.images)
            self.post_message(self.CallsChanged(self, [record]))

    def _call_changed(self, record: ToolCallRecord) -> None:
        self.activity.changed(record.call_id)
        self.post_message(self.CallsChanged(self, [record]))
