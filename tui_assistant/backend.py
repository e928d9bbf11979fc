"""Connecting a profile to a working engine, with no UI.

``connect(profile, settings)`` returns a ``Connection``: an ``Engine`` that has been
probed, plus the built-in local server when the profile uses it. Everything slow (the
openai SDK import, starting the local server, the first request) happens here, off the
UI's first frame. Failures are ``errors.AppError`` subclasses with a message that says
what to do.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tui_assistant import paths
from tui_assistant.errors import MissingKeyError

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
LOCAL_API_KEY = "local"
"""The local server accepts any key on loopback; the SDK insists on having one."""


@dataclass
class Connection:
    """A ready engine and what it runs on."""

    engine: Engine
    label: str
    is_local: bool
    server: LocalServer | None = field(default=None, repr=False)

    @property
    def kind(self) -> str:
        """The wire API in use: ``assistants`` or ``responses`` (``auto`` resolved)."""
        return str(getattr(self.engine, "kind", "assistants"))

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


def _make_engine(
    kind: str, base_url: str, api_key: str, headers, label: str, assistants=None
) -> Engine:
    from tui_assistant.engines import create_engine

    return create_engine(
        kind, base_url=base_url, api_key=api_key, headers=headers, label=label,
        assistants=assistants,
    )


def _load_engines(kind: str) -> None:
    """Import the engine modules ``kind`` may need (the SDK import is slow)."""
    import tui_assistant.engines.assistants  # noqa: F401

    if kind != "assistants":
        import tui_assistant.engines.responses  # noqa: F401


async def connect(
    profile: Profile,
    settings: Settings,
    *,
    server: LocalServer | None = None,
    assistants: object | None = None,
) -> Connection:
    """Start (or reuse) what the profile needs and return a probed engine.

    The profile's ``engine`` kind decides the wire API; ``auto`` probes the endpoint
    (``engines.choose_engine``); the local server always speaks the Assistants API.
    ``assistants`` is the book of local assistants a Responses engine keeps
    (``store.local_assistants(profile.endpoint_key)``; in memory when not given).

    Raises:
        MissingKeyError: a remote profile has no API key.
        EngineError: the endpoint is unreachable, refuses the key, or does not serve
            the Assistants API.
    """
    if profile.is_local:
        own_server = server is None
        if server is None:
            server = await asyncio.to_thread(_start_local, settings)
        label = local_label(server)
        try:
            kind = "assistants" if profile.engine == "auto" else profile.engine
            engine = await asyncio.to_thread(
                _make_engine, kind, server.base_url, LOCAL_API_KEY, {}, label, assistants
            )
            await engine.check()
        except BaseException:
            if own_server:
                await asyncio.to_thread(server.stop)
            raise
        return Connection(engine, label, True, server if own_server else None)

    api_key = await asyncio.to_thread(profile.api_key)
    if not api_key:
        raise MissingKeyError(
            f"Profile '{profile.name}' talks to {profile.base_url} but no API key was found: "
            f"set {profile.api_key_env} (or api_key_env / api_key_command in the profile)."
        )
    assert profile.base_url is not None
    from tui_assistant.engines import choose_engine

    await asyncio.to_thread(_load_engines, profile.engine)
    engine = await choose_engine(
        profile.engine,
        base_url=profile.base_url,
        api_key=api_key,
        headers=dict(profile.headers),
        assistants=assistants,
    )
    return Connection(engine, engine.label, False)
