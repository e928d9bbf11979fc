"""Connecting a profile to a working engine, with no UI.

``connect(profile, settings)`` returns a ``Connection``: an ``Engine`` that has been
probed, plus the built-in local server when the profile uses it. Everything slow (the
openai SDK import, starting the local server, the first request) happens here, off the
UI's first frame. Failures are ``errors.AppError`` subclasses with a message that says
what to do.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from tui_assistant import paths
from tui_assistant.errors import AuthError, EndpointUnreachable

if TYPE_CHECKING:
    from tui_assistant.config import LocalModel, Profile, Settings
    from tui_assistant.engines.base import Engine
    from tui_assistant.server.chat_model import ChatModel
    from tui_assistant.server.runtime import LocalServer

LOCAL_LABEL = "built-in local server · offline demo model"
LOCAL_HINT = (
    "Offline demo; nothing leaves this machine. Real endpoint: tui-assistant --base-url URL "
    "or --profile NAME"
)
NO_KEY = "no-key"
"""Sent as the key when a profile has none (the SDK needs one to send requests)."""
LOCAL_API_KEY = "local"
"""The local server accepts any key on loopback; the SDK insists on having one."""


class _Stoppable(Protocol):
    def stop(self) -> None: ...


CHILD_START_TIMEOUT = 20.0


class ChildServer:
    """The built-in server in a child process (``tui_assistant.server.child``).

    ``start()`` launches it; the app does so once its first frame is out, so the server's
    start-up (~0.3 s of CPU) runs on another CPU while the SDK is imported, not against
    the first frame (on a busy machine they shared one CPU). ``wait_ready()`` starts it
    if nobody did and returns its base URL. It stops when ``stop()`` closes its stdin,
    and by itself when this process is gone.
    """

    def __init__(self, settings: Settings) -> None:
        self._lock = threading.Lock()
        self._ready: str | None = None
        self._argv = [
            sys.executable, "-m", "tui_assistant.server.child", str(paths.server_db_path()),
            repr(float(settings.demo_token_delay)), settings.code_interpreter,
        ]
        self._process: subprocess.Popen[bytes] | None = None
        self._failed = ""

    def start(self) -> None:
        """Launch the server process (once; a failure is reported by ``wait_ready``)."""
        with self._lock:
            self._start()

    def _start(self) -> None:
        if self._process is not None or self._failed:
            return
        try:
            self._process = subprocess.Popen(
                self._argv,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                close_fds=True, env=dict(os.environ, PYTHONWARNINGS="ignore"),
            )
        except OSError as error:  # cannot start a process: connect starts it in a thread
            self._failed = str(error) or type(error).__name__

    def wait_ready(self, timeout: float = CHILD_START_TIMEOUT) -> str:
        """The server's base URL once it serves; ``RuntimeError`` if it cannot start."""
        with self._lock:
            if self._ready is not None:
                return self._ready
            self._start()
            if self._process is None:
                raise RuntimeError(f"the local server did not start: {self._failed}")
            assert self._process.stdout is not None
            timer = threading.Timer(timeout, self._process.kill)
            timer.start()
            try:
                line = self._process.stdout.readline().decode("utf-8", "replace").strip()
            finally:
                timer.cancel()
            kind, _, rest = line.partition(" ")
            if kind != "ready" or not rest:
                self.stop()
                raise RuntimeError(f"the local server did not start: {rest or 'no answer'}")
            self._ready = rest
            return rest

    def stop(self) -> None:
        """Stop the server (idempotent)."""
        process = self._process
        if process is None:
            self._failed = self._failed or "stopped"  # and never started after this
            return
        if process.poll() is None:
            try:
                assert process.stdin is not None
                process.stdin.close()
                process.wait(5.0)
            except (OSError, subprocess.TimeoutExpired):
                process.kill()
                process.wait()
        for pipe in (process.stdin, process.stdout):
            if pipe is not None and not pipe.closed:
                pipe.close()


