"""A long thread opened from the local cache shows its newest messages first and the
rest of the cached page right after, in order, scrolled to the newest (issue 12)."""

from __future__ import annotations

import asyncio
import time

from tui_assistant.config import Settings, resolve_profile
from tui_assistant.store import CachedMessage, Store
from tui_assistant.ui.app import TuiAssistantApp
from tui_assistant.ui.screens.main import MainScreen


async def test_cached_thread_opens_at_its_newest_and_fills_in_order(store: Store):
    settings = Settings()
    profile = resolve_profile(settings, env={})
    store.add_thread(profile.endpoint_key, "thread_long", "asst_1", "Long")
    store.cache_messages(profile.endpoint_key, "thread_long", [
        CachedMessage(f"msg_{i:03d}", "user" if i % 2 == 0 else "assistant",
                      f"cached message {i}", 1_760_000_000 + i)
        for i in range(120)
    ])
    store.set_state(f"last_thread:{profile.endpoint_key}", "thread_long")

    async def never_connects(profile, settings):
        await asyncio.Event().wait()

    app = TuiAssistantApp(settings=settings, profile=profile, store=store,
                          connector=never_connects)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, MainScreen)
        conversation = screen.conversation
        deadline = time.monotonic() + 15
        while len(conversation.message_views) < 50:
            assert time.monotonic() < deadline, len(conversation.message_views)
            await pilot.pause(0.02)
        await pilot.pause(0.1)
        texts = [v.text for v in conversation.message_views]
        assert texts == [f"cached message {i}" for i in range(70, 120)]
        assert conversation.scroll_y == conversation.max_scroll_y  # still at the newest
