"""The tool-activity pane: run lifecycle lines and one entry per tool call.

Each tool call is a ``ToolEntry`` with a live status and duration in its header and, when
expanded, what the call did: code_interpreter's code (highlighted as it streams in), its
logs and images; file_search's files and scores; a function's arguments and the output
that was submitted for it (and how: run locally, approved, denied, typed by the user).

Keys, while the pane has focus:

| Key | Action |
| --- | --- |
| up / k, down / j | select the previous / next tool call |
| enter | show where the call happened in the conversation |
| space | expand or collapse the selected call |
| o | open the selected call's image (or file) with the desktop's viewer |

Everything from the endpoint goes through ``clean_text`` and Rich ``Text``/``Syntax``, so
nothing is read as markup or reaches the terminal as an escape sequence. Streamed pieces
are applied to the screen on a short timer, not one by one.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.console import Group, RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Static

from tui_assistant.events import (
    ActionRequired,
    RunCompleted,
    RunEvent,
    RunFailed,
    RunStarted,
    RunStatusChanged,
    ToolCallCompleted,
    ToolCallDelta,
    ToolCallStarted,
)
from tui_assistant.files import open_externally
from tui_assistant.text import clean_text, one_line, short_id
from tui_assistant.tool_calls import ToolCallRecord, format_duration
from tui_assistant.ui.widgets.image_preview import ImagePreview

if TYPE_CHECKING:
    from tui_assistant.tools import CallResult

__all__ = ["ActivityLine", "ToolActivity", "ToolEntry"]

STYLES = {
    "run": "bold",
    "status": "",
    "tool": "bold cyan",
    "ok": "green",
    "warn": "yellow",
    "error": "bold red",
    "info": "dim",
}

ICONS = {
    "running": ("◌", "yellow"),
    "waiting": ("⏸", "yellow"),
    "completed": ("✓", "green"),
    "failed": ("✗", "red"),
    "cancelled": ("⊘", "dim"),
    "expired": ("⌛", "red"),
}

KIND_LABELS = {"code_interpreter": "code", "file_search": "search", "function": "fn"}

REFRESH_INTERVAL = 0.1
"""Seconds between applying streamed pieces (and ticking durations)."""

OUTCOME_NOTES = {
    "ok": "ran locally",
    "error": "failed locally",
    "timeout": "timed out",
    "denied": "denied by you",
    "answered": "answered by you",
    "cancelled": "run cancelled",
    "unanswered": "not answered in time",
}


class ActivityLine(Static):
    """Timed lines of the run's lifecycle (started, status, completed ...).

    Consecutive lines share one widget (at most ``MAX_LINES``), so a long session adds
    few widgets to every layout pass."""

    MAX_LINES = 50

    DEFAULT_CSS = """
    ActivityLine {
        width: 1fr;
        height: auto;
    }
    """

    def __init__(self, line: Text) -> None:
        super().__init__()
        self.lines = [line]
        self.update(line)

    def add_line(self, line: Text) -> bool:
        """Append ``line``; ``False`` when this widget is full."""
        if len(self.lines) >= self.MAX_LINES:
            return False
        self.lines.append(line)
        self.update(Text("\n").join(self.lines))
        return True


class ToolEntry(Vertical):
    """One tool call: a header line, and a body that expands."""

    DEFAULT_CSS = """
    ToolEntry {
        height: auto;
        width: 1fr;
        margin: 1 0 0 0;
        border-left: outer $foreground 20%;
        padding: 0 0 0 1;
    }
    ToolEntry.-selected {
        border-left: outer $accent;
        background: $accent 10%;
    }
    ToolEntry > .entry-body {
        height: auto;
        width: 1fr;
    }
    ToolEntry.-collapsed > .entry-body {
        display: none;
    }
    ToolEntry .entry-section {
        width: 1fr;
        height: auto;
    }
    ToolEntry .entry-logs {
        color: $text-muted;
    }
    """

    def __init__(self, state: ToolCallRecord, *, collapsed: bool = False) -> None:
        super().__init__(classes="-collapsed" if collapsed else "")
        self.state = state
        self.dirty = True
        self._previews: dict[str, ImagePreview] = {}
        self._ready: dict[str, Path] = {}
        """Images that were ready before their preview was mounted."""

    @property
    def call_id(self) -> str:
        return self.state.call_id

    @property
    def collapsed(self) -> bool:
        return self.has_class("-collapsed")

    def compose(self) -> ComposeResult:
        yield Static(classes="entry-header")
        with Vertical(classes="entry-body"):
            yield Static(classes="entry-section entry-input")
            yield Static(classes="entry-section entry-logs")
            yield Vertical(classes="entry-section entry-images")

    def on_mount(self) -> None:
        self.render_state()

    def toggle(self, expanded: bool | None = None) -> None:
        expand = self.collapsed if expanded is None else expanded
        self.set_class(not expand, "-collapsed")

    # -- rendering ---------------------------------------------------------------------

    def _header(self) -> Text:
        state = self.state
        icon, style = ICONS.get(state.status, ("•", ""))
        line = Text(f"{icon} ", style=style)
        line.append(KIND_LABELS.get(state.kind, state.kind) + " ", style="dim")
        line.append(clean_text(state.title), style="bold")
        if state.status == "waiting":
            line.append("  waiting for you", style="yellow")
        else:
            line.append(f"  {format_duration(state.elapsed)}", style="dim")
            if state.status not in ("running", "completed"):
                line.append(f"  {state.status}", style=style)
        line.append("  ▸" if self.collapsed else "  ▾", style="dim")
        return line

    def _input(self) -> RenderableType:
        from rich.syntax import Syntax  # Pygments loads with the first call shown

        state = self.state
        if state.kind == "code_interpreter":
            if not state.input:
                return Text("(no code yet)", style="dim")
            return Syntax(
                clean_text(state.input),
                "python",
                theme="monokai" if self.app.current_theme.dark else "default",
                word_wrap=True,
                background_color="default",
            )
        if state.kind == "function":
            arguments = clean_text(state.input) or "{}"
            try:
                import json

                # Decoded escapes (\\u009b …) are cleaned again after formatting.
                arguments = clean_text(
                    json.dumps(json.loads(arguments), indent=2, ensure_ascii=False)
                )
                body: RenderableType = Syntax(
                    arguments, "json", word_wrap=True, background_color="default",
                    theme="monokai" if self.app.current_theme.dark else "default",
                )
            except ValueError:
                body = Text(arguments)
            return Group(Text("arguments", style="dim"), body)
        if state.results:
            lines = Text()
            for result in state.results:
                name = clean_text(result.file_name or result.file_id)
                lines.append(f"{name}", style="bold")
                if result.score is not None:
                    lines.append(f"  {result.score:.2f}", style="cyan")
                lines.append("\n")
            lines.rstrip()
            return Group(Text(f"{len(state.results)} result(s)", style="dim"), lines)
        return Text(clean_text(state.output) or "(no results reported)", style="dim")

    def _logs(self) -> RenderableType:
        state = self.state
        if state.kind == "code_interpreter":
            logs = clean_text(state.output).rstrip("\n")
            return Group(Text("logs", style="dim"), Text(logs)) if logs else Text("")
        if state.kind == "function":
            output = state.submitted or state.output
            if not output and state.status in ("running", "waiting"):
                return Text("output: (pending)", style="dim")
            note = OUTCOME_NOTES.get(state.outcome, "")
            if state.via and state.outcome in ("ok", "error"):
                note = note.replace("locally", f"on MCP server {state.via}")
            head = Text("output submitted", style="dim")
            if note:
                head.append(f" · {note}", style="italic dim")
            return Group(head, Text(clean_text(output)))
        return Text("")

    def render_state(self) -> None:
        """Redraw from ``state`` (called by the pane's timer when something changed)."""
        if not self.is_mounted:
            return
        self.query_one(".entry-header", Static).update(self._header())
        if self.dirty:
            self.query_one(".entry-input", Static).update(self._input())
            self.query_one(".entry-logs", Static).update(self._logs())
            images = self.query_one(".entry-images", Vertical)
            for file_id in self.state.images:
                if file_id not in self._previews:
                    preview = ImagePreview(file_id, self._ready.get(file_id))
                    self._previews[file_id] = preview
                    images.mount(preview)
            self.dirty = False

    def image_ready(self, file_id: str, path: Path) -> None:
        preview = self._previews.get(file_id)
        if preview is not None:
            preview.show(path)
        else:
            self._ready[file_id] = path

    def image_failed(self, file_id: str, reason: str) -> None:
        preview = self._previews.get(file_id)
        if preview is not None:
            preview.failed(reason)

    @property
    def image_paths(self) -> list[Path]:
        return [p.path for p in self._previews.values() if p.path is not None]

    def on_click(self) -> None:
        pane = self.parent
        while pane is not None and not isinstance(pane, ToolActivity):
            pane = pane.parent
        if isinstance(pane, ToolActivity):
            pane.select(self.call_id)
            pane.focus()


class ToolActivity(VerticalScroll, can_focus=True):
    """Run lifecycle lines and tool-call entries of the open thread (newest at the bottom)."""

    BINDING_GROUP_TITLE = "Tool activity"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "select_previous", "Previous call", show=False, id="tools.previous",
                tooltip="Select the previous tool call"),
        Binding("down,j", "select_next", "Next call", show=False, id="tools.next",
                tooltip="Select the next tool call"),
        Binding("enter", "show_selected", "Show in conversation", id="tools.show",
                tooltip="Scroll the conversation to where the selected call happened"),
        Binding("space", "toggle_selected", "Expand", id="tools.toggle",
                tooltip="Expand or collapse the selected tool call"),
        Binding("o", "open_selected", "Open image", id="tools.open",
                tooltip="Open the selected call's image with the desktop's viewer"),
    ]

    DEFAULT_CSS = """
    ToolActivity {
        height: 1fr;
        background: transparent;
        padding: 0 1;
        scrollbar-size-vertical: 1;
    }
    """

    @dataclass
    class Selected(Message):
        """The user asked to see where a tool call happened."""

        activity: ToolActivity
        call_id: str

        @property
        def control(self) -> ToolActivity:
            return self.activity

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.entries: list[str] = []
        """Plain text of every lifecycle line written (for tests and export)."""
        self.calls: dict[str, ToolEntry] = {}
        self.selected: str | None = None
        self._last_line: ActivityLine | None = None
        self._timer = None

    def on_mount(self) -> None:
        self.anchor()
        self._timer = self.set_interval(REFRESH_INTERVAL, self._tick, pause=True)

    # -- lifecycle lines (the old activity log's API) ----------------------------------

    def add(self, kind: str, text: str, *, when: float | None = None) -> None:
        stamp = time.strftime("%H:%M:%S", time.localtime(when or time.time()))
        line = Text(stamp + " ", style="dim")
        line.append(clean_text(text), style=STYLES.get(kind, ""))
        self.entries.append(line.plain)
        if self._last_line is not None and self._last_line.add_line(line):
            return
        self._last_line = ActivityLine(line)
        self.mount(self._last_line)

    def clear(self) -> None:
        """Forget everything (another thread was opened)."""
        self.calls.clear()
        self.selected = None
        self._last_line = None
        self.remove_children()

    # -- tool calls --------------------------------------------------------------------

    def entry(self, call_id: str) -> ToolEntry | None:
        return self.calls.get(call_id)

    def record(self, call_id: str) -> ToolCallRecord | None:
        entry = self.calls.get(call_id)
        return entry.state if entry is not None else None

    def start_call(self, state: ToolCallRecord, *, collapsed: bool = False) -> ToolEntry:
        """Add an entry for a call (or return the existing one)."""
        existing = self.calls.get(state.call_id)
        if existing is not None:
            return existing
        entry = ToolEntry(state, collapsed=collapsed)
        self.calls[state.call_id] = entry
        self._last_line = None  # lines after this entry go below it
        self.mount(entry)
        self._wake()
        return entry

    def changed(self, call_id: str) -> None:
        """The state of a call changed; it is redrawn on the next tick."""
        entry = self.calls.get(call_id)
        if entry is not None:
            entry.dirty = True
            self._wake()

    def log_event(self, event: RunEvent) -> None:
        """The lifecycle line of a run event that has one (a run of any thread)."""
        match event:
            case RunStarted(run_id=run_id, model=model):
                with_model = f" · {model}" if model else ""
                self.add("run", f"run {short_id(run_id)} started{with_model}")
            case RunStatusChanged(status=status):
                self.add("status", f"  {status.replace('_', ' ')}")
            case ToolCallStarted(kind=kind, name=name):
                self.add("tool", f"{kind} {name}".strip() + " started")
            case ToolCallCompleted(kind=kind, name=name, output=output):
                self.add("tool", f"{kind} {name}".strip() + f" → {one_line(output, 120)}")
            case ActionRequired(calls=calls):
                self.add("warn", f"  requires action: {', '.join(c.name for c in calls)}")

    def took_output(self, result: CallResult) -> ToolCallRecord | None:
        """A function output was submitted for a call shown here: its record, updated."""
        record = self.record(result.call.call_id)
        if record is not None:
            record.submitted_output(result.output, result.outcome, result.call)
            record.images.extend(i for i in result.images if i not in record.images)  # MCP
            self.changed(record.call_id)
        return record

    def apply(self, event: RunEvent, run_id: str) -> tuple[list[ToolCallRecord], list[str]]:
        """Take in one run event of the open thread's run ``run_id``.

        Returns the records it started or changed (for the conversation's markers) and
        image file ids that are new (to be fetched)."""
        changed: list[ToolCallRecord] = []
        images: list[str] = []
        match event:
            case ToolCallStarted():
                record = self.record(event.call_id)
                if record is None:
                    record = ToolCallRecord.started_by(event, run_id)
                    # A model's reasoning summary is there to open, not to read by default.
                    self.start_call(record, collapsed=record.kind == "reasoning")
                changed.append(record)
            case ToolCallDelta() | ToolCallCompleted():
                record = self.record(event.call_id)
                if record is None:
                    if isinstance(event, ToolCallDelta):
                        return changed, images
                    record = ToolCallRecord.started_by(event, run_id)
                    self.start_call(record)
                images = record.apply(event)
                if isinstance(event, ToolCallCompleted):
                    images = list(record.images)
                changed.append(record)
            case ActionRequired(calls=calls):
                for call in calls:
                    record = self.record(call.call_id)
                    if record is None:
                        record = ToolCallRecord.for_call(call, run_id)
                        self.start_call(record)
                    else:
                        record.apply_call(call)
                    changed.append(record)
            case RunCompleted(status=status) | RunFailed(status=status):
                for entry in list(self.calls.values()):
                    if entry.state.run_id == run_id and entry.state.run_ended(status):
                        changed.append(entry.state)
        for record in changed:
            self.changed(record.call_id)
        return changed, images

    def restore(self, records: Iterable[ToolCallRecord]) -> list[ToolCallRecord]:
        """Add calls read back from history (collapsed); returns those that were new."""
        added = []
        for record in records:
            if record.call_id in self.calls:
                continue
            self.start_call(record, collapsed=True)
            added.append(record)
        if added:
            self.add("info", f"{len(added)} earlier tool call(s) restored")
        return added

    def _wake(self) -> None:
        if self._timer is not None:
            self._timer.resume()

    def image_ready(self, file_id: str, path: Path) -> None:
        for entry in self.calls.values():
            if file_id in entry.state.images:
                entry.image_ready(file_id, path)

    def image_failed(self, file_id: str, reason: str) -> None:
        for entry in self.calls.values():
            if file_id in entry.state.images:
                entry.image_failed(file_id, reason)

    def _tick(self) -> None:
        busy = False
        for entry in self.calls.values():
            if entry.dirty or entry.state.status in ("running", "waiting"):
                entry.render_state()
                busy = busy or entry.dirty or entry.state.status in ("running", "waiting")
        if not busy and self._timer is not None:
            self._timer.pause()  # nothing is going on: no timer keeps the app awake

    # -- selection ---------------------------------------------------------------------

    @property
    def order(self) -> list[str]:
        return [child.call_id for child in self.children if isinstance(child, ToolEntry)]

    def select(self, call_id: str | None) -> None:
        for cid, entry in self.calls.items():
            entry.set_class(cid == call_id, "-selected")
        self.selected = call_id
        entry = self.calls.get(call_id) if call_id else None
        if entry is not None:
            self.scroll_to_widget(entry, animate=False)

    def _move(self, step: int) -> None:
        order = self.order
        if not order:
            return
        if self.selected not in order:
            index = len(order) - 1 if step < 0 else 0
        else:
            index = max(0, min(len(order) - 1, order.index(self.selected) + step))
        self.select(order[index])

    def action_select_previous(self) -> None:
        self._move(-1)

    def action_select_next(self) -> None:
        self._move(1)

    def action_show_selected(self) -> None:
        if self.selected is None:
            self._move(-1)
        if self.selected is not None:
            self.post_message(self.Selected(self, self.selected))

    def action_toggle_selected(self) -> None:
        if self.selected is None:
            self._move(-1)
        entry = self.calls.get(self.selected) if self.selected else None
        if entry is not None:
            entry.toggle()
            entry.render_state()

    def action_open_selected(self) -> None:
        entry = self.calls.get(self.selected) if self.selected else None
        if entry is None:
            return
        paths = entry.image_paths
        if not paths:
            self.notify("This tool call has no image saved yet.", severity="warning")
        elif not open_externally(paths[0]):
            self.notify(f"No viewer could be started. The file is at {paths[0]}.")
