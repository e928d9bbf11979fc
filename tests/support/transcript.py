"""A run's events gathered into what a user would have seen (for tests)."""

from __future__ import annotations

from dataclasses import dataclass, field

from tui_assistant.events import (
    ActionRequired,
    MessageCompleted,
    RunCompleted,
    RunEvent,
    RunFailed,
    RunStarted,
    RunStatusChanged,
    TextDelta,
)


@dataclass(slots=True)
class RunTranscript:
    """What a run produced, accumulated from its events (used by tests and exports)."""

    run_id: str = ""
    status: str = ""
    messages: dict[str, str] = field(default_factory=dict)
    events: list[RunEvent] = field(default_factory=list)

    def add(self, event: RunEvent) -> None:
        self.events.append(event)
        match event:
            case RunStarted(run_id=run_id):
                self.run_id = run_id
                self.status = "queued"
            case RunStatusChanged(status=status):
                self.status = status
            case TextDelta(message_id=mid, text=text):
                self.messages[mid] = self.messages.get(mid, "") + text
            case MessageCompleted(message_id=mid, text=text):
                self.messages[mid] = text
            case ActionRequired():
                self.status = "requires_action"
            case RunCompleted(status=status) | RunFailed(status=status):
                self.status = status
