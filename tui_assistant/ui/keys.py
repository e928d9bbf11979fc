"""Keys: input fixes for ordinary terminals, and key names for messages.

Most terminals (xterm, tmux, iTerm2 with "Esc+", GNOME Terminal, ...) send alt+digit as
ESC followed by the digit. Textual 8 reads those two bytes as the symbol macOS types
with Option+digit (ESC 1 becomes "¡"), so the composer would type "¡" where the user
pressed alt+1 to jump to a thread. ``restore_alt_digits`` maps the sequences back to
``alt+1`` … ``alt+9``. A symbol typed directly (its own UTF-8 character, as a keyboard
layout sends it) is not affected: only the ESC-prefixed sequences change.

``use_paste_safe_parser`` makes a bracketed paste arrive as one clean ``Paste`` event
(see ``PasteSafeParser``): no pasted byte acts as a key.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import constants, events
from textual._time import get_time
from textual._xterm_parser import XTermParser
from textual.binding import Binding
from textual.message import Message

from tui_assistant.text import clean_text

if TYPE_CHECKING:
    from textual.app import App
    from textual.dom import DOMNode


@dataclass(frozen=True)
class _KeyName:
    """Stands in for a ``textual.keys.Keys`` member: the parser only reads ``value``."""

    value: str


def restore_alt_digits() -> None:
    """Make ESC+digit arrive as ``alt+digit`` key events (idempotent)."""
    from textual._ansi_sequences import ANSI_SEQUENCES_KEYS

    for digit in "123456789":
        ANSI_SEQUENCES_KEYS[f"\x1b{digit}"] = (_KeyName(f"alt+{digit}"),)  # type: ignore[index]


# -- bracketed paste --------------------------------------------------------------------
#
# Textual's parser collects a bracketed paste character by character, but an ESC inside
# the paste starts its escape-sequence reader, which does not add what it reads to the
# paste: the rest of the paste up to the next ESC is re-issued as *key presses* before
# the paste itself. So `esc ␛[31mred␛[0m end` typed "^[31mred^[0m end" and then pasted
# "esc ", and ESC followed by a bell (\x07, ctrl+g) opened go-to. ``PasteSafeParser``
# takes pastes out of the input before Textual's parser sees them: everything between
# the paste markers becomes one ``Paste`` event, in order with the keys around it, and
# its escape sequences and control characters are removed (tabs and newlines kept).

PASTE_START = "\x1b[200~"
PASTE_END = "\x1b[201~"


def clean_paste(text: str) -> str:
    """Pasted text as plain text: line ends as newlines, no escapes or control bytes."""
    return clean_text(text.replace("\r\n", "\n").replace("\r", "\n"))


def _partial_marker(data: str, marker: str) -> int:
    """How many characters at the end of ``data`` could begin ``marker``."""
    for size in range(min(len(marker) - 1, len(data)), 0, -1):
        if data.endswith(marker[:size]):
            return size
    return 0


class PasteSafeParser(XTermParser):
    """Textual's parser, with bracketed pastes read as one clean ``Paste`` event."""

    def __init__(self, debug: bool = False) -> None:
        super().__init__(debug)
        self._pasting = False
        self._pasted: list[str] = []
        self._held = ""  # the end of a chunk that may begin a paste marker
        self._held_since = 0.0

    def feed(self, data: str) -> Iterable[Message]:
        if not data:  # end of input
            held, self._held = self._held, ""
            if held and not self._pasting:
                yield from super().feed(held)
            yield from super().feed("")
            return
        data, self._held = self._held + data, ""
        while data:
            if self._pasting:
                end = data.find(PASTE_END)
                if end < 0:
                    keep = _partial_marker(data, PASTE_END)
                    self._pasted.append(data[: len(data) - keep])
                    self._held = data[len(data) - keep :]
                    return
                self._pasted.append(data[:end])
                data = data[end + len(PASTE_END) :]
                self._pasting = False
                text = clean_paste("".join(self._pasted))
                self._pasted.clear()
                if text:
                    yield events.Paste(text)
                continue
            start = data.find(PASTE_START)
            if start < 0:
                keep = _partial_marker(data, PASTE_START)
                if keep < len(data):
                    yield from super().feed(data[: len(data) - keep])
                if keep:
                    self._held = data[len(data) - keep :]
                    self._held_since = get_time()
                return
            if start:
                yield from super().feed(data[:start])
            # A key sequence cut short by the paste (a lone ESC) goes out before it.
            yield from self._end_pending_sequence()
            self._pasting = True
            data = data[start + len(PASTE_START) :]

    def _end_pending_sequence(self) -> Iterable[Message]:
        if self._timeout_time is not None:
            self._timeout_time = get_time()
            yield from super().tick()

    def tick(self) -> Iterable[Message]:
        if (
            self._held
            and not self._pasting
            and get_time() - self._held_since >= constants.ESCAPE_DELAY
        ):
            # Not a paste after all: an ESC (or alt+[) that waited long enough.
            held, self._held = self._held, ""
            yield from super().feed(held)
            yield from self._end_pending_sequence()
        yield from super().tick()


def use_paste_safe_parser() -> None:
    """Make the terminal drivers read input with ``PasteSafeParser`` (idempotent)."""
    import importlib
    import sys

    names = ("win32",) if sys.platform == "win32" else ("linux_driver", "linux_inline_driver")
    for name in names:
        try:
            module = importlib.import_module(f"textual.drivers.{name}")
        except ImportError:  # pragma: no cover - a driver this platform lacks
            continue
        module.XTermParser = PasteSafeParser
def key_label(app: App, binding_id: str, fallback: str = "") -> str:
    """How the first key of binding ``binding_id`` reads now (the user's keymap applied),
    for a message or a notice: ``F9``, ``^r``, ``Escape``, ``Enter``.

    Every key a message names comes from here, so remapping keeps the messages right."""
    keymap: dict[str, str] = dict(getattr(app, "_keymap", {}) or {})
    keys = keymap.get(binding_id)
    if keys is None:
        keys = _declared_keys(app, binding_id)
    first = next((k.strip() for k in (keys or "").split(",") if k.strip()), "")
    if not first:
        return fallback
    if re.fullmatch(r"f\d{1,2}", first):
        return first.upper()
    if first == "escape":
        return "Escape"
    return app.get_key_display(Binding(first, "")).replace("⏎", "Enter")


def _declared_keys(app: App, binding_id: str) -> str | None:
    nodes: list[DOMNode] = [app]
    for screen in app.screen_stack:
        nodes += [screen, *screen.query("*")]
    seen: set[type] = set()
    for node in nodes:
        for cls in type(node).__mro__:
            if cls in seen or "BINDINGS" not in cls.__dict__:
                continue
            seen.add(cls)
            for item in cls.__dict__["BINDINGS"]:
                if isinstance(item, Binding) and item.id == binding_id:
                    return item.key
    return None
