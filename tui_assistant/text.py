"""Text for people: untrusted text made safe for a terminal, one-line titles, times.

The one home for turning text from the model, tools or server into something safe to
show, for the screen and the command line alike.

Text from the endpoint is shown through Rich ``Text``/``Markdown`` objects, which never
interpret Rich markup, and is passed through ``clean_text`` first, which removes terminal
escape sequences and control characters so nothing can move the cursor, change the
title, or write to the clipboard behind the user's back.
"""

from __future__ import annotations

import re
import time

# CSI / OSC / DCS / other ESC sequences, then C0 (except tab and newline), DEL and C1.
_ESCAPES = re.compile(
    r"""
    \x1b\[[0-?]*[ -/]*[@-~]              # CSI ... final byte
    | \x1b\][^\x07\x1b]*(?:\x07|\x1b\\)? # OSC ... BEL or ST
    | \x1b[PX^_][^\x1b]*(?:\x1b\\)?      # DCS, SOS, PM, APC ... ST
    | \x1b[@-Z\\-_]                      # two-byte sequences
    | \x1b                               # a lone ESC
    """,
    re.VERBOSE,
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
"""C0 (but tab and newline), DEL, C1, and the bidirectional embedding, override and
isolate controls, which could make text read differently from what it is ("Trojan
Source"). Right-to-left text itself, marks (U+200E/F) and joiners (emoji) are kept."""


def clean_text(text: str) -> str:
    """Remove escape sequences and control characters (including bidirectional
    overrides); keep newlines and tabs."""
    if "\x1b" in text:
        text = _ESCAPES.sub("", text)
    text = text.replace("\r\n", "\n")
    return _CONTROLS.sub("", text)


def one_line(text: str, limit: int = 80) -> str:
    """A single clean line of at most ``limit`` characters, for titles and previews.

    A cut ends at a word boundary when one is near, and is marked with ``…``."""
    line = " ".join(clean_text(text).split())
    if len(line) <= limit:
        return line
    if limit <= 1:
        return "…"[:limit]
    cut = line[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-") + "…"


_MD_NOISE = re.compile(
    r"^\s{0,3}(?:#{1,6}\s+|[-*+]\s+|\d+[.)]\s+|>\s?)"  # block marks at the line start
    r"|[`*_~]+"  # inline emphasis and code marks
    r"|\[([^\]]*)\]\([^)]*\)"  # links: keep the text
)


def preview(text: str, limit: int = 80) -> str:
    """One line of readable text from a Markdown message: no fences, marks or links."""
    lines = []
    in_fence = False
    for line in clean_text(text).splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
            continue
        if not in_fence:
            lines.append(_MD_NOISE.sub(lambda m: m.group(1) or "", line))
    return one_line(" ".join(lines), limit)


def short_id(object_id: str) -> str:
    """``run_abc…wxyz`` → ``run_…wxyz``: enough to tell runs apart in the log."""
    prefix, _, rest = object_id.partition("_")
    return f"{prefix}_…{rest[-6:]}" if len(rest) > 8 else object_id


def relative_time(when: float, now: float | None = None) -> str:
    """``now``, ``5m``, ``3h``, ``2d``, ``4w``, or a date for anything older."""
    seconds = max(0.0, (now if now is not None else time.time()) - when)
    if seconds < 60:
        return "now"
    for limit, size, unit in (
        (3600, 60, "m"),
        (86400, 3600, "h"),
        (7 * 86400, 86400, "d"),
        (56 * 86400, 7 * 86400, "w"),
    ):
        if seconds < limit:
            return f"{int(seconds // size)}{unit}"
    return time.strftime("%Y-%m-%d", time.localtime(when))