@dataclass
class Connection:
    """A ready engine and what it runs on."""

    engine: Engine
    label: str
    is_local: bool
    server: LocalServer | _Stoppable | None = field(default=None, repr=False)
    code_interpreter: str = ""
    """For the built-in server: how model-written code runs (sandboxed, or why it is off)."""

    @property
    def kind(self) -> str:
        """The wire API in use: ``assistants`` or ``responses`` (``auto`` resolved)."""
        return str(getattr(self.engine, "kind", "assistants"))

    @property
    def title(self) -> str:
        """Where replies come from, for the header: the label, and the engine's API
        when it is not the Assistants API (the model the app is built on)."""
        api = str(getattr(self.engine, "api_name", ""))
        return f"{self.label} · {api}" if api and self.kind != "assistants" else self.label

    async def close(self) -> None:
        try:
            await self.engine.aclose()
        finally:
            if self.server is not None:
                server, self.server = self.server, None
                await asyncio.to_thread(server.stop)


def _start_local(settings: Settings) -> LocalServer:
    from tui_assistant.server.runtime import start_local_server

    model = None
    if settings.local_model is not None:
        model = chat_model(settings.local_model)
    return start_local_server(
        paths.server_db_path(),
        token_delay=settings.demo_token_delay,
        demo_assistant=True,
        code_interpreter=settings.code_interpreter,
        model=model,  # type: ignore[arg-type]
    )


def chat_model(local: LocalModel) -> ChatModel:
    """The built-in server's model for ``local``; its key is read now, kept in memory only."""
    from tui_assistant.server.chat_model import ChatModel

    return ChatModel(
        local.url,
        model=local.model,
        api_key=local.api_key(),
        context_window=local.context_window,
        key_hint=local.key_env or "",
    )


def local_label(server: LocalServer) -> str:
    """The header's words for the built-in server: the demo model or ``HOST · MODEL``."""
    model = server.app.api.model
    host = getattr(model, "host", None)
    if host is None:
        return LOCAL_LABEL
    return f"built-in server → {host} · {getattr(model, 'model', None) or '?'}"


LOCAL_WHERE = "the built-in local server"
"""How messages name the local server (its port changes at every start)."""


def _make_engine(
    kind: str, base_url: str, api_key: str, headers, label: str, assistants=None
) -> Engine:
    from tui_assistant.engines import create_engine

    where = LOCAL_WHERE if label == LOCAL_LABEL else None
    return create_engine(
        kind, base_url=base_url, api_key=api_key, headers=headers, label=label,
        assistants=assistants, where=where,
    )


def _code_interpreter(settings: Settings) -> str:
    """One sentence on how the built-in server runs model-written code."""
    from tui_assistant.server.sandbox import sandbox_status

    status = sandbox_status(settings.code_interpreter, real_model=settings.local_model is not None)
    return status.describe()


def _import_engine() -> None:
    import tui_assistant.engines.assistants  # noqa: F401


_preloading: threading.Thread | None = None


def preload_engines() -> None:
    """Start importing the engine (the SDK: ~0.5 s of CPU) in a thread, once.

    The app calls this as soon as its first frame is out, before the connection starts:
    the import then overlaps with what the UI still does after that frame. ``connect``
    imports the engine too; Python's import lock makes it wait for this import (or try
    again, and report the error, if this one failed)."""
    global _preloading
    if _preloading is None and "tui_assistant.engines.assistants" not in sys.modules:
        _preloading = threading.Thread(target=_preload, name="engine-import", daemon=True)
        _preloading.start()


def _preload() -> None:
    try:
        _import_engine()
    except Exception:  # noqa: BLE001 - connect imports again and reports the error
        pass


def _load_engines(kind: str) -> None:
    """Import the engine modules ``kind`` may need (the SDK import is slow)."""
    import tui_assistant.engines.assistants  # noqa: F401

    if kind != "assistants":
        import tui_assistant.engines.responses  # noqa: F401


class Prestarted:
    """A connector whose slow part starts early: ``prestart`` returns one, the app calls
    ``start()`` once its first frame is out."""

    def __init__(self, child: ChildServer | None) -> None:
        self.child = child

    def start(self) -> None:
        """Start the local server's process now (if the profile uses one)."""
        if self.child is not None:
            self.child.start()

    async def __call__(self, profile: Profile, settings: Settings, **options) -> Connection:
        return await connect(profile, settings, child=self.child, **options)

    def stop(self) -> None:
        """Stop what was started if no connection took it over (idempotent)."""
        if self.child is not None:
            self.child.stop()


