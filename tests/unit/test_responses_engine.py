"""ResponsesEngine (and the session loop on it) against the scripted Responses server.

Real HTTP on 127.0.0.1 through the real openai SDK; the server validates every body and
event against the schema subset (``rserver`` fixture).
"""

from __future__ import annotations

import json

import pytest

from tests.support.responses import API_KEY, Plan
from tui_assistant import events as ev
from tui_assistant.engines.base import AssistantSettings
from tui_assistant.engines.responses import VECTOR_STORE_KEY, MemoryAssistants, ResponsesEngine
from tui_assistant.errors import (
    ActiveRunError,
    AuthError,
    NotFoundError,
    RateLimitedError,
    ServerError,
)
from tui_assistant.files import footnote
from tui_assistant.session import Session

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
ASSISTANT = AssistantSettings(
    id="asst_local_tester",
    name="Tester",
    model="gpt-test-mini",
    instructions="Be brief.",
    tools=(WEATHER, {"type": "code_interpreter"}),
    temperature=0.3,
)


@pytest.fixture
async def engine(rserver):
    engine = ResponsesEngine(
        rserver.base_url, API_KEY, assistants=MemoryAssistants([ASSISTANT])
    )
    yield engine
    await engine.aclose()


async def collect(events) -> list[ev.RunEvent]:
    return [event async for event in events]


def text_of(events: list[ev.RunEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, ev.TextDelta))


def posts(rserver) -> list[dict]:
    return [body for _m, _p, _q, body in rserver.requests_to("POST", "/responses")]


async def test_streamed_reply_and_history(rserver, engine):
    thread = await engine.create_thread()
    events = await collect(Session(engine).send(thread, ASSISTANT.id, "hello"))
    assert isinstance(events[0], ev.RunStarted) and events[0].thread_id == thread
    assert text_of(events) == "You said: hello"
    done = [e for e in events if isinstance(e, ev.MessageCompleted)]
    assert [d.text for d in done] == ["You said: hello"]
    final = events[-1]
    assert isinstance(final, ev.RunCompleted) and final.status == "completed"
    assert final.run_id == events[0].run_id
    assert final.usage == ev.Usage(12, 7, 19, cached_tokens=4, reasoning_tokens=2)
    (body,) = posts(rserver)
    assert body["conversation"] == thread
    assert (body["stream"], body["background"], body["store"]) == (True, True, True)
    assert body["truncation"] == "auto"
    assert body["instructions"] == "Be brief." and body["temperature"] == 0.3
    assert body["input"] == [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello"}]}
    ]
    assert {"type": "function", "name": "get_weather", "description": "The weather in a city.",
            "parameters": WEATHER["function"]["parameters"], "strict": False} in body["tools"]
    assert {"type": "code_interpreter", "container": {"type": "auto"}} in body["tools"]
    assert body["include"] == ["code_interpreter_call.outputs"]
    assert "previous_response_id" not in body
    page = await engine.list_messages(thread)
    assert [(m.role, m.text) for m in page.messages] == [
        ("user", "hello"), ("assistant", "You said: hello")
    ]
    assert page.messages[1].id == done[0].message_id


async def test_history_is_paged_oldest_first(rserver, engine):
    thread = await engine.create_thread()
    session = Session(engine)
    for word in ("one", "two", "three"):
        await collect(session.send(thread, ASSISTANT.id, word))
    newest = await engine.list_messages(thread, limit=4)
    assert newest.has_more
    older = await engine.list_messages(thread, limit=4, before_id=newest.messages[0].id)
    texts = [m.text for m in older.messages + newest.messages]
    assert texts == ["one", "You said: one", "two", "You said: two", "three",
                     "You said: three"]
    assert not older.has_more


async def test_a_cut_stream_is_resumed_without_repeating_or_losing_text(rserver, engine):
    chunks = [f"word{n} " for n in range(12)]
    rserver.plan(Plan([("text", chunks, [])], cut_after=8))
    thread = await engine.create_thread()
    events = await collect(Session(engine).send(thread, ASSISTANT.id, "long"))
    assert text_of(events) == "".join(chunks)
    assert [e.text for e in events if isinstance(e, ev.MessageCompleted)] == ["".join(chunks)]
    assert isinstance(events[-1], ev.RunCompleted)
    resumed = [q for _m, path, q, _b in rserver.requests if path.startswith("/responses/resp_")
               and q.get("stream") == "true"]
    assert resumed and resumed[0]["starting_after"] == "8"
    assert len(posts(rserver)) == 1  # no second response was created


