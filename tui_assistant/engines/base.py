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

from tui_assistant.events import FunctionCall, RunEvent, ToolOutput, Usage


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


@runtime_checkable
class Engine(Protocol):
    """A wire API, as the app uses it."""

    label: str
    """A short description of the endpoint for the header, e.g. ``api.example.com``."""

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
    ) -> AsyncIterator[RunEvent]:
        """Add the user's message and start a run in one request, streaming its events.

        Raises ``ActiveRunError`` when the thread already has an active run.
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