def prestart(profile: Profile, settings: Settings) -> Prestarted:
    """The connector for ``profile``: what it needs (the local server, in a child
    process) starts with ``start()``, and the connection overlaps with the app's start.
    Call ``stop()`` once the app has ended."""
    if not profile.is_local or settings.local_model is not None:
        return Prestarted(None)  # a real model's key stays in this process
    return Prestarted(ChildServer(settings))


async def _local_base_url(child: ChildServer) -> str | None:
    try:
        return await asyncio.to_thread(child.wait_ready)
    except RuntimeError:
        return None


async def connect(
    profile: Profile,
    settings: Settings,
    *,
    server: LocalServer | None = None,
    assistants: object | None = None,
    child: ChildServer | None = None,
) -> Connection:
    """Start (or reuse) what the profile needs and return a probed engine.

    The profile's ``engine`` kind decides the wire API; ``auto`` probes the endpoint
    (``engines.choose_engine``); the local server always speaks the Assistants API.
    ``assistants`` is the book of local assistants a Responses engine keeps
    (``store.local_assistants(profile.endpoint_key)``; in memory when not given).
    ``server`` is a running local server to use (not stopped with the connection);
    ``child`` one started by ``prestart`` (stopped with the connection; when it failed
    to start, a server is started in a thread instead).

    Raises:
        AuthError: the endpoint refused the key, or wants one and the profile has none.
        EngineError: the endpoint is unreachable, refuses the key, or does not serve
            the Assistants API.
    """
    if profile.is_local:
        # How code runs is a probe of bubblewrap (a child process): asked meanwhile.
        code_task = asyncio.ensure_future(asyncio.to_thread(_code_interpreter, settings))
        try:
            connection = await _connect_local(profile, settings, server, assistants, child)
        except BaseException:
            code_task.cancel()
            raise
        connection.code_interpreter = await code_task
        return connection

    api_key = await asyncio.to_thread(profile.api_key)
    assert profile.base_url is not None
    from tui_assistant.engines import choose_engine

    await asyncio.to_thread(_load_engines, profile.engine)
    try:
        # Without a key a placeholder is sent; many local servers need none.
        engine = await choose_engine(
            profile.engine,
            base_url=profile.base_url,
            api_key=api_key or NO_KEY,
            headers=dict(profile.headers),
            assistants=assistants,
        )
    except AuthError as error:
        if api_key:
            raise
        raise AuthError(
            f"{profile.base_url} needs an API key and none was given: "
            f"{profile.missing_key_hint()}."
        ) from error
    except EndpointUnreachable as error:
        raise EndpointUnreachable(
            f"{error.message} Check the address ({profile.base_url}), that the server is "
            "running, and any proxy or firewall on the way."
        ) from error
    return Connection(engine, engine.label, False)


async def _connect_local(
    profile: Profile,
    settings: Settings,
    server: LocalServer | None,
    assistants: object | None,
    child: ChildServer | None,
) -> Connection:
    """``connect`` for the built-in server (without ``code_interpreter``)."""
    running: LocalServer | _Stoppable | None = server
    base_url = server.base_url if server is not None else None
    if server is None and child is not None:
        # the engine's import (the SDK, the slow part) runs while the child starts
        imported = asyncio.ensure_future(asyncio.to_thread(_import_engine))
        base_url = await _local_base_url(child)
        await asyncio.gather(imported, return_exceptions=True)
        running = child if base_url is not None else None
    if base_url is None:
        running = await asyncio.to_thread(_start_local, settings)
        base_url = running.base_url
    owned = running if running is not server else None
    label = local_label(running) if hasattr(running, "app") else LOCAL_LABEL
    try:
        kind = "assistants" if profile.engine == "auto" else profile.engine
        engine = await asyncio.to_thread(
            _make_engine, kind, base_url, LOCAL_API_KEY, {}, label, assistants
        )
        await engine.check()
    except BaseException:
        if owned is not None:
            await asyncio.to_thread(owned.stop)
        raise
    return Connection(engine, label, True, owned)
