"""The Responses + Conversations wire API, through ``openai.AsyncOpenAI``.

``ResponsesEngine`` implements ``engines.base.Engine`` on OpenAI's current API:

* a **thread** is a Conversation (``conversations.create``); its history is
  ``conversations.items.list``, paged, reduced to the same ``ThreadMessage`` objects the
  Assistants engine returns (message items only);
* a **run** is a chain of responses. The first response is created with ``conversation``,
  ``stream``, ``background`` and ``store``; its id is the run id callers see for the whole
  turn. When it completes with ``function_call`` items the engine yields
  ``ActionRequired``; ``submit_tool_outputs`` creates the next response of the chain on the
  same conversation with ``function_call_output`` items only (never ``previous_response_id``,
  never the call items again). ``cancel_run`` and ``retrieve_run`` act on the chain's
  current response;
* **assistants** are not kept by the API: they live in an assistant book (``assistants=``,
  for example ``Store.local_assistants(endpoint)``; an in-memory one by default). Each
  request sends the assistant's ``model``, ``instructions``, ``tools`` (Responses shape:
  flat function tools with ``strict: false``) and ``temperature``.

Streams are read as JSON (``engines.sse``) and dispatched on each event's ``type``; unknown
types are ignored. A stream that breaks off is resumed where it stopped
(``GET /responses/{id}?stream=true&starting_after=N``), so a reply's text is shown once,
nothing repeated or lost; events at or before the last ``sequence_number`` seen are
dropped. A stream that ends without a terminal event (after a cancel there is no
``response.cancelled`` event) is settled by retrieving the response. Only when resuming
fails does the engine raise ``StreamInterrupted``, and the session then polls
``retrieve_run``.

Hosted tools: ``code_interpreter`` with ``container: {"type": "auto"}`` and its outputs
included; ``file_search`` over a vector store made for the conversation on its first
file-search attachment (its id is kept in the conversation's metadata). Reasoning
summaries are reported as tool calls of kind ``reasoning``. Usage (with cached and
reasoning tokens) is summed over a run's responses and reported on ``RunCompleted``.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import openai

from tui_assistant import events as ev
from tui_assistant.engines.assistants import (
    STREAM_SILENCE,
    EndpointClients,
    _connection_reason,
    _retry_after,
    _server_message,
    _write_atomically,
)
from tui_assistant.engines.base import (
    AssistantInfo,
    AssistantSettings,
    FileInfo,
    MessagePage,
    RunInfo,
    RunStepInfo,
    ThreadInfo,
    ThreadMessage,
)
from tui_assistant.engines.sse import RawEventStream
from tui_assistant.errors import (
    ActiveRunError,
    AuthError,
    EndpointUnreachable,
    EngineError,
    NotFoundError,
    NotServedError,
    NotSupportedError,
    RateLimitedError,
    ServerError,
    StreamInterrupted,
)

__all__ = [
    "AssistantBook",
    "MemoryAssistants",
    "ResponsesEngine",
    "responses_tools",
]

MAX_RESUMES = 5
"""Times one stream is resumed after breaking off before the session takes over."""
VECTOR_STORE_KEY = "tui_vector_store"
"""The conversation metadata key that names the conversation's vector store."""
CANCELLED_OUTPUT = json.dumps({"error": "The run was cancelled before this call was answered."})
DANGLING_OUTPUT = json.dumps({"error": "This call was interrupted and never answered."})

_ACTIVE = re.compile(
    r"already has an active|in progress|currently (being )?(processed|running|operating)"
    r"|already running",
    re.I,
)
_LOCKED_CODES = {"conversation_locked", "conversation_already_has_active_response"}
"""OpenAI's codes for "another response is working on this conversation" (HTTP 400:
"Another process is currently operating on this conversation. Please retry in a few
seconds.")."""
_MODEL = re.compile(r"\bmodel\b", re.I)
_TERMINAL = {"completed", "failed", "cancelled", "incomplete"}


# --------------------------------------------------------------------------- assistants


class AssistantBook(Protocol):
    """Where this engine's assistants are kept (``store.LocalAssistantBook`` fits).

    Items have ``id``, ``name``, ``model``, ``instructions``, ``tools`` (dicts) and
    ``temperature``; ``save`` takes an ``AssistantSettings``-like object."""

    def list(self) -> list[Any]: ...

    def get(self, assistant_id: str) -> Any | None: ...

    def save(self, assistant: Any) -> Any: ...

    def delete(self, assistant_id: str) -> bool: ...


class MemoryAssistants:
    """An assistant book kept in memory (tests, and when no store is given)."""

    def __init__(self, assistants: Sequence[Any] = ()) -> None:
        self._items: dict[str, Any] = {a.id: a for a in assistants}

    def list(self) -> list[Any]:
        return list(reversed(self._items.values()))

    def get(self, assistant_id: str) -> Any | None:
        return self._items.get(assistant_id)

    def save(self, assistant: Any) -> Any:
        self._items.pop(assistant.id, None)
        self._items[assistant.id] = assistant
        return assistant

    def delete(self, assistant_id: str) -> bool:
        return self._items.pop(assistant_id, None) is not None


def _settings(found: Any) -> AssistantSettings:
    temperature = getattr(found, "temperature", None)
    return AssistantSettings(
        id=str(found.id),
        name=str(getattr(found, "name", "") or ""),
        model=str(getattr(found, "model", "") or ""),
        instructions=str(getattr(found, "instructions", "") or ""),
        tools=tuple(dict(t) for t in getattr(found, "tools", ()) or () if isinstance(t, dict)),
        temperature=float(temperature) if isinstance(temperature, int | float) else None,
    )


def _info(settings: AssistantSettings) -> AssistantInfo:
    return AssistantInfo(
        id=settings.id,
        name=settings.name,
        model=settings.model,
        instructions=settings.instructions,
        tools=tuple(str(t.get("type", "")) for t in settings.tools),
        function_names=tuple(_function_name(t) for t in settings.tools if _is_function(t)),
    )


def _is_function(tool: dict) -> bool:
    return tool.get("type") == "function"


def _function_name(tool: dict) -> str:
    nested = tool.get("function")
    return str((nested if isinstance(nested, dict) else tool).get("name", ""))


