"""Shared fixtures.

* Every test gets its own ``TUI_ASSISTANT_HOME`` (a temporary directory).
* ``local_server`` is a fresh local Assistants server (in-memory database) per test;
  ``start_server(**options)`` starts more, with options, and stops them afterwards.
* ``openai_client`` is a real ``AsyncOpenAI`` pointed at ``local_server``. Every response
  it receives, including each streamed event, is checked against the official OpenAPI
  schema (``openapi``) and the SDK's pydantic types; a mismatch fails the test.
"""

from __future__ import annotations

import copy
import json
import os
import re
import warnings
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

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
    """A scripted Assistants endpoint (``test_engine_wire.WireServer``), one per module."""
    from test_engine_wire import WireServer

    server = WireServer().start()
    yield server
    server.stop()


@pytest.fixture
def wire(wire_server: Any) -> Any:
    """The module's wire server with its routes and recorded requests cleared."""
    wire_server.reset()
    return wire_server


# --- schema checking ------------------------------------------------------------------


def _nullable(schema: Any) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


class OpenAPIChecker:
    """Checks bodies against the OpenAPI component schemas and the SDK's types.

    OpenAPI 3.0's ``nullable`` is rewritten as ``anyOf [..., null]`` (including the
    ``allOf: [$ref, {nullable: true}]`` idiom) and every ``$ref`` is inlined, so plain
    JSON Schema validators can use the result. One deliberate relaxation: ``first_id``
    and ``last_id`` of list responses may be null, which is what the API returns for an
    empty page (the spec types them as strings).
    """

    def __init__(self, spec: dict[str, Any]) -> None:
        import jsonschema

        self._jsonschema = jsonschema
        self._components = spec["components"]["schemas"]
        self._resolved: dict[str, Any] = {}
        self._validators: dict[str, Any] = {}
        self._resolving: set[str] = set()
        self.routes = self._routes(spec)
        self.failures: list[str] = []
        self.checked: dict[str, int] = {}
        self.streams: list[list[tuple[str, Any]]] = []
        self._events: dict[str, str] = {}
        self._good_shapes: set[str] = set()

    # schema conversion

    def schema(self, name: str) -> dict[str, Any]:
        if name not in self._resolved:
            if name in self._resolving:
                raise RuntimeError(f"recursive schema {name}")
            self._resolving.add(name)
            converted = self._convert(self._components[name])
            self._resolving.discard(name)
            if name.startswith("List") and "properties" in converted:
                for key in ("first_id", "last_id"):
                    converted["properties"][key] = {"type": ["string", "null"]}
            self._resolved[name] = converted
        return self._resolved[name]

    def _convert(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self._convert(item) for item in node]
        if not isinstance(node, dict):
            return node
        node = dict(node)
        nullable = node.pop("nullable", False) is True
        if "$ref" in node:
            target = copy.deepcopy(self.schema(node.pop("$ref").rsplit("/", 1)[-1]))
            rest = {k: v for k, v in node.items() if not k.startswith("x-")}
            out = {"allOf": [target, self._convert(rest)]} if rest else target
            return _nullable(out) if nullable else out
        if "allOf" in node:
            parts = [p for p in node["allOf"] if p != {"nullable": True}]
            if len(parts) != len(node["allOf"]):
                nullable = True
            node["allOf"] = parts
        out = {key: self._convert(value) for key, value in node.items()}
        return _nullable(out) if nullable else out

    def _validator(self, name: str) -> Any:
        if name not in self._validators:
            cls = self._jsonschema.Draft202012Validator
            self._validators[name] = cls(self.schema(name))
        return self._validators[name]

    def errors(self, name: str, instance: Any) -> list[str]:
        """Schema errors of ``instance`` against component ``name`` (empty when valid)."""
        self.checked[name] = self.checked.get(name, 0) + 1
        found = []
        for error in self._validator(name).iter_errors(instance):
            best = self._jsonschema.exceptions.best_match([error])
            path = "/".join(str(p) for p in best.absolute_path)
            found.append(f"{name} at /{path}: {best.message[:300]}")
        return found

    def assert_valid(self, name: str, instance: Any) -> None:
        problems = self.errors(name, instance) + _sdk_errors(name, instance)
        assert not problems, "\n".join(problems)

    # responses

    @staticmethod
    def _routes(spec: dict[str, Any]) -> list[tuple[str, re.Pattern[str], dict[str, Any]]]:
        routes = []
        for path, operations in spec["paths"].items():
            pattern = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$")
            for method, operation in operations.items():
                if isinstance(operation, dict) and "responses" in operation:
                    routes.append((method.upper(), pattern, operation, path.count("{")))
        routes.sort(key=lambda route: route[3])
        return [(method, pattern, op) for method, pattern, op, _ in routes]

    def response_schema(self, method: str, path: str, status: int) -> str | None:
        if status >= 400:
            return "ErrorResponse"
        for route_method, pattern, operation in self.routes:
            if route_method == method and pattern.match(path):
                content = operation["responses"].get(str(status), {}).get("content", {})
                ref = content.get("application/json", {}).get("schema", {}).get("$ref", "")
                return ref.rsplit("/", 1)[-1] or None
        return None

    def check_response(self, method: str, path: str, status: int, body: Any) -> None:
        name = self.response_schema(method, path, status)
        if name is None:
            self.failures.append(f"{method} {path} ({status}): no schema in the spec")
            return
        problems = self.errors(name, body) + _sdk_errors(name, body)
        self.failures.extend(f"{method} {path}: {p}" for p in problems)

    def event_schema(self, event: str) -> str:
        """The name of the schema for one event: its branch of ``AssistantStreamEvent``.

        Validating against the branch picked by the event name gives the same verdict as
        the whole ``oneOf`` (the names are distinct enums) at a fraction of the cost.
        """
        if not self._events:
            for group in self._components["AssistantStreamEvent"]["oneOf"]:
                group_name = group["$ref"].rsplit("/", 1)[-1]
                branches = self._components[group_name].get("oneOf", [group])
                for i, branch in enumerate(branches):
                    if "$ref" in branch:
                        branch_name = branch["$ref"].rsplit("/", 1)[-1]
                        branch = self._components[branch_name]
                    else:
                        branch_name = f"{group_name}[{i}]"
                        self._components[branch_name] = branch
                    for name in branch["properties"]["event"]["enum"]:
                        self._events[name] = branch_name
        return self._events.get(event, "AssistantStreamEvent")

    def check_event(self, event: str, data: Any) -> None:
        frame = {"event": event, "data": data}
        if event.endswith(".delta"):
            # Deltas differ only in their strings, which the schemas accept whatever they
            # hold; one check per shape keeps a 4,000-delta stream fast.
            shape = json.dumps(_shape(frame), sort_keys=True)
            if shape in self._good_shapes:
                return
        problems = self.errors(self.event_schema(event), frame)
        if event != "done":
            problems += _sdk_errors("AssistantStreamEvent", frame)
        self.failures.extend(f"event {event}: {p}" for p in problems)
        if not problems and event.endswith(".delta"):
            self._good_shapes.add(shape)


