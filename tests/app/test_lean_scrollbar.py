"""The conversation's scrollbar: drawn like Textual's own, and repainted when it moves."""

from __future__ import annotations

import pytest
from textual._compositor import ChopsUpdate, LayoutUpdate
from textual.app import App, ComposeResult
from textual.containers import VerticalScroll
from textual.geometry import Region
from textual.scrollbar import ScrollBar
from textual.widgets import Static

from tui_assistant.ui.widgets.lean_scrollbar import LeanScrollBar, lean_vertical_scrollbar


class LeanScroll(VerticalScroll):
    @property
    def vertical_scrollbar(self) -> ScrollBar:
        return lean_vertical_scrollbar(self)


class Pair(App):
    """The same content in a stock scroller and in one with the lean bar, side by side."""

    CSS = "Horizontal { height: 1fr; } VerticalScroll { width: 1fr; height: 1fr; }"

    def __init__(self, lines: int) -> None:
        super().__init__()
        self.lines = lines

    def compose(self) -> ComposeResult:
        from textual.containers import Horizontal

        with Horizontal():
            yield VerticalScroll(*self._content(), id="stock")
            yield LeanScroll(*self._content(), id="lean")

    def _content(self) -> list[Static]:
        return [Static(f"line {i}") for i in range(self.lines)]


def record_redrawn_rows(app: App) -> list[tuple[int, int, int]]:
    """From now on, collect the (y, x1, x2) spans of every update sent to the terminal."""
    sent: list[tuple[int, int, int]] = []
    display = app._display

    def record(screen, update):
        if isinstance(update, ChopsUpdate):
            sent.extend(update.spans)
        elif isinstance(update, LayoutUpdate):  # a whole-screen update, as a theme change
            region = update.region
            sent.extend((y, region.x, region.right) for y in range(region.y, region.bottom))
        display(screen, update)

    app._display = record
    return sent


def redrawn(bar: ScrollBar, sent: list[tuple[int, int, int]]) -> bool:
    """Whether any of the ``sent`` spans covers the bar's column."""
    region = bar.region
    return any(region.y <= y < region.bottom and x1 <= region.x < x2 for y, x1, x2 in sent)


def column(bar: ScrollBar) -> list[tuple[str, object]]:
    """What ``bar`` draws: per line, its text and style."""
    strips = bar.render_lines(Region(0, 0, *bar.size))
    return [(strip.text, [segment.style for segment in strip]) for strip in strips]


@pytest.mark.parametrize("lines", [30, 57, 200, 1000])
async def test_lean_bar_draws_what_the_stock_bar_draws(lines: int) -> None:
    app = Pair(lines)
    async with app.run_test(size=(60, 20)) as pilot:
        stock = app.query_one("#stock", VerticalScroll)
        lean = app.query_one("#lean", VerticalScroll)
        assert isinstance(lean.vertical_scrollbar, LeanScrollBar)
        assert not isinstance(stock.vertical_scrollbar, LeanScrollBar)
        for fraction in (0.0, 0.13, 0.5, 0.77, 1.0):
            for scroller in (stock, lean):
                scroller.scroll_to(y=scroller.max_scroll_y * fraction, animate=False)
            await pilot.pause()
            assert lean.vertical_scrollbar.position == stock.vertical_scrollbar.position
            assert column(lean.vertical_scrollbar) == column(stock.vertical_scrollbar)


async def test_lean_bar_follows_scrolling_and_hover_on_screen() -> None:
    app = Pair(300)
    async with app.run_test(size=(60, 20)) as pilot:
        stock = app.query_one("#stock", VerticalScroll)
        lean = app.query_one("#lean", VerticalScroll)

        def on_screen(scroller: VerticalScroll) -> list[tuple[bool, object]]:
            # The bar's column as the screen shows it: (reversed?, colour) per row.
            bar = scroller.vertical_scrollbar
            x = bar.region.x
            styles = [app.screen.get_style_at(x, y) for y in range(bar.region.y, bar.region.bottom)]
            return [(bool(style.reverse), style.color) for style in styles]

        top = on_screen(lean)
        for scroller in (stock, lean):
            scroller.scroll_to(y=scroller.max_scroll_y * 0.6, animate=False)
        await pilot.pause()
        assert on_screen(lean) != top
        assert on_screen(lean) == on_screen(stock)

        # Hovering changes only the bar's colours: no layout, no scroll; the bar must
        # still be repainted.
        # Hovering changes only the bar's colours: no layout, no scroll. The bar must
        # still be sent to the terminal again.
        sent = record_redrawn_rows(app)
        before = on_screen(lean)
        for scroller in (stock, lean):
            scroller.vertical_scrollbar.mouse_over = True
        await pilot.pause()
        await pilot.pause()
        assert on_screen(lean) != before
        assert on_screen(lean) == on_screen(stock)
        for scroller in (stock, lean):
            assert redrawn(scroller.vertical_scrollbar, sent), f"#{scroller.id}'s bar"


async def test_lean_bar_is_redrawn_in_a_new_theme() -> None:
    app = Pair(300)
    async with app.run_test(size=(60, 20)) as pilot:
        lean = app.query_one("#lean", VerticalScroll)
        stock = app.query_one("#stock", VerticalScroll)
        sent = record_redrawn_rows(app)
        before = column(lean.vertical_scrollbar)
        app.theme = "textual-light" if app.current_theme.dark else "textual-dark"
        await pilot.pause()
        await pilot.pause()
        assert column(lean.vertical_scrollbar) != before
        assert column(lean.vertical_scrollbar) == column(stock.vertical_scrollbar)
        assert redrawn(lean.vertical_scrollbar, sent)
