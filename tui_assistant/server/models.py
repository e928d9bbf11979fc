"""Pluggable models for the local server.

A model turns a run's context (the thread's messages, the instructions, the tools) into
output. It is an async iterator so that text can be streamed piece by piece:

* a ``str`` is a piece of the assistant's reply (the server sends each piece as one
  ``thread.message.delta`` event and counts its tokens as completion tokens);
* a ``FunctionCall`` asks the client to run a function. After yielding one or more calls
  the model should stop; the run then pauses in ``requires_action``. When the client has
  submitted the outputs, the model is called again with the same thread and the calls
  with their outputs in ``RunContext.tool_results``, and continues from there.

Later tool kinds (code interpreter, file search) are meant to become further output
types next to ``FunctionCall``; the executor rejects output types it does not know.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from tui_assistant.server.demo import demo_reply, is_long_request, long_document

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
class FunctionCall:
    """A request, yielded by a model, that the client run a function."""

    name: str
    arguments: str = "{}"
    """The arguments as a JSON text."""


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

    @property
    def last_user_text(self) -> str:
        for message in reversed(self.messages):
            if message.role == "user":
                return message.text
        return ""


ModelOutput = str | FunctionCall
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
    (paragraphs, lists and three fenced code blocks) instead.
    """

    def __init__(self, token_delay: float = 0.0) -> None:
        self.token_delay = token_delay

    def reply_for(self, user_text: str) -> str:
        """The whole reply the model gives to ``user_text``."""
        if is_long_request(user_text):
            return long_document()
        return demo_reply(user_text)

    def respond(self, context: RunContext) -> AsyncIterator[ModelOutput]:
        return stream_tokens(self.reply_for(context.last_user_text), self.token_delay)


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
