"""Modals for files: attach a local file to the next message, download generated files.

``AttachFileScreen`` returns a ``PendingAttachment`` (a path and the tools it is for: the
file is uploaded with ``files.create``, purpose ``assistants``, when the message is sent).
``FileDownloadScreen`` lists the files the open thread refers to (citations, generated
files, images) and returns the folder and the files the user picked; ``download_files``
is the flow behind F8 (the dialog, then the download through the workspace).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, SelectionList
from textual.widgets.selection_list import Selection

from tui_assistant.files import FileRef, default_attachment_tools, downloads_dir
from tui_assistant.text import clean_text
from tui_assistant.ui.keys import key_label

if TYPE_CHECKING:
    from textual.app import App

    from tui_assistant.workspace import Workspace

__all__ = [
    "MAX_UPLOAD_BYTES",
    "AttachFileScreen",
    "DownloadRequest",
    "FileDownloadScreen",
    "PendingAttachment",
    "default_download_dir",
    "download_files",
]

MAX_UPLOAD_BYTES = 512 * 1024 * 1024
"""The Files API's limit for one file."""

TOOL_TYPES = ("code_interpreter", "file_search")


@dataclass(frozen=True)
class PendingAttachment:
    """A local file to upload and attach to the next message."""

    path: Path
    tools: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.path.name} ({', '.join(self.tools)})"


@dataclass(frozen=True)
class DownloadRequest:
    """Where to put which files."""

    folder: Path
    files: tuple[FileRef, ...]


def default_download_dir() -> Path:
    """The user's downloads folder, never the directory the app was started in."""
    return downloads_dir()


class AttachFileScreen(ModalScreen[PendingAttachment | None]):
    """Pick a local file and the tools it is for."""

    CSS_PATH = "tools.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="attach.cancel", tooltip="Attach nothing"),
        Binding("ctrl+s", "attach", "Attach", id="attach.confirm",
                tooltip="Attach the file to the next message"),
    ]

    def __init__(self, start: str = "") -> None:
        super().__init__()
        self.start = start

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Attach a file to the next message", id="title")
            yield Label(
                "It is uploaded when the message is sent: for code_interpreter (data, code) "
                "or file_search (documents to cite).",
                id="hint",
            )
            yield Input(value=self.start, placeholder="Path, e.g. ~/data/sales.csv", id="path")
            with Horizontal(id="tools"):
                for tool in TOOL_TYPES:
                    yield Checkbox(tool, id=tool)
            yield Label("", id="error")
            with Horizontal(id="buttons"):
                yield Button(f"Attach  {key_label(self.app, 'attach.confirm', '^s')}",
                             variant="primary", id="attach")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#path", Input).focus()
        self._suggest_tools(self.start)

    def _suggest_tools(self, path: str) -> None:
        chosen = default_attachment_tools(path) if path.strip() else ["file_search"]
        for tool in TOOL_TYPES:
            self.query_one(f"#{tool}", Checkbox).value = tool in chosen

    @on(Input.Changed, "#path")
    def path_changed(self, event: Input.Changed) -> None:
        self._suggest_tools(event.value)
        self.query_one("#error", Label).update("")

    def _fail(self, problem: str) -> None:
        self.query_one("#error", Label).update(Text(problem))
        self.query_one("#path", Input).focus()

    @on(Input.Submitted, "#path")
    @on(Button.Pressed, "#attach")
    def action_attach(self) -> None:
        raw = self.query_one("#path", Input).value.strip()
        if not raw:
            self._fail("Type the path of a file.")
            return
        path = Path(raw).expanduser()
        if not path.is_absolute():
            path = Path.cwd() / path
        if not path.is_file():
            self._fail(f"No file at {path}.")
            return
        try:
            size = path.stat().st_size
        except OSError as exc:
            self._fail(f"Cannot read {path}: {exc.strerror or exc}.")
            return
        if size > MAX_UPLOAD_BYTES:
            self._fail(f"{path.name} is larger than 512 MB, the Files API's limit.")
            return
        tools = tuple(t for t in TOOL_TYPES if self.query_one(f"#{t}", Checkbox).value)
        if not tools:
            self._fail("Choose at least one tool the file is for.")
            return
        self.dismiss(PendingAttachment(path, tools))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class FileDownloadScreen(ModalScreen[DownloadRequest | None]):
    """Choose which of the thread's files to download, and where."""

    CSS_PATH = "tools.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="download.cancel", tooltip="Download nothing"),
        Binding("ctrl+s", "download", "Download", id="download.confirm",
                tooltip="Download the selected files"),
    ]

    def __init__(self, files: Sequence[FileRef], folder: Path | None = None) -> None:
        super().__init__()
        self.files = list(files)
        self.folder = folder or default_download_dir()

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Download files of this thread", id="title")
            yield Label(
                f"Space selects, {key_label(self.app, 'download.confirm', '^s')} downloads into "
                "the folder below.", id="hint"
            )
            yield SelectionList[int](
                *[
                    Selection(Text(self._describe(ref)), index, True)
                    for index, ref in enumerate(self.files)
                ],
                id="files",
            )
            yield Input(value=str(self.folder), placeholder="Folder", id="folder")
            yield Label("", id="error")
            with Horizontal(id="buttons"):
                yield Button(f"Download  {key_label(self.app, 'download.confirm', '^s')}",
                             variant="primary", id="download")
                yield Button("Cancel", id="cancel")

    @staticmethod
    def _describe(ref: FileRef) -> str:
        kind = {"citation": "cited", "file": "generated", "image": "image"}.get(ref.kind, ref.kind)
        number = f"[{ref.number}] " if ref.number else ""
        return clean_text(f"{number}{ref.label}  ·  {kind}  ·  {ref.file_id}")

    def on_mount(self) -> None:
        self.query_one("#files", SelectionList).focus()

    @on(Input.Submitted, "#folder")
    @on(Button.Pressed, "#download")
    def action_download(self) -> None:
        chosen = [self.files[i] for i in self.query_one("#files", SelectionList).selected]
        raw = self.query_one("#folder", Input).value.strip()
        if not chosen:
            self.query_one("#error", Label).update("Select at least one file.")
            return
        if not raw:
            self.query_one("#error", Label).update("Type the folder to download into.")
            return
        folder = Path(raw).expanduser()
        if folder.exists() and not folder.is_dir():
            self.query_one("#error", Label).update(f"{folder} is not a folder.")
            return
        self.dismiss(DownloadRequest(folder, tuple(chosen)))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


async def download_files(app: App, workspace: Workspace) -> None:
    """Ask which of the open thread's files to save and where, then save them; each file
    that failed and the count saved are notified."""
    files = list(workspace.thread_files.values())
    if not files:
        app.notify("This thread refers to no files yet.", severity="warning")
        return
    request = await app.push_screen_wait(FileDownloadScreen(files))
    if request is None:
        return
    if workspace.engine is None:
        app.notify("Not connected to an endpoint yet.", severity="warning")
        return
    saved, failed = await workspace.download(request.files, request.folder)
    for ref, reason in failed:
        app.notify(reason, title=f"{ref.label} not downloaded", severity="error")
    if saved:
        app.notify(f"{len(saved)} file(s) saved in {request.folder}", title="Downloaded")
