"""Every tool pane with the offline demo model, end to end, as a user would try it.

The built-in server's demo model reacts to triggers in the message (see the README):
a fenced ```python block runs in its code interpreter, a question about attached text
files runs file_search, and ``/call NAME {json}`` asks for a function call. These tests
attach real files through the composer, paste the message (a bracketed paste, as a
terminal sends it) and check the pane, the conversation and the saved files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import events

from tests.support.app import (
    SIZE,
    main_screen,
    ready,
    reply_texts,
    tools_app,
    turn_done,
    wait_for,
)
from tui_assistant.files import image_path
from tui_assistant.ui.screens.files import AttachFileScreen, FileDownloadScreen
from tui_assistant.ui.screens.tool_call import FunctionCallScreen
from tui_assistant.ui.widgets.image_preview import ImagePreview
from tui_assistant.ui.widgets.tool_marker import ToolMarker

CODE = """```python
from PIL import Image
rows = open("sales.csv").read().splitlines()
print(len(rows) - 1, "months")
Image.new("RGB", (16, 8), (30, 120, 200)).save("chart.png")
_ = open("summary.txt", "w").write("8 in total")
```"""


async def attach(pilot, name: str) -> None:
    await pilot.press("ctrl+o")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, AttachFileScreen), "attach")
    await pilot.press(*name, "ctrl+s")
    await wait_for(pilot, lambda: not isinstance(pilot.app.screen, AttachFileScreen), "attached")


async def paste_and_send(pilot, text: str) -> None:
    screen = main_screen(pilot.app)
    pilot.app.post_message(events.Paste(text))  # what the driver posts for a paste
    await wait_for(pilot, lambda: screen.composer.text == text, "the pasted text")
    await pilot.press("enter")


async def test_code_interpreter_with_an_attached_file_and_an_image(
    store, start_server: Any, tmp_path: Path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sales.csv").write_text("month,total\njan,3\nfeb,5\n")
    server = start_server()
    app = tools_app(store, server)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await attach(pilot, "sales.csv")
        await paste_and_send(pilot, CODE)
        await turn_done(pilot, screen, 1)
        (entry,) = screen.activity.calls.values()
        state = entry.state
        assert state.kind == "code_interpreter" and state.status == "completed"
        assert 'Image.new("RGB"' in state.input
        assert state.output.strip() == "2 months"
        (image_id,) = state.images
        saved = image_path(image_id)
        await wait_for(pilot, saved.exists, "the image to be saved")
        assert saved.read_bytes().startswith(b"\x89PNG")
        (preview,) = entry.query(ImagePreview)
        await wait_for(pilot, lambda: preview.path == saved, "the pane's preview")
        # The reply carries the image as image_file content: shown under the message.
        await wait_for(
            pilot,
            lambda: any(
                p.file_id == image_id and p.path == saved
                for p in screen.conversation.query(ImagePreview)
            ),
            "the reply's image",
        )
        (reply,) = reply_texts(screen)
        assert "2 months" in reply
        # The generated file is a numbered footnote (file_path) and can be downloaded.
        assert "sandbox:/mnt/data/summary.txt" not in reply
        assert "- [1] summary.txt (generated file)" in reply
        await pilot.press("f8")
        await wait_for(pilot, lambda: isinstance(app.screen, FileDownloadScreen), "downloads")
        assert {ref.kind for ref in app.screen.files} == {"file", "image"}
        app.screen.query_one("#folder").value = str(tmp_path / "out")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: (tmp_path / "out" / "summary.txt").exists(), "download")
        assert (tmp_path / "out" / "summary.txt").read_text() == "8 in total"
        call_id = state.call_id

    app = tools_app(store, server)
    async with app.run_test(size=SIZE) as pilot:
        screen = main_screen(app)
        await ready(pilot)
        await wait_for(pilot, lambda: call_id in screen.activity.calls, "the restored call")
        restored = screen.activity.calls[call_id].state
        assert restored.kind == "code_interpreter" and restored.images == [image_id]
        assert restored.output.strip() == "2 months"
        await wait_for(pilot, lambda: len(screen.conversation.query(ToolMarker)) == 1, "marker")


async def test_file_search_results_citations_and_download(
    store, start_server: Any, tmp_path: Path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.md").write_text(
        "# Project notes\n\nThe launch date is March 3.\n\nThe budget is ten thousand.\n"
    )
    app = tools_app(store, start_server())
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await attach(pilot, "notes.md")
        await paste_and_send(pilot, "When is the launch date?")
        await turn_done(pilot, screen, 1)
        (state,) = [e.state for e in screen.activity.calls.values()]
        assert state.kind == "file_search" and state.status == "completed"
        assert [r.file_name for r in state.results][:1] == ["notes.md"]
        assert state.results[0].score is not None and 0 < state.results[0].score <= 1
        (reply,) = reply_texts(screen)
        assert "The launch date is March 3." in reply
        assert "[1]" in reply and reply.endswith("- [1] notes.md (cited)")
        assert "【" not in reply

        await pilot.press("f8")
        await wait_for(pilot, lambda: isinstance(app.screen, FileDownloadScreen), "downloads")
        (ref,) = app.screen.files
        assert (ref.name, ref.kind) == ("notes.md", "citation")
        app.screen.query_one("#folder").value = str(tmp_path / "out")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: (tmp_path / "out" / "notes.md").exists(), "the download")
        assert (tmp_path / "out" / "notes.md").read_text().startswith("# Project notes")


async def test_demo_function_call_answered_by_hand(store, start_server: Any):
    app = tools_app(store, start_server())
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await paste_and_send(pilot, '/call get_weather {"city": "Oslo"}')
        await wait_for(pilot, lambda: isinstance(app.screen, FunctionCallScreen), "the modal")
        assert app.screen.request.call.name == "get_weather"
        await pilot.press(*"sunny", "ctrl+s")
        await turn_done(pilot, screen, 1)
        (reply,) = reply_texts(screen)
        assert "sunny" in reply
        (state,) = [e.state for e in screen.activity.calls.values()]
        assert (state.name, state.outcome, state.status) == ("get_weather", "answered", "completed")
