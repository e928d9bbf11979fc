"""export.py: a thread to Markdown and JSON, from the endpoint or from the local cache."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from openai import AsyncOpenAI

from tui_assistant import events as ev
from tui_assistant.engines.assistants import AssistantsEngine
from tui_assistant.errors import NotFoundError
from tui_assistant.export import (
    ExportError,
    collect,
    default_filename,
    from_cache,
    public_endpoint,
    to_json,
    to_markdown,
    write_export,
)
from tui_assistant.server.models import DemoModel, FunctionCall, RunContext
from tui_assistant.store import CachedMessage, Store

SECRET = "sk-live-0123456789abcdef"


class WeatherModel:
    """Asks for the weather when the user says 'weather'; otherwise answers like the demo."""

    async def respond(self, context: RunContext) -> AsyncIterator[Any]:
        last = context.last_user_text
        if "weather" in last and not context.tool_results:
            yield FunctionCall("get_weather", json.dumps({"city": "Oslo"}))
            return
        if context.tool_results:
            yield f"It is {context.tool_results[0].output} in Oslo."
            return
        yield DemoModel().reply_for(last)


async def run_turn(engine: AssistantsEngine, thread_id: str, assistant_id: str, text: str) -> None:
    events = [e async for e in engine.run(thread_id, assistant_id, text)]
    if isinstance(events[-1], ev.ActionRequired):
        outputs = [ev.ToolOutput(c.call_id, "sunny, 21 °C") for c in events[-1].calls]
        events = [e async for e in engine.submit_tool_outputs(
            thread_id, events[-1].run_id, outputs)]
    assert isinstance(events[-1], ev.RunCompleted), events[-1]


@pytest.fixture
async def weather(start_server):
    server = start_server(model=WeatherModel())
    engine = AssistantsEngine(server.base_url, "test")
    assistant = await engine.create_assistant(
        name="Weather", model="demo",
        tools=[{"type": "function", "function": {"name": "get_weather", "parameters": {
            "type": "object", "properties": {"city": {"type": "string"}}}}}],
    )
    yield server, engine, assistant
    await engine.aclose()


async def test_json_export_round_trips_every_message_run_and_tool_call(weather) -> None:
    server, engine, assistant = weather
    thread_id = await engine.create_thread()
    await run_turn(engine, thread_id, assistant.id, "hello there")
    await run_turn(engine, thread_id, assistant.id, "what is the weather?")

    export = await collect(engine, thread_id, endpoint=server.base_url,
                           assistant_id=assistant.id, assistant_name="Weather")
    document = json.loads(to_json(export))
    assert document["format"] == "tui-assistant.thread" and document["version"] == 1
    assert document["source"] == "endpoint"
    assert document["thread"]["title"] == "hello there"  # from the first user message

    page = await engine.list_messages(thread_id, limit=100)
    assert [(m["id"], m["role"], m["text"]) for m in document["messages"]] == [
        (m.id, m.role, m.text) for m in page.messages
    ]
    assert [m["role"] for m in document["messages"]] == ["user", "assistant"] * 2
    assert document["messages"][-1]["text"] == "It is sunny, 21 °C in Oslo."

    runs = document["runs"]
    assert len(runs) == 2 and all(r["status"] == "completed" for r in runs)
    assert all(r["usage"]["total_tokens"] > 0 for r in runs)
    assert document["usage"]["runs"] == 2
    assert document["usage"]["total_tokens"] == sum(r["usage"]["total_tokens"] for r in runs)
    assert runs[0]["tool_calls"] == []
    [call] = runs[1]["tool_calls"]
    assert call["kind"] == "function" and call["name"] == "get_weather"
    assert json.loads(call["input"]) == {"city": "Oslo"}
    assert call["output"] == "sunny, 21 °C"

    markdown = to_markdown(export)
    assert markdown.startswith("# hello there\n")
    assert "## You" in markdown and "## Assistant" in markdown
    assert "`get_weather`" in markdown and '{"city": "Oslo"}' in markdown
    assert "sunny, 21 °C" in markdown
    # The tool call is shown before the reply that used it.
    assert markdown.index("get_weather") < markdown.index("It is sunny")
    assert f"{document['usage']['total_tokens']:,} over 2 runs" in markdown


async def test_every_history_page_is_exported_in_order(local_server) -> None:
    client = AsyncOpenAI(base_url=local_server.base_url, api_key="test", max_retries=0)
    thread = await client.beta.threads.create()
    for i in range(130):
        await client.beta.threads.messages.create(thread.id, role="user", content=f"note {i}")
    await client.close()
    engine = AssistantsEngine(local_server.base_url, "test")
    try:
        export = await collect(engine, thread.id, title="Notes")
    finally:
        await engine.aclose()
    texts = [m["text"] for m in json.loads(to_json(export))["messages"]]
    assert texts == [f"note {i}" for i in range(130)]
    assert export.runs == []


async def test_unknown_thread_is_not_found(local_server) -> None:
    engine = AssistantsEngine(local_server.base_url, "test")
    try:
        with pytest.raises(NotFoundError):
            await collect(engine, "thread_nope")
    finally:
        await engine.aclose()


async def test_exports_never_contain_the_api_key(weather) -> None:
    server, engine, assistant = weather
    thread_id = await engine.create_thread()
    await run_turn(engine, thread_id, assistant.id, f"my key is {SECRET} oops")
    export = await collect(engine, thread_id, endpoint=f"https://user:{SECRET}@h.example/v1?k=1")
    for text in (to_json(export, secrets=[SECRET]), to_markdown(export, secrets=[SECRET])):
        assert SECRET not in text
        assert "[redacted]" in text
    document = json.loads(to_json(export, secrets=[SECRET]))  # still valid JSON
    assert document["thread"]["endpoint"] == "https://h.example/v1"


def test_public_endpoint() -> None:
    assert public_endpoint("local") == "local"
    assert public_endpoint("https://u:p@Host.example:8443/v1?x=1#f") == "https://host.example:8443/v1"


def test_cached_export_says_where_it_came_from(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.sqlite3") as store:
        store.add_thread("local", "thread_1", "asst_1", "Cached thread")
        store.cache_messages("local", "thread_1", [
            CachedMessage("m1", "user", "question", 1.0),
            CachedMessage("m2", "assistant", "answer", 2.0),
        ])
        store.record_run("local", "thread_1", "run_1", "completed", prompt_tokens=3,
                         completion_tokens=4, total_tokens=7, created_at=1.5)
        export = from_cache(store, "local", "thread_1", reason="endpoint unreachable")
        with pytest.raises(ExportError, match="not saved"):
            from_cache(store, "local", "thread_other")
    document = json.loads(to_json(export))
    assert document["source"] == "cache"
    assert [m["text"] for m in document["messages"]] == ["question", "answer"]
    assert document["usage"] == {"runs": 1, "prompt_tokens": 3, "completion_tokens": 4,
                                 "total_tokens": 7}
    assert "local cache" in document["notes"][0] and "unreachable" in document["notes"][0]
    markdown = to_markdown(export)
    assert "# Cached thread" in markdown and "> Exported from the local cache" in markdown
    assert "run `run_1`" in markdown  # a run with no message of its own still shows


def test_write_export(tmp_path: Path) -> None:
    target = write_export(tmp_path / "deep" / "er" / "out.md", "hello\n")
    assert target.read_text() == "hello\n"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    write_export(target, "again\n")  # overwrites
    assert target.read_text() == "again\n"
    assert [p.name for p in target.parent.iterdir()] == ["out.md"]  # no temp files left
    with pytest.raises(ExportError, match="folder"):
        write_export(tmp_path, "x")
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ExportError, match="Could not write"):
        write_export(blocker / "below.md", "x")


def test_default_filename() -> None:
    assert default_filename("Refactor plan: v2!", "thread_abc123xyz", "md") == (
        "refactor-plan-v2-123xyz.md"
    )
    assert default_filename("", "t", "json") == "thread-t.json"


def test_export_and_the_thread_commands_stay_headless() -> None:
    from tests.support.imports import loaded_after_import

    loaded = loaded_after_import(["tui_assistant.export", "tui_assistant.cli_threads"])
    assert not {"textual", "rich", "openai", "starlette"} & loaded
