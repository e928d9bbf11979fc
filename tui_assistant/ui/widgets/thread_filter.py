"""The filter box above the thread list: narrows the list as you type."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Input


class ThreadFilter(Input):
    """A one-line filter for the thread list.

    | Key | Action |
    | --- | --- |
    | down, enter | go to the (filtered) list |
    | escape | clear the filter |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("down,enter", "to_list", "To list", tooltip="Move to the filtered thread list",
                id="threads.filter-to-list", show=False),
        Binding("escape", "clear_filter", "Clear", tooltip="Clear the filter",
                id="threads.filter-clear"),
    ]

    DEFAULT_CSS = """
    ThreadFilter {
        border: none;
        height: 1;
        padding: 0 1;
        margin: 0 0 1 0;
        background: $boost;
    }
    ThreadFilter:focus {
        border: none;
        background: $primary 15%;
    }
    """

    @dataclass
    class Done(Message):
        """The user left the filter box for the list."""

        thread_filter: ThreadFilter

        @property
        def control(self) -> ThreadFilter:
            return self.thread_filter

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(placeholder="Filter threads…", id=id, select_on_focus=False)

    def action_to_list(self) -> None:
        self.post_message(self.Done(self))

    def action_clear_filter(self) -> None:
        self.value = ""
        self.post_message(self.Done(self))
