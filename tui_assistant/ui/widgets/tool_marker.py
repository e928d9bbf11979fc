"""A one-line marker in the conversation where a tool call happened.

Selecting a call in the tool-activity pane scrolls the conversation to its marker;
clicking a marker selects its call in the pane.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.message import Message
from textual.widgets import Static

from tui_assistant.text import clean_text

__all__ = ["ToolMarker"]


class ToolMarker(Static):
    """``⚙ code_interpreter · completed · 0.4 s``"""

    DEFAULT_CSS = """
    ToolMarker {
        width: 1fr;
        height: 1;
        padding: 0 1;
        margin: 0 0 1 0;
        color: $text-muted;
        border-left: outer $foreground 20%;
    }
    ToolMarker.-highlight {
        color: $text;
        background: $accent 15%;
        border-left: outer $accent;
    }
    """

    @dataclass
    class Clicked(Message):
        """The user clicked a marker."""

        marker: ToolMarker

        @property
        def control(self) -> ToolMarker:
            return self.marker

    def __init__(self, call_id: str, summary: str) -> None:
        super().__init__(classes="tool-marker")
        self.call_id = call_id
        self.summary = ""
        self.set_summary(summary)

    def set_summary(self, summary: str) -> None:
        if summary == self.summary:
            return
        self.summary = summary
        line = Text("⚙ ", style="cyan")
        line.append(clean_text(summary).replace("\n", " "))
        self.update(line)

    def on_click(self) -> None:
        self.post_message(self.Clicked(self))
