"""Upstream faults become a run status and a plain ``last_error``; cancel closes upstream."""

from __future__ import annotations

import socket
from typing import Any

from openai import AssistantEventHandler

from tests.support.gateway import (
    Reply,
    chunk,
    error_reply,
    text_chunks,
)

TOOLS = [
    {"type": "function", "function": {"name": "ping", "parameters": {"type": "object"}}},
]


def _run(client: Any, tools: Any = (), **options: Any) -> tuple[Any, Any]:
    assistant = client.beta.assistants.create(model="m1", tools=list(tools))
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "hello"}])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, **options
    )
    return thread, run


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_upstream(gateway: Any) -> None:
    port = _free_port()
    server, client = gateway(url=f"http://127.0.0.1:{port}/v1")
    _, run = _run(client)
    assert run.status == "failed"
    assert run.last_error.code == "server_error"
    message = run.last_error.message
    assert f"The model server at 127.0.0.1:{port} is not reachable" in message
    assert "Check that it is running" in message


def test_a_refused_key(gateway: Any, upstream: Any) -> None:
    server, client = gateway(api_key="sk-wrong")
    upstream.script(error_reply(401, "Incorrect API key provided"))
    _, run = _run(client)
    assert run.status == "failed"
    assert "refused the API key" in run.last_error.message
    assert "401" in run.last_error.message
    assert "sk-wrong" not in run.last_error.message
    assert upstream.headers[-1]["Authorization"] == "Bearer sk-wrong"


def test_forbidden_is_about_the_key_too(gateway: Any, upstream: Any) -> None:
    server, client = gateway(api_key="sk-x")
    upstream.script(error_reply(403, "Forbidden"))
    _, run = _run(client)
    assert run.status == "failed"
    assert "refused the API key" in run.last_error.message and "403" in run.last_error.message


def test_an_unknown_model_is_named_with_what_the_endpoint_has(gateway: Any, upstream: Any) -> None:
    server, client = gateway()
    upstream.script(error_reply(404, 'model "nope" not found, try pulling it first'))
    assistant = client.beta.assistants.create(model="nope")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "failed"
    assert "has no model 'nope'" in run.last_error.message
    assert "It has: m1, m2." in run.last_error.message


def test_rate_limit_retry_after_is_honoured_once(gateway: Any, upstream: Any) -> None:
    server, client = gateway()
    upstream.script(error_reply(429, "slow down", **{"Retry-After": "0"}), text_chunks("fine"))
    _, run = _run(client)
    assert run.status == "completed"
    assert len(upstream.requests) == 2


def test_rate_limit_twice_fails_with_rate_limit_exceeded(gateway: Any, upstream: Any) -> None:
    server, client = gateway()
    upstream.script(error_reply(429, "slow down", **{"Retry-After": "0"}))
    _, run = _run(client)
    assert run.status == "failed"
    assert run.last_error.code == "rate_limit_exceeded"
    assert "429" in run.last_error.message
    assert len(upstream.requests) == 2


def test_a_server_error(gateway: Any, upstream: Any) -> None:
    server, client = gateway()
    upstream.script(error_reply(503, "model is loading"))
    _, run = _run(client)
    assert run.status == "failed"
    assert run.last_error.code == "server_error"
    assert "HTTP 503: model is loading" in run.last_error.message


def test_a_stream_cut_midway_keeps_the_text_so_far(gateway: Any, upstream: Any) -> None:
    server, client = gateway()
    chunks = [chunk({"role": "assistant", "content": ""})] + [
        chunk({"content": w}) for w in ("The ", "first ", "words")
    ]
    upstream.script(Reply(chunks=chunks, done=False))
    thread, run = _run(client)
    assert run.status == "failed"
    assert "cut the reply off midway" in run.last_error.message
    reply = client.beta.threads.messages.list(thread.id).data[0]
    assert reply.status == "incomplete"
    assert reply.content[0].text.value == "The first words"


