"""The message composer: Enter sends, shift+enter or ctrl+j inserts a newline."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import TextArea

from tui_assistant.ui.keys import clean_paste, key_label


class Composer(TextArea):
    """Where the user writes.

    | Key | Action |
    | --- | --- |
    | enter | send the message |
    | shift+enter, ctrl+j | new line |
    | pageup, pagedown | scroll the conversation while typing |
    | ctrl+home, ctrl+end | the top, or the newest text, of the conversation |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "enter",
            "submit",
            "Send",
            tooltip="Send the message to the assistant",
            id="composer.send",
        ),
        Binding(
            "shift+enter,ctrl+j",
            "newline",
            "Newline",
            tooltip="Insert a line break",
            id="composer.newline",
            show=False,
        ),
        Binding("pageup", "scroll('page_up')", "Scroll up", id="composer.page-up",
                tooltip="Scroll the conversation up a page", show=False),
        Binding("pagedown", "scroll('page_down')", "Scroll down", id="composer.page-down",
                tooltip="Scroll the conversation down a page", show=False),
        Binding("ctrl+home", "scroll('home')", "Top", id="composer.top",
                tooltip="Scroll to the start of the conversation", show=False),
        Binding("ctrl+end", "scroll('end')", "Newest", id="composer.newest",
                tooltip="Scroll to the newest text of the conversation", show=False),
    ]

    DEFAULT_CSS = """
    Composer {
        height: auto;
        min-height: 3;
        max-height: 12;
        border: round $primary 40%;
        padding: 0 1;
    }
    Composer:focus {
        border: round $primary;
    }
    """

    @dataclass
    class Submitted(Message):
        """The user asked to send ``text``."""

        composer: Composer
        text: str

        @property
        def control(self) -> Composer:
            return self.composer

    @dataclass
    class ScrollRequested(Message):
        """The user asked to scroll the conversation (``page_up``, ``page_down``, ``home``,
        ``end``) without leaving the composer."""

        composer: Composer
        where: str

        @property
        def control(self) -> Composer:
            return self.composer

    DRAFT_DELAY = 1.0
    """Seconds after the last keystroke before the text is saved as the draft."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, soft_wrap=True, show_line_numbers=False, tab_behavior="focus")
        self._save_draft_to: Callable[[str | None], None] | None = None
        self._draft_saved: str | None = None
        self._draft_timer = None

    def on_mount(self) -> None:
        # The keys it names are the bindings' own (the user's keymap applied).
        self.placeholder = (
            f"Message the assistant — {key_label(self.app, 'composer.send', 'Enter')} sends, "
            f"{key_label(self.app, 'composer.newline', 'shift+Enter')} adds a line"
        )
        # A key the user's keymap gives to a screen-wide binding (f6 for thread.rename,
        # ctrl+e for composer.extra) would never get past the text area, which uses it
        # for editing and sees keys first: the composer gives such keys up. (Textual has
        # no API to remove a widget's binding; each node's map is its own copy.)
        keymap = getattr(getattr(self.app, "settings", None), "keymap", None)
        if keymap:
            from tui_assistant.ui.keymap_check import composer_released_keys

            for key in composer_released_keys(keymap):
                self._bindings.key_to_bindings.pop(key, None)

    async def _on_key(self, event: events.Key) -> None:
        # Enter is handled here, in order with the typed characters, rather than as a
        # priority binding: a priority binding runs before keys still queued for this
        # widget, so a fast typist (or a paste without bracketed-paste) would send half a
        # message. The keys come from the bindings, so remapping them in the keymap works.
        active = self.screen.active_bindings.get(event.key)
        if active is not None and active.node is self and active.binding.action in (
            "submit",
            "newline",
        ):
            event.stop()
            event.prevent_default()
            if active.binding.action == "submit":
                self.action_submit()
            else:
                self.action_newline()
            return
        await super()._on_key(event)

    async def _on_paste(self, event: events.Paste) -> None:
        # Runs before TextArea's handler, which inserts ``event.text``: pasted escape
        # sequences and control characters never reach the document (they would be drawn
        # as raw bytes and shift the border), whatever delivered the paste.
        event.text = clean_paste(event.text)

    # -- the draft: what is typed survives a quit or a crash ---------------------------

    def keep_draft(self, load: Callable[[], str | None],
                   save: Callable[[str | None], None]) -> bool:
        """Put back the draft ``load`` gives (when the composer is empty) and ``save`` the
        text a second after typing stops, and at unmount. True when a draft came back."""
        self._save_draft_to = save
        draft = self._draft_saved = load()
        if draft and not self.text.strip():
            self.restore(draft)
            return True
        return False

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        if self._save_draft_to is None:
            return
        if self._draft_timer is not None:
            self._draft_timer.stop()
        self._draft_timer = self.set_timer(self.DRAFT_DELAY, self._save_draft)

    def _draft(self) -> str | None:
        return self.text if self.text.strip() else None

    async def _save_draft(self) -> None:
        self._draft_timer = None
        value = self._draft()
        if value != self._draft_saved and self._save_draft_to is not None:
            self._draft_saved = value
            await asyncio.to_thread(self._save_draft_to, value)

    def on_unmount(self) -> None:
        if self._draft_timer is not None and self._save_draft_to is not None:
            self._draft_timer.stop()  # typed less than a second before quitting
            if self._draft() != self._draft_saved:
                self._save_draft_to(self._draft())

    def action_scroll(self, where: str) -> None:
        self.post_message(self.ScrollRequested(self, where))

    def action_submit(self) -> None:
        text = self.text
        if text.strip():
            self.post_message(self.Submitted(self, text))

    def action_newline(self) -> None:
        self.insert("\n")

    def restore(self, text: str) -> None:
        """Put an unsent message back, unless the user already typed something new."""
        if not self.text.strip():
            self.text = text
            self.move_cursor(self.document.end)
