"""Real servers' Chat Completions streams, each quirk scripted on its own.

Each test's upstream sends tool calls the way one real server does (see
``shared/docs/responses-and-chat.md`` §3) and the run must end ``requires_action`` with
exactly the calls the model meant. Chunks that break OpenAI's schema on purpose (the
quirk itself) are sent as raw JSON text, which the upstream does not validate.
"""

from __future__ import annotations

import json
from typing import Any

from tests.support.gateway import (
    Reply,
    call_chunks,
    chunk,
    text_chunks,
)

FUNCTIONS = [
    {
        "type": "function",
        "function": {
            "name": name,
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
    for name in ("get_weather", "get_time")
]


def _calls(gateway: Any, upstream: Any, *replies: Any) -> tuple[Any, Any, Any, list]:
    server, client = gateway()
    upstream.script(*replies)
    assistant = client.beta.assistants.create(model="m1", tools=FUNCTIONS)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "go"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "requires_action", (run.status, run.last_error)
    calls = [
        (c.id, c.function.name, json.loads(c.function.arguments))
        for c in run.required_action.submit_tool_outputs.tool_calls
    ]
    return client, thread, run, calls


def _raw(*chunks: dict[str, Any]) -> list[str]:
    return [json.dumps(c) for c in chunks]


def _tool_delta(**call: Any) -> dict[str, Any]:
    return chunk({"tool_calls": [call]})


def test_id_and_name_repeated_in_every_chunk(gateway: Any, upstream: Any) -> None:
    pieces = ['{"ci', 'ty": "Os', 'lo"}']
    chunks = [
        _tool_delta(
            index=0,
            id="call_r",
            type="function",
            function={"name": "get_weather", "arguments": piece},
        )
        for piece in pieces
    ]
    _, _, _, calls = _calls(gateway, upstream, [*chunks, chunk({}, "tool_calls")])
    assert calls == [("call_r", "get_weather", {"city": "Oslo"})]


def test_no_id_gets_one_made_and_the_round_trip_uses_it(gateway: Any, upstream: Any) -> None:
    first = chunk(
        {
            "tool_calls": [
                {"index": 0, "type": "function", "function": {"name": "get_time", "arguments": ""}}
            ]
        }
    )
    rest = _tool_delta(index=0, function={"arguments": '{"city": "Rome"}'})
    client, thread, run, calls = _calls(
        gateway,
        upstream,
        Reply(chunks=[*_raw(first), json.dumps(rest), json.dumps(chunk({}, "tool_calls"))]),
        text_chunks("noon"),
    )
    [(call_id, name, arguments)] = calls
    assert call_id.isalnum() and len(call_id) == 9  # the shape Mistral's templates need
    assert (name, arguments) == ("get_time", {"city": "Rome"})
    run = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": call_id, "output": "12"}]
    )
    assert run.status == "completed"
    sent = upstream.requests[1]["messages"]
    assert sent[-2]["tool_calls"][0]["id"] == call_id
    assert sent[-1] == {"role": "tool", "tool_call_id": call_id, "content": "12"}


def test_no_index_whole_calls_in_one_chunk(gateway: Any, upstream: Any) -> None:
    both = chunk(
        {
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "get_time", "arguments": '{"city": "Lima"}'},
                },
            ]
        }
    )
    _, _, _, calls = _calls(
        gateway, upstream, Reply(chunks=[*_raw(both), json.dumps(chunk({}, "tool_calls"))])
    )
    assert calls == [
        ("call_1", "get_weather", {"city": "Oslo"}),
        ("call_2", "get_time", {"city": "Lima"}),
    ]


def test_several_calls_all_on_index_0_with_different_ids(gateway: Any, upstream: Any) -> None:
    chunks = [
        _tool_delta(
            index=0, id="call_x", type="function", function={"name": "get_weather", "arguments": ""}
        ),
        _tool_delta(index=0, function={"arguments": '{"city": "Oslo"}'}),
        _tool_delta(
            index=0, id="call_y", type="function", function={"name": "get_time", "arguments": ""}
        ),
        _tool_delta(index=0, function={"arguments": '{"city": "Kyiv"}'}),
        chunk({}, "tool_calls"),
    ]
    _, _, _, calls = _calls(gateway, upstream, chunks)
    assert calls == [
        ("call_x", "get_weather", {"city": "Oslo"}),
        ("call_y", "get_time", {"city": "Kyiv"}),
    ]


