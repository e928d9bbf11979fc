"""What the user works on, with no UI: the open thread, the assistant, the live runs.

A ``Workspace`` is the one place that knows the user's situation on one endpoint and does
the things the user asks for. The screen (and the command line, for export and adopting
a thread) calls it; it calls the engine through one ``Session`` and keeps the store up to
date. It never imports Textual, so it is tested headless against the local server.

What it owns:

* the ``connection`` (and ``ready``, ``connect_error``: whether a message can go yet);
* ``current`` (the open thread, ``None`` for a new one), ``assistant`` and the assistants
  the endpoint listed (``known_assistants``); the open thread's last ``run_usage``;
* ``live``: the turn in progress on each thread (a thread has at most one);
* what F9 can do: the text of a message that was not sent (``unsent``, by context: a
  thread id, or ``""`` for a thread not created yet) and threads whose last run ended
  badly (``retryable``);
* the runs this client has seen, so a failed run-creating request is never matched to
  an older run.

What it does: ``connect``; ``exchange``, a send or a retry from start to end (create and
save the thread, upload the attachments, the turn's events with the reply cached and the
run's usage recorded on the way, and "this thread already has an active run" resolved
with ``resolve_busy``, the question to the user passed in as an async callback,
``ask_busy``), built on ``prepare_send`` and the ``Turn`` of a send, a retry or a run
followed; thread operations (open, new, rename, delete, archive, pin, adopt by id,
export with the local-cache fallback); and assistant bookkeeping.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from tui_assistant.errors import ActiveRunError, AppError, EngineError, NotFoundError
from tui_assistant.events import (
    TERMINAL_STATUSES,
    ActionRequired,
    Annotation,
    MessageCompleted,
    MessageStarted,
    RunCompleted,
    RunEvent,
    RunFailed,
    RunStarted,
    RunStatusChanged,
    TextDelta,
    ToolOutput,
    Usage,
)
from tui_assistant.files import FileRef, footnote, image_path, safe_filename
from tui_assistant.session import Session
from tui_assistant.store import CachedMessage, SavedThread, ThreadUsage, title_from_text
from tui_assistant.text import preview, short_id
from tui_assistant.tool_calls import ToolCallRecord

if TYPE_CHECKING:
    from tui_assistant.backend import Connection
    from tui_assistant.config import Profile, Settings
    from tui_assistant.engines.base import (
        AssistantInfo,
        AssistantSettings,
        Engine,
        MessagePage,
        ThreadMessage,
    )
    from tui_assistant.export import ThreadExport
    from tui_assistant.store import Store
    from tui_assistant.tools import CallResult, HumanAnswer, HumanRequest, ToolRegistry
    from tui_assistant.tools.mcp import McpManager

__all__ = [
    "BusyAnswer",
    "LiveRun",
    "NotReady",
    "NotSent",
    "Noted",
    "Resolution",
    "SentAgain",
    "Step",
    "ThreadCreated",
    "Turn",
    "TurnBroke",
    "TurnEnded",
    "TurnStarted",
    "Workspace",
    "check_thread_id",
    "from_cache",
    "run_summary",
    "thread_usage_label",
]

HISTORY_PAGE = 50
"""Messages fetched per history page (the newest page first, older ones on scroll)."""
HISTORY_RUNS = 20
"""How many of a thread's newest runs its tool history is read from."""
RUN_STATUS_POLL = 2.0
"""Seconds between checks of a paused run's status while the user is asked."""

RecoveryNote = Callable[[str, str], None]

AskHuman = Callable[[str, "HumanRequest"], Awaitable["HumanAnswer"]]
"""``(thread_id, request)``: asks the user about a function call (approve, or answer)."""
ToolResult = Callable[[str, "CallResult"], None]
"""``(thread_id, result)``: told the output submitted for each function call."""

BusyAnswer = Literal["follow", "cancel", "keep"]
AskBusy = Callable[[str, str, bool], Awaitable[BusyAnswer]]
"""``(run_id, status, retry)``: asks the user what to do about another active run."""


class NotReady(AppError):
    """There is no endpoint or no assistant to talk to yet."""

    title = "Not ready"


@dataclass
class LiveRun:
    """A user turn in progress on one thread."""

    thread_id: str
    run_id: str = ""
    message_id: str = ""
    text: str = ""
    status: str = "queued"
    started: float = field(default_factory=time.monotonic)
    usage: Usage | None = None


class Turn:
    """One turn's events (iterate it once) and its ``LiveRun``, which is in
    ``Workspace.live`` from the first event to the end. A run that ends failed, expired
    or incomplete, or a turn that breaks off with an error once its run exists, makes the
    thread ``retryable``; a finished reply is cached and every run is recorded with its
    usage."""

    def __init__(self, live: LiveRun, events: AsyncIterator[RunEvent]) -> None:
        self.live = live
        self._events = events
        self.busy: ActiveRunError | None = None
        """Set by ``Workspace.exchange`` when the thread was busy before the run started."""

    def __aiter__(self) -> AsyncIterator[RunEvent]:
        return self._events

    async def __anext__(self) -> RunEvent:
        return await anext(self._events)

    async def aclose(self) -> None:
        await self._events.aclose()  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Resolution:
    """What to do after a send (or retry) met another active run on its thread.

    * ``follow``: the message reached the thread anyway; follow ``run_id``, which answers it.
    * ``follow_then_send``: the user chose to wait for ``run_id``; follow it, then send.
    * ``send``: the other run was cancelled and has ended; send now.
    * ``give_up``: nothing is sent; ``reason`` says why.
    """

    action: Literal["follow", "follow_then_send", "send", "give_up"]
    run_id: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class TurnStarted:
    """A turn is followed from here (its ``LiveRun`` comes with it)."""