def responses_tools(
    tools: Sequence[dict],
    *,
    vector_store_id: str = "",
    container_files: Sequence[str] = (),
) -> list[dict]:
    """An assistant's tools in the Responses shape.

    Function tools are flattened (``{"type": "function", "name", "description",
    "parameters", "strict": false}``); ``code_interpreter`` gets an automatic container
    (with ``container_files``); ``file_search`` is sent only with a vector store. A
    ``code_interpreter`` or ``file_search`` tool is added when files need it."""
    out: list[dict] = []
    kinds = set()
    for tool in tools:
        kind = tool.get("type")
        if kind == "function":
            nested = tool.get("function") if isinstance(tool.get("function"), dict) else tool
            flat: dict[str, Any] = {"type": "function", "name": str(nested.get("name", ""))}
            if nested.get("description"):
                flat["description"] = str(nested["description"])
            flat["parameters"] = nested.get("parameters") or {"type": "object", "properties": {}}
            flat["strict"] = bool(nested.get("strict", False))
            out.append(flat)
        elif kind in ("code_interpreter", "file_search"):
            kinds.add(kind)
    if "code_interpreter" in kinds or container_files:
        container: dict[str, Any] = {"type": "auto"}
        if container_files:
            container["file_ids"] = list(dict.fromkeys(container_files))
        out.append({"type": "code_interpreter", "container": container})
    if vector_store_id:
        out.append({"type": "file_search", "vector_store_ids": [vector_store_id]})
    return out


# --------------------------------------------------------------------------- reading objects


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, dict):
        value = obj.get(name)
    else:
        value = getattr(obj, name, None) if obj is not None else None
    return default if value is None else value


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _float(value: Any) -> float:
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        return 0.0


def _dump(obj: Any) -> Any:
    """An SDK model as plain JSON data (dicts pass through)."""
    dump = getattr(obj, "model_dump", None)
    return dump(mode="json") if callable(dump) else obj


def _usage(obj: Any) -> ev.Usage | None:
    if not obj:
        return None
    return ev.Usage(
        prompt_tokens=_int(_get(obj, "input_tokens")),
        completion_tokens=_int(_get(obj, "output_tokens")),
        total_tokens=_int(_get(obj, "total_tokens")),
        cached_tokens=_int(_get(_get(obj, "input_tokens_details"), "cached_tokens")),
        reasoning_tokens=_int(_get(_get(obj, "output_tokens_details"), "reasoning_tokens")),
    )


def _add_usage(a: ev.Usage | None, b: ev.Usage | None) -> ev.Usage | None:
    if a is None or b is None:
        return a or b
    return ev.Usage(
        prompt_tokens=a.prompt_tokens + b.prompt_tokens,
        completion_tokens=a.completion_tokens + b.completion_tokens,
        total_tokens=a.total_tokens + b.total_tokens,
        cached_tokens=a.cached_tokens + b.cached_tokens,
        reasoning_tokens=a.reasoning_tokens + b.reasoning_tokens,
    )


def _annotations(raw: Any, offset: int, text: str) -> list[ev.Annotation]:
    found = []
    for item in raw or ():
        kind = _get(item, "type")
        if kind == "file_citation":
            index = _int(_get(item, "index")) + offset
            found.append(
                ev.Annotation("file_citation", "", index, index, _str(_get(item, "file_id")),
                              _str(_get(item, "filename")))
            )
        elif kind == "container_file_citation":
            start = _int(_get(item, "start_index"))
            end = _int(_get(item, "end_index"))
            file_id = f"{_str(_get(item, 'container_id'))}/{_str(_get(item, 'file_id'))}"
            found.append(
                ev.Annotation("file_path", text[start:end], start + offset, end + offset, file_id,
                              _str(_get(item, "filename")))
            )
    return found


def item_text(item: Any) -> tuple[str, tuple[ev.Annotation, ...]]:
    """The display text of a ``message`` item's content parts, and its annotations."""
    parts: list[str] = []
    annotations: list[ev.Annotation] = []
    offset = 0
    for part in _get(item, "content", ()) or ():
        kind = _get(part, "type")
        raw: Any = ()
        if kind in ("output_text", "input_text", "text"):
            piece = _str(_get(part, "text"))
            raw = _get(part, "annotations", ())
        elif kind == "refusal":
            piece = _str(_get(part, "refusal"))
        elif kind == "input_image":
            piece = f"[image: {_str(_get(part, 'file_id')) or _str(_get(part, 'image_url'))}]"
        elif kind == "input_file":
            piece = f"[file: {_str(_get(part, 'filename')) or _str(_get(part, 'file_id'))}]"
        else:
            continue
        if parts:
            offset += 2
        annotations.extend(_annotations(raw, offset, piece))
        parts.append(piece)
        offset += len(piece)
    return "\n\n".join(parts), tuple(annotations)


def _ci_outputs(item: Any) -> tuple[str, tuple[str, ...]]:
    logs, images = [], []
    for out in _get(item, "outputs", ()) or ():
        if _get(out, "type") == "logs":
            logs.append(_str(_get(out, "logs")))
        elif _get(out, "type") == "image" and _get(out, "url"):
            images.append(_str(_get(out, "url")))
    return "".join(logs), tuple(images)


def _search_results(item: Any) -> tuple[ev.FileSearchResult, ...]:
    found = []
    for result in _get(item, "results", ()) or ():
        score = _get(result, "score")
        found.append(
            ev.FileSearchResult(
                file_id=_str(_get(result, "file_id")),
                file_name=_str(_get(result, "filename")),
                score=float(score) if isinstance(score, int | float) else None,
            )
        )
    return tuple(found)


def _search_summary(item: Any) -> tuple[str, str]:
    queries = "\n".join(_str(q) for q in _get(item, "queries", ()) or ())
    lines = []
    for result in _search_results(item):
        name = result.file_name or result.file_id
        lines.append(f"{name} ({result.score:.2f})" if result.score is not None else name)
    return queries, "\n".join(lines)


def _reasoning_text(item: Any) -> str:
    return "\n\n".join(
        _str(_get(part, "text")) for part in _get(item, "summary", ()) or () if _get(part, "text")
    )


def _function_calls(output: Any) -> tuple[ev.FunctionCall, ...]:
    return tuple(
        ev.FunctionCall(
            call_id=_str(_get(item, "call_id")),
            name=_str(_get(item, "name")),
            arguments=_str(_get(item, "arguments")),
        )
        for item in output or ()
        if _get(item, "type") == "function_call"
    )


