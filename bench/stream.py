"""Streaming benchmark: a ~4,000-token Markdown reply into the real app.

    python bench/stream.py [--runs N]

Starts the local Assistants server in a separate process (so the figures are the app's
own), opens the real app headless at 120x40 and sends ``/long``, which makes the demo
model stream a fixed ~4,000-token Markdown document (paragraphs, lists, three fenced
code blocks). Four cases: {empty thread, thread with 200 earlier messages} x {as fast as
the server sends, paced at 100 tokens/s}. Prints medians over ``--runs`` runs.

Columns:
  wall s      first token on screen -> final render
  cpu s/s     CPU seconds of the app process per wall second while streaming
  tok/s       tokens per second, first to last token on screen
  key p50/p95 ms   key press -> handled by the composer -> the first frame after that
                   which redraws the composer
  last ms     last token received -> frame showing it
  same        final render equals a one-shot render of the same Markdown
  floor x     the app's tok/s divided by the openai SDK reading the same stream, no UI

Frames: headless Textual computes each screen update but writes nothing; the benchmark
renders every update to terminal escape sequences as a real terminal session would, so
that cost is counted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

warnings.filterwarnings("ignore", category=DeprecationWarning)

TOKENS_PER_SECOND_PACED = 100


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """``tui-assistant serve`` in a child process."""

    def __init__(self, db: Path, delay: float) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tui_assistant", "serve", "--port", str(self.port),
             "--delay", str(delay), "--db", str(db)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
        )
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the local server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


@dataclass
class Result:
    wall: float
    cpu_per_s: float
    tokens_per_s: float
    key_p50: float
    key_p95: float
    last_ms: float
    same: bool
    floor_ratio: float = 0.0
    tokens: int = 0
    key_samples: list[float] = field(default_factory=list)


async def make_history(base_url: str, count: int) -> tuple[str, str]:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0)
    assistants = await client.beta.assistants.list(limit=1)
    assistant_id = assistants.data[0].id
    thread = await client.beta.threads.create()
    for i in range(count):
        role = "user" if i % 2 == 0 else "assistant"
        text = (
            f"Question {i}: how does part {i} work?"
            if role == "user"
            else f"## Part {i}\n\nIt works like this:\n\n- step one\n- step two\n\n"
            f"```python\nprint({i})\n```\n"
        )
        await client.beta.threads.messages.create(thread.id, role=role, content=text)
    await client.close()
    return thread.id, assistant_id


async def sdk_floor(base_url: str) -> float:
    """Tokens/s of the openai SDK consuming the same /long stream with no UI."""
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0)
    assistant_id = (await client.beta.assistants.list(limit=1)).data[0].id
    thread = await client.beta.threads.create()
    stream = await client.beta.threads.runs.create(
        thread.id, assistant_id=assistant_id, stream=True,
        additional_messages=[{"role": "user", "content": "/long"}],
    )
    first = last = 0.0
    tokens = 0
    async for event in stream:
        if event.event == "thread.message.delta":
            now = time.perf_counter()
            first = first or now
            last = now
            tokens += 1
    await client.close()
    return tokens / (last - first) if last > first else 0.0


async def run_case(history: int, paced: bool, home: Path) -> Result:
    from textual import events
    from textual._compositor import ChopsUpdate, CompositorUpdate, LayoutUpdate

    from tui_assistant.config import Profile, Settings
    from tui_assistant.events import MessageCompleted, RunCompleted, TextDelta
    from tui_assistant.store import Store
    from tui_assistant.ui.app import TuiAssistantApp
    from tui_assistant.ui.markdown_blocks import BlockRenderer
    from tui_assistant.ui.screens.main import MainScreen
    from tui_assistant.ui.widgets.composer import Composer

    delay = 1 / TOKENS_PER_SECOND_PACED if paced else 0.0
    server = ServerProcess(home / f"server-{history}-{paced}.sqlite3", delay)
    try:
        os.environ["BENCH_KEY"] = "bench"
        profile = Profile(name="bench", base_url=server.base_url, api_key_env="BENCH_KEY")
        store = Store.open(home / f"threads-{history}-{paced}.sqlite3")
        if history:
            thread_id, assistant_id = await make_history(server.base_url, history)
            store.add_thread(profile.endpoint_key, thread_id, assistant_id, "Earlier thread")
            store.set_state(f"last_thread:{profile.endpoint_key}", thread_id)
        app = TuiAssistantApp(settings=Settings(profiles={}), profile=profile, store=store)

        frames: list[float] = []
        composer_frames: list[float] = []  # frames that redraw part of the composer
        frame_written = asyncio.Event()
        original_display = app._display

        def display(screen, renderable):
            if renderable is not None and not app._batch_count:
                if isinstance(renderable, CompositorUpdate):
                    renderable.render_segments(app.console)
                now = time.perf_counter()
                frames.append(now)
                if touches_composer(renderable):
                    composer_frames.append(now)
                frame_written.set()
            original_display(screen, renderable)

        def touches_composer(renderable) -> bool:
            try:
                area = app.query_one(Composer).region
            except Exception:
                return False
            if isinstance(renderable, ChopsUpdate):
                return any(
                    area.y <= y < area.bottom and x1 < area.right and x2 > area.x
                    for y, x1, x2 in renderable.spans
                )
            if isinstance(renderable, LayoutUpdate):
                return renderable.region.overlaps(area)
            return True

        app._display = display  # type: ignore[method-assign]

        marks: dict[str, float] = {}
        tokens = 0
        key_handled: list[float] = []
        key_event = asyncio.Event()

        # When the composer has handled a key, its text has changed and the change is
        # marked for repainting, so the next frame written shows it. (The ``Changed``
        # message comes later, often after that frame, so it would be the wrong mark.)
        original_on_key = Composer._on_key

        async def on_key(composer, event):
            await original_on_key(composer, event)
            if event.key == "x":
                key_handled.append(time.perf_counter())
                key_event.set()

        Composer._on_key = on_key  # type: ignore[method-assign]

        async with app.run_test(size=(120, 40)) as pilot:
            screen = app.screen
            assert isinstance(screen, MainScreen)
            while not screen.ready.is_set() or screen.assistant is None:
                await asyncio.sleep(0.02)
            await app.workers.wait_for_complete()
            await pilot.pause()

            original_on_event = screen.on_run_event

            async def on_run_event(live, event):
                nonlocal tokens
                now = time.perf_counter()
                if isinstance(event, TextDelta):
                    tokens += 1
                    marks.setdefault("first_delta", now)
                    marks["last_delta"] = now
                elif isinstance(event, MessageCompleted):
                    marks["completed"] = now
                elif isinstance(event, RunCompleted):
                    marks["run_done"] = now
                await original_on_event(live, event)

            screen.on_run_event = on_run_event  # type: ignore[method-assign]

            composer = app.query_one(Composer)
            composer.text = "/long"
            await pilot.press("enter")
            while "first_delta" not in marks:
                await asyncio.sleep(0.01)
            cpu0 = time.process_time()
            wall0 = time.perf_counter()
            key_sent: list[float] = []
            latencies: list[float] = []
            while "run_done" not in marks:
                await asyncio.sleep(0.2)
                if "run_done" in marks:
                    break
                key_event.clear()
                sent = time.perf_counter()
                app.post_message(events.Key("x", "x"))
                key_sent.append(sent)
                try:
                    await asyncio.wait_for(key_event.wait(), 5)
                except TimeoutError:
                    continue
                handled = key_handled[-1]
                while not any(f > handled for f in composer_frames[-3:]):
                    frame_written.clear()
                    try:
                        await asyncio.wait_for(frame_written.wait(), 5)
                    except TimeoutError:
                        break
                after = [f for f in composer_frames if f > handled]
                if after:
                    latencies.append((after[0] - sent) * 1000)
            await app.workers.wait_for_complete()
            await pilot.pause()
            final = time.perf_counter()
            final_frame = next((f for f in frames if f >= marks["completed"]), final)
            cpu = time.process_time() - cpu0
            wall_stream = final - wall0
            last_frame = next((f for f in frames if f >= marks["last_delta"]), final)

            view = screen.conversation.message_views[-1]
            width = view.content_size.width
            streamed = [s.text for s in view._render_all(width)[1:]]
            one_shot = BlockRenderer(app.console, code_theme=view._get_renderer().code_theme)
            one_shot.append(view.text)
            same = streamed == [s.text for s in one_shot.lines(width)]
            text_ok = view.text.count("```") == 6
        store.close()
        Composer._on_key = original_on_key  # type: ignore[method-assign]
        ordered = sorted(latencies) or [0.0]
        return Result(
            wall=final_frame - marks["first_delta"],
            cpu_per_s=cpu / wall_stream if wall_stream else 0.0,
            tokens_per_s=tokens / (marks["last_delta"] - marks["first_delta"]),
            key_p50=statistics.median(ordered),
            key_p95=ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))],
            last_ms=(last_frame - marks["last_delta"]) * 1000,
            same=same and text_ok,
            floor_ratio=0.0,
            tokens=tokens,
        )
    finally:
        server.stop()


async def floor_for(paced: bool, home: Path) -> float:
    delay = 1 / TOKENS_PER_SECOND_PACED if paced else 0.0
    server = ServerProcess(home / f"floor-{paced}.sqlite3", delay)
    try:
        return await sdk_floor(server.base_url)
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per case (median is shown)")
    args = parser.parse_args()
    cases = [(0, False), (200, False), (0, True), (200, True)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["TUI_ASSISTANT_HOME"] = tmp
        floors = {paced: [] for paced in (False, True)}
        for paced in (False, True):
            for _ in range(args.runs):
                floors[paced].append(asyncio.run(floor_for(paced, Path(tmp))))
        for history, paced in cases:
            results = [asyncio.run(run_case(history, paced, Path(tmp))) for _ in range(args.runs)]
            floor = statistics.median(floors[paced])

            def med(attr: str, results=results) -> float:
                return statistics.median(getattr(r, attr) for r in results)

            rows.append((
                f"{'200 earlier' if history else 'empty':<11} "
                f"{'100 tok/s' if paced else 'full speed':<10}",
                med("tokens"), med("wall"), med("cpu_per_s"), med("tokens_per_s"),
                med("key_p50"), med("key_p95"), med("last_ms"),
                all(r.same for r in results), med("tokens_per_s") / floor if floor else 0.0,
                floor,
            ))
    print(f"stream benchmark: medians of {args.runs} runs, 120x40, Python "
          f"{sys.version.split()[0]}, {os.cpu_count()} cores")
    header = (f"{'case':<22} {'tokens':>6} {'wall s':>7} {'cpu s/s':>8} {'tok/s':>8} "
              f"{'key p50':>8} {'key p95':>8} {'last ms':>8} {'same':>5} {'floor x':>8} "
              f"{'sdk tok/s':>9}")
    print(header)
    print("-" * len(header))
    for name, tokens, wall, cpu, tps, p50, p95, last, same, ratio, floor in rows:
        print(f"{name:<22} {tokens:>6.0f} {wall:>7.2f} {cpu:>8.2f} {tps:>8.0f} {p50:>8.1f} "
              f"{p95:>8.1f} {last:>8.1f} {'yes' if same else 'NO':>5} {ratio:>8.2f} "
              f"{floor:>9.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
