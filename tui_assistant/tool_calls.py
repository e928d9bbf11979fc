"""One record of a tool call, whether seen live or read back from a run's steps.

``ToolCallRecord`` is what the tool pane shows, what the conversation's one-line marker
summarises and what an export lists. It is built in one of two ways:

* live, from run events: ``ToolCallRecord.started(event, run_id)`` and then
  ``record.apply(event)`` for each ``ToolCallDelta``/``ToolCallCompleted``, plus
  ``record.apply_call(call)`` when a paused run names a function call's arguments;
* after the fact, from a run step: ``ToolCallRecord.from_step(call, step, run_status)``.

No UI here: the pane and the markers render a record, the export writes it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tui_assistant.events import (
    FileSearchResult,
    FunctionCall,
    ToolCallCompleted,
    ToolCallDelta,
    ToolCallStarted,
)

if TYPE_CHECKING:
    from tui_assistant.engines.base import RunStepInfo, ToolCallInfo

__all__ = ["FINISHED_RUN_STATUSES", "ToolCallRecord", "format_duration"]

ACTIVE = ("running", "waiting")
FINISHED_RUN_STATUSES = ("expired", "cancelled", "failed")
_STEP_STATUS = {"completed": "completed", "in_progress": "running"}
FAILED_OUTCOMES = frozenset({"error", "timeout", "unanswered"})
"""How a function's output came about when the function did not do its job (it raised,
ran past its limit, or nobody answered): the call shows as failed, whatever the run
reports for it."""


def format_duration(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min"


@dataclass
class ToolCallRecord:
    """Everything known about one tool call (see the module docstring)."""

    call_id: str
    kind: str
    name: str = ""
    input: str = ""
    """Code for ``code_interpreter``, the JSON arguments for ``function``."""
    output: str = ""
    """Logs for ``code_interpreter``, the endpoint's output for ``function``."""
    images: list[str] = field(default_factory=list)
    results: tuple[FileSearchResult, ...] = ()
    status: str = "running"
    """``running``, ``waiting`` (for the user), ``completed``, ``failed``, ``cancelled``..."""
    outcome: str = ""
    """How a function's output came about (``ok``, ``denied``, ``answered`` ...)."""
    submitted: str = ""
    """The output the client submitted for a function call."""
    started: float = field(default_factory=time.monotonic)
    duration: float | None = None
    """Seconds the call took, once it is over."""
    run_id: str = ""
    via: str = ""
    """The MCP server a function call went to (shown with the call)."""

    # -- built from events -------------------------------------------------------------

    @classmethod
    def started_by(cls, event: ToolCallStarted | ToolCallCompleted, run_id: str
                   ) -> ToolCallRecord:
        return cls(call_id=event.call_id, kind=event.kind, name=event.name, run_id=run_id)

    @classmethod
    def for_call(cls, call: FunctionCall, run_id: str) -> ToolCallRecord:
        record = cls(call_id=call.call_id, kind="function", name=call.name, run_id=run_id)
        record.apply_call(call)
        return record

    def apply(self, event: ToolCallDelta | ToolCallCompleted) -> list[str]:
        """Take in a piece or the end of the call; returns image file ids new to it."""
        new_images = [f for f in event.images if f not in self.images]
        self.images.extend(new_images)
        if isinstance(event, ToolCallDelta):
            self.input += event.input
            self.output += event.output
            return new_images
        self.name = self.name or event.name
        self.input = event.input or self.input
        self.output = event.output or self.output
        self.results = event.results or self.results
        self.status = "failed" if self.outcome in FAILED_OUTCOMES else (
            event.status or "completed"
        )
        self.duration = self.elapsed
        return new_images

    def apply_call(self, call: FunctionCall) -> None:
        """A paused run names the call's function and arguments."""
        self.name = self.name or call.name
        self.input = call.arguments or self.input

    def submitted_output(self, output: str, outcome: str, call: FunctionCall) -> None:
        """The client submitted ``output`` for this function call; ``outcome`` says how."""
        self.submitted = output
        self.outcome = outcome
        self.input = self.input or call.arguments
        self.name = self.name or call.name
        if outcome in FAILED_OUTCOMES and self.status in ACTIVE:
            self.status = "failed"
            self.duration = self.elapsed

    def run_ended(self, status: str) -> bool:
        """The run ended with ``status``: a call it never finished ends with it."""
        if self.status not in ACTIVE:
            return False
        self.status = "completed" if status == "completed" else (
            "failed" if status == "error" else status
        )
        self.duration = self.elapsed
        return True

    # -- built from a run step ---------------------------------------------------------

    @classmethod
    def from_step(cls, call: ToolCallInfo, step: RunStepInfo, run_status: str = ""
                  ) -> ToolCallRecord:
        duration = (step.ended_at - step.created_at) if step.ended_at else None
        record = cls(
            call_id=call.call_id,
            kind=call.kind,
            name=call.name,
            input=call.input,
            output=call.output,
            images=list(call.images),
            results=call.results,
            status=_STEP_STATUS.get(step.status, step.status),
            submitted=call.output if call.kind == "function" else "",
            duration=max(0.0, duration) if duration is not None else None,
            run_id=step.run_id,
        )
        if record.status == "running" and run_status in FINISHED_RUN_STATUSES:
            record.status = run_status
            record.duration = 0.0
        return record

    # -- for people ----------------------------------------------------------------------

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def title(self) -> str:
        if self.kind == "function":
            via = f" · MCP {self.via}" if self.via else ""
            return f"{self.name or 'function'}(){via}"
        return self.kind

    @property
    def elapsed(self) -> float:
        return self.duration if self.duration is not None else time.monotonic() - self.started

    def summary(self) -> str:
        """One line for the conversation marker."""
        if self.active:
            state = "waiting for you" if self.status == "waiting" else "running"
            return f"{self.title} · {state}"
        return f"{self.title} · {self.status} · {format_duration(self.elapsed)}"
