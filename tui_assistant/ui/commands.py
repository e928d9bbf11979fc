"""Command-palette providers, and the keys shown with the palette's commands."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import partial

from textual.app import SystemCommand
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.keys import format_key
from textual.screen import Screen

from tui_assistant.ui.sanitize import one_line


class ThreadCommands(Provider):
    """``Go to: <title>`` for every saved thread, fuzzy-matched."""

    def _threads(self):
        from tui_assistant.ui.screens.main import MainScreen

        screen = self.screen
        if not isinstance(screen, MainScreen):
            return None, []
        return screen, list(screen.threads.all_threads)

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


_WRITTEN_KEY = re.compile(r"\s*\((?:[Ff]\d{1,2}|(?:ctrl|alt|shift)\+[\w+]+)\)")


def with_keys(screen: Screen, commands: Iterable[SystemCommand]) -> Iterator[SystemCommand]:
    """``commands`` with the keys that run them (as remapped) added to their help.

    A command whose callback is a bound ``action_*`` method gets the keys of our bindings
    of that action on ``screen`` (the screen under the palette), with the pane they work
    in when that is not everywhere: the palette teaches the keys. Keys its help already
    names are not repeated.
    """
    from tui_assistant.ui.screens.help import key_rows

    keys_of: dict[str, list[tuple[str, str]]] = {}
    try:
        rows = key_rows(screen.app, screen)
    except Exception:  # a screen being torn down: no keys to show
        rows = []
    for row in rows:
        where = "" if row.area in ("Everywhere", "Main screen") else f" in the {row.area.lower()}"
        shown = keys_of.setdefault(row.action, [])
        for key in row.keys:
            if (key, where) not in shown:
                shown.append((key, where))
    for command in commands:
        name = getattr(command.callback, "__name__", "")
        keys = keys_of.get(name.removeprefix("action_"), []) if name.startswith("action_") else []
        if keys:
            # A key written into the help ("(F2)") may be remapped: show the real ones.
            help_text = _WRITTEN_KEY.sub("", command.help)
            shown = ", ".join(f"{format_key(key)}{where}" for key, where in keys)
            command = command._replace(help=f"{help_text}  ·  {shown}")
        yield command
