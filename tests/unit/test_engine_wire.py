"""AssistantsEngine against purpose-built wire servers.

The local server (``tui_assistant.server``) cannot produce every wire situation (tool
steps, ``error`` events, failed runs, HTTP errors, broken streams), so these tests serve
scripted Assistants responses from a small Starlette app run by uvicorn on 127.0.0.1. The
engine talks to it through the real ``openai`` SDK over real HTTP; nothing of ours is
mocked. ``WireServer`` and the frame builders are reused by ``test_session*.py``.
"""

from __future__ import annotations

import subprocess
import sys
import time
import warnings
from typing import Any

import pytest
from starlette.responses import HTMLResponse, JSONResponse, Response

from tests.support.responses import API_KEY
from tests.support.transcript import RunTranscript
from tests.support.wire import (
    CANCEL,
    CREATED,
    CUT,
    RUNS,
    SUBMIT,
    USAGE,
    Recorded,
    WireServer,
    closed_port,
    collect,
    error_response,
    fn_call,
    msg_obj,
    requires_action,
    run_obj,
    sse,
    step_delta,
    step_obj,
    text_block,
    text_run_frames,
)
from tui_assistant import events as ev
from tui_assistant.engines import create_engine
from tui_assistant.engines.assistants import AssistantsEngine, silence_deprecations
from tui_assistant.errors import (
    ActiveRunError,
    AuthError,
    ConfigError,
    EndpointUnreachable,
    EngineError,
    NotFoundError,
    NotServedError,
    RateLimitedError,
    ServerError,
    StreamInterrupted,
)

# --------------------------------------------------------------------------- wire server


# --------------------------------------------------------------------------- wire objects


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
async def engine(wire: WireServer):
    engine = AssistantsEngine(wire.base_url, API_KEY, headers={"X-Tenant": "t-1"})
    yield engine
    await engine.aclose()


# --------------------------------------------------------------------------- event mapping


async def test_text_run_events_and_request(wire: WireServer, engine: AssistantsEngine):
    wire.route("POST", RUNS, sse(*text_run_frames(["Hel", "", "lo", " world"])))

    events = await collect(
        engine.run("thread_1", "asst_1", "Say hello", additional_instructions="Be nice.")
    )

    assert events == [
        ev.RunStarted(
            run_id="run_1",
            thread_id="thread_1",
            assistant_id="asst_1",
            model="gpt-test",
            created_at=float(CREATED),
            expires_at=float(CREATED + 600),
        ),
        ev.RunStatusChanged("run_1", "queued"),
        ev.RunStatusChanged("run_1", "in_progress"),
        ev.MessageStarted("msg_1", "assistant"),
        ev.TextDelta("msg_1", "Hel"),
        ev.TextDelta("msg_1", "lo"),
        ev.TextDelta("msg_1", " world"),
        ev.MessageCompleted("msg_1", "Hello world"),
        ev.RunCompleted("run_1", "completed", usage=ev.Usage(12, 5, 17)),
    ]
    (request,) = wire.requests_to("POST", RUNS)
    assert request.body == {
        "assistant_id": "asst_1",
        "additional_messages": [{"role": "user", "content": "Say hello"}],
        "additional_instructions": "Be nice.",
        "stream": True,
    }
    assert request.headers["openai-beta"] == "assistants=v2"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["x-tenant"] == "t-1"
    transcript = RunTranscript()
    for event in events:
        transcript.add(event)
    assert transcript.messages == {"msg_1": "Hello world"}
    assert transcript.status == "completed"


