"""Fault injection for the local server: make it misbehave on purpose, for client tests.

``Faults`` (one per server, ``LocalServer.faults``) holds the faults waiting to happen.
Each is used up after ``count`` occasions (one by default). It is safe to call from any
thread. Faults that concern a run's stream or turn take ``on``:

* ``"first"``: the stream of the request that starts the run (``runs.create`` or
  ``threads.create_and_run`` with ``stream=True``), or for ``end_run`` the run's first
  turn;
* ``"submit"``: the stream of ``submit_tool_outputs(stream=True)``, or for ``end_run``
  the turn after tool outputs were submitted;
* ``"any"``: either.

The faults:

``drop_stream(after_events=3, *, on="first", count=1)``
    Send ``after_events`` events of the stream, then cut the connection (no ``done``,
    an unfinished chunked body: the SDK raises ``APIConnectionError``). The run goes on
    on the server; a client can reattach by retrieving or polling it.
``stall(seconds, *, on="first", after_events=0, count=1, path_pattern=None, method=None)``
    Pause a stream for ``seconds`` after ``after_events`` events (the run goes on, its
    events are sent after the pause). With ``on="request"``: hold matching requests
    (``path_pattern``, ``method``) for ``seconds`` before handling them.
``fail_requests(status, count=1, *, retry_after=None, path_pattern=None, method=None)``
    Answer the next ``count`` matching requests with ``status`` (429, 500, 503, …) and an
    OpenAI-style error body, without handling them. ``retry_after`` (seconds) is sent as
    ``Retry-After`` (whole seconds, rounded up) and ``retry-after-ms``. ``path_pattern`` is
    a regular expression searched in the URL path (e.g. ``"/runs$"``); ``method`` e.g.
    ``"POST"``.
``malformed_frame(*, after_events=3, on="first", count=1)``
    Insert, after ``after_events`` events, a ``thread.message.delta`` frame whose JSON is
    cut short (the SDK raises ``json.JSONDecodeError`` while iterating). The real events
    follow; the run is not affected.
``error_event(*, after_events=3, on="first", count=1, message=..., code="server_error")``
    Send an ``event: error`` frame after ``after_events`` events and end the stream there
    (without ``done``). The raw SDK stream yields an ``ErrorEvent``. The run goes on.
``end_run(status, *, on="first", after_outputs=3, count=1, message=..., code="server_error",
reason="max_completion_tokens")``
    End the run's turn as ``failed`` (``last_error`` ``{code, message}``), ``expired`` or
    ``incomplete`` (``incomplete_details.reason``) after the model has produced
    ``after_outputs`` outputs (text tokens, tool calls), or at the end of the turn if
    it produces fewer. A message being written becomes ``incomplete``.
``active_run_conflict(count=1)``
    The next ``count`` ``POST /threads/{id}/runs`` really start their run but answer
    400 ``Thread thread_… already has an active run run_….`` naming it, as when the first
    attempt of a retried request went through.

``add(spec)`` takes the same faults as text, ``NAME[,key=value...]`` (``fail_requests,
status=429,count=2,retry_after=1``), or as a mapping (``{"kind": "stall", "seconds": 2}``).
``tui-assistant serve`` reads such specs, separated by ``;``, from the environment
variable ``TUI_ASSISTANT_FAULTS``; a server started with ``fault_admin`` also accepts
them at ``POST /_faults`` (JSON), lists them at ``GET /_faults`` and clears them with
``DELETE /_faults``, from loopback clients only.
"""

from __future__ import annotations

import asyncio
import math
import re
import threading
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from tui_assistant.server.storage import dumps

STAGES = ("first", "submit", "any")
RUN_ENDINGS = ("failed", "expired", "incomplete")
STREAM_KINDS = ("drop_stream", "stall", "malformed_frame", "error_event")
SPEC_ENV = "TUI_ASSISTANT_FAULTS"

MALFORMED_FRAME = (
    b'event: thread.message.delta\ndata: {"id":"msg_fault","object":"thread.message.delta",'
    b'"delta":{"content":[{"index":0,"type":"text","text":{"value":\n\n'
)
"""A frame whose JSON stops in the middle."""

_ERROR_BODIES = {
    429: ("Rate limit reached for requests (injected fault).", "requests", "rate_limit_exceeded"),
    500: ("The server had an error while processing your request.", "server_error", None),
    502: ("Bad gateway.", "server_error", None),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
}


class StreamDropped(Exception):
    """Raised inside a streaming response so that the server cuts the connection."""