async def test_cancel_stops_the_response(rserver, engine):
    rserver.plan(Plan([("text", ["partial "], []), ("gate", "cancel-me")]))
    thread = await engine.create_thread()
    session = Session(engine)
    events = []
    async for event in session.send(thread, ASSISTANT.id, "go"):
        events.append(event)
        if isinstance(event, ev.TextDelta):
            await session.cancel(thread)
    final = events[-1]
    assert isinstance(final, ev.RunCompleted) and final.status == "cancelled"
    run_id = events[0].run_id
    assert rserver.responses[run_id].obj["status"] == "cancelled"
    assert rserver.requests_to("POST", f"/responses/{run_id}/cancel")
    assert text_of(events) == "partial "


async def test_function_round_trip_answered_through_the_session(rserver, engine):
    rserver.plan(Plan([("call", "get_weather", '{"city": "Oslo"}')]))
    thread = await engine.create_thread()
    asked: list[ev.ActionRequired] = []

    async def answer_by_hand(event: ev.ActionRequired) -> list[ev.ToolOutput]:
        asked.append(event)
        return [ev.ToolOutput(call.call_id, '{"sky": "clear"}') for call in event.calls]

    events = await collect(Session(engine, on_action=answer_by_hand).send(
        thread, ASSISTANT.id, "weather in Oslo?"))
    (pause,) = asked
    (call,) = pause.calls
    assert (call.name, json.loads(call.arguments)) == ("get_weather", {"city": "Oslo"})
    assert pause.run_id == events[0].run_id
    started = [e for e in events if isinstance(e, ev.ToolCallStarted)]
    assert [(s.call_id, s.kind, s.name) for s in started] == [
        (call.call_id, "function", "get_weather")
    ]
    args = "".join(e.input for e in events if isinstance(e, ev.ToolCallDelta))
    assert args == '{"city": "Oslo"}'
    completed = [e for e in events if isinstance(e, ev.ToolCallCompleted)]
    assert [(c.call_id, c.output) for c in completed] == [(call.call_id, '{"sky": "clear"}')]
    assert text_of(events) == 'The function said: {"sky": "clear"}'
    final = events[-1]
    assert isinstance(final, ev.RunCompleted) and final.run_id == pause.run_id
    assert final.usage == ev.Usage(24, 14, 38, cached_tokens=8, reasoning_tokens=4)
    first, second = posts(rserver)
    assert second["conversation"] == thread
    assert second["input"] == [
        {"type": "function_call_output", "call_id": call.call_id, "output": '{"sky": "clear"}'}
    ]
    assert "previous_response_id" not in second
    assert second["instructions"] == first["instructions"] and second["tools"] == first["tools"]
    kinds = [i["type"] for i in rserver.items(thread)]
    assert kinds == ["message", "function_call", "function_call_output", "message"]
    # The conversation accepts the next user message.
    more = await collect(Session(engine).send(thread, ASSISTANT.id, "thanks"))
    assert text_of(more) == "You said: thanks"


async def test_cancel_while_a_call_waits_answers_the_call(rserver, engine):
    rserver.plan(Plan([("call", "get_weather", '{"city": "Rome"}')]))
    thread = await engine.create_thread()
    session: Session

    async def cancel_instead(event: ev.ActionRequired) -> list[ev.ToolOutput]:
        await session.cancel(thread)
        return []

    session = Session(engine, on_action=cancel_instead)
    events = await collect(session.send(thread, ASSISTANT.id, "weather?"))
    assert isinstance(events[-1], ev.RunCompleted) and events[-1].status == "cancelled"
    assert len(posts(rserver)) == 1  # no response was made for the cancelled call
    outputs = [i for i in rserver.items(thread) if i["type"] == "function_call_output"]
    assert len(outputs) == 1 and "cancelled" in outputs[0]["output"]
    more = await collect(Session(engine).send(thread, ASSISTANT.id, "never mind"))
    assert text_of(more) == "You said: never mind"


async def test_a_call_left_unanswered_by_a_crash_is_answered_before_the_next_message(
    rserver, engine
):
    rserver.plan(Plan([("call", "get_weather", '{"city": "Lima"}')]))
    thread = await engine.create_thread()
    first = await collect(engine.run(thread, ASSISTANT.id, "weather?"))
    assert isinstance(first[-1], ev.ActionRequired)  # ... and the app dies here
    restarted = ResponsesEngine(
        rserver.base_url, API_KEY, assistants=MemoryAssistants([ASSISTANT])
    )
    try:
        events = await collect(Session(restarted).send(thread, ASSISTANT.id, "hello again"))
    finally:
        await restarted.aclose()
    assert text_of(events) == "You said: hello again"
    kinds = [(i["type"], i.get("role")) for i in rserver.items(thread)]
    assert kinds[:3] == [("message", "user"), ("function_call", None),
                         ("function_call_output", None)]


