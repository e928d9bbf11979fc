"""The command palette shows each command's keys, as remapped (issue 12, "Also")."""

from __future__ import annotations

from textual.command import CommandList, CommandPalette

from tests.support.app import SIZE, ready, wait_for
from tui_assistant.config import Settings, resolve_profile
from tui_assistant.store import Store
from tui_assistant.ui.app import TuiAssistantApp


def palette_lines(app) -> list[str]:
    found = app.screen.query(CommandList)
    if not found:
        return []
    options = found.first()
    return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]


async def test_palette_commands_show_their_keys(store: Store) -> None:
    settings = Settings(keymap={"thread.rename": "f3"})
    app = TuiAssistantApp(settings=settings, profile=resolve_profile(settings, env={}),
                          store=store)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), "the palette")
        await pilot.press(*"rename thread")
        await wait_for(pilot, lambda: any("Rename thread" in line for line in palette_lines(app)),
                       "the command")
        (line,) = [line for line in palette_lines(app) if "Rename thread" in line]
        assert "f3" in line.lower() and "f2" not in line.lower()  # the key as remapped
