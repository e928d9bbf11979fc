"""What a launch leaves in the terminal: the installed script in a pty and in tmux.

The image-support query used to be sent as a Kitty graphics APC string at every launch;
tmux (and GNU screen) take an APC string for a title, so the pane title became
``Gi=…,s=1,v=1,a=q,t=d,f=24;AAAA`` for good (issue 12, item 7).
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.support.pty import PtyApp, app_env, installed_script

GRAPHICS_QUERY = b"\x1b_G"


def test_inside_tmux_no_graphics_query_is_written(tmp_path: Path):
    app = PtyApp([], app_env(tmp_path, TMUX="/tmp/tmux-test/default,1,0", TERM="tmux-256color"))
    try:
        app.wait_for("● ready")
        assert GRAPHICS_QUERY not in app.raw
    finally:
        app.close()


def test_elsewhere_the_query_asks_once_and_the_app_starts(tmp_path: Path):
    """Outside a multiplexer the Kitty query is still asked (once, before the screen is
    drawn) and a terminal that ignores it does not stop the app from starting."""
    app = PtyApp([], app_env(tmp_path))
    try:
        app.wait_for("● ready")
        assert app.raw.count(GRAPHICS_QUERY) == 1
        assert app.raw.index(GRAPHICS_QUERY) < app.raw.index(b"Threads")
    finally:
        app.close()


def _tmux(socket: str, *args: str) -> str:
    out = subprocess.run(["tmux", "-L", socket, *args],
                         capture_output=True, text=True, timeout=20)
    return out.stdout


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_launch_in_tmux_keeps_the_pane_title(tmp_path: Path):
    script = installed_script()
    socket = f"tui-test-{uuid.uuid4().hex[:8]}"
    command = (
        f"printf '\\033]2;my title\\033\\\\'; "
        f"env -u OPENAI_BASE_URL -u COLUMNS -u LINES TUI_ASSISTANT_HOME={tmp_path} {script}; "
        "sleep 30"
    )
    config = tmp_path / "tmux.conf"
    config.write_text("set -g default-size 120x40\n")
    _tmux(socket, "-f", str(config), "new-session", "-d", "-s", "t", "-x", "120", "-y", "40",
          command)
    try:
        deadline = time.monotonic() + 60
        screen = ""
        while "● ready" not in screen:
            assert time.monotonic() < deadline, f"the app never became ready:\n{screen}"
            time.sleep(0.2)
            screen = _tmux(socket, "capture-pane", "-p", "-t", "t")
        assert _tmux(socket, "display-message", "-p", "-t", "t", "#{pane_title}").strip() == (
            "my title"
        )
        _tmux(socket, "send-keys", "-t", "t", "C-q")
        deadline = time.monotonic() + 20
        while "tui-assistant" in _tmux(socket, "capture-pane", "-p", "-t", "t"):
            assert time.monotonic() < deadline, "the app did not quit"
            time.sleep(0.2)
        assert _tmux(socket, "display-message", "-p", "-t", "t", "#{pane_title}").strip() == (
            "my title"
        )
    finally:
        _tmux(socket, "kill-server")


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline:
            found.append(cmdline)
    return found


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")
def test_the_built_in_server_answers_and_goes_when_the_app_quits(tmp_path: Path):
    app = PtyApp([], app_env(tmp_path))
    try:
        app.wait_for("● ready")
        assert _processes_mentioning(str(tmp_path))  # the server runs beside the app
        app.write(b"startup zebra\r")
        app.wait_for("zebra: 5 letters")  # the demo model's reply
        app.write(b"\x11")  # ctrl+q
        assert app.wait_exit() == 0
    finally:
        app.close()
    deadline = time.monotonic() + 20
    while _processes_mentioning(str(tmp_path)):
        assert time.monotonic() < deadline, _processes_mentioning(str(tmp_path))
        time.sleep(0.1)
