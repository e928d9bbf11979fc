"""Many saved threads: time to the first frame, and how fast the list filters as you type.

    python bench/threads.py [--threads 10000] [--runs 5]

A store is filled with N saved threads (varied titles, previews and assistants). Then:

* first frame -- the installed ``tui-assistant`` is launched in a pseudo-terminal
  (120x40, the built-in local server profile) as ``bench/startup.py`` does, until its
  first frame is on the terminal;
* filter -- the app runs in this process; once the whole list is loaded, a query is typed
  into the thread filter one key at a time (and erased again). For each key press the
  time from the key to the first frame drawn after the list was filtered for it is
  measured (``key→frame``), and separately the filtering itself
  (``ThreadList.set_filter`` on 10,000 threads).

* store -- listing every saved thread, and a full-text search over cached messages,
  straight on the SQLite store.

* long thread (``--messages 2000``) -- a thread of N messages on the built-in local
  server (in this process, in memory), all of them in the local cache. The app runs in
  this process at 120x40 and is connected. ``open`` is the time from choosing the thread
  to the first frame that shows its newest message (from the cache; the endpoint's copy
  follows). Then the conversation is scrolled to the top again and again, as a user
  holding ``Home`` would, until every older page (50 messages each) has loaded from the
  endpoint; ``page`` is the time from reaching the top to the frame showing the older
  page, and ``stall`` the longest time the event loop was busy without a break (no frame
  can be drawn then) while scrolling; ``busy`` is the same stretch counted in CPU time of
  the app's thread, which leaves out time lost to other processes on a loaded machine and
  to the in-process server's thread. Only ``WINDOW`` messages are mounted at a time, so
  reaching the top often mounts older messages that are loaded already ("in memory").
  Each run is a process of its own, as each launch of the app is.

Targets (issue 5): first frame under 1 s, filter under 50 ms median. Issue 12: the long
thread opens in 200 ms and no frame takes over 50 ms while older messages load.
Prints medians.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import startup  # bench/startup.py: the same first-frame launch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORDS = (
    "refactor plan budget kestrel sourdough invoice migration corn flakes holiday review "
    "quarterly report database schema garden tomato python asyncio terminal theme keyboard "
    "osprey recipe letter lawyer lease bicycle repair guitar chords travel lisbon"
).split()



def fill(home: Path, count: int) -> None:
    """``count`` threads, newest first, with varied titles and previews."""
    os.environ["TUI_ASSISTANT_HOME"] = str(home)
    from tui_assistant import paths
    from tui_assistant.store import Store

    store = Store.open(paths.store_path())
    now = time.time()
    rows = []
    for i in range(count):
        a, b, c = WORDS[i % len(WORDS)], WORDS[(i * 7) % len(WORDS)], WORDS[(i * 13) % len(WORDS)]
        rows.append((
            "local", f"thread_{i:06d}", f"asst_{i % 5}", f"{a.title()} {b} {i}",
            now - i * 60, now - i * 60, f"about the {c} and the {b}, thread {i}", 0, 0,
        ))
    with store._transaction() as db:  # one transaction: filling 10,000 rows takes a moment
        db.executemany("INSERT INTO threads VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    store.close()


def store_timings(home: Path, runs: int) -> tuple[list[float], list[float]]:
    """(list_threads seconds, search_messages seconds) on the filled store.

    Before searching, each of the first 200 threads gets 25 cached messages, so full-text
    search looks through 5,000 messages.
    """
    os.environ["TUI_ASSISTANT_HOME"] = str(home)
    from tui_assistant import paths
    from tui_assistant.store import CachedMessage, Store

    listing: list[float] = []
    searching: list[float] = []
    with Store.open(paths.store_path()) as store:
        for t in range(200):
            store.cache_messages("local", f"thread_{t:06d}", [
                CachedMessage(f"m{t}_{i}", "user", f"message {i} of thread {t} on topic{t % 7}", i)
                for i in range(25)
            ])
        for _ in range(runs):
            started = time.perf_counter()
            store.list_threads("local")
            listing.append(time.perf_counter() - started)
            started = time.perf_counter()
            store.search_messages("local", "topic3 thread", limit=50)
            searching.append(time.perf_counter() - started)
    return listing, searching


def first_frame(home: Path) -> float:
    """Seconds from launching a fresh process to the app's first frame (as startup.py)."""
    return startup.measure(home)


def record_frames(app) -> list[float]:
    """The times at which ``app`` writes a screen update, as they happen."""
    frames: list[float] = []
    original = app._display

    def display(screen, renderable):
        if renderable is not None:
            frames.append(time.perf_counter())
        original(screen, renderable)

    app._display = display
    return frames