async def test_code_interpreter_logs_and_container_files(rserver, engine, tmp_path):
    rserver.container_files[("cntr_test", "cfile_1")] = b"x,y\n1,2\n"
    citation = {"type": "container_file_citation", "container_id": "cntr_test",
                "file_id": "cfile_1", "start_index": 12, "end_index": 21,
                "filename": "table.csv"}
    rserver.plan(Plan([
        ("code", ["print(", "6 * 7)"], "42\n"),
        ("text", ["Saved it to ", "table.csv."], [citation]),
    ]))
    thread = await engine.create_thread()
    events = await collect(Session(engine).send(thread, ASSISTANT.id, "compute"))
    started = [e for e in events if isinstance(e, ev.ToolCallStarted)]
    assert [s.kind for s in started] == ["code_interpreter"]
    code = "".join(e.input for e in events if isinstance(e, ev.ToolCallDelta))
    assert code == "print(6 * 7)"
    (done,) = [e for e in events if isinstance(e, ev.ToolCallCompleted)]
    assert (done.kind, done.input, done.output) == ("code_interpreter", "print(6 * 7)", "42\n")
    (message,) = [e for e in events if isinstance(e, ev.MessageCompleted)]
    (annotation,) = message.annotations
    assert (annotation.kind, annotation.text) == ("file_path", "table.csv")
    saved = await engine.download_file(annotation.file_id, str(tmp_path / "table.csv"))
    assert (tmp_path / "table.csv").read_bytes() == b"x,y\n1,2\n" and saved.endswith("table.csv")


async def test_file_search_vector_store_and_citations(rserver, engine, tmp_path):
    source = tmp_path / "policy.txt"
    source.write_text("Refunds take 30 days.")
    uploaded = await engine.upload_file(str(source))
    result = {"file_id": uploaded.id, "filename": "policy.txt", "score": 0.91,
              "text": "Refunds take 30 days."}
    rserver.plan(Plan([
        ("search", ["refund time"], [result]),
        ("text", ["Refunds take 30 days."],
         [{"type": "file_citation", "file_id": uploaded.id, "filename": "policy.txt",
           "index": 21}]),
    ]))
    thread = await engine.create_thread()
    attachment = {"file_id": uploaded.id, "tools": [{"type": "file_search"}]}
    events = await collect(
        Session(engine).send(thread, ASSISTANT.id, "how long?", attachments=[attachment])
    )
    (store_id,) = [k for k, v in rserver.vector_stores.items() if thread in v["name"]]
    assert rserver.vector_stores[store_id]["files"] == [uploaded.id]
    assert rserver.conversations[thread]["metadata"] == {VECTOR_STORE_KEY: store_id}
    (body,) = posts(rserver)
    assert {"type": "file_search", "vector_store_ids": [store_id]} in body["tools"]
    assert "file_search_call.results" in body["include"]
    (search,) = [e for e in events if isinstance(e, ev.ToolCallCompleted)]
    assert search.kind == "file_search" and search.input == "refund time"
    assert search.results == (ev.FileSearchResult(uploaded.id, "policy.txt", 0.91),)
    (message,) = [e for e in events if isinstance(e, ev.MessageCompleted)]
    shown = footnote(message.text, message.annotations, {uploaded.id: "policy.txt"})
    assert shown.text == "Refunds take 30 days.[1]"
    # A later engine (after a restart) finds the thread's vector store again.
    later = ResponsesEngine(rserver.base_url, API_KEY, assistants=MemoryAssistants([ASSISTANT]))
    try:
        await collect(later.run(thread, ASSISTANT.id, "and exchanges?"))
    finally:
        await later.aclose()
    assert [k for k, v in rserver.vector_stores.items() if thread in v["name"]] == [store_id]
    assert {"type": "file_search", "vector_store_ids": [store_id]} in posts(rserver)[-1]["tools"]


