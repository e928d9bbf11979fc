"""Code interpreter modes: auto, bubblewrap (required), unsandboxed; off for real models.

"No bubblewrap" is made real by giving the process a ``PATH`` without ``bwrap`` (or with
a ``bwrap`` that fails the way it does where namespaces are forbidden); the sandbox code
itself is never replaced.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tui_assistant.config import CODE_INTERPRETER_MODES, load_settings
from tui_assistant.errors import ConfigError
from tui_assistant.server.sandbox import (
    SANDBOX_SETTINGS,
    CodeLimits,
    bubblewrap_problem,
    run_code,
    sandbox_status,
)

NOT_INSTALLED = "bubblewrap is not installed"
HINT = 'set code_interpreter = "unsandboxed" under [local]'


@pytest.fixture
def no_bwrap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "bin-without-bwrap"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


@pytest.fixture
def broken_bwrap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``bwrap`` that fails like one in a container that forbids user namespaces."""
    bin_dir = tmp_path / "bin-with-broken-bwrap"
    bin_dir.mkdir()
    fake = bin_dir / "bwrap"
    fake.write_text(
        "#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")


def test_settings_are_checked_with_a_clear_message():
    assert CODE_INTERPRETER_MODES == SANDBOX_SETTINGS
    with pytest.raises(ValueError) as info:
        CodeLimits(sandbox="docker")
    assert str(info.value) == (
        "code interpreter mode must be one of auto, bubblewrap, unsandboxed, not 'docker'"
    )
    with pytest.raises(ValueError, match="not 'on'"):
        sandbox_status("on")


def test_modes_without_bubblewrap(no_bwrap):
    assert bubblewrap_problem().startswith(NOT_INSTALLED)
    cases = {
        ("auto", False): "unsandboxed",
        ("auto", True): "off",
        ("bubblewrap", False): "off",
        ("bubblewrap", True): "off",
        ("unsandboxed", False): "unsandboxed",
        ("unsandboxed", True): "unsandboxed",
    }
    for (setting, real), mode in cases.items():
        status = sandbox_status(setting, real_model=real)
        assert (status.mode, status.setting, status.enabled) == (mode, setting, mode != "off")
    real_auto = sandbox_status("auto", real_model=True)
    assert NOT_INSTALLED in real_auto.reason and HINT in real_auto.reason
    assert real_auto.describe().startswith("code interpreter: off for real models: ")


def test_a_bwrap_that_cannot_create_namespaces_is_not_used(broken_bwrap):
    problem = bubblewrap_problem()
    assert problem == (
        "bubblewrap does not work here (bwrap: No permissions to create new namespace)"
    )
    assert sandbox_status("auto", real_model=True).mode == "off"
    assert sandbox_status("auto").mode == "unsandboxed"


WRITE_MARK = """\
with open({path!r}, "w") as fh:
    fh.write("ran")
print("ran")
"""


async def test_real_model_code_is_not_run_without_a_sandbox(no_bwrap, tmp_path):
    mark = tmp_path / "ran.txt"
    result = await run_code(WRITE_MARK.format(path=str(mark)), real_model=True)
    assert (result.status, result.sandbox) == ("off", "off")
    assert result.error.startswith("the code was not run: the code interpreter: off for real")
    assert HINT in result.error
    assert result.logs == f"[{result.error}]\n"
    assert not mark.exists()

    opted_in = await run_code(
        WRITE_MARK.format(path=str(mark)), real_model=True, sandbox="unsandboxed"
    )
    assert (opted_in.status, opted_in.sandbox, opted_in.logs) == ("ok", "unsandboxed", "ran\n")
    assert mark.read_text() == "ran"


async def test_required_bubblewrap_is_off_without_it_even_for_the_demo(no_bwrap, tmp_path):
    mark = tmp_path / "ran.txt"
    limits = CodeLimits(sandbox="bubblewrap")
    result = await run_code(WRITE_MARK.format(path=str(mark)), limits=limits)
    assert result.status == "off"
    assert "a sandbox is required but bubblewrap is not installed" in result.error
    assert not mark.exists()


async def test_demo_model_code_runs_as_before_without_bubblewrap(no_bwrap):
    result = await run_code("print(open('in.txt').read())", inputs=[("in.txt", b"hi")])
    assert (result.status, result.sandbox, result.logs) == ("ok", "unsandboxed", "hi\n")


async def test_unsandboxed_time_out_returns_although_a_child_left_the_group():
    code = textwrap.dedent(
        """\
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
                                 start_new_session=True)
        print(child.pid, flush=True)
        time.sleep(120)
        """
    )
    result = await run_code(code, sandbox="unsandboxed", limits=CodeLimits(timeout=1.5))
    escaped = int(result.logs.split()[0])
    try:
        assert result.status == "timeout"
        assert result.error == "the code ran longer than 1.5 seconds and was stopped"
    finally:
        os.kill(escaped, signal.SIGKILL)  # unsandboxed, such a child outlives the run


# --- config and command line -------------------------------------------------------------


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o600)
    return path


def test_config_code_interpreter(tmp_path):
    assert load_settings(tmp_path / "missing.toml").code_interpreter == "auto"
    path = write(tmp_path / "c.toml", '[local]\ncode_interpreter = "unsandboxed"\n')
    assert load_settings(path).code_interpreter == "unsandboxed"
    bad = write(tmp_path / "bad.toml", '[local]\ncode_interpreter = "docker"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(bad)
    assert str(info.value) == (
        f"{bad}: local.code_interpreter must be one of 'auto', 'bubblewrap', 'unsandboxed', "
        "not 'docker'"
    )


def test_serve_rejects_an_unknown_mode_without_a_traceback():
    done = subprocess.run(
        [sys.executable, "-m", "tui_assistant", "serve", "--code-interpreter", "docker"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "argument --code-interpreter: invalid choice: 'docker'" in done.stderr
    assert "Traceback" not in done.stderr


def test_serve_says_which_mode_is_active(tmp_path):
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "tui_assistant", "serve", "--port", "0",
            "--db", str(tmp_path / "db.sqlite3"), "--code-interpreter", "unsandboxed",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        second = proc.stdout.readline()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    assert first.startswith("Serving the Assistants API at http://127.0.0.1:")
    assert second.startswith("Code interpreter: unsandboxed (a child process with limits")
    assert proc.returncode == 0


# --- through the server --------------------------------------------------------------------


async def test_server_reports_the_interpreter_off_for_a_real_model(
    no_bwrap, start_server, make_client
):
    server = start_server(real_model=True)
    status = server.code_interpreter
    assert status.mode == "off" and NOT_INSTALLED in status.reason
    client = make_client(server)
    assistant = await client.beta.assistants.create(
        model="demo", tools=[{"type": "code_interpreter"}]
    )
    thread = await client.beta.threads.create(
        messages=[{"role": "user", "content": "```python\nprint('hello')\n```\n"}]
    )
    run = await client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id
    )
    assert run.status == "completed"
    steps = await client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc")
    (call,) = steps.data[0].step_details.tool_calls
    (logs,) = call.code_interpreter.outputs
    assert logs.logs.startswith("[the code was not run: the code interpreter: off for real")
    assert HINT in logs.logs and "hello" not in logs.logs
    reply = (await client.beta.threads.messages.list(thread.id, limit=1)).data[0]
    assert "I did not run your code: the code interpreter: off for real models" in (
        reply.content[0].text.value
    )
