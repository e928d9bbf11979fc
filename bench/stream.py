"""Streaming benchmark: a ~4,000-token Markdown reply into the real app.

    python bench/stream.py [--runs N] [--engine assistants|responses|both]

Starts an endpoint in a separate process (so the figures are the app's own), opens the
real app headless at 120x40 and sends ``/long``, which streams a fixed ~4,000-token
Markdown document (paragraphs, lists, three fenced code blocks). The endpoint is, per
engine:

* assistants: the local Assistants server (``tui-assistant serve``), its demo model;
* responses: the scripted Responses + Conversations server of the tests
  (``tests/support/responses.py``), sending the same tokens as
  ``response.output_text.delta`` events; the app's engine is ``responses``.

Four cases per engine: {empty thread, thread with 200 earlier messages} x {as fast as
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


RESPONSES_KEY = "sk-resp-test-secret-7777"  # what tests/support/responses.py accepts
RESPONSES_ASSISTANT = "asst_local_bench"


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


class ResponsesProcess:
    """``tests/support/responses.py`` serving in a child process."""

    def __init__(self, pause: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.responses", str(pause)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
            text=True,
        )
        assert self.proc.stdout is not None
        self.base_url = self.proc.stdout.readline().strip()
        if not self.base_url.startswith("http"):
            raise RuntimeError("the Responses server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def start_endpoint(engine: str, home: Path, name: str, delay: float):
    if engine == "responses":
        return ResponsesProcess(delay)
    return ServerProcess(home / f"{name}.sqlite3", delay)


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


def history_text(i: int) -> tuple[str, str]:
    role = "user" if i % 2 == 0 else "assistant"
    text = (
        f"Question {i}: how does part {i} work?"
        if role == "user"
        else f"## Part {i}\n\nIt works like this:\n\n- step one\n- step two\n\n"
        f"```python\nprint({i})\n```\n"
    )
    return role, text


async def make_conversation(base_url: str, count: int) -> str:
    """A conversation with ``count`` earlier messages, added 20 items a call (the API's
    limit per call)."""
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=base_url, api_key=RESPONSES_KEY, max_retries=0)
    conversation = await client.conversations.create()
    items = [dict(zip(("role", "content"), history_text(i), strict=True), type="message")
             for i in range(count)]
    for start in range(0, len(items), 20):
        await client.conversations.items.create(conversation.id, items=items[start:start + 20])
    await client.close()
    return conversation.id


async def make_history(base_url: str, count: int) -> tuple[str, str]:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0)
    assistants = await client.beta.assistants.list(limit=1)
    assistant_id = assistants.data[0].id
    thread = await client.beta.threads.create()
    for i in range(count):
        role, text = history_text(i)
        await client.beta.threads.messages.create(thread.id, role=role, content=text)
    await client.close()
    return thread.id, assistant_id


async def sdk_floor(base_url: str, engine: str) -> float:
    """Tokens/s of the openai SDK consuming the same /long stream with no UI."""
    from openai import AsyncOpenAI

    if engine == "responses":
        client = AsyncOpenAI(base_url=base_url, api_key=RESPONSES_KEY, max_retries=0)
        conversation = await client.conversations.create()
        stream = await client.responses.create(
            model="gpt-test-mini", conversation=conversation.id, input="/long", stream=True,
            background=True,
        )
        rate = await delta_rate(stream, lambda e: e.type == "response.output_text.delta")
        await client.close()
        return rate

    client = AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0)
    assistant_id = (await client.beta.assistants.list(limit=1)).data[0].id
    thread = await client.beta.threads.create()
    stream = await client.beta.threads.runs.create(
        thread.id, assistant_id=assistant_id, stream=True,
        additional_messages=[{"role": "user", "content": "/long"}],
    )
    rate = await delta_rate(stream, lambda e: e.event == "thread.message.delta")
    await client.close()
    return rate


async def delta_rate(stream, is_delta) -> float:
    """Text deltas per second of ``stream``, first to last."""
    first = last = 0.0
    tokens = 0
    async for event in stream:
        if is_delta(event):
            now = time.perf_counter()
            first = first or now
            last = now
            tokens += 1
    return tokens / (last - first) if last > first else 0.0


async def run_case(history: int, paced: bool, home: Path, engine: str) -> Result:
    from textual import events
    from textual._compositor import ChopsUpdate, CompositorUpdate, LayoutUpdate

    from tui_assistant.config import Profile, Settings
    from tui_assistant.events import MessageCompleted, RunCompleted, TextDelta
    from tui_assistant.store import LocalAssistant, Store
    from tui_assistant.ui.app import TuiAssistantApp
    from tui_assistant.ui.markdown_blocks import BlockRenderer
    from tui_assistant.ui.screens.main import MainScreen
    from tui_assistant.ui.widgets.composer import Composer

    delay = 1 / TOKENS_PER_SECOND_PACED if paced else 0.0
    name = f"{engine}-{history}-{paced}-{time.time_ns()}"
    server = start_endpoint(engine, home, f"server-{name}", delay)
    try:
        store = Store.open(home / f"threads-{name}.sqlite3")
        if engine == "responses":
            os.environ["BENCH_KEY"] = RESPONSES_KEY
            profile = Profile(name="bench", base_url=server.base_url, api_key_env="BENCH_KEY",
                              engine="responses", assistant_id=RESPONSES_ASSISTANT)
            store.local_assistants(profile.endpoint_key).save(
                LocalAssistant(id=RESPONSES_ASSISTANT, name="Bench", model="gpt-test-mini"))
        else:
            os.environ["BENCH_KEY"] = "bench"
            profile = Profile(name="bench", base_url=server.base_url, api_key_env="BENCH_KEY")
        if history and engine == "responses":
            thread_id = await make_conversation(server.base_url, history)
            store.add_thread(profile.endpoint_key, thread_id, RESPONSES_ASSISTANT,
                             "Earlier thread")
            store.set_state(f"last_thread:{profile.endpoint_key}", thread_id)
        elif history:
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
            while not screen.workspace.ready.is_set() or screen.workspace.assistant is None:
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


async def floor_for(paced: bool, home: Path, engine: str) -> float:
    delay = 1 / TOKENS_PER_SECOND_PACED if paced else 0.0
    server = start_endpoint(engine, home, f"floor-{engine}-{paced}-{time.time_ns()}", delay)
    try:
        return await sdk_floor(server.base_url, engine)
    finally:
        server.stop()


CASES = {"empty": (0, False), "history": (200, False), "empty-paced": (0, True),
         "history-paced": (200, True)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per case (median is shown)")
    parser.add_argument("--engine", choices=("assistants", "responses", "both"),
                        default="both", help="which engine's endpoint to stream from")
    parser.add_argument("--case", action="append", choices=sorted(CASES),
                        help="run only this case (repeatable); default: all four")
    args = parser.parse_args()
    engines = ("assistants", "responses") if args.engine == "both" else (args.engine,)
    # Each run of a case goes through the engines in turn, so load on the machine hits all.
    cases = [CASES[name] for name in args.case] if args.case else list(CASES.values())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["TUI_ASSISTANT_HOME"] = tmp
        floors: dict[tuple[str, bool], list[float]] = {}
        for paced in sorted({paced for _, paced in cases}):
            for _ in range(args.runs):
                for engine in engines:
                    floors.setdefault((engine, paced), []).append(
                        asyncio.run(floor_for(paced, Path(tmp), engine)))
        for history, paced in cases:
            by_engine: dict[str, list[Result]] = {engine: [] for engine in engines}
            for _ in range(args.runs):
                for engine in engines:
                    by_engine[engine].append(
                        asyncio.run(run_case(history, paced, Path(tmp), engine)))
            for engine, results in by_engine.items():
                rows.append(row(engine, history, paced, results,
                                statistics.median(floors[(engine, paced)])))
    print(f"stream benchmark: medians of {args.runs} runs, 120x40, Python "
          f"{sys.version.split()[0]}, {os.cpu_count()} cores")
    header = (f"{'case':<33} {'tokens':>6} {'wall s':>7} {'cpu s/s':>8} {'tok/s':>8} "
              f"{'key p50':>8} {'key p95':>8} {'last ms':>8} {'same':>5} {'floor x':>8} "
              f"{'sdk tok/s':>9}")
    print(header)
    print("-" * len(header))
    for name, tokens, wall, cpu, tps, p50, p95, last, same, ratio, floor in rows:
        print(f"{name:<33} {tokens:>6.0f} {wall:>7.2f} {cpu:>8.2f} {tps:>8.0f} {p50:>8.1f} "
              f"{p95:>8.1f} {last:>8.1f} {'yes' if same else 'NO':>5} {ratio:>8.2f} "
              f"{floor:>9.0f}")
    return 0


def row(engine: str, history: int, paced: bool, results: list[Result], floor: float) -> tuple:
    def med(attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in results)

    return (f"{engine:<10} {'200 earlier' if history else 'empty':<11} "
            f"{'100 tok/s' if paced else 'full speed':<10}",
            med("tokens"), med("wall"), med("cpu_per_s"), med("tokens_per_s"),
            med("key_p50"), med("key_p95"), med("last_ms"),
            all(r.same for r in results), med("tokens_per_s") / floor if floor else 0.0,
            floor)


if __name__ == "__main__":
    raise SystemExit(main())
