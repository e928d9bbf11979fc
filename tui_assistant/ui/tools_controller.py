"""The main screen's tool side: function calls, the activity pane, markers, files.

``ToolsController`` keeps the main screen small: the screen hands it run events and
user actions, and it

* builds the ``ToolRunner`` each turn's session uses (local functions from the registry,
  the modal for calls that need a human, the run's status watched while it waits);
* turns tool events into entries of the ``ToolActivity`` pane and one-line
  ``ToolMarker``s in the conversation;
* rebuilds both for a thread opened from history, from ``runs.list`` + ``runs.steps.list``
  (quietly skipped where the endpoint has no run steps);
* replaces annotation spans with numbered footnotes, saves images (from tools and
  messages) under the data directory, downloads files to a folder the user picks, and
  uploads the files attached to the next message.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from tui_assistant.engines.base import Engine, RunStepInfo, ThreadMessage
from tui_assistant.errors import AppError, EngineError, NotSupportedError
from tui_assistant.events import (
    ActionRequired,
    Annotation,
    MessageCompleted,
    RunCompleted,
    RunEvent,
    RunFailed,
    ToolCallCompleted,
    ToolCallDelta,
    ToolCallStarted,
)
from tui_assistant.files import FileRef, footnote, image_path, open_externally, safe_filename
from tui_assistant.tools import (
    CallResult,
    HumanAnswer,
    HumanRequest,
    ToolRegistry,
    ToolRunner,
    build_registry,
)
from tui_assistant.ui.screens.files import (
    AttachFileScreen,
    DownloadRequest,
    FileDownloadScreen,
    PendingAttachment,
)
from tui_assistant.ui.screens.tool_call import ask_in_modal
from tui_assistant.ui.widgets.attachment_bar import AttachmentBar
from tui_assistant.ui.widgets.image_preview import ImagePreview
from tui_assistant.ui.widgets.message_view import MessageView
from tui_assistant.ui.widgets.tool_activity import CallState, ToolActivity
from tui_assistant.ui.widgets.tool_marker import ToolMarker

if TYPE_CHECKING:
    from tui_assistant.ui.screens.main import LiveRun, MainScreen

__all__ = ["HISTORY_RUNS", "ToolsController"]

HISTORY_RUNS = 20
"""How many of a thread's newest runs the pane is rebuilt from."""

_STEP_STATUS = {"completed": "completed", "in_progress": "running"}


