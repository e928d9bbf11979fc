"""Session (the run loop) against scripted wire servers, through the real engine and SDK."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from starlette.responses import JSONResponse

from tests.support.transcript import RunTranscript
from tests.support.wire import (
    CANCEL,
    CUT,
    RUNS,
    SUBMIT,
    USAGE,
    WireServer,
    fn_call,
    msg_delta,
    msg_obj,
    requires_action,
    respond,
    run_obj,
    sse,
    step_delta,
    step_obj,
    text_block,
    text_run_frames,
)
from tui_assistant import events as ev
from tui_assistant.engines.assistants import AssistantsEngine
from tui_assistant.errors import ActiveRunError, StreamInterrupted
from tui_assistant.session import ActiveRun, Session

RUN = r"/threads/thread_1/runs/run_1"
MESSAGES = r"/threads/thread_1/messages"


@pytest.fixture
async def engine(wire: WireServer):
    engine = AssistantsEngine(wire.base_url, "sk-test")
    yield engine
    await engine.aclose()


def make_session(engine: AssistantsEngine, **kwargs) -> Session:
    return Session(engine, poll_interval=0.01, max_poll_interval=0.05, **kwargs)


async def collect(stream) -> list[ev.RunEvent]:
    return [event async for event in stream]


def function_run(calls: list[dict]) -> list:
    """Frames of a run that streams function calls and pauses for their outputs."""
    return [
        ("thread.run.created", run_obj()),
        ("thread.run.in_progress", run_obj("in_progress")),
        ("thread.run.step.created", step_obj("step_f", "in_progress", [])),
        (
            "thread.run.step.delta",
            step_delta(
                "step_f",
                *[
                    {
                        "index": i,
                        "id": c["id"],
                        "type": "function",
                        "function": {
                            "name": c["function"]["name"],
                            "arguments": c["function"]["arguments"],
                            "output": None,
                        },
                    }
                    for i, c in enumerate(calls)
                ],
            ),
        ),
        ("thread.run.requires_action", requires_action(calls)),
    ]


def continuation(calls: list[dict], outputs: list[str], reply: str) -> list:
    done = [
        fn_call(c["id"], c["function"]["name"], c["function"]["arguments"], output=o)
        for c, o in zip(calls, outputs, strict=True)
    ]
    return [
        ("thread.run.queued", run_obj("queued")),
        ("thread.run.in_progress", run_obj("in_progress")),
        ("thread.run.step.completed", step_obj("step_f", "completed", done)),
        *text_run_frames([reply], message_id="msg_reply")[3:],
    ]


def submitted(wire: WireServer) -> list[list[dict]]:
    return [r.body["tool_outputs"] for r in wire.requests_to("POST", SUBMIT)]


# --------------------------------------------------------------------------- tool calls


async def test_single_function_call(wire: WireServer, engine: AssistantsEngine):
    calls = [fn_call("call_1", "add", '{"a": 2, "b": 3}')]
    wire.route("POST", RUNS, sse(*function_run(calls)))
    wire.route("POST", SUBMIT, sse(*continuation(calls, ["5"], "2 + 3 = 5")))
    seen_actions: list[ev.ActionRequired] = []

    async def on_action(event: ev.ActionRequired) -> list[ev.ToolOutput]:
        seen_actions.append(event)
        args = json.loads(event.calls[0].arguments)
        return [ev.ToolOutput(event.calls[0].call_id, str(args["a"] + args["b"]))]

    session = make_session(engine, on_action=on_action)
    events = await collect(session.send("thread_1", "asst_1", "add 2 and 3"))

    assert [type(e).__name__ for e in events] == [
        "RunStarted",
        "RunStatusChanged",
        "ToolCallStarted",
        "ToolCallDelta",
        "ActionRequired",
        "RunStatusChanged",
        "RunStatusChanged",
        "ToolCallCompleted",
        "MessageStarted",
        "TextDelta",
        "MessageCompleted",
        "RunCompleted",
    ]
    assert seen_actions == [events[4]]
    assert events[7] == ev.ToolCallCompleted("call_1", "function", "add", '{"a": 2, "b": 3}', "5")
    assert events[-1] == ev.RunCompleted("run_1", "completed", ev.Usage(12, 5, 17))
    assert submitted(wire) == [[{"tool_call_id": "call_1", "output": "5"}]]
    assert session.active_run is None
    assert wire.requests_to("POST", CANCEL) == []


async def test_parallel_calls_are_submitted_in_one_request(
    wire: WireServer, engine: AssistantsEngine
):
    calls = [
        fn_call("call_a", "weather", '{"city": "Oslo"}'),
        fn_call("call_b", "weather", '{"city": "Lima"}'),
        fn_call("call_c", "time", "{}"),
    ]
    wire.route("POST", RUNS, sse(*function_run(calls)))
    wire.route("POST", SUBMIT, sse(*continuation(calls, ["rain", "sun", "noon"], "Done.")))

    async def on_action(event: ev.ActionRequired) -> list[ev.ToolOutput]:
        answers = {"call_a": "rain", "call_b": "sun", "call_c": "noon"}
        # Answer in reverse order: the session submits in the run's order.
        return [ev.ToolOutput(c.call_id, answers[c.call_id]) for c in reversed(event.calls)]

    events = await collect(
        make_session(engine, on_action=on_action).send(
            "thread_1", "asst_1", "weather in Oslo and Lima, and the time"
        )
    )

    assert submitted(wire) == [
        [
            {"tool_call_id": "call_a", "output": "rain"},
            {"tool_call_id": "call_b", "output": "sun"},
            {"tool_call_id": "call_c", "output": "noon"},
        ]
    ]
    completed = [e for e in events if isinstance(e, ev.ToolCallCompleted)]
    assert [(c.call_id, c.output) for c in completed] == [
        ("call_a", "rain"),
        ("call_b", "sun"),
        ("call_c", "noon"),
    ]
    assert isinstance(events[-1], ev.RunCompleted)


async def test_default_handler_and_missing_outputs(wire: WireServer, engine: AssistantsEngine):
    calls = [fn_call("call_1", "lookup", "{}"), fn_call("call_2", "other", "{}")]
    wire.route("POST", RUNS, sse(*function_run(calls)))
    wire.route("POST", SUBMIT, sse(*continuation(calls, ["x", "y"], "ok")))

    await collect(make_session(engine).send("thread_1", "asst_1", "hi"))
    (outputs,) = submitted(wire)
    assert [json.loads(o["output"]) for o in outputs] == [
        {"error": "No local function named lookup is available."},
        {"error": "No local function named other is available."},
    ]

    async def partial(event: ev.ActionRequired) -> list[ev.ToolOutput]:
        return [ev.ToolOutput("call_2", "fine"), ev.ToolOutput("call_unknown", "ignored")]

    wire.requests.clear()
    await collect(make_session(engine, on_action=partial).send("thread_1", "asst_1", "hi"))
    (outputs,) = submitted(wire)
    assert outputs == [
        {
            "tool_call_id": "call_1",
            "output": json.dumps({"error": "No output was produced for lookup."}),
        },
        {"tool_call_id": "call_2", "output": "fine"},
    ]


async def test_two_pauses_in_one_turn(wire: WireServer, engine: AssistantsEngine):
    first = [fn_call("call_1", "step_one", "{}")]
    second = [fn_call("call_2", "step_two", "{}")]
    wire.route("POST", RUNS, sse(*function_run(first)))
    wire.route(
        "POST",
        SUBMIT,
        sse(
            ("thread.run.in_progress", run_obj("in_progress")),
            ("thread.run.requires_action", requires_action(second)),
        ),
        sse(*continuation(second, ["two"], "Both done.")),
    )
    names: list[str] = []

    async def on_action(event: ev.ActionRequired) -> list[ev.ToolOutput]:
        names.extend(c.name for c in event.calls)
        return [ev.ToolOutput(c.call_id, c.name) for c in event.calls]

    events = await collect(make_session(engine, on_action=on_action).send("thread_1", "a", "x"))
    assert names == ["step_one", "step_two"]
    assert len(submitted(wire)) == 2
    assert sum(isinstance(e, ev.ActionRequired) for e in events) == 2
    assert events[-1].status == "completed"


async def test_handler_error_cancels_the_run_and_propagates(
    wire: WireServer, engine: AssistantsEngine
):
    wire.route("POST", RUNS, sse(*function_run([fn_call("call_1", "boom", "{}")])))
    wire.route("POST", CANCEL, JSONResponse(run_obj("cancelling")))

    async def on_action(event: ev.ActionRequired) -> list[ev.ToolOutput]:
        raise RuntimeError("handler bug")

    session = make_session(engine, on_action=on_action)
    with pytest.raises(RuntimeError, match="handler bug"):
        await collect(session.send("thread_1", "asst_1", "hi"))
    assert len(wire.requests_to("POST", CANCEL)) == 1
    assert submitted(wire) == []
    assert session.active_run is None


# --------------------------------------------------------------------------- cancelling


async def test_cancelling_the_task_cancels_the_run_on_the_server(
    wire: WireServer, engine: AssistantsEngine
):
    wire.route(
        "POST",
        RUNS,
        sse(
            ("thread.run.created", run_obj()),
            ("thread.run.in_progress", run_obj("in_progress")),
            lambda: wire.wait("never"),
        ),
    )
    wire.route("POST", CANCEL, JSONResponse(run_obj("cancelling")))
    session = make_session(engine)
    started = asyncio.Event()
    seen: list[ev.RunEvent] = []

    async def consume() -> None:
        async for event in session.send("thread_1", "asst_1", "long task"):
            seen.append(event)
            if isinstance(event, ev.RunStatusChanged):
                started.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(started.wait(), 5)
    assert session.active_run == ActiveRun("thread_1", "run_1", "in_progress")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(wire.requests_to("POST", CANCEL)) == 1
    assert session.active_run is None


async def test_abandoning_the_iteration_cancels_the_run(wire: WireServer, engine: AssistantsEngine):
    wire.route(
        "POST",
        RUNS,
        sse(
            ("thread.run.created", run_obj()),
            ("thread.run.in_progress", run_obj("in_progress")),
            lambda: wire.wait("never"),
        ),
    )
    wire.route("POST", CANCEL, JSONResponse(run_obj("cancelling")))
    session = make_session(engine)
    turn = session.send("thread_1", "asst_1", "hi")
    assert isinstance(await anext(turn), ev.RunStarted)
    await turn.aclose()
    assert len(wire.requests_to("POST", CANCEL)) == 1
    assert session.active_run is None


async def test_cancel_before_the_run_is_reported(wire: WireServer, engine: AssistantsEngine):
    """Cancelled while the run-creating request is in flight: find the new run, cancel it."""

    async def slow_create(_request):
        await wire.wait("never", timeout=3)

    wire.route("POST", RUNS, slow_create)
    wire.route(
        "GET",
        RUNS,
        JSONResponse(
            {
                "object": "list",
                "has_more": False,
                "data": [run_obj("in_progress", created_at=int(time.time()))],
            }
        ),
    )
    wire.route("POST", CANCEL, JSONResponse(run_obj("cancelling")))
    session = make_session(engine)
    task = asyncio.create_task(collect(session.send("thread_1", "asst_1", "hi")))
    for _ in range(200):
        if wire.requests_to("POST", RUNS):
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(wire.requests_to("POST", CANCEL)) == 1


async def test_escape_cancel_streams_to_cancelled(wire: WireServer, engine: AssistantsEngine):
    wire.route(
        "POST",
        RUNS,
        sse(
            ("thread.run.created", run_obj()),
            ("thread.run.in_progress", run_obj("in_progress")),
            ("thread.message.created", msg_obj("msg_1", "in_progress")),
            ("thread.message.delta", msg_delta("msg_1", "Once upon")),
            lambda: wire.wait("cancel"),
            ("thread.run.cancelling", run_obj("cancelling")),
            (
                "thread.message.incomplete",
                msg_obj("msg_1", "incomplete", [text_block("Once upon")]),
            ),
            ("thread.run.cancelled", run_obj("cancelled")),
        ),
    )
    wire.route("POST", CANCEL, respond(JSONResponse(run_obj("cancelling")), wire.signal("cancel")))
    session = make_session(engine)
    await session.cancel()  # nothing running: a no-op
    events = []
    async for event in session.send("thread_1", "asst_1", "tell a story"):
        events.append(event)
        if isinstance(event, ev.TextDelta):
            await session.cancel()
    assert events[-3:] == [
        ev.RunStatusChanged("run_1", "cancelling"),
        ev.MessageCompleted("msg_1", "Once upon", status="incomplete"),
        ev.RunCompleted("run_1", "cancelled"),
    ]
    assert len(wire.requests_to("POST", CANCEL)) == 1


async def test_escape_while_waiting_for_tool_outputs(wire: WireServer, engine: AssistantsEngine):
    wire.route("POST", RUNS, sse(*function_run([fn_call("call_1", "slow", "{}")])))
    wire.route("POST", CANCEL, JSONResponse(run_obj("cancelling")))
    wire.route("GET", RUN, JSONResponse(run_obj("cancelling")), JSONResponse(run_obj("cancelled")))
    wire.route("GET", MESSAGES, JSONResponse({"object": "list", "data": [], "has_more": False}))
    asked = asyncio.Event()
    release = asyncio.Event()

    async def on_action(event: ev.ActionRequired) -> list[ev.ToolOutput]:
        asked.set()
        await release.wait()
        return [ev.ToolOutput("call_1", "too late")]

    session = make_session(engine, on_action=on_action)
    task = asyncio.create_task(collect(session.send("thread_1", "asst_1", "hi")))
    await asyncio.wait_for(asked.wait(), 5)
    await session.cancel("thread_1")
    release.set()
    events = await asyncio.wait_for(task, 5)
    assert events[-1] == ev.RunCompleted("run_1", "cancelled")
    assert submitted(wire) == []
    assert len(wire.requests_to("POST", CANCEL)) == 1


async def test_error_event_ends_the_turn_and_frees_the_thread(
    wire: WireServer, engine: AssistantsEngine
):
    wire.route(
        "POST",
        RUNS,
        sse(
            ("thread.run.created", run_obj()),
            ("error", {"code": "server_error", "message": "Upstream exploded."}),
        ),
    )
    wire.route("POST", CANCEL, JSONResponse(run_obj("cancelling")))
    session = make_session(engine)
    events = await collect(session.send("thread_1", "asst_1", "hi"))
    assert events[-1] == ev.RunFailed("run_1", "error", "server_error", "Upstream exploded.")
    assert len(wire.requests_to("POST", CANCEL)) == 1


# --------------------------------------------------------------------------- one run per thread


async def test_one_active_run_per_thread(wire: WireServer, engine: AssistantsEngine):
    wire.route(
        "POST",
        r"/threads/thread_\d/runs",
        sse(
            ("thread.run.created", run_obj()),
            lambda: wire.wait("go"),
            ("thread.run.completed", run_obj("completed")),
        ),
    )
    session = make_session(engine)
    first = session.send("thread_1", "asst_1", "one")
    assert isinstance(await anext(first), ev.RunStarted)
    with pytest.raises(ActiveRunError) as caught:
        await collect(session.send("thread_1", "asst_1", "two"))
    assert caught.value.run_id == "run_1"
    assert session.is_active("thread_1") and not session.is_active("thread_2")
    # Another thread may run meanwhile.
    other = session.send("thread_2", "asst_1", "three")
    assert isinstance(await anext(other), ev.RunStarted)
    assert len(session.active_runs) == 2
    assert wire.loop is not None
    wire.loop.call_soon_threadsafe(wire.signal("go"), None)
    assert (await collect(first))[-1].status == "completed"
    assert (await collect(other))[-1].status == "completed"
    assert session.active_runs == ()
    assert len(wire.requests_to("POST", RUNS)) == 1


# --------------------------------------------------------------------------- broken streams


async def test_cut_stream_reattaches_and_shows_the_reply_once(
    wire: WireServer, engine: AssistantsEngine
):
    frames = text_run_frames(["Hello", " wor"])
    wire.route("POST", RUNS, sse(*frames[:8], CUT))  # ... deltas "Hello", " wor", then cut
    wire.route(
        "GET",
        RUN,
        JSONResponse(run_obj("in_progress")),
        JSONResponse(run_obj("in_progress")),
        JSONResponse(run_obj("completed", usage=USAGE)),
    )
    wire.route(
        "GET",
        MESSAGES,
        JSONResponse(
            {
                "object": "list",
                "has_more": False,
                "data": [
                    msg_obj("msg_1", "completed", [text_block("Hello world!")]),
                    msg_obj("msg_u", "completed", [text_block("hi")], role="user"),
                    msg_obj("msg_0", "completed", [text_block("old")], run_id="run_0"),
                ],
            }
        ),
    )
    session = make_session(engine)
    events = await collect(session.send("thread_1", "asst_1", "hi"))

    completed = [e for e in events if isinstance(e, ev.MessageCompleted)]
    assert completed == [ev.MessageCompleted("msg_1", "Hello world!")]
    assert sum(isinstance(e, ev.MessageStarted) for e in events) == 1
    assert events[-1] == ev.RunCompleted("run_1", "completed", ev.Usage(12, 5, 17))
    assert len(wire.requests_to("POST", RUNS)) == 1  # no second run
    assert len(wire.requests_to("GET", RUN)) == 3
    transcript = RunTranscript()
    for event in events:
        transcript.add(event)
    assert transcript.messages == {"msg_1": "Hello world!"}


async def test_cut_stream_reattaches_into_tool_outputs(wire: WireServer, engine: AssistantsEngine):
    calls = [fn_call("call_1", "add", "{}")]
    wire.route("POST", RUNS, sse(*function_run(calls)[:3], CUT))
    wire.route("GET", RUN, JSONResponse(requires_action(calls)))
    wire.route("GET", MESSAGES, JSONResponse({"object": "list", "data": [], "has_more": False}))
    wire.route("POST", SUBMIT, sse(*continuation(calls, ["3"], "It is 3.")))

    async def on_action(event: ev.ActionRequired) -> list[ev.ToolOutput]:
        return [ev.ToolOutput("call_1", "3")]

    events = await collect(make_session(engine, on_action=on_action).send("thread_1", "a", "x"))
    assert (
        ev.ActionRequired(
            "run_1",
            "thread_1",
            (ev.FunctionCall("call_1", "add", "{}"),),
            float(run_obj()["expires_at"]),
        )
        in events
    )
    assert submitted(wire) == [[{"tool_call_id": "call_1", "output": "3"}]]
    assert events[-1] == ev.RunCompleted("run_1", "completed", ev.Usage(12, 5, 17))


async def test_cut_before_the_run_is_known_raises(wire: WireServer, engine: AssistantsEngine):
    wire.route("POST", RUNS, sse(CUT))
    session = make_session(engine)
    with pytest.raises(StreamInterrupted):
        await collect(session.send("thread_1", "asst_1", "hi"))
    assert session.active_run is None


async def test_attach_follows_a_run_already_going(wire: WireServer, engine: AssistantsEngine):
    wire.route(
        "POST",
        RUNS,
        JSONResponse(
            {
                "error": {
                    "message": "Thread thread_1 already has an active run run_1.",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": None,
                }
            },
            status_code=400,
        ),
    )
    wire.route(
        "GET",
        RUN,
        JSONResponse(run_obj("in_progress")),
        JSONResponse(
            run_obj("failed", last_error={"code": "server_error", "message": "It broke."})
        ),
    )
    wire.route(
        "GET",
        MESSAGES,
        JSONResponse(
            {
                "object": "list",
                "has_more": False,
                "data": [
                    msg_obj("msg_1", "incomplete", [text_block("Partial")]),
                ],
            }
        ),
    )
    session = make_session(engine)
    with pytest.raises(ActiveRunError) as caught:
        await collect(session.send("thread_1", "asst_1", "hi"))
    assert wire.requests_to("POST", CANCEL) == []  # someone else's run: left alone
    events = await collect(session.attach("thread_1", caught.value.run_id))
    assert events == [
        ev.RunStatusChanged("run_1", "in_progress"),
        ev.MessageStarted("msg_1", "assistant"),
        ev.MessageCompleted("msg_1", "Partial", status="incomplete"),
        ev.RunFailed("run_1", "failed", "server_error", "It broke."),
    ]