async def test_code_interpreter_step_deltas_and_completion(
    wire: WireServer, engine: AssistantsEngine
):
    ci_done = {
        "id": "call_ci",
        "type": "code_interpreter",
        "code_interpreter": {
            "input": "print(6 * 7)\nplot()",
            "outputs": [
                {"type": "logs", "logs": "42\n"},
                {"type": "image", "image": {"file_id": "file-img1"}},
            ],
        },
    }
    step_done = step_obj("step_1", "completed", [ci_done])
    wire.route(
        "POST",
        RUNS,
        sse(
            ("thread.run.created", run_obj()),
            ("thread.run.in_progress", run_obj("in_progress")),
            # OpenAI sends an empty tool_calls list at creation.
            ("thread.run.step.created", step_obj("step_1", "in_progress", [])),
            ("thread.run.step.in_progress", step_obj("step_1", "in_progress", [])),
            (
                "thread.run.step.delta",
                step_delta(
                    "step_1",
                    {
                        "index": 0,
                        "id": "call_ci",
                        "type": "code_interpreter",
                        "code_interpreter": {"input": "", "outputs": []},
                    },
                ),
            ),
            (
                "thread.run.step.delta",
                step_delta(
                    "step_1",
                    {
                        "index": 0,
                        "type": "code_interpreter",
                        "code_interpreter": {"input": "print(6 * 7)"},
                    },
                ),
            ),
            (
                "thread.run.step.delta",
                step_delta(
                    "step_1",
                    {
                        "index": 0,
                        "type": "code_interpreter",
                        "code_interpreter": {"input": "\nplot()"},
                    },
                ),
            ),
            (
                "thread.run.step.delta",
                step_delta(
                    "step_1",
                    {
                        "index": 0,
                        "type": "code_interpreter",
                        "code_interpreter": {
                            "outputs": [{"index": 0, "type": "logs", "logs": "42\n"}]
                        },
                    },
                ),
            ),
            ("thread.run.step.completed", step_done),
            # A repeated completion must not produce a second ToolCallCompleted.
            ("thread.run.step.completed", step_done),
            *text_run_frames(["The answer is 42."], message_id="msg_2")[3:],
        ),
    )

    events = await collect(engine.run("thread_1", "asst_1", "compute"))
    tool_events = [
        e
        for e in events
        if isinstance(e, ev.ToolCallStarted | ev.ToolCallDelta | ev.ToolCallCompleted)
    ]
    assert tool_events == [
        ev.ToolCallStarted("call_ci", "code_interpreter", "", "step_1"),
        ev.ToolCallDelta("call_ci", "code_interpreter", input="print(6 * 7)"),
        ev.ToolCallDelta("call_ci", "code_interpreter", input="\nplot()"),
        ev.ToolCallDelta("call_ci", "code_interpreter", output="42\n"),
        ev.ToolCallCompleted(
            "call_ci",
            "code_interpreter",
            input="print(6 * 7)\nplot()",
            output="42\n",
            images=("file-img1",),
        ),
    ]
    assert events[-2] == ev.MessageCompleted("msg_2", "The answer is 42.")
    assert isinstance(events[-1], ev.RunCompleted)


async def test_server_repeating_full_tool_calls_does_not_double_ids(
    wire: WireServer, engine: AssistantsEngine
):
    """Some servers put whole tool calls in step.created and repeat the id in deltas."""
    full = fn_call("call_a", "get_weather", "")
    wire.route(
        "POST",
        RUNS,
        sse(
            ("thread.run.created", run_obj()),
            ("thread.run.step.created", step_obj("step_f", "in_progress", [full])),
            ("thread.run.step.delta", step_delta("step_f", {**full, "index": 0})),
            (
                "thread.run.step.delta",
                step_delta(
                    "step_f",
                    {"index": 0, "type": "function", "function": {"arguments": '{"city":'}},
                ),
            ),
            (
                "thread.run.step.delta",
                step_delta(
                    "step_f",
                    {"index": 0, "type": "function", "function": {"arguments": ' "Oslo"}'}},
                ),
            ),
            (
                "thread.run.requires_action",
                requires_action([fn_call("call_a", "get_weather", '{"city": "Oslo"}')]),
            ),
        ),
    )
    events = await collect(engine.run("thread_1", "asst_1", "weather?"))
    assert events[1:] == [
        ev.ToolCallStarted("call_a", "function", "get_weather", "step_f"),
        ev.ToolCallDelta("call_a", "function", input='{"city":'),
        ev.ToolCallDelta("call_a", "function", input=' "Oslo"}'),
        ev.ActionRequired(
            run_id="run_1",
            thread_id="thread_1",
            calls=(ev.FunctionCall("call_a", "get_weather", '{"city": "Oslo"}'),),
            expires_at=float(CREATED + 600),
        ),
    ]


