"""Tools in the app, as a user drives it: Pilot keys, the local server, the real SDK.

Function calls come from the local server's pluggable model (``requires_action`` runs);
code_interpreter, file_search, images, citations and file transfers come from a scripted
wire server (``WireServer``) speaking OpenAI's shapes. Nothing of ours is mocked.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from starlette.responses import JSONResponse, Response

from tests.support.app import (
    SIZE,
    main_screen,
    modal,
    notices,
    plain,
    ready,
    reply_texts,
    say,
    tools_app,
    turn_done,
    wait_for,
)
from tests.support.tools import CallingModel
from tests.support.wire import (
    CREATED,
    WireServer,
    msg_obj,
    run_obj,
    sse,
    step_delta,
    step_obj,
    text_block,
)
from tui_assistant import workspace as workspace_module
from tui_assistant.backend import Connection
from tui_assistant.config import Profile, Settings
from tui_assistant.engines.assistants import AssistantsEngine
from tui_assistant.files import image_path
from tui_assistant.store import Store
from tui_assistant.ui.app import TuiAssistantApp
from tui_assistant.ui.screens.files import AttachFileScreen, FileDownloadScreen
from tui_assistant.ui.screens.tool_call import FunctionCallScreen
from tui_assistant.ui.widgets.attachment_bar import AttachmentBar
from tui_assistant.ui.widgets.image_preview import ImagePreview
from tui_assistant.ui.widgets.tool_marker import ToolMarker

# --------------------------------------------------------------------------- functions


async def test_local_function_shows_in_the_pane_and_the_conversation(store, start_server):
    model = CallingModel([("calculate", {"expression": "6*7"})])
    app = tools_app(store, start_server(model=model))
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await say(pilot, "compute")
        await turn_done(pilot, screen, 1)
        assert reply_texts(screen) == ['calculate={"expression": "6*7", "result": 42}']
        pane = screen.activity
        (entry,) = pane.calls.values()
        state = entry.state
        assert (state.kind, state.name, state.status, state.outcome) == (
            "function", "calculate", "completed", "ok"
        )
        assert json.loads(state.submitted) == {"expression": "6*7", "result": 42}
        assert json.loads(state.input) == {"expression": "6*7"}
        await pilot.pause(0.2)
        header = plain(entry.query_one(".entry-header"))
        assert "calculate()" in header and "✓" in header
        logs = plain(entry.query_one(".entry-logs"))
        assert "output submitted · ran locally" in logs and '"result": 42' in logs
        (marker,) = screen.conversation.query(ToolMarker)
        assert marker.summary.startswith("calculate() · completed · ")
        # The marker sits before the reply it led to.
        children = list(screen.conversation.children)
        assert children.index(marker) < children.index(screen.conversation.message_views[-1])
        assert any("requires action: calculate" in line for line in pane.entries)


async def test_unknown_function_is_answered_in_the_modal(store, start_server):
    model = CallingModel([("get_weather", {"city": "Oslo"})])
    app = tools_app(store, start_server(model=model))
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await say(pilot, "weather?")
        dialog = await modal(pilot)
        assert dialog.request.kind == "answer"
        title = str(dialog.query_one("#title").render())
        assert "get_weather" in title and "does not have" in title
        assert dialog.request.arguments_text == '{\n  "city": "Oslo"\n}'
        countdown = str(dialog.query_one("#countdown").render())
        assert countdown.startswith(("the run expires in 9:", "the run expires in 10:"))
        state = screen.activity.record(dialog.request.call.call_id)
        assert state is not None and state.status == "waiting"
        (marker,) = screen.conversation.query(ToolMarker)  # the conversation says so too
        await wait_for(pilot, lambda: marker.summary == "get_weather() · waiting for you",
                       "the marker to wait for the user")
        await pilot.press(*"sunny", "enter", *"12 C")  # Enter is a newline here
        await pilot.press("ctrl+s")
        await turn_done(pilot, screen, 1)
        assert reply_texts(screen) == ["get_weather=sunny\n12 C"]
        assert state.outcome == "answered" and state.status == "completed"


async def test_approval_modal_approve_and_deny(store, start_server):
    model = CallingModel(
        [("calculate", {"expression": "2+2"}), ("calculate", {"expression": "3+3"})]
    )
    app = tools_app(store, start_server(model=model), approval_required=("calculate",))
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await say(pilot, "add")
        first = await modal(pilot)
        assert first.request.kind == "approve" and first.request.total == 2
        assert "wants to run calculate" in str(first.query_one("#title").render())
        await pilot.press("enter")  # Enter in the reason field approves nothing
        await pilot.pause(0.1)
        assert app.screen is first
        await pilot.press("ctrl+y")
        await wait_for(pilot, lambda: app.screen is not first, "the first modal to close")
        second = await modal(pilot)
        assert second.request.position == 2
        await pilot.press(*"too risky", "ctrl+r")
        await turn_done(pilot, screen, 1)
        (reply,) = reply_texts(screen)
        assert reply == (
            'calculate={"expression": "2+2", "result": 4} | calculate={"error": '
            '"The user denied the call to calculate. Reason: too risky"}'
        )
        outcomes = sorted(e.state.outcome for e in screen.activity.calls.values())
        assert outcomes == ["denied", "ok"]


async def test_escape_in_the_modal_cancels_the_run(store, start_server):
    model = CallingModel([("mystery", {})])
    server = start_server(model=model)
    app = tools_app(store, server)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await say(pilot, "go")
        await modal(pilot)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not screen.workspace.live, "the run to end")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not isinstance(app.screen, FunctionCallScreen)
        assert any("Run cancelled" in n for n in notices(screen))
        assert len(model.contexts) == 1  # no outputs were submitted
        (state,) = [e.state for e in screen.activity.calls.values()]
        assert state.status == "cancelled"


async def test_run_expiring_while_the_modal_is_open(store, start_server, monkeypatch):
    monkeypatch.setattr(workspace_module, "RUN_STATUS_POLL", 0.05)
    model = CallingModel([("mystery", {})])
    server = start_server(model=model)
    app = tools_app(store, server)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await say(pilot, "go")
        await modal(pilot)
        (run_id,) = list(server.app.api.runs.active)
        server._server.loop.call_soon_threadsafe(server.app.api.runs._expire, run_id)
        await wait_for(pilot, lambda: not screen.workspace.live, "the run to end")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not isinstance(app.screen, FunctionCallScreen)
        assert any("expired" in n for n in notices(screen))
        assert len(model.contexts) == 1
        (state,) = [e.state for e in screen.activity.calls.values()]
        assert state.status == "expired"
        marker = screen.conversation.query_one(ToolMarker)
        assert marker.summary.startswith("mystery() · expired")


async def test_pane_is_rebuilt_after_a_restart(store, start_server):
    model = CallingModel([("calculate", {"expression": "6*7"})])
    server = start_server(model=model)
    app = tools_app(store, server)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await say(pilot, "compute")
        await turn_done(pilot, screen, 1)
        (call_id,) = screen.activity.calls

    app = tools_app(store, server)
    async with app.run_test(size=SIZE) as pilot:
        screen = main_screen(app)
        await ready(pilot)
        await wait_for(pilot, lambda: call_id in screen.activity.calls, "the restored call")
        entry = screen.activity.calls[call_id]
        state = entry.state
        assert (state.name, state.status) == ("calculate", "completed")
        assert json.loads(state.submitted) == {"expression": "6*7", "result": 42}
        assert state.duration is not None and entry.collapsed
        await wait_for(
            pilot,
            lambda: any("1 earlier tool call(s) restored" in x for x in screen.activity.entries),
            "the pane's note",
        )
        await wait_for(pilot, lambda: len(screen.conversation.query(ToolMarker)) == 1, "marker")
        marker = screen.conversation.query_one(ToolMarker)
        children = list(screen.conversation.children)
        (reply_view,) = [v for v in screen.conversation.message_views if v.role == "assistant"]
        assert children.index(marker) == children.index(reply_view) - 1

        # Keyboard: focus the pane, select the call, expand it, show it in the conversation.
        await pilot.press("ctrl+t")
        assert screen.activity.has_focus
        await pilot.press("down", "space")
        assert screen.activity.selected == call_id and not entry.collapsed
        screen.conversation.scroll_end(animate=False, immediate=True)
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert marker.has_class("-highlight")


# --------------------------------------------------------------------------- the wire server


@pytest.fixture(scope="module")
def wire_server():
    server = WireServer().start()
    yield server
    server.stop()


@pytest.fixture
def wire(wire_server: WireServer) -> WireServer:
    wire_server.reset()
    wire_server.route(
        "GET",
        r"/assistants",
        JSONResponse(
            {
                "object": "list",
                "data": [
                    {
                        "id": "asst_1",
                        "object": "assistant",
                        "created_at": CREATED,
                        "name": "Analyst",
                        "description": None,
                        "model": "gpt-test",
                        "instructions": "",
                        "tools": [{"type": "code_interpreter"}, {"type": "file_search"}],
                        "metadata": {},
                        "top_p": 1.0,
                        "temperature": 1.0,
                        "response_format": "auto",
                    }
                ],
                "first_id": "asst_1",
                "last_id": "asst_1",
                "has_more": False,
            }
        ),
    )
    wire_server.route(
        "POST",
        r"/threads",
        JSONResponse(
            {"id": "thread_1", "object": "thread", "created_at": CREATED, "metadata": {},
             "tool_resources": None}
        ),
    )
    return wire_server


def png_bytes() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def file_obj(file_id: str, filename: str, size: int = 10) -> dict[str, Any]:
    return {
        "id": file_id,
        "object": "file",
        "bytes": size,
        "created_at": CREATED,
        "filename": filename,
        "purpose": "assistants",
        "status": "processed",
    }


def wire_app(store: Store, wire: WireServer) -> TuiAssistantApp:
    config = Settings()

    async def connector(profile: Profile, settings: Settings) -> Connection:
        engine = AssistantsEngine(wire.base_url, "test-key")
        await engine.check()
        return Connection(engine, engine.label, False)

    profile = Profile(name="wire", base_url=wire.base_url)
    return TuiAssistantApp(settings=config, profile=profile, store=store, connector=connector)


CODE = "import matplotlib\nprint(6 * 7)"


def tool_run_frames(wire: WireServer) -> list[Any]:
    """A run: code_interpreter (code streamed, then logs and an image; the stream holds
    after the first piece of code until ``release(wire)``), file_search, a cited reply."""
    ci_done = {
        "id": "call_ci",
        "type": "code_interpreter",
        "code_interpreter": {
            "input": CODE,
            "outputs": [
                {"type": "logs", "logs": "42\n"},
                {"type": "image", "image": {"file_id": "file-img1"}},
            ],
        },
    }
    search_done = {
        "id": "call_fs",
        "type": "file_search",
        "file_search": {
            "ranking_options": {"ranker": "auto", "score_threshold": 0.0},
            "results": [
                {"file_id": "file-notes", "file_name": "notes.md", "score": 0.875},
                {"file_id": "file-plan", "file_name": "plan.txt", "score": 0.5},
            ],
        },
    }
    reply = text_block(
        "The answer is 42【4:0†source】.",
        [
            {
                "type": "file_citation",
                "text": "【4:0†source】",
                "start_index": 16,
                "end_index": 28,
                "file_citation": {"file_id": "file-notes"},
            }
        ],
    )

    async def hold() -> None:
        await wire.wait("release")

    def ci_delta(**code_interpreter: Any) -> tuple[str, Any]:
        return (
            "thread.run.step.delta",
            step_delta(
                "step_1",
                {"index": 0, "type": "code_interpreter", "code_interpreter": code_interpreter},
            ),
        )

    return [
        ("thread.run.created", run_obj()),
        ("thread.run.in_progress", run_obj("in_progress")),
        ("thread.run.step.created", step_obj("step_1", "in_progress", [])),
        (
            "thread.run.step.delta",
            step_delta(
                "step_1",
                {"index": 0, "id": "call_ci", "type": "code_interpreter",
                 "code_interpreter": {"input": "", "outputs": []}},
            ),
        ),
        ci_delta(input="import matplotlib\n"),
        hold,
        ci_delta(input="print(6 * 7)"),
        ci_delta(outputs=[{"index": 0, "type": "logs", "logs": "42\n"}]),
        ci_delta(outputs=[{"index": 1, "type": "image", "image": {"file_id": "file-img1"}}]),
        ("thread.run.step.completed", step_obj("step_1", "completed", [ci_done])),
        ("thread.run.step.created", step_obj("step_2", "in_progress", [])),
        (
            "thread.run.step.delta",
            step_delta("step_2", {"index": 0, "id": "call_fs", "type": "file_search",
                                  "file_search": {}}),
        ),
        ("thread.run.step.completed", step_obj("step_2", "completed", [search_done])),
        ("thread.message.created", msg_obj("msg_1", "in_progress")),
        ("thread.message.completed", msg_obj("msg_1", "completed", [reply])),
        ("thread.run.completed", run_obj("completed")),
    ]


async def test_code_interpreter_file_search_citations_and_downloads(
    store, wire: WireServer, tmp_path: Path
):
    image = png_bytes()
    wire.route("POST", r"/threads/thread_1/runs", sse(*tool_run_frames(wire)))
    wire.route("GET", r"/files/file-img1/content", Response(image, media_type="image/png"))
    wire.route("GET", r"/files/file-notes", JSONResponse(file_obj("file-notes", "notes.md")))
    wire.route("GET", r"/files/file-notes/content", Response(b"# Notes\n", media_type="text/plain"))
    app = wire_app(store, wire)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await say(pilot, "analyse")
        # The code streams into the pane while the call runs.
        await wait_for(pilot, lambda: screen.activity.record("call_ci") is not None, "the call")
        ci = screen.activity.record("call_ci")
        await wait_for(pilot, lambda: ci.input == "import matplotlib\n", "the first code piece")
        assert ci.status == "running"
        assert wire.loop is not None
        wire.loop.call_soon_threadsafe(wire._event("release").set)
        await turn_done(pilot, screen, 1)

        assert (ci.input, ci.output, ci.images, ci.status) == (
            CODE, "42\n", ["file-img1"], "completed"
        )
        saved = image_path("file-img1")
        await wait_for(pilot, saved.exists, "the image to be saved")
        assert saved.read_bytes() == image
        entry = screen.activity.calls["call_ci"]
        (preview,) = entry.query(ImagePreview)
        await wait_for(pilot, lambda: preview.path == saved, "the preview")
        assert preview.inline  # drawn by textual-image (text cells without a real terminal)
        await pilot.pause(0.2)
        assert "print(6 * 7)" in plain(entry.query_one(".entry-input"))

        search = screen.activity.record("call_fs")
        assert [(r.file_name, r.score) for r in search.results] == [
            ("notes.md", 0.875), ("plan.txt", 0.5)
        ]
        body = plain(screen.activity.calls["call_fs"].query_one(".entry-input"))
        assert "notes.md  0.88" in body and "2 result(s)" in body

        (reply,) = reply_texts(screen)
        assert reply == "The answer is 42[1].\n\n- [1] notes.md (cited)"
        markers = [m.call_id for m in screen.conversation.query(ToolMarker)]
        assert markers == ["call_ci", "call_fs"]

        # Download the thread's files to a folder typed into the modal.
        await pilot.press("f8")
        await wait_for(pilot, lambda: isinstance(app.screen, FileDownloadScreen), "downloads")
        dialog = app.screen
        assert {ref.file_id for ref in dialog.files} == {"file-img1", "file-notes"}
        folder_input = dialog.query_one("#folder")
        folder_input.value = str(tmp_path / "out")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: (tmp_path / "out" / "notes.md").exists(), "the download")
        await app.workers.wait_for_complete()
        assert (tmp_path / "out" / "notes.md").read_bytes() == b"# Notes\n"
        assert (tmp_path / "out" / "file-img1.png").read_bytes() == image


async def test_an_image_saved_before_its_preview_is_composed_is_still_shown(tmp_path):
    # The tool pane mounts a call's preview without waiting for it; the image may be
    # saved before the preview has composed. It is shown once mounted, not lost.
    from textual.app import App

    saved = tmp_path / "chart.png"
    saved.write_bytes(png_bytes())
    app = App()
    async with app.run_test(size=SIZE) as pilot:
        preview = ImagePreview("file-img1")
        app.screen.mount(preview)  # not awaited
        preview.show(saved)
        await wait_for(pilot, lambda: preview.path == saved, "the preview")
        assert preview.inline


async def test_attaching_a_file_uploads_it_with_the_message(
    store, wire: WireServer, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # a relative path is typed in the modal
    data = tmp_path / "sales.csv"
    data.write_text("month,total\njan,3\n")
    wire.route("POST", r"/files", JSONResponse(file_obj("file-up1", "sales.csv", 20)))
    wire.route(
        "POST",
        r"/threads/thread_1/runs",
        sse(
            ("thread.run.created", run_obj()),
            ("thread.message.created", msg_obj("msg_1", "in_progress")),
            ("thread.message.completed", msg_obj("msg_1", "completed", [text_block("Got it.")])),
            ("thread.run.completed", run_obj("completed")),
        ),
    )
    app = wire_app(store, wire)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, AttachFileScreen), "attach modal")
        await pilot.press(*"sales.csv")
        dialog = app.screen
        assert dialog.query_one("#code_interpreter").value
        assert not dialog.query_one("#file_search").value
        await pilot.press("ctrl+s")
        bar = screen.query_one(AttachmentBar)
        await wait_for(pilot, lambda: bar.labels == ["sales.csv (code_interpreter)"], "the bar")
        assert screen.composer.has_focus
        await say(pilot, "sum it")
        await turn_done(pilot, screen, 1)
        (upload,) = wire.requests_to("POST", r"/files")
        assert "sales.csv" in upload.body and "assistants" in upload.body
        (run,) = wire.requests_to("POST", r"/threads/thread_1/runs")
        assert run.body["additional_messages"] == [
            {
                "role": "user",
                "content": "sum it",
                "attachments": [{"file_id": "file-up1", "tools": [{"type": "code_interpreter"}]}],
            }
        ]
        assert bar.labels == []
        (user_view,) = [v for v in screen.conversation.message_views if v.role == "user"]
        assert "sales.csv" in user_view.note


async def test_a_failed_upload_keeps_the_message_and_the_attachment(
    store, wire: WireServer, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "notes.md"
    data.write_text("# notes")
    wire.route(
        "POST",
        r"/files",
        JSONResponse({"error": {"message": "disk full", "type": "server_error"}}, 400),
    )
    app = wire_app(store, wire)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, AttachFileScreen), "attach modal")
        await pilot.press(*"gone.md", "ctrl+s")
        await pilot.pause()
        assert "No file at" in str(app.screen.query_one("#error").render())
        app.screen.query_one("#path").value = str(data)
        await pilot.press("ctrl+s")
        bar = screen.query_one(AttachmentBar)
        await wait_for(pilot, lambda: bar.labels == ["notes.md (file_search)"], "the bar")
        await say(pilot, "read it")
        await wait_for(pilot, lambda: screen.composer.text == "read it", "the text restored")
        await app.workers.wait_for_complete()
        assert bar.labels == ["notes.md (file_search)"]
        assert not wire.requests_to("POST", r"/threads/thread_1/runs")


async def test_an_endpoint_without_run_steps_degrades_quietly(store, wire: WireServer):
    app = wire_app(store, wire)
    store.add_thread(app.profile.endpoint_key, "thread_1", "asst_1", "Earlier thread")
    store.set_state(f"last_thread:{app.profile.endpoint_key}", "thread_1")
    history = {
        "object": "list",
        "data": [msg_obj("msg_1", "completed", [text_block("From before.")])],
        "first_id": "msg_1",
        "last_id": "msg_1",
        "has_more": False,
    }
    wire.route("GET", r"/threads/thread_1/messages", JSONResponse(history))
    wire.route(
        "GET",
        r"/threads/thread_1/runs",
        JSONResponse({"error": {"message": "Not implemented", "type": "x"}}, 501),
    )
    notified: list[Any] = []
    async with app.run_test(size=SIZE, message_hook=notified.append) as pilot:
        screen = await ready(pilot)
        await wait_for(pilot, lambda: reply_texts(screen) == ["From before."], "the history")
        await wait_for(
            pilot,
            lambda: any("keeps no run steps" in line for line in screen.activity.entries),
            "the pane's note",
        )
        await app.workers.wait_for_complete()
        assert not screen.activity.calls
        assert not [m for m in notified if type(m).__name__ == "Notify"]  # nothing popped up
