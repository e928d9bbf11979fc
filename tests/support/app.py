"""Driving the app as a user would: build it around a server and a store, press keys,
wait for what a user would wait for."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import Any

from openai import AsyncOpenAI

from tui_assistant.backend import Connection, connect
from tui_assistant.config import Profile, Settings, resolve_profile
from tui_assistant.store import Store
from tui_assistant.ui.app import TuiAssistantApp
from tui_assistant.ui.screens.main import MainScreen
from tui_assistant.ui.screens.tool_call import FunctionCallScreen
from tui_assistant.ui.widgets.conversation import Notice

SIZE = (120, 40)


def make_app(
    store: Store,
    *,
    profile: Profile | None = None,
    server: Any = None,
    token_delay: float = 0.0,
) -> TuiAssistantApp:
    settings = Settings(demo_token_delay=token_delay)
    profile = profile or resolve_profile(settings, env={})
    options: dict[str, Any] = {}
    if server is not None:

        async def connector(profile: Profile, settings: Settings):
            return await connect(profile, settings, server=server)

        options["connector"] = connector
    return TuiAssistantApp(settings=settings, profile=profile, store=store, **options)


async def wait_for(pilot, condition: Callable[[], bool], what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


def main_screen(app: TuiAssistantApp) -> MainScreen:
    screen = app.screen
    assert isinstance(screen, MainScreen)
    return screen


async def ready(pilot) -> MainScreen:
    screen = main_screen(pilot.app)
    await wait_for(pilot, screen.workspace.ready.is_set, "the endpoint to connect")
    return screen


async def press_at_once(pilot, *keys: str) -> None:
    """Press ``keys`` as a terminal delivers several in one read (a held key repeating
    while the app is busy): all are queued before the first is handled. Named keys only
    (``alt+down``); ``Pilot.press`` waits for the app to idle after each key instead."""
    from textual import events

    app = pilot.app
    for key in keys:
        event = events.Key(key, None)
        event.set_sender(app)
        app._driver.send_message(event)
    await pilot.pause()


async def say(pilot, text: str) -> None:
    """Type ``text`` and press Enter, as a user would."""
    await pilot.press(*text)
    await pilot.press("enter")


async def turn_done(pilot, screen: MainScreen, replies: int) -> None:
    """Wait until ``replies`` assistant messages are shown and nothing is running."""
    await wait_for(
        pilot,
        lambda: not screen.workspace.live
        and sum(v.role == "assistant" for v in screen.conversation.message_views) >= replies,
        f"{replies} replies",
    )
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def shown(screen: MainScreen) -> list[tuple[str, str]]:
    return [(v.role, v.text) for v in screen.conversation.message_views]


def notices(screen: MainScreen) -> list[str]:
    return [str(n.render()) for n in screen.conversation.query(Notice)]


def client_for(server: Any) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=server.base_url, api_key="test", max_retries=0)


def tools_app(store: Store, server: Any, **settings: Any) -> TuiAssistantApp:
    """The app on the local ``server`` with ``settings`` (approval_required, ...)."""
    config = Settings(demo_token_delay=0.0, **settings)

    async def connector(profile: Profile, settings: Settings) -> Connection:
        return await connect(profile, settings, server=server)

    return TuiAssistantApp(
        settings=config, profile=resolve_profile(config, env={}), store=store, connector=connector
    )


async def modal(pilot) -> FunctionCallScreen:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, FunctionCallScreen), "the modal")
    await pilot.pause()
    return pilot.app.screen


def plain(widget) -> str:
    """The text a ``Static`` shows (its Rich renderable printed without styles)."""
    from rich.console import Console

    console = Console(width=100, file=io.StringIO(), record=True, color_system=None)
    console.print(widget.content)
    return console.export_text()


def reply_texts(screen) -> list[str]:
    return [text for role, text in shown(screen) if role == "assistant"]
