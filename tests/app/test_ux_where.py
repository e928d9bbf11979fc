"""Where am I, and what can I do now: the open thread is marked, its title is in the
header, replies carry the assistant's name, the thread pane resizes from the keyboard;
page keys scroll the conversation from the composer and new text below is announced;
F9 writes a cancelled reply again and says when there is nothing to retry."""

from __future__ import annotations

import asyncio

from tests.support.app import SIZE, client_for, make_app, ready, say, turn_done, wait_for
from tui_assistant.server.models import DemoModel
from tui_assistant.store import Store
from tui_assistant.ui.screens.dialogs import TextPrompt
from tui_assistant.ui.widgets.conversation import BelowHint


async def test_the_open_thread_is_marked_named_and_its_pane_resizes(store: Store) -> None:
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await say(pilot, "tell me about kestrels")
        await turn_done(pilot, screen, replies=1)
        thread = screen.workspace.current
        assert thread is not None
        assert screen.threads.open_id == thread.thread_id
        assert screen.threads.render_line(0).text.startswith("▌")
        assert "tell me about kestrels" in str(screen.header.render())
        reply = screen.conversation.message_views[-1]
        assert reply.role == "assistant" and reply.author == "Demo assistant"
        assert str(reply._label()).startswith("Demo assistant")

        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, TextPrompt), "the rename prompt")
        assert "tell me about kestrels" in app.screen.title_text
        await pilot.press("escape")

        before = screen.threads_pane.outer_size.width
        await pilot.press("alt+right")
        await pilot.pause()
        assert screen.threads_pane.outer_size.width == before + 4

        await pilot.press("f9")  # the reply finished: nothing to retry, and it says so
        await wait_for(pilot, lambda: any("Nothing to retry" in n.message
                                          for n in app._notifications), "the explanation")
    again = make_app(store)
    async with again.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        assert screen.threads_pane.outer_size.width == before + 4
        assert "tell me about kestrels" in str(screen.header.render())


async def test_page_keys_scroll_while_typing_and_f9_writes_a_cancelled_reply_again(
    store: Store, start_server
) -> None:
    model = DemoModel(token_delay=0.01)
    server = start_server(model=model)
    app = make_app(store, server=server)
    long_reply = model.reply_for("/long")
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        conversation = screen.conversation
        await say(pilot, "/long")
        await wait_for(pilot, lambda: len(conversation.message_views) == 2
                       and conversation.max_scroll_y > 20, "the reply to fill the view")
        assert app.focused is screen.composer
        await pilot.press("pageup")
        await wait_for(pilot, lambda: conversation.query_children(BelowHint),
                       "the note that new text is arriving below")
        assert conversation.max_scroll_y - conversation.scroll_y > 1
        await pilot.press("ctrl+end")
        await wait_for(pilot, lambda: not conversation.query_children(BelowHint),
                       "the note to go at the bottom")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not screen.workspace.live, "the cancel")
        await app.workers.wait_for_complete()
        assert len(conversation.message_views[-1].text) < len(long_reply)
        assert screen.workspace.can_retry()

        model.token_delay = 0.0  # the reply written again need not be watched
        await pilot.press("f9")
        await wait_for(pilot, lambda: not screen.workspace.live
                       and conversation.message_views[-1].text == long_reply,
                       "the reply written again")
        await turn_done(pilot, screen, replies=2)
        client = client_for(server)
        runs = await client.beta.threads.runs.list(screen.workspace.current.thread_id)
        await client.close()
        assert [r.status for r in runs.data] == ["completed", "cancelled"]


async def test_no_new_text_note_while_the_reply_still_fits_the_view(
    store: Store, start_server
) -> None:
    """A short conversation sits at the bottom of the pane (Textual scrolls it to a
    negative offset): nothing is below it, so the note must not show."""
    server = start_server(token_delay=0.03)
    app = make_app(store, server=server)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        conversation = screen.conversation
        await say(pilot, "a short question")
        await wait_for(pilot, lambda: conversation._streaming, "the reply to stream")
        seen = 0
        while screen.workspace.live:
            seen += 1
            assert not conversation.query_children(BelowHint), conversation.scroll_y
            await asyncio.sleep(0.05)
        assert seen > 10  # it was watched while streaming
        assert conversation.max_scroll_y == 0  # and it did fit


async def test_single_letter_keys_act_only_where_the_focus_shows(store: Store) -> None:
    """a, p and c are thread and message keys only while their pane visibly has the focus:
    typed in the composer or the filter they are text."""
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await say(pilot, "kestrels hover")
        await turn_done(pilot, screen, replies=1)
        thread = screen.workspace.current
        pane = screen.threads_pane
        calm = pane.styles.border_top[1]

        assert app.focused is screen.composer
        await pilot.press("a", "p", "c")
        assert screen.composer.text == "apc"
        saved = store.get_thread(thread.endpoint, thread.thread_id)
        assert not saved.archived and not saved.pinned
        assert app.clipboard == ""
        screen.composer.clear()

        await pilot.press("shift+tab", "shift+tab")  # conversation, then the thread list
        await wait_for(pilot, lambda: app.focused is pane.thread_list, "the list")
        assert pane.styles.border_top[1] != calm  # the pane's border says where keys go
        shown = [b.binding.key for b in app.active_bindings.values() if b.binding.show]
        assert shown[:3] == ["delete", "a", "p"]  # and the footer names them first
        await pilot.press("slash", "a", "p")  # the filter takes letters as text
        assert pane.filter.value == "ap"
        saved = store.get_thread(thread.endpoint, thread.thread_id)
        assert not saved.archived and not saved.pinned
        await pilot.press("escape")  # clears the filter and goes back to the list
        await wait_for(pilot, lambda: app.focused is pane.thread_list, "the list")
        await pilot.press("p")
        assert store.get_thread(thread.endpoint, thread.thread_id).pinned