async def test_requires_action_then_submit_continues_the_same_calls(
    wire: WireServer, engine: AssistantsEngine
):
    calls = [fn_call("call_1", "add", '{"a": 1, "b": 2}'), fn_call("call_2", "now", "{}")]
    wire.route(
        "POST",
        RUNS,
        sse(
            ("thread.run.created", run_obj()),
            ("thread.run.in_progress", run_obj("in_progress")),
            ("thread.run.step.created", step_obj("step_f", "in_progress", [])),
            (
                "thread.run.step.delta",
                step_delta(
                    "step_f",
                    {
                        "index": 0,
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "add", "arguments": "", "output": None},
                    },
                    {
                        "index": 1,
                        "id": "call_2",
                        "type": "function",
                        "function": {"name": "now", "arguments": "", "output": None},
                    },
                ),
            ),
            (
                "thread.run.step.delta",
                step_delta(
                    "step_f",
                    {"index": 0, "type": "function", "function": {"arguments": '{"a": 1, "b": 2}'}},
                ),
            ),
            ("thread.run.requires_action", requires_action(calls)),
        ),
    )
    first = await collect(engine.run("thread_1", "asst_1", "add"))
    assert [type(e).__name__ for e in first] == [
        "RunStarted",
        "RunStatusChanged",
        "ToolCallStarted",
        "ToolCallStarted",
        "ToolCallDelta",
        "ActionRequired",
    ]
    action = first[-1]
    assert isinstance(action, ev.ActionRequired)
    assert action.calls == (
        ev.FunctionCall("call_1", "add", '{"a": 1, "b": 2}'),
        ev.FunctionCall("call_2", "now", "{}"),
    )

    done_calls = [
        fn_call("call_1", "add", '{"a": 1, "b": 2}', output="3"),
        fn_call("call_2", "now", "{}", output="noon"),
    ]
    wire.route(
        "POST",
        SUBMIT,
        sse(
            ("thread.run.queued", run_obj("queued")),
            ("thread.run.in_progress", run_obj("in_progress")),
            ("thread.run.step.completed", step_obj("step_f", "completed", done_calls)),
            *text_run_frames(["1 + 2 = 3"], message_id="msg_9")[3:],
        ),
    )
    outputs = [ev.ToolOutput("call_1", "3"), ev.ToolOutput("call_2", "noon")]
    second = await collect(engine.submit_tool_outputs("thread_1", "run_1", outputs))
    assert second[:4] == [
        ev.RunStatusChanged("run_1", "queued"),
        ev.RunStatusChanged("run_1", "in_progress"),
        ev.ToolCallCompleted("call_1", "function", "add", '{"a": 1, "b": 2}', "3"),
        ev.ToolCallCompleted("call_2", "function", "now", "{}", "noon"),
    ]
    assert not any(isinstance(e, ev.ToolCallStarted) for e in second)
    assert second[-1] == ev.RunCompleted("run_1", "completed", ev.Usage(12, 5, 17))
    (request,) = wire.requests_to("POST", SUBMIT)
    assert request.body == {
        "tool_outputs": [
            {"tool_call_id": "call_1", "output": "3"},
            {"tool_call_id": "call_2", "output": "noon"},
        ],
        "stream": True,
    }


async def test_failed_step_and_file_search_results(wire: WireServer, engine: AssistantsEngine):
    search = {
        "id": "call_fs",
        "type": "file_search",
        "file_search": {
            "ranking_options": {"ranker": "auto", "score_threshold": 0.0},
            "results": [{"file_id": "file-1", "file_name": "notes.md", "score": 0.875}],
        },
    }
    ci = {
        "id": "call_ci",
        "type": "code_interpreter",
        "code_interpreter": {"input": "1/0", "outputs": []},
    }
    wire.route(
        "POST",
        RUNS,
        sse(
            ("thread.run.created", run_obj()),
            ("thread.run.step.created", step_obj("step_s", "in_progress", [])),
            (
                "thread.run.step.delta",
                step_delta(
                    "step_s",
                    {"index": 0, "id": "call_fs", "type": "file_search", "file_search": {}},
                ),
            ),
            ("thread.run.step.completed", step_obj("step_s", "completed", [search])),
            ("thread.run.step.created", step_obj("step_c", "in_progress", [])),
            (
                "thread.run.step.failed",
                step_obj(
                    "step_c",
                    "failed",
                    [ci],
                    last_error={"code": "server_error", "message": "sandbox died"},
                ),
            ),
            (
                "thread.run.failed",
                run_obj("failed", last_error={"code": "server_error", "message": "sandbox died"}),
            ),
        ),
    )
    events = await collect(engine.run("thread_1", "asst_1", "search"))
    assert events[1:] == [
        ev.ToolCallStarted("call_fs", "file_search", "", "step_s"),
        ev.ToolCallCompleted(
            "call_fs",
            "file_search",
            output="notes.md (0.88)",
            results=(ev.FileSearchResult("file-1", "notes.md", 0.875),),
        ),
        ev.ToolCallStarted("call_ci", "code_interpreter", "", "step_c"),
        ev.ToolCallCompleted(
            "call_ci",
            "code_interpreter",
            input="1/0",
            output="[failed: sandbox died]",
            status="failed",
        ),
        ev.RunFailed("run_1", "failed", "server_error", "sandbox died"),
    ]


