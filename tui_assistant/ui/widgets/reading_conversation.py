"""The conversation, with a keyboard cursor over its messages for copying.

When the conversation pane has focus, one message is *selected* (drawn with the
``-selected`` class; the newest when focus arrives). Keys move the selection and copy
the selected message, or one of its code blocks, to the clipboard through
``App.copy_to_clipboard`` (OSC 52, which most terminals honour), with a notification
saying what was copied.

| Key | Action |
| --- | --- |
| up/down, k/j | select the previous / next message |
| c | copy the selected message |
| C | copy a code block of it (again: the next block) |
"""

from __future__ import annotations

import re
from functools import cache
from typing import TYPE_CHECKING, ClassVar

from textual import events
from textual.binding import Binding, BindingType

from tui_assistant.ui.widgets.conversation import Conversation
from tui_assistant.ui.widgets.message_view import MessageView

if TYPE_CHECKING:
    from markdown_it import MarkdownIt


@cache
def _parser() -> MarkdownIt:
    from markdown_it import MarkdownIt  # loaded when a code block is first copied

    return MarkdownIt("commonmark")


def code_blocks(text: str) -> list[str]:
    """The contents of the fenced and indented code blocks of Markdown ``text``, in order."""
    return [
        token.content.rstrip("\n")
        for token in _parser().parse(text)
        if token.type in ("fence", "code_block") and token.content.strip()
    ]


def describe(text: str, what: str) -> str:
    lines = text.count("\n") + 1
    size = f"{lines} line{'s' if lines != 1 else ''}" if lines > 1 else f"{len(text)} characters"
    return f"Copied {what} ({size}) to the clipboard."


_NEWLINES = re.compile(r"\n{3,}")


class ReadingConversation(Conversation):
    """``Conversation`` plus a message cursor and copy keys (see the module docstring)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "select_previous", "Previous", tooltip="Select the previous message",
                id="conversation.previous", show=False),
        Binding("down,j", "select_next", "Next", tooltip="Select the next message",
                id="conversation.next", show=False),
        Binding("c", "copy_message", "Copy", tooltip="Copy the selected message",
                id="conversation.copy"),
        Binding("C", "copy_code", "Copy code",
                tooltip="Copy a code block of the selected message (again: the next block)",
                id="conversation.copy-code"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.selected: MessageView | None = None
        self._code_turn: tuple[MessageView | None, int] = (None, -1)

    # -- selection -----------------------------------------------------------------

    def _views(self) -> list[MessageView]:
        return [v for v in self.message_views if v.is_mounted]

    def select(self, view: MessageView | None, *, top: bool = False) -> None:
        """Select ``view`` (or nothing) and scroll it into sight."""
        if self.selected is not None and self.selected is not view:
            self.selected.remove_class("-selected")
        self.selected = view
        self._code_turn = (None, -1)
        if view is None:
            return
        view.add_class("-selected")
        self.release_anchor()
        self.scroll_to_widget(view, animate=False, top=top, immediate=True)

    def _current(self) -> MessageView | None:
        views = self._views()
        if self.selected is not None and self.selected in views:
            return self.selected
        return views[-1] if views else None

    def on_focus(self, event: events.Focus) -> None:
        if self.selected is None or not self.selected.is_mounted:
            views = self._views()
            if views:
                self.select(views[-1])

    def action_select_previous(self) -> None:
        views = self._views()
        if not views:
            return
        current = self._current()
        index = views.index(current) if current in views else len(views)
        if index > 0:
            self.select(views[index - 1])
        else:
            self.select(views[0])
            if self.has_more and not self.loading_older:
                self.request_older()

    def action_select_next(self) -> None:
        views = self._views()
        if not views:
            return
        current = self._current()
        index = views.index(current) if current in views else -1
        self.select(views[min(index + 1, len(views) - 1)])

    # -- copying -------------------------------------------------------------------

    def action_copy_message(self) -> None:
        view = self._current()
        if view is None or not view.text.strip():
            self.notify("There is no message to copy.", severity="warning")
            return
        self.select(view)
        text = _NEWLINES.sub("\n\n", view.text.strip("\n"))
        self.app.copy_to_clipboard(text)
        who = "your message" if view.role == "user" else "the reply"
        self.notify(describe(text, who), title="Copied")

    def copy_last_reply(self) -> None:
        """Select the newest reply and copy it (the palette's "Copy last reply")."""
        replies = [v for v in self.message_views if v.role == "assistant"]
        if not replies:
            self.notify("There is no reply to copy yet.", severity="warning")
            return
        self.select(replies[-1])
        self.action_copy_message()

    def action_copy_code(self) -> None:
        view = self._current()
        blocks = code_blocks(view.text) if view is not None else []
        if view is None or not blocks:
            self.notify("The selected message has no code block.", severity="warning")
            return
        if self.selected is not view:
            self.select(view)
        last_view, last_index = self._code_turn
        index = (last_index + 1) % len(blocks) if last_view is view else 0
        self._code_turn = (view, index)
        text = blocks[index]
        self.app.copy_to_clipboard(text)
        which = f"code block {index + 1} of {len(blocks)}" if len(blocks) > 1 else "the code block"
        self.notify(describe(text, which), title="Copied")