def _unknown_path(exc: openai.APIStatusError) -> bool:
    """Whether a 404 says the path is unknown (rather than an object missing)."""
    if not isinstance(exc.body, dict):
        return True
    message = _server_message(exc).strip().lower()
    return message.startswith("invalid url") or message in ("", "not found", "404 page not found")


# --------------------------------------------------------------------------- run state


@dataclass(slots=True)
class _Chain:
    """One run: the responses of a user turn, first to current."""

    run_id: str
    thread_id: str
    assistant_id: str = ""
    current: str = ""
    created_at: float = 0.0
    usage: ev.Usage | None = None
    counted: set[str] = field(default_factory=set)
    answered: set[str] = field(default_factory=set)
    pending: tuple[ev.FunctionCall, ...] = ()
    """The calls the run last paused for."""
    cancelled: bool = False

    def count(self, response_id: str, usage: ev.Usage | None) -> None:
        if usage is not None and response_id not in self.counted:
            self.counted.add(response_id)
            self.usage = _add_usage(self.usage, usage)


@dataclass(slots=True)
class _Call:
    call_id: str
    kind: ev.ToolKind
    name: str = ""
    input: str = ""
    output: str = ""


class _Mapper:
    """Maps the events of one response (across resumed streams) onto ``events``."""

    def __init__(
        self,
        engine: ResponsesEngine,
        thread_id: str,
        assistant_id: str,
        chain: _Chain | None = None,
        answered: Sequence[ev.ToolOutput] = (),
        calls: Sequence[ev.FunctionCall] = (),
    ) -> None:
        self.engine = engine
        self.thread_id = thread_id
        self.assistant_id = assistant_id
        self.chain = chain
        self.answered = list(answered)
        self.answered_calls = {c.call_id: c for c in calls}
        self.response_id = ""
        self.last_seq = -1
        self.finished: ev.RunEvent | None = None
        self.started: set[str] = set()
        self.completed: set[str] = set()
        self.texts: dict[str, list[str]] = {}
        """Each message's deltas so far (joined once, if its final item has no text)."""
        self.calls: dict[str, _Call] = {}
        self.item_calls: dict[str, str] = {}

    @property
    def run_id(self) -> str:
        return self.chain.run_id if self.chain else self.response_id

    # -- items -----------------------------------------------------------------------

    def _start_message(self, item_id: str) -> Iterator[ev.RunEvent]:
        if item_id and item_id not in self.started:
            self.started.add(item_id)
            self.engine._item_runs[item_id] = self.run_id
            yield ev.MessageStarted(message_id=item_id, role="assistant")

    def _start_call(self, call_id: str, kind: ev.ToolKind, name: str = "") -> Iterator[ev.RunEvent]:
        if call_id and call_id not in self.calls:
            self.calls[call_id] = _Call(call_id, kind, name)
            yield ev.ToolCallStarted(call_id=call_id, kind=kind, name=name)

    def _item_added(self, item: Any) -> Iterator[ev.RunEvent]:
        kind = _get(item, "type")
        item_id = _str(_get(item, "id"))
        if kind == "message":
            yield from self._start_message(item_id)
        elif kind == "function_call":
            call_id = _str(_get(item, "call_id")) or item_id
            self.item_calls[item_id] = call_id
            yield from self._start_call(call_id, "function", _str(_get(item, "name")))
        elif kind == "code_interpreter_call":
            yield from self._start_call(item_id, "code_interpreter")
        elif kind == "file_search_call":
            yield from self._start_call(item_id, "file_search")

    def _item_done(self, item: Any) -> Iterator[ev.RunEvent]:
        kind = _get(item, "type")
        item_id = _str(_get(item, "id"))
        if kind == "message":
            if item_id in self.completed:
                return
            yield from self._start_message(item_id)
            text, annotations = item_text(item)
            self.completed.add(item_id)
            yield ev.MessageCompleted(
                message_id=item_id,
                text=text or "".join(self.texts.get(item_id, ())),
                annotations=annotations,
                status=_str(_get(item, "status")) or "completed",
            )
        elif kind == "function_call":
            call_id = _str(_get(item, "call_id")) or item_id
            self.item_calls[item_id] = call_id
            yield from self._start_call(call_id, "function", _str(_get(item, "name")))
            call = self.calls[call_id]
            call.name = call.name or _str(_get(item, "name"))
            call.input = _str(_get(item, "arguments")) or call.input
            # Completed when its output is submitted (as the Assistants engine does).
        elif kind in ("code_interpreter_call", "file_search_call"):
            tool: ev.ToolKind = (
                "code_interpreter" if kind == "code_interpreter_call" else "file_search"
            )
            yield from self._start_call(item_id, tool)
            call = self.calls[item_id]
            if call.output == "\0done":
                return
            status = _str(_get(item, "status")) or "completed"
            images: tuple[str, ...] = ()
            results: tuple[ev.FileSearchResult, ...] = ()
            if tool == "code_interpreter":
                code = _str(_get(item, "code")) or call.input
                output, images = _ci_outputs(item)
            else:
                code, output = _search_summary(item)
                results = _search_results(item)
            call.output = "\0done"
            yield ev.ToolCallCompleted(
                call_id=item_id,
                kind=tool,
                input=code,
                output=output,
                images=images,
                results=results,
                status="failed" if status in ("failed", "incomplete") else "completed",
            )
        elif kind == "reasoning":
            text = _reasoning_text(item)
            call = self.calls.get(item_id)
            if (not text and call is None) or (call is not None and call.output == "\0done"):
                return
            yield from self._start_call(item_id, "reasoning", "reasoning summary")
            self.calls[item_id].output = "\0done"
            yield ev.ToolCallCompleted(
                call_id=item_id, kind="reasoning", name="reasoning summary", output=text
            )

    def _delta(self, call_id: str, kind: ev.ToolKind, *, input: str = "", output: str = ""):
        call = self.calls.get(call_id)
        if call is None or call.output == "\0done" or not (input or output):
            return
        call.input += input
        yield ev.ToolCallDelta(call_id=call_id, kind=kind, input=input, output=output)

    # -- the response ----------------------------------------------------------------

    def _response(self, response: Any) -> None:
        response_id = _str(_get(response, "id"))
        if response_id:
            self.response_id = response_id
        if self.chain is None and self.response_id:
            self.chain = self.engine._new_chain(
                self.response_id,
                self.thread_id,
                self.assistant_id,
                _float(_get(response, "created_at")),
            )
        if self.chain is not None and self.response_id:
            self.chain.current = self.response_id
            self.engine._by_response[self.response_id] = self.chain.run_id

    def _created(self, response: Any) -> Iterator[ev.RunEvent]:
        continuation = self.chain is not None
        self._response(response)
        status = _str(_get(response, "status")) or "queued"
        if not continuation:
            assert self.chain is not None
            yield ev.RunStarted(
                run_id=self.chain.run_id,
                thread_id=self.thread_id,
                assistant_id=self.assistant_id,
                model=_str(_get(response, "model")),
                created_at=self.chain.created_at,
            )
            return
        yield ev.RunStatusChanged(run_id=self.run_id, status=status)
        for output in self.answered:
            call = self.answered_calls.get(output.call_id)
            yield ev.ToolCallCompleted(
                call_id=output.call_id,
                kind="function",
                name=call.name if call else "",
                input=call.arguments if call else "",
                output=output.output,
            )
        self.answered = []

    def settle(self, response: Any) -> Iterator[ev.RunEvent]:
        """Events for a response retrieved after its stream ended without a final event:
        the items the stream did not finish, then the final event."""
        self._response(response)
        for item in _get(response, "output", ()) or ():
            yield from self._item_added(item)
            yield from self._item_done(item)
        status = _str(_get(response, "status"))
        if status in _TERMINAL:
            yield from self._terminal(status, response)

    def _terminal(self, status: str, response: Any) -> Iterator[ev.RunEvent]:
        self._response(response)
        for item in _get(response, "output", ()) or ():  # finish what the stream left open
            if _get(item, "type") == "message" and _str(_get(item, "id")) in self.started:
                yield from self._item_done(item)
        chain = self.chain
        assert chain is not None
        chain.count(self.response_id, _usage(_get(response, "usage")))
        self.engine._latest[self.thread_id] = chain.run_id
        if status == "completed":
            every = _function_calls(_get(response, "output"))
            calls = tuple(c for c in every if c.call_id not in chain.answered)
            if every and chain.cancelled:
                status = "cancelled"
            elif calls:
                chain.pending = calls
                yield self._finish(
                    ev.ActionRequired(run_id=chain.run_id, thread_id=self.thread_id, calls=calls)
                )
                return
        if status in ("completed", "cancelled", "incomplete"):
            reason = _str(_get(_get(response, "incomplete_details"), "reason"))
            yield self._finish(
                ev.RunCompleted(
                    run_id=chain.run_id, status=status, usage=chain.usage, reason=reason
                )
            )
            return
        error = _get(response, "error")
        yield self._finish(
            ev.RunFailed(
                run_id=chain.run_id,
                status="failed",
                code=_str(_get(error, "code")),
                message=self.engine._scrub(_str(_get(error, "message"))) or "The response failed.",
            )
        )

    def _finish(self, event: ev.RunEvent) -> ev.RunEvent:
        self.finished = event
        if self.chain is not None:
            self.engine._chain_finished(self.chain, event)
        return event

    # -- dispatch --------------------------------------------------------------------

    def map(self, raw: Any) -> Iterator[ev.RunEvent]:  # noqa: C901 - one flat dispatch
        data = _get(raw, "data") if isinstance(raw, dict) and "data" in raw else raw
        if not isinstance(data, dict):
            return
        name = _str(data.get("type")) or _str(_get(raw, "event"))
        seq = data.get("sequence_number")
        if isinstance(seq, int):
            if seq <= self.last_seq:
                return  # already seen (a resumed stream may repeat)
            self.last_seq = seq
        if name == "response.created":
            yield from self._created(data.get("response"))
        elif name in ("response.queued", "response.in_progress"):
            self._response(data.get("response"))
            if self.chain is not None:
                status = _str(_get(data.get("response"), "status")) or name.rsplit(".", 1)[1]
                yield ev.RunStatusChanged(run_id=self.run_id, status=status)
        elif name in (
            "response.completed",
            "response.incomplete",
            "response.failed",
            "response.cancelled",
        ):
            response = data.get("response") or {}
            status = _str(_get(response, "status")) or name.rsplit(".", 1)[1]
            yield from self._terminal(status, response)
        elif name == "error":
            yield self._finish(
                ev.RunFailed(
                    run_id=self.run_id,
                    status="error",
                    code=_str(data.get("code")),
                    message=self.engine._scrub(_str(data.get("message")))
                    or "The endpoint reported an error.",
                )
            )
        elif name == "response.output_item.added":
            yield from self._item_added(data.get("item"))
        elif name == "response.output_item.done":
            yield from self._item_done(data.get("item"))
        elif name in ("response.output_text.delta", "response.refusal.delta"):
            item_id = _str(data.get("item_id"))
            delta = _str(data.get("delta"))
            if delta and item_id not in self.completed:
                yield from self._start_message(item_id)
                self.texts.setdefault(item_id, []).append(delta)
                yield ev.TextDelta(message_id=item_id, text=delta)
        elif name == "response.function_call_arguments.delta":
            item_id = _str(data.get("item_id"))
            call_id = self.item_calls.get(item_id, item_id)
            yield from self._delta(call_id, "function", input=_str(data.get("delta")))
        elif name == "response.code_interpreter_call_code.delta":
            yield from self._delta(
                _str(data.get("item_id")), "code_interpreter", input=_str(data.get("delta"))
            )
        elif name == "response.reasoning_summary_text.delta":
            item_id = _str(data.get("item_id"))
            delta = _str(data.get("delta"))
            if delta:
                yield from self._start_call(item_id, "reasoning", "reasoning summary")
                call = self.calls[item_id]
                if call.output != "\0done":
                    yield ev.ToolCallDelta(call_id=item_id, kind="reasoning", output=delta)
        # content parts, annotations (final ones come with the item), tool progress
        # events and every type not known here carry nothing the events need.


