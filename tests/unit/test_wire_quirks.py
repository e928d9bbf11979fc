"""Servers that bend the Assistants wire format (issue 12, "Also").

A scripted endpoint (``test_engine_wire.WireServer``: Starlette + uvicorn on 127.0.0.1)
answers through the real ``openai`` SDK:

* a streamed run request answered with a plain JSON run, with no events at all, or with
  events that carry no standard names: the run is noticed and followed by polling;
* ``created_at`` in milliseconds (or as an ISO string): the right date;
* message text in other shapes than ``text.value``: what can be shown is shown, and
  nothing raises.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
from starlette.responses import JSONResponse, Response, StreamingResponse

from tests.support.transcript import RunTranscript
from tests.support.wire import (
    CREATED,
    RUNS,
    WireServer,
    msg_delta,
    msg_obj,
    run_obj,
    text_block,
)
from tui_assistant import events as ev
from tui_assistant.engines.assistants import AssistantsEngine
from tui_assistant.session import Session

MESSAGES = r"/threads/thread_1/messages"


def _page(*items: dict) -> JSONResponse:
    return JSONResponse({
        "object": "list", "data": list(items), "has_more": False,
        "first_id": items[0]["id"] if items else None,
        "last_id": items[-1]["id"] if items else None,
    })


def _finished_run_routes(wire: WireServer, now: int) -> None:
    """What polling finds: run_1 completed, its reply and the user's message."""
    wire.route("GET", RUNS, _page(run_obj("in_progress", created_at=now)))
    wire.route("GET", r"/threads/thread_1/runs/run_1",
               JSONResponse(run_obj("completed", created_at=now)))
    user = msg_obj("msg_u", "completed", [text_block("hi")], role="user", created_at=now)
    reply = msg_obj("msg_1", "completed", [text_block("Hello from polling!")], created_at=now)
    wire.route("GET", MESSAGES, _page(reply, user))


async def _send(wire: WireServer) -> tuple[RunTranscript, list[str]]:
    engine = AssistantsEngine(wire.base_url, "test")
    notes: list[str] = []
    session = Session(engine, poll_interval=0.01, on_recovery=lambda _t, n: notes.append(n))
    transcript = RunTranscript()
    try:
        async for event in session.send("thread_1", "asst_1", "hi"):
            transcript.add(event)
    finally:
        await engine.aclose()
    return transcript, notes


async def test_streamed_request_answered_with_a_json_run_is_followed(wire: WireServer):
    now = int(time.time())
    wire.route("POST", RUNS, JSONResponse(run_obj("queued", created_at=now)))
    _finished_run_routes(wire, now)
    transcript, notes = await _send(wire)
    assert transcript.status == "completed"
    assert transcript.messages == {"msg_1": "Hello from polling!"}
    assert len(wire.requests_to("POST", RUNS)) == 1
    assert any("without streaming" in note for note in notes), notes


async def test_streamed_request_answered_with_no_events_is_followed(wire: WireServer):
    now = int(time.time())
    wire.route("POST", RUNS, Response(b"", media_type="text/event-stream"))
    _finished_run_routes(wire, now)
    transcript, notes = await _send(wire)
    assert transcript.status == "completed"
    assert transcript.messages == {"msg_1": "Hello from polling!"}
    assert len(wire.requests_to("POST", RUNS)) == 1
    assert any("no events" in note for note in notes), notes


def _unnamed(*objects: dict):
    """An event stream of ``data:`` lines only (no ``event:`` names), then [DONE]."""

    async def body():
        for obj in objects:
            yield f"data: {json.dumps(obj)}\n\n".encode()
        yield b"data: [DONE]\n\n"

    return lambda _request: StreamingResponse(body(), media_type="text/event-stream")


