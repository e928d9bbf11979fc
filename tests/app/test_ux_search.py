"""Search snippets keep their spacing and show text, not Markdown (issue 12, item 6)."""

from __future__ import annotations

from pathlib import Path

from textual.app import App

from tui_assistant.store import CachedMessage, Store
from tui_assistant.ui.screens.search import SearchScreen

EP = "http://127.0.0.1:1/v1"
REPLY = (
    "## On “Tuesday”\n\n"
    "We meet **every Tuesday** at 14:00 in `room_4`; see [the plan](https://x.test/p).\n\n"
    "```python\nprint('x')\n```\n"
)


async def test_snippets_show_the_text_with_its_spaces(tmp_path: Path) -> None:
    with Store.open(tmp_path / "threads.sqlite3") as store:
        store.add_thread(EP, "t1", "a", "Meetings")
        store.cache_messages(EP, "t1", [CachedMessage("m1", "assistant", REPLY, 1.0)])

        app = App()
        async with app.run_test(size=(120, 30)) as pilot:
            app.push_screen(SearchScreen(lambda q: store.search_messages(EP, q), "tuesday"))
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, SearchScreen)
            options = screen.query_one("#hits")
            await pilot.pause()
            assert options.option_count == 1
            snippet = str(options.get_option_at_index(0).prompt).splitlines()[1]
    assert "On “Tuesday” We meet every Tuesday at 14:00 in room_4; see the plan" in snippet
    assert not any(mark in snippet for mark in ("##", "**", "`", "](", "```"))