@pytest.mark.parametrize(
    ("wire_event", "extra", "expected"),
    [
        (
            "thread.run.completed",
            {"usage": USAGE},
            ev.RunCompleted("run_1", "completed", ev.Usage(12, 5, 17)),
        ),
        ("thread.run.cancelled", {}, ev.RunCompleted("run_1", "cancelled")),
        (
            "thread.run.incomplete",
            {"incomplete_details": {"reason": "max_completion_tokens"}, "usage": USAGE},
            ev.RunCompleted("run_1", "incomplete", ev.Usage(12, 5, 17), "max_completion_tokens"),
        ),
        (
            "thread.run.failed",
            {"last_error": {"code": "rate_limit_exceeded", "message": "Slow down."}},
            ev.RunFailed("run_1", "failed", "rate_limit_exceeded", "Slow down."),
        ),
        (
            "thread.run.expired",
            {},
            ev.RunFailed("run_1", "expired", "expired", "The run expired before it finished."),
        ),
    ],
)
async def test_terminal_run_events(
    wire: WireServer, engine: AssistantsEngine, wire_event: str, extra: dict, expected: Any
):
    status = wire_event.rsplit(".", 1)[1]
    wire.route(
        "POST",
        RUNS,
        sse(
            ("thread.run.created", run_obj()),
            ("thread.run.in_progress", run_obj("in_progress")),
            *([("thread.run.cancelling", run_obj("cancelling"))] if status == "cancelled" else []),
            (wire_event, run_obj(status, **extra)),
        ),
    )
    events = await collect(engine.run("thread_1", "asst_1", "hi"))
    assert events[-1] == expected
    if status == "cancelled":
        assert events[-2] == ev.RunStatusChanged("run_1", "cancelling")


@pytest.mark.parametrize(
    "payload",
    [
        {"code": "server_error", "message": "The model is overloaded."},  # ErrorObject
        {"error": {"code": "server_error", "message": "The model is overloaded."}},
    ],
)
async def test_error_event_ends_the_stream(
    wire: WireServer, engine: AssistantsEngine, payload: dict
):
    wire.route(
        "POST",
        RUNS,
        sse(
            ("thread.run.created", run_obj()),
            ("thread.run.in_progress", run_obj("in_progress")),
            ("error", payload),
            ("thread.run.completed", run_obj("completed")),  # never read
        ),
    )
    events = await collect(engine.run("thread_1", "asst_1", "hi"))
    assert events[-1] == ev.RunFailed("run_1", "error", "server_error", "The model is overloaded.")
    assert sum(isinstance(e, ev.RunFailed | ev.RunCompleted) for e in events) == 1


