"""Terminal and secret hygiene, checked end to end.

* Text from the model, from tools and from the server (names, error messages) cannot put
  an escape sequence on the terminal or be read as Rich markup: hostile strings go
  through the real app and the screen is inspected cell by cell (and as a screenshot).
* An API key never shows up in the data directory (store, -wal, server database), in
  exports, screenshots, notifications, the activity log, Python log records or the
  output of the command line: a sentinel key is used for a whole session and searched
  for everywhere afterwards.
* Bad command-line input that earlier tests do not cover gives one line and exit 2.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from textual import events

from tests.support.app import (
    SIZE,
    make_app,
    notices,
    ready,
    wait_for,
)
from tui_assistant import paths
from tui_assistant.config import Profile
from tui_assistant.server.models import FunctionCall, RunContext
from tui_assistant.store import Store
from tui_assistant.text import clean_text

ROOT = Path(__file__).resolve().parents[2]

# --- hostile text ----------------------------------------------------------------------

OSC_TITLE = "\x1b]0;pwned-title\x07"
OSC_CLIPBOARD = "\x1b]52;c;cHduZWQtY2xpcGJvYXJk\x07"
MARKUP = "[bold red]not bold[/bold red]"
CLICK = "[@click=app.quit]not a link[/]"
RTL = "שלום עולם مرحبا بالعالم"
EMOJI = "👩‍👩‍👧‍👦 🏳️‍🌈 e\u0301"
HOSTILE = (
    f"start \x1b[31mred\x1b[0m {OSC_TITLE}{OSC_CLIPBOARD}\x9b2J\x1bPdcs\x1b\\ "
    f"{MARKUP} {CLICK} bell\x07 back\x08 cr\r over\u202eride {RTL} {EMOJI} end"
)
LONG_LINE = "x" * 6000
VISIBLE = [MARKUP, CLICK, RTL, "👩‍👩‍👧‍👦", "start", "end"]
"""What must still be shown, literally, after cleaning."""
_BAD_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


class HostileModel:
    """Replies with hostile text; calls a tool with hostile arguments; fails hostilely."""

    async def respond(self, context: RunContext):
        text = context.last_user_text
        if "fail" in text:
            yield "Partial "
            raise RuntimeError(f"model error {HOSTILE}")
        if "tool" in text and not context.tool_results:
            yield FunctionCall("calculate", json.dumps({"expression": HOSTILE}))
            return
        outputs = " ".join(r.output for r in context.tool_results)
        yield f"# Title {HOSTILE}\n\n{HOSTILE}\n\n```\n{HOSTILE}\n```\n\n{LONG_LINE}\n\n{outputs}"


def screen_cells(app) -> list[str]:
    """Every line of the screen as drawn (the text of every segment, in order)."""
    lines = []
    for strip in app.screen._compositor.render_strips():
        lines.append("".join(segment.text for segment in strip))
    return lines


def assert_inert(app, svg: str, lines: list[str]) -> None:
    for line in lines:
        assert not _BAD_CHARS.search(line), repr(line)
        assert "pwned" not in line
    assert not _BAD_CHARS.search(svg.replace("\n", "").replace("\t", ""))
    assert "pwned" not in svg
    assert app.title == "tui-assistant"


async def test_hostile_text_from_model_tools_and_server_is_shown_as_plain_text(
    store: Store, start_server
) -> None:
    from openai import AsyncOpenAI

    server = start_server(model=HostileModel(), demo_assistant=False)
    client = AsyncOpenAI(base_url=server.base_url, api_key="test", max_retries=0)
    await client.beta.assistants.create(
        name=f"Evil {MARKUP} \x1b]0;pwned\x07", model="demo", instructions=CLICK
    )
    await client.close()
    app = make_app(store, server=server)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        assert screen.workspace.assistant is not None and MARKUP in screen.workspace.assistant.name

        async def send(text: str) -> None:
            app.post_message(events.Paste(text))
            await wait_for(pilot, lambda: screen.composer.text == text, "the pasted text")
            await pilot.press("enter")
            await wait_for(pilot, lambda: not screen.workspace.live, "the turn", timeout=30)
            await app.workers.wait_for_complete()
            await pilot.pause()

        await send(f"{MARKUP} please, tool")
        await send("now fail")
        app.notify(f"endpoint says {HOSTILE}", title=f"title {MARKUP}")
        await pilot.pause(0.3)

        reply = next(v for v in screen.conversation.message_views if LONG_LINE in v.text)
        for piece in VISIBLE:
            assert piece in reply.text, piece
        assert "\x1b" not in reply.text and "\u202e" not in reply.text
        assert reply.size.width <= SIZE[0]  # the very long line wraps inside the pane
        lines = screen_cells(app)
        svg = app.export_screenshot()
        assert_inert(app, svg, lines)
        drawn = "\n".join(lines)
        # Markup is shown as the text it is, everywhere it can appear.
        assert MARKUP in drawn  # header (assistant name), thread list, conversation
        assert screen.threads.threads[0].title.startswith(MARKUP)
        failure = " ".join(notices(screen))
        assert "model error start red" in failure and MARKUP in failure
        assert any(MARKUP in line for line in screen.activity.entries)
        shown = [n for n in app._notifications if "endpoint says" in n.message]
        assert shown and not shown[0].markup and "\x1b" not in shown[0].message
        assert MARKUP in shown[0].message and MARKUP in shown[0].title
        # The tool call: hostile arguments in, an error output out, both inert.
        tool_text = "\n".join(
            str(getattr(w, "content", "")) for w in screen.activity.query("*")
        )
        assert "\x1b" not in tool_text
        assert "calculate" in drawn or "calculate" in tool_text


def test_clean_text_keeps_what_is_text_and_drops_what_is_not() -> None:
    cleaned = clean_text(HOSTILE)
    assert cleaned.startswith("start red ")
    for piece in VISIBLE:
        assert piece in cleaned
    assert not _BAD_CHARS.search(cleaned.replace("\n", "").replace("\t", ""))
    assert "pwned" not in cleaned and "dcs" not in cleaned
    assert clean_text("a\tb\nc\r\nd") == "a\tb\nc\nd"
    assert clean_text("\u200dzwj\u200e") == "\u200dzwj\u200e"  # joiners and marks stay
    # Rich Text never reads markup, whatever the text says.
    assert Text(clean_text(MARKUP)).plain == MARKUP


# --- secrets -------------------------------------------------------------------------------


def _files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def _leaks(sentinel: str, root: Path) -> list[str]:
    needles = [sentinel.encode(), sentinel.encode("utf-16-le")]
    found = []
    for path in _files_under(root):
        data = path.read_bytes()
        if any(needle in data for needle in needles):
            found.append(str(path))
    return found


async def test_the_api_key_never_leaves_memory(
    store: Store, start_server, tmp_path: Path, monkeypatch, caplog
) -> None:
    sentinel = f"sk-SENTINEL-{uuid.uuid4().hex}"
    home = Path(os.environ["TUI_ASSISTANT_HOME"])
    server = start_server(bearer_token=sentinel, db_path=home / "server.sqlite3")
    monkeypatch.setenv("OPENAI_API_KEY", sentinel)
    profile = Profile(name="secure", base_url=server.base_url)
    caplog.set_level(logging.DEBUG)

    app = make_app(store, profile=profile)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        assert screen.workspace.connect_error is None

        async def send(text: str) -> None:
            app.post_message(events.Paste(text))
            await wait_for(pilot, lambda: screen.composer.text == text, "the pasted text")
            await pilot.press("enter")
            await wait_for(pilot, lambda: not screen.workspace.live, "the turn", timeout=30)
            await app.workers.wait_for_complete()
            await pilot.pause()

        await send("hello with a key")
        assert any(v.role == "assistant" for v in screen.conversation.message_views)
        thread_id = screen.workspace.current.thread_id
        # Errors: a refused run (500), a refused key (401), a failed run.
        server.faults.fail_requests(500, path_pattern=r"/runs$", method="POST")
        await send("this one fails")
        server.faults.fail_requests(401, path_pattern=r"/runs$", method="POST")
        screen.composer.clear()
        await send("and this one is refused")
        server.faults.end_run("failed", after_outputs=0)
        screen.composer.clear()
        await send("and this run fails")
        svg = app.export_screenshot()
        (home / "screenshot.svg").write_text(svg)
        texts = [
            *notices(screen),
            *screen.activity.entries,
            *(f"{n.title} {n.message}" for n in app._notifications),
            str(screen.header.render()),
        ]
    store.close()

    # An export, by the real command line, and its messages.
    out = tmp_path / "export.md"
    env = {**os.environ, "OPENAI_API_KEY": sentinel, "TUI_ASSISTANT_HOME": str(home)}
    result = subprocess.run(
        [sys.executable, "-m", "tui_assistant", "export", thread_id,
         "--base-url", server.base_url, "--output", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "hello with a key" in out.read_text()
    listing = subprocess.run(
        [sys.executable, "-m", "tui_assistant", "threads", "--base-url", server.base_url],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert listing.returncode == 0, listing.stderr

    assert (home / "screenshot.svg").stat().st_size > 1000
    assert sorted(p.name for p in _files_under(home) if "sqlite3" in p.name)  # looked at
    assert _leaks(sentinel, home) == []
    assert _leaks(sentinel, tmp_path) == []
    for text in texts:
        assert sentinel not in text
    assert any("500" in text for text in texts) and any("refused" in text for text in texts)
    for record in caplog.records:
        assert sentinel not in record.getMessage()
        assert sentinel not in str(record.exc_info or "")
    for stream in (result.stdout, result.stderr, listing.stdout, listing.stderr):
        assert sentinel not in stream


# --- command-line input ------------------------------------------------------------------


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui_assistant", *args],
        cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=60,
    )


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: p.write_bytes(b"theme = \"\xff\xfe\"\n"), "UTF-8"),
        (lambda p: p.symlink_to(p.parent / "missing.toml"), "not found"),
    ],
    ids=["directory", "not-utf8", "dangling-link"],
)
def test_an_unreadable_config_file_is_one_line_and_exit_2(
    tmp_path: Path, make: Any, expected: str
) -> None:
    config = tmp_path / "config.toml"
    make(config)
    result = cli("--config", str(config), "threads")
    assert result.returncode == 2, result
    (line,) = result.stderr.splitlines()
    assert line.startswith("tui-assistant: error: ") and expected in line, line
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--base-url", "http://"], "--base-url"),
        (["--base-url", "https://exa mple.com/v1"], "--base-url"),
        (["threads", "--profile", "nope"], "unknown profile 'nope'"),
        (["export", "not a thread id"], "thread"),
        (["serve", "--host", ""], "--host"),
    ],
)
def test_more_bad_input_is_one_line_and_exit_2(args: list[str], expected: str) -> None:
    result = cli(*args, OPENAI_API_KEY="", OPENAI_BASE_URL="")
    assert result.returncode == 2, result
    (line,) = result.stderr.splitlines()
    assert line.startswith("tui-assistant: error: ") and expected in line, line
    assert "Traceback" not in result.stderr


def test_the_store_file_is_private(store: Store) -> None:
    path = paths.store_path()
    store.add_thread("local", "thread_x", "asst")
    for name in (path.name, path.name + "-wal", path.name + "-shm"):
        side = path.parent / name
        if side.exists():
            assert side.stat().st_mode & 0o077 == 0, name