@dataclass(frozen=True, slots=True)
class TurnEnded:
    """The turn is over, however it ended."""


@dataclass(frozen=True, slots=True)
class TurnBroke:
    """Following the turn failed once its run existed; F9 runs the assistant again."""

    message: str


@dataclass(frozen=True, slots=True)
class ThreadCreated:
    """The message's thread was created and saved (a new conversation)."""

    thread: SavedThread


@dataclass(frozen=True, slots=True)
class Noted:
    """A line for the tool pane's log (``kind``: info, warn, error)."""

    kind: str
    text: str


@dataclass(frozen=True, slots=True)
class NotSent:
    """Nothing was sent (or, for a retry, run): ``reason`` says why. A message stays
    unsent in ``thread_id``'s context (``None``: the open one)."""

    reason: str
    thread_id: str | None = None


@dataclass(frozen=True, slots=True)
class SentAgain:
    """The message goes again, after the other run on its thread: it is the newest now."""


Step = RunEvent | TurnStarted | TurnEnded | TurnBroke | ThreadCreated | Noted | NotSent \
    | SentAgain
"""What ``Workspace.exchange`` yields: a run's events, and what the flow around them did."""


class Attachment(Protocol):
    """A local file to upload with the next message, for these tools."""

    path: Path
    tools: Sequence[str]


@dataclass(frozen=True, slots=True)
class HistoryCall:
    """A tool call read back from a run step, and where it belongs in the conversation:
    before the first of ``reply_ids`` that is shown, else by ``created_at``."""

    record: ToolCallRecord
    reply_ids: tuple[str, ...]
    created_at: float


@dataclass(frozen=True, slots=True)
class Prepared:
    """A message ready to run: the thread it goes to and its uploaded attachments."""

    thread: SavedThread
    attachments: list[dict]
    created: bool


