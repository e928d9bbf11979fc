"""Tools from Model Context Protocol servers, as local functions the assistant can call.

Each ``[mcp.servers.NAME]`` of the config (``config.McpServerConfig``) is one
``McpServer``: a stdio server started as a child process (``command``, ``args``,
environment), or a streamable HTTP server (``url``), reached with the official ``mcp``
SDK. ``McpManager`` owns them:

* ``start()`` starts every server in the background (one task each; nothing waits for
  them, so the first frame is never delayed). A server that starts lists its tools; each
  becomes a ``LocalFunction`` named ``NAME__tool`` (the Assistants API allows only
  ``[A-Za-z0-9_-]{1,64}`` in a function name, so no dot), with the tool's description and
  JSON schema, needing approval unless the server is ``trusted``.
* ``run_tools(engine, assistant_id)`` gives the ``tools`` of a new run: the assistant's
  own tools plus the ready servers' functions (a run's ``tools`` replace the assistant's
  for that run, so the assistant on the endpoint is never changed).
* ``registry_over(base)`` is the registry a ``ToolRunner`` uses: the base registry plus
  the MCP functions of the moment.
* A call's text content becomes the function's output; images are saved where
  code-interpreter images go (``files.image_path``) and returned as ``ToolOutputWithImages``
  so the tool pane shows them. A tool error (``isError``), a protocol error and a server
  that is gone raise ``McpToolError``, which the runner submits as an error output.
* A server that fails to start, dies, or does not answer in time is reported once
  (``on_notice``) with the tail of its stderr; the other servers and the app go on.
  ``restart(name)`` starts it again.

Secrets: environment values are resolved when the server starts and handed to its
process only; nothing here logs or stores them, and messages never quote them.

Nothing here imports Textual; the ``mcp`` SDK is imported (in a thread) when the first
server starts.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import logging
import re
import tempfile
from collections.abc import Callable, Iterable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import IO, Any, Literal, Protocol

from tui_assistant.config import McpServerConfig
from tui_assistant.errors import AppError
from tui_assistant.tools.registry import NAME_PATTERN, LocalFunction, ToolRegistry
from tui_assistant.tools.runner import ToolOutputWithImages


class _AssistantReader(Protocol):
    """What ``run_tools`` needs of an engine (``Engine.assistant_settings``)."""

    async def assistant_settings(self, assistant_id: str) -> Any: ...

__all__ = [
    "RUN_TOOLS_LIMIT",
    "McpManager",
    "McpNotice",
    "McpServer",
    "McpTool",
    "McpToolError",
    "api_name",
]

logger = logging.getLogger(__name__)

START_TIMEOUT = 30.0
"""Seconds a server may take to start and list its tools."""

WATCH_INTERVAL = 5.0
"""Seconds between checks that a running server is still there."""

PING_TIMEOUT = 10.0

RUN_TOOLS_LIMIT = 20
"""A run's ``tools`` may hold at most this many entries (the Assistants API's limit)."""

STDERR_TAIL_LINES = 12
STDERR_TAIL_CHARS = 1500

SEPARATOR = "__"

CONNECTION_CLOSED = -32000
REQUEST_TIMEOUT = -32001
"""JSON-RPC error codes the SDK uses for a lost connection and a request past its limit."""

CALL_GRACE = 5.0
"""The SDK's own limit on a call is this much longer than the runner's, which wins."""

Status = Literal["configured", "starting", "ready", "failed", "stopped"]


class McpToolError(Exception):
    """A call that did not produce a result: submitted as an error output."""


@dataclass(frozen=True)
class McpNotice:
    """Something to tell the user about a server (``level`` ``error`` once per failure)."""

    server: str
    level: Literal["ok", "error", "warn"]
    text: str


@dataclass(frozen=True)
class McpTool:
    """One tool of a server: its name there and the function name the model sees."""

    server: str
    name: str
    api_name: str
    description: str
    parameters: dict[str, Any]


def api_name(server: str, tool: str, taken: Iterable[str] = ()) -> str:
    """``server__tool`` within the API's name rules (other characters become ``_``;
    a name too long, or already ``taken``, gets a short hash of the tool's name)."""
    clean = re.sub(r"[^A-Za-z0-9_-]", "_", tool) or "tool"
    name = f"{server}{SEPARATOR}{clean}"
    taken = set(taken)
    if len(name) > 64 or name in taken:
        digest = hashlib.sha1(tool.encode()).hexdigest()[:8]
        name = f"{name[: 64 - 9]}_{digest}"
    assert NAME_PATTERN.match(name), name
    return name


