"""A short form to create an assistant: name, model, instructions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Button, Input, Label, TextArea


@dataclass(frozen=True)
class AssistantDraft:
    """What the user filled in."""

    name: str
    model: str
    instructions: str


class AssistantForm(ModalScreen[AssistantDraft | None]):
    """Create an assistant. Returns the draft, or ``None`` if cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", tooltip="Close without creating",
                id="form.cancel"),
        Binding("ctrl+s", "create", "Create", tooltip="Create the assistant", id="form.create"),
    ]

    def __init__(self, *, model: str = "", reason: str = "",
                 models: Sequence[str] = ()) -> None:
        super().__init__()
        self.models = list(models)
        """What the endpoint's ``GET /models`` lists (typed names complete from it)."""
        self.default_model = model
        self.reason = reason

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Create an assistant", id="title")
            if self.reason:
                yield Label(self.reason, id="reason")
            yield Label("Name")
            yield Input(placeholder="e.g. Research helper", id="name")
            yield Label("Model")
            yield Input(
                value=self.default_model, placeholder="e.g. gpt-4o", id="model",
                suggester=SuggestFromList(self.models, case_sensitive=False)
                if self.models else None,
            )
            if self.models:
                shown = ", ".join(self.models[:8]) + (" …" if len(self.models) > 8 else "")
                yield Label(Text(f"On this endpoint: {shown} (→ completes)"), id="models")
            yield Label("Instructions")
            yield TextArea(id="instructions", soft_wrap=True, tab_behavior="focus")
            yield Label("", id="error")
            with Horizontal(id="buttons"):
                yield Button("Create", variant="primary", id="create")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()

    @on(Button.Pressed, "#create")
    def action_create(self) -> None:
        name = self.query_one("#name", Input).value.strip()
        model = self.query_one("#model", Input).value.strip()
        instructions = self.query_one("#instructions", TextArea).text.strip()
        if not model:
            self.query_one("#error", Label).update("A model name is needed.")
            self.query_one("#model", Input).focus()
            return
        self.dismiss(AssistantDraft(name or "Assistant", model, instructions))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
