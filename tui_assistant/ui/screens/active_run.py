"""The question asked when a thread is busy with a run started elsewhere.

The workspace works out what happened (``Workspace.resolve_busy``) and asks the user
through ``Workspace.ask_busy``, which the main screen answers with this dialog.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label

from tui_assistant.text import clean_text
from tui_assistant.ui.keys import key_label

__all__ = ["ActiveRunDialog"]


class ActiveRunDialog(ModalScreen[str]):
    """The thread is busy with a run the user did not start from here.

    Returns ``"follow"`` (show that run, then send), ``"cancel"`` (cancel it, then send)
    or ``"keep"`` (leave the message unsent).

    | Key | Action |
    | --- | --- |
    | f | follow the other run, then send |
    | c | cancel the other run, then send |
    | escape | keep the message unsent |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f", "choose('follow')", "Follow", id="activerun.follow",
                tooltip="Show the other run's reply, then send yours"),
        Binding("c", "choose('cancel')", "Cancel it", id="activerun.cancel",
                tooltip="Cancel the other run, then send yours"),
        Binding("escape", "choose('keep')", "Keep unsent", id="activerun.keep",
                tooltip="Send nothing now; your message stays unsent"),
    ]

    def __init__(self, run_id: str, status: str = "", *, retry: bool = False) -> None:
        super().__init__(classes="dialog-screen")
        self.run_id = run_id
        self.status = status
        self.retry = retry

    def compose(self) -> ComposeResult:
        what = "the retry" if self.retry else "your message"
        state = f" ({self.status.replace('_', ' ')})" if self.status else ""
        with Vertical(id="dialog"):
            yield Label(Text("This thread already has an active run"), id="title")
            yield Label(
                Text(
                    f"Run {clean_text(self.run_id)}{state} was started elsewhere (another "
                    f"window, program or device). Follow it and send {what} when it ends, "
                    f"cancel it and send {what} now, or keep {what} for later."
                ),
                id="detail",
            )
            with Horizontal(id="buttons"):  # each names its binding's key
                yield Button(f"Follow, then send  {key_label(self.app, 'activerun.follow', 'f')}",
                             id="follow", variant="primary")
                yield Button(f"Cancel it and send  {key_label(self.app, 'activerun.cancel', 'c')}",
                             id="cancel", variant="warning")
                yield Button(f"Keep unsent  {key_label(self.app, 'activerun.keep', 'Escape')}",
                             id="keep")

    def on_mount(self) -> None:
        self.query_one("#follow", Button).focus()

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id or "keep")

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)

