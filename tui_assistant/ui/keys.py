"""Key input fixes that make the default bindings work in ordinary terminals.

Most terminals (xterm, tmux, iTerm2 with "Esc+", GNOME Terminal, ...) send alt+digit as
ESC followed by the digit. Textual 8 reads those two bytes as the symbol macOS types
with Option+digit (ESC 1 becomes "¡"), so the composer would type "¡" where the user
pressed alt+1 to jump to a thread. ``restore_alt_digits`` maps the sequences back to
``alt+1`` … ``alt+9``. A symbol typed directly (its own UTF-8 character, as a keyboard
layout sends it) is not affected: only the ESC-prefixed sequences change.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class _KeyName:
    """Stands in for a ``textual.keys.Keys`` member: the parser only reads ``value``."""

    value: str


def restore_alt_digits() -> None:
    """Make ESC+digit arrive as ``alt+digit`` key events (idempotent)."""
    from textual._ansi_sequences import ANSI_SEQUENCES_KEYS

    for digit in "123456789":
        ANSI_SEQUENCES_KEYS[f"\x1b{digit}"] = (_KeyName(f"alt+{digit}"),)  # type: ignore[index]
