"""``PaneMessage``: what a pane posts about itself to the screen."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message
from textual.widget import Widget

__all__ = ["PaneMessage"]


@dataclass
class PaneMessage(Message):
    """A message posted by ``pane``, which is its ``control`` (so a handler's selector,
    ``@on(ThreadsPane.Changed, "#threads-pane")``, matches the pane)."""

    pane: Widget

    @property
    def control(self) -> Widget:
        return self.pane
