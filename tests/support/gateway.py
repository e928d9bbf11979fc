"""A scripted Chat Completions upstream on 127.0.0.1, and helpers for gateway tests.

``Upstream`` is a real HTTP server (a thread) that answers ``POST /chat/completions``
from a script: each request takes the next ``Reply`` (or the last one again). A reply is
a list of stream chunks (dicts, sent as SSE ``data:`` lines) followed by ``[DONE]``, or an
HTTP error, or a stream that is cut off, or one that waits until the client goes away.
Every request body is checked against ``CreateChatCompletionRequest`` and every chunk the
script sends against ``CreateChatCompletionStreamResponse`` of OpenAI's published schema
(``openai-chat-openapi.json``); problems are collected in ``Upstream.problems``.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

CHAT_SPEC = Path("/work/shared/data/openai-chat-openapi.json")
_LOCAL_SPEC = Path(__file__).resolve().parents[1] / "data" / "openai-chat-openapi.json"

_CHECKER: list[Any] = []


def chat_checker() -> Any:
    """The OpenAPI checker over the Chat Completions schema subset (or None)."""
    if not _CHECKER:
        from tests.support.openapi import OpenAPIChecker

        path = _LOCAL_SPEC if _LOCAL_SPEC.is_file() else CHAT_SPEC
        _CHECKER.append(OpenAPIChecker(json.loads(path.read_text())) if path.is_file() else None)
    return _CHECKER[0]


# --- chunks -----------------------------------------------------------------------------


def chunk(
    delta: dict[str, Any] | None = None,
    finish: str | None = None,
    *,
    choices: bool = True,
    usage: dict[str, int] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "m1",
        "choices": (
            [{"index": 0, "delta": delta or {}, "finish_reason": finish, "logprobs": None}]
            if choices
            else []
        ),
    }
    if usage is not None:
        body["usage"] = {
            **usage,
            "total_tokens": usage["prompt_tokens"] + usage["completion_tokens"],
        }
    return body


def text_chunks(
    text: str, *, finish: str = "stop", usage: tuple[int, int] | None = (11, 7)
) -> list[dict[str, Any]]:
    """``text`` word by word, then the finish chunk and (optionally) the usage chunk."""
    words = [w + " " for w in text.split(" ")]
    words[-1] = words[-1][:-1]
    out = [chunk({"role": "assistant", "content": ""})]
    out += [chunk({"content": w}) for w in words]
    out.append(chunk({}, finish))
    if usage is not None:
        out.append(
            chunk(choices=False, usage={"prompt_tokens": usage[0], "completion_tokens": usage[1]})
        )
    return out


def call_chunks(
    calls: list[tuple[str, str, str]], *, finish: str = "tool_calls", pieces: int = 3
) -> list[dict[str, Any]]:
    """OpenAI's shape: per call a first chunk (index, id, name, "") then argument pieces."""
    out = [chunk({"role": "assistant", "content": None})]
    for index, (call_id, name, arguments) in enumerate(calls):
        out.append(
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": call_id,
                            "type": "function",
                            "function": {"name": name, "arguments": ""},
                        }
                    ]
                }
            )
        )
        size = max(1, -(-len(arguments) // pieces))
        for start in range(0, len(arguments), size):
            out.append(
                chunk(
                    {
                        "tool_calls": [
                            {
                                "index": index,
                                "function": {"arguments": arguments[start : start + size]},
                            }
                        ]
                    }
                )
            )
    out.append(chunk({}, finish))
    return out


# --- replies ----------------------------------------------------------------------------


@dataclass
class Reply:
    chunks: list[Any] = field(default_factory=list)
    """Dicts (sent as JSON) or raw strings (sent as they are, for malformed streams)."""
    status: int = 200
    body: Any = None
    """The JSON body of an error reply."""
    headers: dict[str, str] = field(default_factory=dict)
    done: bool = True
    """Send ``data: [DONE]`` after the chunks."""
    hang: bool = False
    """After the chunks, keep the connection open until the client closes it."""
    pace: float = 0.0
    """Seconds between chunks."""
    plain: bool = False
    """Answer with one JSON body (a non-streaming reply) instead of SSE."""
    gate: threading.Event | None = None
    gate_after: int = 0
    """With ``gate``: after this many chunks, wait for the gate before sending the rest."""


def error_reply(status: int, message: str, **headers: str) -> Reply:
    return Reply(
        status=status,
        body={
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
        },
        headers=headers,
    )


class Upstream:
    """The scripted upstream; ``script(*replies)`` sets what the next requests get."""

    def __init__(self, models: tuple[str, ...] = ("m1", "m2")) -> None:
        self.models = list(models)
        self.replies: list[Reply] = []
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.problems: list[str] = []
        self.disconnected = threading.Event()
        self.started_streaming = threading.Event()
        self._lock = threading.Lock()
        self._count = 0
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                upstream.headers.append(dict(self.headers))
                if self.path.rstrip("/").endswith("/models"):
                    body = {
                        "object": "list",
                        "data": [
                            {"id": m, "object": "model", "created": 1700000000, "owned_by": "me"}
                            for m in upstream.models
                        ],
                    }
                    upstream.check("ListModelsResponse", body)
                    self._json(200, body)
                else:
                    self._json(404, {"error": {"message": "no such path"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                try:
                    request = json.loads(raw)
                except ValueError:
                    request = {"_raw": raw.decode("utf-8", "replace")}
                with upstream._lock:
                    upstream.requests.append(request)
                    upstream.headers.append(dict(self.headers))
                    reply = upstream._next()
                upstream.check("CreateChatCompletionRequest", request)
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._json(404, {"error": {"message": "no such path"}})
                    return
                if reply.status != 200:
                    self._json(reply.status, reply.body or {}, reply.headers)
                    return
                if reply.plain:
                    upstream.check("CreateChatCompletionResponse", reply.body)
                    self._json(200, reply.body)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                upstream.started_streaming.set()
                try:
                    for number, item in enumerate(reply.chunks):
                        if reply.gate is not None and number == reply.gate_after:
                            if not reply.gate.wait(20):
                                upstream.problems.append("the gate was never opened")
                        if isinstance(item, dict):
                            upstream.check("CreateChatCompletionStreamResponse", item)
                            data = json.dumps(item)
                        else:
                            data = item
                        self.wfile.write(f"data: {data}\n\n".encode())
                        self.wfile.flush()
                        if reply.pace:
                            time.sleep(reply.pace)
                    if reply.hang:
                        while True:
                            time.sleep(0.02)
                            self.wfile.write(b": waiting\n\n")
                            self.wfile.flush()
                    if reply.done:
                        self.wfile.write(b"data: [DONE]\n\n")
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    upstream.disconnected.set()

            def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> Upstream:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def script(self, *replies: Reply | list[dict[str, Any]]) -> None:
        with self._lock:
            self.replies = [r if isinstance(r, Reply) else Reply(chunks=r) for r in replies]
            self._count = 0

    def _next(self) -> Reply:
        if not self.replies:
            return Reply(chunks=text_chunks("no script"))
        reply = self.replies[min(self._count, len(self.replies) - 1)]
        self._count += 1
        return reply

    def check(self, name: str, body: Any) -> None:
        checker = chat_checker()
        if checker is not None:
            self.problems.extend(checker.errors(name, body))
