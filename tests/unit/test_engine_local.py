"""AssistantsEngine against the local server (real HTTP, real SDK, real server code)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tui_assistant import events as ev
from tui_assistant.engines.assistants import AssistantsEngine
from tui_assistant.errors import ActiveRunError, AuthError, NotFoundError
from tui_assistant.server.models import FunctionCall, RunContext, ScriptedModel, count_tokens


class CalculatorModel:
    """Asks for two function calls at once, then answers with their outputs."""

    def __init__(self) -> None:
        self.contexts: list[RunContext] = []

    async def respond(self, context: RunContext) -> AsyncIterator[Any]:
        self.contexts.append(context)
        if not context.tool_results:
            yield FunctionCall("add", json.dumps({"a": 2, "b": 3}))
            yield FunctionCall("multiply", json.dumps({"a": 4, "b": 5}))
            return
        outputs = ", ".join(f"{r.name}={r.output}" for r in context.tool_results)
        yield f"The results are {outputs}."


@pytest.fixture
async def engine(local_server: Any):
    engine = AssistantsEngine(local_server.base_url, "test")
    yield engine
    await engine.aclose()


async def collect(stream) -> list[ev.RunEvent]:
    return [event async for event in stream]


async def demo_assistant(engine: AssistantsEngine) -> str:
    (demo,) = [a for a in await engine.list_assistants() if a.name == "Demo assistant"]
    return demo.id


async def test_probe_and_assistants(engine: AssistantsEngine):
    await engine.check()
    demo_id = await demo_assistant(engine)
    demo = await engine.retrieve_assistant(demo_id)
    assert demo.label == "Demo assistant"
    created = await engine.create_assistant(
        name="Calc",
        model="demo",
        instructions="Calculate.",
        tools=[
            {
                "type": "function",
                "function": {"name": "add", "parameters": {"type": "object", "properties": {}}},
            }
        ],
    )
    assert created.tools == ("function",)
    assert created.function_names == ("add",)
    listed = await engine.list_assistants()
    assert listed[0].id == created.id  # newest first
    assert engine.label == engine.base_url.split("//")[1].removesuffix("/v1")


async def test_text_run(start_server: Any):
    text = "Hello from the local server, streamed word by word."
    server = start_server(model=ScriptedModel(text))
    engine = AssistantsEngine(server.base_url, "test")
    try:
        thread_id = await engine.create_thread()
        events = await collect(engine.run(thread_id, await demo_assistant(engine), "hi"))
    finally:
        await engine.aclose()

    started = events[0]
    assert isinstance(started, ev.RunStarted) and started.thread_id == thread_id
    deltas = "".join(e.text for e in events if isinstance(e, ev.TextDelta))
    (completed,) = [e for e in events if isinstance(e, ev.MessageCompleted)]
    assert deltas == completed.text == text
    final = events[-1]
    assert isinstance(final, ev.RunCompleted) and final.status == "completed"
    assert final.usage is not None and final.usage.completion_tokens == count_tokens(text)
    assert sum(isinstance(e, ev.MessageStarted) for e in events) == 1


async def test_messages_after_a_run(engine: AssistantsEngine):
    thread_id = await engine.create_thread()
    events = await collect(engine.run(thread_id, await demo_assistant(engine), "hello there"))
    (completed,) = [e for e in events if isinstance(e, ev.MessageCompleted)]
    page = await engine.list_messages(thread_id)
    assert [(m.role, m.text) for m in page.messages] == [
        ("user", "hello there"),
        ("assistant", completed.text),
    ]
    assert page.messages[1].run_id == events[0].run_id
    assert not page.has_more
    latest = await engine.latest_run(thread_id)
    assert latest is not None and latest.id == events[0].run_id
    assert latest.status == "completed" and latest.usage is not None
    info = await engine.retrieve_run(thread_id, latest.id)
    assert info.thread_id == thread_id and info.status == "completed"


async def test_list_messages_pages_over_a_long_thread(engine: AssistantsEngine, openai_client: Any):
    thread_id = await engine.create_thread()
    for i in range(120):
        await openai_client.beta.threads.messages.create(thread_id, role="user", content=f"m{i}")
    seen: list[str] = []
    page = await engine.list_messages(thread_id, limit=50)
    pages = [page]
    while page.has_more:
        page = await engine.list_messages(thread_id, limit=50, before_id=page.messages[0].id)
        pages.append(page)
    for page in reversed(pages):
        seen.extend(m.text for m in page.messages)
    assert [len(p.messages) for p in pages] == [50, 50, 20]
    assert seen == [f"m{i}" for i in range(120)]
    big = await engine.list_messages(thread_id, limit=1000)  # clamped to the API's 100
    assert len(big.messages) == 100 and big.has_more
    assert big.messages[-1].text == "m119"


async def test_function_calls_pause_and_continue(start_server: Any):
    model = CalculatorModel()
    server = start_server(model=model)
    engine = AssistantsEngine(server.base_url, "test")
    try:
        thread_id = await engine.create_thread()
        first = await collect(engine.run(thread_id, await demo_assistant(engine), "calc"))
        action = first[-1]
        assert isinstance(action, ev.ActionRequired)
        assert [(c.name, json.loads(c.arguments)) for c in action.calls] == [
            ("add", {"a": 2, "b": 3}),
            ("multiply", {"a": 4, "b": 5}),
        ]
        started = [e for e in first if isinstance(e, ev.ToolCallStarted)]
        assert [(s.call_id, s.name) for s in started] == [(c.call_id, c.name) for c in action.calls]
        outputs = [
            ev.ToolOutput(action.calls[0].call_id, "5"),
            ev.ToolOutput(action.calls[1].call_id, "20"),
        ]
        second = await collect(engine.submit_tool_outputs(thread_id, action.run_id, outputs))
    finally:
        await engine.aclose()
    done = {e.call_id: e.output for e in second if isinstance(e, ev.ToolCallCompleted)}
    assert done == {action.calls[0].call_id: "5", action.calls[1].call_id: "20"}
    (message,) = [e for e in second if isinstance(e, ev.MessageCompleted)]
    assert message.text == "The results are add=5, multiply=20."
    assert second[-1].status == "completed"
    assert len(model.contexts) == 2


async def test_errors_from_the_local_server(start_server: Any):
    server = start_server(bearer_token="right-token", token_delay=0.005)
    wrong = AssistantsEngine(server.base_url, "wrong-token")
    engine = AssistantsEngine(server.base_url, "right-token")
    try:
        with pytest.raises(AuthError):
            await wrong.check()
        await engine.check()
        thread_id = await engine.create_thread()
        with pytest.raises(NotFoundError):
            await engine.retrieve_run(thread_id, "run_missing")

        stream = engine.run(thread_id, await demo_assistant(engine), "/long")
        started = await anext(stream)
        assert isinstance(started, ev.RunStarted)
        with pytest.raises(ActiveRunError) as caught:
            await collect(engine.run(thread_id, await demo_assistant(engine), "again"))
        assert caught.value.run_id == started.run_id

        await engine.cancel_run(thread_id, started.run_id)
        rest = await collect(stream)
        final = rest[-1]
        assert isinstance(final, ev.RunCompleted)
        assert (final.run_id, final.status) == (started.run_id, "cancelled")
    finally:
        await wrong.aclose()
        await engine.aclose()