async def test_reasoning_summary_is_a_tool_pane_entry(rserver, engine):
    rserver.plan(Plan([("reasoning", ["Weighing ", "options."]), ("text", ["Done."], [])]))
    thread = await engine.create_thread()
    events = await collect(engine.run(thread, ASSISTANT.id, "think"))
    started = [e for e in events if isinstance(e, ev.ToolCallStarted)]
    assert [(s.kind, s.name) for s in started] == [("reasoning", "reasoning summary")]
    pieces = [e.output for e in events if isinstance(e, ev.ToolCallDelta)]
    assert pieces == ["Weighing ", "options."]
    (done,) = [e for e in events if isinstance(e, ev.ToolCallCompleted)]
    assert (done.kind, done.output) == ("reasoning", "Weighing options.")


async def test_failed_and_incomplete_responses(rserver, engine):
    rserver.plan(
        Plan([("text", ["Half"], [])], end="failed", error=("server_error", "The model broke.")),
        Plan([("text", ["Cut sh"], [])], end="incomplete", reason="max_output_tokens"),
    )
    thread = await engine.create_thread()
    failed = await collect(Session(engine).send(thread, ASSISTANT.id, "one"))
    assert failed[-1] == ev.RunFailed(failed[0].run_id, "failed", "server_error",
                                      "The model broke.")
    incomplete = await collect(Session(engine).send(thread, ASSISTANT.id, "two"))
    final = incomplete[-1]
    assert isinstance(final, ev.RunCompleted)
    assert (final.status, final.reason) == ("incomplete", "max_output_tokens")
    assert [e.text for e in incomplete if isinstance(e, ev.MessageCompleted)] == ["Cut sh"]


async def test_http_errors_map_to_the_engine_errors(rserver, engine):
    thread = await engine.create_thread()
    rserver.fail_next.append(
        (429, {"message": "Slow down.", "type": "rate_limit", "param": None, "code": None},
         {"retry-after": "7"})
    )
    with pytest.raises(RateLimitedError) as limited:
        await collect(engine.run(thread, ASSISTANT.id, "x"))
    assert limited.value.retry_after == 7.0
    rserver.fail_next.append(
        (503, {"message": "Overloaded.", "type": "server_error", "param": None, "code": None}, {})
    )
    with pytest.raises(ServerError, match="503"):
        await collect(engine.run(thread, ASSISTANT.id, "x"))
    engine.assistants.save(
        AssistantSettings(id="asst_local_bad", name="Bad", model="gpt-nonexistent")
    )
    with pytest.raises(NotFoundError, match="gpt-nonexistent"):
        await collect(engine.run(thread, "asst_local_bad", "x"))
    rserver.fail_next.append(
        (404, {"message": "The model `gpt-9` does not exist or you do not have access to it.",
               "type": "invalid_request_error", "param": None, "code": None}, {})
    )
    with pytest.raises(NotFoundError, match="gpt-9") as missing_model:
        await collect(engine.run(thread, ASSISTANT.id, "x"))
    assert missing_model.value.title == "Unknown model"
    with pytest.raises(NotFoundError, match="local assistants"):
        await collect(engine.run(thread, "asst_local_missing", "x"))
    rserver.plan(Plan([("gate", "busy")]))
    stream = engine.run(thread, ASSISTANT.id, "first")
    await anext(stream)
    with pytest.raises(ActiveRunError):
        await collect(engine.run(thread, ASSISTANT.id, "second"))
    rserver.release("busy")
    await collect(stream)
    wrong = ResponsesEngine(rserver.base_url, "sk-wrong-key-1234")
    try:
        with pytest.raises(AuthError) as refused:
            await wrong.create_thread()
        assert "sk-wrong-key-1234" not in str(refused.value)
    finally:
        await wrong.aclose()


async def test_local_assistants_live_in_the_store(rserver, tmp_path):
    from tui_assistant.store import Store

    store = Store.open(tmp_path / "store.db")
    try:
        engine = ResponsesEngine(
            rserver.base_url, API_KEY, assistants=store.local_assistants("https://x/v1")
        )
        made = await engine.create_assistant(
            name="Helper", model="gpt-test-mini", instructions="Hi.", tools=[WEATHER],
            temperature=0.2,
        )
        assert made.function_names == ("get_weather",)
        await engine.update_assistant(made.id, name="Helper 2", model="gpt-test-reasoner",
                                      tools=[WEATHER])
        await engine.aclose()
        again = ResponsesEngine(
            rserver.base_url, API_KEY, assistants=store.local_assistants("https://x/v1")
        )
        settings = await again.assistant_settings(made.id)
        assert (settings.name, settings.model, settings.temperature) == (
            "Helper 2", "gpt-test-reasoner", 0.2)
        assert [a.id for a in await again.list_assistants()] == [made.id]
        assert await again.list_models() == ["gpt-test-mini", "gpt-test-reasoner"]
        thread = await again.create_thread()
        await collect(again.run(thread, made.id, "hi"))
        body = posts(rserver)[-1]
        assert (body["model"], body["temperature"]) == ("gpt-test-reasoner", 0.2)
        await again.delete_assistant(made.id)
        assert await again.list_assistants() == []
        with pytest.raises(NotFoundError):
            await again.delete_assistant(made.id)
        await again.aclose()
        assert store.local_assistants("elsewhere").list() == []
    finally:
        store.close()