# --------------------------------------------------------------------------- the engine


class ResponsesEngine:
    """``Engine`` over the Responses + Conversations API of an OpenAI-compatible endpoint."""

    kind = "responses"
    api_name = "Responses API"

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        headers: dict[str, str] | None = None,
        label: str | None = None,
        assistants: AssistantBook | None = None,
        stream_silence: float = STREAM_SILENCE,
        max_resumes: int = MAX_RESUMES,
    ) -> None:
        connection = EndpointClients(base_url, api_key, headers, label, None, stream_silence)
        self.base_url = connection.base_url
        self.label = connection.label
        self._where = connection.where
        self._client, self._once = connection.client, connection.once
        self._streams, self._probe = connection.streams, connection.probe
        self._stream_silence = stream_silence
        self.assistants: AssistantBook = (
            assistants if assistants is not None else MemoryAssistants()
        )
        self._api_key = api_key or ""
        self._max_resumes = max_resumes
        self._chains: dict[str, _Chain] = {}
        self._run_tools: dict[str, tuple[dict, ...]] = {}
        """Thread id -> the tools its latest run was given (``run(tools=...)``), which the
        responses that continue the run get too."""
        self._by_response: dict[str, str] = {}
        self._latest: dict[str, str] = {}
        self._item_runs: dict[str, str] = {}
        self._checked_threads: set[str] = set()
        self._vector_stores: dict[str, str] = {}
        self._looked_up: set[str] = set()
        """Conversations whose metadata (their vector store) has been read."""
        self._container_files: dict[str, list[str]] = {}

    def __repr__(self) -> str:
        return f"ResponsesEngine({self._where!r})"

    # -- errors ----------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        return text.replace(self._api_key, "***") if len(self._api_key) >= 4 else text

    def map_error(self, exc: BaseException, what: str = "", *, collection: str = "") -> EngineError:
        """The ``EngineError`` for an SDK exception (the Assistants engine's rules)."""
        if isinstance(exc, EngineError):
            return exc
        if isinstance(exc, openai.APIConnectionError):
            return EndpointUnreachable(f"Could not reach {self._where}: {_connection_reason(exc)}.")
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            detail = self._scrub(_server_message(exc))
            body = exc.body if isinstance(exc.body, dict) else {}
            code = _str(body.get("code")) or _str(getattr(exc, "code", ""))
            if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
                return AuthError(
                    f"The endpoint refused the API key (HTTP {status}). "
                    "Check OPENAI_API_KEY or the profile's api_key_env."
                )
            if code == "model_not_found" or (
                status == 404 and _MODEL.search(detail) and collection == "/responses"
            ):
                return NotFoundError(
                    f"The model is not available on {self._where}: {detail}", title="Unknown model"
                )
            if status == 410 or (status == 404 and collection and _unknown_path(exc)):
                return NotServedError(
                    f"This endpoint does not serve the Responses + Conversations API "
                    f"(HTTP {status} on {collection or 'its paths'})."
                )
            if status == 404:
                subject = what or "The requested object"
                return NotFoundError(f"{subject} was not found on {self._where} (HTTP 404).")
            if status in (400, 409) and (
                code in _LOCKED_CODES
                or (_ACTIVE.search(detail) and "conversation" in detail.lower())
            ):
                return ActiveRunError(
                    "This conversation already has a response in progress. "
                    "Wait for it to finish or cancel it."
                )
            if isinstance(exc, openai.RateLimitError):
                return RateLimitedError(
                    f"The endpoint is rate limiting requests (HTTP 429): {detail} "
                    "Wait a moment and try again.",
                    retry_after=_retry_after(exc),
                )
            if status >= 500:
                return ServerError(f"The endpoint answered HTTP {status}: {detail}")
            return EngineError(f"The endpoint answered HTTP {status}: {detail}")
        if isinstance(exc, openai.APIError):
            return EngineError(
                f"The endpoint reported an error: {self._scrub(_server_message(exc))}"
            )
        return EngineError(f"Request to {self._where} failed: {self._scrub(str(exc))}")

    @contextmanager
    def _errors(self, what: str = "", *, collection: str = "") -> Iterator[None]:
        try:
            yield
        except EngineError:
            raise
        except openai.OpenAIError as exc:
            raise self.map_error(exc, what, collection=collection) from exc
        except Exception as exc:  # an answer the SDK could not read
            raise EngineError(
                f"{self._where} sent an answer that could not be read ({type(exc).__name__})."
            ) from exc

    # -- endpoint --------------------------------------------------------------------

    async def check(self) -> None:
        """Probe once that the endpoint serves Conversations and Responses.

        ``GET /conversations/conv_probe`` must answer as the API does for an unknown
        conversation (a JSON error that is about the conversation, not "Invalid URL"), and
        ``POST /responses`` with an empty body must be refused as invalid (400/422), not
        as an unknown path. Nothing is created."""
        if not await self._served("get", "/conversations/conv_tui_probe", "conversation"):
            raise NotServedError(
                "This endpoint does not serve the Conversations API (it does not know "
                "/conversations). Point the profile at an endpoint that serves Responses + "
                'Conversations, or use engine = "assistants".'
            )
        if not await self._served("post", "/responses", ""):
            raise NotServedError(
                "This endpoint does not serve the Responses API (it does not know "
                "/responses). Point the profile at an endpoint that serves Responses + "
                'Conversations, or use engine = "assistants".'
            )

    async def _served(self, method: str, path: str, subject: str) -> bool:
        try:
            if method == "get":
                await self._probe.get(path, cast_to=object)
            else:
                await self._probe.post(path, body={}, cast_to=object)
        except openai.APIStatusError as exc:
            status = exc.status_code
            if status in (401, 403, 429) or status >= 500:
                raise self.map_error(exc) from exc
            if status in (400, 422):
                return True
            if status == 404 and isinstance(exc.body, dict):
                message = _server_message(exc).lower()
                return (
                    bool(subject) and subject in message and not message.startswith("invalid url")
                )
            return False
        except openai.OpenAIError as exc:
            raise self.map_error(exc) from exc
        except Exception:  # an answer that is not JSON: not this API
            return False
        return True

    async def list_models(self) -> list[str]:
        """The model ids ``GET /models`` offers, sorted."""
        with self._errors(collection="/models"):
            page = await self._client.models.list()
        return sorted({_str(_get(m, "id")) for m in _get(page, "data", ()) or ()} - {""})

    async def aclose(self) -> None:
        await self._client.close()

    # -- assistants (kept locally) ---------------------------------------------------

    def _assistant(self, assistant_id: str) -> AssistantSettings:
        found = self.assistants.get(assistant_id)
        if found is None:
            raise NotFoundError(
                f"Assistant {assistant_id} is not among this profile's local assistants."
            )
        return _settings(found)

    async def list_assistants(self, limit: int = 100) -> list[AssistantInfo]:
        return [_info(_settings(a)) for a in self.assistants.list()[: max(0, limit)]]

    async def retrieve_assistant(self, assistant_id: str) -> AssistantInfo:
        return _info(self._assistant(assistant_id))

    async def create_assistant(
        self,
        *,
        name: str,
        model: str,
        instructions: str = "",
        tools: Sequence[dict] = (),
        temperature: float | None = None,
    ) -> AssistantInfo:
        settings = AssistantSettings(
            id=f"asst_local_{uuid.uuid4().hex[:20]}",
            name=name,
            model=model,
            instructions=instructions,
            tools=tuple(dict(t) for t in tools),
            temperature=temperature,
        )
        self._save(settings)
        return _info(settings)

    def _save(self, settings: AssistantSettings) -> None:
        from tui_assistant.store import LocalAssistant

        self.assistants.save(
            LocalAssistant(
                id=settings.id,
                name=settings.name,
                model=settings.model,
                instructions=settings.instructions,
                tools=settings.tools,
                temperature=settings.temperature,
                created_at=time.time(),
            )
        )

    async def assistant_settings(self, assistant_id: str) -> AssistantSettings:
        return self._assistant(assistant_id)

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
        current = self._assistant(assistant_id)
        updated = replace(
            current,
            name=name,
            model=model,
            instructions=instructions,
            tools=tuple(dict(t) for t in tools),
            temperature=current.temperature if temperature is None else temperature,
        )
        self._save(updated)
        return _info(updated)

    async def delete_assistant(self, assistant_id: str) -> None:
        if not self.assistants.delete(assistant_id):
            raise NotFoundError(f"Assistant {assistant_id} was not found (already deleted?).")

    # -- threads (conversations) -----------------------------------------------------

    async def create_thread(self) -> str:
        with self._errors(collection="/conversations"):
            conversation = await self._once.conversations.create()
        thread_id = _str(_get(conversation, "id"))
        self._checked_threads.add(thread_id)
        self._looked_up.add(thread_id)
        return thread_id

    async def retrieve_thread(self, thread_id: str) -> ThreadInfo:
        with self._errors(f"Conversation {thread_id}"):
            conversation = await self._client.conversations.retrieve(thread_id)
        metadata = _get(conversation, "metadata", None) or {}
        metadata = {str(k): str(v) for k, v in dict(metadata).items()}
        self._looked_up.add(thread_id)
        if metadata.get(VECTOR_STORE_KEY):
            self._vector_stores[thread_id] = metadata[VECTOR_STORE_KEY]
        return ThreadInfo(
            id=_str(_get(conversation, "id")) or thread_id,
            created_at=_float(_get(conversation, "created_at")),
            metadata=metadata,
        )

    async def delete_thread(self, thread_id: str) -> None:
        with self._errors(f"Conversation {thread_id}"):
            await self._once.conversations.delete(thread_id)

    async def list_messages(
        self, thread_id: str, *, limit: int = 50, before_id: str | None = None
    ) -> MessagePage:
        extra: dict[str, Any] = {"after": before_id} if before_id else {}
        with self._errors(f"Conversation {thread_id}"):
            page = await self._client.conversations.items.list(
                thread_id, order="desc", limit=max(1, min(limit, 100)), **extra
            )
        messages = []
        for item in reversed(list(_get(page, "data", ()) or ())):
            if _get(item, "type") != "message" or _get(item, "role") not in ("user", "assistant"):
                continue
            text, annotations = item_text(item)
            item_id = _str(_get(item, "id"))
            messages.append(
                ThreadMessage(
                    id=item_id,
                    role=_str(_get(item, "role")),
                    text=text,
                    created_at=0.0,
                    run_id=self._item_runs.get(item_id),
                    status=_str(_get(item, "status")) or "completed",
                    annotations=annotations,
                )
            )
        return MessagePage(messages=messages, has_more=bool(_get(page, "has_more", False)))

    # -- runs ------------------------------------------------------------------------

    def _new_chain(self, run_id: str, thread_id: str, assistant_id: str, created: float) -> _Chain:
        chain = _Chain(run_id, thread_id, assistant_id, run_id, created)
        self._chains[run_id] = chain
        self._by_response[run_id] = run_id
        self._latest[thread_id] = run_id
        while len(self._chains) > 64:
            old = self._chains.pop(next(iter(self._chains)))
            self._by_response = {r: c for r, c in self._by_response.items() if c != old.run_id}
        return chain

    def _chain_finished(self, chain: _Chain, event: ev.RunEvent) -> None:
        if not isinstance(event, ev.ActionRequired):
            self._checked_threads.add(chain.thread_id)

    def _request(self, settings: AssistantSettings, thread_id: str, extra_instructions: str | None):
        tools = responses_tools(
            settings.tools,
            vector_store_id=self._vector_stores.get(thread_id, ""),
            container_files=self._container_files.get(thread_id, ()),
        )
        kinds = {t["type"] for t in tools}
        body: dict[str, Any] = {
            "model": settings.model,
            "conversation": thread_id,
            "stream": True,
            "background": True,
            "store": True,
            "truncation": "auto",
            "metadata": {"assistant_id": settings.id[:512]},
        }
        instructions = "\n\n".join(
            part for part in (settings.instructions, extra_instructions or "") if part
        )
        if instructions:
            body["instructions"] = instructions
        if tools:
            body["tools"] = tools
        include = []
        if "code_interpreter" in kinds:
            include.append("code_interpreter_call.outputs")
        if "file_search" in kinds:
            include.append("file_search_call.results")
        if include:
            body["include"] = include
        if settings.temperature is not None:
            body["temperature"] = settings.temperature
        return body

    async def _open(self, body: dict[str, Any], what: str) -> RawEventStream:
        with self._errors(what, collection="/responses"):
            return await RawEventStream.open(
                self._streams.responses.with_streaming_response.create(**body)
            )

    async def _consume(self, stream: RawEventStream, mapper: _Mapper) -> AsyncIterator[ev.RunEvent]:
        """Map a response's events to its end.

        A stream that breaks off (transport failure, silence, a malformed frame) is resumed
        after the last ``sequence_number`` seen, so every delta arrives once. A stream that
        ends cleanly without a final event (a cancel sends none) is settled by retrieving
        the response; if it is still going, the stream is resumed. ``StreamInterrupted``
        only when neither works (then the session polls ``retrieve_run``)."""
        resumes = 0
        while True:
            reason = ""
            clean = False
            try:
                while mapper.finished is None:
                    try:
                        raw = await anext(stream)
                    except StopAsyncIteration:
                        reason = f"The stream from {self._where} ended before the run finished."
                        clean = True
                        break
                    except openai.APITimeoutError:
                        reason = (
                            f"{self._where} sent nothing for {self._stream_silence:g} s "
                            "during the run."
                        )
                        break
                    except openai.APIConnectionError as exc:
                        reason = (
                            f"The connection to {self._where} broke off during the run "
                            f"({_connection_reason(exc)})."
                        )
                        break
                    except Exception as exc:  # a frame that is not JSON
                        reason = (
                            f"{self._where} sent a malformed stream event ({type(exc).__name__})."
                        )
                        break
                    for event in mapper.map(raw):
                        yield event
            finally:
                await stream.close()
            if mapper.finished is not None:
                return
            if not mapper.response_id:
                raise StreamInterrupted(reason, run_id="")
            if clean or resumes >= self._max_resumes:
                async for event in self._settle(mapper, reason):
                    yield event
                if mapper.finished is not None:
                    return
                if resumes >= self._max_resumes:
                    raise StreamInterrupted(reason, run_id=mapper.run_id)
            resumes += 1
            try:
                with self._errors(f"Response {mapper.response_id}"):
                    stream = await RawEventStream.open(
                        self._streams.responses.with_streaming_response.retrieve(
                            mapper.response_id, stream=True, starting_after=mapper.last_seq
                        )
                    )
            except EngineError:
                async for event in self._settle(mapper, reason):
                    yield event
                if mapper.finished is not None:
                    return
                raise StreamInterrupted(reason, run_id=mapper.run_id) from None

    async def _settle(self, mapper: _Mapper, reason: str) -> AsyncIterator[ev.RunEvent]:
        """Finish ``mapper`` from the retrieved response, if that response has ended."""
        try:
            with self._errors(f"Response {mapper.response_id}"):
                response = await self._client.responses.retrieve(mapper.response_id)
        except EngineError as exc:
            raise StreamInterrupted(f"{reason} ({exc.message})", run_id=mapper.run_id) from exc
        if _str(_get(response, "status")) in _TERMINAL:
            for event in mapper.settle(_dump(response)):
                yield event

    async def run(
        self,
        thread_id: str,
        assistant_id: str,
        text: str,
        *,
        additional_instructions: str | None = None,
        attachments: Sequence[dict] = (),
        tools: Sequence[dict] | None = None,
    ) -> AsyncIterator[ev.RunEvent]:
        settings = self._assistant(assistant_id)
        if tools is not None:  # this run's tools (the assistant's own and MCP servers')
            self._run_tools[thread_id] = tuple(dict(t) for t in tools)
            settings = replace(settings, tools=self._run_tools[thread_id])
        else:
            self._run_tools.pop(thread_id, None)
        await self._answer_dangling(thread_id)
        content: list[dict[str, Any]] = [{"type": "input_text", "text": text}] if text else []
        await self._attach(thread_id, attachments)
        body = self._request(settings, thread_id, additional_instructions)
        if content:
            body["input"] = [{"type": "message", "role": "user", "content": content}]
        elif attachments:
            names = ", ".join(_str(a.get("file_id")) for a in attachments)
            body["input"] = [
                {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": f"(attached: {names})"}],
                }
            ]
        stream = await self._open(body, f"Conversation {thread_id}")
        mapper = _Mapper(self, thread_id, assistant_id)
        async for event in self._consume(stream, mapper):
            yield event

    async def submit_tool_outputs(
        self, thread_id: str, run_id: str, outputs: Sequence[ev.ToolOutput]
    ) -> AsyncIterator[ev.RunEvent]:
        chain = await self._chain(thread_id, run_id)
        settings = self._assistant(chain.assistant_id)
        calls = chain.pending or await self._pending_calls(chain)
        if thread_id in self._run_tools:
            settings = replace(settings, tools=self._run_tools[thread_id])
        body = self._request(settings, thread_id, None)
        body["input"] = [
            {"type": "function_call_output", "call_id": o.call_id, "output": o.output}
            for o in outputs
        ]
        stream = await self._open(body, f"Run {run_id}")
        chain.answered.update(o.call_id for o in outputs)
        mapper = _Mapper(self, thread_id, chain.assistant_id, chain, outputs, calls)
        async for event in self._consume(stream, mapper):
            yield event

    async def _chain(self, thread_id: str, run_id: str) -> _Chain:
        chain = self._chains.get(self._by_response.get(run_id, run_id))
        if chain is not None:
            return chain
        with self._errors(f"Run {run_id}"):
            response = await self._client.responses.retrieve(run_id)
        metadata = _get(response, "metadata", None) or {}
        chain = self._new_chain(
            run_id,
            thread_id,
            _str(dict(metadata).get("assistant_id")),
            _float(_get(response, "created_at")),
        )
        chain.count(run_id, _usage(_get(response, "usage")))
        return chain

    async def _pending_calls(self, chain: _Chain) -> tuple[ev.FunctionCall, ...]:
        try:
            with self._errors(f"Run {chain.run_id}"):
                response = await self._client.responses.retrieve(chain.current)
        except EngineError:
            return ()
        return _function_calls(_get(response, "output"))

    async def cancel_run(self, thread_id: str, run_id: str) -> None:
        chain = await self._chain(thread_id, run_id)
        info = await self.retrieve_run(thread_id, run_id)
        chain.cancelled = True
        if info.calls and info.status == "requires_action":
            # Waiting for outputs: answer the calls without a new response.
            await self._add_outputs(thread_id, [c.call_id for c in info.calls], CANCELLED_OUTPUT)
            chain.answered.update(c.call_id for c in info.calls)
            return
        if info.status in _TERMINAL:
            return
        with self._errors(f"Run {run_id}"):
            await self._once.responses.cancel(chain.current)

    async def retrieve_run(self, thread_id: str, run_id: str) -> RunInfo:
        chain = await self._chain(thread_id, run_id)
        with self._errors(f"Run {run_id}"):
            response = await self._client.responses.retrieve(chain.current)
        status = _str(_get(response, "status"))
        output = _get(response, "output", ()) or ()
        for item in output:
            if _get(item, "type") == "message":
                self._item_runs[_str(_get(item, "id"))] = chain.run_id
        if status in _TERMINAL:
            chain.count(chain.current, _usage(_get(response, "usage")))
        calls: tuple[ev.FunctionCall, ...] = ()
        if status == "completed":
            every = _function_calls(output)
            calls = tuple(c for c in every if c.call_id not in chain.answered)
            if every and chain.cancelled:
                status = "cancelled"
            elif calls:
                status = "requires_action"
                chain.pending = calls
        error = _get(response, "error")
        return RunInfo(
            id=chain.run_id,
            thread_id=thread_id,
            status=status,
            assistant_id=chain.assistant_id,
            created_at=chain.created_at,
            usage=chain.usage,
            error_code=_str(_get(error, "code")),
            error_message=self._scrub(_str(_get(error, "message"))),
            incomplete_reason=_str(_get(_get(response, "incomplete_details"), "reason")),
            calls=calls if status == "requires_action" else (),
        )

    async def latest_run(self, thread_id: str) -> RunInfo | None:
        """The newest run this engine started in the thread (the API lists none)."""
        run_id = self._latest.get(thread_id)
        return await self.retrieve_run(thread_id, run_id) if run_id else None

    async def _add_outputs(self, thread_id: str, call_ids: Sequence[str], output: str) -> None:
        if not call_ids:
            return
        with self._errors(f"Conversation {thread_id}"):
            await self._once.conversations.items.create(
                thread_id,
                items=[
                    {"type": "function_call_output", "call_id": c, "output": output}
                    for c in call_ids
                ],
            )

    async def _answer_dangling(self, thread_id: str) -> None:
        """Give every unanswered function call of the conversation an output, so the next
        message is accepted (after a crash, or a run abandoned while it waited)."""
        if thread_id in self._checked_threads:
            return
        with self._errors(f"Conversation {thread_id}"):
            page = await self._client.conversations.items.list(thread_id, order="desc", limit=50)
        answered: set[str] = set()
        dangling: list[str] = []
        for item in _get(page, "data", ()) or ():
            kind = _get(item, "type")
            if kind == "function_call_output":
                answered.add(_str(_get(item, "call_id")))
            elif kind == "function_call" and _str(_get(item, "call_id")) not in answered:
                dangling.append(_str(_get(item, "call_id")))
            elif kind == "message" and _get(item, "role") == "user":
                break
        await self._add_outputs(thread_id, list(reversed(dangling)), DANGLING_OUTPUT)
        self._checked_threads.add(thread_id)

    # -- files and hosted tools ------------------------------------------------------

    async def _attach(self, thread_id: str, attachments: Sequence[dict]) -> None:
        search: list[str] = []
        for attachment in attachments:
            file_id = _str(attachment.get("file_id"))
            kinds = {_str(t.get("type")) for t in attachment.get("tools", ()) or ()}
            if "code_interpreter" in kinds:
                self._container_files.setdefault(thread_id, []).append(file_id)
            if "file_search" in kinds:
                search.append(file_id)
        if thread_id not in self._vector_stores and thread_id not in self._looked_up:
            try:
                await self.retrieve_thread(thread_id)  # learns a vector store made earlier
            except EngineError:
                pass
        if not search:
            return
        store_id = self._vector_stores.get(thread_id)
        with self._errors(f"Conversation {thread_id}"):
            if not store_id:
                created = await self._once.vector_stores.create(name=f"tui-assistant {thread_id}")
                store_id = _str(_get(created, "id"))
                await self._once.conversations.update(
                    thread_id, metadata={VECTOR_STORE_KEY: store_id}
                )
                self._vector_stores[thread_id] = store_id
            for file_id in search:
                await self._client.vector_stores.files.create_and_poll(
                    file_id=file_id, vector_store_id=store_id, poll_interval_ms=200
                )

    async def list_runs(self, thread_id: str, *, limit: int = 20) -> list[RunInfo]:
        raise NotSupportedError(f"{self.label} does not list a conversation's responses.")

    async def list_run_steps(self, thread_id: str, run_id: str) -> list[RunStepInfo]:
        raise NotSupportedError(f"{self.label} has no run steps (Responses API).")

    async def upload_file(self, path: str, *, purpose: str = "assistants") -> FileInfo:
        source = Path(path).expanduser()
        try:
            data = await asyncio.to_thread(source.read_bytes)
        except OSError as exc:
            raise EngineError(
                f"Could not read {source}: {exc.strerror or exc}.", title="File not uploaded"
            ) from exc
        with self._errors(collection="/files"):
            created = await self._once.files.create(
                file=(source.name, data),
                purpose=purpose,  # type: ignore[arg-type]
            )
        return FileInfo(
            id=_str(_get(created, "id")),
            filename=_str(_get(created, "filename")),
            bytes=_int(_get(created, "bytes")),
            purpose=_str(_get(created, "purpose")),
            created_at=_float(_get(created, "created_at")),
        )

    async def retrieve_file(self, file_id: str) -> FileInfo:
        container, _, inner = file_id.partition("/")
        with self._errors(f"File {file_id}"):
            if inner:
                found = await self._client.containers.files.retrieve(inner, container_id=container)
                name = Path(_str(_get(found, "path"))).name
                return FileInfo(id=file_id, filename=name, bytes=_int(_get(found, "bytes")))
            found = await self._client.files.retrieve(file_id)
        return FileInfo(
            id=_str(_get(found, "id")),
            filename=_str(_get(found, "filename")),
            bytes=_int(_get(found, "bytes")),
            purpose=_str(_get(found, "purpose")),
            created_at=_float(_get(found, "created_at")),
        )

    async def download_file(self, file_id: str, dest: str) -> str:
        """Write a file to ``dest``. ``CONTAINER/FILE`` ids (from container file citations)
        are read from the container (``GET /containers/{cid}/files/{fid}/content``)."""
        container, _, inner = file_id.partition("/")
        with self._errors(f"File {file_id}"):
            if inner:
                response = await self._client.containers.files.content.retrieve(
                    inner, container_id=container
                )
            else:
                response = await self._client.files.content(file_id)
            data = response.content
        target = Path(dest).expanduser()
        try:
            await asyncio.to_thread(_write_atomically, target, data)
        except OSError as exc:
            raise EngineError(
                f"Could not write {target}: {exc.strerror or exc}.", title="Download failed"
            ) from exc
        return str(target)
