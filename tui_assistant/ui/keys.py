"""Keys: input fixes for ordinary terminals, and key names for messages.

Most terminals (xterm, tmux, iTerm2 with "Esc+", GNOME Terminal, ...) send alt+digit as
ESC followed by the digit. Textual 8 reads those two bytes as the symbol macOS types
with Option+digit (ESC 1 becomes "¡"), so the composer would type "¡" where the user
pressed alt+1 to jump to a thread. ``restore_alt_digits`` maps the sequences back to
``alt+1`` … ``alt+9``. A symbol typed directly (its own UTF-8 character, as a keyboard
layout sends it) is not affected: only the ESC-prefixed sequences change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.binding import Binding

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


def key_label(app: App, binding_id: str, fallback: str = "") -> str:
    """How the first key of binding ``binding_id`` reads now (the user's keymap applied),
    for a message or a notice: ``F9``, ``ctrl+r``, ``Escape``.

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
    return app.get_key_display(Binding(first, ""))


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
