"""Keys as a terminal sends them reach the app's bindings."""

from __future__ import annotations

from textual._xterm_parser import XTermParser

from tui_assistant.config import Settings, resolve_profile
from tui_assistant.store import Store
from tui_assistant.ui.app import TuiAssistantApp


def parse(data: str) -> list[tuple[str, str | None]]:
    parser = XTermParser()
    events = [*parser.feed(data), *parser.feed("")]
    return [(e.key, e.character) for e in events if hasattr(e, "key")]


def test_escape_digit_from_a_terminal_is_alt_digit_once_the_app_exists(tmp_path) -> None:
    store = Store.open(tmp_path / "threads.sqlite3")
    try:
        settings = Settings()
        TuiAssistantApp(settings=settings, profile=resolve_profile(settings, env={}), store=store)
    finally:
        store.close()
    for digit in "123456789":
        # No character: the composer does not type it, the thread-jump binding gets it.
        assert parse(f"\x1b{digit}") == [(f"alt+{digit}", None)]
    # A symbol typed directly by a keyboard layout is still a symbol.
    assert parse("¡") == [("inverted_exclamation_mark", "¡")]
    assert parse("\x1b[1;3B") == [("alt+down", None)]
