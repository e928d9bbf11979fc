"""Command-palette providers of the main screen (``MainScreen.COMMANDS``).

``ScreenCommands`` lists what ``screen.palette_commands()`` offers, each with the key that
does the same (as remapped); ``ThreadCommands`` offers ``Go to: <title>`` for every thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Protocol

from textual.command import DiscoveryHit, Hit, Hits, Provider

from tui_assistant.text import one_line
from tui_assistant.ui.keys import key_label


@dataclass(frozen=True)
class PaletteCommand:
    """One palette entry: what it is called, what it does, and its key's binding id."""

    name: str
    help: str
    callback: Callable[[], object]
    binding_id: str = ""


class HasPaletteCommands(Protocol):
    def palette_commands(self) -> Iterable[PaletteCommand]: ...


class ScreenCommands(Provider):
    """The screen's own commands, each with its key."""

    def _commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        screen = self.screen
        if not hasattr(screen, "palette_commands"):
            return []
        found = []
        for command in screen.palette_commands():  # type: ignore[attr-defined]
            key = key_label(self.app, command.binding_id) if command.binding_id else ""
            help_text = f"{command.help} ({key})" if key else command.help
            found.append((command.name, help_text, command.callback))
        return found

    async def discover(self) -> Hits:
        for name, help_text, callback in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)


class ThreadCommands(Provider):
    """``Go to: <title>`` for every saved thread, fuzzy-matched."""

    def _threads(self):
        screen = self.screen
        threads = getattr(screen, "threads", None)
        return screen, list(getattr(threads, "all_threads", []))

    async def discover(self) -> Hits:
        screen, threads = self._threads()
        for thread in threads[:10]:
            title = one_line(thread.title, 60) or "Untitled"
            yield DiscoveryHit(
                f"Go to: {title}", partial(screen.open_thread, thread),
                help=one_line(thread.preview, 80) or None,
            )

    async def search(self, query: str) -> Hits:
        screen, threads = self._threads()
        matcher = self.matcher(query)
        for thread in threads:
            title = one_line(thread.title, 60) or "Untitled"
            name = f"Go to: {title}"
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), partial(screen.open_thread, thread),
                          help=one_line(thread.preview, 80) or None)
