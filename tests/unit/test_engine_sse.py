"""The engine reads run streams as server-sent events itself (``engines/sse.py``).

Each test has a scripted server on 127.0.0.1 send exact bytes, and runs the real engine
(the openai SDK sends the request) over them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.responses import StreamingResponse

from tests.support.wire import (
    API_KEY,
    RUNS,
    USAGE,
    WireServer,
    msg_delta,
    run_obj,
    text_run_frames,
)
from tui_assistant import events as ev
from tui_assistant.engines.assistants import AssistantsEngine
from tui_assistant.errors import StreamInterrupted


def raw(*chunks: bytes):
    """A responder sending ``chunks`` as they are, each as its own write."""

    async def body():
        for chunk in chunks:
            yield chunk

    return lambda _request: StreamingResponse(body(), media_type="text/event-stream")


def frame(event: str, data: Any, *, newline: bytes = b"\n") -> bytes:
    text = json.dumps(data)
    return b"event: " + event.encode() + newline + b"data: " + text.encode() + newline + newline


@pytest.fixture
async def engine(wire: WireServer):
    engine = AssistantsEngine(wire.base_url, API_KEY)
    yield engine
    await engine.aclose()


async def collect(stream) -> list[ev.RunEvent]:
    return [event async for event in stream]


async def test_fields_comments_line_endings_and_split_writes(
    wire: WireServer, engine: AssistantsEngine
):
    frames = text_run_frames(["Hel", "lo"])
    body = b"".join(frame(name, data) for name, data in frames[:-1])
    # The last event: CRLF line endings, a comment, an id field, and its JSON split over
    # two data lines (joined with a newline, which JSON reads as whitespace).
    completed = json.dumps(run_obj("completed", usage=USAGE))
    middle = len(completed) // 2
    last = (
        b": keep-alive\r\nid: 7\r\nevent: thread.run.completed\r\n"
        + b"data: " + completed[:middle].encode() + b"\r\n"
        + b"data:" + completed[middle:].encode() + b"\r\n\r\n"
    )
    whole = body + last + b"event: done\ndata: [DONE]\n\n"
    # Written in pieces that cut lines (and one event name) in half.
    pieces = [whole[i : i + 37] for i in range(0, len(whole), 37)]
    wire.route("POST", RUNS, raw(*pieces))

    events = await collect(engine.run("thread_1", "asst_1", "hi"))

    assert [e for e in events if isinstance(e, ev.TextDelta)] == [
        ev.TextDelta("msg_1", "Hel"),
        ev.TextDelta("msg_1", "lo"),
    ]
    assert events[-1] == ev.RunCompleted("run_1", "completed", usage=ev.Usage(12, 5, 17))


async def test_data_carrying_an_error_object_fails_the_run(
    wire: WireServer, engine: AssistantsEngine
):
    wire.route(
        "POST",
        RUNS,
        raw(
            frame("thread.run.created", run_obj()),
            frame("thread.message.delta", msg_delta("msg_1", "partial")),
            b'data: {"error": {"message": "Quota exceeded.", "code": "quota"}}\n\n',
            frame("thread.run.completed", run_obj("completed")),  # never read
        ),
    )

    events = await collect(engine.run("thread_1", "asst_1", "hi"))

    assert events[-1] == ev.RunFailed("run_1", "error", "quota", "Quota exceeded.")
    assert sum(isinstance(e, ev.RunFailed | ev.RunCompleted) for e in events) == 1


async def test_done_ends_the_stream_and_what_follows_is_not_read(
    wire: WireServer, engine: AssistantsEngine
):
    wire.route(
        "POST",
        RUNS,
        raw(
            frame("thread.run.created", run_obj()),
            b"event: done\ndata: [DONE]\n\n",
            frame("thread.run.completed", run_obj("completed")),
        ),
    )

    with pytest.raises(StreamInterrupted) as caught:
        await collect(engine.run("thread_1", "asst_1", "hi"))
    assert caught.value.run_id == "run_1"
    assert "ended before the run finished" in str(caught.value)


async def test_a_data_field_that_is_not_json_is_a_broken_stream(
    wire: WireServer, engine: AssistantsEngine
):
    wire.route(
        "POST",
        RUNS,
        raw(frame("thread.run.created", run_obj()), b"event: thread.run.step.delta\ndata: {\n\n"),
    )

    with pytest.raises(StreamInterrupted) as caught:
        await collect(engine.run("thread_1", "asst_1", "hi"))
    assert caught.value.run_id == "run_1"
    assert "malformed stream event" in str(caught.value)
