"""Fault injection on the local server, observed through the raw SDK.

The matrix runs every stream fault and every run ending on the first stream of a run and
on the stream after ``submit_tool_outputs``; a run that pauses on ``/call get_time`` gives
both. After each fault the client reattaches as an app would (retrieve, poll, submit) and
the test checks that the run finished once, with one reply, and no second run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import openai
import pytest
from openai.types.beta.assistant_stream_event import ErrorEvent
from starlette.requests import Request

from tui_assistant.server.faults import Faults
from tui_assistant.server.validation import ApiError

ROOT = Path(__file__).resolve().parents[2]
CALL_TEXT = "What time is it?\n/call get_time"


async def collect(start) -> tuple[list, BaseException | None, list[float]]:
    """Events of a raw SDK stream, the exception that ended it (if any), arrival times."""
    events, times, error = [], [], None
    try:
        stream = await start
        async for event in stream:
            events.append(event)
            times.append(time.monotonic())
    except Exception as exc:  # noqa: BLE001 - the test looks at it
        error = exc
    return events, error, times


def first_stream(client, thread_id: str, assistant_id: str):
    return client.beta.threads.runs.create(
        thread_id=thread_id,
        assistant_id=assistant_id,
        additional_messages=[{"role": "user", "content": CALL_TEXT}],
        stream=True,
    )


def submit_stream(client, thread_id: str, run):
    (call,) = run.required_action.submit_tool_outputs.tool_calls
    return client.beta.threads.runs.submit_tool_outputs(
        run.id,
        thread_id=thread_id,
        tool_outputs=[{"tool_call_id": call.id, "output": "noon"}],
        stream=True,
    )


async def setup(client) -> tuple[str, str]:
    assistant_id = (await client.beta.assistants.list()).data[0].id
    thread = await client.beta.threads.create()
    return assistant_id, thread.id


def check_fault(kind: str, events: list, error: BaseException | None, times: list[float]) -> None:
    """The fault's effect on the stream it hit (it was set to act after two events)."""
    if kind == "drop_stream":
        assert isinstance(error, openai.APIConnectionError), repr(error)
        assert len(events) == 2
    elif kind == "malformed_frame":
        assert isinstance(error, json.JSONDecodeError), repr(error)
        assert len(events) == 2
    elif kind == "error_event":
        assert error is None and len(events) == 3
        assert isinstance(events[2], ErrorEvent)
        assert events[2].data.code == "server_error" and "injected" in events[2].data.message
    elif kind == "stall":
        assert error is None
        assert times[2] - times[1] >= 0.15
    else:  # pragma: no cover
        raise AssertionError(kind)


def check_clean(events: list, error: BaseException | None, last: str) -> None:
    assert error is None, repr(error)
    assert events[-1].event == last


async def check_finished_once(client, thread_id: str, run_id: str) -> None:
    run = await client.beta.threads.runs.poll(run_id, thread_id=thread_id)
    assert run.status == "completed"
    runs = (await client.beta.threads.runs.list(thread_id)).data
    assert [r.id for r in runs] == [run_id]
    messages = (await client.beta.threads.messages.list(thread_id, order="asc")).data
    assert [m.role for m in messages] == ["user", "assistant"]
    assert "`get_time({})` returned “noon”." in messages[1].content[0].text.value


@pytest.mark.parametrize("stage", ["first", "submit"])
@pytest.mark.parametrize("kind", ["drop_stream", "stall", "malformed_frame", "error_event"])
async def test_stream_fault_matrix(kind, stage, start_server, make_client):
    server = start_server()
    options = {}
    if kind == "malformed_frame":
        # The conftest client would fail the test on the broken frame; this one doesn't check.
        options["http_client"] = openai.DefaultAsyncHttpxClient()
    client = make_client(server, **options)
    assistant_id, thread_id = await setup(client)
    if kind == "stall":
        fault = server.faults.stall(0.2, on=stage, after_events=2)
    else:
        fault = getattr(server.faults, kind)(after_events=2, on=stage)

    events, error, times = await collect(first_stream(client, thread_id, assistant_id))
    if stage == "first":
        check_fault(kind, events, error, times)
    else:
        check_clean(events, error, "thread.run.requires_action")
    run_id = events[0].data.id
    # Reattach: the run went on without the client.
    run = await client.beta.threads.runs.poll(run_id, thread_id=thread_id)
    assert run.status == "requires_action"

    events, error, times = await collect(submit_stream(client, thread_id, run))
    if stage == "submit":
        check_fault(kind, events, error, times)
    else:
        check_clean(events, error, "thread.run.completed")
    assert fault.remaining == 0 and server.faults.pending() == []
    await check_finished_once(client, thread_id, run_id)


