"""The files attached to the next message, shown above the composer (hidden when none)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import Static

from tui_assistant.text import clean_text

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

    def show_attachments(self, labels: Sequence[str]) -> None:
        self.labels = list(labels)
        self.set_class(bool(self.labels), "-shown")
        line = Text("📎 ", style="bold")
        line.append(" · ".join(clean_text(label) for label in self.labels))
        if self.labels:
            line.append("   (ctrl+o adds another; the palette clears them)", style="dim")
        self.update(line)
