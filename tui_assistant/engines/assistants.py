"""The Assistants wire API, through ``openai.AsyncOpenAI`` (``client.beta.*``).

``AssistantsEngine`` implements ``engines.base.Engine``. It consumes the *raw* run streams
(``runs.create(..., stream=True)`` and ``runs.submit_tool_outputs(..., stream=True)``) and
accumulates deltas itself, because the SDK's ``runs.stream()`` helper mis-parses ``error``
events and leaks raw transport exceptions (see ``assistants-api.md`` §1.4). The events are
read as JSON (``engines.sse``) rather than validated into SDK models, which halves the
CPU a streaming reply costs.

What it guarantees to callers:

* Every wire event is mapped onto ``tui_assistant.events``; SDK objects never escape.
* Every failure is an ``errors.EngineError`` subclass with a one-line message that names the
  endpoint (without credentials) and never contains the API key.
* A stream ends with exactly one of ``ActionRequired``, ``RunCompleted`` or ``RunFailed``.
  If the stream breaks off before that (transport failure, malformed frame, the server
  closing early), ``StreamInterrupted`` is raised carrying the run id, so the caller can
  reattach instead of starting a second run.
* Run creation and tool-output submission are never retried by the SDK (a retried POST can
  create a duplicate run); read-only calls keep the SDK's default of two retries.
* Tool calls are keyed by their id: ``ToolCallStarted`` and ``ToolCallCompleted`` are emitted
  at most once per call, also when a call's step completes in a later stream of the run.

Servers that copy the Assistants API differ in details (whether ``step.created`` repeats
full tool calls, missing fields, unknown content types). Everything here reads the SDK
objects defensively and dispatches on the wire ``type`` strings rather than on SDK classes,
because the SDK builds unknown variants as the first member of a union.
"""

from __future__ import annotations

import asyncio
import functools
import re
import ssl
import warnings
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import aclosing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2
import openai