def test_an_error_event_inside_the_stream(gateway: Any, upstream: Any) -> None:
    server, client = gateway()
    upstream.script(Reply(chunks=['{"error": {"message": "out of memory"}}']))
    _, run = _run(client)
    assert run.status == "failed"
    assert "out of memory" in run.last_error.message


def test_a_model_without_tools_is_asked_again_without_them(gateway: Any, upstream: Any) -> None:
    server, client = gateway()
    upstream.script(
        error_reply(400, "registry.ollama.ai/library/gemma:2b does not support tools"),
        text_chunks("Hello without tools."),
    )
    thread, run = _run(client, TOOLS)
    assert run.status == "completed"
    assert "tools" in upstream.requests[0]
    assert "tools" not in upstream.requests[1]
    reply = client.beta.threads.messages.list(thread.id).data[0].content[0].text.value
    assert reply.startswith("> Note: this model does not support tools")
    assert reply.endswith("Hello without tools.")
    # the next run does not ask again with tools
    assistant = client.beta.assistants.create(model="m1", tools=TOOLS)
    again = client.beta.threads.create(messages=[{"role": "user", "content": "again"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=again.id, assistant_id=assistant.id)
    assert run.status == "completed"
    assert len(upstream.requests) == 3 and "tools" not in upstream.requests[2]


def test_cancel_closes_the_upstream_request(gateway: Any, upstream: Any) -> None:
    server, client = gateway()
    chunks = [chunk({"role": "assistant", "content": ""}), chunk({"content": "Thinking "})]
    upstream.script(Reply(chunks=chunks, hang=True, done=False))
    assistant = client.beta.assistants.create(model="m1")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "go"}])

    class CancelOnText(AssistantEventHandler):
        def on_text_delta(self, delta: Any, snapshot: Any) -> None:
            if self.current_run is not None and self.current_run.status == "in_progress":
                client.beta.threads.runs.cancel(run_id=self.current_run.id, thread_id=thread.id)

    with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=assistant.id, event_handler=CancelOnText()
    ) as stream:
        stream.until_done()
    assert upstream.disconnected.wait(10), "the upstream request was left open"
    run = client.beta.threads.runs.list(thread.id).data[0]
    assert run.status == "cancelled"
    reply = client.beta.threads.messages.list(thread.id).data[0]
    assert reply.content[0].text.value == "Thinking "


def test_a_server_that_refuses_stream_options_is_asked_again_without(
    gateway: Any, upstream: Any
) -> None:
    server, client = gateway()
    upstream.script(
        error_reply(400, "Unrecognized request argument supplied: stream_options"),
        text_chunks("fine", usage=None),
    )
    _, run = _run(client)
    assert run.status == "completed"
    assert "stream_options" in upstream.requests[0]
    assert "stream_options" not in upstream.requests[1]
    assert (run.usage.model_extra or {}).get("estimated") is True


def test_models_from_an_unreachable_upstream_is_a_plain_502(gateway: Any) -> None:
    import openai
    import pytest

    port = _free_port()
    server, client = gateway(url=f"http://127.0.0.1:{port}/v1")
    with pytest.raises(openai.APIStatusError) as raised:
        client.models.list()
    assert raised.value.status_code == 502
    assert f"The model server at 127.0.0.1:{port} is not reachable" in raised.value.message


def test_a_server_that_ignores_stream_answers_at_once(gateway: Any, upstream: Any) -> None:
    server, client = gateway()
    whole = {
        "id": "chatcmpl-2",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "m1",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "All at once.", "refusal": None},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }
    upstream.script(Reply(plain=True, body=whole))
    thread, run = _run(client)
    assert run.status == "completed"
    assert run.usage.prompt_tokens == 5 and run.usage.completion_tokens == 3
    reply = client.beta.threads.messages.list(thread.id).data[0]
    assert reply.content[0].text.value == "All at once."
