"""Runs on the local server: streaming, polling, cancelling, tool calls, the demo model."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator

import openai
import pytest
from openai import AsyncAssistantEventHandler
from openai.types.beta import AssistantStreamEvent

from tui_assistant.server.demo import LONG_TOKENS, demo_reply, long_document
from tui_assistant.server.models import (
    DemoModel,
    FunctionCall,
    ModelOutput,
    RunContext,
    ScriptedModel,
    count_tokens,
    tokenize,
)

TOKEN_RE = re.compile(r"\S+\s*|\s+")

EXPECTED_ORDER = [
    "thread.run.created",
    "thread.run.queued",
    "thread.run.in_progress",
    "thread.run.step.created",
    "thread.run.step.in_progress",
    "thread.message.created",
    "thread.message.in_progress",
    "thread.message.delta",
    "thread.message.completed",
    "thread.run.step.completed",
    "thread.run.completed",
    "done",
]


def collapse(names: list[str]) -> list[str]:
    """Event names with runs of the same name folded into one."""
    return [n for i, n in enumerate(names) if i == 0 or names[i - 1] != n]


async def sse_events(client: openai.AsyncOpenAI, thread_id: str, **params) -> list:
    """Create a streaming run and return its raw SSE events as (event, data) pairs."""
    events = []
    async with client.beta.threads.runs.with_streaming_response.create(
        thread_id=thread_id, stream=True, **params
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        event = None
        async for line in response.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
                events.append((event, data if event == "done" else json.loads(data)))
    return events


async def demo_assistant(client: openai.AsyncOpenAI) -> str:
    return (await client.beta.assistants.list()).data[0].id


async def last_message(client: openai.AsyncOpenAI, thread_id: str):
    return (await client.beta.threads.messages.list(thread_id, limit=1)).data[0]


async def test_stream_event_order_and_shapes(openai_client):
    client = openai_client
    assistant_id = await demo_assistant(client)
    thread = await client.beta.threads.create()
    text = "Please explain event streams with examples"
    events = await sse_events(
        client,
        thread.id,
        assistant_id=assistant_id,
        additional_messages=[{"role": "user", "content": text}],
    )
    names = [name for name, _ in events]
    assert collapse(names) == EXPECTED_ORDER
    assert events[-1] == ("done", "[DONE]")

    reply = demo_reply(text)
    deltas = [data for name, data in events if name == "thread.message.delta"]
    assert len(deltas) == len(tokenize(reply))
    message_id = events[5][1]["id"]
    for delta in deltas:
        assert delta["id"] == message_id and delta["object"] == "thread.message.delta"
        (block,) = delta["delta"]["content"]
        assert block["index"] == 0 and block["type"] == "text"
        assert block["text"]["annotations"] == []
    streamed = "".join(d["delta"]["content"][0]["text"]["value"] for d in deltas)
    assert streamed == reply

    statuses = {name: data["status"] for name, data in events if name.startswith("thread.run.")}
    assert statuses["thread.run.created"] == "queued"
    assert statuses["thread.run.in_progress"] == "in_progress"
    completed_message = dict(events)["thread.message.completed"]
    assert completed_message["content"][0]["text"]["value"] == reply
    assert completed_message["status"] == "completed"
    step = dict(events)["thread.run.step.completed"]
    assert step["step_details"]["message_creation"]["message_id"] == message_id

    run = dict(events)["thread.run.completed"]
    assert run["status"] == "completed" and run["completed_at"] is not None
    prompt = count_tokens(text) + count_tokens(run["instructions"])
    assert run["usage"] == {
        "prompt_tokens": prompt,
        "completion_tokens": len(deltas),
        "total_tokens": prompt + len(deltas),
    }
    assert step["usage"] == run["usage"]
    stored = await last_message(client, thread.id)
    assert stored.content[0].text.value == reply and stored.run_id == run["id"]


async def test_stream_helper_collects_the_same_text(openai_client):
    client = openai_client
    assistant_id = await demo_assistant(client)
    thread = await client.beta.threads.create()

    class Collector(AsyncAssistantEventHandler):
        def __init__(self) -> None:
            super().__init__()
            self.pieces: list[str] = []
            self.events: list[str] = []
            self.done_text = ""

        async def on_event(self, event: AssistantStreamEvent) -> None:
            self.events.append(event.event)

        async def on_text_delta(self, delta, snapshot) -> None:
            self.pieces.append(delta.value)

        async def on_text_done(self, text) -> None:
            self.done_text = text.value

    handler = Collector()
    async with client.beta.threads.runs.stream(
        thread_id=thread.id,
        assistant_id=assistant_id,
        additional_messages=[{"role": "user", "content": "Stream through the helper"}],
        event_handler=handler,
    ) as stream:
        await stream.until_done()
    final_run = await handler.get_final_run()
    assert final_run.status == "completed" and final_run.usage is not None
    expected = demo_reply("Stream through the helper")
    assert "".join(handler.pieces) == expected == handler.done_text
    assert collapse(handler.events) == EXPECTED_ORDER[:-1]
    (final_message,) = await handler.get_final_messages()
    assert final_message.content[0].text.value == expected
    assert (await last_message(client, thread.id)).content[0].text.value == expected


async def test_raw_sdk_stream_parses_every_event(openai_client):
    client = openai_client
    assistant_id = await demo_assistant(client)
    thread = await client.beta.threads.create()
    await client.beta.threads.messages.create(thread.id, role="user", content="raw stream")
    stream = await client.beta.threads.runs.create(
        thread_id=thread.id, assistant_id=assistant_id, stream=True
    )
    kinds = []
    text = []
    async for event in stream:
        kinds.append(type(event).__name__)
        if event.event == "thread.message.delta":
            text.append(event.data.delta.content[0].text.value)
    assert kinds[0] == "ThreadRunCreated" and kinds[-1] == "ThreadRunCompleted"
    assert "".join(text) == demo_reply("raw stream")


async def test_create_and_poll(openai_client):
    client = openai_client
    assistant_id = await demo_assistant(client)
    thread = await client.beta.threads.create(
        messages=[{"role": "user", "content": "polling works too"}]
    )
    run = await client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant_id
    )
    assert run.status == "completed"
    raw = await client.beta.threads.runs.with_raw_response.retrieve(run.id, thread_id=thread.id)
    assert int(raw.headers["openai-poll-after-ms"]) > 0
    reply = await last_message(client, thread.id)
    assert reply.role == "assistant" and reply.content[0].text.value == demo_reply(
        "polling works too"
    )


async def test_demo_model_replies(openai_client):
    client = openai_client
    assistant_id = await demo_assistant(client)

    async def ask(text: str) -> str:
        thread = await client.beta.threads.create()
        await client.beta.threads.runs.create_and_poll(
            thread_id=thread.id,
            assistant_id=assistant_id,
            additional_messages=[{"role": "user", "content": text}],
        )
        return (await last_message(client, thread.id)).content[0].text.value

    first = await ask("Tell me about terminal user interfaces")
    assert first == await ask("Tell me about terminal user interfaces")
    assert first != await ask("Something entirely different, about gardening")
    assert re.search(r"^## ", first, re.M)
    assert re.search(r"^- ", first, re.M)
    assert "```python\n" in first and first.count("```") == 2
    assert "terminal" in first and "interfaces" in first


def test_demo_texts():
    assert demo_reply("a b") != demo_reply("b a")
    assert "## " in demo_reply("") and "```" in demo_reply("")
    doc = long_document()
    assert len(TOKEN_RE.findall(doc)) == LONG_TOKENS == 4000
    assert doc.count("```") == 6  # three fenced blocks
    assert len(re.findall(r"^```\w+$", doc, re.M)) == 3
    assert re.search(r"^- ", doc, re.M) and re.search(r"^1\. ", doc, re.M)
    assert DemoModel().reply_for("  /long please") == doc


async def test_long_reply(openai_client):
    client = openai_client
    assistant_id = await demo_assistant(client)
    thread = await client.beta.threads.create()
    events = await sse_events(
        client,
        thread.id,
        assistant_id=assistant_id,
        additional_messages=[{"role": "user", "content": "/long"}],
    )
    deltas = [d for name, d in events if name == "thread.message.delta"]
    assert len(deltas) == LONG_TOKENS
    run = dict(events)["thread.run.completed"]
    assert run["usage"]["completion_tokens"] == LONG_TOKENS
    text = (await last_message(client, thread.id)).content[0].text.value
    assert text == long_document() and text.count("```") == 6


async def test_active_run_rejects_messages_and_runs(start_server, make_client):
    server = start_server(model=ScriptedModel("slow " * 200, token_delay=0.01))
    client = make_client(server)
    assistant_id = await demo_assistant(client)
    thread = await client.beta.threads.create()
    run = await client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant_id)
    with pytest.raises(openai.BadRequestError) as caught:
        await client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant_id)
    assert caught.value.body == {
        "message": f"Thread {thread.id} already has an active run {run.id}.",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    with pytest.raises(openai.BadRequestError) as caught:
        await client.beta.threads.messages.create(thread.id, role="user", content="wait")
    assert caught.value.body["message"] == (
        f"Can't add messages to {thread.id} while a run {run.id} is active."
    )
    other = await client.beta.threads.create()  # other threads are not blocked
    await client.beta.threads.messages.create(other.id, role="user", content="fine")
    cancelled = await client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    assert cancelled.status == "cancelling"
    final = await client.beta.threads.runs.poll(run.id, thread_id=thread.id)
    assert final.status == "cancelled"
    await client.beta.threads.messages.create(thread.id, role="user", content="now it works")


async def test_cancel_mid_stream(start_server, make_client):
    text = "".join(f"word{i} " for i in range(300))
    server = start_server(model=ScriptedModel(text, token_delay=0.005))
    client = make_client(server)
    assistant_id = await demo_assistant(client)
    thread = await client.beta.threads.create()
    stream = await client.beta.threads.runs.create(
        thread_id=thread.id,
        assistant_id=assistant_id,
        stream=True,
        additional_messages=[{"role": "user", "content": "go"}],
    )
    names, pieces, run_id, cancel_answer = [], [], None, None
    async for event in stream:
        names.append(event.event)
        if event.event == "thread.run.created":
            run_id = event.data.id
        if event.event == "thread.message.delta":
            pieces.append(event.data.delta.content[0].text.value)
            if len(pieces) == 5:
                cancel_answer = await client.beta.threads.runs.cancel(run_id, thread_id=thread.id)
    assert cancel_answer is not None and cancel_answer.status == "cancelling"
    tail = collapse(names)[collapse(names).index("thread.message.delta") :]
    assert tail == [
        "thread.message.delta",
        "thread.run.cancelling",
        *(["thread.message.delta"] if tail[2] == "thread.message.delta" else []),
        "thread.message.incomplete",
        "thread.run.step.cancelled",
        "thread.run.cancelled",
    ]
    assert 5 <= len(pieces) < 300
    run = await client.beta.threads.runs.retrieve(run_id, thread_id=thread.id)
    assert run.status == "cancelled" and run.cancelled_at is not None
    assert run.usage.completion_tokens == len(pieces)
    message = await last_message(client, thread.id)
    assert message.status == "incomplete"
    assert message.incomplete_details.reason == "run_cancelled"
    assert message.content[0].text.value == "".join(pieces)
    (step,) = (await client.beta.threads.runs.steps.list(run_id, thread_id=thread.id)).data
    assert step.status == "cancelled"
    with pytest.raises(openai.BadRequestError) as caught:
        await client.beta.threads.runs.cancel(run_id, thread_id=thread.id)
    assert caught.value.body["message"] == "Cannot cancel run with status 'cancelled'."


async def test_cancel_right_after_create(start_server, make_client):
    server = start_server(model=ScriptedModel("slow " * 100, token_delay=0.01))
    client = make_client(server)
    assistant_id = await demo_assistant(client)
    thread = await client.beta.threads.create()
    run = await client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant_id)
    await client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    final = await client.beta.threads.runs.poll(run.id, thread_id=thread.id)
    assert final.status == "cancelled"


async def test_run_continues_after_client_disconnects(start_server, make_client):
    text = "".join(f"w{i} " for i in range(100))
    server = start_server(model=ScriptedModel(text, token_delay=0.002))
    client = make_client(server)
    assistant_id = await demo_assistant(client)
    thread = await client.beta.threads.create()
    stream = await client.beta.threads.runs.create(
        thread_id=thread.id, assistant_id=assistant_id, stream=True
    )
    run_id = None
    async for event in stream:
        if event.event == "thread.run.created":
            run_id = event.data.id
        if event.event == "thread.message.delta":
            break
    await stream.close()
    run = await client.beta.threads.runs.poll(run_id, thread_id=thread.id)
    assert run.status == "completed"
    assert (await last_message(client, thread.id)).content[0].text.value == text


async def test_message_text_grows_while_running(start_server, make_client):
    text = "".join(f"t{i} " for i in range(150))
    server = start_server(model=ScriptedModel(text, token_delay=0.004))
    client = make_client(server)
    assistant_id = await demo_assistant(client)
    thread = await client.beta.threads.create()
    run = await client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant_id)
    partials = []
    for _ in range(100):
        await asyncio.sleep(0.02)
        page = await client.beta.threads.messages.list(thread.id, limit=1)
        if not page.data:
            continue
        message = page.data[0]
        if message.status != "in_progress":
            break
        assert message.role == "assistant" and message.run_id == run.id
        partials.append(message.content[0].text.value if message.content else "")
    assert any(0 < len(value) < len(text) for value in partials)
    assert all(text.startswith(value) for value in partials)
    assert partials == sorted(partials, key=len)
    final = await client.beta.threads.runs.poll(run.id, thread_id=thread.id)
    assert final.status == "completed"
    assert (await last_message(client, thread.id)).content[0].text.value == text


async def test_max_completion_tokens_makes_the_run_incomplete(start_server, make_client):
    server = start_server(model=ScriptedModel("x " * 400))
    client = make_client(server)
    assistant_id = await demo_assistant(client)
    thread = await client.beta.threads.create()
    run = await client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant_id, max_completion_tokens=256
    )
    assert run.status == "incomplete"
    assert run.incomplete_details.reason == "max_completion_tokens"
    assert run.usage.completion_tokens == 256
    message = await last_message(client, thread.id)
    assert message.status == "incomplete" and message.incomplete_details.reason == "max_tokens"


async def test_thread_and_run(openai_client):
    client = openai_client
    assistant_id = await demo_assistant(client)
    run = await client.beta.threads.create_and_run_poll(
        assistant_id=assistant_id,
        thread={"messages": [{"role": "user", "content": "one request"}], "metadata": {"k": "v"}},
    )
    assert run.status == "completed"
    thread = await client.beta.threads.retrieve(run.thread_id)
    assert thread.metadata == {"k": "v"}
    reply = await last_message(client, thread.id)
    assert reply.content[0].text.value == demo_reply("one request")

    stream = await client.beta.threads.create_and_run(
        assistant_id=assistant_id,
        thread={"messages": [{"role": "user", "content": "streamed"}]},
        stream=True,
    )
    names = [event.event async for event in stream]
    assert names[:2] == ["thread.created", "thread.run.created"]
    assert names[-1] == "thread.run.completed"


class WeatherModel:
    """Asks for ``get_weather`` once, then reports the output it was given."""

    def __init__(self) -> None:
        self.contexts: list[RunContext] = []

    async def respond(self, context: RunContext) -> AsyncIterator[ModelOutput]:
        self.contexts.append(context)
        if not context.tool_results:
            yield "Let me check. "
            yield FunctionCall("get_weather", json.dumps({"city": "Oslo"}))
            yield FunctionCall("get_time", "{}")
            return
        outputs = ", ".join(f"{r.name}={r.output}" for r in context.tool_results)
        for word in f"The tools said: {outputs}".split(" "):
            yield word + " "


async def test_function_calls_pause_and_resume(start_server, make_client):
    model = WeatherModel()
    client = make_client(start_server(model=model))
    assistant_id = await demo_assistant(client)
    thread = await client.beta.threads.create()

    events = await sse_events(
        client,
        thread.id,
        assistant_id=assistant_id,
        additional_messages=[{"role": "user", "content": "weather?"}],
    )
    names = collapse([name for name, _ in events])
    assert names[-6:] == [
        "thread.run.step.completed",
        "thread.run.step.created",
        "thread.run.step.in_progress",
        "thread.run.step.delta",
        "thread.run.requires_action",
        "done",
    ]
    created_step = [d for n, d in events if n == "thread.run.step.created"][-1]
    assert created_step["step_details"] == {"type": "tool_calls", "tool_calls": []}
    run = dict(events)["thread.run.requires_action"]
    calls = run["required_action"]["submit_tool_outputs"]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["get_weather", "get_time"]
    assert json.loads(calls[0]["function"]["arguments"]) == {"city": "Oslo"}
    assert all(c["id"].startswith("call_") for c in calls)

    with pytest.raises(openai.BadRequestError):  # every output must come in one request
        await client.beta.threads.runs.submit_tool_outputs(
            run["id"], thread_id=thread.id, tool_outputs=[{"tool_call_id": calls[0]["id"]}]
        )
    with pytest.raises(openai.BadRequestError):  # the paused run still blocks the thread
        await client.beta.threads.messages.create(thread.id, role="user", content="hm")

    class Texts(AsyncAssistantEventHandler):
        def __init__(self) -> None:
            super().__init__()
            self.names: list[str] = []

        async def on_event(self, event) -> None:
            self.names.append(event.event)

    handler = Texts()
    async with client.beta.threads.runs.submit_tool_outputs_stream(
        thread_id=thread.id,
        run_id=run["id"],
        tool_outputs=[
            {"tool_call_id": calls[0]["id"], "output": "sunny"},
            {"tool_call_id": calls[1]["id"], "output": "noon"},
        ],
        event_handler=handler,
    ) as stream:
        await stream.until_done()
    assert collapse(handler.names)[:3] == [
        "thread.run.step.completed",
        "thread.run.queued",
        "thread.run.in_progress",
    ]
    final = await handler.get_final_run()
    assert final.status == "completed" and final.required_action is None
    assert [r.output for r in model.contexts[-1].tool_results] == ["sunny", "noon"]

    messages = (await client.beta.threads.messages.list(thread.id, order="asc")).data
    assert [m.content[0].text.value for m in messages] == [
        "weather?",
        "Let me check. ",
        "The tools said: get_weather=sunny, get_time=noon ",
    ]
    steps = await client.beta.threads.runs.steps.list(run["id"], thread_id=thread.id, order="asc")
    assert [s.type for s in steps.data] == ["message_creation", "tool_calls", "message_creation"]
    tool_step = steps.data[1]
    assert tool_step.status == "completed"
    assert [c.function.output for c in tool_step.step_details.tool_calls] == ["sunny", "noon"]

    with pytest.raises(openai.BadRequestError) as caught:
        await client.beta.threads.runs.submit_tool_outputs(
            run["id"], thread_id=thread.id, tool_outputs=[]
        )
    assert caught.value.body["message"] == 'Runs in status "completed" do not accept tool outputs.'


async def test_polling_sees_requires_action_and_cancel_works(start_server, make_client):
    client = make_client(start_server(model=WeatherModel()))
    assistant_id = await demo_assistant(client)
    thread = await client.beta.threads.create()
    run = await client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant_id
    )
    assert run.status == "requires_action"
    assert len(run.required_action.submit_tool_outputs.tool_calls) == 2
    await client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    run = await client.beta.threads.runs.poll(run.id, thread_id=thread.id)
    assert run.status == "cancelled" and run.required_action is None
    steps = (await client.beta.threads.runs.steps.list(run.id, thread_id=thread.id)).data
    assert steps[0].type == "tool_calls" and steps[0].status == "cancelled"


async def test_model_failure_fails_the_run(start_server, make_client):
    class Broken:
        async def respond(self, context: RunContext) -> AsyncIterator[ModelOutput]:
            yield "partial "
            raise ValueError("boom")

    client = make_client(start_server(model=Broken()))
    assistant_id = await demo_assistant(client)
    thread = await client.beta.threads.create()
    run = await client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant_id
    )
    assert run.status == "failed" and run.last_error.code == "server_error"
    assert "boom" in run.last_error.message
    message = await last_message(client, thread.id)
    assert message.status == "incomplete" and message.incomplete_details.reason == "run_failed"


async def test_truncation_and_context(start_server, make_client):
    seen: list[RunContext] = []

    class Recorder:
        async def respond(self, context: RunContext) -> AsyncIterator[ModelOutput]:
            seen.append(context)
            yield "ok"

    client = make_client(start_server(model=Recorder()))
    assistant_id = await demo_assistant(client)
    thread = await client.beta.threads.create(
        messages=[{"role": "user", "content": f"m{i}"} for i in range(5)]
    )
    await client.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=assistant_id,
        truncation_strategy={"type": "last_messages", "last_messages": 2},
        additional_instructions="Be nice.",
    )
    context = seen[-1]
    assert [m.text for m in context.messages] == ["m3", "m4"]
    assert context.instructions.endswith("\n\nBe nice.")
    assert context.model == "demo" and context.last_user_text == "m4"
    assert context.thread_id == thread.id


async def test_paused_run_expires(start_server, make_client):
    server = start_server(model=WeatherModel())
    client = make_client(server)
    assistant_id = await demo_assistant(client)
    thread = await client.beta.threads.create()
    run = await client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant_id
    )
    assert run.status == "requires_action" and run.expires_at == run.created_at + 600
    # Ten minutes are too long to wait: fire the run's expiry timer now.
    runs = server.app.api.runs
    server._server.loop.call_soon_threadsafe(runs._expire, run.id)
    run = await client.beta.threads.runs.poll(run.id, thread_id=thread.id)
    assert run.status == "expired" and run.expires_at is None
    steps = (await client.beta.threads.runs.steps.list(run.id, thread_id=thread.id)).data
    assert steps[0].status == "expired" and steps[0].expired_at is not None
    with pytest.raises(openai.BadRequestError):
        await client.beta.threads.runs.submit_tool_outputs(
            run.id, thread_id=thread.id, tool_outputs=[]
        )


async def test_runs_on_two_threads_stream_at_once(start_server, make_client):
    server = start_server(token_delay=0.001)
    client = make_client(server)
    assistant_id = await demo_assistant(client)

    async def ask(text: str) -> str:
        thread = await client.beta.threads.create()
        events = await sse_events(
            client,
            thread.id,
            assistant_id=assistant_id,
            additional_messages=[{"role": "user", "content": text}],
        )
        assert events[-2][0] == "thread.run.completed"
        return "".join(
            d["delta"]["content"][0]["text"]["value"]
            for name, d in events
            if name == "thread.message.delta"
        )

    texts = ["first conversation here", "second, quite different one"]
    replies = await asyncio.gather(*(ask(text) for text in texts))
    assert replies == [demo_reply(text) for text in texts]


async def test_deleting_a_thread_stops_its_run(start_server, make_client):
    server = start_server(model=ScriptedModel("on " * 300, token_delay=0.005))
    client = make_client(server)
    assistant_id = await demo_assistant(client)
    thread = await client.beta.threads.create()
    stream = await client.beta.threads.runs.create(
        thread_id=thread.id, assistant_id=assistant_id, stream=True
    )
    names = []
    async for event in stream:
        names.append(event.event)
        if event.event == "thread.message.delta" and names.count(event.event) == 3:
            await client.beta.threads.delete(thread.id)
    assert names.count("thread.message.delta") < 300  # the stream ended early
    with pytest.raises(openai.NotFoundError):
        await client.beta.threads.retrieve(thread.id)
    assert server.app.api.runs.active == {}