async def test_message_content_annotations_images_refusal_and_incomplete(
    wire: WireServer, engine: AssistantsEngine
):
    cited = text_block(
        "See notes【4:0†source】.",
        [
            {
                "type": "file_citation",
                "text": "【4:0†source】",
                "start_index": 9,
                "end_index": 21,
                "file_citation": {"file_id": "file-notes"},
            }
        ],
    )
    chart = text_block(
        "Chart: sandbox:/mnt/data/c.png",
        [
            {
                "type": "file_path",
                "text": "sandbox:/mnt/data/c.png",
                "start_index": 7,
                "end_index": 30,
                "file_path": {"file_id": "file-chart"},
            }
        ],
    )
    content = [cited, {"type": "image_file", "image_file": {"file_id": "file-img"}}, chart]
    wire.route(
        "POST",
        RUNS,
        sse(
            ("thread.run.created", run_obj()),
            # The user's message (some servers stream it): not an assistant message.
            (
                "thread.message.created",
                msg_obj("msg_u", "completed", [text_block("hi")], role="user"),
            ),
            (
                "thread.message.completed",
                msg_obj("msg_u", "completed", [text_block("hi")], role="user"),
            ),
            ("thread.message.created", msg_obj("msg_a", "in_progress")),
            ("thread.message.completed", msg_obj("msg_a", "completed", content)),
            ("thread.message.created", msg_obj("msg_r", "in_progress")),
            (
                "thread.message.delta",
                {
                    "id": "msg_r",
                    "object": "thread.message.delta",
                    "delta": {"content": [{"index": 0, "type": "refusal", "refusal": "I can't."}]},
                },
            ),
            (
                "thread.message.incomplete",
                msg_obj("msg_r", "incomplete", [{"type": "refusal", "refusal": "I can't."}]),
            ),
            ("thread.run.incomplete", run_obj("incomplete")),
        ),
    )
    events = await collect(engine.run("thread_1", "asst_1", "hi"))
    completed = [e for e in events if isinstance(e, ev.MessageCompleted)]
    first_text = "See notes【4:0†source】."
    offset = len(first_text) + 2 + len("[image: file-img]") + 2
    assert completed == [
        ev.MessageCompleted(
            "msg_a",
            f"{first_text}\n\n[image: file-img]\n\nChart: sandbox:/mnt/data/c.png",
            (
                ev.Annotation("file_citation", "【4:0†source】", 9, 21, "file-notes"),
                ev.Annotation(
                    "file_path", "sandbox:/mnt/data/c.png", 7 + offset, 30 + offset, "file-chart"
                ),
            ),
            images=("file-img",),
        ),
        ev.MessageCompleted("msg_r", "I can't.", status="incomplete"),
    ]
    text = completed[0].text
    for annotation in completed[0].annotations:
        assert text[annotation.start_index : annotation.end_index] == annotation.text
    assert ev.TextDelta("msg_r", "I can't.") in events
    assert not any(getattr(e, "message_id", "") == "msg_u" for e in events)


async def test_unknown_events_and_content_are_ignored(wire: WireServer, engine: AssistantsEngine):
    wire.route(
        "POST",
        RUNS,
        sse(
            ("thread.run.created", run_obj()),
            ("thread.run.step.frobnicated", {"id": "step_x"}),
            ("thread.message.created", msg_obj("msg_1", "in_progress")),
            (
                "thread.message.delta",
                {"id": "msg_1", "delta": {"content": [{"index": 0, "type": "hologram"}]}},
            ),
            (
                "thread.message.completed",
                msg_obj("msg_1", "completed", [{"type": "hologram"}, text_block("ok")]),
            ),
            ("thread.run.completed", run_obj("completed")),
        ),
    )
    events = await collect(engine.run("thread_1", "asst_1", "hi"))
    assert ev.MessageCompleted("msg_1", "ok") in events
    assert events[-1] == ev.RunCompleted("run_1")


# --------------------------------------------------------------------------- broken streams


@pytest.mark.parametrize(
    "tail",
    [
        pytest.param([CUT], id="connection-cut"),
        pytest.param([("thread.message.delta", "{not json")], id="malformed-frame"),
        pytest.param([], id="done-without-final-event"),
    ],
)
async def test_broken_stream_raises_stream_interrupted(
    wire: WireServer, engine: AssistantsEngine, tail: list
):
    wire.route(
        "POST",
        RUNS,
        sse(*text_run_frames(["Hello", " there"])[:7], *tail),
    )
    seen: list[ev.RunEvent] = []
    with pytest.raises(StreamInterrupted) as caught:
        async for event in engine.run("thread_1", "asst_1", "hi"):
            seen.append(event)
    assert caught.value.run_id == "run_1"
    assert wire.base_url.removesuffix("/v1") in caught.value.message
    assert API_KEY not in caught.value.message
    assert seen[-1] == ev.TextDelta("msg_1", "Hello")
    assert len(wire.requests_to("POST", RUNS)) == 1


# --------------------------------------------------------------------------- errors


