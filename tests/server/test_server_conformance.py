"""The local server against the official SDK and the OpenAPI schema: objects, lists, errors.

Every response these tests receive through ``openai_client``/``make_client`` is also
checked against the schema by the client's response hook (see ``conftest.py``).
"""

from __future__ import annotations

import json

import httpx2
import openai
import pytest

from tui_assistant.server.objects import RUN_LIFETIME
from tui_assistant.server.runtime import start_local_server


def error_body(exc: openai.APIStatusError) -> dict:
    return exc.response.json()


def assert_openai_error(exc: openai.APIStatusError, status: int, message: str) -> None:
    assert exc.status_code == status
    assert error_body(exc) == {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }


async def test_assistant_crud(openai_client, openapi):
    client = openai_client
    created = await client.beta.assistants.create(
        model="demo-1",
        name="Helper",
        description="Says things",
        instructions="Be brief.",
        tools=[
            {"type": "code_interpreter"},
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Weather for a city",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                },
            },
        ],
        metadata={"team": "tui"},
        temperature=0.5,
    )
    assert created.id.startswith("asst_") and len(created.id) == len("asst_") + 24
    assert created.object == "assistant"
    assert isinstance(created.created_at, int)
    assert (created.model, created.name, created.instructions) == ("demo-1", "Helper", "Be brief.")
    assert [t.type for t in created.tools] == ["code_interpreter", "function"]
    assert created.metadata == {"team": "tui"} and created.temperature == 0.5
    openapi.assert_valid("AssistantObject", created.model_dump(mode="json", exclude_unset=True))

    fetched = await client.beta.assistants.retrieve(created.id)
    assert fetched == created

    updated = await client.beta.assistants.update(
        created.id, name="Renamed", metadata={"team": "core"}, instructions=None
    )
    assert (updated.name, updated.metadata, updated.model) == (
        "Renamed",
        {"team": "core"},
        "demo-1",
    )
    assert updated.instructions is None
    assert (await client.beta.assistants.retrieve(created.id)).name == "Renamed"

    listed = [a.id async for a in client.beta.assistants.list()]
    assert created.id in listed

    deleted = await client.beta.assistants.delete(created.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (created.id, "assistant.deleted", True)
    with pytest.raises(openai.NotFoundError) as caught:
        await client.beta.assistants.retrieve(created.id)
    assert_openai_error(caught.value, 404, f"No assistant found with id '{created.id}'.")


async def test_demo_assistant_is_created_once(start_server, make_client, tmp_path):
    db = tmp_path / "server.db"
    server = start_server(db_path=db)
    client = make_client(server)
    assistants = (await client.beta.assistants.list()).data
    assert [(a.name, a.model) for a in assistants] == [("Demo assistant", "demo")]
    assert assistants[0].instructions
    server.stop()
    again = make_client(start_server(db_path=db))
    assert [a.id for a in (await again.beta.assistants.list()).data] == [assistants[0].id]

    empty = make_client(start_server(demo_assistant=False))
    assert (await empty.beta.assistants.list()).data == []


async def test_assistant_pagination(start_server, make_client):
    client = make_client(start_server(demo_assistant=False))
    ids = [(await client.beta.assistants.create(model="m", name=f"a{i}")).id for i in range(5)]

    page = await client.beta.assistants.list(limit=2)  # default order: newest first
    assert [a.id for a in page.data] == ids[::-1][:2]
    assert page.has_more is True
    assert page.model_extra["first_id"] == ids[4] and page.model_extra["last_id"] == ids[3]

    page = await client.beta.assistants.list(limit=2, order="asc", after=ids[1])
    assert [a.id for a in page.data] == ids[2:4] and page.has_more is True
    page = await client.beta.assistants.list(limit=10, order="asc", before=ids[3])
    assert [a.id for a in page.data] == ids[:3] and page.has_more is False
    page = await client.beta.assistants.list(limit=2, order="desc", before=ids[0])
    assert [a.id for a in page.data] == [ids[2], ids[1]] and page.has_more is True

    assert [a.id async for a in client.beta.assistants.list(limit=2, order="asc")] == ids


async def test_thread_crud(openai_client, openapi):
    client = openai_client
    thread = await client.beta.threads.create(
        messages=[
            {"role": "user", "content": "First question"},
            {"role": "assistant", "content": [{"type": "text", "text": "An answer"}]},
        ],
        metadata={"title": "Test"},
    )
    assert thread.id.startswith("thread_") and thread.object == "thread"
    assert thread.metadata == {"title": "Test"}
    messages = (await client.beta.threads.messages.list(thread.id, order="asc")).data
    assert [(m.role, m.content[0].text.value) for m in messages] == [
        ("user", "First question"),
        ("assistant", "An answer"),
    ]
    assert all(m.run_id is None and m.status == "completed" for m in messages)

    assert await client.beta.threads.retrieve(thread.id) == thread
    updated = await client.beta.threads.update(thread.id, metadata={"title": "Renamed"})
    assert updated.metadata == {"title": "Renamed"}
    assert (await client.beta.threads.retrieve(thread.id)).metadata == {"title": "Renamed"}

    empty = await client.beta.threads.create()
    assert empty.metadata == {}

    deleted = await client.beta.threads.delete(thread.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (thread.id, "thread.deleted", True)
    with pytest.raises(openai.NotFoundError) as caught:
        await client.beta.threads.retrieve(thread.id)
    assert_openai_error(caught.value, 404, f"No thread found with id '{thread.id}'.")
    with pytest.raises(openai.NotFoundError):
        await client.beta.threads.messages.retrieve(messages[0].id, thread_id=thread.id)


async def test_message_crud(openai_client):
    client = openai_client
    thread = await client.beta.threads.create()
    message = await client.beta.threads.messages.create(
        thread.id,
        role="user",
        content=[
            {"type": "text", "text": "Look at this"},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
        ],
        metadata={"k": "v"},
    )
    assert message.id.startswith("msg_") and message.thread_id == thread.id
    assert message.role == "user" and message.assistant_id is None and message.run_id is None
    assert [block.type for block in message.content] == ["text", "image_url"]
    assert message.attachments == [] and message.metadata == {"k": "v"}

    fetched = await client.beta.threads.messages.retrieve(message.id, thread_id=thread.id)
    assert fetched == message
    updated = await client.beta.threads.messages.update(
        message.id, thread_id=thread.id, metadata={"k": "w"}
    )
    assert updated.metadata == {"k": "w"}
    deleted = await client.beta.threads.messages.delete(message.id, thread_id=thread.id)
    assert deleted.deleted and deleted.object == "thread.message.deleted"
    with pytest.raises(openai.NotFoundError) as caught:
        await client.beta.threads.messages.retrieve(message.id, thread_id=thread.id)
    assert_openai_error(caught.value, 404, f"No message found with id '{message.id}'.")


async def test_message_pagination_over_a_hundred(openai_client):
    client = openai_client
    count = 105
    thread = await client.beta.threads.create(
        messages=[{"role": "user", "content": f"message {i}"} for i in range(count)]
    )
    texts = [f"message {i}" for i in range(count)]

    def values(page):
        return [m.content[0].text.value for m in page.data]

    first = await client.beta.threads.messages.list(thread.id)
    assert values(first) == texts[::-1][:20] and first.has_more is True  # limit 20, desc

    full = await client.beta.threads.messages.list(thread.id, limit=100)
    assert len(full.data) == 100 and full.has_more is True
    rest = await client.beta.threads.messages.list(thread.id, limit=100, after=full.data[-1].id)
    assert values(rest) == texts[4::-1] and rest.has_more is False

    collected = [
        m.content[0].text.value
        async for m in client.beta.threads.messages.list(thread.id, order="asc", limit=100)
    ]
    assert collected == texts

    ids = [m.id for m in full.data][::-1]  # oldest first: messages 5..104
    page = await client.beta.threads.messages.list(thread.id, order="asc", after=ids[0], limit=3)
    assert [m.id for m in page.data] == ids[1:4]
    older = await client.beta.threads.messages.list(thread.id, order="desc", after=ids[0], limit=3)
    assert values(older) == ["message 4", "message 3", "message 2"]
    newer = await client.beta.threads.messages.list(thread.id, order="desc", before=ids[0], limit=3)
    assert values(newer) == ["message 8", "message 7", "message 6"] and newer.has_more is True

    for bad in ({"limit": 0}, {"limit": 101}, {"order": "sideways"}, {"after": "msg_nope"}):
        with pytest.raises(openai.BadRequestError) as caught:
            await client.beta.threads.messages.list(thread.id, **bad)
        assert caught.value.body["type"] == "invalid_request_error"


async def test_not_found_bodies(openai_client):
    client = openai_client
    thread = await client.beta.threads.create()
    assistant = (await client.beta.assistants.list()).data[0]
    run = await client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id
    )
    cases = [
        (client.beta.threads.retrieve("thread_x"), "No thread found with id 'thread_x'."),
        (client.beta.assistants.retrieve("asst_x"), "No assistant found with id 'asst_x'."),
        (
            client.beta.threads.messages.list("thread_x"),
            "No thread found with id 'thread_x'.",
        ),
        (
            client.beta.threads.messages.retrieve("msg_x", thread_id=thread.id),
            "No message found with id 'msg_x'.",
        ),
        (
            client.beta.threads.runs.retrieve("run_x", thread_id=thread.id),
            "No run found with id 'run_x'.",
        ),
        (
            client.beta.threads.runs.steps.retrieve("step_x", thread_id=thread.id, run_id=run.id),
            "No run step found with id 'step_x'.",
        ),
        (
            client.beta.threads.runs.create(thread_id=thread.id, assistant_id="asst_x"),
            "No assistant found with id 'asst_x'.",
        ),
        (
            client.beta.threads.runs.cancel("run_x", thread_id=thread.id),
            "No run found with id 'run_x'.",
        ),
    ]
    for call, message in cases:
        with pytest.raises(openai.NotFoundError) as caught:
            await call
        assert_openai_error(caught.value, 404, message)

    other = await client.beta.threads.create()
    with pytest.raises(openai.NotFoundError):  # a run is only found through its own thread
        await client.beta.threads.runs.retrieve(run.id, thread_id=other.id)

    with pytest.raises(openai.NotFoundError) as caught:
        await client.get("/nowhere", cast_to=object)
    assert error_body(caught.value)["error"]["message"] == "Invalid URL (GET /v1/nowhere)"


async def test_bad_bodies(openai_client, local_server):
    client = openai_client
    with pytest.raises(openai.BadRequestError) as caught:
        await client.post("/assistants", body={"name": "no model"}, cast_to=object)
    assert caught.value.body == {
        "message": "Missing required parameter: 'model'.",
        "type": "invalid_request_error",
        "param": "model",
        "code": None,
    }
    thread = await client.beta.threads.create()
    bad_calls = [
        lambda: client.beta.assistants.create(model="m", temperature=3),
        lambda: client.beta.assistants.create(
            model="m", metadata={f"k{i}": "v" for i in range(17)}
        ),
        lambda: client.beta.assistants.create(model="m", tools=[{"type": "web_browser"}]),
        lambda: client.beta.assistants.create(model="m", extra_body={"colour": "blue"}),
        lambda: client.beta.threads.messages.create(thread.id, role="system", content="hi"),
        lambda: client.beta.threads.messages.create(thread.id, role="user", content=[]),
        lambda: client.beta.threads.runs.create(thread_id=thread.id, assistant_id=""),
        lambda: client.beta.threads.runs.create(
            thread_id=thread.id, assistant_id="asst_x", max_completion_tokens=10
        ),
    ]
    for call in bad_calls:
        with pytest.raises(openai.BadRequestError) as caught:
            await call()
        assert set(error_body(caught.value)["error"]) == {"message", "type", "param", "code"}

    async with httpx2.AsyncClient(base_url=local_server.base_url) as raw:
        response = await raw.post(
            "/assistants", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400
        assert response.json()["error"]["type"] == "invalid_request_error"
        response = await raw.post("/threads", content=b"[1, 2]")
        assert response.status_code == 400


async def test_runs_list_retrieve_update(openai_client, openapi):
    client = openai_client
    assistant = (await client.beta.assistants.list()).data[0]
    thread = await client.beta.threads.create()
    runs = []
    for i in range(3):
        runs.append(
            await client.beta.threads.runs.create_and_poll(
                thread_id=thread.id,
                assistant_id=assistant.id,
                additional_messages=[{"role": "user", "content": f"question {i}"}],
                metadata={"n": str(i)},
            )
        )
    assert all(r.status == "completed" for r in runs)
    run = runs[0]
    assert run.id.startswith("run_") and run.thread_id == thread.id
    assert run.assistant_id == assistant.id and run.model == "demo"
    assert run.instructions == assistant.instructions
    assert run.started_at is not None and run.completed_at is not None
    assert run.expires_at is None and run.usage.total_tokens > 0
    openapi.assert_valid("RunObject", run.model_dump(mode="json", exclude_unset=True))

    listed = await client.beta.threads.runs.list(thread.id)
    assert [r.id for r in listed.data] == [r.id for r in runs[::-1]]
    asc = await client.beta.threads.runs.list(thread.id, order="asc", limit=1, after=runs[0].id)
    assert [r.id for r in asc.data] == [runs[1].id] and asc.has_more is True

    updated = await client.beta.threads.runs.update(
        run.id, thread_id=thread.id, metadata={"label": "first"}
    )
    assert updated.metadata == {"label": "first"} and updated.status == "completed"
    fetched = await client.beta.threads.runs.retrieve(run.id, thread_id=thread.id)
    assert fetched.metadata == {"label": "first"}

    by_run = await client.beta.threads.messages.list(thread.id, run_id=runs[1].id)
    assert [m.role for m in by_run.data] == ["assistant"]
    assert by_run.data[0].run_id == runs[1].id and by_run.data[0].assistant_id == assistant.id


async def test_run_options_are_echoed(openai_client):
    client = openai_client
    assistant = await client.beta.assistants.create(
        model="base-model", instructions="Base.", tools=[{"type": "file_search"}]
    )
    thread = await client.beta.threads.create()
    run = await client.beta.threads.runs.create(
        thread_id=thread.id,
        assistant_id=assistant.id,
        model="other-model",
        additional_instructions="Extra.",
        temperature=0.2,
        top_p=0.9,
        max_prompt_tokens=1000,
        max_completion_tokens=2000,
        truncation_strategy={"type": "last_messages", "last_messages": 4},
        tool_choice="none",
        parallel_tool_calls=False,
        response_format={"type": "text"},
        metadata={"a": "b"},
    )
    assert run.status == "queued"
    assert run.expires_at == run.created_at + RUN_LIFETIME
    assert run.model == "other-model" and run.instructions == "Base.\n\nExtra."
    assert [t.type for t in run.tools] == ["file_search"]
    assert (run.temperature, run.top_p) == (0.2, 0.9)
    assert (run.max_prompt_tokens, run.max_completion_tokens) == (1000, 2000)
    assert run.truncation_strategy.type == "last_messages"
    assert run.truncation_strategy.last_messages == 4
    assert run.tool_choice == "none" and run.parallel_tool_calls is False
    assert run.metadata == {"a": "b"}
    done = await client.beta.threads.runs.poll(run.id, thread_id=thread.id)
    assert done.status == "completed"

    replaced = await client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, instructions="Only this.", tools=[]
    )
    assert replaced.instructions == "Only this." and replaced.tools == []


async def test_run_steps(openai_client, openapi):
    client = openai_client
    assistant = (await client.beta.assistants.list()).data[0]
    thread = await client.beta.threads.create()
    run = await client.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=assistant.id,
        additional_messages=[{"role": "user", "content": "steps please"}],
    )
    steps = await client.beta.threads.runs.steps.list(run.id, thread_id=thread.id)
    assert len(steps.data) == 1 and steps.has_more is False
    step = steps.data[0]
    assert step.id.startswith("step_") and step.type == "message_creation"
    assert step.status == "completed" and step.completed_at is not None
    assert (step.run_id, step.thread_id, step.assistant_id) == (run.id, thread.id, assistant.id)
    assert step.usage.completion_tokens == run.usage.completion_tokens
    openapi.assert_valid("RunStepObject", step.model_dump(mode="json", exclude_unset=True))

    message_id = step.step_details.message_creation.message_id
    message = await client.beta.threads.messages.retrieve(message_id, thread_id=thread.id)
    assert message.run_id == run.id and message.status == "completed"

    fetched = await client.beta.threads.runs.steps.retrieve(
        step.id, thread_id=thread.id, run_id=run.id
    )
    assert fetched == step
    with pytest.raises(openai.NotFoundError):
        await client.beta.threads.runs.steps.list("run_x", thread_id=thread.id)


