"""Full-text search from the app: threads that are not open, older pages, the palette."""

from __future__ import annotations

from tests.support.app import (
    SIZE,
    client_for,
    make_app,
    ready,
    say,
    shown,
    turn_done,
    wait_for,
)
from tui_assistant.store import CachedMessage, Store
from tui_assistant.ui.screens.search import HitOption, SearchScreen
from tui_assistant.ui.widgets.reading_conversation import ReadingConversation


def hit_titles(app) -> list[str]:
    screen = app.screen
    assert isinstance(screen, SearchScreen)
    return [h.title for h in screen.hits]


async def test_search_finds_a_message_in_a_thread_that_is_not_open(store: Store) -> None:
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await say(pilot, "where do ospreys nest")
        await turn_done(pilot, screen, replies=1)
        await pilot.press("ctrl+n")
        await say(pilot, "bake sourdough bread")
        await turn_done(pilot, screen, replies=1)
        osprey_thread = next(t for t in store.list_threads("local") if "ospreys" in t.title)
        assert screen.workspace.current.thread_id != osprey_thread.thread_id

        await pilot.press("ctrl+f")
        await wait_for(pilot, lambda: isinstance(app.screen, SearchScreen), "the search")
        await pilot.press(*"ospre")  # a prefix of the last word finds it while typing
        await wait_for(pilot, lambda: hit_titles(app), "hits")
        search = app.screen
        assert set(hit_titles(app)) == {"where do ospreys nest"}
        # The demo reply repeats the words, so the user message and the reply both match.
        roles = {h.role for h in search.hits}
        assert roles == {"user", "assistant"}
        rendered = str(search.results.get_option_at_index(0).prompt)
        assert "where do ospreys nest" in rendered and "ospreys" in rendered

        await pilot.press("down", "enter")  # choose the highlighted hit from the list
        await wait_for(pilot, lambda: screen.workspace.current is not None
                       and screen.workspace.current.thread_id == osprey_thread.thread_id,
                       "the thread")
        conversation = screen.conversation
        assert isinstance(conversation, ReadingConversation)
        await wait_for(pilot, lambda: conversation.selected is not None
                       and conversation.selected.message_id == search.hits[0].message_id,
                       "the message to be selected")
        assert app.focused is conversation
        assert shown(screen)[0] == ("user", "where do ospreys nest")

        # No match says so.
        await pilot.press("ctrl+f")
        await wait_for(pilot, lambda: isinstance(app.screen, SearchScreen), "the search")
        await pilot.press(*"zebras")
        await pilot.pause()
        assert hit_titles(app) == []
        assert "No message matches" in str(app.screen.query_one("#status").render())
        await pilot.press("escape")


async def test_a_hit_in_an_older_page_loads_history_until_it_is_shown(
    store: Store, start_server
) -> None:
    server = start_server()
    client = client_for(server)
    assistant = (await client.beta.assistants.list()).data[0]
    thread = await client.beta.threads.create()
    ids = []
    for i in range(130):
        text = "the word aardvark appears once" if i == 3 else f"filler message {i}"
        message = await client.beta.threads.messages.create(thread.id, role="user", content=text)
        ids.append(message.id)
    await client.close()
    # An earlier session cached the whole thread; today another thread is open.
    store.add_thread("local", thread.id, assistant.id, "Long notes")
    store.cache_messages("local", thread.id, [
        CachedMessage(ids[i], "user",
                      "the word aardvark appears once" if i == 3 else f"filler message {i}",
                      float(i)) for i in range(130)
    ])
    app = make_app(store, server=server)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        assert screen.workspace.current is None
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"search messages")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, SearchScreen), "the search")
        await pilot.press(*"aardvark")
        await wait_for(pilot, lambda: hit_titles(app) == ["Long notes"], "the hit")
        assert isinstance(app.screen.results.get_option_at_index(0), HitOption)
        await pilot.press("enter")  # enter in the box opens the first hit
        conversation = screen.conversation
        await wait_for(pilot, lambda: conversation.selected is not None
                       and conversation.selected.message_id == ids[3], "the old message")
        assert conversation.loaded_count >= 127  # older pages were loaded to reach it
        view = conversation.selected
        await pilot.pause()
        top, bottom = conversation.scroll_y, conversation.scroll_y + conversation.size.height
        assert top <= view.virtual_region.y < bottom  # and it is on screen


async def test_replies_are_searchable_as_soon_as_they_finish(store: Store) -> None:
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await say(pilot, "quetzal")
        await turn_done(pilot, screen, replies=1)
        hits = store.search_messages("local", "quetzal")
        assert {h.role for h in hits} == {"user", "assistant"}
        # One row per message: the reply cached while streaming and again after the run.
        assert len(hits) == 2
