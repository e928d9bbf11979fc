"""The installed ``tui-assistant`` in a real pseudo-terminal, for start-up tests.

``PtyApp`` forks the console script next to the test interpreter onto a pty of 120x40
cells and plays a plain terminal: it answers the device-attributes query (``ESC [ c``)
as an xterm without Sixel, keeps every byte the app writes (``raw``) and the text without
escape sequences (``text``). Waits poll with a generous deadline (a missing screen fails
the test; no test asserts on durations).
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import shutil
import signal
import struct
import sys
import termios
import time
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).with_name("tui-assistant")
DEADLINE = 60.0

_ESCAPE = re.compile(
    rb"\x1b\[[0-?]*[ -/]*[@-~]"
    rb"|\x1b[\]P_^X][^\x07\x1b]*(?:\x07|\x1b\\)"
    rb"|\x1b[@-Z\\-_]"
    rb"|\x1b[()][0-9A-Za-z]"
)
_DA1 = re.compile(rb"\x1b\[0?c")


def installed_script() -> Path:
    if not os.access(SCRIPT, os.X_OK):
        found = shutil.which("tui-assistant")
        if found is None:
            pytest.skip("the tui-assistant console script is not installed")
        return Path(found)
    return SCRIPT


def spawn(argv: list[str], env: dict[str, str], rows: int, cols: int) -> tuple[int, int]:
    """Fork ``argv`` onto a new pty that has its size before the program starts."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, cols * 9, rows * 18))
    pid = os.fork()
    if pid == 0:
        try:
            os.close(master)
            os.setsid()
            fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
            for fd in (0, 1, 2):
                os.dup2(slave, fd)
            if slave > 2:
                os.close(slave)
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    os.close(slave)
    return pid, master


class PtyApp:
    def __init__(self, args: list[str], env: dict[str, str], rows: int = 40, cols: int = 120):
        script = installed_script()
        self.raw = b""
        self._answered = 0
        self.pid, self.fd = spawn([str(script), *args], env, rows, cols)
        self.status: int | None = None

    @property
    def text(self) -> str:
        return _ESCAPE.sub(b"", self.raw).decode("utf-8", "replace")

    def _pump(self, timeout: float) -> bool:
        if not select.select([self.fd], [], [], timeout)[0]:
            return True
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:
            chunk = b""
        if not chunk:
            self._reap(block=True)
            return False
        self.raw += chunk
        for query in _DA1.finditer(self.raw, self._answered):
            os.write(self.fd, b"\x1b[?62;22c")
            self._answered = query.end()
        self._answered = max(self._answered, len(self.raw) - 3)  # a query cut between reads
        return True

    def wait_for(self, needle: str, deadline: float = DEADLINE) -> None:
        end = time.monotonic() + deadline
        while needle not in self.text:
            if time.monotonic() > end:
                raise AssertionError(f"{needle!r} never showed; screen text:\n{self.text[-3000:]}")
            if not self._pump(0.05):
                if needle in self.text:
                    return
                raise AssertionError(
                    f"the app exited ({self.status}) before {needle!r} showed:\n"
                    f"{self.text[-3000:]}"
                )

    def write(self, data: bytes) -> None:
        os.write(self.fd, data)

    def _reap(self, block: bool) -> None:
        if self.status is not None:
            return
        pid, status = os.waitpid(self.pid, 0 if block else os.WNOHANG)
        if pid:
            self.status = os.waitstatus_to_exitcode(status)

    def wait_exit(self, deadline: float = 20.0) -> int:
        end = time.monotonic() + deadline
        while self.status is None and time.monotonic() < end:
            if not self._pump(0.05):
                break
            self._reap(block=False)
        if self.status is None:
            raise AssertionError(f"the app did not exit; screen text:\n{self.text[-3000:]}")
        return self.status

    def close(self) -> None:
        if self.status is None:
            try:
                self.write(b"\x11")  # ctrl+q
                self.wait_exit(10.0)
            except (AssertionError, OSError):
                os.kill(self.pid, signal.SIGKILL)
                self._reap(block=True)
        os.close(self.fd)


def app_env(home: Path, **extra: str) -> dict[str, str]:
    env = {
        key: value for key, value in os.environ.items()
        if key not in {"TMUX", "STY", "OPENAI_BASE_URL", "OPENAI_API_KEY", "TMUX_PANE", "COLUMNS",
                       "LINES"}
    }
    env.update(TUI_ASSISTANT_HOME=str(home), TERM="xterm-256color", LANG="C.UTF-8")
    env.update(extra)
    return env