class ToolsController:
    """See the module docstring; one per main screen."""

    POLL_INTERVAL = 2.0
    """Seconds between checks of a paused run's status while the user is asked."""

    def __init__(self, screen: MainScreen) -> None:
        self.screen = screen
        self._registry: ToolRegistry | None = None
        self.pending: list[PendingAttachment] = []
        """Files to upload and attach to the next message."""
        self.names: dict[str, str] = {}
        """File id -> file name, learned from the endpoint (cached across threads)."""
        self.files: dict[str, FileRef] = {}
        """Files the open thread refers to, for downloading."""
        self.images: dict[str, Path] = {}
        """Images saved locally, by file id."""
        self.markers: dict[str, ToolMarker] = {}
        self._fetching: set[str] = set()
        self._history_thread: str | None = None

    # -- wiring ------------------------------------------------------------------------

    @property
    def pane(self) -> ToolActivity:
        return self.screen.query_one(ToolActivity)

    @property
    def engine(self) -> Engine | None:
        connection = self.screen.connection
        return connection.engine if connection is not None else None

    @property
    def registry(self) -> ToolRegistry:
        """The local functions (built on first use; plugin problems are shown once)."""
        if self._registry is None:
            settings = self.screen.tui.settings
            self._registry, problems = build_registry(
                allowed_dir=settings.allowed_dir,
                modules=settings.tool_modules,
                approval_required=settings.approval_required,
                entry_points=settings.tool_entry_points,
            )
            for problem in problems:
                self.screen.notify(
                    str(problem), title="A tool plugin could not be loaded", severity="warning"
                )
        return self._registry

    def action_handler(self, thread_id: str) -> ToolRunner:
        """The ``on_action`` handler for a turn in ``thread_id``."""
        return ToolRunner(
            self.registry,
            ask=partial(self._ask, thread_id),
            timeout=self.screen.tui.settings.tool_timeout,
            cancel=partial(self._cancel, thread_id),
            run_status=self._run_status,
            poll_interval=self.POLL_INTERVAL,
            on_result=partial(self._on_result, thread_id),
        )

    async def _ask(self, thread_id: str, request: HumanRequest) -> HumanAnswer:
        state = self._state(thread_id, request.call.call_id)
        if state is not None:
            state.status = "waiting"
            self._changed(state)
        try:
            return await ask_in_modal(self.screen.app, request)
        finally:
            if state is not None and state.status == "waiting":
                state.status = "running"
                self._changed(state)

    async def _cancel(self, thread_id: str) -> None:
        live = self.screen.live.get(thread_id)
        if live is None:
            return
        try:
            await live.session.cancel(thread_id)
        except AppError as error:
            self.screen.notify(error.message, title="Could not cancel", severity="error")

    async def _run_status(self, thread_id: str, run_id: str) -> str:
        engine = self.engine
        if engine is None:
            return "requires_action"
        return (await engine.retrieve_run(thread_id, run_id)).status

    def _showing(self, thread_id: str) -> bool:
        current = self.screen.current
        return current is not None and current.thread_id == thread_id

    def _state(self, thread_id: str, call_id: str) -> CallState | None:
        if not self._showing(thread_id):
            return None
        return self.pane.state(call_id)

    def _changed(self, state: CallState) -> None:
        self.pane.changed(state.call_id)
        marker = self.markers.get(state.call_id)
        if marker is not None:
            marker.set_summary(state.summary())

    def _on_result(self, thread_id: str, result: CallResult) -> None:
        state = self._state(thread_id, result.call.call_id)
        if state is None:
            return
        state.submitted = result.output
        state.outcome = result.outcome
        state.input = state.input or result.call.arguments
        state.name = state.name or result.call.name
        self._changed(state)

    # -- live run events ---------------------------------------------------------------

    async def on_event(self, live: LiveRun, event: RunEvent) -> None:
        """Update the pane and the markers for one run event of ``live``."""
        if not self._showing(live.thread_id):
            return
        match event:
            case ToolCallStarted(call_id=call_id, kind=kind, name=name):
                state = CallState(call_id=call_id, kind=kind, name=name, run_id=live.run_id)
                self.pane.start_call(state)
                await self._add_marker(state)
            case ToolCallDelta(call_id=call_id, input=piece_in, output=piece_out, images=images):
                state = self.pane.state(call_id)
                if state is None:
                    return
                state.input += piece_in
                state.output += piece_out
                for file_id in images:
                    if file_id not in state.images:
                        state.images.append(file_id)
                        self._fetch_image(file_id)
                self._changed(state)
            case ToolCallCompleted() as done:
                state = self.pane.state(done.call_id)
                if state is None:
                    state = CallState(call_id=done.call_id, kind=done.kind, run_id=live.run_id)
                    self.pane.start_call(state)
                    await self._add_marker(state)
                self._complete(state, done)
            case ActionRequired(calls=calls):
                for call in calls:
                    state = self.pane.state(call.call_id)
                    if state is None:
                        state = CallState(call.call_id, "function", call.name, run_id=live.run_id)
                        self.pane.start_call(state)
                        await self._add_marker(state)
                    state.name = state.name or call.name
                    state.input = call.arguments or state.input
                    self._changed(state)
            case RunCompleted(status=status) | RunFailed(status=status):
                # Calls the run never finished (an expired or cancelled run) end with it.
                final = "completed" if status == "completed" else status
                for entry in list(self.pane.calls.values()):
                    state = entry.state
                    if state.run_id == live.run_id and state.status in ("running", "waiting"):
                        state.status = final if final != "error" else "failed"
                        state.duration = state.elapsed
                        self._changed(state)

    def _complete(self, state: CallState, done: ToolCallCompleted) -> None:
        state.name = state.name or done.name
        state.input = done.input or state.input
        state.output = done.output or state.output
        state.results = done.results or state.results
        state.status = done.status if done.status else "completed"
        state.duration = state.elapsed
        for file_id in done.images:
            if file_id not in state.images:
                state.images.append(file_id)
        for file_id in state.images:
            self.files.setdefault(file_id, FileRef(file_id, "image", f"{file_id}.png"))
            self._fetch_image(file_id)
        self._changed(state)

    async def _add_marker(self, state: CallState, before: MessageView | None = None) -> None:
        if state.call_id in self.markers:
            return
        marker = ToolMarker(state.call_id, state.summary())
        self.markers[state.call_id] = marker
        conversation = self.screen.conversation
        if before is not None:
            await conversation.mount(marker, before=before)
        else:
            await conversation.mount(marker)
            conversation.scroll_end(animate=False)

    # -- threads -----------------------------------------------------------------------

    def thread_changed(self, title: str = "") -> None:
        """Another thread (or a new one) is shown: start the pane afresh."""
        self.pane.clear()
        self.files.clear()
        self.markers.clear()
        self._history_thread = None
        if title:
            self.pane.add("info", f"thread: {title}")

    def start_rebuild(self, thread_id: str) -> None:
        """Rebuild the pane from history in a worker (see ``rebuild``)."""
        self.screen.run_worker(
            self.rebuild(thread_id),
            group="tool-history",
            exclusive=True,
            exit_on_error=False,
            description="Loading tool history",
        )

    async def rebuild(self, thread_id: str) -> None:
        """Rebuild the pane and the markers from the thread's runs and their steps."""
        engine = self.engine
        if engine is None or not self._showing(thread_id):
            return
        try:
            runs = await engine.list_runs(thread_id, limit=HISTORY_RUNS)
            semaphore = asyncio.Semaphore(4)

            async def steps_of(run_id: str) -> list[RunStepInfo]:
                async with semaphore:
                    return await engine.list_run_steps(thread_id, run_id)

            all_steps = await asyncio.gather(*(steps_of(run.id) for run in runs))
        except NotSupportedError:
            if self._showing(thread_id):
                self.pane.add("info", "this endpoint keeps no run steps: no tool history")
            return
        except EngineError:
            return
        if not self._showing(thread_id):
            return
        # Markers of a conversation that was shown afresh are gone: forget them.
        self.markers = {k: m for k, m in self.markers.items() if m.is_attached}
        ordered = self.screen.conversation.message_views
        views = {v.message_id: v for v in ordered if v.message_id}
        oldest = min((v.created_at for v in ordered if v.created_at), default=None)
        restored = 0
        for run, steps in zip(runs, all_steps, strict=True):
            for index, step in enumerate(steps):
                if step.type != "tool_calls":
                    continue
                anchor = next(
                    (views.get(s.message_id) for s in steps[index + 1 :]
                     if s.type == "message_creation" and s.message_id in views),
                    None,
                )
                if anchor is None:  # no reply of this run is shown: place it by time
                    anchor = next(
                        (v for v in ordered if v.created_at and v.created_at > step.created_at),
                        None,
                    )
                loaded = anchor is not None or oldest is None or step.created_at >= oldest
                duration = (step.ended_at - step.created_at) if step.ended_at else None
                for call in step.tool_calls:
                    if not call.call_id:
                        continue
                    state = self.pane.state(call.call_id)
                    if state is not None:  # already in the pane (a live run, a reload)
                        if loaded:
                            await self._add_marker(state, before=anchor)
                        continue
                    state = CallState(
                        call_id=call.call_id,
                        kind=call.kind,
                        name=call.name,
                        input=call.input,
                        output=call.output,
                        images=list(call.images),
                        results=call.results,
                        status=_STEP_STATUS.get(step.status, step.status),
                        submitted=call.output if call.kind == "function" else "",
                        duration=max(0.0, duration) if duration is not None else None,
                        started=time.monotonic(),
                        run_id=run.id,
                    )
                    if state.status == "running" and run.status in ("expired", "cancelled",
                                                                     "failed"):
                        state.status = run.status
                        state.duration = 0.0
                    self.pane.start_call(state, collapsed=True)
                    if loaded:
                        await self._add_marker(state, before=anchor)
                    for file_id in state.images:
                        self.files.setdefault(file_id, FileRef(file_id, "image", f"{file_id}.png"))
                        self._fetch_image(file_id)
                    restored += 1
        if restored:
            self.pane.add("info", f"{restored} earlier tool call(s) restored")

    # -- footnotes and message images --------------------------------------------------

    async def _names_for(self, file_ids: Sequence[str]) -> None:
        engine = self.engine
        missing = [f for f in dict.fromkeys(file_ids) if f and f not in self.names]
        if engine is None or not missing:
            return

        async def lookup(file_id: str) -> None:
            try:
                info = await engine.retrieve_file(file_id)
            except EngineError:
                return
            if info.filename:
                self.names[file_id] = info.filename

        await asyncio.gather(*(lookup(f) for f in missing))

    async def footnoted(
        self, text: str, annotations: Sequence[Annotation], images: Sequence[str] = ()
    ) -> str:
        """``text`` with numbered footnotes for its annotations (and noted for downloads)."""
        for file_id in images:
            self.files.setdefault(file_id, FileRef(file_id, "image", f"{file_id}.png"))
        if not annotations:
            return text
        await self._names_for([a.file_id for a in annotations])
        result = footnote(text, annotations, self.names)
        for ref in result.refs:
            if ref.file_id:
                self.files.setdefault(ref.file_id, ref)
        return result.markdown()

    async def completed_text(self, event: MessageCompleted) -> str:
        """The text to show for a completed message."""
        return await self.footnoted(event.text, event.annotations, event.images)

    async def with_footnotes(self, messages: list[ThreadMessage]) -> list[ThreadMessage]:
        """History messages with their annotations turned into footnotes."""
        out = []
        for message in messages:
            if message.annotations or message.images:
                text = await self.footnoted(message.text, message.annotations, message.images)
                message = replace(message, text=text, annotations=())
            out.append(message)
        return out

    async def show_message_images(self, messages: Sequence[tuple[str, Sequence[str]]]) -> None:
        """Mount previews of ``image_file`` content under the messages that carry it."""
        views = {v.message_id: v for v in self.screen.conversation.message_views if v.message_id}
        for message_id, images in messages:
            view = views.get(message_id)
            if view is None:
                continue
            for file_id in images:
                preview = ImagePreview(file_id, self.images.get(file_id))
                preview.add_class("message-image")
                await self.screen.conversation.mount(preview, after=view)
                self._fetch_image(file_id)

    # -- images ------------------------------------------------------------------------

    def _fetch_image(self, file_id: str) -> None:
        if file_id in self.images:
            self._image_ready(file_id, self.images[file_id])
            return
        if file_id in self._fetching:
            return
        self._fetching.add(file_id)
        self.screen.run_worker(
            self._download_image(file_id),
            group="images",
            exit_on_error=False,
            description="Saving an image",
        )

    async def _download_image(self, file_id: str) -> None:
        try:
            target = image_path(file_id)
            if not target.exists():
                engine = self.engine
                if engine is None:
                    return
                await engine.download_file(file_id, str(target))
        except (AppError, OSError) as error:
            reason = error.message if isinstance(error, AppError) else str(error)
            self.pane.image_failed(file_id, reason)
            for preview in self._message_previews(file_id):
                preview.failed(reason)
            return
        finally:
            self._fetching.discard(file_id)
        self.images[file_id] = target
        self._image_ready(file_id, target)

    def _message_previews(self, file_id: str) -> list[ImagePreview]:
        return [
            p for p in self.screen.conversation.query(ImagePreview) if p.file_id == file_id
        ]

    def _image_ready(self, file_id: str, path: Path) -> None:
        self.pane.image_ready(file_id, path)
        for preview in self._message_previews(file_id):
            preview.show(path)

    def open_file(self, call_id: str, path: Path | None) -> None:
        """Open a call's image with the desktop's viewer (or say where it is)."""
        if path is None:
            self.screen.notify("This tool call has no image saved yet.", severity="warning")
            return
        if not open_externally(path):
            self.screen.notify(f"No viewer could be started. The file is at {path}.")

    # -- selection ---------------------------------------------------------------------

    def show_call(self, call_id: str) -> None:
        """Scroll the conversation to the marker of ``call_id`` and highlight it."""
        marker = self.markers.get(call_id)
        if marker is None or not marker.is_attached:
            self.screen.notify(
                "That call happened in a part of the conversation that is not loaded.",
                severity="warning",
            )
            return
        for other in self.markers.values():
            other.set_class(other is marker, "-highlight")
        self.screen.conversation.scroll_to_widget(marker, animate=False, top=True)

    def marker_clicked(self, marker: ToolMarker) -> None:
        self.pane.select(marker.call_id)
        self.show_call(marker.call_id)

    # -- attachments -------------------------------------------------------------------

    @property
    def bar(self) -> AttachmentBar:
        return self.screen.query_one(AttachmentBar)

    async def attach_file(self) -> None:
        picked = await self.screen.app.push_screen_wait(AttachFileScreen())
        if picked is not None:
            self.pending.append(picked)
            self.bar.show_attachments([p.label for p in self.pending])

    def clear_attachments(self) -> None:
        self.pending.clear()
        self.bar.show_attachments([])

    def take_attachments(self) -> list[PendingAttachment]:
        taken, self.pending = self.pending, []
        self.bar.show_attachments([])
        return taken

    def restore_attachments(self, attachments: Sequence[PendingAttachment]) -> None:
        self.pending = list(attachments) + self.pending
        self.bar.show_attachments([p.label for p in self.pending])

    async def upload(self, attachments: Sequence[PendingAttachment]) -> list[dict]:
        """Upload the files; the message ``attachments`` that refer to them."""
        engine = self.engine
        if engine is None or not attachments:
            return []
        uploaded = []
        for attachment in attachments:
            info = await engine.upload_file(str(attachment.path), purpose="assistants")
            self.names[info.id] = info.filename or attachment.path.name
            self.pane.add("info", f"uploaded {attachment.path.name} as {info.id}")
            uploaded.append(
                {"file_id": info.id, "tools": [{"type": tool} for tool in attachment.tools]}
            )
        return uploaded

    # -- downloads ---------------------------------------------------------------------

    async def download_files(self) -> None:
        files = list(self.files.values())
        if not files:
            self.screen.notify("This thread refers to no files yet.", severity="warning")
            return
        request: DownloadRequest | None = await self.screen.app.push_screen_wait(
            FileDownloadScreen(files)
        )
        if request is None:
            return
        await self.download(request)

    async def download(self, request: DownloadRequest) -> list[Path]:
        engine = self.engine
        if engine is None:
            self.screen.notify("Not connected to an endpoint.", severity="error")
            return []
        saved: list[Path] = []
        used: set[str] = set()
        await self._names_for([ref.file_id for ref in request.files])  # the files' own names
        for ref in request.files:
            name = safe_filename(self.names.get(ref.file_id) or ref.name or ref.file_id,
                                 fallback=ref.file_id)
            stem, dot, suffix = name.rpartition(".")
            candidate, n = name, 1
            while candidate in used or (request.folder / candidate).exists():
                n += 1
                candidate = f"{stem}-{n}.{suffix}" if dot else f"{name}-{n}"
            used.add(candidate)
            try:
                saved.append(Path(await engine.download_file(ref.file_id, str(
                    request.folder / candidate
                ))))
            except AppError as error:
                self.screen.notify(error.message, title=f"{ref.label} not downloaded",
                                   severity="error")
        if saved:
            self.screen.notify(
                f"{len(saved)} file(s) saved in {request.folder}", title="Downloaded"
            )
        return saved
