"""Command-palette providers."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from tui_assistant.text import one_line


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