async def test_probe_ok_sends_one_limited_request(wire: WireServer, engine: AssistantsEngine):
    wire.route(
        "GET", r"/assistants", JSONResponse({"object": "list", "data": [], "has_more": False})
    )
    await engine.check()
    (request,) = wire.requests
    assert request.query == {"limit": "1"}


@pytest.mark.parametrize("status", [401, 403])
async def test_refused_key_is_auth_error(wire: WireServer, engine: AssistantsEngine, status: int):
    wire.route("GET", r"/assistants", error_response(status, f"Incorrect API key {API_KEY}"))
    with pytest.raises(AuthError) as caught:
        await engine.check()
    assert caught.value.message == (
        f"The endpoint refused the API key (HTTP {status}). "
        "Check OPENAI_API_KEY or the profile's api_key_env."
    )
    assert len(wire.requests) == 1


@pytest.mark.parametrize("status", [404, 410])
async def test_probe_404_or_410_means_not_served(
    wire: WireServer, engine: AssistantsEngine, status: int
):
    wire.route("GET", r"/assistants", error_response(status, "Unknown path"))
    with pytest.raises(NotServedError) as caught:
        await engine.check()
    assert caught.value.message.startswith(
        f"This endpoint does not serve the Assistants API (HTTP {status} on /assistants)."
    )
    with pytest.raises(NotServedError):
        await engine.list_assistants()


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(JSONResponse({"hello": "world"}), id="json"),
        pytest.param(HTMLResponse("<html><body>Welcome</body></html>"), id="html"),
    ],
)
async def test_probe_answer_that_is_not_a_list_is_not_served(
    wire: WireServer, engine: AssistantsEngine, answer: Response
):
    wire.route("GET", r"/assistants", answer)
    with pytest.raises(NotServedError):
        await engine.check()


async def test_html_error_page_is_shown_as_text(wire: WireServer, engine: AssistantsEngine):
    page = "<html><head><title>502</title></head><body><h1>Bad   gateway</h1></body></html>"
    wire.route(
        "GET",
        r"/threads/thread_1/runs/run_1",
        HTMLResponse(page, status_code=502, headers={"retry-after-ms": "1"}),
    )
    with pytest.raises(EngineError) as caught:
        await engine.retrieve_run("thread_1", "run_1")
    assert len(wire.requests) == 3  # reads are retried (twice)
    assert caught.value.message == "The endpoint answered HTTP 502: 502 Bad gateway"


async def test_unreachable_endpoint():
    base_url = f"http://127.0.0.1:{closed_port()}/v1"
    engine = AssistantsEngine(base_url, API_KEY)
    try:
        started = time.monotonic()
        with pytest.raises(EndpointUnreachable) as caught:
            await engine.check()
        assert time.monotonic() - started < 2  # no retries with back-off on the probe
        assert caught.value.message == f"Could not reach {base_url}: connection refused."
        with pytest.raises(EndpointUnreachable):
            await collect(engine.run("thread_1", "asst_1", "hi"))
    finally:
        await engine.aclose()


@pytest.mark.parametrize(
    "message",
    [
        "Thread thread_1 already has an active run run_abc123.",
        "Can't add messages to thread_1 while a run run_abc123 is active.",
    ],
)
async def test_active_run_400(wire: WireServer, engine: AssistantsEngine, message: str):
    wire.route("POST", RUNS, error_response(400, message))
    with pytest.raises(ActiveRunError) as caught:
        await collect(engine.run("thread_1", "asst_1", "hi"))
    assert caught.value.run_id == "run_abc123"
    assert "run_abc123" in caught.value.message


async def test_rate_limited(wire: WireServer, engine: AssistantsEngine):
    wire.route("POST", RUNS, error_response(429, "Too many requests.", type_="rate_limit"))
    with pytest.raises(RateLimitedError) as caught:
        await collect(engine.run("thread_1", "asst_1", "hi"))
    assert "Too many requests." in caught.value.message
    assert len(wire.requests_to("POST", RUNS)) == 1  # run creation is never retried


async def test_server_error_on_run_creation_is_not_retried(
    wire: WireServer, engine: AssistantsEngine
):
    wire.route(
        "POST",
        RUNS,
        error_response(500, f"Internal trouble with key {API_KEY}.", type_="server_error"),
    )
    with pytest.raises(EngineError) as caught:
        await collect(engine.run("thread_1", "asst_1", "hi"))
    assert type(caught.value) is ServerError  # 5xx: the run may or may not exist
    # The key a server echoes is never shown.
    assert caught.value.message == "The endpoint answered HTTP 500: Internal trouble with key ***."
    assert len(wire.requests_to("POST", RUNS)) == 1


