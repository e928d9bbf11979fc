"""A one-line box above the composer: extra instructions for the next run only.

Hidden until toggled (ctrl+r, or the palette). What is typed here is sent as the run's
``additional_instructions`` with the next message, then cleared: the assistant's own
instructions are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Input


class ExtraInstructions(Input):
    """Extra instructions for the next run.

    | Key | Action |
    | --- | --- |
    | enter, down | back to the composer (keeps the text) |
    | escape | clear and close |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter,down", "done", "Keep", tooltip="Keep these instructions for the next "
                "run and go back to the composer", id="extra.keep", show=False),
        Binding("escape", "discard", "Discard", tooltip="Clear the extra instructions",
                id="extra.discard"),
    ]

    DEFAULT_CSS = """
    ExtraInstructions {
        display: none;
        border: round $accent 60%;
        border-title-color: $accent;
        height: 3;
        padding: 0 1;
    }
    ExtraInstructions.-open {
        display: block;
    }
    ExtraInstructions:focus {
        border: round $accent;
    }
    """

    @dataclass
    class Closed(Message):
        """The user left the box (the text stays unless ``discarded``)."""

        extra: ExtraInstructions
        discarded: bool

        @property
        def control(self) -> ExtraInstructions:
            return self.extra

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(placeholder="e.g. Answer in French. Used for the next run only.", id=id)
        self.border_title = "Extra instructions for the next run"

    @property
    def is_open(self) -> bool:
        return self.has_class("-open")

    def open(self) -> None:
        self.add_class("-open")
        self.focus()

    def close(self) -> None:
        self.remove_class("-open")

    def take(self) -> str | None:
        """The instructions for the run being started (then cleared and closed), if any."""
        text = self.value.strip()
        self.value = ""
        self.close()
        return text or None

    def action_done(self) -> None:
        if not self.value.strip():
            self.close()
        self.post_message(self.Closed(self, discarded=False))

    def action_discard(self) -> None:
        self.value = ""
        self.close()
        self.post_message(self.Closed(self, discarded=True))
