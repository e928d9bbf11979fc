"""Start-up benchmark: the installed ``tui-assistant`` in a real pseudo-terminal.

    python bench/startup.py [--runs N] [--threads 500 10000] [--exe PATH] [--baseline PATH]

For each thread count a fresh home directory is filled with that many saved threads of
the built-in local server; then the installed console script (``.venv/bin/tui-assistant``
next to this checkout unless ``--exe`` names another) is launched in a pseudo-terminal of
120x40 cells, as a user would launch it, and the bench plays the terminal:

* **first frame**: time from ``fork`` until the screen's text shows (the pane titles
  ``Threads`` and ``Tool activity`` have been written);
* **ready**: until the header says ``● ready``;
* **reply**: the bench then types a message and presses Enter; time until the demo
  model's reply starts to show (so "ready" really means the composer sends);

then ctrl+q quits. Like a real terminal the bench answers the primary device-attributes
query (``ESC [ c``, as an xterm without Sixel) and reports the window size in pixels;
nothing else is answered. The first launch of each count warms the OS file cache (and
writes Python's bytecode cache, as a user's first launch does; ``PYTHONDONTWRITEBYTECODE``
is taken out of the app's environment unless ``--no-bytecode-cache``) and is not counted.
Prints medians (and min/max) of ``--runs`` launches. With ``--baseline EXE``
the same runs are made with another installed script (e.g. one of the main branch), in
alternation, so both see the same machine load.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import re
import select
import signal
import statistics
import struct
import sys
import tempfile
import termios
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_EXE = ROOT / ".venv" / "bin" / "tui-assistant"
ROWS, COLS = 40, 120
TIMEOUT = 60.0

_ESCAPE = re.compile(
    rb"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI
    rb"|\x1b[\]P_^X][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC, DCS, APC, PM, SOS
    rb"|\x1b[@-Z\\-_]"  # two-byte escapes
    rb"|\x1b[()][0-9A-Za-z]"
)
_DA1 = re.compile(rb"\x1b\[0?c")
WRITE_BYTECODE = True


@dataclass
class Launch:
    first_frame: float
    ready: float
    reply: float


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
    del os.environ["TUI_ASSISTANT_HOME"]


def _text(raw: bytes) -> str:
    return _ESCAPE.sub(b"", raw).decode("utf-8", "replace")


def spawn(argv: list[str], env: dict[str, str]) -> tuple[int, int]:
    """Fork ``argv`` onto a new pty that has its size before the program starts."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, COLS * 9, ROWS * 18))
    pid = os.fork()
    if pid == 0:  # the child: the app, as a user starts it
        try:
            os.close(master)
            os.setsid()
            fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
            for target in (0, 1, 2):
                os.dup2(slave, target)
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    os.close(slave)
    return pid, master


def measure(home: Path, exe: Path = DEFAULT_EXE) -> float:
    """Seconds from launch to the first frame (used by bench/threads.py)."""
    return launch(exe, home, first_frame_only=True).first_frame