@dataclass(eq=False)
class Fault:
    """One fault waiting to happen (or used up, when ``remaining`` is 0)."""

    kind: str
    remaining: int = 1
    on: str = "first"
    after: int = 0
    """Events sent before a stream fault, or outputs before ``end_run``."""
    seconds: float = 0.0
    status: Any = None
    """The HTTP status of ``fail_requests``, the run status of ``end_run``."""
    retry_after: float | None = None
    path_pattern: str | None = None
    method: str | None = None
    message: str = ""
    code: str | None = None
    reason: str = "max_completion_tokens"
    used: int = 0
    _pattern: re.Pattern[str] | None = field(default=None, repr=False)

    def describe(self) -> dict[str, Any]:
        keys = {
            "drop_stream": ("on", "after"),
            "stall": ("on", "after", "seconds", "path_pattern", "method"),
            "fail_requests": ("status", "retry_after", "path_pattern", "method"),
            "malformed_frame": ("on", "after"),
            "error_event": ("on", "after", "message", "code"),
            "end_run": ("status", "on", "after", "message", "code", "reason"),
            "active_run_conflict": (),
        }[self.kind]
        out: dict[str, Any] = {"kind": self.kind, "remaining": self.remaining, "used": self.used}
        for key in keys:
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self._pattern is None or self._pattern.search(path) is not None

    def error_frame(self) -> bytes:
        body = {"code": self.code, "message": self.message, "param": None, "type": "server_error"}
        return f"event: error\ndata: {dumps(body)}\n\n".encode()

    def error_response(self) -> tuple[int, dict[str, Any], dict[str, str]]:
        """(status, body, headers) of a ``fail_requests`` answer."""
        status = int(self.status)
        message, kind, code = _ERROR_BODIES.get(
            status,
            (
                f"Injected fault: HTTP {status}.",
                "server_error" if status >= 500 else "invalid_request_error",
                None,
            ),
        )
        headers = {}
        if self.retry_after is not None:
            headers["retry-after"] = str(max(0, math.ceil(self.retry_after)))
            headers["retry-after-ms"] = str(max(0, round(self.retry_after * 1000)))
        body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
        return status, body, headers


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _stage(on: str, allowed: tuple[str, ...] = STAGES) -> str:
    _check(on in allowed, f"'on' must be one of {', '.join(allowed)}, not {on!r}")
    return on


def _count(count: int) -> int:
    _check(isinstance(count, int) and count >= 1, f"'count' must be an integer >= 1, not {count!r}")
    return count


def _after(after: int) -> int:
    _check(
        isinstance(after, int) and after >= 0,
        f"the event or output count must be >= 0, not {after!r}",
    )
    return after


