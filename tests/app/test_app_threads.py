"""Threads as a user manages them: rows, filter, rename, pin, archive, delete, adopt.

Real keys through Pilot, the app's own local server (or one started by the test) on
127.0.0.1, and the real store.
"""

from __future__ import annotations

import pytest

from tests.support.app import (
    SIZE,
    client_for,
    main_screen,
    make_app,
    ready,
    say,
    shown,
    turn_done,
    wait_for,
)
from tui_assistant import paths
from tui_assistant.config import Profile
from tui_assistant.store import Store
from tui_assistant.ui.screens.dialogs import ConfirmDialog, TextPrompt
from tui_assistant.ui.screens.main import MainScreen
from tui_assistant.ui.widgets.thread_list import ROW_HEIGHT


def row_text(screen: MainScreen, index: int) -> str:
    """What the thread list shows for row ``index`` (both lines)."""
    threads = screen.threads
    threads.scroll_to(y=index * ROW_HEIGHT, animate=False)
    top = index * ROW_HEIGHT - round(threads.scroll_y)
    return "\n".join(threads.render_line(top + i).text.strip() for i in range(ROW_HEIGHT))


def titles(screen: MainScreen) -> list[str]:
    return [t.title for t in screen.threads.threads]


async def make_threads(pilot, screen: MainScreen, texts: list[str]) -> None:
    for n, text in enumerate(texts):
        if n:
            await pilot.press("ctrl+n")
        await say(pilot, text)
        await turn_done(pilot, screen, replies=1)


async def answer(pilot, screen_type: type, *keys: str) -> None:
    """Wait for a dialog of ``screen_type`` and press ``keys`` in it."""
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, screen_type), screen_type.__name__)
    await pilot.pause()
    await pilot.press(*keys)


async def test_rows_show_title_assistant_time_and_preview(store: Store) -> None:
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await say(pilot, "tell me about kestrels")
        await turn_done(pilot, screen, replies=1)
        await wait_for(pilot, lambda: "On “tell" in row_text(screen, 0), "the preview")
        first, second = row_text(screen, 0).split("\n")
        assert first.startswith("▌tell me about kestrels") and first.endswith("now")
        # The preview is the last message: the demo reply's first words (Markdown removed);
        # with one assistant for every thread its name is not repeated on each row.
        assert second.startswith("On “tell")
        kestrels = screen.workspace.current.thread_id
        store.add_thread("local", "thread_other", "asst_other", "Other")
        screen.threads_pane.reload()

        def row() -> str:
            return row_text(screen, screen.threads.index_of(kestrels) or 0)

        await wait_for(pilot, lambda: "Demo assistant" in row(), "the name")
        assert row().split("\n")[1].startswith("Demo assistant · On “tell")


async def test_filter_narrows_the_list_as_you_type_and_opens_a_match(store: Store) -> None:
    for i, title in enumerate(["Kestrel notes", "Falcon facts", "Corn flakes", "Owl lore"]):
        store.add_thread("local", f"thread_{i}", "asst_x", title)
        store.touch("local", f"thread_{i}", preview=f"preview of {title}", when=1000 + i)
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        assert titles(screen) == ["Owl lore", "Corn flakes", "Falcon facts", "Kestrel notes"]
        await pilot.press("ctrl+l")
        assert app.focused is screen.threads_pane.filter
        await pilot.press(*"fl")
        assert titles(screen) == ["Corn flakes"]  # "Falcon facts" has no "fl"
        await pilot.press("backspace", "backspace", *"facts")
        assert titles(screen) == ["Falcon facts"]
        await pilot.press("ctrl+a", "ctrl+k", *"of kest")  # every word must match
        assert titles(screen) == ["Kestrel notes"]
        await pilot.press("down")
        assert app.focused is screen.threads and screen.threads.highlighted == 0
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.workspace.current is not None
                       and screen.workspace.current.thread_id == "thread_0", "the match to open")
        await pilot.press("ctrl+l", "escape")  # escape clears the filter
        assert len(screen.threads.threads) == 4
        # A click opens the row under the pointer (row 2: the third thread, two lines each).
        await pilot.click(screen.threads, offset=(3, 2 * ROW_HEIGHT + 1))
        await wait_for(pilot, lambda: screen.workspace.current.thread_id == "thread_1", "the click")


