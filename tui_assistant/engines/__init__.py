"""Engines: one module per wire API, all speaking ``tui_assistant.events``.

``ENGINE_KINDS`` lists the kinds a profile (or ``--engine``) may name. ``create_engine``
makes the engine for a concrete kind; ``choose_engine`` makes *and probes* one, resolving
``auto``: the Assistants API where the endpoint serves it, else Responses + Conversations.
The chosen engine's ``kind`` attribute says which (for the header and the activity
pane). Engine modules are
imported only when an engine is created: importing the ``openai`` SDK costs about half a
second, which the app's start-up (and ``--help``) should not pay before it needs to.
"""

from __future__ import annotations

from typing import Any

from tui_assistant.engines.base import Engine
from tui_assistant.errors import ConfigError, NotServedError

__all__ = ["AUTO", "ENGINE_KINDS", "Engine", "choose_engine", "create_engine"]

AUTO = "auto"
ENGINE_KINDS: tuple[str, ...] = ("assistants", "responses", AUTO)
"""The engine kinds a profile may name (``auto`` probes the endpoint)."""


def create_engine(
    kind: str,
    *,
    base_url: str,
    api_key: str,
    headers: dict[str, str] | None = None,
    label: str | None = None,
    assistants: Any = None,
    where: str | None = None,
) -> Engine:
    """Create the engine for ``kind`` (``assistants`` or ``responses``) at ``base_url``.

    ``assistants`` is the book of locally kept assistants (``Store.local_assistants``)
    the Responses engine uses; the Assistants engine ignores it. ``where`` is how the
    Assistants engine's error messages name the endpoint (default: its URL). Raises
    ``ConfigError`` for an unknown kind (and for ``auto``: use ``choose_engine``).
    Creating an engine does no I/O; call ``await engine.check()`` to probe the endpoint.
    """
    normalized = (kind or "").strip().lower()
    if normalized == "assistants":
        from tui_assistant.engines.assistants import AssistantsEngine

        return AssistantsEngine(base_url, api_key, headers=headers, label=label, where=where)
    if normalized == "responses":
        from tui_assistant.engines.responses import ResponsesEngine

        return ResponsesEngine(
            base_url, api_key, headers=headers, label=label, assistants=assistants
        )
    known = ", ".join(ENGINE_KINDS)
    if normalized == AUTO:
        raise ConfigError("Engine kind 'auto' needs a probe: use choose_engine().")
    raise ConfigError(f"Unknown engine kind {kind!r}; use one of: {known}.")


async def choose_engine(
    kind: str,
    *,
    base_url: str,
    api_key: str,
    headers: dict[str, str] | None = None,
    label: str | None = None,
    assistants: Any = None,
) -> Engine:
    """A probed engine for ``kind``; ``auto`` tries the Assistants API, then Responses.

    With ``auto`` only "not served" moves on to the next kind; any other failure (no
    answer, a refused key) is raised at once. When neither API is served the error says
    so. The engine's ``kind`` attribute names the kind chosen. Runs off the event loop
    where it matters: creating an engine imports the SDK (call it from a worker).
    """
    normalized = (kind or "").strip().lower()
    kinds = ("assistants", "responses") if normalized == AUTO else (normalized,)
    for position, candidate in enumerate(kinds):
        engine = create_engine(
            candidate,
            base_url=base_url,
            api_key=api_key,
            headers=headers,
            label=label,
            assistants=assistants,
        )
        try:
            await engine.check()
        except NotServedError:
            await engine.aclose()
            if position + 1 < len(kinds):
                continue
            if len(kinds) > 1:
                raise NotServedError(
                    "This endpoint serves neither the Assistants API nor Responses + "
                    "Conversations (probed /assistants, /conversations and /responses).",
                    title="No supported API",
                ) from None
            raise
        except BaseException:
            await engine.aclose()
            raise
        return engine
    raise ConfigError(f"Unknown engine kind {kind!r}.")
