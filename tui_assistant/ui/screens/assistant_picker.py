"""Choose the assistant to talk to, when the endpoint has several."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from tui_assistant.engines.base import AssistantInfo
from tui_assistant.text import one_line
from tui_assistant.ui.keys import key_label

CREATE_ID = "__create__"


class AssistantPicker(ModalScreen[AssistantInfo | str | None]):
    """A list of assistants; returns the chosen one, ``"create"``, or ``None``."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss_picker", "Close", tooltip="Keep the current assistant",
                id="picker.close"),
    ]

    def __init__(self, assistants: list[AssistantInfo], current: str | None = None) -> None:
        super().__init__()
        self.assistants = assistants
        self.current = current

    def compose(self) -> ComposeResult:
        options: list[Option] = []
        for assistant in self.assistants:
            prompt = Text(one_line(assistant.label, 50), style="bold")
            prompt.append(f"  {one_line(assistant.model, 30)}", "dim")
            if assistant.instructions:
                prompt.append("\n" + one_line(assistant.instructions, 70), "dim italic")
            options.append(Option(prompt, id=assistant.id))
        options.append(Option(Text("+ Create an assistant…", style="italic"), id=CREATE_ID))
        with Vertical(id="dialog"):
            yield Label("Choose an assistant", id="title")
            yield OptionList(*options, id="assistants")
            yield Label(f"enter choose · {key_label(self.app, 'picker.close', 'Escape')} close",
                        id="keys")

    def on_mount(self) -> None:
        option_list = self.query_one(OptionList)
        option_list.focus()
        if self.current:
            try:
                option_list.highlighted = option_list.get_option_index(self.current)
            except Exception:
                option_list.highlighted = 0
        else:
            option_list.highlighted = 0

    @on(OptionList.OptionSelected)
    def choose(self, event: OptionList.OptionSelected) -> None:
        if event.option.id == CREATE_ID:
            self.dismiss("create")
            return
        for assistant in self.assistants:
            if assistant.id == event.option.id:
                self.dismiss(assistant)
                return

    def action_dismiss_picker(self) -> None:
        self.dismiss(None)
