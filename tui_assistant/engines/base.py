"""The Engine protocol: what the app needs from a wire API.

The UI and the session loop talk to an ``Engine`` only. An engine speaks one wire API
(``assistants.py`` speaks the Assistants API through ``openai.AsyncOpenAI``; a later
``responses.py`` speaks Responses + Conversations) and reports runs as ``events.py``
objects. Engines raise ``errors.EngineError`` subclasses, never SDK or transport
exceptions, so callers can show every failure as a plain message.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from tui_assistant.events import (
    Annotation,
    FileSearchResult,
    FunctionCall,
    RunEvent,
    ToolKind,
    ToolOutput,
    Usage,
)


@dataclass(frozen=True, slots=True)
class AssistantInfo:
    """An assistant: a model with instructions and tools."""

    id: str
    name: str
    model: str
    instructions: str = ""
    tools: tuple[str, ...] = ()
    """Tool types (``function``, ``code_interpreter``, ``file_search``)."""
    function_names: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return self.name or self.id


@dataclass(frozen=True, slots=True)
class ThreadMessage:
    """A message of a thread, reduced to what the conversation view shows."""

    id: str
    role: str
    text: str
    created_at: float
    run_id: str | None = None
    status: str = "completed"
    annotations: tuple[Annotation, ...] = ()
    """Citations and generated-file references in ``text``."""
    images: tuple[str, ...] = ()
    """File ids of the message's ``image_file`` content."""


@dataclass(frozen=True, slots=True)
class MessagePage:
    """One page of a thread's history.

    ``messages`` are in chronological order (oldest first). ``has_more`` says whether
    older messages exist; fetch them with ``before_id=messages[0].id``.
    """

    messages: list[ThreadMessage] = field(default_factory=list)
    has_more: bool = False


@dataclass(frozen=True, slots=True)
class RunInfo:
    """A run's state, as retrieved (used to reattach and to reconcile)."""

    id: str
    thread_id: str
    status: str
    assistant_id: str = ""
    created_at: float = 0.0
    expires_at: float | None = None
    usage: Usage | None = None
    """Token counts, once the run is terminal."""
    error_code: str = ""
    error_message: str = ""
    """``last_error`` of a failed run."""
    incomplete_reason: str = ""
    calls: tuple[FunctionCall, ...] = ()
    """The function calls a ``requires_action`` run waits for."""


@dataclass(frozen=True, slots=True)
class ToolCallInfo:
    """A tool call as a run step records it (for history, after the fact)."""

    call_id: str
    kind: ToolKind
    name: str = ""
    input: str = ""
    """Code for ``code_interpreter``, the JSON arguments for ``function``."""
    output: str = ""
    """Logs for ``code_interpreter``, the submitted output for ``function``."""
    images: tuple[str, ...] = ()
    results: tuple[FileSearchResult, ...] = ()


@dataclass(frozen=True, slots=True)
class RunStepInfo:
    """One step of a run: tool calls, or the creation of a message."""

    id: str
    run_id: str
    type: str
    """``tool_calls`` or ``message_creation``."""
    status: str
    created_at: float = 0.0
    ended_at: float | None = None
    """When the step completed, failed, was cancelled or expired."""
    message_id: str = ""
    """The message a ``message_creation`` step wrote."""
    tool_calls: tuple[ToolCallInfo, ...] = ()
    error_message: str = ""


@dataclass(frozen=True, slots=True)
class FileInfo:
    """A file stored on the endpoint."""

    id: str
    filename: str = ""
    bytes: int = 0
    purpose: str = ""
    created_at: float = 0.0


@dataclass(frozen=True, slots=True)
class ThreadInfo:
    """A thread as the endpoint describes it."""

    id: str
    created_at: float = 0.0
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AssistantSettings:
    """Everything an assistant editor shows and sends back (issue 5)."""

    id: str
    name: str
    model: str
    instructions: str = ""
    tools: tuple[dict, ...] = ()
    """Tool definitions as the API takes them (``{"type": "function", "function": {...}}``)."""
    temperature: float | None = None


