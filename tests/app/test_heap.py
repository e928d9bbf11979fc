"""The collector policy (ui/heap.py): full collections from a timer, strips out of cycles."""

from __future__ import annotations

import gc

from rich.segment import Segment
from rich.style import Style
from textual.app import App
from textual.strip import Strip

from tests.support.app import make_app, ready
from tui_assistant.ui import heap
from tui_assistant.ui.heap import DUE, POSTPONED, TimedCollections, release_strip_cycles


def _cycle() -> None:
    box: list[object] = []
    box.append(box)


def test_a_strip_painted_at_its_own_width_needs_no_cycle_collector() -> None:
    """The compositor divides every painted line at its width; that must not keep the
    strip in a cycle with its own cache (garbage only a full collection frees)."""
    release_strip_cycles()
    style = Style(bold=True)
    strip = Strip([Segment("hello", style)])
    assert strip.divide([5]) == [strip] and strip.divide([5, 9]) == [strip]
    assert strip.crop_extend(0, 5, None) is strip
    assert strip.crop_extend(0, 8, style).text == "hello   "
    assert [s.text for s in strip.divide([2, 5])] == ["he", "llo"]
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(50):
            line = Strip([Segment("a line of text", style)])
            line.divide([line.cell_length])
            line.crop_extend(0, line.cell_length, style)
            del line
        assert gc.collect() == 0  # every strip was freed when it was dropped
    finally:
        if enabled:
            gc.enable()


async def test_full_collections_come_from_the_timer_while_an_app_runs() -> None:
    saved = gc.get_threshold()
    collections: list[int] = []

    def seen(phase: str, info: dict) -> None:
        if phase == "stop" and info["generation"] == 2:
            collections.append(1)

    timed = TimedCollections()
    gc.callbacks.append(seen)
    try:
        async with App().run_test() as pilot:
            timed.start(pilot.app)
            assert gc.get_threshold()[2] == POSTPONED  # CPython starts none by itself
            collections.clear()
            while gc.get_count()[2] < DUE:
                for _ in range(1000):
                    _cycle()
            await pilot.pause(heap.CHECK_EVERY * 4)
            assert collections, "no full collection ran once one was due"
            assert gc.get_count()[2] < DUE
            timed.stop()
        assert gc.get_threshold() == saved
    finally:
        gc.callbacks.remove(seen)
        gc.set_threshold(*saved)


async def test_the_app_postpones_full_collections_until_it_ends(store, local_server) -> None:
    saved = gc.get_threshold()
    app = make_app(store, server=local_server)
    async with app.run_test() as pilot:
        await ready(pilot)
        assert gc.get_threshold()[2] == POSTPONED
    assert gc.get_threshold() == saved
