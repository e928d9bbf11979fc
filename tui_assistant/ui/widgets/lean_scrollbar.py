"""A vertical scrollbar that is cheap to repaint.

While a reply streams, the conversation grows by a line several times a second, and each
time its scrollbar is repainted. Textual's ``ScrollBar`` paints through its general
pipeline (a Rich renderable turned into a visual, then every line through the styles
cache), which measured about a third of each frame's compositing. A vertical bar is one
segment per line, so ``LeanScrollBar`` asks ``ScrollBarRender.render_bar`` for exactly
those segments, makes one strip of each, and keeps them until the bar's geometry or
colours change. It looks the same as the stock bar (``tests/app/test_lean_scrollbar.py``
compares the two) and behaves the same: the mouse handling is inherited.

It also saves a frame per new line. When the conversation grows, Textual lays it out and
repaints its whole region, scrollbar column included, with the bar's new values; the
bar's own refresh request would then draw a second frame with nothing new in it. So a
plain repaint request is looked at a moment later and dropped if the bar on screen
already shows the current state.
"""

from __future__ import annotations

from typing import Self

from rich.color import Color
from rich.segment import Segment
from textual.geometry import Region
from textual.scrollbar import ScrollBar, ScrollBarRender
from textual.strip import Strip
from textual.widget import Widget

__all__ = ["LeanScrollBar", "lean_vertical_scrollbar"]

_DEFAULT_BACK = Color.parse("#555555")
_DEFAULT_BAR = Color.parse("bright_magenta")


class LeanScrollBar(ScrollBar):
    """A ``ScrollBar`` whose vertical form is drawn from cached strips."""

    def __init__(self, vertical: bool = True, name: str | None = None, *, thickness: int = 1):
        super().__init__(vertical, name, thickness=thickness)
        self._lean_key: tuple | None = None
        self._lean_lines: list[Strip] = []
        self._painted_state: tuple | None = None
        self._refresh_pending = False

    def _state(self) -> tuple:
        """What the bar shows, apart from colours (a theme change repaints everything)."""
        return (
            self.size,
            self.window_virtual_size,
            self.window_size,
            self.position,
            self.mouse_over,
            self.grabbed,
        )

    def refresh(
        self,
        *regions: Region,
        repaint: bool = True,
        layout: bool = False,
        recompose: bool = False,
    ) -> Self:
        if regions or layout or recompose or not repaint or not self.vertical:
            return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)
        if not self._refresh_pending and self.is_mounted:
            self._refresh_pending = True
            self.call_later(self._refresh_if_stale)
        elif not self.is_mounted:
            super().refresh()
        return self

    def _refresh_if_stale(self) -> None:
        self._refresh_pending = False
        if self._painted_state != self._state():
            super().refresh()

    def render_lines(self, crop: Region) -> list[Strip]:
        renderable = self.render()
        if not self.vertical or not isinstance(renderable, ScrollBarRender):
            return super().render_lines(crop)
        self._painted_state = self._state()
        width, height = self.size
        filters = tuple(self.get_line_filters())
        base = self.visual_style.rich_style  # what Textual's pipeline lays the bar over
        key = (
            width,
            height,
            renderable.virtual_size,
            renderable.window_size,
            renderable.position,
            renderable.style,
            base,
            filters,
        )
        if key != self._lean_key:
            style = self.app.console.get_style(renderable.style)
            bar = renderable.render_bar(
                size=height,
                virtual_size=renderable.virtual_size,
                window_size=renderable.window_size,
                position=renderable.position,
                thickness=width,
                vertical=True,
                back_color=style.bgcolor or _DEFAULT_BACK,
                bar_color=style.color or _DEFAULT_BAR,
            )
            background = self.background_colors[1]
            lines = []
            for segment in bar.segments:
                strip = Strip([Segment(segment.text, base + segment.style)], width)
                for line_filter in filters:
                    strip = strip.apply_filter(line_filter, background)
                lines.append(strip)
            self._lean_key, self._lean_lines = key, lines
        lines = self._lean_lines
        blank = Strip.blank(width)
        strips = [lines[y] if 0 <= y < len(lines) else blank for y in crop.line_range]
        if crop.column_span != (0, width):
            x1, x2 = crop.column_span
            strips = [strip.crop(x1, x2) for strip in strips]
        return strips


def lean_vertical_scrollbar(widget: Widget) -> ScrollBar:
    """Create ``widget``'s vertical scrollbar as a ``LeanScrollBar``, as Textual would its own.

    For a ``vertical_scrollbar`` property override (Textual creates the bar on first use).
    """
    if widget._vertical_scrollbar is None:
        thickness = widget.scrollbar_size_vertical
        bar = LeanScrollBar(vertical=True, name="vertical", thickness=thickness)
        bar.display = False
        widget._vertical_scrollbar = bar
        widget.app._start_widget(widget, bar)
    return widget._vertical_scrollbar