@runtime_checkable
class Engine(Protocol):
    """A wire API, as the app uses it."""

    label: str
    """A short description of the endpoint for the header, e.g. ``api.example.com``."""
    kind: str
    """The engine's entry in ``engines.ENGINE_KINDS``: ``assistants``, ``responses``."""
    api_name: str
    """The wire API by name, for people: ``Assistants API``, ``Responses API``."""

    async def check(self) -> None:
        """Probe the endpoint once; raise an ``EngineError`` subclass if it cannot be used."""
        ...

    async def list_assistants(self, limit: int = 100) -> list[AssistantInfo]:
        """The endpoint's assistants, newest first."""
        ...

    async def retrieve_assistant(self, assistant_id: str) -> AssistantInfo: ...

    async def create_assistant(
        self,
        *,
        name: str,
        model: str,
        instructions: str = "",
        tools: Sequence[dict] = (),
    ) -> AssistantInfo: ...

    async def create_thread(self) -> str:
        """Create an empty thread and return its id."""
        ...

    async def list_messages(
        self, thread_id: str, *, limit: int = 50, before_id: str | None = None
    ) -> MessagePage:
        """The newest ``limit`` messages older than ``before_id`` (or the newest overall)."""
        ...

    def run(
        self,
        thread_id: str,
        assistant_id: str,
        text: str,
        *,
        additional_instructions: str | None = None,
        attachments: Sequence[dict] = (),
        tools: Sequence[dict] | None = None,
    ) -> AsyncIterator[RunEvent]:
        """Add the user's message and start a run in one request, streaming its events.

        ``attachments`` go with the message: ``{"file_id": ..., "tools": [{"type": ...}]}``.
        ``tools``, when given, are the run's tools: they replace the assistant's for this
        run only (the caller includes the assistant's own tools it wants to keep).
        With no ``text`` and no attachments no message is added: the run answers the
        thread as it is (retrying a run that failed). Run creation is never retried.
        Raises ``ActiveRunError`` when the thread already has an active run, and
        ``ServerError`` (HTTP 5xx) or ``EndpointUnreachable`` when it is unknown whether
        the run was created.
        """
        ...

    def submit_tool_outputs(
        self, thread_id: str, run_id: str, outputs: Sequence[ToolOutput]
    ) -> AsyncIterator[RunEvent]:
        """Submit all outputs for a paused run in one request and stream what follows."""
        ...

    async def cancel_run(self, thread_id: str, run_id: str) -> None:
        """Ask the endpoint to cancel a run (best effort)."""
        ...

    async def retrieve_run(self, thread_id: str, run_id: str) -> RunInfo: ...

    async def latest_run(self, thread_id: str) -> RunInfo | None:
        """The thread's newest run, if any."""
        ...

    async def aclose(self) -> None:
        """Release the HTTP client."""
        ...

    # -- tools and files (issue 4) ---------------------------------------------------

    async def list_runs(self, thread_id: str, *, limit: int = 20) -> list[RunInfo]:
        """The thread's newest ``limit`` runs, oldest first.

        Raises ``NotSupportedError`` when the endpoint does not list runs."""
        ...

    async def list_run_steps(self, thread_id: str, run_id: str) -> list[RunStepInfo]:
        """A run's steps, oldest first.

        Raises ``NotSupportedError`` when the endpoint does not serve run steps."""
        ...

    async def upload_file(self, path: str, *, purpose: str = "assistants") -> FileInfo:
        """Upload a local file (``files.create``)."""
        ...

    async def retrieve_file(self, file_id: str) -> FileInfo:
        """A file's metadata (its name, size)."""
        ...

    async def download_file(self, file_id: str, dest: str) -> str:
        """Write a file's content (``files.content``) to the path ``dest``; return it."""
        ...

    # -- threads and assistants (issue 5) --------------------------------------------

    async def retrieve_thread(self, thread_id: str) -> ThreadInfo:
        """The thread, or ``NotFoundError`` if the endpoint does not have it."""
        ...

    async def delete_thread(self, thread_id: str) -> None:
        """Delete the thread on the endpoint (``NotFoundError`` if it is already gone)."""
        ...

    async def assistant_settings(self, assistant_id: str) -> AssistantSettings:
        """An assistant's editable settings, tool definitions included."""
        ...

    async def update_assistant(
        self,
        assistant_id: str,
        *,
        name: str,
        model: str,
        instructions: str = "",
        tools: Sequence[dict] = (),
        temperature: float | None = None,
    ) -> AssistantInfo:
        """Replace an assistant's settings; ``temperature=None`` leaves it unchanged."""
        ...

    async def delete_assistant(self, assistant_id: str) -> None:
        """Delete an assistant (``NotFoundError`` if it is already gone)."""
        ...
