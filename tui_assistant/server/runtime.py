"""Running the local server: in a background thread (for the app and tests) or blocking.

``start_local_server`` binds the socket in the caller's thread (so the port is known and
connections queue at once), runs uvicorn on its own event loop in a daemon thread and
returns when the server accepts connections. While it runs in a thread nothing is printed:
uvicorn's logging is not configured and the loop's errors go to this package's logger.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import secrets
import signal
import socket
import sys
import threading
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import uvicorn

from tui_assistant.server.app import ServerApp, create_app
from tui_assistant.server.faults import SPEC_ENV, Faults, parse_specs
from tui_assistant.server.models import DemoModel, Model
from tui_assistant.server.sandbox import CodeLimits, SandboxStatus, check_setting
from tui_assistant.server.storage import Storage

logger = logging.getLogger("tui_assistant.server")

START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _bind_host(host: str) -> str:
    """``localhost`` is bound as 127.0.0.1, so the URL and the socket agree on the family."""
    return "127.0.0.1" if host == "localhost" else host


def _bind(host: str, port: int) -> socket.socket:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(128)
        sock.set_inheritable(True)
    except BaseException:
        sock.close()
        raise
    return sock


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class _Server(uvicorn.Server):
    """uvicorn's server, told when it is ready and quick to stop from another thread."""

    def __init__(self, config: uvicorn.Config, app: ServerApp) -> None:
        super().__init__(config)
        self.app = app
        self.ready = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        self.loop.set_exception_handler(_loop_error)
        self._wake = asyncio.Event()
        await super().startup(sockets)
        self.ready.set()

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            try:
                await asyncio.wait_for(self._wake.wait(), 0.1)  # type: ignore[union-attr]
            except TimeoutError:
                pass

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # Stop the runs first: their streams then end, and connections close at once.
        await self.app.api.runs.shutdown()
        for server in self.servers:
            server.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        for _ in range(100):
            if not self.server_state.connections:
                break
            await asyncio.sleep(0.01)
        for task in list(self.server_state.tasks):
            task.cancel()
        for server in self.servers:
            await server.wait_closed()
        await self.lifespan.shutdown()

    def request_stop(self) -> None:
        self.should_exit = True
        if self.loop is not None and self._wake is not None and not self.loop.is_closed():
            try:
                self.loop.call_soon_threadsafe(self._wake.set)
            except RuntimeError:  # the loop closed meanwhile
                pass


def _loop_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    logger.error("event loop error: %s", context.get("message"), exc_info=context.get("exception"))


def _silence_uvicorn() -> None:
    root = logging.getLogger("uvicorn")
    if not any(isinstance(h, logging.NullHandler) for h in root.handlers):
        root.addHandler(logging.NullHandler())