@pytest.mark.parametrize("stage", ["first", "submit"])
@pytest.mark.parametrize("status", ["failed", "expired", "incomplete"])
async def test_run_ending_matrix(status, stage, start_server, make_client):
    server = start_server()
    client = make_client(server)
    assistant_id, thread_id = await setup(client)
    server.faults.end_run(
        status, on=stage, after_outputs=0 if stage == "first" else 3, code="rate_limit_exceeded"
    )
    events, error, _ = await collect(first_stream(client, thread_id, assistant_id))
    assert error is None
    if stage == "submit":
        assert events[-1].event == "thread.run.requires_action"
        events, error, _ = await collect(submit_stream(client, thread_id, events[-1].data))
        assert error is None
    ended = events[-1]
    assert ended.event == f"thread.run.{status}"
    run = ended.data
    assert run.status == status and run.required_action is None and run.usage is not None
    if status == "failed":
        assert run.last_error.code == "rate_limit_exceeded" and run.failed_at is not None
    elif status == "expired":
        assert run.expires_at is None
    else:
        assert run.incomplete_details.reason == "max_completion_tokens"
    stored = await client.beta.threads.runs.retrieve(run.id, thread_id=thread_id)
    assert stored.status == status
    messages = (await client.beta.threads.messages.list(thread_id, order="asc")).data
    if stage == "first":
        assert [m.role for m in messages] == ["user"]
        steps = (await client.beta.threads.runs.steps.list(run.id, thread_id=thread_id)).data
        assert steps == []
    else:
        reply = messages[-1]
        reason = {"failed": "run_failed", "expired": "run_expired", "incomplete": "max_tokens"}
        assert reply.role == "assistant" and reply.status == "incomplete"
        assert reply.incomplete_details.reason == reason[status]
        assert reply.content[0].text.value == "**Function results**\n\n- "  # three tokens
    # The thread is free again.
    run = await client.beta.threads.runs.create_and_poll(
        thread_id=thread_id,
        assistant_id=assistant_id,
        additional_messages=[{"role": "user", "content": "again"}],
    )
    assert run.status == "completed"


async def test_stalled_stream_hits_the_client_read_timeout(start_server, make_client):
    server = start_server()
    client = make_client(server, timeout=httpx2.Timeout(5, read=0.2))
    assistant_id, thread_id = await setup(client)
    server.faults.stall(0.5, after_events=1)
    events, error, _ = await collect(first_stream(client, thread_id, assistant_id))
    assert isinstance(error, openai.APITimeoutError) and len(events) == 1
    run = await client.beta.threads.runs.poll(events[0].data.id, thread_id=thread_id)
    assert run.status == "requires_action"


async def test_rate_limit_with_retry_after(start_server, make_client):
    server = start_server()
    client = make_client(server)
    assistant_id, thread_id = await setup(client)
    server.faults.fail_requests(429, retry_after=1.5, path_pattern=r"/runs$", method="POST")
    assert (await client.beta.threads.runs.list(thread_id)).data == []  # GET: not matched
    with pytest.raises(openai.RateLimitError) as caught:
        await first_stream(client, thread_id, assistant_id)
    response = caught.value.response
    assert response.headers["retry-after"] == "2" and response.headers["retry-after-ms"] == "1500"
    assert caught.value.body["code"] == "rate_limit_exceeded"
    assert caught.value.body["type"] == "requests"
    assert (await client.beta.threads.runs.list(thread_id)).data == []  # not handled
    events, error, _ = await collect(first_stream(client, thread_id, assistant_id))
    assert error is None and events[-1].event == "thread.run.requires_action"


@pytest.mark.parametrize("status", [500, 503])
async def test_server_errors_for_the_next_requests(status, start_server, make_client):
    server = start_server()
    client = make_client(server)
    fault = server.faults.fail_requests(status, count=2, retry_after=1.6)
    with pytest.raises(openai.InternalServerError) as caught:
        await client.beta.assistants.list()
    assert caught.value.status_code == status
    assert caught.value.body["type"] == "server_error"
    # The SDK's own retries get through the second one, after waiting as retry-after-ms
    # says (its own first back-off would be at most 0.5 s).
    began = time.monotonic()
    assistants = await client.with_options(max_retries=2).beta.assistants.list()
    assert assistants.data and time.monotonic() - began >= 1.6
    assert fault.remaining == 0 and fault.used == 2


async def test_stalled_requests(start_server, make_client):
    server = start_server()
    client = make_client(server)
    server.faults.stall(0.3, on="request", path_pattern=r"/assistants$")
    with pytest.raises(openai.APITimeoutError):
        await client.with_options(timeout=0.1).beta.assistants.list()
    assert server.faults.pending() == []
    await client.beta.threads.create()