async def test_unknown_event_types_are_ignored(rserver, engine):
    rserver.plan(Plan([
        ("raw", {"type": "response.web_search_call.in_progress", "output_index": 0,
                 "item_id": "ws_1"}),
        ("text", ["Still ", "fine."], []),
    ]))
    thread = await engine.create_thread()
    events = await collect(engine.run(thread, ASSISTANT.id, "x"))
    assert text_of(events) == "Still fine."
    assert not [e for e in events if isinstance(e, ev.ToolCallStarted)]
    assert isinstance(events[-1], ev.RunCompleted)


async def test_an_error_event_ends_the_turn_with_the_responses_error(rserver, engine):
    rserver.plan(Plan([("text", ["Hm"], [])], end="error",
                      error=("rate_limit_exceeded", "Too many tokens per minute.")))
    thread = await engine.create_thread()
    events = await collect(Session(engine, poll_interval=0.01).send(thread, ASSISTANT.id, "x"))
    final = events[-1]
    assert isinstance(final, ev.RunFailed)
    assert (final.status, final.code, final.message) == (
        "failed", "rate_limit_exceeded", "Too many tokens per minute.")


async def test_when_resuming_fails_the_session_follows_the_run(rserver, engine):
    rserver.plan(Plan([("text", ["alpha ", "beta ", "gamma"], []), ("gate", "later")],
                      cut_after=6))
    rserver.refuse_resume = True
    rserver.release_on_retrieve = "later"
    thread = await engine.create_thread()
    notes: list[str] = []
    session = Session(engine, poll_interval=0.01, on_recovery=lambda _t, n: notes.append(n))
    events = await collect(session.send(thread, ASSISTANT.id, "x"))
    done = [e for e in events if isinstance(e, ev.MessageCompleted)]
    assert [d.text for d in done] == ["alpha beta gamma"]
    assert text_of(events) == "alpha beta "  # what streamed before the cut, once
    assert isinstance(events[-1], ev.RunCompleted) and events[-1].status == "completed"
    assert notes and "Following run" in notes[0]
    assert len(posts(rserver)) == 1


async def test_a_conversation_made_elsewhere_is_adopted_and_deleted(rserver, engine):
    import openai

    client = openai.AsyncOpenAI(base_url=rserver.base_url, api_key=API_KEY, max_retries=0)
    try:
        made = await client.conversations.create(
            items=[{"type": "message", "role": "user", "content": "from elsewhere"}],
            metadata={"topic": "adopted"},
        )
    finally:
        await client.close()
    info = await engine.retrieve_thread(made.id)
    assert (info.id, info.metadata) == (made.id, {"topic": "adopted"})
    page = await engine.list_messages(made.id)
    assert [(m.role, m.text) for m in page.messages] == [("user", "from elsewhere")]
    events = await collect(Session(engine).send(made.id, ASSISTANT.id, "hi"))
    assert text_of(events) == "You said: hi"
    await engine.delete_thread(made.id)
    with pytest.raises(NotFoundError, match=made.id):
        await engine.retrieve_thread(made.id)


async def test_code_interpreter_attachments_go_to_the_container(rserver, engine, tmp_path):
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n")
    uploaded = await engine.upload_file(str(data))
    thread = await engine.create_thread()
    attachment = {"file_id": uploaded.id, "tools": [{"type": "code_interpreter"}]}
    await collect(engine.run(thread, ASSISTANT.id, "sum it", attachments=[attachment]))
    await collect(engine.run(thread, ASSISTANT.id, "again"))
    for body in posts(rserver):
        tool = next(t for t in body["tools"] if t["type"] == "code_interpreter")
        assert tool["container"] == {"type": "auto", "file_ids": [uploaded.id]}
    assert rserver.conversations[thread]["metadata"] == {}  # no vector store for it
