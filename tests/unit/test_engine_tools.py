"""The engine's tool and file calls: runs.list, runs.steps.list, files.create/retrieve/content.

Against the local server (real HTTP, real SDK) where it implements them, and against the
scripted wire server for the shapes it does not produce and for endpoints that lack them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from starlette.responses import JSONResponse, Response

from tests.support.tools import CallingModel
from tests.support.wire import (
    CREATED,
    WireServer,
    error_response,
    step_obj,
)
from tui_assistant import events as ev
from tui_assistant.engines.assistants import AssistantsEngine
from tui_assistant.errors import EngineError, NotSupportedError
from tui_assistant.session import Session
from tui_assistant.tools import ToolRunner, build_registry


async def test_runs_and_steps_of_a_function_call_run(start_server: Any):
    model = CallingModel([("calculate", {"expression": "2+3"})])
    server = start_server(model=model)
    engine = AssistantsEngine(server.base_url, "test")
    try:
        (demo,) = [a for a in await engine.list_assistants() if a.name == "Demo assistant"]
        thread_id = await engine.create_thread()
        registry, _ = build_registry(entry_points=False)
        session = Session(engine, on_action=ToolRunner(registry))
        events = [e async for e in session.send(thread_id, demo.id, "add")]
        (message,) = [e for e in events if isinstance(e, ev.MessageCompleted)]
        (run,) = await engine.list_runs(thread_id)
        steps = await engine.list_run_steps(thread_id, run.id)
    finally:
        await engine.aclose()
    assert run.status == "completed"
    tool_step, message_step = steps
    assert (tool_step.type, tool_step.status) == ("tool_calls", "completed")
    assert tool_step.run_id == run.id
    assert tool_step.ended_at is not None and tool_step.ended_at >= tool_step.created_at
    (call,) = tool_step.tool_calls
    assert (call.kind, call.name, json.loads(call.input)) == (
        "function", "calculate", {"expression": "2+3"}
    )
    assert json.loads(call.output) == {"expression": "2+3", "result": 5}
    assert (message_step.type, message_step.message_id) == ("message_creation", message.message_id)


async def test_file_round_trip(local_server: Any, tmp_path: Path):
    source = tmp_path / "data.csv"
    source.write_bytes(b"a,b\n1,2\n")
    engine = AssistantsEngine(local_server.base_url, "test")
    try:
        uploaded = await engine.upload_file(str(source))
        info = await engine.retrieve_file(uploaded.id)
        target = tmp_path / "deeper" / "copy.csv"
        written = await engine.download_file(uploaded.id, str(target))
        with pytest.raises(EngineError, match="Could not read"):
            await engine.upload_file(str(tmp_path / "missing.csv"))
    finally:
        await engine.aclose()
    assert (uploaded.filename, uploaded.bytes, uploaded.purpose) == ("data.csv", 8, "assistants")
    assert info.filename == "data.csv" and info.id == uploaded.id
    assert written == str(target) and target.read_bytes() == b"a,b\n1,2\n"
    assert not target.with_name("copy.csv.part").exists()


@pytest.fixture
async def engine(wire: WireServer):
    engine = AssistantsEngine(wire.base_url, "test")
    yield engine
    await engine.aclose()


def listing(*items: dict) -> JSONResponse:
    return JSONResponse(
        {
            "object": "list",
            "data": list(items),
            "first_id": items[0]["id"] if items else None,
            "last_id": items[-1]["id"] if items else None,
            "has_more": False,
        }
    )


@pytest.mark.parametrize("status", [404, 405, 501])
async def test_endpoints_without_steps_or_files_say_so(
    wire: WireServer, engine: AssistantsEngine, status: int
):
    wire.route("GET", r"/threads/thread_1/runs", error_response(status, "no"))
    wire.route("GET", r"/threads/thread_1/runs/run_1/steps", error_response(status, "no"))
    wire.route("POST", r"/files", error_response(status, "no"))
    with pytest.raises(NotSupportedError, match="listing runs"):
        await engine.list_runs("thread_1")
    with pytest.raises(NotSupportedError, match="run steps"):
        await engine.list_run_steps("thread_1", "run_1")
    with pytest.raises(NotSupportedError, match="file uploads"):
        await engine.upload_file(__file__)


async def test_other_errors_are_not_mistaken_for_missing_support(
    wire: WireServer, engine: AssistantsEngine
):
    wire.route("GET", r"/threads/thread_1/runs/run_1/steps", error_response(400, "bad order"))
    with pytest.raises(EngineError, match="bad order") as caught:
        await engine.list_run_steps("thread_1", "run_1")
    assert not isinstance(caught.value, NotSupportedError)


async def test_steps_of_code_interpreter_and_file_search(
    wire: WireServer, engine: AssistantsEngine
):
    code = {
        "id": "call_ci",
        "type": "code_interpreter",
        "code_interpreter": {
            "input": "print(1)",
            "outputs": [
                {"type": "logs", "logs": "1\n"},
                {"type": "image", "image": {"file_id": "file-img"}},
            ],
        },
    }
    search = {
        "id": "call_fs",
        "type": "file_search",
        "file_search": {
            "ranking_options": {"ranker": "default_2024_08_21", "score_threshold": 0.0},
            "results": [{"file_id": "file-a", "file_name": "a.md", "score": 0.9}],
        },
    }
    failed = step_obj("step_3", "failed", [], last_error={"code": "server_error", "message": "x"})
    done = step_obj("step_1", "completed", [code])
    done["completed_at"] = CREATED + 3
    wire.route(
        "GET",
        r"/threads/thread_1/runs/run_1/steps",
        listing(done, step_obj("step_2", "completed", [search]), failed),
    )
    steps = await engine.list_run_steps("thread_1", "run_1")
    assert [(s.id, s.status) for s in steps] == [
        ("step_1", "completed"), ("step_2", "completed"), ("step_3", "failed")
    ]
    assert steps[0].ended_at - steps[0].created_at == 3
    (ci,) = steps[0].tool_calls
    assert (ci.kind, ci.input, ci.output, ci.images) == (
        "code_interpreter", "print(1)", "1\n", ("file-img",)
    )
    (fs,) = steps[1].tool_calls
    assert fs.results == (ev.FileSearchResult("file-a", "a.md", 0.9),)
    assert steps[2].error_message == "x"
    (request,) = wire.requests_to("GET", r"/threads/thread_1/runs/run_1/steps")
    assert request.query["order"] == "asc"


async def test_download_of_a_missing_file(wire: WireServer, engine: AssistantsEngine, tmp_path):
    wire.route("GET", r"/files/file-x/content", error_response(404, "No such file"))
    wire.route("GET", r"/files/file-y/content", Response(b"\x89PNG", media_type="image/png"))
    with pytest.raises(EngineError, match="File file-x was not found"):
        await engine.download_file("file-x", str(tmp_path / "x.bin"))
    assert not (tmp_path / "x.bin").exists()
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where a folder should be")
    with pytest.raises(EngineError, match="Could not write"):
        await engine.download_file("file-y", str(blocked / "y.png"))