async def filter_latency(home: Path, count: int, query: str) -> tuple[list[float], list[float]]:
    """(key→frame seconds, set_filter seconds) for typing ``query`` and erasing it."""
    os.environ["TUI_ASSISTANT_HOME"] = str(home)
    from tui_assistant import paths
    from tui_assistant.config import Settings, resolve_profile
    from tui_assistant.store import Store
    from tui_assistant.ui.app import TuiAssistantApp
    from tui_assistant.ui.screens.main import MainScreen

    settings = Settings()
    store = Store.open(paths.store_path())

    async def never_connects(profile, settings):
        await asyncio.Event().wait()  # the filter does not need the endpoint

    app = TuiAssistantApp(settings=settings, profile=resolve_profile(settings, env={}),
                          store=store, connector=never_connects)
    frames = record_frames(app)
    key_to_frame: list[float] = []
    filtering: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, MainScreen)
        threads = screen.threads
        while len(threads.all_threads) < count:
            await pilot.pause(0.05)
        screen.threads_pane.filter.focus()
        await pilot.pause(0.2)
        original_set_filter = threads.set_filter

        filtered_at: list[float] = []

        def timed_set_filter(text: str) -> None:
            started = time.perf_counter()
            original_set_filter(text)
            filtered_at.append(time.perf_counter())
            filtering.append(filtered_at[-1] - started)

        threads.set_filter = timed_set_filter  # type: ignore[method-assign]
        keys = list(query) + ["backspace"] * len(query)
        for key in keys:
            await pilot.pause(0.05)  # let the previous frame settle, as between key presses
            done = len(filtered_at)
            pressed = time.perf_counter()
            await pilot.press(key if key != " " else "space")
            # The first frame drawn after the list was filtered for this key.
            while len(filtered_at) == done or frames[-1] < filtered_at[-1]:
                await asyncio.sleep(0.001)
            shown = next(f for f in frames if f >= filtered_at[-1])
            key_to_frame.append(shown - pressed)
        assert not screen.threads_pane.filter.value
    store.close()
    return key_to_frame, filtering


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--query", default="kestrel budget 42")
    parser.add_argument("--messages", type=int, default=2000,
                        help="messages of the long thread (0 skips that case)")
    parser.add_argument("--only-long", action="store_true",
                        help="run only the long-thread case")
    parser.add_argument("--one-run", action="store_true",
                        help="long thread: one run in this process, printed as JSON")
    parser.add_argument("--open-only", action="store_true",
                        help="long thread: measure opening only (no scrolling up)")
    args = parser.parse_args()
    global OPEN_ONLY
    OPEN_ONLY = args.open_only
    if args.one_run:
        print(json.dumps(long_thread_run(args.messages)))
        return 0
    if args.only_long:
        return long_thread_report(args.messages, args.runs)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        fill(home, args.threads)
        first_frame(home)  # warm the OS file cache once, as a second launch would be
        frames = [first_frame(home) for _ in range(args.runs)]
        key_to_frame, filtering = asyncio.run(filter_latency(home, args.threads, args.query))
        listing, searching = store_timings(home, args.runs)
    ms = 1000
    print(f"saved threads: {args.threads:,}   Python {sys.version.split()[0]}")
    print(f"first frame       median {statistics.median(frames):6.3f} s   "
          f"min {min(frames):.3f}  max {max(frames):.3f}  ({args.runs} launches; target < 1 s)")
    key_to_frame.sort()
    p95 = key_to_frame[int(len(key_to_frame) * 0.95) - 1]
    print(f"filter key→frame  median {statistics.median(key_to_frame) * ms:6.1f} ms  "
          f"p95 {p95 * ms:.1f} ms  max {max(key_to_frame) * ms:.1f} ms  "
          f"({len(key_to_frame)} keys; target < 50 ms median)")
    print(f"set_filter alone  median {statistics.median(filtering) * ms:6.1f} ms  "
          f"max {max(filtering) * ms:.1f} ms")
    print(f"store list        median {statistics.median(listing) * ms:6.1f} ms  "
          f"max {max(listing) * ms:.1f} ms  (every saved thread, sorted)")
    print(f"store search      median {statistics.median(searching) * ms:6.1f} ms  "
          f"max {max(searching) * ms:.1f} ms  (5,000 cached messages, 50 hits)")
    if args.messages:
        return long_thread_report(args.messages, args.runs)
    return 0


# --- a thread with many messages ------------------------------------------------------------


OPEN_ONLY = False