class Workspace:
    """The user's situation on one endpoint; see the module docstring."""

    def __init__(
        self,
        store: Store,
        profile: Profile,
        settings: Settings,
        engine: Engine | None = None,
        *,
        on_recovery: RecoveryNote | None = None,
    ) -> None:
        self.store = store
        self.profile = profile
        self.settings = settings
        self.endpoint = profile.endpoint_key
        self.current: SavedThread | None = None
        self.assistant: AssistantInfo | None = None
        self.known_assistants: dict[str, AssistantInfo] = {}
        self.live: dict[str, LiveRun] = {}
        self.run_usage: Usage | None = None
        """Token counts of the open thread's last run in this session."""
        self.unsent: dict[str, str] = {}
        """Context (thread id, or "" for a thread not created yet) -> unsent text."""
        self.retryable: dict[str, str] = {}
        """Thread id -> how its last run ended, when a retry may run it again."""
        self.ask_human: AskHuman | None = None
        """Asks the user about a function call (the UI sets it: the modals)."""
        self.ask_busy: AskBusy | None = None
        """Asks what to do about another run on the thread (the UI sets it; without it a
        message that meets one stays unsent)."""
        self.connection: Connection | None = None
        """What ``connect`` made: the engine and what it runs on."""
        self.ready = asyncio.Event()
        """Set once connecting has ended, well or not (then ``connect_error`` says why),
        and an assistant is chosen (the UI sets it: it may ask the user to choose)."""
        self.connect_error: AppError | None = None
        self.on_tool_result: ToolResult | None = None
        """Told each function output submitted (the UI sets it: the tool pane)."""
        self.on_recovery = on_recovery
        self._registry: ToolRegistry | None = None
        self.registry_problems: list[str] = []
        """Why plugins could not be loaded (read once by the UI)."""
        self.file_names: dict[str, str] = {}
        """File id -> file name, learned from the endpoint (kept across threads)."""
        self.thread_files: dict[str, FileRef] = {}
        """Files the open thread refers to (F8 downloads them)."""
        self._known_runs: set[str] = set()
        self._engine: Engine | None = None
        self.session: Session | None = None
        self._mcp: McpManager | None = None
        if engine is not None:
            self.attach_engine(engine)

    @property
    def mcp(self) -> McpManager:
        """Tools from MCP servers (``[mcp.servers.NAME]``). The UI starts them once
        connected (``mcp.start()``), sets ``mcp.on_notice`` and closes them at the end; their
        tools join each run's ``tools`` and the runner's registry. Made on first use: the
        tools package is not needed for the app's first frame."""
        if self._mcp is None:
            from tui_assistant.tools.mcp import McpManager

            settings = self.settings
            self._mcp = McpManager(
                settings.mcp_servers,
                call_timeout=settings.tool_timeout,
                approval_required=settings.approval_required,
            )
        return self._mcp

    async def close_mcp(self) -> None:
        """Stop the MCP servers, if any was made (``mcp``)."""
        if self._mcp is not None:
            await self._mcp.aclose()

    # -- the endpoint --------------------------------------------------------------------

    @property
    def engine(self) -> Engine | None:
        return self._engine

    async def connect(self, connector: Callable[[Profile, Settings], Awaitable[Connection]]
                      ) -> Connection:
        """Connect with ``connector`` and talk to its engine from now on; the local tools
        are loaded too, so their problems are known at once (``registry_problems``).
        Raises ``AppError``, kept in ``connect_error`` (``ready`` is set then)."""
        try:
            connection = await connector(self.profile, self.settings)
        except AppError as error:
            self.connect_error = error
            self.ready.set()
            raise
        self.connection = connection
        self.attach_engine(connection.engine)
        _ = self.registry
        return connection

    async def disconnect(self) -> None:
        """Close the connection (and stop the local server it started, if any)."""
        if self.connection is not None:
            connection, self.connection = self.connection, None
            await connection.close()

    def attach_engine(self, engine: Engine) -> None:
        """Talk to ``engine`` from now on (once connected)."""
        self._engine = engine
        self.session = Session(
            engine,
            on_action=self._on_action,
            on_recovery=self._recovery,
            seen_runs=self._known_runs,
            run_tools=self._run_tools,
        )

    async def _run_tools(self, assistant_id: str) -> list[dict] | None:
        """A new run's ``tools``: the assistant's own plus the MCP servers' (``None``, the
        assistant's as they are, while no MCP server has tools)."""
        if self._engine is None:
            return None
        return await self.mcp.run_tools(self._engine, assistant_id)

    def _require_engine(self) -> Engine:
        if self._engine is None:
            raise self.connect_error or NotReady("Not connected to an endpoint yet.")
        return self._engine

    @property
    def registry(self) -> ToolRegistry:
        """The local functions (built on first use; plugin problems are kept)."""
        if self._registry is None:
            from tui_assistant.tools import build_registry

            settings = self.settings
            self._registry, problems = build_registry(
                allowed_dir=settings.allowed_dir,
                modules=settings.tool_modules,
                approval_required=settings.approval_required,
                entry_points=settings.tool_entry_points,
            )
            self.registry_problems = [str(p) for p in problems]
        return self._registry

    async def _on_action(self, event: ActionRequired) -> Sequence[ToolOutput]:
        """A paused run's function calls: local functions, or the user (``ask_human``)."""
        from tui_assistant.tools import ToolRunner

        thread_id = event.thread_id
        runner = ToolRunner(
            self.mcp.registry_over(self.registry),
            ask=partial(self.ask_human, thread_id) if self.ask_human else None,
            timeout=self.settings.tool_timeout,
            cancel=partial(self._cancel_quietly, thread_id),
            run_status=self._run_status,
            poll_interval=RUN_STATUS_POLL,
            on_result=partial(self.on_tool_result, thread_id) if self.on_tool_result else None,
        )
        return await runner(event)

    async def _cancel_quietly(self, thread_id: str) -> None:
        try:
            await self.cancel(thread_id)
        except AppError as error:
            self._recovery(thread_id, f"could not cancel the run: {error.message}")

    async def _run_status(self, thread_id: str, run_id: str) -> str:
        if self._engine is None:
            return "requires_action"
        return (await self._engine.retrieve_run(thread_id, run_id)).status

    def _recovery(self, thread_id: str, text: str) -> None:
        if self.on_recovery is not None:
            self.on_recovery(thread_id, text)

    # -- state shared with the store -------------------------------------------------------

    def restore(self, limit: int) -> tuple[list[SavedThread], list[CachedMessage]]:
        """At start-up: the first ``limit`` saved threads, the thread open last time (made
        ``current``) and its cached newest messages."""
        saved = self.store.list_threads(self.endpoint, limit=limit)
        last = self.store.get_state(f"last_thread:{self.endpoint}")
        current = next((t for t in saved if t.thread_id == last), None)
        if current is None and last:
            found = self.store.get_thread(self.endpoint, last)
            current = found if found is not None and not found.archived else None
        self.current = current
        cached = self.cached(current.thread_id) if current is not None else []
        return saved, cached

    def cached(self, thread_id: str, limit: int = HISTORY_PAGE) -> list[CachedMessage]:
        return self.store.cached_messages(self.endpoint, thread_id, limit=limit)

    def list_threads(self, *, include_archived: bool = False,
                     limit: int | None = None) -> list[SavedThread]:
        return self.store.list_threads(self.endpoint, include_archived=include_archived,
                                       limit=limit)

    def is_showing(self, thread_id: str) -> bool:
        return self.current is not None and self.current.thread_id == thread_id

    def known_runs(self, thread_id: str) -> set[str]:
        """Runs this client has seen (seeded from the store's run records)."""
        try:
            self._known_runs.update(r.run_id for r in self.store.list_runs(self.endpoint,
                                                                           thread_id))
        except AppError:
            pass
        return self._known_runs

    # -- drafts ------------------------------------------------------------------------------

    @property
    def _draft_key(self) -> str:
        return f"draft:{self.endpoint}"

    def load_draft(self) -> str | None:
        try:
            return self.store.get_state(self._draft_key)
        except AppError:
            return None

    def save_draft(self, text: str | None) -> None:
        try:
            self.store.set_state(self._draft_key, text)
        except AppError:
            pass  # the store reports its own trouble; a draft is best effort

    # -- threads ---------------------------------------------------------------------------

    def open(self, thread: SavedThread) -> list[CachedMessage]:
        """Make ``thread`` the open one; its cached newest messages, to show at once."""
        self.current = thread
        self.thread_files.clear()
        self.run_usage = None
        self.store.set_state(f"last_thread:{self.endpoint}", thread.thread_id)
        return self.cached(thread.thread_id)

    def new_thread(self) -> None:
        """Start afresh: the next message creates a thread."""
        self.current = None
        self.thread_files.clear()
        self.run_usage = None
        self.store.set_state(f"last_thread:{self.endpoint}", "")

    def get_thread(self, thread_id: str) -> SavedThread | None:
        return self.store.get_thread(self.endpoint, thread_id)

    def _refresh_current(self, thread_id: str) -> SavedThread | None:
        fresh = self.store.get_thread(self.endpoint, thread_id)
        if fresh is not None and self.is_showing(thread_id):
            self.current = fresh
        return fresh

    def rename(self, thread: SavedThread, title: str) -> SavedThread | None:
        self.store.rename_thread(self.endpoint, thread.thread_id, title)
        return self._refresh_current(thread.thread_id)

    def set_archived(self, thread: SavedThread, archived: bool) -> SavedThread | None:
        self.store.set_archived(self.endpoint, thread.thread_id, archived)
        return self._refresh_current(thread.thread_id)

    def set_pinned(self, thread: SavedThread, pinned: bool) -> SavedThread | None:
        self.store.set_pinned(self.endpoint, thread.thread_id, pinned)
        return self._refresh_current(thread.thread_id)

    async def delete_remote(self, thread: SavedThread) -> str:
        """Delete the thread on the endpoint; ``""``, or why that did not happen (a thread
        the endpoint no longer has counts as deleted)."""
        if thread.thread_id in self.live:
            raise ActiveRunError("This thread has a run in progress: cancel it first.")
        if self._engine is None:
            return "Not connected to the endpoint."
        try:
            await self._engine.delete_thread(thread.thread_id)
        except NotFoundError:
            return ""
        except EngineError as error:
            return error.message
        return ""

    def forget(self, thread: SavedThread) -> None:
        """Remove the thread from this machine (after ``delete_remote``, or instead)."""
        self.store.delete_thread(self.endpoint, thread.thread_id)
        self.unsent.pop(thread.thread_id, None)
        self.retryable.pop(thread.thread_id, None)
        if self.is_showing(thread.thread_id):
            self.new_thread()

    async def adopt(self, thread_id: str) -> tuple[SavedThread, bool]:
        """Save a thread that exists on the endpoint (unless it is saved already); returns
        it and whether it was new here. An archived thread is brought back."""
        saved = self.store.get_thread(self.endpoint, thread_id)
        added = False
        if saved is None:
            engine = self._require_engine()
            await engine.retrieve_thread(thread_id)
            page = await engine.list_messages(thread_id, limit=HISTORY_PAGE)
            latest = await engine.latest_run(thread_id)
            first_user = next((m.text for m in page.messages if m.role == "user"), "")
            assistant_id = (latest.assistant_id if latest else "") or (
                self.assistant.id if self.assistant else ""
            )
            saved = self.store.add_thread(self.endpoint, thread_id, assistant_id,
                                          title_from_text(first_user))
            if page.messages:
                newest = page.messages[-1]
                self.store.touch(self.endpoint, thread_id, preview=newest.text,
                                 when=newest.created_at or time.time())
            added = True
        if saved.archived:
            self.store.set_archived(self.endpoint, thread_id, False)
        return self.store.get_thread(self.endpoint, thread_id) or saved, added

    # -- history ---------------------------------------------------------------------------

    async def history(self, thread_id: str, before_id: str | None = None) -> MessagePage:
        """A page of the thread's messages from the endpoint (cached on the way)."""
        engine = self._require_engine()
        page = await engine.list_messages(thread_id, limit=HISTORY_PAGE, before_id=before_id)
        self.cache(thread_id, page.messages)
        return page

    def cache(self, thread_id: str, messages: Sequence[ThreadMessage]) -> None:
        self.store.cache_messages(
            self.endpoint, thread_id,
            [CachedMessage(m.id, m.role, m.text, m.created_at) for m in messages],
        )

    async def sync_after_run(self, thread_id: str) -> list[ThreadMessage]:
        """The thread's newest messages with their real ids, cached (after a run)."""
        if self._engine is None:
            return []
        try:
            page = await self._engine.list_messages(thread_id, limit=10)
        except EngineError:
            return []
        self.cache(thread_id, page.messages)
        return list(page.messages)

    # -- tool history, footnotes, files ------------------------------------------------------

    async def tool_history(self, thread_id: str) -> list[HistoryCall]:
        """The tool calls of the thread's newest runs, oldest first, from their run steps.

        Raises ``NotSupportedError`` where the endpoint keeps no run steps."""
        engine = self._require_engine()
        runs = await engine.list_runs(thread_id, limit=HISTORY_RUNS)
        semaphore = asyncio.Semaphore(4)

        async def steps_of(run_id: str):
            async with semaphore:
                return await engine.list_run_steps(thread_id, run_id)

        all_steps = await asyncio.gather(*(steps_of(run.id) for run in runs))
        calls: list[HistoryCall] = []
        for run, steps in zip(runs, all_steps, strict=True):
            for index, step in enumerate(steps):
                if step.type != "tool_calls":
                    continue
                replies = tuple(s.message_id for s in steps[index + 1:]
                                if s.type == "message_creation" and s.message_id)
                for call in step.tool_calls:
                    if not call.call_id:
                        continue
                    record = ToolCallRecord.from_step(call, step, run.status)
                    record.via = self.mcp.server_of(record.name) if record.name else ""
                    calls.append(HistoryCall(record, replies, step.created_at))
                    self.note_images(record.images)
        return calls

    def note_images(self, file_ids: Sequence[str]) -> None:
        for file_id in file_ids:
            self.thread_files.setdefault(file_id, FileRef(file_id, "image", f"{file_id}.png"))

    async def _learn_names(self, file_ids: Sequence[str]) -> None:
        missing = [f for f in dict.fromkeys(file_ids) if f and f not in self.file_names]
        if self._engine is None or not missing:
            return
        engine = self._engine

        async def lookup(file_id: str) -> None:
            try:
                info = await engine.retrieve_file(file_id)
            except EngineError:
                return
            if info.filename:
                self.file_names[file_id] = info.filename

        await asyncio.gather(*(lookup(f) for f in missing))

    async def footnoted(self, text: str, annotations: Sequence[Annotation],
                        images: Sequence[str] = ()) -> str:
        """``text`` with numbered footnotes for its annotations; the files it refers to
        are noted for F8."""
        self.note_images(images)
        if not annotations:
            return text
        await self._learn_names([a.file_id for a in annotations if not a.filename])
        result = footnote(text, annotations, self.file_names)
        for ref in result.refs:
            if ref.file_id:
                self.thread_files.setdefault(ref.file_id, ref)
        return result.markdown()

    async def with_footnotes(self, messages: Sequence[ThreadMessage]) -> list[ThreadMessage]:
        """History messages with their annotations turned into footnotes."""
        out = []
        for message in messages:
            if message.annotations or message.images:
                text = await self.footnoted(message.text, message.annotations, message.images)
                message = replace(message, text=text, annotations=())
            out.append(message)
        return out

    async def save_image(self, file_id: str) -> Path:
        """The image's local copy (under the data directory), downloaded if need be.
        Raises ``AppError`` or ``OSError``."""
        target = image_path(file_id)
        if not target.exists():
            await self._require_engine().download_file(file_id, str(target))
        return target

    async def upload(self, attachments: Sequence[Attachment]) -> list[dict]:
        """Upload the files; the message ``attachments`` that refer to them."""
        if not attachments:
            return []
        engine = self._require_engine()
        uploaded = []
        for attachment in attachments:
            info = await engine.upload_file(str(attachment.path), purpose="assistants")
            self.file_names[info.id] = info.filename or attachment.path.name
            uploaded.append(
                {"file_id": info.id, "tools": [{"type": tool} for tool in attachment.tools]}
            )
        return uploaded

    async def download(self, files: Sequence[FileRef], folder: Path
                       ) -> tuple[list[Path], list[tuple[FileRef, str]]]:
        """Save ``files`` in ``folder`` (names made safe and unique); what was saved, and
        what was not with the reason."""
        engine = self._require_engine()
        saved: list[Path] = []
        failed: list[tuple[FileRef, str]] = []
        used: set[str] = set()
        await self._learn_names([ref.file_id for ref in files])  # the files' own names
        for ref in files:
            name = safe_filename(self.file_names.get(ref.file_id) or ref.name or ref.file_id,
                                 fallback=ref.file_id)
            stem, dot, suffix = name.rpartition(".")
            candidate, n = name, 1
            while candidate in used or (folder / candidate).exists():
                n += 1
                candidate = f"{stem}-{n}.{suffix}" if dot else f"{name}-{n}"
            used.add(candidate)
            try:
                saved.append(Path(await engine.download_file(ref.file_id,
                                                             str(folder / candidate))))
            except AppError as error:
                failed.append((ref, error.message))
        return saved, failed

    # -- export ----------------------------------------------------------------------------

    def assistant_name(self, assistant_id: str) -> str:
        found = self.known_assistants.get(assistant_id)
        return found.label if found is not None else ""

    async def export(self, thread_id: str, *, offline_reason: str = "not connected"
                     ) -> tuple[ThreadExport, str]:
        """The thread's export document, from the endpoint, or from the local cache when
        the endpoint cannot give it (the second value then says why; ``""`` otherwise).

        Raises ``AppError`` when neither has it (an unknown id, say)."""
        from tui_assistant.export import collect, from_cache

        saved = self.store.get_thread(self.endpoint, thread_id)
        assistant_id = saved.assistant_id if saved else ""
        name = self.assistant_name(assistant_id)
        reason = offline_reason
        if self._engine is not None:
            if assistant_id and not name:
                try:
                    name = (await self._engine.retrieve_assistant(assistant_id)).label
                except AppError:
                    name = ""
            try:
                document = await collect(
                    self._engine, thread_id, title=saved.title if saved else "",
                    endpoint=self.endpoint, assistant_id=assistant_id, assistant_name=name,
                    created_at=saved.created_at if saved else 0.0,
                    last_used=saved.last_used if saved else 0.0,
                )
                if not document.runs:  # the API lists no runs (Conversations): ours
                    self._runs_from_store(document, thread_id)
                return document, ""
            except AppError as error:
                if saved is None:
                    raise
                reason = ("the endpoint no longer has this thread"
                          if isinstance(error, NotFoundError) else error.message)
        if saved is None:
            raise NotReady(f"Not connected ({reason}): the thread cannot be read.")
        return from_cache(self.store, self.endpoint, thread_id, assistant_name=name,
                          reason=reason), reason

    def _runs_from_store(self, document: ThreadExport, thread_id: str) -> None:
        """Fill an export's runs from the runs this client recorded, with their usage."""
        from tui_assistant.export import ExportedRun

        records = self.store.list_runs(self.endpoint, thread_id)
        if not records:
            return
        document.runs.extend(
            ExportedRun(id=r.run_id, status=r.status, created_at=r.created_at,
                        prompt_tokens=r.prompt_tokens, completion_tokens=r.completion_tokens,
                        total_tokens=r.total_tokens)
            for r in records
        )
        document.notes.append("Runs and usage are those this client recorded.")

    def secrets(self) -> list[str]:
        """Values an export must never contain (the key, header values)."""
        profile = self.profile
        found = [profile.secret.reveal()] if profile.secret is not None else []
        found += [v for v in profile.headers.values() if v]
        return [s for s in found if s]

    # -- assistants ------------------------------------------------------------------------

    async def list_assistants(self) -> list[AssistantInfo]:
        assistants = await self._require_engine().list_assistants()
        self.known_assistants = {a.id: a for a in assistants}
        return assistants

    def assistant_names(self) -> dict[str, str]:
        """Assistant id -> name, of those the endpoint listed (the thread list shows them)."""
        return {a.id: a.label for a in self.known_assistants.values()}

    async def list_models(self) -> list[str]:
        """The models the endpoint offers (``GET /models``); empty where it lists none."""
        engine = self._engine
        lister = getattr(engine, "list_models", None)
        if lister is None:
            return []
        try:
            return list(await lister())
        except AppError:
            return []

    def preferred_assistant(self, assistants: Sequence[AssistantInfo]) -> AssistantInfo | None:
        """At start-up: the profile's assistant, the open thread's, the last used, or the
        only one there is."""
        wanted = [
            self.profile.assistant_id,
            self.current.assistant_id if self.current else None,
            self.store.get_state(f"assistant:{self.endpoint}"),
        ]
        for assistant_id in wanted:
            chosen = next((a for a in assistants if a.id == assistant_id), None)
            if chosen is not None:
                return chosen
        return assistants[0] if len(assistants) == 1 else None

    def use_assistant(self, assistant: AssistantInfo) -> None:
        self.assistant = assistant
        self.known_assistants.setdefault(assistant.id, assistant)
        self.store.set_state(f"assistant:{self.endpoint}", assistant.id)

    async def create_assistant(self, **fields) -> AssistantInfo:
        created = await self._require_engine().create_assistant(**fields)
        self.known_assistants[created.id] = created
        return created

    async def update_assistant(self, assistant_id: str, **fields) -> AssistantInfo:
        updated = await self._require_engine().update_assistant(assistant_id, **fields)
        self.known_assistants[updated.id] = updated
        return updated

    async def assistant_settings(self, assistant_id: str) -> AssistantSettings:
        return await self._require_engine().assistant_settings(assistant_id)

    async def delete_assistant(self, assistant_id: str) -> None:
        await self._require_engine().delete_assistant(assistant_id)
        self.known_assistants.pop(assistant_id, None)

    def record_thread_assistant(self) -> bool:
        """Make the open thread talk to the chosen assistant from now on (True if changed)."""
        if self.current is None or self.assistant is None:
            return False
        if self.current.assistant_id == self.assistant.id:
            return False
        self.store.set_assistant(self.endpoint, self.current.thread_id, self.assistant.id)
        self._refresh_current(self.current.thread_id)
        return True

    def thread_assistant(self, thread: SavedThread) -> AssistantInfo | None:
        """The assistant ``thread`` talks to, when it is known and not the chosen one."""
        found = self.known_assistants.get(thread.assistant_id)
        if found is not None and (self.assistant is None or self.assistant.id != found.id):
            return found
        return None

    # -- usage -----------------------------------------------------------------------------

    def record_run(self, thread_id: str, run_id: str, status: str, usage: Usage | None) -> None:
        if run_id:
            self.store.record_run(
                self.endpoint, thread_id, run_id, status,
                prompt_tokens=usage.prompt_tokens if usage else 0,
                completion_tokens=usage.completion_tokens if usage else 0,
                total_tokens=usage.total_tokens if usage else 0,
            )

    def thread_usage(self, thread_id: str) -> ThreadUsage:
        return self.store.thread_usage(self.endpoint, thread_id)

    def usage_label(self) -> str:
        """The open thread's token counts for the header (see ``thread_usage_label``)."""
        if self.current is None:
            return ""
        return thread_usage_label(self.run_usage, self.thread_usage(self.current.thread_id))

    # -- sending and running ---------------------------------------------------------------

    def context(self) -> str:
        """What F9 works on: the open thread's id, or ``""`` for a new thread."""
        return self.current.thread_id if self.current is not None else ""

    def is_busy(self, thread_id: str | None = None) -> bool:
        thread_id = self.context() if thread_id is None else thread_id
        return bool(thread_id) and thread_id in self.live

    async def prepare_send(self, text: str, attachments: Sequence[Attachment] = ()
                           ) -> Prepared:
        """Create and save the thread if there is none yet, and upload the attachments.
        Raises ``AppError``: nothing was sent."""
        engine = self._require_engine()
        if self.assistant is None:
            raise NotReady("No assistant is chosen.")
        thread = self.current
        created = False
        if thread is None:
            thread_id = await engine.create_thread()
            thread = self.store.add_thread(
                self.endpoint, thread_id, self.assistant.id, title_from_text(text)
            )
            self.current = thread
            self.store.set_state(f"last_thread:{self.endpoint}", thread_id)
            self.unsent.pop("", None)
            created = True
        return Prepared(thread, await self.upload(attachments), created)

    def mark_unsent(self, text: str, thread_id: str | None = None) -> str:
        """Remember ``text`` as not sent (F9 or Enter sends it again); returns its context."""
        context = thread_id if thread_id is not None else self.context()
        self.unsent[context] = text
        return context

    def take_unsent(self, text: str | None = None) -> str | None:
        """The open context's unsent text, forgotten here (only if it is ``text``, when
        given: the user sends the same words again)."""
        context = self.context()
        if context not in self.unsent:
            return None
        if text is not None and self.unsent[context].strip() != text.strip():
            return None
        return self.unsent.pop(context)

    def can_retry(self) -> bool:
        context = self.context()
        if context and context in self.live:
            return False
        return context in self.unsent or context in self.retryable

    def send(self, thread_id: str, text: str, *, attachments: Sequence[dict] = (),
             additional_instructions: str | None = None) -> Turn:
        """A user turn on ``thread_id``: iterate it for the events (see ``Turn``)."""
        session, assistant_id = self._running()
        self.store.touch(self.endpoint, thread_id, preview=preview(text, 120))
        return self._turn(thread_id, session.send(
            thread_id, assistant_id, text, attachments=attachments,
            additional_instructions=additional_instructions,
        ), sending=True)

    def rerun(self, thread_id: str) -> Turn:
        """Run the assistant again on ``thread_id`` without a new message (F9)."""
        session, assistant_id = self._running()
        self.retryable.pop(thread_id, None)
        return self._turn(thread_id, session.rerun(thread_id, assistant_id))

    def follow(self, thread_id: str, run_id: str) -> Turn:
        """A run already going on ``thread_id``, followed until it ends."""
        session, _ = self._running()
        return self._turn(thread_id, session.attach(thread_id, run_id), run_id=run_id)

    def _running(self) -> tuple[Session, str]:
        if self.session is None:
            raise NotReady("Not connected to an endpoint yet.")
        if self.assistant is None:
            raise NotReady("No assistant is chosen.")
        return self.session, self.assistant.id

    def _turn(self, thread_id: str, events: AsyncIterator[RunEvent], *, run_id: str = "",
              sending: bool = False) -> Turn:
        live = LiveRun(thread_id, run_id=run_id)
        return Turn(live, self._follow(live, events, sending))

    async def _follow(self, live: LiveRun, events: AsyncIterator[RunEvent],
                      sending: bool) -> AsyncIterator[RunEvent]:
        """Pass on a turn's events while keeping ``live``, the cache, the run records and
        the retry state right."""
        thread_id = live.thread_id
        busy = self.live.get(thread_id)
        if busy is not None:
            await events.aclose()  # type: ignore[attr-defined]
            shown = f" ({busy.run_id})" if busy.run_id else ""
            raise ActiveRunError(
                f"A reply is still being written in this thread{shown}. "
                "Wait for it to finish or cancel it.",
                run_id=busy.run_id,
            )
        self.known_runs(thread_id)
        self.live[thread_id] = live
        self.retryable.pop(thread_id, None)
        try:
            async with aclosing(events) as stream:  # type: ignore[type-var]
                async for event in stream:
                    if type(event) is TextDelta:  # the hot path
                        live.text += event.text
                    else:
                        self._note(live, event)
                    yield event
        except AppError as error:
            # A send that failed before its run existed left the message unsent (the
            # caller marks it); a busy thread is resolved by the caller too.
            if live.run_id or not (sending or isinstance(error, ActiveRunError)):
                self.retryable[thread_id] = "error"
            raise
        finally:
            if self.live.get(thread_id) is live:
                del self.live[thread_id]
            if live.text:
                self.store.touch(self.endpoint, thread_id, preview=preview(live.text, 120))

    def _note(self, live: LiveRun, event: RunEvent) -> None:
        match event:
            case RunStarted(run_id=run_id):
                live.run_id = run_id
                live.status = "queued"
            case RunStatusChanged(status=status):
                live.status = status
            case MessageStarted(message_id=message_id):
                live.message_id = message_id
                live.text = ""
                live.status = "streaming"
            case MessageCompleted(message_id=message_id, text=text):
                live.text = text
                if message_id and text:  # search finds a reply as soon as it is finished
                    self.store.cache_messages(
                        self.endpoint, live.thread_id,
                        [CachedMessage(message_id, "assistant", text, time.time())],
                    )
            case ActionRequired():
                live.status = "requires_action"
            case RunCompleted(status=status, usage=usage):
                live.status = status
                live.usage = usage
                self.record_run(live.thread_id, live.run_id, status, usage)
                if self.is_showing(live.thread_id):
                    self.run_usage = usage
                if status in ("incomplete", "cancelled"):  # F9 writes the reply again
                    self.retryable[live.thread_id] = status
            case RunFailed(status=status):
                live.status = status
                self.record_run(live.thread_id, live.run_id, status, None)
                self.retryable[live.thread_id] = status

    async def cancel(self, thread_id: str | None = None) -> bool:
        """Cancel the open (or given) thread's run; False when none is going."""
        thread_id = self.context() if thread_id is None else thread_id
        if not thread_id or thread_id not in self.live or self.session is None:
            return False
        await self.session.cancel(thread_id)
        return True

    # -- a thread that is busy with another run ----------------------------------------------

    async def resolve_busy(
        self, thread_id: str, error: ActiveRunError, text: str, ask: AskBusy
    ) -> Resolution:
        """Sending ``text`` (or retrying, when it is ``""``) met another active run.

        When the message reached the thread anyway (the request went through although its
        answer was lost), the run answering it is followed. Otherwise ``ask`` lets the user
        follow the other run and then send, cancel it and send, or keep the message."""
        engine = self._require_engine()
        assert self.session is not None
        run_id, status = error.run_id, ""
        try:
            latest = await engine.latest_run(thread_id)
        except AppError:
            latest = None
        if latest is not None and (not run_id or latest.id == run_id):
            run_id, status = latest.id, latest.status
        if text and run_id and await self._arrived(thread_id, text, latest):
            return Resolution("follow", run_id)
        if not run_id or status in TERMINAL_STATUSES:
            reason = error.message
            if status:
                reason = f"The thread was busy; run {run_id} has {status} since."
            return Resolution("give_up", run_id, reason)
        choice = await ask(run_id, status, not text)
        if choice == "keep":
            return Resolution("give_up", run_id, error.message)
        if choice == "cancel":
            try:
                ended = await self.session.cancel_and_wait(thread_id, run_id)
            except AppError as problem:
                return Resolution("give_up", run_id,
                                  f"The other run could not be cancelled: {problem.message}")
            if ended is None:
                return Resolution("give_up", run_id, "The other run could not be cancelled.")
            return Resolution("send", run_id)
        return Resolution("follow_then_send", run_id)

    async def _arrived(self, thread_id: str, text: str, run) -> bool:
        """Whether the thread's newest user message is ``text``, added for ``run``."""
        assert self._engine is not None
        try:
            page = await self._engine.list_messages(thread_id, limit=5)
        except AppError:
            return False
        users = [m for m in page.messages if m.role == "user"]
        if not users or users[-1].text.strip() != text.strip():
            return False
        created = getattr(run, "created_at", 0.0) or 0.0
        return users[-1].created_at >= created - 5


    # -- a send or a retry, from start to end -------------------------------------------------

    async def exchange(self, text: str, *, thread_id: str = "",
                       attachments: Sequence[Attachment] = (), extra: str | None = None
                       ) -> AsyncIterator[tuple[LiveRun | None, Step]]:
        """Send ``text`` to the open thread, or, when it is ``""``, run the assistant again
        on ``thread_id`` (F9), to the end: each step comes with the turn it belongs to.

        A thread busy with another run is resolved (``resolve_busy``, asking through
        ``ask_busy``): the run answering the message is followed, or the other run is
        followed or cancelled and the message sent again (``SentAgain``, with the same
        attachments and extra instructions), or nothing is sent (``NotSent``, as when the
        thread cannot be created, an upload fails or the request is lost before its run
        exists)."""
        uploaded: list[dict] = []
        if text:
            try:
                prepared = await self.prepare_send(text, attachments)
            except AppError as error:
                yield None, NotSent(error.message)
                return
            thread_id, uploaded = prepared.thread.thread_id, prepared.attachments
            if prepared.created:
                yield None, ThreadCreated(prepared.thread)
            for attachment, file in zip(attachments, uploaded, strict=False):
                yield None, Noted("info", f"uploaded {attachment.path.name} as "
                                          f"{file['file_id']}")

        def start() -> Turn:
            if not text:
                return self.rerun(thread_id)
            return self.send(thread_id, text, attachments=uploaded,
                             additional_instructions=extra)

        while True:
            try:
                turn = start()
            except AppError as error:
                yield None, self._not_run(thread_id, text, error.message)
                return
            async for step in self._through(turn, text):
                yield step
            if turn.busy is None:
                return
            try:
                resolution = await self.resolve_busy(thread_id, turn.busy, text,
                                                     self.ask_busy or _keep)
            except AppError as error:
                resolution = Resolution("give_up", reason=error.message)
            run_id = resolution.run_id
            if resolution.action == "give_up":
                yield None, self._not_run(thread_id, text, resolution.reason)
                return
            if resolution.action == "send":
                yield None, Noted("info", f"run {run_id} cancelled")
            elif resolution.action == "follow":
                yield None, Noted("warn", "your message reached the thread although sending "
                                  f"it failed; run {run_id} is answering it: following that run")
            else:
                yield None, Noted("info", f"following run {run_id}")
            if resolution.action != "send":
                async for step in self._through(self.follow(thread_id, run_id), ""):
                    yield step
                if resolution.action == "follow":
                    return
            if not self.is_showing(thread_id):
                yield None, self._not_run(thread_id, text,
                                          "You left the thread before it was sent.")
                return
            if text:
                yield None, SentAgain()

    async def _through(self, turn: Turn, text: str
                       ) -> AsyncIterator[tuple[LiveRun | None, Step]]:
        """One turn's steps (``text``: the message it sends, if any). A thread that was
        busy before the run started is left in ``turn.busy``."""
        live = turn.live
        yield live, TurnStarted()
        try:
            async with aclosing(turn):
                async for event in turn:
                    yield live, event
        except AppError as error:
            if not live.run_id and isinstance(error, ActiveRunError):
                turn.busy = error
            elif text and not live.run_id:
                yield live, NotSent(error.message, live.thread_id)
            else:
                yield live, TurnBroke(f"{error.title}: {error.message}")
        yield live, TurnEnded()

    def _not_run(self, thread_id: str, text: str, reason: str) -> NotSent:
        if not text and thread_id:  # a retry that did not run: F9 tries again
            self.retryable[thread_id] = "busy"
        return NotSent(reason, thread_id or None)


