"""Shared fixtures.

* Every test gets its own ``TUI_ASSISTANT_HOME`` (a temporary directory).
* ``local_server`` is a fresh local Assistants server (in-memory database) per test;
  ``start_server(**options)`` starts more, with options, and stops them afterwards.
* ``openai_client`` is a real ``AsyncOpenAI`` pointed at ``local_server``. Every response
  it receives, including each streamed event, is checked against the official OpenAPI
  schema (``openapi``) and the SDK's pydantic types; a mismatch fails the test.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.openapi import OpenAPIChecker

# The same filters as pyproject's, for runs that bypass its configuration.
warnings.filterwarnings(
    "ignore", category=DeprecationWarning, message=r"The Assistants API is deprecated"
)
warnings.filterwarnings("ignore", category=DeprecationWarning, message=r"deprecated$")

_SPEC_NAME = "openai-assistants-openapi.json"
_SPEC_CANDIDATES = [
    Path(os.environ["TUI_ASSISTANT_OPENAPI"]) if os.environ.get("TUI_ASSISTANT_OPENAPI") else None,
    Path(__file__).parent / "data" / _SPEC_NAME,
    Path("/work/shared/data") / _SPEC_NAME,
]


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("TUI_ASSISTANT_HOME", str(home))
    return home


# --- the local server -----------------------------------------------------------------


@pytest.fixture
def start_server() -> Any:
    """``start_server(**options)`` starts a ``LocalServer``; all are stopped at teardown."""
    from tui_assistant.server.runtime import start_local_server

    servers = []

    def start(**options: Any) -> Any:
        server = start_local_server(**options)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def local_server(start_server: Any) -> Any:
    """A fresh local server (in-memory database, demo model, no token)."""
    return start_server()


# --- the scripted wire server ---------------------------------------------------------


@pytest.fixture(scope="module")
def wire_server() -> Any:
    """A scripted Assistants endpoint (``tests.support.wire.WireServer``), one per module."""
    from tests.support.wire import WireServer

    server = WireServer().start()
    yield server
    server.stop()


@pytest.fixture
def wire(wire_server: Any) -> Any:
    """The module's wire server with its routes and recorded requests cleared."""
    wire_server.reset()
    return wire_server


# --- schema checking ------------------------------------------------------------------


_CHECKER: list[OpenAPIChecker | None] = []


def _checker() -> OpenAPIChecker | None:
    """The session's checker, or None when the spec file is not available."""
    if not _CHECKER:
        found = next((c for c in _SPEC_CANDIDATES if c is not None and c.is_file()), None)
        _CHECKER.append(OpenAPIChecker(json.loads(found.read_text())) if found else None)
    return _CHECKER[0]


@pytest.fixture
def openapi() -> OpenAPIChecker:
    """The OpenAPI checker (the test is skipped when the spec file is not available)."""
    checker = _checker()
    if checker is None:
        pytest.skip(f"{_SPEC_NAME} not found (set TUI_ASSISTANT_OPENAPI to its path)")
    return checker


# --- the SDK client -------------------------------------------------------------------