async def test_object_404_is_not_found(wire: WireServer, engine: AssistantsEngine):
    wire.route("GET", r"/threads/thread_1/runs/run_9", error_response(404, "No run run_9"))
    with pytest.raises(NotFoundError) as caught:
        await engine.retrieve_run("thread_1", "run_9")
    assert caught.value.message.startswith("Run run_9 was not found")
    wire.route("GET", r"/threads/thread_x/messages", error_response(404, "No thread"))
    with pytest.raises(NotFoundError):
        await engine.list_messages("thread_x")


@pytest.mark.parametrize("status", [404, 405, 501])
async def test_cancel_not_supported(wire: WireServer, engine: AssistantsEngine, status: int):
    wire.route("POST", CANCEL, error_response(status, "nope"))
    with pytest.raises(EngineError) as caught:
        await engine.cancel_run("thread_1", "run_1")
    assert "does not support cancelling runs" in caught.value.message
    assert caught.value.title == "Cancel not supported"


async def test_cancel_run_posts_cancel(wire: WireServer, engine: AssistantsEngine):
    wire.route("POST", CANCEL, JSONResponse(run_obj("cancelling")))
    await engine.cancel_run("thread_1", "run_1")
    assert len(wire.requests_to("POST", CANCEL)) == 1


# --------------------------------------------------------------------------- other calls


async def test_runs_threads_and_assistants(wire: WireServer, engine: AssistantsEngine):
    wire.route(
        "GET",
        r"/threads/thread_1/runs/run_1",
        JSONResponse(requires_action([fn_call("call_1", "add", "{}")], usage=None)),
    )
    wire.route(
        "GET",
        RUNS,
        JSONResponse(
            {
                "object": "list",
                "has_more": True,
                "data": [
                    run_obj(
                        "failed",
                        run_id="run_2",
                        last_error={"code": "server_error", "message": "x"},
                    )
                ],
            }
        ),
    )
    wire.route(
        "GET",
        r"/threads/thread_2/runs",
        JSONResponse({"object": "list", "data": [], "has_more": False}),
    )
    wire.route(
        "POST",
        r"/threads",
        JSONResponse(
            {"id": "thread_new", "object": "thread", "created_at": CREATED, "metadata": {}}
        ),
    )
    assistant = {
        "id": "asst_1",
        "object": "assistant",
        "created_at": CREATED,
        "name": "Helper",
        "description": None,
        "model": "gpt-test",
        "instructions": "Help.",
        "metadata": {},
        "tools": [
            {"type": "code_interpreter"},
            {"type": "function", "function": {"name": "add", "parameters": {}}},
        ],
    }
    wire.route(
        "GET",
        r"/assistants",
        JSONResponse({"object": "list", "data": [assistant], "has_more": False}),
    )
    wire.route("GET", r"/assistants/asst_1", JSONResponse(assistant))
    wire.route("POST", r"/assistants", JSONResponse(assistant))

    info = await engine.retrieve_run("thread_1", "run_1")
    assert info.status == "requires_action"
    assert info.calls == (ev.FunctionCall("call_1", "add", "{}"),)
    assert info.expires_at == CREATED + 600
    latest = await engine.latest_run("thread_1")
    assert latest is not None
    assert (latest.id, latest.status, latest.error_code) == ("run_2", "failed", "server_error")
    assert wire.requests_to("GET", RUNS)[0].query == {"limit": "1", "order": "desc"}
    assert await engine.latest_run("thread_2") is None
    assert await engine.create_thread() == "thread_new"

    expected = ("asst_1", "Helper", "gpt-test", "Help.", ("code_interpreter", "function"), ("add",))
    for got in [
        (await engine.list_assistants())[0],
        await engine.retrieve_assistant("asst_1"),
        await engine.create_assistant(
            name="Helper",
            model="gpt-test",
            instructions="Help.",
            tools=[{"type": "code_interpreter"}],
        ),
    ]:
        assert (
            got.id,
            got.name,
            got.model,
            got.instructions,
            got.tools,
            got.function_names,
        ) == expected
    (create,) = wire.requests_to("POST", r"/assistants")
    assert create.body == {
        "name": "Helper",
        "model": "gpt-test",
        "instructions": "Help.",
        "tools": [{"type": "code_interpreter"}],
    }


