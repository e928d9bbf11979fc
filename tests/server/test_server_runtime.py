"""Running the local server: tokens, persistence, silence, and the foreground ``serve``."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import openai
import pytest

from tui_assistant.server.models import FunctionCall, ModelOutput, RunContext, ScriptedModel
from tui_assistant.server.runtime import is_loopback, start_local_server

ROOT = Path(__file__).resolve().parents[2]


async def test_bearer_token(start_server, make_client):
    server = start_server(bearer_token="s3cret")
    assert server.bearer_token == "s3cret"
    with pytest.raises(openai.AuthenticationError) as caught:
        await make_client(server, api_key="wrong").beta.assistants.list()
    assert caught.value.status_code == 401
    assert caught.value.body["code"] == "invalid_api_key"
    assert caught.value.body["type"] == "invalid_request_error"
    async with httpx2.AsyncClient() as raw:
        response = await raw.get(server.base_url + "/assistants")
        assert response.status_code == 401
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}
        response = await raw.get(
            server.base_url + "/assistants", headers={"Authorization": "Basic s3cret"}
        )
        assert response.status_code == 401
    assistants = await make_client(server, api_key="s3cret").beta.assistants.list()
    assert assistants.data[0].name == "Demo assistant"


async def test_any_key_is_accepted_without_a_token(local_server, make_client):
    assert local_server.bearer_token is None
    for key in ("test", "sk-anything"):
        assert (await make_client(local_server, api_key=key).beta.assistants.list()).data
    async with httpx2.AsyncClient() as raw:  # no Authorization header at all
        assert (await raw.get(local_server.base_url + "/assistants")).status_code == 200


def test_non_loopback_hosts_need_a_token():
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.10")
    server = start_local_server(host="0.0.0.0")
    try:
        assert server.bearer_token and len(server.bearer_token) >= 20
        url = f"http://127.0.0.1:{server.port}/v1/assistants"
        assert httpx2.get(url).status_code == 401
        headers = {"Authorization": f"Bearer {server.bearer_token}"}
        assert httpx2.get(url, headers=headers).status_code == 200
    finally:
        server.stop()


async def test_database_survives_a_restart(start_server, make_client, tmp_path):
    db = tmp_path / "data" / "server.db"
    server = start_server(db_path=db)
    client = make_client(server)
    assistant = await client.beta.assistants.create(model="m", name="Kept")
    thread = await client.beta.threads.create(metadata={"title": "kept"})
    run = await client.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=assistant.id,
        additional_messages=[{"role": "user", "content": "remember me"}],
    )
    messages = (await client.beta.threads.messages.list(thread.id)).data
    server.stop()
    assert db.exists()

    again = make_client(start_server(db_path=db))
    assert (await again.beta.assistants.retrieve(assistant.id)).name == "Kept"
    assert (await again.beta.threads.retrieve(thread.id)).metadata == {"title": "kept"}
    assert (await again.beta.threads.runs.retrieve(run.id, thread_id=thread.id)) == run
    assert (await again.beta.threads.messages.list(thread.id)).data == messages
    names = [a.name async for a in again.beta.assistants.list()]
    assert sorted(names) == ["Demo assistant", "Kept"]


async def test_restart_settles_unfinished_runs(start_server, make_client, tmp_path):
    db = tmp_path / "server.db"

    class AskOnce:
        async def respond(self, context: RunContext) -> AsyncIterator[ModelOutput]:
            if context.tool_results:
                yield f"got {context.tool_results[0].output}"
            else:
                yield FunctionCall("lookup", "{}")

    server = start_server(db_path=db, model=AskOnce())
    client = make_client(server)
    assistant_id = (await client.beta.assistants.list()).data[0].id
    paused_thread = await client.beta.threads.create()
    paused = await client.beta.threads.runs.create_and_poll(
        thread_id=paused_thread.id, assistant_id=assistant_id
    )
    assert paused.status == "requires_action"
    server.stop()

    slow = ScriptedModel("tick " * 500, token_delay=0.01)
    server = start_server(db_path=db, model=slow)
    client = make_client(server)
    busy_thread = await client.beta.threads.create()
    busy = await client.beta.threads.runs.create(
        thread_id=busy_thread.id, assistant_id=assistant_id
    )
    for _ in range(200):  # wait until the reply has begun
        page = await client.beta.threads.messages.list(busy_thread.id)
        if page.data and page.data[0].content:
            break
        await asyncio.sleep(0.02)
    server.stop()  # while the run is still writing

    client = make_client(start_server(db_path=db, model=AskOnce()))
    failed = await client.beta.threads.runs.retrieve(busy.id, thread_id=busy_thread.id)
    assert failed.status == "failed" and failed.last_error.code == "server_error"
    message = (await client.beta.threads.messages.list(busy_thread.id)).data[0]
    assert message.status == "incomplete" and message.incomplete_details.reason == "run_failed"
    assert message.content[0].text.value.startswith("tick ")

    # A run waiting for tool outputs can still be resumed after the restart.
    call = paused.required_action.submit_tool_outputs.tool_calls[0]
    resumed = await client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=paused.id,
        thread_id=paused_thread.id,
        tool_outputs=[{"tool_call_id": call.id, "output": "42"}],
    )
    assert resumed.status == "completed"
    reply = (await client.beta.threads.messages.list(paused_thread.id)).data[0]
    assert reply.content[0].text.value == "got 42"


async def test_nothing_is_printed_while_running_in_a_thread(capfd, make_client):
    server = start_local_server(model=ScriptedModel("quiet " * 50, token_delay=0.002))
    try:
        client = make_client(server)
        assistant_id = (await client.beta.assistants.list()).data[0].id
        thread = await client.beta.threads.create()
        with pytest.raises(openai.NotFoundError):
            await client.beta.threads.retrieve("thread_missing")
        async with httpx2.AsyncClient() as raw:
            await raw.post(server.base_url + "/threads", content=b"{oops")
            await raw.get(server.base_url.replace("/v1", "/elsewhere"))
        stream = await client.beta.threads.runs.create(
            thread_id=thread.id, assistant_id=assistant_id, stream=True
        )
        async for event in stream:
            if event.event == "thread.message.delta":
                break
        await stream.close()  # disconnect mid-stream
    finally:
        server.stop()  # stops a run that is still going
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def _serve_script(tmp_path: Path) -> list[str]:
    code = (
        "import sys; from tui_assistant.server.runtime import serve; "
        f"sys.exit(serve('127.0.0.1', 0, {str(tmp_path / 'serve.db')!r}, token_delay=0))"
    )
    return [sys.executable, "-c", code]


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["int", "term"])
def test_serve_prints_its_address_and_stops_on_a_signal(tmp_path, stop_signal):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        _serve_script(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        line = process.stdout.readline().strip()
        assert line.startswith("Serving the Assistants API at http://127.0.0.1:")
        base_url = line.rsplit(" ", 1)[-1]
        assert base_url.endswith("/v1")
        mode = process.stdout.readline()  # bubblewrap, or the demo's unsandboxed fallback
        assert mode.startswith(("Code interpreter: bubblewrap", "Code interpreter: unsandboxed"))
        deadline = time.monotonic() + 5
        while True:
            try:
                response = httpx2.get(base_url + "/assistants", timeout=1)
                break
            except httpx2.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        assert json.loads(response.content)["data"][0]["name"] == "Demo assistant"
        process.send_signal(stop_signal)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0
    assert out == "" and "Traceback" not in err and "KeyboardInterrupt" not in err


def test_serve_on_all_interfaces_prints_a_token(tmp_path):
    code = (
        "import sys; from tui_assistant.server.runtime import serve; "
        f"sys.exit(serve('0.0.0.0', 0, {str(tmp_path / 'serve.db')!r}))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        first = process.stdout.readline().strip()
        second = process.stdout.readline().strip()
        assert first.startswith("Serving the Assistants API at http://0.0.0.0:")
        assert second.startswith("Bearer token: ") and len(second) > len("Bearer token: ") + 20
        # Signal only once the server answers: a signal in the middle of uvicorn's
        # start-up may be lost, and the test would wait for nothing.
        url = "http://127.0.0.1:" + first.rsplit(":", 1)[-1].split("/")[0] + "/v1/assistants"
        deadline = time.monotonic() + 10
        while True:
            try:
                assert httpx2.get(url, timeout=1).status_code == 401
                break
            except httpx2.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0


async def test_a_second_server_on_the_same_file_leaves_running_runs_alone(
    start_server, make_client, tmp_path
):
    db = tmp_path / "shared.db"
    first = start_server(db_path=db, model=ScriptedModel("busy " * 1000, token_delay=0.005))
    client = make_client(first)
    assistant_id = (await client.beta.assistants.list()).data[0].id
    thread = await client.beta.threads.create()
    run = await client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant_id)

    second = make_client(start_server(db_path=db))
    seen = await second.beta.threads.runs.retrieve(run.id, thread_id=thread.id)
    assert seen.status in ("queued", "in_progress")
    assert [a.id for a in (await second.beta.assistants.list()).data] == [assistant_id]
    with pytest.raises(openai.BadRequestError):  # the run is active, whichever server has it
        await second.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant_id)

    await client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    done = await client.beta.threads.runs.poll(run.id, thread_id=thread.id)
    assert done.status == "cancelled"
    assert (await second.beta.threads.runs.retrieve(run.id, thread_id=thread.id)).status == (
        "cancelled"
    )


async def test_runs_cut_off_by_a_crash_fail_at_the_next_start(start_server, make_client, tmp_path):
    from tui_assistant.server.objects import (
        assistant_object,
        message_object,
        run_object,
        step_object,
        text_block,
        thread_object,
    )
    from tui_assistant.server.storage import Storage

    db = tmp_path / "crashed.db"
    storage = Storage(db)  # what a server that died mid-run leaves behind
    assistant = assistant_object(model="m")
    thread = thread_object()
    run = run_object(
        thread_id=thread["id"],
        assistant_id=assistant["id"],
        model="m",
        instructions="",
        tools=[],
        metadata={},
        temperature=None,
        top_p=None,
        max_prompt_tokens=None,
        max_completion_tokens=None,
        truncation_strategy=None,
        tool_choice=None,
        parallel_tool_calls=True,
        response_format=None,
    )
    run["status"] = "in_progress"
    message = message_object(
        thread_id=thread["id"],
        role="assistant",
        content=[text_block("half a rep")],
        status="in_progress",
        run_id=run["id"],
    )
    step = step_object(
        run=run,
        step_type="message_creation",
        step_details={"type": "message_creation", "message_creation": {"message_id": "x"}},
    )
    storage.insert("assistants", assistant)
    storage.insert("threads", thread)
    storage.insert("runs", run, thread_id=thread["id"], status="in_progress")
    storage.insert("messages", message, thread_id=thread["id"], run_id=run["id"])
    storage.insert("steps", step, thread_id=thread["id"], run_id=run["id"])
    storage.close()

    client = make_client(start_server(db_path=db))
    failed = await client.beta.threads.runs.retrieve(run["id"], thread_id=thread["id"])
    assert failed.status == "failed" and failed.failed_at is not None
    assert failed.last_error.code == "server_error" and failed.expires_at is None
    kept = await client.beta.threads.messages.retrieve(message["id"], thread_id=thread["id"])
    assert kept.status == "incomplete" and kept.incomplete_details.reason == "run_failed"
    assert kept.content[0].text.value == "half a rep"
    (failed_step,) = (
        await client.beta.threads.runs.steps.list(run["id"], thread_id=thread["id"])
    ).data
    assert failed_step.status == "failed" and failed_step.last_error.code == "server_error"
    # The thread is usable again.
    await client.beta.threads.messages.create(thread["id"], role="user", content="again")