async def _keep(run_id: str, status: str, retry: bool) -> BusyAnswer:
    return "keep"


_THREAD_ID_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-"
)


def check_thread_id(value: str) -> str:
    """Why ``value`` cannot be a thread id (``""`` when it can)."""
    if len(value) > 200 or not set(value) <= _THREAD_ID_CHARS:
        return "That does not look like a thread id (for example thread_abc123)."
    return ""


def thread_usage_label(run_usage: Usage | None, total: ThreadUsage) -> str:
    """``120 tokens · 8 cached (thread 1,234)``: the last run's count (with cached and
    reasoning tokens where the API says), then the thread's total."""
    if run_usage is not None:
        label = f"{run_usage.total_tokens:,} tokens"
        parts = [f"{n:,} {what}" for n, what in ((run_usage.cached_tokens, "cached"),
                                                   (run_usage.reasoning_tokens, "reasoning"))
                 if n]
        if parts:
            label += " · " + ", ".join(parts)
        if total.runs:
            label += f" (thread {total.total_tokens:,})"
        return label
    return f"thread {total.total_tokens:,} tokens" if total.runs else ""


def run_summary(live: LiveRun, event: RunCompleted) -> str:
    """``run_…wxyz completed in 2.1 s · 1,234 tokens (prompt …, completion …)``, then the
    reason it ended and how many messages were left out: the log line of a finished run."""
    status, usage, reason = event.status, event.usage, event.reason
    elapsed = time.monotonic() - live.started
    detail = f"run {short_id(live.run_id)} {status} in {elapsed:.1f} s"
    if usage is not None:
        detail += (f" · {usage.total_tokens:,} tokens (prompt {usage.prompt_tokens:,}, "
                   f"completion {usage.completion_tokens:,})")
        detail += " estimated" if usage.estimated else ""
    if reason:
        detail += f" · {reason}"
    if event.left_out:
        detail += f" · {event.left_out} earlier messages left out to fit the model's window"
    return detail


def from_cache(messages: Sequence[CachedMessage]) -> list[ThreadMessage]:
    """A thread's cached messages as messages to show (before the endpoint answers)."""
    from tui_assistant.engines.base import ThreadMessage

    return [ThreadMessage(m.message_id, m.role, m.text, m.created_at) for m in messages]
