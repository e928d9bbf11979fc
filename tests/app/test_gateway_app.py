"""The app started with ``--model-url``: its built-in server over a scripted upstream."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.gateway import text_chunks
from tui_assistant import cli, paths
from tui_assistant.config import LocalModel, Settings, resolve_profile
from tui_assistant.store import Store
from tui_assistant.ui.app import TuiAssistantApp
from tui_assistant.ui.screens.main import MainScreen


@pytest.fixture
def store() -> Any:
    opened = Store.open(paths.store_path())
    yield opened
    opened.close()


async def _wait(pilot: Any, condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 20
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


async def test_the_app_with_a_model_url_talks_to_the_real_model(
    store: Store, upstream: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    upstream.script(text_chunks("Hello from the real model."))
    settings = Settings(demo_token_delay=0.0, local_model=LocalModel(url=upstream.url))
    app = TuiAssistantApp(settings=settings, profile=resolve_profile(settings, env={}), store=store)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, MainScreen)
        await _wait(pilot, screen.workspace.ready.is_set, "the built-in server")
        header = str(screen.header.render())
        host = upstream.url.split("/")[2]
        assert f"built-in server → {host} · m1" in header
        assert "Offline demo" not in header
        assert screen.workspace.assistant is not None and screen.workspace.assistant.model == "m1"
        await pilot.press(*"hi there")
        await pilot.press("enter")
        await _wait(
            pilot,
            lambda: (
                not screen.workspace.live
                and any(v.role == "assistant" for v in screen.conversation.message_views)
            ),
            "the reply",
        )
        await app.workers.wait_for_complete()
        await pilot.pause()
        views = [(v.role, v.text) for v in screen.conversation.message_views]
        assert views == [("user", "hi there"), ("assistant", "Hello from the real model.")]
        assert screen.header.status == "completed"
    assert upstream.requests[0]["messages"][-1] == {"role": "user", "content": "hi there"}


def test_the_app_command_passes_the_model_url_on(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Settings] = []

    def launch(*, settings: Settings, profile: Any, store: Any, connector: Any = None) -> int:
        seen.append(settings)
        return 0

    import tui_assistant.ui.app as ui_app

    monkeypatch.setattr(ui_app, "launch", launch)
    argv = [
        "--model-url",
        "http://127.0.0.1:11434/v1",
        "--model",
        "qwen",
        "--context-window",
        "8192",
    ]
    assert cli.main(argv) == 0
    assert seen[0].local_model == LocalModel(
        url="http://127.0.0.1:11434/v1", model="qwen", context_window=8192
    )


async def test_the_activity_pane_says_how_many_messages_were_left_out(
    store: Store, upstream: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    upstream.script(text_chunks("word " * 200, usage=None))  # longer than the window
    local = LocalModel(url=upstream.url, model="m1", context_window=256)
    settings = Settings(demo_token_delay=0.0, local_model=local)
    app = TuiAssistantApp(settings=settings, profile=resolve_profile(settings, env={}), store=store)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, MainScreen)
        await _wait(pilot, screen.workspace.ready.is_set, "the built-in server")
        for number, text in enumerate(["a first question", "and a second"], 1):
            await pilot.press(*text)
            await pilot.press("enter")
            await _wait(
                pilot,
                lambda n=number: (
                    not screen.workspace.live
                    and sum(v.role == "assistant" for v in screen.conversation.message_views) == n
                ),
                f"reply {number}",
            )
            await app.workers.wait_for_complete()
        await pilot.pause()
        entries = "\n".join(str(e) for e in screen.activity.entries)
        assert "2 earlier messages left out to fit the model's window" in entries
        assert "estimated" in entries
    sent = upstream.requests[1]["messages"]
    assert sent[-1] == {"role": "user", "content": "and a second"}
    assert not any("first question" in (m["content"] or "") for m in sent)