async def test_rename_with_f2_and_from_the_palette(store: Store) -> None:
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await say(pilot, "first words become the title")
        await turn_done(pilot, screen, replies=1)
        assert titles(screen) == ["first words become the title"]

        await pilot.press("f2")
        await answer(pilot, TextPrompt, "ctrl+a", "ctrl+k", *"Birds of prey", "enter")
        await wait_for(pilot, lambda: titles(screen) == ["Birds of prey"], "the new title")
        assert store.list_threads("local")[0].title == "Birds of prey"
        assert screen.workspace.current.title == "Birds of prey"

        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"rename thread")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await answer(pilot, TextPrompt, "ctrl+a", "ctrl+k", *"Raptors", "enter")
        await wait_for(pilot, lambda: titles(screen) == ["Raptors"], "the palette rename")

        # Escape leaves the title alone.
        await pilot.press("f2")
        await answer(pilot, TextPrompt, *"nope", "escape")
        await pilot.pause()
        assert titles(screen) == ["Raptors"]


async def test_pin_and_archive_from_the_thread_list(store: Store) -> None:
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await make_threads(pilot, screen, ["alpha", "beta", "gamma"])
        assert titles(screen) == ["gamma", "beta", "alpha"]
        threads = screen.threads
        threads.focus()
        threads.highlighted = 2
        await pilot.press("p")  # pin alpha: it goes to the top
        await wait_for(pilot, lambda: titles(screen) == ["alpha", "gamma", "beta"], "the pin")
        assert row_text(screen, 0).startswith("▲ alpha")
        assert threads.highlighted == 0  # the cursor follows the thread

        threads.highlighted = 2
        await pilot.press("a")  # archive beta: hidden
        await wait_for(pilot, lambda: titles(screen) == ["alpha", "gamma"], "the archive")
        assert [t.title for t in store.list_threads("local", include_archived=True)] == [
            "alpha", "gamma", "beta"]

        await pilot.press("A")  # show archived threads
        await wait_for(pilot, lambda: titles(screen) == ["alpha", "gamma", "beta"], "archived")
        assert "archived ·" in row_text(screen, 2)
        threads.highlighted = 2
        await pilot.press("a")  # unarchive
        await wait_for(pilot, lambda: not store.get_thread(
            "local", threads.threads[2].thread_id).archived, "the unarchive")
        await pilot.press("A")
        assert titles(screen) == ["alpha", "gamma", "beta"]

        threads.highlighted = 0
        await pilot.press("p")  # unpin
        await wait_for(pilot, lambda: titles(screen) == ["gamma", "beta", "alpha"], "unpin")


async def test_delete_asks_first_and_the_thread_stays_gone_after_a_restart(
    store: Store, start_server
) -> None:
    server = start_server()
    app = make_app(store, server=server)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await make_threads(pilot, screen, ["keep me", "delete me"])
        doomed = screen.workspace.current.thread_id

        await pilot.press("f2")  # (a rename dialog, closed: just to show focus returns)
        await answer(pilot, TextPrompt, "escape")

        screen.threads.focus()
        screen.threads.highlighted = 0
        await pilot.press("delete")
        await answer(pilot, ConfirmDialog, "escape")  # cancelled: nothing happens
        await pilot.pause()
        assert titles(screen) == ["delete me", "keep me"]

        await pilot.press("delete")
        await answer(pilot, ConfirmDialog, "tab", "enter")  # Cancel has the focus
        await wait_for(pilot, lambda: titles(screen) == ["keep me"], "the delete")
        assert screen.workspace.current is None and shown(screen) == []  # it was open
        client = client_for(server)
        from openai import NotFoundError

        with pytest.raises(NotFoundError):
            await client.beta.threads.retrieve(doomed)
        await client.close()
    store.close()

    reopened = Store.open(paths.store_path())
    try:
        async with make_app(reopened, server=server).run_test(size=SIZE) as pilot:
            screen = await ready(pilot)
            assert titles(screen) == ["keep me"]
            assert reopened.get_thread("local", doomed) is None
    finally:
        reopened.close()


async def test_a_thread_already_gone_remotely_is_still_removed_here(
    store: Store, start_server
) -> None:
    server = start_server()
    app = make_app(store, server=server)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await say(pilot, "soon gone")
        await turn_done(pilot, screen, replies=1)
        client = client_for(server)
        await client.beta.threads.delete(screen.workspace.current.thread_id)
        await client.close()
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"delete thread")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await answer(pilot, ConfirmDialog, "tab", "enter")  # Cancel has the focus
        await wait_for(pilot, lambda: titles(screen) == [], "the local removal")
        assert store.list_threads("local", include_archived=True) == []


async def test_offline_delete_asks_again_and_removes_only_the_local_copy(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TUI_TEST_KEY", "sk-test")
    profile = Profile(name="gone", base_url="http://127.0.0.1:9/v1", api_key_env="TUI_TEST_KEY")
    store.add_thread(profile.endpoint_key, "thread_offline", "asst_1", "Offline thread")
    app = make_app(store, profile=profile)
    async with app.run_test(size=SIZE) as pilot:
        screen = main_screen(app)
        await wait_for(pilot, lambda: screen.header.status == "offline", "the failure")
        screen.threads.focus()
        screen.threads.highlighted = 0
        await pilot.press("delete")
        await answer(pilot, ConfirmDialog, "tab", "enter")  # Cancel has the focus
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog)
                       and "did not delete" in app.screen.title_text, "the second question")
        await pilot.pause()
        await pilot.press("tab", "enter")
        await wait_for(pilot, lambda: titles(screen) == [], "the local removal")
        assert store.get_thread(profile.endpoint_key, "thread_offline") is None


