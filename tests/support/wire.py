"""A scripted Assistants wire server (Starlette + uvicorn on 127.0.0.1) and builders for
the objects and stream frames it serves, for engine, session and app tests."""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support.serving import ThreadedServer
from tui_assistant import events as ev

API_KEY = "sk-test-secret-4242"


@dataclass
class Recorded:
    """A request the wire server received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any = None


Responder = Response | Callable[[Recorded], Response | Awaitable[Response]]


@dataclass
class _Route:
    method: str
    pattern: re.Pattern[str]
    responses: list[Responder] = field(default_factory=list)


class WireServer(ThreadedServer):
    """A scripted Assistants endpoint on 127.0.0.1 (uvicorn in a background thread).

    ``route(method, path_regex, *responses)`` answers matching requests with the given
    responses in turn (the last one repeats). Paths are matched without the ``/v1`` prefix.
    Every request is recorded in ``requests``. ``signal(name)`` / ``wait(name)`` let a
    streaming response pause until another request (for example a cancel) arrives.
    """

    name = "the wire server"

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._routes: list[_Route] = []
        self._signals: dict[str, asyncio.Event] = {}
        app = Starlette(
            routes=[
                Route(
                    "/{path:path}",
                    self._handle,
                    methods=["GET", "POST", "DELETE", "PUT", "PATCH"],
                )
            ]
        )
        super().__init__(app)

    def reset(self) -> None:
        self.requests.clear()
        self._routes.clear()
        self._signals.clear()

    def route(self, method: str, path: str, *responses: Responder) -> None:
        self._routes.insert(0, _Route(method.upper(), re.compile(path), list(responses)))

    def requests_to(self, method: str, path: str) -> list[Recorded]:
        pattern = re.compile(path)
        return [r for r in self.requests if r.method == method and pattern.fullmatch(r.path)]

    def _event(self, name: str) -> asyncio.Event:
        if name not in self._signals:
            self._signals[name] = asyncio.Event()
        return self._signals[name]

    def signal(self, name: str) -> Callable[[Recorded], None]:
        """A side effect for ``respond``: set the named signal (in the server's loop)."""
        return lambda _request: self._event(name).set()

    async def wait(self, name: str, timeout: float = 10.0) -> None:
        """Await the named signal (use as a frame of ``sse`` to pause a stream)."""
        await asyncio.wait_for(self._event(name).wait(), timeout)

    async def _handle(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        path = request.url.path.removeprefix("/v1")
        recorded = Recorded(
            method=request.method,
            path=path,
            query=dict(request.query_params),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
        )
        self.requests.append(recorded)
        for item in self._routes:
            if item.method == request.method and item.pattern.fullmatch(path):
                responder = item.responses.pop(0) if len(item.responses) > 1 else item.responses[0]
                if isinstance(responder, Response):
                    return responder
                result = responder(recorded)
                if inspect.isawaitable(result):
                    result = await result
                return result
        return error_response(404, f"No route for {request.method} {path}")


def respond(response: Response, *effects: Callable[[Recorded], Any]) -> Responder:
    """A responder that runs side effects (like ``WireServer.signal``) and answers."""

    def answer(request: Recorded) -> Response:
        for effect in effects:
            effect(request)
        return response

    return answer


CREATED = 1_760_000_000


def run_obj(
    status: str = "queued", *, run_id: str = "run_1", thread_id: str = "thread_1", **extra: Any
) -> dict[str, Any]:
    """A Run object as OpenAI sends it."""
    obj: dict[str, Any] = {
        "id": run_id,
        "object": "thread.run",
        "created_at": CREATED,
        "assistant_id": "asst_1",
        "thread_id": thread_id,
        "status": status,
        "started_at": None,
        "expires_at": CREATED + 600,
        "cancelled_at": None,
        "failed_at": None,
        "completed_at": None,
        "required_action": None,
        "last_error": None,
        "model": "gpt-test",
        "instructions": "Be brief.",
        "tools": [],
        "metadata": {},
        "incomplete_details": None,
        "usage": None,
        "temperature": 1.0,
        "top_p": 1.0,
        "max_prompt_tokens": None,
        "max_completion_tokens": None,
        "truncation_strategy": {"type": "auto", "last_messages": None},
        "response_format": "auto",
        "tool_choice": "auto",
        "parallel_tool_calls": True,
    }
    obj.update(extra)
    return obj


def text_block(value: str, annotations: list[dict] | None = None) -> dict[str, Any]:
    return {"type": "text", "text": {"value": value, "annotations": annotations or []}}


def msg_obj(
    message_id: str = "msg_1",
    status: str = "completed",
    content: list | None = None,
    *,
    role: str = "assistant",
    run_id: str | None = "run_1",
    thread_id: str = "thread_1",
    created_at: int = CREATED,
) -> dict[str, Any]:
    """A Message object."""
    return {
        "id": message_id,
        "object": "thread.message",
        "created_at": created_at,
        "thread_id": thread_id,
        "status": status,
        "incomplete_details": None,
        "completed_at": None,
        "incomplete_at": None,
        "role": role,
        "content": content if content is not None else [],
        "assistant_id": "asst_1" if role == "assistant" else None,
        "run_id": run_id if role == "assistant" else None,
        "attachments": [],
        "metadata": {},
    }


def msg_delta(message_id: str, *values: str) -> dict[str, Any]:
    return {
        "id": message_id,
        "object": "thread.message.delta",
        "delta": {
            "content": [
                {"index": i, "type": "text", "text": {"value": v, "annotations": []}}
                for i, v in enumerate(values)
            ]
        },
    }


def step_obj(
    step_id: str,
    status: str,
    tool_calls: list | None = None,
    *,
    message_id: str | None = None,
    run_id: str = "run_1",
    last_error: dict | None = None,
) -> dict[str, Any]:
    """A RunStep: tool calls, or the creation of ``message_id``."""
    if message_id is not None:
        details: dict[str, Any] = {
            "type": "message_creation",
            "message_creation": {"message_id": message_id},
        }
    else:
        details = {"type": "tool_calls", "tool_calls": tool_calls or []}
    return {
        "id": step_id,
        "object": "thread.run.step",
        "created_at": CREATED,
        "assistant_id": "asst_1",
        "thread_id": "thread_1",
        "run_id": run_id,
        "type": details["type"],
        "status": status,
        "step_details": details,
        "last_error": last_error,
        "expired_at": None,
        "cancelled_at": None,
        "failed_at": None,
        "completed_at": None,
        "metadata": None,
        "usage": None,
    }


def step_delta(step_id: str, *tool_calls: dict) -> dict[str, Any]:
    return {
        "id": step_id,
        "object": "thread.run.step.delta",
        "delta": {"step_details": {"type": "tool_calls", "tool_calls": list(tool_calls)}},
    }


def fn_call(call_id: str, name: str, arguments: str, output: str | None = None) -> dict:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": arguments, "output": output},
    }


def requires_action(calls: list[dict], **extra: Any) -> dict[str, Any]:
    return run_obj(
        "requires_action",
        required_action={
            "type": "submit_tool_outputs",
            "submit_tool_outputs": {"tool_calls": calls},
        },
        **extra,
    )


USAGE = {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}


Frame = tuple[str, Any] | Callable[[], Awaitable[None]] | str


class Cut(Exception):
    """Raised inside a streaming body: uvicorn then drops the connection mid-response."""


CUT = "<cut>"
"""A frame that breaks the connection off (no terminating chunk)."""


def sse(*frames: Frame, done: bool = True) -> Callable[[Recorded], StreamingResponse]:
    """A responder streaming SSE: ``(event, data)`` frames (data: a dict, or a str sent
    verbatim), awaitables run in between, ``CUT`` to drop the connection; ``done`` appends
    the ``event: done`` / ``data: [DONE]`` frame. Each request gets a fresh stream."""

    async def body():
        for frame in frames:
            if frame == CUT:
                raise Cut("connection cut by the test")
            if callable(frame):
                await frame()
                continue
            event, data = frame
            text = data if isinstance(data, str) else json.dumps(data)
            yield f"event: {event}\ndata: {text}\n\n".encode()
            await asyncio.sleep(0)
        if done:
            yield b"event: done\ndata: [DONE]\n\n"

    return lambda _request: StreamingResponse(body(), media_type="text/event-stream")


def error_response(
    status: int,
    message: str,
    *,
    type_: str = "invalid_request_error",
    code: str | None = None,
    headers: dict | None = None,
) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "type": type_, "param": None, "code": code}},
        status_code=status,
        headers=headers,
    )


