"""The run loop (``Session``) under every fault the local server can inject, with no UI.

Each turn asks the demo model to call ``calculate`` (``/call``), so a run has two streams:
the first one, and the one after ``submit_tool_outputs``. Every fault is put on one of
them; the test checks what the user would see: the reply exactly once, the right number
of runs on the server, and the thread free afterwards. A scripted wire server covers the
one case the local server cannot make: a run-creating request that fails *and* creates.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from starlette.responses import JSONResponse

from tests.support.transcript import RunTranscript
from tests.support.wire import (
    RUNS,
    WireServer,
    msg_obj,
    run_obj,
    text_block,
)
from tui_assistant import events as ev
from tui_assistant.engines.assistants import AssistantsEngine
from tui_assistant.errors import ActiveRunError, RateLimitedError, ServerError
from tui_assistant.session import Session

CALL = 'Six times seven?\n/call calculate {"expression": "6*7"}'
OUTPUT = '{"result": 42}'
REPLY_PART = "returned “{\"result\": 42}”"


async def answer(event: ev.ActionRequired) -> list[ev.ToolOutput]:
    return [ev.ToolOutput(call.call_id, OUTPUT) for call in event.calls]


class Turn:
    """One thread on the local server, and what the session said about it."""

    def __init__(self, server: Any, **engine_options: Any) -> None:
        self.server = server
        self.engine = AssistantsEngine(server.base_url, "test", **engine_options)
        self.notes: list[str] = []
        self.session = Session(
            self.engine,
            on_action=answer,
            poll_interval=0.02,
            unreachable_grace=10,
            on_recovery=lambda _thread, text: self.notes.append(text),
        )

    async def start(self) -> Turn:
        (self.assistant,) = [
            a for a in await self.engine.list_assistants() if a.name == "Demo assistant"
        ]
        self.thread = await self.engine.create_thread()
        return self

    async def run(self, events) -> RunTranscript:
        transcript = RunTranscript()
        async for event in events:
            transcript.add(event)
        return transcript

    async def send(self, text: str = CALL) -> RunTranscript:
        return await self.run(self.session.send(self.thread, self.assistant.id, text))

    async def runs(self) -> list[str]:
        return [r.status for r in await self.engine.list_runs(self.thread)]

    async def close(self) -> None:
        await self.engine.aclose()


def replies(transcript: RunTranscript) -> list[str]:
    """The assistant messages a UI would show at the end of the turn (one per id)."""
    return list(transcript.messages.values())


def completed_once(transcript: RunTranscript) -> str:
    completed = [e for e in transcript.events if isinstance(e, ev.MessageCompleted)]
    assert len(completed) == len({e.message_id for e in completed}) == 1, completed
    started = [e for e in transcript.events if isinstance(e, ev.MessageStarted)]
    assert len(started) == 1
    return completed[0].text


@pytest.fixture
async def turn(start_server):
    made = await Turn(start_server()).start()
    yield made
    await made.close()


# --- stream faults: the run goes on, the client follows it ---------------------------


@pytest.mark.parametrize("stage", ["first", "submit"])
@pytest.mark.parametrize("kind", ["drop_stream", "stall", "malformed_frame", "error_event"])
async def test_stream_faults_show_the_reply_once_from_one_run(turn: Turn, kind: str, stage: str):
    faults = turn.server.faults
    if kind == "stall":
        faults.stall(0.3, on=stage, after_events=2)
    else:
        getattr(faults, kind)(after_events=2, on=stage)
    transcript = await turn.send()
    assert transcript.status == "completed"
    assert REPLY_PART in completed_once(transcript)
    assert replies(transcript) == [completed_once(transcript)]
    assert await turn.runs() == ["completed"]
    assert faults.pending() == []
    if kind == "stall":
        assert turn.notes == []
    else:
        assert len(turn.notes) == 1 and "Following run" in turn.notes[0] or (
            "checking the run" in turn.notes[0]
        )
    assert turn.session.active_run is None


@pytest.mark.parametrize("stage", ["first", "submit"])
async def test_a_stream_silent_too_long_is_left_and_the_run_followed(start_server, stage: str):
    # The server stops writing the stream for a minute while the run goes on; the engine
    # gives a stream half a second of silence.
    turn = await Turn(start_server(), stream_silence=0.5).start()
    try:
        turn.server.faults.stall(60, on=stage, after_events=2)
        transcript = await turn.send()
        assert transcript.status == "completed"
        assert REPLY_PART in completed_once(transcript)
        assert await turn.runs() == ["completed"]
        assert len(turn.notes) == 1 and "sent nothing for 0.5 s" in turn.notes[0]
    finally:
        await turn.close()


async def test_a_cut_before_the_run_is_named_finds_it_with_runs_list(turn: Turn):
    turn.server.faults.drop_stream(after_events=0)
    transcript = await turn.send()
    assert isinstance(transcript.events[0], ev.RunStarted)  # announced once found
    assert transcript.status == "completed" and REPLY_PART in completed_once(transcript)
    assert await turn.runs() == ["completed"]
    assert "was created all the same" in turn.notes[0]


# --- failed requests ---------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_a_refused_run_creation_is_not_retried_and_creates_nothing(
    turn: Turn, status: int
):
    turn.server.faults.fail_requests(
        status, retry_after=0.1 if status == 429 else None, path_pattern=r"/runs$", method="POST"
    )
    with pytest.raises(RateLimitedError if status == 429 else ServerError) as caught:
        await turn.send()
    if status == 429:
        assert caught.value.retry_after == pytest.approx(0.1)
    assert await turn.runs() == []
    messages = await turn.engine.list_messages(turn.thread)
    assert messages.messages == []  # the message did not reach the thread either
    assert turn.session.active_run is None
    transcript = await turn.send()  # sending again is the user's choice
    assert REPLY_PART in completed_once(transcript)
    assert await turn.runs() == ["completed"]


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_a_refused_submission_is_sent_again_while_the_run_waits(turn: Turn, status: int):
    turn.server.faults.fail_requests(
        status, count=2, retry_after=0.2 if status == 429 else None,
        path_pattern=r"/submit_tool_outputs$",
    )
    transcript = await turn.send()
    assert transcript.status == "completed" and REPLY_PART in completed_once(transcript)
    assert await turn.runs() == ["completed"]
    assert len(turn.notes) == 2 and all("sending them again" in n for n in turn.notes)
    if status == 429:
        assert "in 0.2 s" in turn.notes[0]


async def test_a_refused_repeat_is_not_taken_for_the_run_before_it(turn: Turn):
    """The same words again within seconds, refused with a 500: the thread's newest run
    and newest message look like a match, but that run is one the client has seen."""
    first = await turn.send("same words")
    assert first.status == "completed"
    turn.server.faults.fail_requests(500, path_pattern=r"/runs$", method="POST")
    with pytest.raises(ServerError):
        await turn.send("same words")
    assert await turn.runs() == ["completed"]
    assert turn.notes == []


# --- runs that end badly, and the retry ---------------------------------------------------


@pytest.mark.parametrize("stage", ["first", "submit"])
@pytest.mark.parametrize("status", ["failed", "expired", "incomplete"])
async def test_bad_endings_are_reported_and_rerun_answers_once(
    turn: Turn, status: str, stage: str
):
    turn.server.faults.end_run(status, on=stage, after_outputs=0 if stage == "first" else 3)
    transcript = await turn.send()
    last = transcript.events[-1]
    assert last.status == status
    if status == "incomplete":
        assert isinstance(last, ev.RunCompleted) and last.reason == "max_completion_tokens"
    else:
        assert isinstance(last, ev.RunFailed) and last.message
    partial = replies(transcript)
    assert partial == ([] if stage == "first" else ["**Function results**\n\n- "])
    retried = await turn.run(turn.session.rerun(turn.thread, turn.assistant.id))
    assert retried.status == "completed" and REPLY_PART in completed_once(retried)
    assert sorted(await turn.runs()) == sorted(["completed", status])
    history = await turn.engine.list_messages(turn.thread)
    assert [m.role for m in history.messages].count("user") == 1  # no second message


# --- the thread already has an active run -------------------------------------------------


async def test_active_run_conflict_names_the_run_and_attach_follows_it(turn: Turn):
    turn.server.faults.active_run_conflict()
    with pytest.raises(ActiveRunError) as caught:
        await turn.send()
    run_id = caught.value.run_id
    assert run_id.startswith("run_")
    transcript = await turn.run(turn.session.attach(turn.thread, run_id))
    assert transcript.status == "completed" and REPLY_PART in completed_once(transcript)
    assert await turn.runs() == ["completed"]


# --- a creating request that fails although the run was made (wire server) ----------------


@pytest.fixture
def wire():
    server = WireServer().start()
    yield server
    server.stop()


def _messages(*items: dict) -> JSONResponse:
    return JSONResponse({"object": "list", "data": list(items), "has_more": False,
                         "first_id": None, "last_id": None})


async def test_a_500_after_the_run_was_made_is_followed_not_repeated(wire: WireServer):
    wire.route("POST", RUNS, JSONResponse(
        {"error": {"message": "Gateway lost the answer.", "type": "server_error",
                   "param": None, "code": None}}, status_code=502))
    now = int(time.time())
    wire.route("GET", RUNS, JSONResponse(
        {"object": "list", "data": [run_obj("in_progress", created_at=now)], "has_more": False,
         "first_id": "run_1", "last_id": "run_1"}))
    wire.route("GET", r"/threads/thread_1/runs/run_1",
               JSONResponse(run_obj("completed", created_at=now)))
    user = msg_obj("msg_u", "completed", [text_block("hi")], role="user")
    user["created_at"] = now
    wire.route("GET", r"/threads/thread_1/messages", _messages(
        msg_obj("msg_1", "completed", [text_block("Hello!")]), user))
    engine = AssistantsEngine(wire.base_url, "test")
    notes: list[str] = []
    session = Session(engine, poll_interval=0.01, on_recovery=lambda _t, n: notes.append(n))
    try:
        transcript = RunTranscript()
        async for event in session.send("thread_1", "asst_1", "hi"):
            transcript.add(event)
    finally:
        await engine.aclose()
    assert isinstance(transcript.events[0], ev.RunStarted)
    assert transcript.events[0].run_id == "run_1"
    assert transcript.messages == {"msg_1": "Hello!"} and transcript.status == "completed"
    assert len(wire.requests_to("POST", RUNS)) == 1  # never sent twice
    assert "was created all the same" in notes[0]


async def test_a_500_with_someone_elses_run_is_not_adopted(wire: WireServer):
    wire.route("POST", RUNS, JSONResponse(
        {"error": {"message": "Boom.", "type": "server_error", "param": None, "code": None}},
        status_code=500))
    wire.route("GET", RUNS, JSONResponse(
        {"object": "list", "data": [run_obj("in_progress", created_at=int(time.time()))],
         "has_more": False, "first_id": "run_1", "last_id": "run_1"}))
    other = msg_obj("msg_u", "completed", [text_block("somebody else's question")], role="user")
    wire.route("GET", r"/threads/thread_1/messages", _messages(other))
    engine = AssistantsEngine(wire.base_url, "test")
    try:
        with pytest.raises(ServerError):
            async for _ in Session(engine, poll_interval=0.01).send("thread_1", "asst_1", "hi"):
                pass
    finally:
        await engine.aclose()
    assert len(wire.requests_to("POST", RUNS)) == 1
