"""Engines: one module per wire API, all speaking ``tui_assistant.events``.

``create_engine`` picks the engine for a profile's ``engine`` kind. Engine modules are
imported only when an engine is created: importing the ``openai`` SDK costs about half a
second, which the app's start-up (and ``--help``) should not pay before it needs to.
"""

from __future__ import annotations

from tui_assistant.engines.base import Engine
from tui_assistant.errors import ConfigError

__all__ = ["ENGINE_KINDS", "Engine", "create_engine"]

ENGINE_KINDS: tuple[str, ...] = ("assistants",)
"""The engine kinds a profile may name."""


def create_engine(
    kind: str,
    *,
    base_url: str,
    api_key: str,
    headers: dict[str, str] | None = None,
    label: str | None = None,
    where: str | None = None,
) -> Engine:
    """Create the engine for ``kind`` talking to ``base_url``.

    ``where`` is how error messages name the endpoint (default: its URL).
    Raises ``ConfigError`` for an unknown kind. Creating an engine does no I/O; call
    ``await engine.check()`` to probe the endpoint.
    """
    normalized = (kind or "").strip().lower()
    if normalized == "assistants":
        from tui_assistant.engines.assistants import AssistantsEngine

        return AssistantsEngine(base_url, api_key, headers=headers, label=label, where=where)
    known = ", ".join(ENGINE_KINDS)
    raise ConfigError(f"Unknown engine kind {kind!r}; use one of: {known}.")
