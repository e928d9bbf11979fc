"""The garbage collector: one place for the app's collector policy.

**Start-up** makes some hundred thousand objects that live as long as the app (modules,
classes, the SDK's models) and no garbage cycles worth a pass of the collector, which
would scan them again and again (~25% of the time to import the SDK). So ``cli`` turns
the collector off before the UI is imported (``pause_gc``), and it comes back on when
the app is connected (``resume_gc``). The start-up objects are then frozen
(``gc.freeze``) once a process, when the app is connected or the first history is shown,
whichever comes first (``freeze_startup_heap``): no later full collection walks them.

**Full collections get a turn of their own.** A full collection stops the event loop for
as long as it takes to walk every object tracked. CPython starts one inside whatever
allocates when the objects that outlived two younger collections have grown by a
quarter -- while a long thread is scrolled, that is in the middle of mounting messages,
and the two together made pauses of 60-140 ms. While the app runs (``TimedCollections``),
CPython does only the young collections, which are short, and a timer runs the full one
once ``DUE`` young collections have passed since the last: at most ``CHECK_EVERY`` late,
in a turn of the event loop with nothing else in it.

**Cycles Textual would leave.** ``Strip.divide`` at a strip's own width and
``Strip.crop_extend`` to its own width return the strip itself and also keep it in the
strip's own cache: a reference cycle. The compositor divides every line it paints, so
every painted strip (with its seven caches and its segments) was garbage only a full
collection could free: two thirds of the objects a scroll through a long thread left
behind. ``release_strip_cycles`` answers those two calls before the cache is consulted
(the same strip, as before) so such strips are freed as soon as they are dropped.
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from textual.app import App
    from textual.timer import Timer

__all__ = [
    "TimedCollections",
    "freeze_startup_heap",
    "pause_gc",
    "release_strip_cycles",
    "resume_gc",
]

DUE = 5
"""Young collections after which a full collection is due: half of CPython's 10, so
each walks less garbage (with a long thread open, 15-30 ms instead of 20-55)."""
CHECK_EVERY = 0.1
"""Seconds between two looks at whether a full collection is due."""
POSTPONED = 1 << 30
"""The oldest generation's threshold while full collections are postponed: never."""

_frozen = False


def pause_gc() -> None:
    """Start-up begins: no collections until ``resume_gc``."""
    gc.disable()


def freeze_startup_heap() -> None:
    """Leave what exists now out of every later full collection (once a process)."""
    global _frozen
    if not _frozen:
        _frozen = True
        gc.freeze()


def resume_gc() -> None:
    """Start-up is over: freeze its objects and turn the collector back on, if
    ``pause_gc`` turned it off."""
    if not gc.isenabled():
        freeze_startup_heap()
        gc.enable()


class TimedCollections:
    """Full collections from a timer while an app runs (see above).

    ``start(app)`` when the app is mounted, ``stop()`` when it ends: the thresholds are
    put back, so a process that runs many apps (the tests) keeps CPython's policy
    between them."""

    def __init__(self) -> None:
        self._saved: tuple[int, ...] | None = None
        self._timer: Timer | None = None

    def start(self, app: App) -> None:
        if self._saved is None:
            self._saved = gc.get_threshold()
            gc.set_threshold(self._saved[0], self._saved[1], POSTPONED)
        self._timer = app.set_interval(CHECK_EVERY, self.collect_if_due, name="gc")

    def collect_if_due(self) -> bool:
        """Run a full collection if one is due; returns whether it ran."""
        if gc.get_count()[2] < DUE or not gc.isenabled():
            return False
        gc.collect()
        return True

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if self._saved is not None:
            gc.set_threshold(*self._saved)
            self._saved = None


_released = False


def release_strip_cycles() -> None:
    """Keep Textual's strips out of reference cycles with themselves (once a process)."""
    global _released
    if _released:
        return
    _released = True
    from textual.strip import Strip

    divide, crop_extend = Strip.divide, Strip.crop_extend

    def divide_once(self: Strip, cuts):
        cuts = [cut for cut in cuts if cut <= self.cell_length]  # as upstream does
        if cuts == [self.cell_length]:
            return [self]  # upstream: the same, after caching it in the strip itself
        return divide(self, cuts)

    def crop_extend_once(self: Strip, start: int, end: int, style):
        if start == 0 and end == self.cell_length:
            return self  # upstream: the same, after caching it in the strip itself
        return crop_extend(self, start, end, style)

    Strip.divide = divide_once  # type: ignore[method-assign]
    Strip.crop_extend = crop_extend_once  # type: ignore[method-assign]
