"""The files attached to the next message, shown above the composer (hidden when none).

The bar holds the attachments themselves: ``add``, ``take`` (they go with a message),
``restore`` (the message was not sent) and ``clear``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import Static

from tui_assistant.text import clean_text
from tui_assistant.ui.keys import key_label

if TYPE_CHECKING:
    from tui_assistant.ui.screens.files import PendingAttachment

__all__ = ["AttachmentBar"]


class AttachmentBar(Static):
    """``📎 sales.csv (code_interpreter) · notes.md (file_search)``"""

    DEFAULT_CSS = """
    AttachmentBar {
        width: 1fr;
        height: auto;
        padding: 0 1;
        color: $text-muted;
        display: none;
    }
    AttachmentBar.-shown {
        display: block;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.labels: list[str] = []
        self.pending: list[PendingAttachment] = []

    def add(self, attachment: PendingAttachment) -> None:
        self.pending.append(attachment)
        self._show()

    def take(self) -> list[PendingAttachment]:
        """The attachments for the message being sent (the bar is empty after)."""
        taken, self.pending = self.pending, []
        self._show()
        return taken

    def restore(self, attachments: Sequence[PendingAttachment]) -> None:
        """Put back attachments of a message that was not sent."""
        self.pending = list(attachments) + self.pending
        self._show()

    def clear(self) -> None:
        self.pending.clear()
        self._show()

    def _show(self) -> None:
        self.labels = [p.label for p in self.pending]
        self.set_class(bool(self.labels), "-shown")
        line = Text("📎 ", style="bold")
        line.append(" · ".join(clean_text(label) for label in self.labels))
        if self.labels:
            more = key_label(self.app, "files.attach", "^o")
            line.append(f"   ({more} adds another; the palette clears them)", style="dim")
        self.update(line)
