"""The scripted Responses + Conversations server, through the real openai SDK.

These pin down the wire the Responses engine is tested against: the event sequence as
OpenAI sends it (``sequence_number`` on each event, from 0), background responses that can
be retrieved, resumed with ``starting_after`` and cancelled, and the real API's 400s. Every
body and event is validated against the schema subset (the ``rserver`` fixture fails the
test on any mismatch).
"""

from __future__ import annotations

import asyncio

import openai
import pytest

from tests.support.responses import API_KEY, Plan, shared_schema


@pytest.fixture
async def client(rserver):
    client = openai.AsyncOpenAI(base_url=rserver.base_url, api_key=API_KEY, max_retries=0)
    yield client
    await client.close()


async def _events(stream) -> list:
    return [event async for event in stream]


async def test_event_sequence_as_openai_sends_it(rserver, client):
    conversation = await client.conversations.create()
    stream = await client.responses.create(
        model="gpt-test-mini",
        conversation=conversation.id,
        input="hello",
        stream=True,
        background=True,
    )
    events = await _events(stream)
    types = [e.type for e in events]
    assert types[:3] == ["response.created", "response.queued", "response.in_progress"]
    assert events[0].response.status == "queued"
    assert types[3:6] == [
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
    ]
    assert types[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    done = events[-1].response
    assert done.usage.input_tokens_details.cached_tokens == 4
    assert done.output[0].content[0].text == "You said: hello"
    # The completed response appended its input and output to the conversation.
    items = await client.conversations.items.list(conversation.id, order="asc")
    assert [(i.type, i.role) for i in items.data] == [("message", "user"), ("message", "assistant")]
    assert rserver.schema.checked.get("ResponseTextDeltaEvent", 0) >= 1


async def test_background_response_is_retrieved_resumed_and_not_repeated(rserver, client):
    rserver.plan(Plan([("text", ["one ", "two ", "three ", "four"], [])]))
    conversation = await client.conversations.create()
    stream = await client.responses.create(
        model="gpt-test-mini", conversation=conversation.id, input="count",
        stream=True, background=True,
    )
    first = await _events(stream)
    response_id = first[0].response.id
    retrieved = await client.responses.retrieve(response_id)
    assert retrieved.status == "completed"
    assert retrieved.output_text == "one two three four"
    resumed = await _events(
        await client.responses.retrieve(response_id, stream=True, starting_after=6)
    )
    assert [e.sequence_number for e in resumed] == list(range(7, len(first)))
    texts = [e.delta for e in resumed if e.type == "response.output_text.delta"]
    earlier = [e.delta for e in first[:7] if e.type == "response.output_text.delta"]
    assert "".join(earlier + texts) == "one two three four"


async def test_cancel_ends_the_stream_without_an_event(rserver, client):
    rserver.plan(Plan([("text", ["partial"], []), ("gate", "never")]))
    conversation = await client.conversations.create()
    stream = await client.responses.create(
        model="gpt-test-mini", conversation=conversation.id, input="hi",
        stream=True, background=True,
    )
    seen = []
    async for event in stream:
        seen.append(event)
        if event.type == "response.output_item.done":
            cancelled = await client.responses.cancel(seen[0].response.id)
            assert cancelled.status == "cancelled"
    assert seen[-1].type == "response.output_item.done"  # no "response.cancelled" event
    assert (await client.responses.retrieve(seen[0].response.id)).status == "cancelled"
    done = await client.responses.create(
        model="gpt-test-mini", conversation=conversation.id, input="again"
    )
    with pytest.raises(openai.BadRequestError, match="Only background"):
        await client.responses.cancel(done.id)
    finished = await _events(
        await client.responses.create(
            model="gpt-test-mini", conversation=conversation.id, input="and again",
            stream=True, background=True,
        )
    )
    with pytest.raises(openai.BadRequestError, match="Cannot cancel a response with status"):
        await client.responses.cancel(finished[0].response.id)


async def test_previous_response_id_with_conversation_is_refused(rserver, client):
    conversation = await client.conversations.create()
    with pytest.raises(openai.BadRequestError, match="previous_response_id"):
        await client.responses.create(
            model="gpt-test-mini", conversation=conversation.id, input="x",
            previous_response_id="resp_123",
        )


async def _call_waiting(rserver, client) -> tuple[str, object]:
    rserver.plan(Plan([("call", "get_weather", '{"city": "Oslo"}')]))
    conversation = await client.conversations.create()
    response = await client.responses.create(
        model="gpt-test-mini", conversation=conversation.id, input="weather?"
    )
    return conversation.id, response.output[0]


async def test_a_duplicate_item_is_refused(rserver, client):
    conversation_id, call = await _call_waiting(rserver, client)
    with pytest.raises(openai.BadRequestError, match="Duplicate item found with id fc_"):
        await client.responses.create(
            model="gpt-test-mini", conversation=conversation_id,
            input=[
                {"type": "function_call", "id": call.id, "call_id": call.call_id,
                 "name": call.name, "arguments": call.arguments},
                {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"},
            ],
        )


async def test_an_output_for_an_unknown_call_is_refused(rserver, client):
    conversation_id, call = await _call_waiting(rserver, client)
    with pytest.raises(openai.BadRequestError, match="No tool call found"):
        await client.responses.create(
            model="gpt-test-mini", conversation=conversation_id,
            input=[
                {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"},
                {"type": "function_call_output", "call_id": "call_nope", "output": "?"},
            ],
        )


async def test_a_user_message_while_a_call_waits_is_refused(rserver, client):
    conversation_id, call = await _call_waiting(rserver, client)
    with pytest.raises(openai.BadRequestError, match=f"No tool output found.*{call.call_id}"):
        await client.responses.create(
            model="gpt-test-mini", conversation=conversation_id, input="never mind"
        )
    answered = await client.responses.create(
        model="gpt-test-mini", conversation=conversation_id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
    )
    assert answered.output_text == "The function said: sunny"


async def test_a_second_response_while_one_runs_is_refused(rserver, client):
    rserver.plan(Plan([("gate", "hold-second")]))
    conversation = await client.conversations.create()
    first = await client.responses.create(
        model="gpt-test-mini", conversation=conversation.id, input="one",
        stream=True, background=True,
    )
    await anext(first)
    with pytest.raises(openai.BadRequestError, match="currently operating on this conversation"):
        await client.responses.create(
            model="gpt-test-mini", conversation=conversation.id, input="two"
        )
    rserver.release("hold-second")
    await _events(first)
    await asyncio.sleep(0)


def test_the_schema_check_can_fail():
    schema = shared_schema()
    before = len(schema.failures)
    schema.check_event({"type": "response.output_text.delta", "item_id": "msg_1"})
    schema.check("Response", {"id": "resp_1", "object": "response"}, "probe")
    assert len(schema.failures) >= before + 2
    del schema.failures[before:]
