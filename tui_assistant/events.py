"""The run-event vocabulary shared by every engine.

An engine turns its wire stream into these plain, immutable objects; the session loop and
the UI consume nothing else. A new wire API is a new engine module that yields these
events, never a change to the UI.

Ordering guarantees every engine keeps:

* ``RunStarted`` comes first in a run's first stream (a continuation stream after tool
  outputs starts with ``RunStatusChanged`` instead).
* ``TextDelta`` for a message comes after its ``MessageStarted`` and before its
  ``MessageCompleted``; the completed text is the authoritative text.
* A stream ends with exactly one of ``ActionRequired`` (the run is paused, waiting for
  tool outputs), ``RunCompleted`` or ``RunFailed``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ToolKind = Literal["function", "code_interpreter", "file_search", "reasoning"]
"""The kinds of tool call the Assistants model knows, plus ``reasoning``: a reasoning
summary (Responses engine), shown in the tool pane like a call with only an output."""

TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled", "expired", "incomplete"})
"""Run statuses after which nothing more happens to a run."""


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of a finished run."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    estimated: bool = False
    """The server estimated the counts (its model's endpoint reported none)."""
    cached_tokens: int = 0
    """Of ``prompt_tokens``, how many came from the prompt cache (when the API says)."""
    reasoning_tokens: int = 0
    """Of ``completion_tokens``, how many were spent reasoning (when the API says)."""


@dataclass(frozen=True, slots=True)
class Annotation:
    """A span of message text that refers to a file (a citation or a generated file)."""

    kind: Literal["file_citation", "file_path"]
    text: str
    start_index: int
    end_index: int
    file_id: str
    filename: str = ""
    """The file's name where the wire API gives it with the annotation (Responses)."""


@dataclass(frozen=True, slots=True)
class RunStarted:
    """A run was created on the server."""

    run_id: str
    thread_id: str
    assistant_id: str
    model: str = ""
    created_at: float = 0.0
    expires_at: float | None = None


@dataclass(frozen=True, slots=True)
class RunStatusChanged:
    """The run moved to another status (queued, in_progress, cancelling, ...)."""

    run_id: str
    status: str


@dataclass(frozen=True, slots=True)
class MessageStarted:
    """The assistant began a message."""

    message_id: str
    role: str = "assistant"


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of message text, in order."""

    message_id: str
    text: str


@dataclass(frozen=True, slots=True)
class MessageCompleted:
    """A message is finished; ``text`` is its whole text."""

    message_id: str
    text: str
    annotations: tuple[Annotation, ...] = ()
    status: str = "completed"
    images: tuple[str, ...] = ()
    """File ids of the message's ``image_file`` content blocks, in order."""


@dataclass(frozen=True, slots=True)
class ToolCallStarted:
    """A tool call appeared in a run step."""

    call_id: str
    kind: ToolKind
    name: str = ""
    step_id: str = ""


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A piece of a tool call's input (code, arguments) or output (logs)."""

    call_id: str
    kind: ToolKind
    input: str = ""
    output: str = ""
    images: tuple[str, ...] = ()
    """File ids of images that appeared in this piece of output."""


@dataclass(frozen=True, slots=True)
class FileSearchResult:
    """One file a ``file_search`` call found, with its relevance score (0-1)."""

    file_id: str
    file_name: str = ""
    score: float | None = None


@dataclass(frozen=True, slots=True)
class ToolCallCompleted:
    """A tool call finished; ``output`` is what it produced, as text."""

    call_id: str
    kind: ToolKind
    name: str = ""
    input: str = ""
    output: str = ""
    images: tuple[str, ...] = ()
    """File ids of images the call produced."""
    results: tuple[FileSearchResult, ...] = ()
    """What a ``file_search`` call found (when the endpoint reports it)."""
    status: str = "completed"
    """The status of the call's step: ``completed``, ``failed``, ``cancelled``, ``expired``."""


@dataclass(frozen=True, slots=True)
class FunctionCall:
    """One function the run asks the client to execute."""

    call_id: str
    name: str
    arguments: str
    """The arguments as the model wrote them: a JSON text, possibly malformed."""


@dataclass(frozen=True, slots=True)
class ActionRequired:
    """The run is paused until outputs for all ``calls`` are submitted in one request."""

    run_id: str
    thread_id: str
    calls: tuple[FunctionCall, ...]
    expires_at: float | None = None


@dataclass(frozen=True, slots=True)
class ToolOutput:
    """The output submitted for one function call."""

    call_id: str
    output: str


@dataclass(frozen=True, slots=True)
class RunCompleted:
    """The run ended without an error (completed, cancelled or incomplete)."""

    run_id: str
    status: str = "completed"
    usage: Usage | None = None
    reason: str = ""
    """Why an incomplete run stopped early (for example ``max_completion_tokens``)."""
    left_out: int = 0
    """Earlier messages the built-in server left out to fit its model's context window."""


@dataclass(frozen=True, slots=True)
class RunFailed:
    """The run (or its stream) ended in an error: failed, expired, or an error event."""

    run_id: str
    status: str = "failed"
    code: str = ""
    message: str = ""


RunEvent = (
    RunStarted
    | RunStatusChanged
    | MessageStarted
    | TextDelta
    | MessageCompleted
    | ToolCallStarted
    | ToolCallDelta
    | ToolCallCompleted
    | ActionRequired
    | RunCompleted
    | RunFailed
)
"""Any event an engine yields."""