async def test_every_schema_is_exercised(openai_client, openapi):
    """The response hook really checks bodies (guards against a silently idle checker)."""
    client = openai_client
    before = dict(openapi.checked)
    assistant = await client.beta.assistants.create(model="m")
    await client.beta.assistants.list()
    await client.beta.assistants.delete(assistant.id)
    thread = await client.beta.threads.create()
    await client.beta.threads.messages.list(thread.id)
    with pytest.raises(openai.NotFoundError):
        await client.beta.threads.retrieve("thread_nope")
    grown = {k for k, v in openapi.checked.items() if v > before.get(k, 0)}
    assert {
        "AssistantObject",
        "ListAssistantsResponse",
        "DeleteAssistantResponse",
        "ThreadObject",
        "ListMessagesResponse",
        "ErrorResponse",
    } <= grown


def test_openapi_conversion_catches_mistakes(openapi):
    run_errors = openapi.errors("RunObject", {"id": "run_1", "object": "thread.run"})
    assert run_errors
    message = {
        "id": "msg_1",
        "object": "thread.message",
        "created_at": 1,
        "thread_id": "thread_1",
        "status": "done",  # not an allowed status
        "incomplete_details": None,
        "completed_at": None,
        "incomplete_at": None,
        "role": "user",
        "content": [],
        "assistant_id": None,
        "run_id": None,
        "attachments": None,
        "metadata": None,
    }
    assert any("status" in e for e in openapi.errors("MessageObject", message))
    message["status"] = "completed"
    assert openapi.errors("MessageObject", message) == []
    assert openapi.errors("DoneEvent", {"event": "done", "data": "[DONE]"}) == []


def test_start_is_fast_and_stop_is_idempotent():
    import time

    start_local_server().stop()  # warm the imports
    began = time.perf_counter()
    server = start_local_server()
    elapsed = time.perf_counter() - began
    try:
        assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
        assert elapsed < 0.3, f"start took {elapsed:.3f}s"
    finally:
        server.stop()
        server.stop()


def test_json_bodies_are_compact(local_server):
    response = httpx2.get(local_server.base_url + "/assistants")
    assert response.headers["content-type"] == "application/json"
    assert json.loads(response.content)["object"] == "list"
