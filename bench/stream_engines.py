"""Engine-level streaming benchmark: the Assistants and the Responses engine, no UI.

    python bench/stream_engines.py [--runs N]

The engine-level half of ``bench/stream.py --engine both`` (which streams into the
app): what each engine costs without the UI. Each engine streams the same ~4,000-token
``/long`` document through ``Session.send``:

* Assistants: the local server (``tui-assistant serve``) in a child process;
* Responses: the scripted Responses + Conversations server of the tests
  (``tests/support/responses.py``) in a child process, sending the same tokens as
  ``response.output_text.delta`` events with a ``sequence_number`` each.

Cases: as fast as the server sends, and paced at 100 tokens/s. Columns (medians):
  cpu s/s   CPU seconds of this process per wall second while streaming
  tok/s     text deltas per second, first to last
  wall s    first delta -> run completed
The issue's target: the Responses figures within 10% of the Assistants engine's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore", category=DeprecationWarning)

from stream import RESPONSES_KEY, ResponsesProcess, ServerProcess  # noqa: E402

PACED = 1 / 100


async def measure(engine, assistant_id: str) -> tuple[float, float, float, int]:
    from tui_assistant import events as ev
    from tui_assistant.session import Session

    thread = await engine.create_thread()
    first = last = 0.0
    tokens = 0
    cpu_start = 0.0
    async for event in Session(engine).send(thread, assistant_id, "/long"):
        if isinstance(event, ev.TextDelta):
            now = time.perf_counter()
            if not first:
                first = now
                cpu_start = time.process_time()
            last = now
            tokens += 1
    end = time.perf_counter()
    cpu = time.process_time() - cpu_start
    wall = end - first
    rate = tokens / (last - first) if last > first else 0.0
    return cpu / wall if wall else 0.0, rate, wall, tokens


async def assistants_case(paced: bool, home: Path) -> tuple[float, float, float, int]:
    from tui_assistant.engines.assistants import AssistantsEngine

    server = ServerProcess(home / f"a-{paced}-{time.time_ns()}.sqlite3", PACED if paced else 0.0)
    engine = AssistantsEngine(server.base_url, "bench")
    try:
        assistant_id = (await engine.list_assistants(limit=1))[0].id
        return await measure(engine, assistant_id)
    finally:
        await engine.aclose()
        server.stop()


async def responses_case(paced: bool) -> tuple[float, float, float, int]:
    from tui_assistant.engines.base import AssistantSettings
    from tui_assistant.engines.responses import MemoryAssistants, ResponsesEngine

    server = ResponsesProcess(PACED if paced else 0.0)
    assistant = AssistantSettings(id="asst_local_bench", name="Bench", model="gpt-test-mini")
    engine = ResponsesEngine(
        server.base_url, RESPONSES_KEY, assistants=MemoryAssistants([assistant])
    )
    try:
        return await measure(engine, assistant.id)
    finally:
        await engine.aclose()
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per case (median is shown)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["TUI_ASSISTANT_HOME"] = tmp
        for paced in (False, True):
            for name in ("assistants", "responses"):
                results = []
                for _ in range(args.runs):
                    if name == "assistants":
                        results.append(asyncio.run(assistants_case(paced, Path(tmp))))
                    else:
                        results.append(asyncio.run(responses_case(paced)))
                rows.append((
                    f"{name:<11} {'100 tok/s' if paced else 'full speed':<10}",
                    *(statistics.median(r[i] for r in results) for i in range(4)),
                ))
    print(f"engine stream benchmark: medians of {args.runs} runs, no UI, Python "
          f"{sys.version.split()[0]}, {os.cpu_count()} cores")
    header = f"{'case':<22} {'cpu s/s':>8} {'tok/s':>8} {'wall s':>7} {'tokens':>6}"
    print(header)
    print("-" * len(header))
    for name, cpu, tps, wall, tokens in rows:
        print(f"{name:<22} {cpu:>8.3f} {tps:>8.0f} {wall:>7.2f} {tokens:>6.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