def launch(exe: Path, home: Path, *, first_frame_only: bool = False) -> Launch:
    env = dict(os.environ, TUI_ASSISTANT_HOME=str(home), TERM="xterm-256color",
               COLORTERM="truecolor", LANG=os.environ.get("LANG", "C.UTF-8"))
    for name in ("TMUX", "STY", "COLUMNS", "LINES"):
        env.pop(name, None)
    if WRITE_BYTECODE:
        # As on a user's machine: Python caches compiled modules (the warm-up launch
        # writes them). Some sandboxes set this variable, which makes every launch
        # compile every module of the app again.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("OPENAI_BASE_URL", None)
    started = time.monotonic()
    pid, fd = spawn([str(exe)], env)
    word = "".join(chr(ord("a") + (b % 26)) for b in os.urandom(8))
    message = f"benchmark {word}"
    raw = b""
    scanned = 0
    first = ready = reply = None
    sent = False
    try:
        while reply is None:
            elapsed = time.monotonic() - started
            if elapsed > TIMEOUT:
                raise RuntimeError(f"no reply after {TIMEOUT:.0f} s; screen text so far:\n"
                                   + _text(raw)[-2000:])
            readable, _, _ = select.select([fd], [], [], 0.05)
            if not readable:
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                raise RuntimeError("the app exited early:\n" + _text(raw)[-2000:]) from None
            if not chunk:
                raise RuntimeError("the app exited early:\n" + _text(raw)[-2000:])
            now = time.monotonic() - started
            raw += chunk
            # answer device-attributes queries as a terminal would
            for query in _DA1.finditer(raw, scanned):
                os.write(fd, b"\x1b[?62;22c")
                scanned = query.end()
            scanned = max(scanned, len(raw) - 3)  # a query may be cut between reads
            text = _text(raw)
            if first is None and "Threads" in text and "Tool activity" in text:
                first = now
                if first_frame_only:
                    return Launch(first, 0.0, 0.0)
            if first is not None and ready is None and "● ready" in text:
                ready = now
                mark = len(text)
            if ready is not None and not sent:
                os.write(fd, message.encode() + b"\r")
                sent = True
            if sent and f"On “{message}”" in text[mark:]:
                reply = now
    finally:
        try:
            os.write(fd, b"\x11")  # ctrl+q
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                done, _ = os.waitpid(pid, os.WNOHANG)
                if done:
                    break
                if select.select([fd], [], [], 0.05)[0]:
                    try:
                        os.read(fd, 65536)
                    except OSError:
                        pass
            else:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
        finally:
            os.close(fd)
    return Launch(first, ready, reply)


def _row(name: str, values: list[float]) -> str:
    return (f"{name:>12} {statistics.median(values):>7.3f} {min(values):>7.3f} "
            f"{max(values):>7.3f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--threads", type=int, nargs="+", default=[500, 10000])
    parser.add_argument("--exe", type=Path, default=DEFAULT_EXE,
                        help="the installed console script (default: %(default)s)")
    parser.add_argument("--baseline", type=Path,
                        help="another installed console script to measure alongside")
    parser.add_argument("--no-bytecode-cache", action="store_true",
                        help="keep PYTHONDONTWRITEBYTECODE from the environment (every "
                        "launch then compiles the app's modules)")
    args = parser.parse_args()
    global WRITE_BYTECODE
    WRITE_BYTECODE = not args.no_bytecode_cache
    exes = {"this": args.exe}
    if args.baseline is not None:
        exes["baseline"] = args.baseline
    for exe in exes.values():
        if not os.access(exe, os.X_OK):
            print(f"startup.py: not an executable: {exe}", file=sys.stderr)
            return 2
    print(f"start-up benchmark: {args.exe} in a {COLS}x{ROWS} pty, built-in local server; "
          f"medians of {args.runs} launches (seconds), Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    for count in args.threads:
        with tempfile.TemporaryDirectory() as tmp:
            results: dict[str, list[Launch]] = {name: [] for name in exes}
            homes = {}
            for name, exe in exes.items():
                homes[name] = Path(tmp) / name
                homes[name].mkdir()
                fill(homes[name], count)
                launch(exe, homes[name])  # warm the OS file cache, as a second launch is
            for _ in range(args.runs):
                for name, exe in exes.items():
                    results[name].append(launch(exe, homes[name]))
        for name, launches in results.items():
            label = f"{count} saved threads" + (f", {name}" if len(exes) > 1 else "")
            print(f"\n{label}: {exes[name]}")
            print(f"{'':>12} {'median':>7} {'min':>7} {'max':>7}")
            print(_row("first frame", [r.first_frame for r in launches]))
            print(_row("ready", [r.ready for r in launches]))
            print(_row("reply starts", [r.reply for r in launches]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