async def test_list_messages_pages_newest_first_and_reverses(
    wire: WireServer, engine: AssistantsEngine
):
    """A server-side cursor list of 130 messages, paged back to the oldest."""
    everything = [
        msg_obj(
            f"msg_{i:03d}",
            content=[text_block(f"m{i}")],
            role="user" if i % 2 else "assistant",
            created_at=CREATED + i,
        )
        for i in range(130)
    ]
    everything[5]["content"] = [{"type": "image_file", "image_file": {"file_id": "file-x"}}]

    def listing(request: Recorded) -> Response:
        assert request.query["order"] == "desc"
        newest_first = everything[::-1]
        after = request.query.get("after")
        start = [m["id"] for m in newest_first].index(after) + 1 if after else 0
        limit = int(request.query["limit"])
        page = newest_first[start : start + limit]
        return JSONResponse(
            {
                "object": "list",
                "data": page,
                "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None,
                "has_more": start + limit < len(newest_first),
            }
        )

    wire.route("GET", r"/threads/thread_1/messages", listing)
    page = await engine.list_messages("thread_1", limit=500)  # clamped to 100
    assert [m.id for m in page.messages] == [f"msg_{i:03d}" for i in range(30, 130)]
    assert page.has_more
    older = await engine.list_messages("thread_1", limit=50, before_id=page.messages[0].id)
    assert [m.id for m in older.messages] == [f"msg_{i:03d}" for i in range(0, 30)]
    assert not older.has_more
    assert older.messages[5].text == "[image: file-x]"
    assert older.messages[4].text == "m4"
    assert older.messages[1].role == "user" and older.messages[1].run_id is None
    assert older.messages[0].run_id == "run_1" and older.messages[0].created_at == CREATED
    assert [r.query.get("after") for r in wire.requests] == [None, "msg_030"]


# --------------------------------------------------------------------------- factory, import


def test_factory_and_label():
    engine = create_engine("Assistants", base_url="http://user:pw@example.com:8443/v1", api_key="k")
    assert isinstance(engine, AssistantsEngine)
    assert engine.label == "example.com:8443"
    assert "pw" not in repr(engine)
    assert AssistantsEngine("https://api.example.com/v1", "k").label == "api.example.com"
    assert AssistantsEngine("https://api.example.com/v1", "k", label="work").label == "work"
    with pytest.raises(ConfigError):
        create_engine("responses-ish", base_url="http://x", api_key="k")


def test_importing_engines_does_not_import_openai():
    code = (
        "import sys, tui_assistant.engines, tui_assistant.session\n"
        "assert 'openai' not in sys.modules, 'openai imported'\n"
        "assert 'httpx2' not in sys.modules, 'httpx2 imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


async def test_deprecation_warnings_are_silenced(wire: WireServer, engine: AssistantsEngine):
    """The SDK warns on every Assistants call; ``silence_deprecations`` (run when the
    engine module is imported) hides exactly those warnings."""
    wire.route("GET", r"/assistants", JSONResponse({"object": "list", "data": []}))
    wire.route("GET", r"/assistants/asst_1", JSONResponse(
        {"id": "asst_1", "object": "assistant", "created_at": CREATED, "name": "A",
         "model": "m", "instructions": None, "tools": [], "metadata": {}}))
    wire.route(
        "POST",
        r"/threads",
        JSONResponse({"id": "thread_1", "object": "thread", "created_at": CREATED, "metadata": {}}),
    )
    wire.route("POST", RUNS, sse(*text_run_frames(["ok"])))

    async def calls() -> list[str]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.resetwarnings()
            warnings.simplefilter("always")
            if silenced:
                silence_deprecations()
            await engine.check()  # a generic GET: no warning of its own
            await engine.retrieve_assistant("asst_1")  # beta.assistants: "deprecated"
            await engine.create_thread()  # beta.threads: "The Assistants API is deprecated ..."
            await collect(engine.run("thread_1", "asst_1", "hi"))
        return [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]

    silenced = False
    assert "deprecated" in await calls()  # the SDK does warn
    silenced = True
    assert await calls() == []