def _long_thread(base_url: str, count: int) -> str:
    """A thread of ``count`` messages (user and assistant in turn) on the local server."""
    import warnings

    import openai

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    client = openai.OpenAI(base_url=base_url, api_key="local", max_retries=0)
    thread = client.beta.threads.create()
    for i in range(count):
        words = " ".join(WORDS[(i * k) % len(WORDS)] for k in range(1, 12))
        text = (f"Message {i}: {words}." if i % 2 == 0 else
                f"## Reply {i}\n\nAbout the {words}:\n\n- one {WORDS[i % len(WORDS)]}\n"
                f"- two\n\n```python\nprint({i})\n```\n")
        client.beta.threads.messages.create(
            thread.id, role="user" if i % 2 == 0 else "assistant", content=text)
    client.close()
    return thread.id


async def long_thread(home: Path, server, thread_id: str, count: int) -> dict[str, object]:
    os.environ["TUI_ASSISTANT_HOME"] = str(home)
    from tui_assistant import paths
    from tui_assistant.backend import connect
    from tui_assistant.config import Settings, resolve_profile
    from tui_assistant.store import CachedMessage, Store
    from tui_assistant.ui.app import TuiAssistantApp
    from tui_assistant.ui.screens.main import MainScreen
    from tui_assistant.ui.widgets.message_view import MessageView

    settings = Settings()
    profile = resolve_profile(settings, env={})
    store = Store.open(paths.store_path())
    endpoint = profile.endpoint_key
    saved = store.add_thread(endpoint, thread_id, "asst_demo", "A very long thread")
    from tui_assistant.engines.assistants import AssistantsEngine

    engine = AssistantsEngine(server.base_url, "local")
    everything = []
    after = None
    while True:  # the whole thread into the cache, as if it had been read here before
        page = await engine.list_messages(thread_id, limit=100, before_id=after)
        everything = page.messages + everything
        if not page.has_more or not page.messages:
            break
        after = page.messages[0].id
    await engine.aclose()
    store.cache_messages(endpoint, thread_id, [
        CachedMessage(m.id, m.role, m.text, m.created_at) for m in everything])
    store.set_state(f"last_thread:{endpoint}", "")
    newest = everything[-1]

    async def to_local_server(profile, settings):
        return await connect(profile, settings, server=server)

    app = TuiAssistantApp(settings=settings, profile=profile, store=store,
                          connector=to_local_server)
    frames = record_frames(app)
    stalls: list[float] = []
    busy_cpu: list[float] = []  # the app's own CPU time between two turns of the loop
    result: dict[str, object] = {}
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, MainScreen)
        await asyncio.wait_for(screen.workspace.ready.wait(), 60)
        await pilot.pause(0.3)
        conversation = screen.conversation

        def newest_shown() -> bool:
            views = conversation.message_views
            return bool(views) and views[-1].message_id == newest.id

        started = time.perf_counter()
        await screen.open_thread(saved)
        opened_at = time.perf_counter()
        while not newest_shown() or not frames or frames[-1] < opened_at:
            await asyncio.sleep(0.001)
        result["open"] = next(f for f in frames if f >= opened_at) - started
        # the endpoint's newest page replaces the cached one
        while not conversation.has_more:
            await asyncio.sleep(0.01)
        await pilot.pause(0.3)

        if OPEN_ONLY:
            store.close()
            return {**result, "pages": [0.0], "stall": 0.0, "shown": 0}
        busy = True

        async def watch_loop() -> None:
            last, last_cpu = time.perf_counter(), time.thread_time()
            while busy:
                await asyncio.sleep(0.001)
                now, cpu = time.perf_counter(), time.thread_time()
                stalls.append(now - last)
                busy_cpu.append(cpu - last_cpu)
                last, last_cpu = now, cpu

        gc_pauses: list[float] = []  # full collections while scrolling (they stop the loop)
        gc_started = [0.0]

        def on_gc(phase: str, info: dict) -> None:
            if info["generation"] == 2:
                if phase == "start":
                    gc_started[0] = time.thread_time()
                else:
                    gc_pauses.append(time.thread_time() - gc_started[0])

        gc.callbacks.append(on_gc)
        watcher = asyncio.create_task(watch_loop())
        pages: list[float] = []  # reaching the top -> older messages on screen (a request)
        fills: list[float] = []  # the same, from messages already loaded (no request)
        most = 0
        conversation.focus()

        def oldest_mounted() -> str | None:
            return next((v.message_id for v in conversation.children
                         if isinstance(v, MessageView)), None)

        def window_start() -> int:  # (the code before the window mounted everything)
            return conversation.window[0] if hasattr(conversation, "window") else 0

        def loaded() -> int:
            return getattr(conversation, "loaded_count", None) or len(conversation.message_views)

        while conversation.has_more or window_start() > 0:
            while conversation.loading_older:  # the page before is still being mounted
                await asyncio.sleep(0.005)
            first_before = oldest_mounted()
            loaded_before = loaded()
            reached = time.perf_counter()
            if conversation.scroll_y <= 0 and window_start() == 0:
                conversation.request_older()  # already at the top: as Home pressed again
            conversation.scroll_home(animate=False, immediate=True)
            while oldest_mounted() == first_before:
                await asyncio.sleep(0.001)
                if (not conversation.has_more and not conversation.loading_older
                        and window_start() == 0):
                    break  # the last page was empty
                if time.perf_counter() - reached > 30:
                    raise RuntimeError(
                        f"older messages did not load: {window_start()} first mounted, "
                        f"y={conversation.scroll_y}, loading={conversation.loading_older}")
            if oldest_mounted() == first_before:
                break
            grown = time.perf_counter()
            while not frames or frames[-1] < grown:
                await asyncio.sleep(0.001)
            taken = frames[-1] - reached
            (pages if loaded() > loaded_before else fills).append(taken)
            most = max(most, len(conversation.message_views))
            await pilot.pause(0.05)
        busy = False
        await watcher
        gc.callbacks.remove(on_gc)
        assert loaded() == count, loaded()
        result["pages"] = pages
        result["fills"] = fills
        result["stall"] = max(stalls)
        result["busy"] = max(busy_cpu)
        result["over"] = sum(b > 0.05 for b in busy_cpu)
        result["gc"] = gc_pauses
        result["shown"] = len(conversation.query(MessageView))
        result["most"] = most
    store.close()
    return result


