"""Small modal dialogs: confirm, one line of text, and where to export a thread."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, RadioButton, RadioSet

from tui_assistant.text import clean_text


class ConfirmDialog(ModalScreen[bool]):
    """A yes/no question. Returns ``True`` only when the user confirms.

    | Key | Action |
    | --- | --- |
    | enter | press the focused button (Cancel at first when the action destroys something) |
    | tab | move between the buttons |
    | escape | cancel |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", tooltip="Close without doing anything",
                id="confirm.cancel"),
    ]

    def __init__(self, title: str, detail: str = "", *, confirm: str = "OK",
                 danger: bool = False) -> None:
        super().__init__(classes="dialog-screen")
        self.title_text = title
        self.detail = detail
        self.confirm_label = confirm
        self.danger = danger

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(Text(clean_text(self.title_text)), id="title")
            if self.detail:
                yield Label(Text(clean_text(self.detail)), id="detail")
            if self.danger:
                yield Label(Text(f"Tab, then Enter: {clean_text(self.confirm_label)} · "
                                 "Enter or Escape: cancel"), id="keys")
            with Horizontal(id="buttons"):
                yield Button(self.confirm_label, id="confirm",
                             variant="error" if self.danger else "primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        # Enter alone never confirms what cannot be undone: Cancel has the focus.
        self.query_one("#cancel" if self.danger else "#confirm", Button).focus()

    @on(Button.Pressed, "#confirm")
    def confirmed(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)


class TextPrompt(ModalScreen[str | None]):
    """Ask for one line of text. Returns it (stripped), or ``None`` if cancelled.

    ``check`` returns an error message for a value that cannot be used, or ``""``.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", tooltip="Close without changing anything",
                id="prompt.cancel"),
    ]

    def __init__(
        self,
        title: str,
        *,
        value: str = "",
        placeholder: str = "",
        detail: str = "",
        action: str = "OK",
        check: Callable[[str], str] | None = None,
    ) -> None:
        super().__init__(classes="dialog-screen")
        self.title_text = title
        self.value = value
        self.placeholder = placeholder
        self.detail = detail
        self.action = action
        self.check = check

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(Text(clean_text(self.title_text)), id="title")
            if self.detail:
                yield Label(Text(clean_text(self.detail)), id="detail")
            yield Input(value=self.value, placeholder=self.placeholder, id="value")
            yield Label("", id="error")
            with Horizontal(id="buttons"):
                yield Button(self.action, id="ok", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#value", Input).focus()

    @on(Input.Submitted, "#value")
    @on(Button.Pressed, "#ok")
    def submit(self) -> None:
        value = self.query_one("#value", Input).value.strip()
        problem = "A value is needed." if not value else (self.check(value) if self.check else "")
        if problem:
            self.query_one("#error", Label).update(problem)
            self.query_one("#value", Input).focus()
            return
        self.dismiss(value)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


@dataclass(frozen=True)
class ExportChoice:
    """Where and how to export."""

    path: Path
    format: str
    """``md`` or ``json``."""


_SUFFIX = re.compile(r"\.(md|json)$", re.IGNORECASE)


class ExportDialog(ModalScreen[ExportChoice | None]):
    """Pick the file and the format of an export."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", tooltip="Close without exporting",
                id="export.cancel"),
    ]

    def __init__(self, title: str, default_path: Path, fmt: str = "md") -> None:
        super().__init__(classes="dialog-screen")
        self.thread_title = title
        self.default_path = default_path
        self.format = fmt

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(Text("Export “") + Text(clean_text(self.thread_title)) + Text("”"),
                        id="title")
            yield Label("Messages, tool calls with their inputs and outputs, and token "
                        "usage. API keys are never written.", id="detail")
            with RadioSet(id="format"):
                yield RadioButton("Markdown", value=self.format == "md", id="format-md")
                yield RadioButton("JSON", value=self.format == "json", id="format-json")
            yield Label("File")
            yield Input(value=str(self.default_path), id="path")
            yield Label("", id="error")
            with Horizontal(id="buttons"):
                yield Button("Export", id="export", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        path = self.query_one("#path", Input)
        path.focus()
        path.cursor_position = len(path.value)

    @on(RadioSet.Changed, "#format")
    def format_changed(self, event: RadioSet.Changed) -> None:
        self.format = "json" if event.pressed.id == "format-json" else "md"
        path = self.query_one("#path", Input)
        if _SUFFIX.search(path.value):
            path.value = _SUFFIX.sub(f".{self.format}", path.value)

    @on(Input.Submitted, "#path")
    @on(Button.Pressed, "#export")
    def submit(self) -> None:
        raw = self.query_one("#path", Input).value.strip()
        if not raw:
            self.query_one("#error", Label).update("Give a file name.")
            return
        path = Path(raw).expanduser()
        if path.is_dir():
            self.query_one("#error", Label).update(f"{path} is a folder; add a file name.")
            return
        suffix = _SUFFIX.search(path.name)
        if suffix:  # a typed .md or .json says which format is meant
            self.format = suffix.group(1).lower()
        self.dismiss(ExportChoice(path, self.format))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