async def test_events_without_names_are_read_from_their_objects(wire: WireServer):
    wire.route("POST", RUNS, _unnamed(
        run_obj("queued"),
        run_obj("in_progress"),
        msg_obj("msg_1", "in_progress"),
        msg_delta("msg_1", "Hel"),
        msg_delta("msg_1", "lo!"),
        msg_obj("msg_1", "completed", [text_block("Hello!")]),
        run_obj("completed"),
    ))
    transcript, notes = await _send(wire)
    assert transcript.status == "completed"
    assert transcript.messages == {"msg_1": "Hello!"}
    deltas = [e.text for e in transcript.events if isinstance(e, ev.TextDelta)]
    assert deltas == ["Hel", "lo!"]  # streamed, not only polled
    assert notes == []


@pytest.mark.parametrize(
    "stamp",
    [CREATED * 1000, CREATED * 1_000_000,
     datetime.fromtimestamp(CREATED, UTC).isoformat().replace("+00:00", "Z")],
    ids=["milliseconds", "microseconds", "iso"],
)
async def test_created_at_in_other_units_gives_the_right_date(wire: WireServer, stamp):
    message = msg_obj("msg_1", "completed", [text_block("Hi")])
    message["created_at"] = stamp
    wire.route("GET", MESSAGES, _page(message))
    wire.route("GET", RUNS, _page(run_obj("completed", created_at=stamp)))
    engine = AssistantsEngine(wire.base_url, "test")
    try:
        page = await engine.list_messages("thread_1", limit=10)
        latest = await engine.latest_run("thread_1")
    finally:
        await engine.aclose()
    assert page.messages[0].created_at == pytest.approx(CREATED)
    assert latest is not None and latest.created_at == pytest.approx(CREATED)
    shown = datetime.fromtimestamp(page.messages[0].created_at, UTC)
    assert shown.year == datetime.fromtimestamp(CREATED, UTC).year


ODD_CONTENT = {
    "text as a string": ([{"type": "text", "text": "plain string"}], "plain string"),
    "value at block level": ([{"type": "text", "value": "block value"}], "block value"),
    "nested value": ([{"type": "text", "text": {"value": {"value": "deep"}}}], "deep"),
    "text.content": ([{"type": "text", "text": {"content": "in content"}}], "in content"),
    "output_text": ([{"type": "output_text", "text": "responses style"}], "responses style"),
    "content is a string": ("just a string", "just a string"),
    "content is one block": ({"type": "text", "text": {"value": "one block"}}, "one block"),
    "blocks as strings": (["first", "second"], "first\n\nsecond"),
    "bad annotations": (
        [{"type": "text", "text": {"value": "noted", "annotations": "not a list"}}], "noted"),
    "broken annotation": (
        [{"type": "text", "text": {"value": "noted", "annotations": [
            {"type": "file_citation", "start_index": "x", "end_index": None}]}}], "noted"),
    "value is null": ([{"type": "text", "text": {"value": None}}], ""),
    "unknown blocks": ([{"type": "hologram", "data": 1}, 42, None], ""),
    "content is null": (None, ""),
}


@pytest.mark.parametrize("case", list(ODD_CONTENT))
async def test_message_text_in_other_shapes_shows_what_it_can(wire: WireServer, case: str):
    content, shown = ODD_CONTENT[case]
    message = msg_obj("msg_1", "completed")
    message["content"] = content
    wire.route("GET", MESSAGES, _page(message))
    engine = AssistantsEngine(wire.base_url, "test")
    try:
        page = await engine.list_messages("thread_1", limit=10)
    finally:
        await engine.aclose()
    assert [m.text for m in page.messages] == [shown]


async def test_streamed_text_in_another_shape_is_shown(wire: WireServer):
    delta = {"id": "msg_1", "object": "thread.message.delta",
             "delta": {"content": [{"index": 0, "type": "text", "text": "as a string"}]}}
    wire.route("POST", RUNS, _unnamed(
        run_obj("queued"),
        msg_obj("msg_1", "in_progress"),
        delta,
        msg_obj("msg_1", "completed", [{"type": "text", "text": "as a string"}]),
        run_obj("completed"),
    ))
    transcript, _ = await _send(wire)
    assert transcript.messages == {"msg_1": "as a string"}
    assert [e.text for e in transcript.events if isinstance(e, ev.TextDelta)] == ["as a string"]