def _schema(raw: Any) -> dict[str, Any]:
    """A tool's input schema as a function's ``parameters`` (always an object schema)."""
    schema = dict(raw) if isinstance(raw, dict) else {}
    schema.pop("$schema", None)
    if schema.get("type") != "object":
        return {"type": "object", "properties": {}}
    schema.setdefault("properties", {})
    return schema


def _tail(errlog: IO[str] | None) -> str:
    """The last lines a server wrote to stderr."""
    if errlog is None:
        return ""
    try:
        errlog.flush()
        errlog.seek(0)
        text = errlog.read()
    except (OSError, ValueError):
        return ""
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    tail = "\n".join(lines[-STDERR_TAIL_LINES:])
    return tail[-STDERR_TAIL_CHARS:]


def _leaf(exc: BaseException) -> BaseException:
    """The first real exception inside (nested) exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _describe(exc: BaseException, limit: float) -> str:
    exc = _leaf(exc)
    if isinstance(exc, AppError):
        return exc.message
    if isinstance(exc, FileNotFoundError):
        return f"program not found: {exc.filename or exc}"
    text = " ".join(str(exc).split())
    code = getattr(exc, "code", None)
    if code == CONNECTION_CLOSED:
        return "it exited or closed its connection"
    if code == REQUEST_TIMEOUT or isinstance(exc, TimeoutError):
        return f"it did not answer within {limit:g} s"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _sdk() -> Any:
    """The ``mcp`` SDK (imported in a worker thread: it is large)."""
    import warnings

    import mcp
    import mcp.client.streamable_http  # noqa: F401
    import mcp.shared.exceptions  # noqa: F401

    # The liveness ping: a 2026 server answers it with "method not found", which shows
    # just as well that it is there.
    warnings.filterwarnings(
        "ignore", message="ping is removed", category=mcp.MCPDeprecationWarning
    )
    return mcp


def _save_image(server: str, data: str, mime: str) -> tuple[str, str]:
    """Save a base64 image where tool images go; ``(local id, path)``."""
    from tui_assistant.files import image_path

    try:
        raw = base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise McpToolError(f"the tool returned an image that is not base64 ({exc})") from None
    digest = hashlib.sha256(raw).hexdigest()[:16]
    local_id = f"mcp-{server}-{digest}"
    path = image_path(local_id)
    if not path.exists():
        temporary = path.with_suffix(".part")
        temporary.write_bytes(raw)
        temporary.replace(path)
    return local_id, str(path)


def convert_result(server: str, result: Any) -> str | ToolOutputWithImages:
    """A ``CallToolResult`` as the function's output (raises ``McpToolError`` for
    ``isError`` results)."""
    texts: list[str] = []
    images: list[str] = []
    for block in getattr(result, "content", None) or ():
        kind = getattr(block, "type", "")
        if kind == "text":
            texts.append(block.text)
        elif kind == "image":
            local_id, path = _save_image(server, block.data, block.mime_type)
            images.append(local_id)
            texts.append(f"[{block.mime_type} image returned by the tool, shown to the user]")
        elif kind == "audio":
            texts.append(f"[{block.mime_type} audio returned by the tool, not shown]")
        elif kind == "resource_link":
            texts.append(f"[resource {block.uri}]")
        elif kind == "resource":
            resource = block.resource
            text = getattr(resource, "text", None)
            texts.append(text if text is not None else f"[binary resource {resource.uri}]")
    structured = getattr(result, "structured_content", None)
    if not texts and structured is not None:
        texts.append(json.dumps(structured, ensure_ascii=False, default=str))
    text = "\n".join(texts)
    if getattr(result, "is_error", False):
        raise McpToolError(text or "the tool reported an error")
    if images:
        return ToolOutputWithImages(text, tuple(images))
    return text


@dataclass(eq=False)
class McpServer:
    """One configured server and what is known about it."""

    config: McpServerConfig
    status: Status = "configured"
    problem: str = ""
    """Why it failed or stopped."""
    stderr_tail: str = ""
    tools: list[McpTool] = field(default_factory=list)
    hidden: list[str] = field(default_factory=list)
    """Configured ``tools`` the server does not have."""
    client: Any = field(default=None, repr=False)
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    stop: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    ready: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    """Set once it is ready or has failed (for ``wait_started``)."""
    errlog: IO[str] | None = field(default=None, repr=False)
    reported: bool = False

    @property
    def name(self) -> str:
        return self.config.name


class McpManager:
    """Every configured MCP server (see the module docstring)."""

    def __init__(
        self,
        configs: Sequence[McpServerConfig] = (),
        *,
        call_timeout: float | None = None,
        approval_required: Iterable[str] = (),
        start_timeout: float = START_TIMEOUT,
        watch_interval: float = WATCH_INTERVAL,
        on_notice: Callable[[McpNotice], Any] | None = None,
    ) -> None:
        self.servers: dict[str, McpServer] = {c.name: McpServer(c) for c in configs}
        self.call_timeout = call_timeout
        self.approval_required = frozenset(approval_required)
        self.start_timeout = start_timeout
        self.watch_interval = watch_interval
        self.on_notice = on_notice
        self._functions: dict[str, tuple[McpServer, LocalFunction]] = {}
        self._left_out_reported: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.servers)

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Start every server that is not running, in the background."""
        for server in self.servers.values():
            if server.task is None or server.task.done():
                self._launch(server)

    def _launch(self, server: McpServer) -> None:
        server.stop = asyncio.Event()
        server.ready = asyncio.Event()
        server.status = "starting"
        server.problem = server.stderr_tail = ""
        server.reported = False
        server.task = asyncio.create_task(self._serve(server), name=f"mcp {server.name}")

    async def wait_started(self, timeout: float | None = None) -> None:
        """Wait until every started server is ready or has failed."""
        waits = [s.ready.wait() for s in self.servers.values() if s.task is not None]
        if waits:
            async with asyncio.timeout(timeout):
                await asyncio.gather(*waits)

    async def restart(self, name: str) -> None:
        """Stop the server ``name`` (if it runs) and start it again."""
        server = self.servers[name]
        await self._stop(server)
        self._launch(server)
        await server.ready.wait()

    async def aclose(self) -> None:
        """Stop every server (their processes end)."""
        await asyncio.gather(*(self._stop(s) for s in self.servers.values()))

    async def _stop(self, server: McpServer) -> None:
        task = server.task
        if task is None:
            return
        server.stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), 10.0)
        except (TimeoutError, asyncio.CancelledError):
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        except Exception:  # the task reports its own failures
            pass
        server.task = None
        if server.status == "ready":
            server.status = "stopped"
        self._forget(server)

    # -- one server --------------------------------------------------------------------

    def _notice(self, server: McpServer, level: Literal["ok", "error", "warn"], text: str) -> None:
        if self.on_notice is None:
            return
        try:
            self.on_notice(McpNotice(server.name, level, text))
        except Exception:  # a notice must never break a server
            logger.debug("on_notice failed", exc_info=True)

    def _fail(self, server: McpServer, problem: str) -> None:
        """Mark ``server`` failed and report it (once per failure)."""
        server.status = "failed"
        server.problem = problem
        server.stderr_tail = server.stderr_tail or _tail(server.errlog)
        self._forget(server)
        server.ready.set()
        if not server.reported:
            server.reported = True
            text = f"MCP server '{server.name}' {problem}"
            if server.stderr_tail:
                text += f"\nstderr:\n{server.stderr_tail}"
            self._notice(server, "error", text)

    def _forget(self, server: McpServer) -> None:
        self._functions = {k: v for k, v in self._functions.items() if v[0] is not server}

    async def _serve(self, server: McpServer) -> None:
        config = server.config
        errlog: IO[str] | None = None
        try:
            if config.command:
                errlog = tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace")
                server.errlog = errlog
            async with AsyncExitStack() as stack:
                env = await asyncio.to_thread(config.resolve_env) if config.command else {}
                sdk = await asyncio.to_thread(_sdk)
                if config.command:
                    params = sdk.StdioServerParameters(
                        command=config.command, args=list(config.args), env=env
                    )
                    transport = sdk.stdio_client(params, errlog=errlog)
                else:
                    transport = sdk.client.streamable_http.streamable_http_client(config.url)
                # Every request (the handshake, the listing, pings) is bounded by the SDK's
                # own time-out; calls pass their own.
                client = sdk.Client(transport, cache=None, read_timeout_seconds=self.start_timeout)
                await stack.enter_async_context(client)
                listed = await self._list_tools(client)
                server.client = client
                self._ready(server, listed)
                await self._watch(server, client, sdk)
                server.client = None
                if server.status == "ready":
                    server.status = "stopped"
                self._forget(server)
        except asyncio.CancelledError:
            server.client = None
            if server.status == "starting":
                server.status = "stopped"
            raise
        except BaseException as exc:  # noqa: BLE001 - every failure is reported, none kills the app
            server.client = None
            if isinstance(_leaf(exc), KeyboardInterrupt | SystemExit):
                raise
            was_ready = server.status == "ready"
            server.stderr_tail = _tail(errlog)
            if server.stop.is_set():
                if server.status != "failed":
                    server.status = "stopped"
            else:
                self._fail(
                    server,
                    ("stopped working: " if was_ready else "could not start: ")
                    + _describe(exc, self.start_timeout),
                )
        finally:
            server.errlog = None
            if errlog is not None:
                errlog.close()
            server.ready.set()

    async def _list_tools(self, client: Any) -> list[Any]:
        tools: list[Any] = []
        cursor = None
        for _ in range(100):
            page = await client.list_tools(cursor=cursor)
            tools += list(page.tools)
            cursor = page.next_cursor
            if not cursor:
                break
        return tools

    def _ready(self, server: McpServer, listed: list[Any]) -> None:
        config = server.config
        wanted = set(config.tools) if config.tools is not None else None
        server.tools = []
        taken: set[str] = set()
        for tool in listed:
            if wanted is not None and tool.name not in wanted:
                continue
            name = api_name(server.name, tool.name, taken)
            taken.add(name)
            server.tools.append(
                McpTool(
                    server=server.name,
                    name=tool.name,
                    api_name=name,
                    description=(tool.description or getattr(tool, "title", None) or "")[:1024],
                    parameters=_schema(tool.input_schema),
                )
            )
        server.hidden = sorted(wanted - {t.name for t in listed}) if wanted is not None else []
        self._forget(server)
        for tool in server.tools:
            self._functions[tool.api_name] = (server, self._function(server, tool))
        server.status = "ready"
        server.ready.set()
        count = len(server.tools)
        self._notice(server, "ok", f"MCP server '{server.name}' ready: {count} tool(s)")
        if server.hidden:
            self._notice(
                server,
                "warn",
                f"MCP server '{server.name}' has no tool named " + ", ".join(server.hidden),
            )

    def _function(self, server: McpServer, tool: McpTool) -> LocalFunction:
        async def call(**arguments: Any) -> str | ToolOutputWithImages:
            return await self.call(server.name, tool.name, arguments)

        return LocalFunction(
            name=tool.api_name,
            description=tool.description,
            parameters=tool.parameters,
            func=call,
            needs_approval=not server.config.trusted or tool.api_name in self.approval_required,
            timeout=server.config.timeout or self.call_timeout,
            source=f"MCP server {server.name}",
        )

    async def _watch(self, server: McpServer, client: Any, sdk: Any) -> None:
        """Return when the server is asked to stop; raise when it is gone."""
        while not server.stop.is_set():
            try:
                await asyncio.wait_for(server.stop.wait(), self.watch_interval)
                return
            except TimeoutError:
                pass
            try:
                await client.send_ping()
            except sdk.MCPError as exc:
                if exc.code == CONNECTION_CLOSED:
                    raise
                # Any other answer (even "method not found") shows the server is there;
                # one that does not answer in time may just be busy.

    # -- calls -------------------------------------------------------------------------

    async def call(self, server_name: str, tool: str, arguments: dict[str, Any]) -> Any:
        """Call ``tool`` on ``server_name``; its output (see ``convert_result``)."""
        server = self.servers[server_name]
        client = server.client
        if server.status != "ready" or client is None:
            why = f": {server.problem}" if server.problem else f" ({server.status})"
            raise McpToolError(f"MCP server '{server_name}' is not running{why}")
        from mcp.shared.exceptions import MCPError

        limit = (server.config.timeout or self.call_timeout or 540.0) + CALL_GRACE
        try:
            result = await client.call_tool(tool, arguments, read_timeout_seconds=limit)
        except MCPError as exc:
            if exc.code == CONNECTION_CLOSED:
                server.stderr_tail = _tail(server.errlog)
                self._fail(server, "stopped working: it exited or closed its connection")
                server.stop.set()  # its task winds the connection down
                raise McpToolError(f"MCP server '{server_name}' stopped working") from None
            raise McpToolError(f"MCP server '{server_name}': {exc}") from None
        return convert_result(server_name, result)

    # -- what the rest of the app asks -------------------------------------------------

    def function(self, name: str) -> LocalFunction | None:
        entry = self._functions.get(name)
        return entry[1] if entry is not None else None

    def functions(self) -> list[LocalFunction]:
        """The functions of the ready servers, in the config's order of servers."""
        order = {name: index for index, name in enumerate(self.servers)}
        entries = sorted(self._functions.values(), key=lambda entry: order[entry[0].name])
        return [function for _, function in entries]

    def server_of(self, function_name: str) -> str:
        """The name of the configured server a function comes from, by its name
        (``SERVER__tool``; "" for other functions), whether or not the server runs now."""
        entry = self._functions.get(function_name)
        if entry is not None:
            return entry[0].name
        server, separator, _ = function_name.partition(SEPARATOR)
        return server if separator and server in self.servers else ""

    def registry_over(self, base: ToolRegistry) -> ToolRegistry:
        """``base`` with the MCP functions of the moment (looked up at each call)."""
        if not self.servers:
            return base
        return _Combined(base, self)

    async def run_tools(self, engine: _AssistantReader, assistant_id: str) -> list[dict] | None:
        """The ``tools`` of a new run: the assistant's own plus the MCP functions
        (``None`` when no server has tools: the run uses the assistant's as they are)."""
        functions = self.functions()
        if not functions:
            return None
        settings = await engine.assistant_settings(assistant_id)
        names = {f.name for f in functions}
        own = [
            dict(t)
            for t in settings.tools
            if not (t.get("type") == "function" and (t.get("function") or {}).get("name") in names)
        ]
        room = max(0, RUN_TOOLS_LIMIT - len(own))
        chosen, left_out = functions[:room], functions[room:]
        if left_out:
            missing = frozenset(f.name for f in left_out)
            if missing != self._left_out_reported:
                self._left_out_reported = missing
                server = self._functions[left_out[0].name][0]
                self._notice(
                    server,
                    "warn",
                    f"A run can have at most {RUN_TOOLS_LIMIT} tools: left out "
                    + ", ".join(sorted(missing))
                    + " (choose fewer with tools = [...] in [mcp.servers.NAME])",
                )
        return own + [f.definition() for f in chosen]


class _Combined(ToolRegistry):
    """A registry that looks in the MCP manager first, then in ``base``."""

    def __init__(self, base: ToolRegistry, manager: McpManager) -> None:
        super().__init__()
        self._base = base
        self._manager = manager

    def get(self, name: str) -> LocalFunction | None:
        return self._manager.function(name) or self._base.get(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self):
        merged = {f.name: f for f in self._base}
        merged.update({f.name: f for f in self._manager.functions()})
        return iter(sorted(merged.values(), key=lambda f: f.name))

    def __len__(self) -> int:
        return len(list(iter(self)))

    @property
    def names(self) -> list[str]:
        return [f.name for f in self]
