"""The garbage collector around start-up: one place for the app's collector policy.

Start-up makes some hundred thousand objects that live as long as the app (modules,
classes, the SDK's models) and no garbage cycles worth a pass of the collector, which
would scan them again and again (~25% of the time to import the SDK). So ``cli`` turns
the collector off before the UI is imported (``pause_gc``), and it comes back on when
the app is connected (``resume_gc``).

A full collection stops the event loop for as long as it takes to walk every object
tracked; with the start-up objects in, scrolling a long thread met one of 150-250 ms
about once a second, without them 30-85 ms (docs/architecture.md, "Long threads"). So
they are frozen (``gc.freeze``) once a process: when the app is connected or the first
history is shown, whichever comes first (``freeze_startup_heap``). Garbage of that
moment is kept too: a one-time cost of start-up leftovers.
"""

from __future__ import annotations

import gc

__all__ = ["freeze_startup_heap", "pause_gc", "resume_gc"]

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
