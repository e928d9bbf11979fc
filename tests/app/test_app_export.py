"""Exporting from the app (a path the user picks) and from the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.app import (
    SIZE,
    client_for,
    make_app,
    ready,
    say,
    turn_done,
    wait_for,
)
from tui_assistant.store import Store
from tui_assistant.ui.screens.dialogs import ConfirmDialog, ExportDialog


def notified(app, words: str) -> bool:
    return any(words in str(n.message) for n in app._notifications)


async def test_export_to_markdown_and_json_where_the_user_says(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # names typed in the dialog are relative to here
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await say(pilot, "first question")
        await turn_done(pilot, screen, replies=1)
        await say(pilot, "second question")
        await turn_done(pilot, screen, replies=2)
        texts = [v.text for v in screen.conversation.message_views]

        target = tmp_path / "out" / "talk.md"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportDialog), "the dialog")
        await pilot.press("ctrl+a", "ctrl+k", *"out/talk.md", "enter")
        await wait_for(pilot, target.exists, "the Markdown file")
        markdown = target.read_text()
        assert markdown.startswith("# first question\n")
        for text in texts:
            assert text.strip().splitlines()[0] in markdown
        await wait_for(pilot, lambda: notified(app, f"Exported 4 messages to {target.resolve()}"),
                       "the confirmation")

        # JSON from the palette; the format switch changes the suffix; replacing asks.
        json_target = tmp_path / "out" / "talk.json"
        json_target.write_text("old")
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"exp json")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportDialog), "the dialog")
        assert app.screen.format == "json"
        assert str(app.screen.query_one("#path").value).endswith(".json")
        await pilot.press("ctrl+a", "ctrl+k", *"out/talk.json", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), "replace?")
        await pilot.press("escape")  # not replaced
        await pilot.pause()
        assert json_target.read_text() == "old"
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"exp markd")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportDialog), "the dialog")
        await pilot.press("ctrl+a", "ctrl+k", *"out/talk.json", "enter")  # .json wins
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), "replace?")
        await pilot.pause()
        await pilot.press("tab", "enter")  # Cancel has the focus
        await wait_for(pilot, lambda: json_target.read_text().startswith("{"), "the JSON")
        document = json.loads(json_target.read_text())
        assert [m["text"] for m in document["messages"]] == texts
        assert len(document["runs"]) == 2
        assert document["usage"]["total_tokens"] > 0
        assert target.read_text() == markdown


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui_assistant", *args],
        env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=120,
    )


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    return {"OPENAI_API_KEY": "sk-cli-test-key-0123"}


async def test_cli_threads_lists_saved_threads(store: Store, cli_env) -> None:
    store.add_thread("local", "thread_aaa", "asst_1", "Kestrels")
    store.add_thread("local", "thread_bbb", "asst_1", "Falcons")
    store.set_pinned("local", "thread_aaa")
    store.add_thread("local", "thread_ccc", "asst_1", "Old \x1b[31mstuff")
    store.set_archived("local", "thread_ccc")
    result = cli("threads", env=cli_env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("thread_aaa") and lines[0].endswith("pinned Kestrels")
    assert lines[1].startswith("thread_bbb") and "just now" in lines[1]
    everything = cli("threads", "--all", env=cli_env)
    assert "archived Old stuff" in everything.stdout  # escape sequences never printed
    assert "\x1b" not in everything.stdout
    other = cli("threads", "--base-url", "http://127.0.0.1:9/v1", env=cli_env)
    assert other.returncode == 0 and other.stdout == ""
    assert "No saved threads" in other.stderr


async def test_cli_export_asks_the_endpoint_then_falls_back_to_the_cache(
    store: Store, start_server, tmp_path: Path, cli_env
) -> None:
    server = start_server()
    client = client_for(server)
    assistant = (await client.beta.assistants.list()).data[0]
    thread = await client.beta.threads.create()
    await client.beta.threads.messages.create(thread.id, role="user",
                                              content="key sk-cli-test-key-0123 leaked")
    run = await client.beta.threads.runs.create_and_poll(thread_id=thread.id,
                                                         assistant_id=assistant.id)
    await client.close()
    url = server.base_url

    result = cli("--base-url", url, "export", thread.id, "--format", "json", env=cli_env)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert [m["role"] for m in document["messages"]] == ["user", "assistant"]
    assert document["runs"][0]["id"] == run.id and document["runs"][0]["usage"]
    assert "sk-cli-test-key-0123" not in result.stdout  # the key is redacted

    out = tmp_path / "t.md"
    result = cli("export", thread.id, "--base-url", url, "-o", str(out), env=cli_env)
    assert result.returncode == 0, result.stderr
    assert "wrote" in result.stderr and out.read_text().startswith("# key")

    # Unreachable: an unsaved thread is an error; a saved one is written from the cache.
    server.stop()
    result = cli("--base-url", url, "export", thread.id, env=cli_env)
    assert result.returncode == 2
    assert result.stderr.startswith("tui-assistant: error: Could not reach")
    endpoint = url.rstrip("/")
    store.add_thread(endpoint, thread.id, assistant.id, "Cached copy")
    from tui_assistant.store import CachedMessage

    store.cache_messages(endpoint, thread.id, [CachedMessage("m1", "user", "hello", 1.0)])
    result = cli("--base-url", url, "export", thread.id, "--format", "json", env=cli_env)
    assert result.returncode == 0, result.stderr
    assert "note:" in result.stderr and "cached copy" in result.stderr
    document = json.loads(result.stdout)
    assert document["source"] == "cache" and document["thread"]["title"] == "Cached copy"


def test_cli_export_of_an_unknown_thread_on_the_local_server(cli_env) -> None:
    result = cli("export", "thread_nothing_here", env=cli_env)
    assert result.returncode == 2
    assert "was not found" in result.stderr and "Traceback" not in result.stderr


def test_cli_usage_errors_are_one_line(cli_env, tmp_path: Path) -> None:
    for args in (["open", "not a thread!"], ["export", "t1", "--format", "pdf"],
                 ["export", "thread_1", "-o", str(tmp_path / "x.txt")]):
        result = cli(*args, env=cli_env)
        assert result.returncode == 2, args
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
