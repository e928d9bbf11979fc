"""Incremental Markdown rendering, block by block, into cached lines.

A streamed reply grows at its end only, so every top-level Markdown block except the last
is final once a later block has started. ``BlockRenderer`` keeps the rendered lines of
the final blocks and re-renders only the open tail block when text arrives. Rendering a
message therefore costs the size of its last block, not the size of the whole message,
and a finished message is just a list of cached lines.

The same splitting is used for one-shot rendering, so a streamed message ends up
identical to the same text rendered at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING

from rich.console import Console
from rich.style import Style
from rich.text import Text
from textual.strip import Strip

from tui_assistant.text import clean_text

if TYPE_CHECKING:
    from markdown_it import MarkdownIt


@cache
def markdown_parser() -> MarkdownIt:
    """The block parser. ``markdown_it`` (and Rich's Markdown, which uses it) load with
    the first message rendered, not with the UI: the first frame does not wait for them."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable("strikethrough").enable("table")


def split_blocks(text: str) -> list[tuple[int, int]]:
    """Return the ``(start_line, end_line)`` span of each top-level block of ``text``."""
    spans: list[tuple[int, int]] = []
    for token in markdown_parser().parse(text):
        if token.level == 0 and token.map is not None and token.nesting >= 0:
            spans.append((token.map[0], token.map[1]))
    return spans


@dataclass
class BlockRenderer:
    """Renders Markdown text that only ever grows at its end.

    ``lines(width)`` gives the rendered lines; ``append(text)`` adds text. Final blocks
    are rendered once per width; the open tail block on each call after a change.
    """

    console: Console
    code_theme: str = "monokai"
    text: str = ""
    _stable_offset: int = 0
    """Character offset where the open (last) block starts; text before it is final."""
    _stable_sources: list[str] = field(default_factory=list)
    _width: int = 0
    _stable_lines: list[Strip] = field(default_factory=list)
    _rendered_stable: int = 0
    """How many of ``_stable_sources`` are in ``_stable_lines`` at ``_width``."""
    _tail_lines: list[Strip] | None = None

    def append(self, text: str) -> None:
        if not text:
            return
        self.text += clean_text(text)
        self._advance()
        self._tail_lines = None

    def reset(self, text: str) -> None:
        """Replace the whole text (used when the authoritative text arrives)."""
        if text == self.text:
            return
        self.text = ""
        self._stable_offset = 0
        self._stable_sources.clear()
        self._stable_lines = []
        self._rendered_stable = 0
        self._tail_lines = None
        self.append(text)

    def _advance(self) -> None:
        """Move blocks that are now final out of the tail."""
        tail = self.text[self._stable_offset :]
        spans = split_blocks(tail)
        if len(spans) < 2:
            return
        lines = tail.splitlines(keepends=True)
        offsets = [0]
        for line in lines:
            offsets.append(offsets[-1] + len(line))
        for start, end in spans[:-1]:
            self._stable_sources.append("".join(lines[start:end]))
        last_start = spans[-1][0]
        self._stable_offset += offsets[min(last_start, len(lines))]

    def _render(self, source: str, width: int) -> list[Strip]:
        from rich.markdown import Markdown

        options = self.console.options.update_width(width)
        markdown = Markdown(source, code_theme=self.code_theme, hyperlinks=False)
        lines = self.console.render_lines(markdown, options, pad=False, new_lines=False)
        strips = [Strip(line).simplify() for line in lines]
        while strips and not strips[0].text.strip():
            strips.pop(0)
        while strips and not strips[-1].text.strip():
            strips.pop()
        return strips

    def lines(self, width: int) -> list[Strip]:
        width = max(width, 10)
        if width != self._width:
            self._width = width
            self._stable_lines = []
            self._rendered_stable = 0
            self._tail_lines = None
        while self._rendered_stable < len(self._stable_sources):
            block = self._render(self._stable_sources[self._rendered_stable], width)
            if self._stable_lines and block:
                self._stable_lines.append(Strip.blank(0))
            self._stable_lines.extend(block)
            self._rendered_stable += 1
        if self._tail_lines is None:
            tail = self.text[self._stable_offset :]
            self._tail_lines = self._render(tail, width) if tail.strip() else []
        if self._stable_lines and self._tail_lines:
            return [*self._stable_lines, Strip.blank(0), *self._tail_lines]
        return self._stable_lines + self._tail_lines


def plain_lines(console: Console, text: str, width: int, style: Style | None = None) -> list[Strip]:
    """Wrap plain (non-Markdown) text into strips of at most ``width`` cells."""
    rich_text = Text(clean_text(text), style=style or Style())
    options = console.options.update_width(max(width, 10))
    return [Strip(line) for line in console.render_lines(rich_text, options, pad=False)]
