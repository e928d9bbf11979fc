"""Pluggable models for the local server.

A model turns a run's context (the thread's messages, the instructions, the tools, the
files) into output. It is an async iterator so that text can be streamed piece by piece:

* a ``str`` is a piece of the assistant's reply (the server sends each piece as one
  ``thread.message.delta`` event and counts its tokens as completion tokens);
* ``Annotated`` is a piece of text with an annotation: a ``file_citation`` (a passage a
  file search found) or a ``file_path`` (a file the code interpreter wrote);
* ``ImageFile`` puts an image (a stored file) into the reply, as an ``image_file`` block;
* ``CodeInterpreterCall`` runs code with the server's ``code_interpreter``: the server
  records a ``tool_calls`` run step, streams the code as input deltas, runs it (see
  ``sandbox``), stores images and files it wrote, and puts the outcome in the call's
  ``result`` before the model is asked for its next output;
* ``FileSearchCall`` searches the files the run may search (see ``RunContext.files``)
  with the server's ``file_search``; the passages found are in the call's ``results``
  when the model resumes;
* a ``FunctionCall`` asks the client to run a function. After yielding one or more calls
  the model should stop; the run then pauses in ``requires_action``. When the client has
  submitted the outputs, the model is called again with the same thread and the calls
  with their outputs in ``RunContext.tool_results``, and continues from there.

The executor rejects output types it does not know. ``DemoModel`` uses all of them; its
triggers are described in ``demo_tools``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from tui_assistant.server.demo import demo_reply, is_long_request, long_document
from tui_assistant.server.sandbox import CodeResult

TOKEN_RE = re.compile(r"\S+\s*|\s+")
"""What the local server calls a token: a word with its trailing whitespace."""

_YIELD_EVERY = 32
"""With no delay, give the event loop a turn after this many tokens."""


def tokenize(text: str) -> list[str]:
    """Split ``text`` into tokens; joining them gives ``text`` back."""
    return TOKEN_RE.findall(text)


def count_tokens(text: str) -> int:
    """The number of tokens in ``text``."""
    return len(TOKEN_RE.findall(text))


@dataclass(frozen=True, slots=True)
class ContextMessage:
    """One message of the thread, reduced to its text."""

    role: str
    """``user`` or ``assistant``."""
    text: str


@dataclass(frozen=True, slots=True)
class RunFile:
    """A stored file the run's tools may use."""

    file_id: str
    filename: str
    tools: frozenset[str]
    """``code_interpreter`` and/or ``file_search``."""


@dataclass(frozen=True, slots=True)
class FunctionCall:
    """A request, yielded by a model, that the client run a function."""

    name: str
    arguments: str = "{}"
    """The arguments as a JSON text."""
    call_id: str = ""
    """The call's id as the model gave it; empty to let the server make one."""


@dataclass(frozen=True, slots=True)
class Annotated:
    """A piece of reply text with an annotation over all of it."""

    text: str
    """The text, e.g. ``【4:0†source】`` or ``sandbox:/mnt/data/table.csv``."""
    kind: str
    """``file_citation`` or ``file_path``."""
    file_id: str


@dataclass(frozen=True, slots=True)
class ImageFile:
    """An image block in the reply, showing a stored file."""

    file_id: str


@dataclass(eq=False, slots=True)
class CodeInterpreterCall:
    """Run ``code`` with the code interpreter; the server fills in ``result``."""

    code: str
    pace: float = 0.0
    """Seconds to wait after each token of the code while it is streamed as input."""
    result: CodeResult | None = None
    images: list[str] = field(default_factory=list)
    """File ids of the PNG images the code wrote (set with ``result``)."""
    files: list[tuple[str, str]] = field(default_factory=list)
    """(name, file id) of the other files the code wrote (set with ``result``)."""


@dataclass(frozen=True, slots=True)
class SearchResult:
    file_id: str
    file_name: str
    score: float
    text: str


@dataclass(eq=False, slots=True)
class FileSearchCall:
    """Search the run's files for ``query``; the server fills in ``results``."""

    query: str
    results: list[SearchResult] = field(default_factory=list)
    searched: int = 0
    """How many files were searched (set with ``results``)."""
    number: int = 0
    """The position of the search's step in the run, for citation marks like ``【n:i†source】``."""


@dataclass(frozen=True, slots=True)
class ToolResult:
    """A function call made earlier in the current run, with the output the client sent."""

    call_id: str
    name: str
    arguments: str
    output: str


