"""Sandbox benchmark: what running code under bubblewrap costs against a plain child process.

    python bench/sandbox.py [--runs N]

Runs the same snippets through ``run_code`` with ``sandbox="unsandboxed"`` and with
``sandbox="bubblewrap"``, alternating, and prints the median wall time of each, side by
side, with the difference. ``run_code`` is measured whole: temporary directory, the child
(and for bubblewrap its namespaces and mounts), the code, collecting output files.

Snippets:
  empty         ``pass``: the start-up cost alone
  print         a loop printing 1,000 lines
  file          reads an input file (1 MB) and writes an output file
  numpy         ``import numpy`` (only when the ``interpreter`` extra is installed)
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tui_assistant.server.sandbox import bubblewrap_problem, run_code  # noqa: E402

SNIPPETS: dict[str, tuple[str, list[tuple[str, bytes]]]] = {
    "empty": ("pass\n", []),
    "print": ("for i in range(1000):\n    print(i)\n", []),
    "file": (
        "data = open('in.bin', 'rb').read()\nopen('out.bin', 'wb').write(data[::-1])\n",
        [("in.bin", bytes(range(256)) * 4096)],
    ),
}
if importlib.util.find_spec("numpy") is not None:
    SNIPPETS["numpy"] = ("import numpy\n", [])


async def once(mode: str, code: str, inputs: list[tuple[str, bytes]]) -> float:
    start = time.perf_counter()
    result = await run_code(code, inputs=inputs, sandbox=mode)
    elapsed = time.perf_counter() - start
    if result.status != "ok" or result.sandbox != mode:
        raise SystemExit(f"{mode}: {result.status} {result.error}\n{result.logs}")
    return elapsed


async def main(runs: int) -> None:
    problem = bubblewrap_problem()  # probes once, outside the measurements
    if problem is not None:
        raise SystemExit(f"bubblewrap cannot be used here: {problem}")
    print(f"{runs} runs each, medians in ms; python {sys.version.split()[0]}")
    print(f"{'snippet':<10}{'plain':>10}{'bwrap':>10}{'added':>10}")
    for name, (code, inputs) in SNIPPETS.items():
        times: dict[str, list[float]] = {"unsandboxed": [], "bubblewrap": []}
        await once("unsandboxed", code, inputs)  # warm the file cache
        await once("bubblewrap", code, inputs)
        for _ in range(runs):
            for mode in times:
                times[mode].append(await once(mode, code, inputs))
        plain = statistics.median(times["unsandboxed"]) * 1000
        bwrap = statistics.median(times["bubblewrap"]) * 1000
        print(f"{name:<10}{plain:>10.1f}{bwrap:>10.1f}{bwrap - plain:>+10.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs per snippet and mode")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    asyncio.run(main(args.runs))
