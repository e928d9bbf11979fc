"""The built-in server over a Chat Completions upstream: chat loops through the openai SDK."""

from __future__ import annotations

import threading
from typing import Any

from openai import AssistantEventHandler

from tests.support.gateway import Reply, text_chunks


def _assistant(client: Any, **fields: Any) -> Any:
    fields.setdefault("model", "m1")
    return client.beta.assistants.create(**fields)


class Collect(AssistantEventHandler):
    def __init__(self, on_first: Any = None) -> None:
        super().__init__()
        self.deltas: list[str] = []
        self.on_first = on_first

    def on_text_delta(self, delta: Any, snapshot: Any) -> None:
        self.deltas.append(delta.value)
        if self.on_first is not None and len(self.deltas) == 1:
            self.on_first()


def test_polling_chat_loop_gets_the_upstream_words(gateway: Any, upstream: Any) -> None:
    server, client = gateway()
    upstream.script(text_chunks("Oslo is the capital of Norway."))
    assistant = _assistant(client, instructions="Answer in one sentence.")
    thread = client.beta.threads.create()
    client.beta.threads.messages.create(thread.id, role="user", content="Capital of Norway?")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed", run.last_error
    messages = client.beta.threads.messages.list(thread.id, order="asc").data
    assert [m.role for m in messages] == ["user", "assistant"]
    assert messages[1].content[0].text.value == "Oslo is the capital of Norway."
    sent = upstream.requests[0]
    assert sent["model"] == "m1"
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}
    assert sent["messages"] == [
        {"role": "system", "content": "Answer in one sentence."},
        {"role": "user", "content": "Capital of Norway?"},
    ]
    assert run.usage.prompt_tokens == 11
    assert run.usage.completion_tokens == 7
    assert not (run.usage.model_extra or {}).get("estimated")


def test_streaming_loop_gets_each_delta_before_the_upstream_finishes(
    gateway: Any, upstream: Any
) -> None:
    server, client = gateway()
    gate = threading.Event()
    chunks = text_chunks("one two three four five")
    # The upstream holds back everything after "one " until the client has seen a delta:
    # a gateway that buffered the reply would never let this run finish.
    upstream.script(Reply(chunks=chunks, gate=gate, gate_after=2))
    assistant = _assistant(client)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "count"}])
    handler = Collect(on_first=gate.set)
    with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=assistant.id, event_handler=handler
    ) as stream:
        stream.until_done()
    assert gate.is_set()
    assert handler.deltas == ["one ", "two ", "three ", "four ", "five"]
    run = client.beta.threads.runs.list(thread.id).data[0]
    assert run.status == "completed"


def test_run_instructions_and_additional_instructions_become_the_system_message(
    gateway: Any, upstream: Any
) -> None:
    server, client = gateway()
    upstream.script(text_chunks("ok"))
    assistant = _assistant(client, instructions="Assistant's own.")
    thread = client.beta.threads.create(
        messages=[
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "an answer"},
            {"role": "user", "content": "second"},
        ]
    )
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=assistant.id,
        instructions="Run's own.",
        additional_instructions="Be terse.",
    )
    assert run.status == "completed"
    assert upstream.requests[0]["messages"] == [
        {"role": "system", "content": "Run's own.\n\nBe terse."},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "an answer"},
        {"role": "user", "content": "second"},
    ]


def test_usage_is_estimated_and_marked_when_the_upstream_sends_none(
    gateway: Any, upstream: Any
) -> None:
    server, client = gateway()
    upstream.script(text_chunks("a reply without usage", usage=None))
    assistant = _assistant(client)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "hello"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed"
    assert run.usage.completion_tokens > 0
    assert run.usage.prompt_tokens > 0
    assert (run.usage.model_extra or {}).get("estimated") is True


def test_default_assistant_and_models_come_from_the_upstream(gateway: Any, upstream: Any) -> None:
    server, client = gateway(model=None)
    assistants = client.beta.assistants.list().data
    assert len(assistants) == 1
    assert assistants[0].model == "m1"  # the first model the upstream lists
    assert sorted(t.type for t in assistants[0].tools) == ["code_interpreter", "file_search"]
    assert [m.id for m in client.models.list().data] == ["m1", "m2"]


def test_the_assistants_model_goes_upstream(gateway: Any, upstream: Any) -> None:
    server, client = gateway()
    upstream.script(text_chunks("from m2"))
    assistant = _assistant(client, model="m2")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed"
    assert upstream.requests[0]["model"] == "m2"


def test_json_mode_and_sampling_settings_go_upstream(gateway: Any, upstream: Any) -> None:
    server, client = gateway()
    upstream.script(text_chunks('{"ok": true}'))
    assistant = _assistant(client)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "json please"}])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=assistant.id,
        response_format={"type": "json_object"},
        temperature=0.2,
        top_p=0.9,
    )
    assert run.status == "completed"
    sent = upstream.requests[0]
    assert sent["response_format"] == {"type": "json_object"}
    assert (sent["temperature"], sent["top_p"]) == (0.2, 0.9)
    reply = client.beta.threads.messages.list(thread.id).data[0]
    assert reply.content[0].text.value == '{"ok": true}'
