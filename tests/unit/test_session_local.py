"""Session against the local server: whole turns through the real engine, SDK and server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.transcript import RunTranscript
from tui_assistant import events as ev
from tui_assistant.engines.assistants import AssistantsEngine
from tui_assistant.server.models import DemoModel, FunctionCall, RunContext
from tui_assistant.session import Session


class ToolModel:
    """Calls ``lookup`` for every word of the user's message (in parallel), then answers."""

    def __init__(self) -> None:
        self.contexts: list[RunContext] = []

    async def respond(self, context: RunContext) -> AsyncIterator[Any]:
        self.contexts.append(context)
        if not context.tool_results:
            for word in context.last_user_text.split():
                yield FunctionCall("lookup", json.dumps({"word": word}))
            return
        yield " ".join(r.output for r in context.tool_results)


async def open_session(server: Any, **kwargs: Any) -> tuple[AssistantsEngine, Session, str, str]:
    engine = AssistantsEngine(server.base_url, "test")
    (demo,) = [a for a in await engine.list_assistants() if a.name == "Demo assistant"]
    thread_id = await engine.create_thread()
    return engine, Session(engine, poll_interval=0.02, **kwargs), thread_id, demo.id


async def test_long_reply_streams_whole(local_server: Any):
    engine, session, thread_id, assistant_id = await open_session(local_server)
    try:
        transcript = RunTranscript()
        async for event in session.send(thread_id, assistant_id, "/long"):
            transcript.add(event)
    finally:
        await engine.aclose()
    (text,) = transcript.messages.values()
    assert text == DemoModel().reply_for("/long")
    deltas = [e for e in transcript.events if isinstance(e, ev.TextDelta)]
    assert len(deltas) > 3900
    assert transcript.status == "completed"
    assert isinstance(transcript.events[-1], ev.RunCompleted)
    assert transcript.events[-1].usage.completion_tokens >= 3900
    assert session.active_run is None


async def test_parallel_function_calls_in_one_submission(start_server: Any):
    model = ToolModel()
    server = start_server(model=model)
    engine, session, thread_id, assistant_id = await open_session(server)
    asked: list[ev.ActionRequired] = []

    async def on_action(event: ev.ActionRequired) -> list[ev.ToolOutput]:
        asked.append(event)
        return [
            ev.ToolOutput(c.call_id, json.loads(c.arguments)["word"].upper()) for c in event.calls
        ]

    session.on_action = on_action
    try:
        events = [e async for e in session.send(thread_id, assistant_id, "red green blue")]
    finally:
        await engine.aclose()
    (action,) = asked
    assert len(action.calls) == 3
    assert len(model.contexts) == 2  # one continuation, carrying all three outputs
    assert [r.output for r in model.contexts[1].tool_results] == ["RED", "GREEN", "BLUE"]
    (message,) = [e for e in events if isinstance(e, ev.MessageCompleted)]
    assert message.text == "RED GREEN BLUE"
    assert events[-1].status == "completed"


async def test_default_handler_against_the_server(start_server: Any):
    model = ToolModel()
    engine, session, thread_id, assistant_id = await open_session(start_server(model=model))
    try:
        events = [e async for e in session.send(thread_id, assistant_id, "one")]
    finally:
        await engine.aclose()
    (result,) = model.contexts[1].tool_results
    assert json.loads(result.output) == {"error": "No local function named lookup is available."}
    assert events[-1].status == "completed"


async def test_cancelling_the_worker_cancels_the_run(start_server: Any):
    server = start_server(token_delay=0.005)
    engine, session, thread_id, assistant_id = await open_session(server)
    got_text = asyncio.Event()
    run_ids: list[str] = []

    async def consume() -> None:
        async for event in session.send(thread_id, assistant_id, "/long"):
            if isinstance(event, ev.RunStarted):
                run_ids.append(event.run_id)
            if isinstance(event, ev.TextDelta):
                got_text.set()

    task = asyncio.create_task(consume())
    try:
        await asyncio.wait_for(got_text.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(100):
            info = await engine.retrieve_run(thread_id, run_ids[0])
            if info.status == "cancelled":
                break
            await asyncio.sleep(0.02)
        assert info.status == "cancelled"
    finally:
        await engine.aclose()


async def test_escape_cancels_and_keeps_the_partial_reply(start_server: Any):
    server = start_server(token_delay=0.005)
    engine, session, thread_id, assistant_id = await open_session(server)
    transcript = RunTranscript()
    try:
        async for event in session.send(thread_id, assistant_id, "/long"):
            transcript.add(event)
            if isinstance(event, ev.TextDelta) and len(transcript.events) == 10:
                await session.cancel()
    finally:
        await engine.aclose()
    final = transcript.events[-1]
    assert isinstance(final, ev.RunCompleted)
    assert (final.run_id, final.status) == (transcript.run_id, "cancelled")
    (text,) = transcript.messages.values()
    assert 0 < len(text) < len(DemoModel().reply_for("/long"))
