"""Start-up benchmark: time from launching the process to the app's first frame.

    python bench/startup.py [--runs N] [--threads 500 10000]

For each thread count, a store is filled with that many saved threads; then a fresh
Python process starts the real app (headless, 120x40, built-in local server profile)
and reports when the first frame is composed. The time includes the interpreter's
start and every import, as a user would wait for them. Prints medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import asyncio, json, sys, time
sys.path.insert(0, ROOT)
from tui_assistant.config import load_settings, resolve_profile
from tui_assistant import paths
from tui_assistant.store import Store
from tui_assistant.ui.app import TuiAssistantApp

settings = load_settings()
profile = resolve_profile(settings)
store = Store.open(paths.store_path())
app = TuiAssistantApp(settings=settings, profile=profile, store=store)
first = []
original = app._display
def display(screen, renderable):
    if renderable is not None and not first:
        first.append(time.time())
        app.call_later(app.exit)
    original(screen, renderable)
app._display = display
asyncio.run(app.run_async(headless=True, size=(120, 40)))
print(json.dumps({"first_frame": first[0] if first else None}))
"""


def fill(home: Path, count: int) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["TUI_ASSISTANT_HOME"] = str(home)
    from tui_assistant import paths
    from tui_assistant.store import Store

    store = Store.open(paths.store_path())
    now = time.time()
    for i in range(count):
        store.add_thread("local", f"thread_{i:06d}", "asst_demo", f"Saved thread number {i}")
        store.touch("local", f"thread_{i:06d}", preview=f"last words of thread {i}",
                    when=now - i * 60)
    store.close()


def measure(home: Path) -> float:
    env = dict(os.environ, TUI_ASSISTANT_HOME=str(home))
    started = time.time()
    out = subprocess.run(
        [sys.executable, "-c", f"ROOT = {str(ROOT)!r}\n" + CHILD],
        env=env, capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    first = json.loads(out.stdout.strip().splitlines()[-1])["first_frame"]
    return first - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, nargs="+", default=[500, 10000])
    args = parser.parse_args()
    print(f"start-up benchmark: medians of {args.runs} runs, Python {sys.version.split()[0]}")
    print(f"{'saved threads':>13} {'first frame s':>14} {'min':>6} {'max':>6}")
    for count in args.threads:
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp)
            fill(home, count)
            measure(home)  # warm the OS file cache once, as a second launch would be
            times = [measure(home) for _ in range(args.runs)]
        print(f"{count:>13} {statistics.median(times):>14.3f} {min(times):>6.3f} "
              f"{max(times):>6.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
