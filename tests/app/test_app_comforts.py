"""Everyday comforts: copy, token usage, F1 help, remapped keys, remembered themes."""

from __future__ import annotations

import importlib
import inspect
import io
import pkgutil

from rich.console import Console
from textual.binding import Binding
from textual.dom import DOMNode

import tui_assistant.ui
from tests.support.app import (
    SIZE,
    make_app,
    ready,
    say,
    turn_done,
    wait_for,
)
from tui_assistant import paths
from tui_assistant.config import Settings, resolve_profile
from tui_assistant.server.models import DemoModel
from tui_assistant.store import Store
from tui_assistant.ui.app import TuiAssistantApp
from tui_assistant.ui.screens.dialogs import TextPrompt
from tui_assistant.ui.screens.help import FORBIDDEN_PRIMARY_KEYS, HelpScreen
from tui_assistant.ui.screens.search import SearchScreen


def app_with(store: Store, **settings) -> TuiAssistantApp:
    chosen = Settings(demo_token_delay=0.0, **settings)
    return TuiAssistantApp(settings=chosen, profile=resolve_profile(chosen, env={}), store=store)


def notified(app, words: str) -> bool:
    return any(words in str(n.message) for n in app._notifications)


# -- copy --------------------------------------------------------------------------------


async def test_copy_the_selected_message_or_its_code_block(store: Store) -> None:
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await say(pilot, "copy me please")
        await turn_done(pilot, screen, replies=1)
        reply = DemoModel().reply_for("copy me please")
        conversation = screen.conversation

        await pilot.press("shift+tab")  # from the composer back to the conversation
        await wait_for(pilot, lambda: app.focused is conversation, "the conversation")
        views = conversation.message_views
        assert conversation.selected is views[-1] and views[-1].has_class("-selected")

        await pilot.press("c")
        assert app.clipboard == reply.strip("\n")
        await wait_for(pilot, lambda: notified(app, "Copied the reply"), "the confirmation")

        await pilot.press("C")  # the reply's code block, without the fences
        assert app.clipboard.startswith("words = [") and "```" not in app.clipboard
        assert app.clipboard in reply
        await wait_for(pilot, lambda: notified(app, "Copied the code block"), "confirmation")

        await pilot.press("k")  # the user's message above
        assert conversation.selected is views[0]
        await pilot.press("c")
        assert app.clipboard == "copy me please"
        await pilot.press("C")
        assert notified(app, "no code block")
        await pilot.press("j", "down")  # stays on the last message
        assert conversation.selected is views[-1]

        # And from the palette, wherever the focus is.
        app.copy_to_clipboard("")
        screen.composer.focus()
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"copy last")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.clipboard == reply.strip("\n"), "the palette copy")


# -- usage -------------------------------------------------------------------------------


async def test_token_usage_per_run_and_per_thread_in_the_header(store: Store) -> None:
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        assert screen.header.usage == ""
        await say(pilot, "count my tokens")
        await turn_done(pilot, screen, replies=1)
        [first] = store.list_runs("local", screen.workspace.current.thread_id)
        assert first.total_tokens > 0
        assert screen.header.usage == (
            f"{first.total_tokens:,} tokens (thread {first.total_tokens:,})"
        )
        assert screen.header.usage in str(screen.header.render())
        await say(pilot, "and again please")
        await turn_done(pilot, screen, replies=2)
        runs = store.list_runs("local", screen.workspace.current.thread_id)
        total = sum(r.total_tokens for r in runs)
        assert len(runs) == 2
        assert screen.header.usage == f"{runs[1].total_tokens:,} tokens (thread {total:,})"
        thread = screen.workspace.current
        await pilot.press("ctrl+n")
        assert screen.header.usage == ""
    store.close()

    reopened = Store.open(paths.store_path())
    try:
        async with make_app(reopened).run_test(size=SIZE) as pilot:
            screen = await ready(pilot)
            await pilot.press("alt+1")
            await wait_for(pilot, lambda: screen.workspace.current is not None
                           and screen.workspace.current.thread_id == thread.thread_id, "the thread")
            assert screen.header.usage == f"thread {total:,} tokens"
    finally:
        reopened.close()


# -- keys --------------------------------------------------------------------------------


def our_binding_classes() -> list[type]:
    found = []
    for module in pkgutil.walk_packages(tui_assistant.ui.__path__, "tui_assistant.ui."):
        loaded = importlib.import_module(module.name)
        for _, cls in inspect.getmembers(loaded, inspect.isclass):
            if (issubclass(cls, DOMNode) and cls.__module__ == loaded.__name__
                    and "BINDINGS" in cls.__dict__):
                found.append(cls)
    return found


def test_every_binding_has_an_id_a_description_and_a_safe_primary_key() -> None:
    classes = our_binding_classes()
    assert len(classes) >= 10
    for cls in classes:
        for binding in cls.__dict__["BINDINGS"]:
            assert isinstance(binding, Binding), f"{cls.__name__}: {binding!r}"
            where = f"{cls.__name__} {binding.key!r}"
            assert binding.id, f"{where} has no id"
            assert binding.description, f"{where} has no description"
            primary = binding.key.split(",")[0].strip()
            assert primary not in FORBIDDEN_PRIMARY_KEYS, f"{where}: terminals send {primary}"
            assert primary not in ("ctrl+m", "ctrl+i", "ctrl+j", "ctrl+[")


async def test_f1_shows_the_keys_as_remapped_and_remapped_keys_work(store: Store) -> None:
    app = app_with(store, keymap={"thread.rename": "f9", "search.open": "ctrl+b"})
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await say(pilot, "remap me")
        await turn_done(pilot, screen, replies=1)

        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "the help")
        rows = {row.binding_id: row for row in app.screen.rows}
        assert rows["thread.rename"].keys == ("f9",)
        assert rows["search.open"].keys == ("ctrl+b",)
        assert rows["thread.new"].keys == ("ctrl+n",)
        assert rows["conversation.copy"].description == "Copy"
        assert {"Everywhere", "Threads", "Thread list", "Composer", "Runs"} <= {
            row.area for row in app.screen.rows}
        console = Console(width=110, record=True, file=io.StringIO())
        console.print(app.screen._table())
        table = console.export_text()
        assert any("thread.rename" in line and "f9" in line for line in table.splitlines())
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)

        await pilot.press("f2")  # no longer bound
        await pilot.pause()
        assert not isinstance(app.screen, TextPrompt)
        await pilot.press("f9")
        await wait_for(pilot, lambda: isinstance(app.screen, TextPrompt), "rename on f9")
        await pilot.press("escape")
        await pilot.press("ctrl+b")
        await wait_for(pilot, lambda: isinstance(app.screen, SearchScreen), "search on ctrl+b")
        await pilot.press("escape")


# -- themes ------------------------------------------------------------------------------


async def test_a_theme_chosen_in_the_palette_is_remembered(store: Store) -> None:
    app = app_with(store)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert app.theme != "nord"
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"theme")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause(0.3)
        await pilot.press(*"nord")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.theme == "nord", "the theme")
        await wait_for(pilot, lambda: store.get_state("theme") == "nord", "it to be saved")

    async with app_with(store).run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert pilot.app.theme == "nord"
    # A theme in the config file wins over the remembered one.
    async with app_with(store, theme="gruvbox").run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert pilot.app.theme == "gruvbox"
