"""The tool-activity pane: a timed log of what runs and their tools are doing.

Every line is a Rich ``Text`` built from cleaned strings, so nothing from the endpoint is
read as markup or reaches the terminal as an escape sequence.
"""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import RichLog

from tui_assistant.ui.sanitize import clean_text

STYLES = {
    "run": "bold",
    "status": "",
    "tool": "bold cyan",
    "ok": "green",
    "warn": "yellow",
    "error": "bold red",
    "info": "dim",
}


class ActivityLog(RichLog):
    """Run lifecycle and tool calls, newest at the bottom, each with the time."""

    DEFAULT_CSS = """
    ActivityLog {
        height: 1fr;
        background: transparent;
        padding: 0 1;
        scrollbar-size-vertical: 1;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(
            id=id, wrap=True, markup=False, highlight=False, max_lines=2000, min_width=10
        )
        self.entries: list[str] = []
        """Plain text of every line written (for tests and export)."""

    def add(self, kind: str, text: str, *, when: float | None = None) -> None:
        stamp = time.strftime("%H:%M:%S", time.localtime(when or time.time()))
        line = Text(stamp + " ", style="dim")
        line.append(clean_text(text), style=STYLES.get(kind, ""))
        self.entries.append(line.plain)
        self.write(line)