from tui_assistant import events as ev
from tui_assistant.engines.base import (
    AssistantInfo,
    AssistantSettings,
    FileInfo,
    MessagePage,
    RunInfo,
    RunStepInfo,
    ThreadInfo,
    ThreadMessage,
    ToolCallInfo,
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


def silence_deprecations() -> None:
    """Hide the SDK's runtime DeprecationWarnings for the Assistants API.

    Every Assistants method warns at call time; a warning printed to stderr would corrupt
    the TUI. The filters match by message, because ``module=`` matches the *caller*.
    Called once when this module is imported.
    """
    warnings.filterwarnings(
        "ignore", category=DeprecationWarning, message=r"The Assistants API is deprecated"
    )
    warnings.filterwarnings("ignore", category=DeprecationWarning, message=r"deprecated$")


silence_deprecations()

__all__ = ["AssistantsEngine", "message_text", "silence_deprecations"]

DEFAULT_TIMEOUT = httpx2.Timeout(600, connect=5)
PROBE_TIMEOUT = httpx2.Timeout(15, connect=5)
STREAM_SILENCE = 120.0
"""Seconds a run stream may send nothing before it counts as broken off. The run is then
followed by polling (``StreamInterrupted``), so a stalled stream costs two minutes, not
the ten of the general read timeout."""

_TOOL_KINDS = ("function", "code_interpreter", "file_search")
_ACTIVE_RUN = re.compile(r"already has an active run|while a run\b.*\bis active", re.I | re.S)
_TAGS = re.compile(r"<[^>]*>")
_RUN_ID = re.compile(r"\brun_[A-Za-z0-9_-]+")
_RUN_STATUS_EVENTS = {
    "thread.run.queued",
    "thread.run.in_progress",
    "thread.run.cancelling",
}
_RUN_DONE_EVENTS = {"thread.run.completed", "thread.run.cancelled", "thread.run.incomplete"}
_RUN_FAILED_EVENTS = {"thread.run.failed", "thread.run.expired"}
_STEP_END_EVENTS = {
    "thread.run.step.completed",
    "thread.run.step.failed",
    "thread.run.step.cancelled",
    "thread.run.step.expired",
}
_MAX_TRACKED_RUNS = 32


def _get(obj: Any, name: str, default: Any = None) -> Any:
    """``obj.name`` for SDK models, ``obj[name]`` for dicts; ``default`` when absent or None."""
    if obj is None:
        return default
    if isinstance(obj, dict):
        value = obj.get(name)
    else:
        value = getattr(obj, name, None)
        if value is None:
            extra = getattr(obj, "model_extra", None)
            if isinstance(extra, dict):
                value = extra.get(name)
    return default if value is None else value


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _opt_float(value: Any) -> float | None:
    return None if value is None else _float(value)


_MS_THRESHOLD = 1e11
"""Seconds since 1970 stay below this until the year 5138: larger values are milliseconds
(some servers send them), and larger still microseconds."""


def _timestamp(value: Any) -> float:
    """A wire time in seconds since 1970: seconds, milliseconds, microseconds or an ISO
    8601 string are accepted (servers differ); anything else is 0."""
    if isinstance(value, str) and not value.strip().lstrip("-").replace(".", "", 1).isdigit():
        from datetime import UTC, datetime

        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return 0.0
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    seconds = _float(value)
    while abs(seconds) >= _MS_THRESHOLD:
        seconds /= 1000.0
    return seconds


def _opt_timestamp(value: Any) -> float | None:
    return None if value is None else _timestamp(value)


def _text_value(obj: Any, depth: int = 0) -> str:
    """The text of a message text block in whatever shape the server sent it: a string,
    ``{"value": ...}`` (the API's), ``{"text": ...}``, ``{"content": ...}`` or a list of
    these. Nothing readable gives ``""``; never raises."""
    if obj is None or isinstance(obj, bool) or depth > 4:
        return ""
    if isinstance(obj, str):
        return obj
    if isinstance(obj, int | float):
        return str(obj)
    if isinstance(obj, list | tuple):
        return "".join(_text_value(item, depth + 1) for item in obj)
    for key in ("value", "text", "content"):
        found = _text_value(_get(obj, key), depth + 1)
        if found:
            return found
    return ""


_TEXT_BLOCKS = ("text", "output_text", "input_text")


def _usage(obj: Any) -> ev.Usage | None:
    if obj is None:
        return None
    return ev.Usage(
        prompt_tokens=int(_get(obj, "prompt_tokens", 0) or 0),
        completion_tokens=int(_get(obj, "completion_tokens", 0) or 0),
        total_tokens=int(_get(obj, "total_tokens", 0) or 0),
        estimated=_get(obj, "estimated", False) is True,
    )


def _left_out(run: Any) -> int:
    """``truncation_strategy.left_out``: the built-in server's count of messages it left
    out of its model's context."""
    value = _get(_get(run, "truncation_strategy"), "left_out", 0)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _annotation(obj: Any, offset: int) -> ev.Annotation | None:
    kind = _get(obj, "type")
    if kind not in ("file_citation", "file_path"):
        return None
    return ev.Annotation(
        kind=kind,
        text=_str(_get(obj, "text", "")),
        start_index=int(_get(obj, "start_index", 0) or 0) + offset,
        end_index=int(_get(obj, "end_index", 0) or 0) + offset,
        file_id=_str(_get(_get(obj, kind), "file_id", "")),
    )


def _blocks(content: Any) -> list[Any]:
    """A message's content blocks: a bare string or a single block counts as one."""
    if content is None:
        return []
    if isinstance(content, list | tuple):
        return list(content)
    return [content] if isinstance(content, str | dict) or _get(content, "type") else []


def message_text(content: Any) -> tuple[str, tuple[ev.Annotation, ...]]:
    """The display text of a message's content blocks, and its annotations.

    Text blocks are joined with a blank line between them (annotation offsets are shifted
    to match); an image file becomes ``[image: file-…]``, an image URL ``[image: URL]``,
    and a refusal is shown as its text.
    """
    parts: list[str] = []
    annotations: list[ev.Annotation] = []
    offset = 0
    for block in _blocks(content):
        kind = _get(block, "type")
        annotated: Sequence[Any] = ()
        if isinstance(block, str):
            piece = block
        elif kind in _TEXT_BLOCKS or (kind is None and _get(block, "text") is not None):
            text_obj = _get(block, "text")
            if text_obj is None:
                text_obj = _get(block, "value")
            piece = _text_value(text_obj)
            annotated = () if isinstance(text_obj, str) else _get(text_obj, "annotations", ())
        elif kind == "image_file":
            piece = f"[image: {_str(_get(_get(block, 'image_file'), 'file_id', ''))}]"
        elif kind == "image_url":
            piece = f"[image: {_str(_get(_get(block, 'image_url'), 'url', ''))}]"
        elif kind == "refusal":
            piece = _str(_get(block, "refusal", ""))
        else:
            continue
        if parts:
            offset += 2
        for raw in annotated if isinstance(annotated, list | tuple) else ():
            try:
                mapped = _annotation(raw, offset)
            except (TypeError, ValueError, AttributeError):  # a malformed annotation
                mapped = None
            if mapped is not None:
                annotations.append(mapped)
        parts.append(piece)
        offset += len(piece)
    return "\n\n".join(parts), tuple(annotations)


def message_images(content: Any) -> tuple[str, ...]:
    """The file ids of a message's ``image_file`` content blocks, in order."""
    found = []
    for block in _blocks(content):
        if _get(block, "type") == "image_file":
            file_id = _str(_get(_get(block, "image_file"), "file_id", ""))
            if file_id:
                found.append(file_id)
    return tuple(found)


def _function_calls(run: Any) -> tuple[ev.FunctionCall, ...]:
    required = _get(run, "required_action")
    calls = _get(_get(required, "submit_tool_outputs"), "tool_calls", ()) or ()
    return tuple(
        ev.FunctionCall(
            call_id=_str(_get(call, "id", "")),
            name=_str(_get(_get(call, "function"), "name", "")),
            arguments=_str(_get(_get(call, "function"), "arguments", "")),
        )
        for call in calls
    )


def _run_info(run: Any) -> RunInfo:
    last_error = _get(run, "last_error")
    return RunInfo(
        id=_str(_get(run, "id", "")),
        thread_id=_str(_get(run, "thread_id", "")),
        status=_str(_get(run, "status", "")),
        assistant_id=_str(_get(run, "assistant_id", "")),
        created_at=_timestamp(_get(run, "created_at")),
        expires_at=_opt_timestamp(_get(run, "expires_at")),
        usage=_usage(_get(run, "usage")),
        error_code=_str(_get(last_error, "code", "")),
        error_message=_str(_get(last_error, "message", "")),
        incomplete_reason=_str(_get(_get(run, "incomplete_details"), "reason", "")),
        calls=_function_calls(run),
    )


def _step_info(step: Any) -> RunStepInfo:
    details = _get(step, "step_details")
    calls = []
    for tool_call in _step_tool_calls(details):
        kind = _get(tool_call, "type")
        if kind not in _TOOL_KINDS:
            continue
        call_in, call_out, images = _final_call_output(kind, tool_call)
        calls.append(
            ToolCallInfo(
                call_id=_str(_get(tool_call, "id", "")),
                kind=kind,
                name=_str(_get(_get(tool_call, "function"), "name", ""))
                if kind == "function"
                else "",
                input=call_in,
                output=call_out,
                images=tuple(images),
                results=_search_results(tool_call) if kind == "file_search" else (),
            )
        )
    ended = None
    for key in ("completed_at", "failed_at", "cancelled_at", "expired_at"):
        if _get(step, key) is not None:
            ended = _timestamp(_get(step, key))
            break
    return RunStepInfo(
        id=_str(_get(step, "id", "")),
        run_id=_str(_get(step, "run_id", "")),
        type=_str(_get(step, "type", "")) or _str(_get(details, "type", "")),
        status=_str(_get(step, "status", "")),
        created_at=_timestamp(_get(step, "created_at")),
        ended_at=ended,
        message_id=_str(_get(_get(details, "message_creation"), "message_id", "")),
        tool_calls=tuple(calls),
        error_message=_str(_get(_get(step, "last_error"), "message", "")),
    )


def _file_info(obj: Any) -> FileInfo:
    return FileInfo(
        id=_str(_get(obj, "id", "")),
        filename=_str(_get(obj, "filename", "")),
        bytes=int(_get(obj, "bytes", 0) or 0),
        purpose=_str(_get(obj, "purpose", "")),
        created_at=_timestamp(_get(obj, "created_at")),
    )


def _write_atomically(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    partial.write_bytes(data)
    partial.replace(target)


def _assistant_info(obj: Any) -> AssistantInfo:
    tools = tuple(_get(obj, "tools", ()) or ())
    return AssistantInfo(
        id=_str(_get(obj, "id", "")),
        name=_str(_get(obj, "name", "")),
        model=_str(_get(obj, "model", "")),
        instructions=_str(_get(obj, "instructions", "")),
        tools=tuple(_str(_get(t, "type", "")) for t in tools),
        function_names=tuple(
            _str(_get(_get(t, "function"), "name", ""))
            for t in tools
            if _get(t, "type") == "function"
        ),
    )


def _server_message(exc: openai.APIError) -> str:
    body = exc.body
    if isinstance(body, dict):
        message = body.get("message")
        if not message and isinstance(body.get("error"), dict):
            message = body["error"].get("message")
        if message:
            return _str(message)
    if isinstance(body, str) and body.strip():
        text = _TAGS.sub(" ", body) if body.lstrip().startswith("<") else body
        return " ".join(text.split())[:300]
    return exc.message


def _retry_after(exc: openai.APIStatusError) -> float | None:
    """The wait a 429 asked for (``retry-after-ms`` or ``Retry-After`` seconds), if any."""
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            value = float(headers.get(name, ""))
        except (TypeError, ValueError):
            continue
        if value >= 0:
            return value * scale
    return None


def _connection_reason(exc: BaseException) -> str:
    if isinstance(exc, openai.APITimeoutError):
        return "timed out"
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ConnectionRefusedError) or "refused" in str(cause).lower():
            return "connection refused"
        if isinstance(cause, httpx2.TimeoutException):
            return "timed out"
        cause = cause.__cause__ or cause.__context__
    root = exc.__cause__
    return str(root) if root is not None and str(root) else "connection failed"


# --------------------------------------------------------------------------- stream state


@dataclass(slots=True)
class _Call:
    call_id: str
    kind: ev.ToolKind
    name: str = ""
    step_id: str = ""
    input: str = ""
    output: str = ""
    images: list[str] = field(default_factory=list)
    results: tuple[ev.FileSearchResult, ...] = ()


@dataclass(slots=True)
class _RunState:
    """What the engine remembers about one run across its streams."""

    run_id: str = ""
    thread_id: str = ""
    call_ids: dict[tuple[str, int], str] = field(default_factory=dict)
    calls: dict[str, _Call] = field(default_factory=dict)
    completed_calls: set[str] = field(default_factory=set)
    message_text: dict[str, str] = field(default_factory=dict)
    started_messages: set[str] = field(default_factory=set)
    completed_messages: set[str] = field(default_factory=set)
    user_messages: set[str] = field(default_factory=set)


def _step_tool_calls(step_details: Any) -> list[Any]:
    if _get(step_details, "type") != "tool_calls":
        return []
    return list(_get(step_details, "tool_calls", ()) or ())


def _final_call_output(kind: str, tool_call: Any) -> tuple[str, str, list[str]]:
    """(input, output, image file ids) of a finished tool call."""
    if kind == "function":
        fn = _get(tool_call, "function")
        return _str(_get(fn, "arguments", "")), _str(_get(fn, "output", "")), []
    if kind == "code_interpreter":
        ci = _get(tool_call, "code_interpreter")
        logs: list[str] = []
        images: list[str] = []
        for out in _get(ci, "outputs", ()) or ():
            if _get(out, "type") == "logs":
                logs.append(_str(_get(out, "logs", "")))
            elif _get(out, "type") == "image":
                file_id = _str(_get(_get(out, "image"), "file_id", ""))
                if file_id:
                    images.append(file_id)
        return _str(_get(ci, "input", "")), "".join(logs), images
    # file_search: summarise the results the server chose to include.
    fs = _get(tool_call, "file_search")
    lines = []
    for result in _get(fs, "results", ()) or ():
        name = _str(_get(result, "file_name", "")) or _str(_get(result, "file_id", ""))
        score = _get(result, "score")
        lines.append(f"{name} ({score:.2f})" if isinstance(score, int | float) else name)
    return "", "\n".join(lines), []


def _search_results(tool_call: Any) -> tuple[ev.FileSearchResult, ...]:
    """The files (with scores) a ``file_search`` call reported."""
    found = []
    for result in _get(_get(tool_call, "file_search"), "results", ()) or ():
        score = _get(result, "score")
        found.append(
            ev.FileSearchResult(
                file_id=_str(_get(result, "file_id", "")),
                file_name=_str(_get(result, "file_name", "")),
                score=float(score) if isinstance(score, int | float) else None,
            )
        )
    return tuple(found)


class _StreamMapper:
    """Turns the SDK events of one stream into ``events`` objects."""

    def __init__(self, state: _RunState) -> None:
        self.state = state
        self.finished: ev.RunEvent | None = None

    # -- helpers ---------------------------------------------------------------------

    def _register_call(self, step_id: str, index: int, tool_call: Any) -> Iterator[ev.RunEvent]:
        """Learn a tool call (from a step or a delta); emit ``ToolCallStarted`` once."""
        kind = _get(tool_call, "type")
        if kind not in _TOOL_KINDS:
            return
        call_id = _str(_get(tool_call, "id", "")) or self.state.call_ids.get((step_id, index))
        if not call_id:
            call_id = f"{step_id}:{index}"
        self.state.call_ids[(step_id, index)] = call_id
        call = self.state.calls.get(call_id)
        if call is None:
            name = _str(_get(_get(tool_call, "function"), "name", "")) if kind == "function" else ""
            call = _Call(call_id=call_id, kind=kind, name=name, step_id=step_id)
            self.state.calls[call_id] = call
            yield ev.ToolCallStarted(call_id=call_id, kind=kind, name=name, step_id=step_id)

    def _call_delta(self, step_id: str, tool_call: Any) -> Iterator[ev.RunEvent]:
        index = _get(tool_call, "index", 0)
        yield from self._register_call(step_id, index, tool_call)
        call_id = self.state.call_ids.get((step_id, index))
        call = self.state.calls.get(call_id or "")
        if call is None or call_id in self.state.completed_calls:
            return
        piece_in = piece_out = ""
        new_images: list[str] = []
        if call.kind == "function":
            fn = _get(tool_call, "function")
            if not call.name:
                call.name = _str(_get(fn, "name", ""))
            piece_in = _str(_get(fn, "arguments", ""))
            piece_out = _str(_get(fn, "output", ""))
        elif call.kind == "code_interpreter":
            ci = _get(tool_call, "code_interpreter")
            piece_in = _str(_get(ci, "input", ""))
            for out in _get(ci, "outputs", ()) or ():
                if _get(out, "type") == "logs":
                    piece_out += _str(_get(out, "logs", ""))
                elif _get(out, "type") == "image":
                    file_id = _str(_get(_get(out, "image"), "file_id", ""))
                    if file_id and file_id not in call.images:
                        call.images.append(file_id)
                        new_images.append(file_id)
        if piece_in or piece_out or new_images:
            call.input += piece_in
            call.output += piece_out
            yield ev.ToolCallDelta(
                call_id=call.call_id,
                kind=call.kind,
                input=piece_in,
                output=piece_out,
                images=tuple(new_images),
            )

    def _step_end(self, step: Any, status: str) -> Iterator[ev.RunEvent]:
        step_id = _str(_get(step, "id", ""))
        finals = _step_tool_calls(_get(step, "step_details"))
        done_ids: list[str] = []
        for position, tool_call in enumerate(finals):
            index = _get(tool_call, "index", position)
            yield from self._register_call(step_id, index, tool_call)
            call_id = self.state.call_ids.get((step_id, index))
            if call_id:
                done_ids.append(call_id)
                call = self.state.calls[call_id]
                final_in, final_out, images = _final_call_output(call.kind, tool_call)
                call.input = final_in or call.input
                call.output = final_out or call.output
                call.images = images or call.images
                if call.kind == "file_search":
                    call.results = _search_results(tool_call) or call.results
                if call.kind == "function" and not call.name:
                    call.name = _str(_get(_get(tool_call, "function"), "name", ""))
        # A server that omits the final details still finishes the calls it streamed.
        done_ids += [c.call_id for c in self.state.calls.values() if c.step_id == step_id]
        error = _get(step, "last_error")
        for call_id in dict.fromkeys(done_ids):
            if call_id in self.state.completed_calls:
                continue
            self.state.completed_calls.add(call_id)
            call = self.state.calls[call_id]
            output = call.output
            if status != "completed" and not output:
                reason = _str(_get(error, "message", ""))
                output = f"[{status}: {reason}]" if reason else f"[{status}]"
            yield ev.ToolCallCompleted(
                call_id=call_id,
                kind=call.kind,
                name=call.name,
                input=call.input,
                output=output,
                images=tuple(call.images),
                results=call.results,
                status=status,
            )

    def _message_completed(self, message: Any, default_status: str) -> Iterator[ev.RunEvent]:
        message_id = _str(_get(message, "id", ""))
        if message_id in self.state.user_messages or _get(message, "role") == "user":
            return
        if message_id in self.state.completed_messages:
            return
        if message_id not in self.state.started_messages:
            self.state.started_messages.add(message_id)
            yield ev.MessageStarted(message_id=message_id, role="assistant")
        text, annotations = message_text(_get(message, "content", ()))
        if not text:
            text = self.state.message_text.get(message_id, "")
        self.state.completed_messages.add(message_id)
        yield ev.MessageCompleted(
            message_id=message_id,
            text=text,
            annotations=annotations,
            status=_str(_get(message, "status", "")) or default_status,
            images=message_images(_get(message, "content", ())),
        )

    # -- dispatch --------------------------------------------------------------------

    def _map_unnamed(self, data: Any) -> Iterator[ev.RunEvent]:
        """An event without a standard name (some servers send only ``data:`` lines, or
        names of their own): what it is comes from the object it carries."""
        kind = _str(_get(data, "object", ""))
        status = _str(_get(data, "status", ""))
        names: list[str] = []
        if kind == "thread.run":
            if not self.state.run_id:
                names.append("thread.run.created")
            if status:
                names.append(f"thread.run.{status}")
        elif kind == "thread.message":
            names.append("thread.message.created")
            if status in ("completed", "incomplete"):
                names.append(f"thread.message.{status}")
        elif kind == "thread.run.step" and status:
            names.append("thread.run.step.created" if status == "in_progress"
                         else f"thread.run.step.{status}")
        elif kind in ("thread.message.delta", "thread.run.step.delta"):
            names.append(kind)
        for name in names:
            if self.finished is None:
                yield from self.map({"event": name, "data": data})

    def map(self, event: Any) -> Iterator[ev.RunEvent]:  # noqa: C901 - one flat dispatch
        name = _str(_get(event, "event", ""))
        data = _get(event, "data")
        state = self.state
        if name != "error" and not name.startswith("thread."):
            yield from self._map_unnamed(data)
            return
        if name == "error":
            yield self._finish(
                ev.RunFailed(
                    run_id=state.run_id,
                    status="error",
                    code=_str(_get(data, "code", "")),
                    message=_str(_get(data, "message", "")) or "The endpoint reported an error.",
                )
            )
        elif name == "thread.run.created":
            state.run_id = _str(_get(data, "id", "")) or state.run_id
            state.thread_id = _str(_get(data, "thread_id", "")) or state.thread_id
            yield ev.RunStarted(
                run_id=state.run_id,
                thread_id=state.thread_id,
                assistant_id=_str(_get(data, "assistant_id", "")),
                model=_str(_get(data, "model", "")),
                created_at=_timestamp(_get(data, "created_at")),
                expires_at=_opt_timestamp(_get(data, "expires_at")),
            )
        elif name in _RUN_STATUS_EVENTS:
            state.run_id = state.run_id or _str(_get(data, "id", ""))
            status = _str(_get(data, "status", "")) or name.rsplit(".", 1)[1]
            yield ev.RunStatusChanged(run_id=state.run_id, status=status)
        elif name == "thread.run.requires_action":
            yield self._finish(
                ev.ActionRequired(
                    run_id=state.run_id or _str(_get(data, "id", "")),
                    thread_id=state.thread_id or _str(_get(data, "thread_id", "")),
                    calls=_function_calls(data),
                    expires_at=_opt_timestamp(_get(data, "expires_at")),
                )
            )
        elif name in _RUN_DONE_EVENTS:
            yield self._finish(
                ev.RunCompleted(
                    run_id=state.run_id or _str(_get(data, "id", "")),
                    status=name.rsplit(".", 1)[1],
                    usage=_usage(_get(data, "usage")),
                    reason=_str(_get(_get(data, "incomplete_details"), "reason", "")),
                    left_out=_left_out(data),
                )
            )
        elif name in _RUN_FAILED_EVENTS:
            status = name.rsplit(".", 1)[1]
            error = _get(data, "last_error")
            expired = status == "expired"
            default = "The run expired before it finished." if expired else "The run failed."
            yield self._finish(
                ev.RunFailed(
                    run_id=state.run_id or _str(_get(data, "id", "")),
                    status=status,
                    code=_str(_get(error, "code", "")) or ("expired" if expired else ""),
                    message=_str(_get(error, "message", "")) or default,
                )
            )
        elif name == "thread.message.created":
            message_id = _str(_get(data, "id", ""))
            role = _str(_get(data, "role", "")) or "assistant"
            if role == "user":
                state.user_messages.add(message_id)
            elif message_id not in state.started_messages:
                state.started_messages.add(message_id)
                yield ev.MessageStarted(message_id=message_id, role=role)
        elif name == "thread.message.delta":
            message_id = _str(_get(data, "id", ""))
            if message_id in state.user_messages or message_id in state.completed_messages:
                return
            pieces = []
            for block in _blocks(_get(_get(data, "delta"), "content", ())):
                kind = _get(block, "type")
                if isinstance(block, str):
                    pieces.append(block)
                elif kind in _TEXT_BLOCKS or (kind is None and _get(block, "text") is not None):
                    pieces.append(_text_value(_get(block, "text")))
                elif kind == "refusal":
                    pieces.append(_str(_get(block, "refusal", "")))
            text = "".join(pieces)
            if text:
                if message_id not in state.started_messages:
                    state.started_messages.add(message_id)
                    yield ev.MessageStarted(message_id=message_id)
                state.message_text[message_id] = state.message_text.get(message_id, "") + text
                yield ev.TextDelta(message_id=message_id, text=text)
        elif name in ("thread.message.completed", "thread.message.incomplete"):
            yield from self._message_completed(data, name.rsplit(".", 1)[1])
        elif name in ("thread.run.step.created", "thread.run.step.in_progress"):
            step_id = _str(_get(data, "id", ""))
            for position, tool_call in enumerate(_step_tool_calls(_get(data, "step_details"))):
                yield from self._register_call(
                    step_id, _get(tool_call, "index", position), tool_call
                )
        elif name == "thread.run.step.delta":
            step_id = _str(_get(data, "id", ""))
            details = _get(_get(data, "delta"), "step_details")
            for tool_call in _step_tool_calls(details):
                yield from self._call_delta(step_id, tool_call)
        elif name in _STEP_END_EVENTS:
            yield from self._step_end(data, name.rsplit(".", 1)[1])
        # thread.created, thread.message.in_progress and unknown events carry nothing new.

    def _finish(self, event: ev.RunEvent) -> ev.RunEvent:
        self.finished = event
        return event


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One TLS context for every engine (building one costs ~50 ms)."""
    return httpx2.create_ssl_context()


_BETA_HEADERS = {"OpenAI-Beta": "assistants=v2"}


def _load_resources(client: openai.AsyncOpenAI) -> None:
    beta = client.beta
    _ = (beta.assistants, beta.threads.messages, beta.threads.runs)


# --------------------------------------------------------------------------- the engine


class EndpointClients:
    """What every engine makes of ``base_url``: how to name the endpoint, and the SDK
    clients it calls it with.

    * ``where``: the endpoint for messages, without credentials a URL might carry (or the
      ``where`` given, e.g. not a throwaway local port); ``label``: host and port;
    * ``client``: retries idempotent calls; ``once``: never retries (a POST that starts
      or continues a run has no idempotency key); ``streams``: ``once`` with the read
      timeout that says a run stream went silent; ``probe``: one quick try.
    """

    def __init__(self, base_url: str, api_key: str, headers: dict[str, str] | None,
                 label: str | None, where: str | None, stream_silence: float) -> None:
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        host = parts.hostname or self.base_url
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{host}:{parts.port}" if parts.port else host
        self.where = where or (
            parts._replace(netloc=netloc).geturl() if parts.scheme else self.base_url
        )
        self.label = label or netloc
        self.client = openai.AsyncOpenAI(
            base_url=self.base_url,
            api_key=api_key or "no-key",
            default_headers=dict(headers or {}),
            max_retries=2,
            timeout=DEFAULT_TIMEOUT,
            http_client=openai.DefaultAsyncHttpxClient(
                verify=_ssl_context(), timeout=DEFAULT_TIMEOUT
            ),
        )
        self.once = self.client.with_options(max_retries=0)
        self.streams = self.once.with_options(
            timeout=httpx2.Timeout(DEFAULT_TIMEOUT.read, connect=5, read=stream_silence)
        )
        self.probe = self.client.with_options(max_retries=0, timeout=PROBE_TIMEOUT)


class AssistantsEngine:
    """``Engine`` over the Assistants API of an OpenAI-compatible endpoint."""

    kind = "assistants"
    api_name = "Assistants API"

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        headers: dict[str, str] | None = None,
        label: str | None = None,
        stream_silence: float = STREAM_SILENCE,
        where: str | None = None,
    ) -> None:
        connection = EndpointClients(base_url, api_key, headers, label, where, stream_silence)
        self.base_url = connection.base_url
        self.label = connection.label
        self._where = connection.where
        self._client, self._once = connection.client, connection.once
        self._streams, self._probe = connection.streams, connection.probe
        self._stream_silence = stream_silence
        self._api_key = api_key or ""
        self._runs: dict[str, _RunState] = {}
        self._loaded = False
        self._loading: asyncio.Future[None] | None = None

    def __repr__(self) -> str:
        return f"AssistantsEngine({self._where!r})"

    async def _ready(self) -> None:
        """Load the SDK's ``beta`` resources in a thread before their first use.

        ``client.beta`` imports some hundred pydantic models on first access (0.5-1 s); in
        the event loop that would freeze the UI, so it happens in a worker thread."""
        if not self._loaded:
            self._preload()
            assert self._loading is not None
            await asyncio.shield(self._loading)
            self._loaded = True

    @staticmethod
    def _loop_call_soon(callback: Any) -> None:
        asyncio.get_running_loop().call_later(0.05, callback)

    def _preload(self) -> None:
        """Start loading the ``beta`` resources in a thread (once)."""
        if self._loading is None:
            self._loading = asyncio.ensure_future(
                asyncio.to_thread(_load_resources, self._client)
            )

    async def _get_json(self, client: openai.AsyncOpenAI, path: str, **params: Any) -> Any:
        """``GET path`` through the SDK's generic request (retries, errors), read as plain
        JSON: the probe and the assistant list need none of the ``beta`` resources, whose
        import (~0.5 s) then happens meanwhile (``_preload``)."""
        return await client.get(
            path, cast_to=object, options={"params": params, "headers": _BETA_HEADERS}
        )

    # -- errors ----------------------------------------------------------------------

    def map_error(self, exc: BaseException, what: str = "", *, collection: str = "") -> EngineError:
        """The ``EngineError`` to show for an SDK exception.

        ``what`` names the object the request was about ("Thread thread_x"); ``collection``
        is the collection path of a list/probe request ("/assistants"), where a 404 means
        the endpoint does not serve the API at all.
        """
        if isinstance(exc, EngineError):
            return exc
        if isinstance(exc, openai.APIConnectionError):
            return EndpointUnreachable(f"Could not reach {self._where}: {_connection_reason(exc)}.")
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            detail = self._scrub(_server_message(exc))
            if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
                return AuthError(
                    f"The endpoint refused the API key (HTTP {status}). "
                    "Check OPENAI_API_KEY or the profile's api_key_env."
                )
            if status == 410 or (status == 404 and collection):
                path = collection or "its Assistants paths"
                return NotServedError(
                    f"This endpoint does not serve the Assistants API (HTTP {status} on {path}). "
                    "OpenAI retired it on 2026-08-26; point the profile at a compatible server "
                    "(for example the local one: tui-assistant serve)."
                )
            if status == 404:
                subject = what or "The requested object"
                return NotFoundError(f"{subject} was not found on {self._where} (HTTP 404).")
            if status in (400, 409) and _ACTIVE_RUN.search(detail):
                match = _RUN_ID.search(detail)
                run_id = match.group(0) if match else ""
                shown = f" ({run_id})" if run_id else ""
                return ActiveRunError(
                    f"This thread already has an active run{shown}. "
                    "Wait for it to finish or cancel it.",
                    run_id=run_id,
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
            detail = self._scrub(_server_message(exc))
            return EngineError(f"The endpoint reported an error: {detail}")
        return EngineError(f"Request to {self._where} failed: {self._scrub(str(exc))}")

    def _scrub(self, text: str) -> str:
        """``text`` without the API key (servers sometimes echo it in error messages)."""
        return text.replace(self._api_key, "***") if len(self._api_key) >= 4 else text

    @contextmanager
    def _errors(self, what: str = "", *, collection: str = "") -> Iterator[None]:
        try:
            yield
        except EngineError:
            raise
        except openai.OpenAIError as exc:
            raise self.map_error(exc, what, collection=collection) from exc
        except Exception as exc:  # the SDK choking on an answer that is not the API's
            if collection:
                raise NotServedError(
                    f"This endpoint does not serve the Assistants API (an unreadable answer "
                    f"on {collection}). Point the profile at an Assistants-compatible server."
                ) from exc
            raise EngineError(
                f"{self._where} sent an answer that could not be read ({type(exc).__name__})."
            ) from exc

    # -- endpoint and assistants -----------------------------------------------------

    async def check(self) -> None:
        """Probe ``GET /assistants?limit=1`` once (no retries, short timeout)."""
        with self._errors(collection="/assistants"):
            page = await self._get_json(self._probe, "/assistants", limit=1)
        if not isinstance(_get(page, "data", None), list):
            raise NotServedError(
                "This endpoint does not serve the Assistants API (no assistant list on "
                "/assistants). Point the profile at an Assistants-compatible server."
            )

    async def list_assistants(self, limit: int = 100) -> list[AssistantInfo]:
        found: list[AssistantInfo] = []
        if limit <= 0:
            return found
        # Once the assistants are known the UI is ready: the beta resources load then.
        self._loop_call_soon(self._preload)
        params: dict[str, Any] = {"limit": min(limit, 100), "order": "desc"}
        with self._errors(collection="/assistants"):
            while True:
                page = await self._get_json(self._client, "/assistants", **params)
                data = _get(page, "data", None)
                if not isinstance(data, list):
                    raise NotServedError(
                        "This endpoint does not serve the Assistants API (no assistant list "
                        "on /assistants). Point the profile at an Assistants-compatible server."
                    )
                for assistant in data:
                    found.append(_assistant_info(assistant))
                    if len(found) >= limit:
                        return found
                last = _str(_get(data[-1], "id", "")) if data else ""
                if not _get(page, "has_more", False) or not last:
                    return found
                params["after"] = last

    async def retrieve_assistant(self, assistant_id: str) -> AssistantInfo:
        await self._ready()
        with self._errors(f"Assistant {assistant_id}"):
            return _assistant_info(await self._client.beta.assistants.retrieve(assistant_id))

    async def create_assistant(
        self,
        *,
        name: str,
        model: str,
        instructions: str = "",
        tools: Sequence[dict] = (),
    ) -> AssistantInfo:
        await self._ready()
        with self._errors(collection="/assistants"):
            created = await self._once.beta.assistants.create(
                name=name, model=model, instructions=instructions, tools=list(tools)
            )
        return _assistant_info(created)

    # -- threads and messages --------------------------------------------------------

    async def create_thread(self) -> str:
        await self._ready()
        with self._errors(collection="/threads"):
            thread = await self._once.beta.threads.create()
        return _str(_get(thread, "id", ""))

    async def list_messages(
        self, thread_id: str, *, limit: int = 50, before_id: str | None = None
    ) -> MessagePage:
        await self._ready()
        extra: dict[str, Any] = {"after": before_id} if before_id else {}
        with self._errors(f"Thread {thread_id}"):
            page = await self._client.beta.threads.messages.list(
                thread_id, order="desc", limit=max(1, min(limit, 100)), **extra
            )
        messages = []
        for message in reversed(list(_get(page, "data", ()) or ())):
            content = _get(message, "content", ())
            text, annotations = message_text(content)
            messages.append(
                ThreadMessage(
                    id=_str(_get(message, "id", "")),
                    role=_str(_get(message, "role", "")) or "assistant",
                    text=text,
                    created_at=_timestamp(_get(message, "created_at")),
                    run_id=_get(message, "run_id") or None,
                    status=_str(_get(message, "status", "")) or "completed",
                    annotations=annotations,
                    images=message_images(content),
                )
            )
        return MessagePage(messages=messages, has_more=bool(_get(page, "has_more", False)))

    # -- runs ------------------------------------------------------------------------

    def _state(self, run_id: str, thread_id: str) -> _RunState:
        state = self._runs.get(run_id) if run_id else None
        if state is None:
            state = _RunState(run_id=run_id, thread_id=thread_id)
        return state

    def _remember(self, state: _RunState, finished: ev.RunEvent | None) -> None:
        if not state.run_id:
            return
        if finished is None or isinstance(finished, ev.ActionRequired):
            # Paused or broken off: a later stream of this run continues from this state.
            self._runs[state.run_id] = state
            while len(self._runs) > _MAX_TRACKED_RUNS:
                self._runs.pop(next(iter(self._runs)))
        else:
            self._runs.pop(state.run_id, None)

    async def _consume(self, stream: Any, state: _RunState) -> AsyncIterator[ev.RunEvent]:
        """Map one SDK stream; raise ``StreamInterrupted`` if it ends before the run pauses
        or ends."""
        mapper = _StreamMapper(state)
        broken: StreamInterrupted | None = None
        events = 0
        try:
            if not getattr(stream, "is_event_stream", True):
                broken = await self._not_streamed(stream, state)
            while broken is None and mapper.finished is None:
                try:
                    raw = await anext(stream)
                except StopAsyncIteration:
                    break
                except openai.APITimeoutError:
                    broken = StreamInterrupted(
                        f"{self._where} sent nothing for {self._stream_silence:g} s during "
                        "the run.",
                        run_id=state.run_id,
                    )
                    break
                except openai.APIConnectionError as exc:
                    broken = StreamInterrupted(
                        f"The connection to {self._where} broke off during the run "
                        f"({_connection_reason(exc)}).",
                        run_id=state.run_id,
                    )
                    break
                except openai.APIError as exc:  # a data frame carrying an "error" object
                    body = exc.body if isinstance(exc.body, dict) else {}
                    yield mapper._finish(
                        ev.RunFailed(
                            run_id=state.run_id,
                            status="error",
                            code=_str(body.get("code", "")) or _str(exc.code),
                            message=self._scrub(_server_message(exc)),
                        )
                    )
                    break
                except Exception as exc:  # a frame that is not JSON, or not the API's
                    broken = StreamInterrupted(
                        f"{self._where} sent a malformed stream event ({type(exc).__name__}).",
                        run_id=state.run_id,
                    )
                    break
                events += 1
                for event in mapper.map(raw):
                    yield event
        finally:
            self._remember(state, mapper.finished)
            await stream.close()
        if mapper.finished is None:
            if broken is None and not state.run_id:
                said = "no events at all" if events == 0 else "no events this client knows"
                broken = StreamInterrupted(
                    f"{self._where} answered the streamed run request with {said}.",
                    run_id=state.run_id,
                )
            raise broken or StreamInterrupted(
                f"The stream from {self._where} ended before the run finished.",
                run_id=state.run_id,
            )

    async def _not_streamed(self, stream: Any, state: _RunState) -> StreamInterrupted:
        """The server answered a streamed run request with a plain JSON body: the run is
        followed by polling, from the run object when the body is one."""
        try:
            body = await stream.read_json()
        except Exception:  # noqa: BLE001 - whatever it was, it was not a stream
            body = None
        if _get(body, "object") == "thread.run" and _get(body, "id"):
            state.run_id = state.run_id or _str(_get(body, "id", ""))
            state.thread_id = state.thread_id or _str(_get(body, "thread_id", ""))
        return StreamInterrupted(
            f"{self._where} answered the streamed run request without streaming; following "
            "the run by polling.",
            run_id=state.run_id,
        )

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
        await self._ready()
        extra: dict[str, Any] = {}
        if additional_instructions:
            extra["additional_instructions"] = additional_instructions
        if tools is not None:  # the run's tools replace the assistant's for this run
            extra["tools"] = [dict(t) for t in tools]
        message: dict[str, Any] = {"role": "user", "content": text}
        if attachments:
            message["attachments"] = [dict(a) for a in attachments]
        if text or attachments:  # no text: run the assistant on the thread as it is
            extra["additional_messages"] = [message]
        with self._errors(f"Thread {thread_id}"):
            stream = await RawEventStream.open(
                self._streams.beta.threads.runs.with_streaming_response.create(
                    thread_id,
                    assistant_id=assistant_id,
                    stream=True,
                    **extra,
                )
            )
        async with aclosing(self._consume(stream, self._state("", thread_id))) as events:
            async for event in events:
                yield event

    async def submit_tool_outputs(
        self, thread_id: str, run_id: str, outputs: Sequence[ev.ToolOutput]
    ) -> AsyncIterator[ev.RunEvent]:
        await self._ready()
        with self._errors(f"Run {run_id}"):
            stream = await RawEventStream.open(
                self._streams.beta.threads.runs.with_streaming_response.submit_tool_outputs(
                    run_id,
                    thread_id=thread_id,
                    tool_outputs=[
                        {"tool_call_id": o.call_id, "output": o.output} for o in outputs
                    ],
                    stream=True,
                )
            )
        async with aclosing(self._consume(stream, self._state(run_id, thread_id))) as events:
            async for event in events:
                yield event

    async def cancel_run(self, thread_id: str, run_id: str) -> None:
        await self._ready()
        try:
            with self._errors(f"Run {run_id}"):
                await self._once.beta.threads.runs.cancel(run_id, thread_id=thread_id)
        except EngineError as exc:
            status = getattr(exc.__cause__, "status_code", None)
            if status in (404, 405, 501):
                raise EngineError(
                    f"Could not cancel the run: {self.label} does not support cancelling runs "
                    f"(HTTP {status}).",
                    title="Cancel not supported",
                ) from exc.__cause__
            raise

    async def retrieve_run(self, thread_id: str, run_id: str) -> RunInfo:
        await self._ready()
        with self._errors(f"Run {run_id}"):
            run = await self._client.beta.threads.runs.retrieve(run_id, thread_id=thread_id)
        return _run_info(run)

    async def latest_run(self, thread_id: str) -> RunInfo | None:
        await self._ready()
        with self._errors(f"Thread {thread_id}"):
            page = await self._client.beta.threads.runs.list(thread_id, limit=1, order="desc")
        data = list(_get(page, "data", ()) or ())
        return _run_info(data[0]) if data else None

    async def list_models(self) -> list[str]:
        """The model ids ``GET /models`` offers, sorted."""
        with self._errors(collection="/models"):
            page = await self._client.models.list()
        return sorted({str(_get(m, "id", "") or "") for m in _get(page, "data", ()) or ()} - {""})

    async def aclose(self) -> None:
        await self._client.close()

    # -- tools and files (issue 4) ---------------------------------------------------

    def _unsupported(self, exc: EngineError, what: str) -> EngineError:
        """``NotSupportedError`` for the statuses that mean "not implemented here"."""
        status = getattr(exc.__cause__, "status_code", None)
        if status in (404, 405, 501):
            return NotSupportedError(f"{self.label} does not support {what} (HTTP {status}).")
        return exc

    async def list_runs(self, thread_id: str, *, limit: int = 20) -> list[RunInfo]:
        await self._ready()
        try:
            with self._errors(f"Thread {thread_id}"):
                page = await self._client.beta.threads.runs.list(
                    thread_id, limit=max(1, min(limit, 100)), order="desc"
                )
        except EngineError as exc:
            raise self._unsupported(exc, "listing runs") from exc.__cause__
        return [_run_info(run) for run in reversed(list(_get(page, "data", ()) or ()))]

    async def list_run_steps(self, thread_id: str, run_id: str) -> list[RunStepInfo]:
        await self._ready()
        steps: list[RunStepInfo] = []
        try:
            with self._errors(f"Run {run_id}"):
                async for step in self._client.beta.threads.runs.steps.list(
                    run_id, thread_id=thread_id, order="asc", limit=100
                ):
                    steps.append(_step_info(step))
                    if len(steps) >= 1000:
                        break
        except EngineError as exc:
            raise self._unsupported(exc, "run steps") from exc.__cause__
        return steps

    async def upload_file(self, path: str, *, purpose: str = "assistants") -> FileInfo:
        await self._ready()
        source = Path(path).expanduser()
        try:
            data = await asyncio.to_thread(source.read_bytes)
        except OSError as exc:
            raise EngineError(
                f"Could not read {source}: {exc.strerror or exc}.", title="File not uploaded"
            ) from exc
        try:
            with self._errors(collection="/files"):
                created = await self._once.files.create(
                    file=(source.name, data), purpose=purpose  # type: ignore[arg-type]
                )
        except NotServedError as exc:
            raise NotSupportedError(
                f"{self.label} does not accept file uploads (no Files API)."
            ) from exc.__cause__
        except EngineError as exc:
            raise self._unsupported(exc, "file uploads") from exc.__cause__
        return _file_info(created)

    async def retrieve_file(self, file_id: str) -> FileInfo:
        await self._ready()
        with self._errors(f"File {file_id}"):
            return _file_info(await self._client.files.retrieve(file_id))

    async def download_file(self, file_id: str, dest: str) -> str:
        await self._ready()
        with self._errors(f"File {file_id}"):
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

    # -- threads and assistants (issue 5) --------------------------------------------

    async def retrieve_thread(self, thread_id: str) -> ThreadInfo:
        await self._ready()
        with self._errors(f"Thread {thread_id}"):
            thread = await self._client.beta.threads.retrieve(thread_id)
        metadata = _get(thread, "metadata", None) or {}
        return ThreadInfo(
            id=_str(_get(thread, "id", "")) or thread_id,
            created_at=_timestamp(_get(thread, "created_at")),
            metadata={str(k): str(v) for k, v in dict(metadata).items()},
        )

    async def delete_thread(self, thread_id: str) -> None:
        await self._ready()
        with self._errors(f"Thread {thread_id}"):
            await self._once.beta.threads.delete(thread_id)

    async def assistant_settings(self, assistant_id: str) -> AssistantSettings:
        await self._ready()
        with self._errors(f"Assistant {assistant_id}"):
            found = await self._client.beta.assistants.retrieve(assistant_id)
        temperature = _get(found, "temperature")
        return AssistantSettings(
            id=_str(_get(found, "id", "")),
            name=_str(_get(found, "name", "")),
            model=_str(_get(found, "model", "")),
            instructions=_str(_get(found, "instructions", "")),
            tools=tuple(_tool_definition(t) for t in _get(found, "tools", ()) or ()),
            temperature=float(temperature) if isinstance(temperature, int | float) else None,
        )

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
        await self._ready()
        extra: dict[str, Any] = {} if temperature is None else {"temperature": temperature}
        with self._errors(f"Assistant {assistant_id}"):
            updated = await self._once.beta.assistants.update(
                assistant_id,
                name=name,
                model=model,
                instructions=instructions,
                tools=[dict(t) for t in tools],
                **extra,
            )
        return _assistant_info(updated)

    async def delete_assistant(self, assistant_id: str) -> None:
        await self._ready()
        with self._errors(f"Assistant {assistant_id}"):
            await self._once.beta.assistants.delete(assistant_id)


def _tool_definition(tool: Any) -> dict:
    """A tool of an assistant as the plain dict the API accepts back."""
    if isinstance(tool, dict):
        return dict(tool)
    dump = getattr(tool, "model_dump", None)
    if callable(dump):
        return dump(mode="json", exclude_none=True)
    return {"type": _str(_get(tool, "type", ""))}