class LocalServer:
    """A local Assistants server running on a background thread with its own event loop."""

    def __init__(
        self,
        server: _Server,
        thread: threading.Thread,
        host: str,
        port: int,
        bearer_token: str | None = None,
    ) -> None:
        self._server = server
        self._thread = thread
        self._lock = threading.Lock()
        self._stopped = False
        self.host = host
        self.port = port
        self.base_url = f"http://{_url_host(host)}:{port}/v1"
        self.bearer_token = bearer_token
        """The token requests must carry, or None when any key is accepted."""

    @property
    def app(self) -> ServerApp:
        """The ASGI app (its ``.api`` gives access to storage and runs, for tests)."""
        return self._server.app

    @property
    def code_interpreter(self) -> SandboxStatus:
        """How the code interpreter runs code (``mode``: bubblewrap, unsandboxed or off)."""
        return self._server.app.api.code_interpreter

    @property
    def faults(self) -> Faults:
        """The faults to inject (see ``tui_assistant.server.faults``); thread-safe."""
        return self._server.app.api.faults

    def stop(self) -> None:
        """Stop serving, let running runs fail cleanly, close the database. Idempotent."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._server.request_stop()
        self._thread.join(STOP_TIMEOUT)
        if self._thread.is_alive():  # pragma: no cover - a stuck request
            self._server.force_exit = True
            self._thread.join(STOP_TIMEOUT)

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"LocalServer({self.base_url!r})"


def _config(app: Any, host: str, port: int, **options: Any) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="asyncio",
        http="auto",
        ws="none",
        lifespan="on",
        access_log=False,
        log_level="warning",
        **options,
    )


def _faults(specs: Iterable[str]) -> Faults:
    faults = Faults()
    for spec in specs:
        faults.add(spec)
    return faults


def _code_limits(
    limits: CodeLimits | None,
    code_interpreter: str | None,
    real_model: bool | None,
    model: Model | None,
) -> CodeLimits:
    """``limits`` with the mode; ``real_model`` None: whether ``model`` has an upstream."""
    limits = limits or CodeLimits()
    if code_interpreter is not None:
        limits = replace(limits, sandbox=check_setting(code_interpreter))
    if real_model is None and getattr(model, "base_url", None):
        real_model = True
    if real_model is not None:
        limits = replace(limits, real_model=real_model)
    return limits


def start_local_server(
    db_path: Path | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    model: Model | None = None,
    token_delay: float = 0.0,
    bearer_token: str | None = None,
    demo_assistant: bool = True,
    code_limits: CodeLimits | None = None,
    faults: Iterable[str] = (),
    fault_admin: bool = False,
    code_interpreter: str | None = None,
    real_model: bool | None = None,
) -> LocalServer:
    """Start a server in a daemon thread and return once it accepts connections.

    ``db_path`` None keeps everything in memory (files in a temporary directory removed at
    stop). ``model`` None uses ``DemoModel`` with ``token_delay`` seconds per token.
    Binding to a non-loopback host needs a bearer token; one is generated when none is
    given (read it from ``LocalServer.bearer_token``). ``code_limits`` bound the code
    interpreter; ``code_interpreter`` (``auto``, ``bubblewrap``, ``unsandboxed``) and
    ``real_model`` override its ``sandbox`` and ``real_model`` (see ``sandbox_status``;
    ``real_model`` None means: whether ``model`` has an upstream ``base_url``, as a
    ``ChatModel`` has; ``LocalServer.code_interpreter`` says which mode is active, and a
    real model whose interpreter is off is not offered the code tool). ``faults`` are fault
    specs to start with (more can be added through ``LocalServer.faults``);
    ``fault_admin`` opens ``/_faults`` to loopback clients.
    """
    if not is_loopback(host) and not bearer_token:
        bearer_token = secrets.token_urlsafe(24)
    fault_plan = _faults(faults)
    code_limits = _code_limits(code_limits, code_interpreter, real_model, model)
    host = _bind_host(host)
    sock = _bind(host, port)
    storage: Storage | None = None
    try:
        storage = Storage(db_path)
        app = create_app(
            storage,
            model or DemoModel(token_delay=token_delay),
            bearer_token=bearer_token,
            demo_assistant=demo_assistant,
            code_limits=code_limits,
            faults=fault_plan,
            fault_admin=fault_admin and is_loopback(host),
        )
        _silence_uvicorn()
        server = _Server(_config(app, host, sock.getsockname()[1], log_config=None), app)
    except BaseException:
        sock.close()
        if storage is not None:
            storage.close()
        raise
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # noqa: BLE001 - reported to the starter
            failure.append(exc)
            logger.error("local server stopped with an error", exc_info=exc)
        finally:
            sock.close()
            app.api.files.close()
            storage.close()
            server.ready.set()

    thread = threading.Thread(target=run, name="tui-assistant-server", daemon=True)
    thread.start()
    if not server.ready.wait(START_TIMEOUT) or failure or not server.started:
        server.request_stop()
        thread.join(STOP_TIMEOUT)
        raise RuntimeError("the local server did not start") from (failure[0] if failure else None)
    return LocalServer(server, thread, host, sock.getsockname()[1], bearer_token)


def serve(
    host: str = "127.0.0.1",
    port: int = 8080,
    db_path: Path | None = None,
    *,
    bearer_token: str | None = None,
    token_delay: float = 0.02,
    faults: Iterable[str] = (),
    fault_admin: bool | None = None,
    model: Model | None = None,
    code_interpreter: str = "auto",
    real_model: bool | None = None,
) -> int:
    """Serve in the foreground until Ctrl+C; returns the exit code.

    Faults to inject come from ``faults`` and from the environment variable
    ``TUI_ASSISTANT_FAULTS`` (specs separated by ``;``). ``/_faults`` is open to loopback
    clients when ``fault_admin`` is true, or, when it is None, when that variable is set
    (even to an empty string) or ``faults`` were given. ``code_interpreter`` and
    ``real_model`` choose how model-written code runs (see ``sandbox_status``).
    """
    if not is_loopback(host) and not bearer_token:
        bearer_token = secrets.token_urlsafe(24)
    from_env = os.environ.get(SPEC_ENV)
    specs = [*faults, *parse_specs(from_env or "")]
    try:
        fault_plan = _faults(specs)
    except ValueError as exc:
        print(f"Bad fault spec: {exc}", file=sys.stderr)
        return 2
    if fault_admin is None:
        fault_admin = from_env is not None or bool(specs)
    host = _bind_host(host)
    try:
        sock = _bind(host, port)
    except OSError as exc:
        print(f"Cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    storage = Storage(db_path)
    app = create_app(
        storage,
        model or DemoModel(token_delay=token_delay),
        bearer_token=bearer_token,
        faults=fault_plan,
        fault_admin=fault_admin and is_loopback(host),
        code_limits=_code_limits(None, code_interpreter, real_model, model),
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    logger.addHandler(handler)
    server = _Server(_config(app, host, sock.getsockname()[1]), app)
    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal; with
    # this handler a SIGTERM ends up like Ctrl+C, as a clean exit with status 0.
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminated) if in_main else None
    try:
        url = f"http://{_url_host(host)}:{sock.getsockname()[1]}/v1"
        print(f"Serving the Assistants API at {url}", flush=True)
        upstream = getattr(model, "base_url", None)
        if upstream:
            name = getattr(model, "model", None) or "(the first it lists)"
            print(f"Model: {name} at {upstream}", flush=True)
        if bearer_token:
            print(f"Bearer token: {bearer_token}", flush=True)
        print(f"{app.api.code_interpreter.describe().capitalize()}", flush=True)
        if app.api.faults.pending() or fault_admin:
            admin = f" (change them at http://{_url_host(host)}:{sock.getsockname()[1]}/_faults)"
            count = len(app.api.faults.pending())
            print(f"Fault injection on: {count} pending{admin if fault_admin else ''}", flush=True)
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)
        logger.removeHandler(handler)
        sock.close()
        app.api.files.close()
        storage.close()
    return 0


def _terminated(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