async def script_thread(server) -> str:
    """A thread made by a script, not by the app: two messages and a finished run."""
    client = client_for(server)
    assistant = (await client.beta.assistants.list()).data[0]
    thread = await client.beta.threads.create()
    await client.beta.threads.messages.create(thread.id, role="user",
                                              content="Summarise the quarterly report")
    run = await client.beta.threads.runs.create_and_poll(thread_id=thread.id,
                                                         assistant_id=assistant.id)
    assert run.status == "completed"
    await client.close()
    return thread.id


async def test_open_a_thread_created_elsewhere_from_the_palette(
    store: Store, start_server
) -> None:
    server = start_server()
    thread_id = await script_thread(server)
    app = make_app(store, server=server)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"open thread by id")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await answer(pilot, TextPrompt, *"not a thread!", "enter")
        await pilot.pause()
        assert isinstance(app.screen, TextPrompt)  # refused, still asking
        await pilot.press("ctrl+a", "ctrl+k", *thread_id, "enter")
        await wait_for(pilot, lambda: screen.workspace.current is not None
                       and screen.workspace.current.thread_id == thread_id
                       and len(shown(screen)) == 2, "the adopted thread and its history")
        assert shown(screen)[0] == ("user", "Summarise the quarterly report")
        saved = store.get_thread("local", thread_id)
        assert saved.title == "Summarise the quarterly report"
        assert saved.assistant_id.startswith("asst_")
        assert titles(screen) == ["Summarise the quarterly report"]

        # An id the endpoint does not know is explained and not saved.
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"open thread by id")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await answer(pilot, TextPrompt, *"thread_doesnotexist", "enter")
        await wait_for(pilot, lambda: any("Could not open" in (n.title or "")
                                          for n in app._notifications), "the explanation")
        assert store.get_thread("local", "thread_doesnotexist") is None


async def test_the_app_opens_the_thread_the_command_line_names(
    store: Store, start_server
) -> None:
    server = start_server()
    thread_id = await script_thread(server)
    app = make_app(store, server=server)
    app.open_thread_id = thread_id  # what `tui-assistant open THREAD_ID` passes
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await wait_for(pilot, lambda: screen.workspace.current is not None
                       and screen.workspace.current.thread_id == thread_id
                       and len(shown(screen)) == 2, "the thread from the command line")
        await say(pilot, "and the risks?")
        await turn_done(pilot, screen, replies=2)
        assert store.get_thread("local", thread_id) is not None


async def test_ten_thousand_threads_open_filter_and_stay_editable(store: Store) -> None:
    import time

    now = time.time()
    with store._transaction() as db:
        db.executemany(
            "INSERT INTO threads VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [("local", f"thread_{i:05d}", "asst_x", f"Saved thread number {i}",
              now - i * 60, now - i * 60, f"words of thread {i}", 0, 0) for i in range(10_000)],
        )
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        screen = main_screen(app)
        # The first screenful is there at once; the rest arrives right after.
        assert 0 < len(screen.threads.all_threads) <= 200
        await wait_for(pilot, lambda: len(screen.threads.all_threads) == 10_000, "all threads")
        await ready(pilot)

        await pilot.press("ctrl+l", *"number 9999")
        assert titles(screen) == ["Saved thread number 9999"]
        screen.threads.set_filter("number 99")  # its speed: bench/threads.py
        expected = [f"Saved thread number {i}" for i in range(10_000) if "99" in str(i)]
        assert titles(screen) == expected

        # Rename the oldest thread, far down the list: the change shows.
        await pilot.press("ctrl+a", "ctrl+k", *"9999", "down")
        assert screen.threads.highlighted_thread.thread_id == "thread_09999"
        await pilot.press("f2")
        await answer(pilot, TextPrompt, "ctrl+a", "ctrl+k", *"Oldest of all", "enter")
        await wait_for(pilot, lambda: store.get_thread("local", "thread_09999").title
                       == "Oldest of all", "the rename")
        await pilot.press("ctrl+l", "ctrl+a", "ctrl+k", *"oldest")
        await wait_for(pilot, lambda: titles(screen) == ["Oldest of all"], "the new title")
        await pilot.press("escape")
        await wait_for(pilot, lambda: len(screen.threads.threads) == 10_000, "the whole list")