def _shape(value: Any) -> Any:
    """``value`` with every string replaced by ``""`` (keys and enum-like ids kept)."""
    if isinstance(value, dict):
        return {k: (v if k in ("event", "object", "type") else _shape(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(item) for item in value]
    return "" if isinstance(value, str) else value


def _sdk_types() -> dict[str, Any]:
    from openai.types import FileDeleted, FileObject
    from openai.types.beta import (
        Assistant,
        AssistantDeleted,
        AssistantStreamEvent,
        Thread,
        ThreadDeleted,
    )
    from openai.types.beta.threads import Message, MessageDeleted, Run
    from openai.types.beta.threads.runs import RunStep
    from openai.types.shared import ErrorObject
    from pydantic import TypeAdapter

    return {
        "AssistantObject": Assistant,
        "DeleteAssistantResponse": AssistantDeleted,
        "ThreadObject": Thread,
        "DeleteThreadResponse": ThreadDeleted,
        "MessageObject": Message,
        "DeleteMessageResponse": MessageDeleted,
        "RunObject": Run,
        "RunStepObject": RunStep,
        "ListAssistantsResponse": Assistant,
        "ListMessagesResponse": Message,
        "ListRunsResponse": Run,
        "ListRunStepsResponse": RunStep,
        "ErrorResponse": ErrorObject,
        "AssistantStreamEvent": TypeAdapter(AssistantStreamEvent),
        "OpenAIFile": FileObject,
        "ListFilesResponse": FileObject,
        "DeleteFileResponse": FileDeleted,
    }


_SDK: dict[str, Any] = {}


def _sdk_errors(name: str, body: Any) -> list[str]:
    """Problems found by validating ``body`` with the SDK's pydantic type for ``name``."""
    if not _SDK:
        _SDK.update(_sdk_types())
    kind = _SDK.get(name)
    if kind is None:
        return []
    if name.startswith("List"):
        items = body.get("data", []) if isinstance(body, dict) else []
    elif name == "ErrorResponse":
        items = [body.get("error")] if isinstance(body, dict) else [body]
    else:
        items = [body]
    problems = []
    for item in items:
        try:
            if hasattr(kind, "validate_python"):
                parsed = kind.validate_python(item)
                if getattr(parsed, "event", None) != item.get("event"):
                    problems.append(f"SDK {name}: parsed as {type(parsed).__name__}")
            else:
                kind.model_validate(item)
        except Exception as exc:  # pydantic.ValidationError
            problems.append(f"SDK {name}: {str(exc)[:400]}")
    return problems


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
    """A scripted Chat Completions endpoint on 127.0.0.1 (``gateway_support.Upstream``).

    At teardown, every request it got and every chunk it sent must have matched the
    Chat Completions schema.
    """
    from gateway_support import Upstream

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

# --- the scripted Responses + Conversations server (tests/responses_support.py) --------


@pytest.fixture(scope="module")
def responses_server() -> Any:
    """A scripted Responses + Conversations endpoint, one per module."""
    from responses_support import ResponsesServer

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