def _checked_stream(inner: Any, checker: OpenAPIChecker) -> Any:
    """Wrap a response byte stream so each SSE event is checked as the SDK reads it."""
    import httpx2

    events: list[tuple[str, Any]] = []
    checker.streams.append(events)

    def frame(text: str) -> None:
        event, data_lines = None, []
        for line in text.split("\n"):
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data_lines.append(line[6:])
        if event is None:
            checker.failures.append(f"SSE frame without an event line: {text[:80]!r}")
            return
        data_text = "\n".join(data_lines)
        data = data_text if event == "done" else json.loads(data_text)
        events.append((event, data))
        checker.check_event(event, data)

    class CheckedStream(httpx2.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            buffer = b""
            async for chunk in inner:
                buffer += chunk
                *frames, buffer = buffer.split(b"\n\n")
                for text in frames:
                    frame(text.decode())
                yield chunk
            if buffer.strip():
                checker.failures.append(f"stream ended inside a frame: {buffer[:80]!r}")

        async def aclose(self) -> None:
            await inner.aclose()

    return CheckedStream()


_FILE_CONTENT = re.compile(r"^/files/[^/]+/content$")


def _response_hook(checker: OpenAPIChecker) -> Callable[[Any], Any]:
    async def check(response: Any) -> None:
        path = response.request.url.path
        if not path.startswith("/v1/"):
            return
        path = path[3:]
        if response.status_code == 200 and _FILE_CONTENT.match(path):
            return  # file bytes, not JSON (the spec's "string" says nothing more)
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            response.stream = _checked_stream(response.stream, checker)
            return
        await response.aread()
        try:
            body = response.json()
        except ValueError:
            checker.failures.append(f"{response.request.method} {path}: body is not JSON")
            return
        checker.check_response(response.request.method, path, response.status_code, body)

    return check


@pytest.fixture
async def make_client() -> Any:
    """``make_client(server, api_key="test")``: an ``AsyncOpenAI`` for a server.

    With the spec available, every response is checked; mismatches fail the test.
    """
    import openai

    checker = _checker()
    clients = []
    if checker is not None:
        checker.failures.clear()

    def make(server: Any, api_key: str = "test", **options: Any) -> Any:
        if checker is not None:
            options.setdefault(
                "http_client",
                openai.DefaultAsyncHttpxClient(event_hooks={"response": [_response_hook(checker)]}),
            )
        client = openai.AsyncOpenAI(
            base_url=server.base_url, api_key=api_key, max_retries=0, **options
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()
    if checker is not None:
        failures = list(checker.failures)
        checker.failures.clear()
        assert not failures, "responses that do not match the OpenAPI schema:\n" + "\n".join(
            failures[:20]
        )


@pytest.fixture
async def openai_client(local_server: Any, make_client: Any) -> Any:
    """``AsyncOpenAI(base_url=local_server.base_url, api_key="test", max_retries=0)``."""
    return make_client(local_server)


# --- the gateway: the built-in server over a scripted Chat Completions upstream ---------


@pytest.fixture
def upstream() -> Any:
    """A scripted Chat Completions endpoint on 127.0.0.1 (``tests.support.gateway.Upstream``).

    At teardown, every request it got and every chunk it sent must have matched the
    Chat Completions schema.
    """
    from tests.support.gateway import Upstream

    server = Upstream().start()
    yield server
    server.stop()
    assert not server.problems, "\n".join(server.problems[:10])


@pytest.fixture
def gateway(upstream: Any, start_server: Any) -> Any:
    """``gateway(**options)``: a LocalServer over ``upstream`` and a sync openai client.

    Options for the model: ``model`` (default "m1"), ``api_key``, ``context_window``,
    ``max_tool_rounds``, ``url``; the rest go to ``start_local_server``.
    """
    import openai

    from tui_assistant.server.chat_model import ChatModel
    from tui_assistant.server.sandbox import CodeLimits, bubblewrap_problem

    def start(**options: Any) -> tuple[Any, Any]:
        model = ChatModel(
            options.pop("url", upstream.url),
            model=options.pop("model", "m1"),
            api_key=options.pop("api_key", None),
            context_window=options.pop("context_window", None),
            max_tool_rounds=options.pop("max_tool_rounds", 10),
            code_interpreter=options.pop("code_interpreter", True),
        )
        if bubblewrap_problem() is not None:
            # These tests are about the gateway: where bubblewrap cannot run, its code runs
            # unsandboxed, opted in (tests/test_sandbox_*.py are about the sandbox).
            options.setdefault("code_limits", CodeLimits(sandbox="unsandboxed"))
        server = start_server(model=model, **options)
        client = openai.OpenAI(base_url=server.base_url, api_key="local", max_retries=0)
        return server, client

    return start

# --- the scripted Responses + Conversations server (tests/support/responses.py) --------


@pytest.fixture(scope="module")
def responses_server() -> Any:
    """A scripted Responses + Conversations endpoint, one per module."""
    from tests.support.responses import ResponsesServer

    server = ResponsesServer().start()
    yield server
    server.stop()


@pytest.fixture
def rserver(responses_server: Any) -> Any:
    """The module's Responses server, reset; its bodies and events must match the schema."""
    responses_server.reset()
    yield responses_server
    failures = list(responses_server.schema.failures)
    responses_server.schema.failures.clear()
    assert not failures, "\n".join(failures[:20])


# --- the app's store, and no endpoint from the environment -------------------------------


@pytest.fixture
def store():
    """The thread store the app would open (under the test's own home)."""
    from tui_assistant import paths
    from tui_assistant.store import Store

    opened = Store.open(paths.store_path())
    yield opened
    opened.close()


@pytest.fixture(autouse=True)
def _no_endpoint_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's OPENAI_API_KEY / OPENAI_BASE_URL never reach a test."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


# --- a real stdio MCP server -------------------------------------------------------------


@pytest.fixture
def script(tmp_path: Path) -> Path:
    """The demo MCP server's script (``tests.support.mcp.SERVER_SCRIPT``), written out."""
    from tests.support.mcp import SERVER_SCRIPT

    path = tmp_path / "demo_mcp_server.py"
    path.write_text(SERVER_SCRIPT, encoding="utf-8")
    return path