async def test_active_run_conflict_starts_the_run(start_server, make_client):
    server = start_server()
    client = make_client(server)
    assistant_id, thread_id = await setup(client)
    server.faults.active_run_conflict()
    with pytest.raises(openai.BadRequestError) as caught:
        await client.beta.threads.runs.create(
            thread_id=thread_id,
            assistant_id=assistant_id,
            additional_messages=[{"role": "user", "content": "hello"}],
        )
    message = caught.value.body["message"]
    assert message.startswith(f"Thread {thread_id} already has an active run run_")
    (run,) = (await client.beta.threads.runs.list(thread_id, limit=1)).data
    assert message.endswith(f"{run.id}.")
    run = await client.beta.threads.runs.poll(run.id, thread_id=thread_id)
    assert run.status == "completed"
    messages = (await client.beta.threads.messages.list(thread_id, order="asc")).data
    assert [m.role for m in messages] == ["user", "assistant"]


def test_fault_specs_and_validation():
    faults = Faults()
    fault = faults.add("fail_requests, status=429, count=2, retry_after=1.5, path_pattern=/runs$")
    assert fault.describe() == {
        "kind": "fail_requests",
        "remaining": 2,
        "used": 0,
        "status": 429,
        "retry_after": 1.5,
        "path_pattern": "/runs$",
    }
    faults.add("drop_stream,after=4,on=submit")
    faults.add({"kind": "end_run", "status": "expired", "after": 1})
    faults.add("stall,seconds=2,on=request,method=GET")
    assert [(f["kind"], f.get("after"), f.get("on")) for f in faults.pending()] == [
        ("fail_requests", None, None),
        ("drop_stream", 4, "submit"),
        ("end_run", 1, "first"),
        ("stall", 0, "request"),
    ]
    for bad in (
        "explode",
        "drop_stream,on=later",
        "fail_requests,status=200",
        "end_run,status=cancelled",
        "drop_stream,count=0",
        "stall,seconds=-1",
        "drop_stream,after_events",
        "drop_stream,colour=red",
    ):
        with pytest.raises(ValueError):
            faults.add(bad)
    faults.clear()
    assert faults.pending() == []
    # Counted faults are used up one occasion at a time.
    drop = faults.drop_stream(on="any", count=2)
    assert faults.take_stream_faults("submit") == [drop] and drop.remaining == 1
    assert faults.take_stream_faults("first") == [drop] and faults.take_stream_faults("first") == []


async def test_fault_admin_endpoint(start_server):
    server = start_server(fault_admin=True)
    admin = f"http://127.0.0.1:{server.port}/_faults"
    async with httpx2.AsyncClient() as raw:
        added = await raw.post(admin, json={"kind": "fail_requests", "status": 503})
        assert added.status_code == 200 and added.json()["kind"] == "fail_requests"
        added = await raw.post(admin, json={"spec": "drop_stream,after_events=1"})
        assert added.json()["kind"] == "drop_stream"
        assert [f["kind"] for f in (await raw.get(admin)).json()["data"]] == [
            "fail_requests",
            "drop_stream",
        ]
        assert (await raw.post(admin, json={"kind": "nope"})).status_code == 400
        assert (await raw.get(server.base_url + "/assistants")).status_code == 503
        assert (await raw.get(server.base_url + "/assistants")).status_code == 200
        cleared = await raw.delete(admin)
        assert cleared.json()["data"] == [] and server.faults.pending() == []
    plain = start_server()
    assert httpx2.get(f"http://127.0.0.1:{plain.port}/_faults").status_code == 404
    # Only loopback clients may use it.
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/_faults",
        "headers": [],
        "query_string": b"",
        "client": ("192.0.2.7", 40000),
    }
    with pytest.raises(ApiError) as caught:
        await server.app.api.faults_admin(Request(scope))
    assert caught.value.status == 403


def test_serve_takes_faults_from_the_environment(tmp_path):
    code = (
        "import sys; from tui_assistant.server.runtime import serve; "
        f"sys.exit(serve('127.0.0.1', 0, {str(tmp_path / 'serve.db')!r}, token_delay=0))"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TUI_ASSISTANT_FAULTS": "fail_requests,status=503,path_pattern=/assistants$; "
        "drop_stream,after_events=2",
    }
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        base_url = process.stdout.readline().strip().rsplit(" ", 1)[-1]
        lines = [process.stdout.readline().strip() for _ in range(2)]
        assert lines[0].startswith("Code interpreter: ")  # how model-written code runs
        assert lines[1].startswith("Fault injection on: 2 pending (change them at http://")
        assert httpx2.get(base_url + "/assistants", timeout=5).status_code == 503
        assistants = httpx2.get(base_url + "/assistants", timeout=5).json()
        body = {
            "assistant_id": assistants["data"][0]["id"],
            "stream": True,
            "thread": {"messages": [{"role": "user", "content": "hi"}]},
        }
        with pytest.raises(httpx2.RemoteProtocolError):
            with httpx2.stream("POST", base_url + "/threads/runs", json=body, timeout=5) as r:
                for _ in r.iter_bytes():
                    pass
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0
    assert "Traceback" not in err and "Exception in ASGI" not in err, err
