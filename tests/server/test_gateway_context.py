"""The context window: truncation_strategy, max_prompt_tokens and --context-window."""

from __future__ import annotations

from typing import Any

from tests.support.gateway import call_chunks, text_chunks
from tui_assistant.server.chat_model import estimate_tokens


def _long_thread(client: Any, count: int = 300) -> Any:
    messages = []
    for number in range(count):
        role = "user" if number % 2 == 0 else "assistant"
        messages.append({"role": role, "content": f"message {number} " + "word " * 40})
    messages[-1] = {"role": "user", "content": "the newest question"}
    return client.beta.threads.create(messages=messages)


def _size(messages: list[dict[str, Any]]) -> int:
    return sum(4 + estimate_tokens(m.get("content") or "") for m in messages)


def test_a_300_message_thread_is_truncated_into_a_small_window(gateway: Any, upstream: Any) -> None:
    server, client = gateway(context_window=2048)
    upstream.script(text_chunks("fits"))
    assistant = client.beta.assistants.create(model="m1", instructions="The instructions.")
    thread = _long_thread(client)
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed"
    sent = upstream.requests[0]["messages"]
    assert sent[0] == {"role": "system", "content": "The instructions."}
    assert sent[-1] == {"role": "user", "content": "the newest question"}
    assert 3 < len(sent) < 100
    assert _size(sent) <= 2048 - 512  # the window minus room for the reply
    # the oldest were left out, the rest kept in order
    numbers = [int(m["content"].split()[1]) for m in sent[1:-1]]
    assert numbers == sorted(numbers) and numbers[-1] == 298
    left_out = 300 - (len(sent) - 1)
    assert run.truncation_strategy.model_extra["left_out"] == left_out


def test_last_messages_keeps_that_many(gateway: Any, upstream: Any) -> None:
    server, client = gateway()
    upstream.script(text_chunks("ok"))
    assistant = client.beta.assistants.create(model="m1", instructions="Rules.")
    thread = _long_thread(client, 20)
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=assistant.id,
        truncation_strategy={"type": "last_messages", "last_messages": 3},
    )
    assert run.status == "completed"
    sent = upstream.requests[0]["messages"]
    assert [m["role"] for m in sent] == ["system", "assistant", "user", "user"]
    assert sent[0]["content"] == "Rules."
    assert sent[1]["content"].startswith("message 17 ")
    assert sent[-1]["content"] == "the newest question"


def test_max_prompt_tokens_is_honoured(gateway: Any, upstream: Any) -> None:
    server, client = gateway()
    upstream.script(text_chunks("ok"))
    assistant = client.beta.assistants.create(model="m1")
    thread = _long_thread(client, 100)
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, max_prompt_tokens=600
    )
    assert run.status == "completed"
    sent = upstream.requests[0]["messages"]
    assert _size(sent) <= 600
    assert sent[-1]["content"] == "the newest question"
    assert len(sent) < 100


def test_long_tool_outputs_are_shortened_before_messages_are_dropped(
    gateway: Any, upstream: Any
) -> None:
    server, client = gateway(context_window=4096)
    upstream.script(call_chunks([("call_1", "dump", "{}")]), text_chunks("done"))
    dump = {"type": "function", "function": {"name": "dump", "parameters": {"type": "object"}}}
    assistant = client.beta.assistants.create(model="m1", tools=[dump])
    thread = client.beta.threads.create(
        messages=[
            {"role": "user", "content": "an early question"},
            {"role": "assistant", "content": "an early answer"},
            {"role": "user", "content": "dump everything"},
        ]
    )
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    huge = "".join(f"line {n:05d}\n" for n in range(2000))  # 22,000 characters
    run = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id,
        thread_id=thread.id,
        tool_outputs=[{"tool_call_id": "call_1", "output": huge}],
    )
    assert run.status == "completed", run.last_error
    second = upstream.requests[1]["messages"]
    assert second[0]["content"] == "an early question"  # nothing had to be dropped
    tool = second[-1]
    assert tool["role"] == "tool" and len(tool["content"]) < 5000
    assert tool["content"].startswith("line 00000") and tool["content"].endswith("line 01999\n")


async def test_the_app_engine_reports_left_out_messages_and_estimated_usage(
    gateway: Any, upstream: Any
) -> None:
    from tui_assistant import events as ev
    from tui_assistant.engines.assistants import AssistantsEngine

    server, client = gateway(context_window=1024)
    upstream.script(text_chunks("short", usage=None))
    assistant = client.beta.assistants.create(model="m1")
    thread = _long_thread(client, 40)
    engine = AssistantsEngine(server.base_url, "local")
    try:
        events = [e async for e in engine.run(thread.id, assistant.id, "one more")]
    finally:
        await engine.aclose()
    [done] = [e for e in events if isinstance(e, ev.RunCompleted)]
    sent = upstream.requests[0]["messages"]
    assert done.left_out == 41 - len(sent) > 0
    assert done.usage is not None and done.usage.estimated