def long_thread_run(count: int) -> dict[str, object]:
    """One run in this process: a server with a thread of ``count`` messages, the app."""
    from tui_assistant.server.runtime import start_local_server

    server = start_local_server(None, demo_assistant=True)
    try:
        started = time.perf_counter()
        thread_id = _long_thread(server.base_url, count)
        made = time.perf_counter() - started
        with tempfile.TemporaryDirectory() as tmp:
            result = asyncio.run(long_thread(Path(tmp), server, thread_id, count))
    finally:
        server.stop()
    return {**result, "made": made}


def long_thread_report(count: int, runs: int) -> int:
    """``runs`` runs, each in a process of its own, as each launch of the app is: a
    second app in one process would find the first one's start-up objects not frozen
    (``ui/heap.py``) and every full collection slower."""
    results = []
    for _ in range(max(1, runs)):
        child = subprocess.run(
            [sys.executable, __file__, "--only-long", "--messages", str(count), "--one-run"]
            + (["--open-only"] if OPEN_ONLY else []),
            capture_output=True, text=True, check=False,
        )
        if child.returncode != 0:
            print(child.stderr, file=sys.stderr)
            return 1
        results.append(json.loads(child.stdout.splitlines()[-1]))
    made = statistics.median(r["made"] for r in results)
    ms = 1000
    opens = [r["open"] for r in results]
    pages = [p for r in results for p in r["pages"]]  # type: ignore[union-attr]
    fills = [p for r in results for p in r.get("fills", [])]  # type: ignore[union-attr]
    stalls = [r["stall"] for r in results]
    busy = [r["busy"] for r in results]
    print(f"\nlong thread: {count:,} messages ({made:.1f} s to create), {len(results)} runs, "
          f"{results[0]['shown']} messages mounted at the end, "
          f"{max(r.get('most', 0) for r in results)} at most")  # type: ignore[type-var]
    print(f"open from cache   median {statistics.median(opens) * ms:6.1f} ms  "
          f"max {max(opens) * ms:.1f} ms  (target <= 200 ms)")
    print(f"older page        median {statistics.median(pages) * ms:6.1f} ms  "
          f"max {max(pages) * ms:.1f} ms  ({len(pages)} pages of 50 requested, "
          "top reached to frame showing older messages)")
    if fills:
        print(f"older, in memory  median {statistics.median(fills) * ms:6.1f} ms  "
              f"max {max(fills) * ms:.1f} ms  ({len(fills)} times the top was reached "
              "with older messages loaded but not mounted)")
    print(f"longest stall     median {statistics.median(stalls) * ms:6.1f} ms  "
          f"max {max(stalls) * ms:.1f} ms  (event loop without a turn while scrolling up, "
          "wall clock; target <= 50 ms)")
    print(f"longest busy      median {statistics.median(busy) * ms:6.1f} ms  "
          f"max {max(busy) * ms:.1f} ms  (the same, CPU time of the app's thread: without "
          "waits for other processes or the in-process server)")
    over = [r["over"] for r in results]
    collections = [g for r in results for g in r["gc"]]  # type: ignore[union-attr]
    print(f"busy over 50 ms   {statistics.median(over):6.0f} times a run (median); full "
          f"garbage collections: {len(collections)}, median "
          f"{statistics.median(collections or [0]) * ms:.1f} ms, "
          f"longest {max(collections or [0]) * ms:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