class Faults:
    """The faults waiting to happen on one server (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    # --- adding faults ------------------------------------------------------------

    def _add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def drop_stream(self, after_events: int = 3, *, on: str = "first", count: int = 1) -> Fault:
        return self._add(
            Fault("drop_stream", _count(count), _stage(on), after=_after(after_events))
        )

    def stall(
        self,
        seconds: float,
        *,
        on: str = "first",
        after_events: int = 0,
        count: int = 1,
        path_pattern: str | None = None,
        method: str | None = None,
    ) -> Fault:
        _check(0 <= seconds <= 3600, f"'seconds' must be between 0 and 3600, not {seconds!r}")
        fault = Fault(
            "stall",
            _count(count),
            _stage(on, (*STAGES, "request")),
            after=_after(after_events),
            seconds=float(seconds),
            path_pattern=path_pattern,
            method=method,
        )
        fault._pattern = re.compile(path_pattern) if path_pattern else None
        return self._add(fault)

    def fail_requests(
        self,
        status: int,
        count: int = 1,
        *,
        retry_after: float | None = None,
        path_pattern: str | None = None,
        method: str | None = None,
    ) -> Fault:
        _check(
            isinstance(status, int) and 400 <= status <= 599,
            f"'status' must be an HTTP error status (400-599), not {status!r}",
        )
        _check(retry_after is None or retry_after >= 0, "'retry_after' must be >= 0")
        fault = Fault(
            "fail_requests",
            _count(count),
            on="request",
            status=status,
            retry_after=retry_after,
            path_pattern=path_pattern,
            method=method,
        )
        fault._pattern = re.compile(path_pattern) if path_pattern else None
        return self._add(fault)

    def malformed_frame(self, *, after_events: int = 3, on: str = "first", count: int = 1) -> Fault:
        return self._add(
            Fault("malformed_frame", _count(count), _stage(on), after=_after(after_events))
        )

    def error_event(
        self,
        *,
        after_events: int = 3,
        on: str = "first",
        count: int = 1,
        message: str = "The server had an error while processing your request. (injected fault)",
        code: str = "server_error",
    ) -> Fault:
        return self._add(
            Fault(
                "error_event",
                _count(count),
                _stage(on),
                after=_after(after_events),
                message=message,
                code=code,
            )
        )

    def end_run(
        self,
        status: str,
        *,
        on: str = "first",
        after_outputs: int = 3,
        count: int = 1,
        message: str = "The run failed (injected fault).",
        code: str = "server_error",
        reason: str = "max_completion_tokens",
    ) -> Fault:
        _check(status in RUN_ENDINGS, f"'status' must be one of {', '.join(RUN_ENDINGS)}")
        _check(
            code in ("server_error", "rate_limit_exceeded", "invalid_prompt"),
            "'code' must be server_error, rate_limit_exceeded or invalid_prompt",
        )
        _check(
            reason in ("max_completion_tokens", "max_prompt_tokens"),
            "'reason' must be max_completion_tokens or max_prompt_tokens",
        )
        return self._add(
            Fault(
                "end_run",
                _count(count),
                _stage(on),
                after=_after(after_outputs),
                status=status,
                message=message,
                code=code,
                reason=reason,
            )
        )

    def active_run_conflict(self, count: int = 1) -> Fault:
        return self._add(Fault("active_run_conflict", _count(count), on="request"))

    def add(self, spec: str | Mapping[str, Any]) -> Fault:
        """Add a fault given as ``NAME[,key=value...]`` or as a mapping with ``kind``."""
        if isinstance(spec, str):
            name, *pairs = [part.strip() for part in spec.split(",")]
            params: dict[str, Any] = {}
            for pair in pairs:
                key, sep, value = pair.partition("=")
                _check(bool(sep and key), f"expected key=value in the fault spec, got {pair!r}")
                params[key.strip()] = _value(value.strip())
        else:
            params = dict(spec)
            name = params.pop("kind", None)
        if "after" in params:  # a short form of after_events / after_outputs
            params["after_outputs" if name == "end_run" else "after_events"] = params.pop("after")
        method = getattr(self, str(name), None) if name in _KINDS else None
        _check(method is not None, f"unknown fault {name!r}; known: {', '.join(_KINDS)}")
        try:
            return method(**params)
        except TypeError as exc:
            raise ValueError(f"bad parameters for {name}: {exc}") from None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[dict[str, Any]]:
        """The faults not used up yet, described as mappings."""
        with self._lock:
            return [fault.describe() for fault in self._faults]

    # --- using faults (the server's side) -------------------------------------------

    def _take(self, test: Any, limit: int | None = None) -> list[Fault]:
        taken = []
        with self._lock:
            for fault in list(self._faults):
                if limit is not None and len(taken) >= limit:
                    break
                if test(fault):
                    fault.remaining -= 1
                    fault.used += 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    taken.append(fault)
        return taken

    def take_request_faults(self, method: str, path: str) -> tuple[list[Fault], Fault | None]:
        """(stalls, failure) for one incoming request."""
        if not self._faults:
            return [], None
        stalls = self._take(
            lambda f: f.kind == "stall" and f.on == "request" and f.matches(method, path)
        )
        failures = self._take(
            lambda f: f.kind == "fail_requests" and f.matches(method, path), limit=1
        )
        return stalls, (failures[0] if failures else None)

    def take_stream_faults(self, stage: str) -> list[Fault]:
        if not self._faults:
            return []
        return self._take(lambda f: f.kind in STREAM_KINDS and f.on in (stage, "any"))

    def take_end_run(self, stage: str) -> Fault | None:
        if not self._faults:
            return None
        taken = self._take(lambda f: f.kind == "end_run" and f.on in (stage, "any"), limit=1)
        return taken[0] if taken else None

    def take_conflict(self) -> bool:
        if not self._faults:
            return False
        return bool(self._take(lambda f: f.kind == "active_run_conflict", limit=1))


_KINDS = (
    "drop_stream",
    "stall",
    "fail_requests",
    "malformed_frame",
    "error_event",
    "end_run",
    "active_run_conflict",
)


def _value(text: str) -> Any:
    """A spec value: an int, a float, ``none``, or else the text itself."""
    if text.lower() in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_specs(text: str) -> list[str]:
    """Fault specs separated by ``;`` (empty ones skipped)."""
    return [part.strip() for part in text.split(";") if part.strip()]


async def faulty_stream(
    frames: AsyncIterator[bytes], faults: list[Fault], done_frame: bytes
) -> AsyncIterator[bytes]:
    """``frames`` (one per item) with the stream faults applied.

    A fault whose event count is not reached before ``done_frame`` happens just before it.
    """
    waiting = sorted(faults, key=lambda fault: fault.after)
    sent = 0
    async for frame in frames:
        while waiting and (waiting[0].after <= sent or frame == done_frame):
            fault = waiting.pop(0)
            if fault.kind == "stall":
                await asyncio.sleep(fault.seconds)
            elif fault.kind == "malformed_frame":
                yield MALFORMED_FRAME
            elif fault.kind == "error_event":
                yield fault.error_frame()
                return
            elif fault.kind == "drop_stream":
                raise StreamDropped(f"dropped after {sent} events (injected fault)")
        yield frame
        sent += 1