@dataclass(frozen=True, slots=True)
class RunContext:
    """Everything a model may look at when it produces a reply."""

    run_id: str
    thread_id: str
    assistant_id: str
    model: str
    """The model name the run asked for (any name is accepted)."""
    instructions: str
    messages: tuple[ContextMessage, ...]
    """The thread's messages, oldest first (after any truncation)."""
    tools: tuple[dict, ...] = ()
    """The tool definitions of the run, as sent on the wire."""
    tool_results: tuple[ToolResult, ...] = field(default=())
    """Function calls of this run whose outputs have been submitted, in order."""
    files: tuple[RunFile, ...] = ()
    """Files the run's tools may use: attachments of the thread's messages and the files
    of the assistant's and the thread's ``tool_resources``."""
    tool_choice: object = "auto"
    parallel_tool_calls: bool = True
    truncation: str = "auto"
    """The run's ``truncation_strategy`` type: ``auto`` or ``last_messages``."""
    max_prompt_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    response_format: object = "auto"
    """The run's ``response_format``: ``auto`` or ``{"type": "json_object" | ...}``."""

    @property
    def last_user_text(self) -> str:
        for message in reversed(self.messages):
            if message.role == "user":
                return message.text
        return ""

    def files_for(self, tool: str) -> tuple[RunFile, ...]:
        return tuple(f for f in self.files if tool in f.tools)

    def tool_enabled(self, kind: str) -> bool:
        """Whether the model may use a tool of this kind in this run.

        A kind is enabled when the run's tools include it or a file is attached for it
        (as OpenAI did for attachments); ``tool_choice`` ``"none"`` disables every tool,
        and a named ``tool_choice`` every other kind.
        """
        choice = self.tool_choice
        if choice == "none":
            return False
        if isinstance(choice, dict) and choice.get("type") != kind:
            return False
        if any(tool.get("type") == kind for tool in self.tools):
            return True
        return bool(self.files_for(kind))


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens one call of an upstream model used; the run's usage becomes their sum."""

    prompt_tokens: int
    completion_tokens: int
    estimated: bool = False
    """True when the upstream did not report usage and the numbers are estimates."""


@dataclass(frozen=True, slots=True)
class Incomplete:
    """Ends the run as ``incomplete`` with ``reason`` (the model must stop after it)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Notice:
    """A remark about the run for the log (e.g. how many messages were left out)."""

    text: str
    left_out: int = 0
    """Messages of the thread left out of the model's context to fit its window; the
    server reports the count as ``truncation_strategy.left_out`` on the run."""


class ModelError(Exception):
    """A failure the run reports as ``failed`` with this ``code`` and plain ``message``.

    ``code`` is one of the run's ``last_error`` codes: ``server_error``,
    ``rate_limit_exceeded`` or ``invalid_prompt``.
    """

    def __init__(self, message: str, code: str = "server_error") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


ModelOutput = (
    str
    | Annotated
    | ImageFile
    | FunctionCall
    | CodeInterpreterCall
    | FileSearchCall
    | Usage
    | Incomplete
    | Notice
)
"""What a model may yield."""


@runtime_checkable
class Model(Protocol):
    """Produces the assistant's side of a run."""

    def respond(self, context: RunContext) -> AsyncIterator[ModelOutput]:
        """Yield reply text in pieces (and, optionally, function calls), then return."""
        ...


async def stream_tokens(text: str, token_delay: float = 0.0) -> AsyncIterator[str]:
    """Yield ``text`` token by token, waiting ``token_delay`` seconds after each token.

    With no delay the loop still gets a turn every few tokens, so other requests (a
    cancel, another thread's run) are served while a long reply streams.
    """
    count = 0
    for match in TOKEN_RE.finditer(text):
        yield match.group()
        if token_delay > 0:
            await asyncio.sleep(token_delay)
        else:
            count += 1
            if count % _YIELD_EVERY == 0:
                await asyncio.sleep(0)


class DemoModel:
    """The offline demo model: a deterministic Markdown reply built from the user's words.

    A user message starting with ``/long`` gets a fixed document of about 4,000 tokens
    (paragraphs, lists and three fenced code blocks) instead. ``/call`` lines, fenced
    Python blocks and questions about attached files make it use tools; see
    ``demo_tools`` for the exact triggers.
    """

    def __init__(self, token_delay: float = 0.0) -> None:
        self.token_delay = token_delay

    def reply_for(self, user_text: str) -> str:
        """The whole reply the model gives to ``user_text`` when it uses no tool."""
        if is_long_request(user_text):
            return long_document()
        return demo_reply(user_text)

    def respond(self, context: RunContext) -> AsyncIterator[ModelOutput]:
        from tui_assistant.server.demo_tools import demo_respond

        return demo_respond(context, self.token_delay)


class ScriptedModel:
    """Streams a fixed text (or a sequence of texts, one per run) with the demo tokenisation."""

    def __init__(self, text: str | Iterable[str], token_delay: float = 0.0) -> None:
        self.texts = [text] if isinstance(text, str) else list(text)
        if not self.texts:
            raise ValueError("ScriptedModel needs at least one text")
        self.token_delay = token_delay
        self.calls = 0

    def respond(self, context: RunContext) -> AsyncIterator[ModelOutput]:
        text = self.texts[min(self.calls, len(self.texts) - 1)]
        self.calls += 1
        return stream_tokens(text, self.token_delay)
