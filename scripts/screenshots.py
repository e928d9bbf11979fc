"""Regenerate the SVG screenshots in ``screenshots/`` from the real app.

    python scripts/screenshots.py [--out screenshots]

Runs the app headless at 120x40 on the built-in local server (offline demo model), in a
throwaway data directory, and drives it with real key presses:

* ``first-run.svg``        a fresh machine: the offline demo, before the first message
* ``main-streaming.svg``   the main screen while a long reply streams in
* ``threads.svg``          the thread list with several saved threads (focused)
* ``assistant-picker.svg`` choosing between the endpoint's assistants (F4)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore", category=DeprecationWarning)

SIZE = (120, 40)
QUESTIONS = [
    "Plan the refactor of the billing module",
    "Corn flakes or porridge for a long hike?",
    "Explain Python generators with an example",
    "Draft a polite reply to the landlord",
]


async def wait_for(pilot, condition, timeout: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise RuntimeError("timed out")
        await pilot.pause(0.05)


async def shoot(out: Path) -> None:
    from openai import AsyncOpenAI

    from tui_assistant import paths
    from tui_assistant.backend import connect
    from tui_assistant.config import Settings, resolve_profile
    from tui_assistant.server.models import DemoModel
    from tui_assistant.server.runtime import start_local_server
    from tui_assistant.store import Store
    from tui_assistant.ui.app import TuiAssistantApp

    model = DemoModel(token_delay=0.0)
    server = start_local_server(paths.server_db_path(), model=model)
    store = Store.open(paths.store_path())
    settings = Settings(profiles={})
    profile = resolve_profile(settings, env={})

    async def connector(profile, settings):
        return await connect(profile, settings, server=server)

    try:
        app = TuiAssistantApp(settings=settings, profile=profile, store=store,
                              connector=connector)
        async with app.run_test(size=SIZE) as pilot:
            screen = app.screen
            space = screen.workspace
            await wait_for(pilot, lambda: space.ready.is_set() and space.assistant)
            await pilot.pause(0.3)
            app.save_screenshot("first-run.svg", str(out))

            for number, question in enumerate(QUESTIONS):
                if number:
                    await pilot.press("ctrl+n")
                await pilot.press(*question, "enter")
                await pilot.pause(0.2)
                await wait_for(pilot, lambda: not screen.workspace.live)
            await app.workers.wait_for_complete()

            model.token_delay = 0.015
            await pilot.press(*"/long", "enter")
            await wait_for(
                pilot,
                lambda: screen.workspace.live
                and len(screen.conversation.message_views[-1].text) > 2500,
            )
            app.save_screenshot("main-streaming.svg", str(out))
            await pilot.press("escape")
            await wait_for(pilot, lambda: not screen.workspace.live)
            await app.workers.wait_for_complete()
            model.token_delay = 0.0

            screen.threads.focus()
            await pilot.press("down")
            await pilot.pause(0.3)
            app.save_screenshot("threads.svg", str(out))

        client = AsyncOpenAI(base_url=server.base_url, api_key="local", max_retries=0)
        await client.beta.assistants.create(
            name="Code reviewer", model="demo", instructions="Review diffs; be specific."
        )
        await client.beta.assistants.create(
            name="Travel planner", model="demo", instructions="Plan trips on a budget."
        )
        await client.close()

        app = TuiAssistantApp(settings=settings, profile=profile, store=store,
                              connector=connector)
        async with app.run_test(size=SIZE) as pilot:
            screen = app.screen
            await wait_for(pilot, lambda: screen.workspace.ready.is_set())
            await app.workers.wait_for_complete()
            await pilot.press("f4")
            await pilot.pause(0.6)
            app.save_screenshot("assistant-picker.svg", str(out))
            await pilot.press("escape")
    finally:
        store.close()
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as home:
        os.environ["TUI_ASSISTANT_HOME"] = home
        for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
            os.environ.pop(name, None)
        asyncio.run(shoot(args.out.resolve()))
    for svg in sorted(args.out.glob("*.svg")):
        print(svg.relative_to(ROOT) if svg.is_relative_to(ROOT) else svg)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