def test_the_whole_call_in_one_chunk(gateway: Any, upstream: Any) -> None:
    chunks = [
        _tool_delta(
            index=0,
            id="call_w",
            type="function",
            function={"name": "get_weather", "arguments": '{"city": "Bern"}'},
        ),
        chunk({}, "tool_calls"),
    ]
    _, _, _, calls = _calls(gateway, upstream, chunks)
    assert calls == [("call_w", "get_weather", {"city": "Bern"})]


def test_finish_reason_stop_although_there_are_tool_calls(gateway: Any, upstream: Any) -> None:
    chunks = call_chunks([("call_s", "get_weather", '{"city": "Oslo"}')], finish="stop")
    _, _, _, calls = _calls(gateway, upstream, chunks)
    assert calls == [("call_s", "get_weather", {"city": "Oslo"})]


def test_empty_arguments_become_an_empty_object(gateway: Any, upstream: Any) -> None:
    chunks = [
        _tool_delta(
            index=0, id="call_e", type="function", function={"name": "get_time", "arguments": ""}
        ),
        chunk({}, "tool_calls"),
    ]
    _, _, run, calls = _calls(gateway, upstream, chunks)
    assert calls == [("call_e", "get_time", {})]
    assert run.required_action.submit_tool_outputs.tool_calls[0].function.arguments == "{}"


def test_a_tool_call_element_written_into_the_content(gateway: Any, upstream: Any) -> None:
    text = (
        'Let me check.<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>'
    )
    pieces = [text[i : i + 7] for i in range(0, len(text), 7)]
    chunks = [chunk({"content": p}) for p in pieces] + [chunk({}, "stop")]
    client, thread, run, calls = _calls(gateway, upstream, chunks)
    [(call_id, name, arguments)] = calls
    assert (name, arguments) == ("get_weather", {"city": "Oslo"})
    messages = client.beta.threads.messages.list(thread.id).data
    assert messages[0].role == "assistant"
    assert messages[0].content[0].text.value == "Let me check."


def test_a_bare_json_call_as_the_whole_content(gateway: Any, upstream: Any) -> None:
    text = '{"name": "get_time", "arguments": {"city": "Quito"}}'
    chunks = [chunk({"content": text[:10]}), chunk({"content": text[10:]}), chunk({}, "stop")]
    client, thread, run, calls = _calls(gateway, upstream, chunks)
    [(_, name, arguments)] = calls
    assert (name, arguments) == ("get_time", {"city": "Quito"})
    messages = client.beta.threads.messages.list(thread.id).data
    assert [m.role for m in messages] == ["user"]  # nothing of the call shown as text


def test_json_that_is_not_a_call_is_shown_as_text(gateway: Any, upstream: Any) -> None:
    server, client = gateway()
    upstream.script(text_chunks('{"answer": 42}'))
    assistant = client.beta.assistants.create(model="m1", tools=FUNCTIONS)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "json please"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed"
    reply = client.beta.threads.messages.list(thread.id).data[0]
    assert reply.content[0].text.value == '{"answer": 42}'


def test_invalid_json_arguments_are_told_once_then_corrected(gateway: Any, upstream: Any) -> None:
    bad = call_chunks([("call_b", "get_weather", '{"city": Oslo')])
    good = call_chunks([("call_g", "get_weather", '{"city": "Oslo"}')])
    _, _, _, calls = _calls(gateway, upstream, bad, good)
    assert calls == [("call_g", "get_weather", {"city": "Oslo"})]
    told = upstream.requests[1]["messages"][-1]
    assert told["role"] == "tool" and told["tool_call_id"] == "call_b"
    assert "not a valid JSON object" in told["content"]


def test_invalid_json_arguments_twice_fail_the_run_plainly(gateway: Any, upstream: Any) -> None:
    server, client = gateway()
    upstream.script(call_chunks([("", "get_weather", "{city")]))
    assistant = client.beta.assistants.create(model="m1", tools=FUNCTIONS)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "go"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "failed"
    assert run.last_error.code == "server_error"
    assert "invalid JSON arguments for get_weather" in run.last_error.message
    assert len(upstream.requests) == 2


def test_an_empty_name_in_later_chunks_keeps_the_first(gateway: Any, upstream: Any) -> None:
    chunks = [
        _tool_delta(
            index=0, id="call_n", type="function", function={"name": "get_time", "arguments": ""}
        ),
        _tool_delta(index=0, function={"name": "", "arguments": '{"city": '}),
        _tool_delta(index=0, function={"name": "", "arguments": '"Oslo"}'}),
        chunk({}, "tool_calls"),
    ]
    _, _, _, calls = _calls(gateway, upstream, chunks)
    assert calls == [("call_n", "get_time", {"city": "Oslo"})]