def text_run_frames(
    text_pieces: list[str], *, message_id: str = "msg_1", run_id: str = "run_1"
) -> list[Frame]:
    """The frames of a run that writes one text message and completes."""
    full = "".join(text_pieces)
    return [
        ("thread.run.created", run_obj("queued", run_id=run_id)),
        ("thread.run.queued", run_obj("queued", run_id=run_id)),
        ("thread.run.in_progress", run_obj("in_progress", run_id=run_id)),
        (
            "thread.run.step.created",
            step_obj("step_m", "in_progress", message_id=message_id, run_id=run_id),
        ),
        ("thread.message.created", msg_obj(message_id, "in_progress", run_id=run_id)),
        ("thread.message.in_progress", msg_obj(message_id, "in_progress", run_id=run_id)),
        *[("thread.message.delta", msg_delta(message_id, piece)) for piece in text_pieces],
        (
            "thread.message.completed",
            msg_obj(message_id, "completed", [text_block(full)], run_id=run_id),
        ),
        (
            "thread.run.step.completed",
            step_obj("step_m", "completed", message_id=message_id, run_id=run_id),
        ),
        ("thread.run.completed", run_obj("completed", run_id=run_id, usage=USAGE)),
    ]


RUNS = r"/threads/thread_1/runs"


SUBMIT = r"/threads/thread_1/runs/run_1/submit_tool_outputs"


CANCEL = r"/threads/thread_1/runs/run_1/cancel"


async def collect(stream) -> list[ev.RunEvent]:
    return [event async for event in stream]


def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port
