"""Downloads keep the files' names and go to the downloads folder; the image hint names
a key; the demo's reply does not say "shown above" of an image shown below it (issue 12,
"Also")."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual import events

from tests.support.app import (
    SIZE,
    make_app,
    ready,
    turn_done,
    wait_for,
)
from tui_assistant import paths
from tui_assistant.store import Store
from tui_assistant.ui.screens.files import FileDownloadScreen
from tui_assistant.ui.widgets.image_preview import ImagePreview

# Writes a 1×1 PNG without any imaging library.
CODE = '''```python
import struct, zlib
def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))
header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
png = (b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", header)
       + chunk(b"IDAT", zlib.compress(b"\\x00\\x00")) + chunk(b"IEND", b""))
open("dot.png", "wb").write(png)
```'''


async def test_an_image_downloads_under_its_own_name_into_the_downloads_folder(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started_in = tmp_path / "started-in"
    started_in.mkdir()
    monkeypatch.chdir(started_in)  # not where downloads go
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        app.post_message(events.Paste(CODE))
        await wait_for(pilot, lambda: screen.composer.text == CODE, "the code")
        await pilot.press("enter")
        await turn_done(pilot, screen, 1)
        reply = [v.text for v in screen.conversation.message_views if v.role == "assistant"][0]
        assert "image" in reply and "above" not in reply

        def shown() -> list[ImagePreview]:
            return [p for p in screen.conversation.query(ImagePreview) if p.path]

        await wait_for(pilot, shown, "the image")
        hint = str(shown()[0].query_one(".image-path").render())
        assert "o in the tool pane (ctrl+t)" in hint

        await pilot.press("f8")
        await wait_for(pilot, lambda: isinstance(app.screen, FileDownloadScreen), "downloads")
        folder = Path(app.screen.query_one("#folder").value)
        assert folder == paths.data_dir().parent / "downloads"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: (folder / "dot.png").exists(), "dot.png")
        assert (folder / "dot.png").read_bytes().startswith(b"\x89PNG")
        assert not list(started_in.iterdir())
