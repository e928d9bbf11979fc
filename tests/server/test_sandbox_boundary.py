"""The bubblewrap sandbox is a boundary: real bwrap, real code, real host resources.

Each test runs code through ``run_code`` with ``sandbox="bubblewrap"`` (required, so a
missing sandbox cannot turn into an unsandboxed run) and checks the host afterwards. Where
a test could pass for a reason other than the sandbox, the same code also runs
``unsandboxed`` and must then reach the resource: that is what makes the test able to fail.
The tests skip, with bwrap's own complaint, only where bubblewrap cannot be used here.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import sys
import textwrap
from pathlib import Path

import pytest

from tui_assistant.server.sandbox import (
    SANDBOX_WORKDIR,
    CodeLimits,
    bubblewrap_problem,
    run_code,
)

_PROBLEM = bubblewrap_problem()
pytestmark = pytest.mark.skipif(
    _PROBLEM is not None, reason=f"bubblewrap cannot be used here: {_PROBLEM}"
)


def test_ci_proves_the_boundary():
    """CI installs bubblewrap: there the boundary tests must run, not skip quietly."""
    if not os.environ.get("CI"):
        pytest.skip("only CI guarantees bubblewrap")
    assert _PROBLEM is None, f"bubblewrap does not work in CI: {_PROBLEM}"


async def sandboxed(code: str, **kw):
    result = await run_code(textwrap.dedent(code), sandbox="bubblewrap", real_model=True, **kw)
    assert result.sandbox == "bubblewrap"
    return result


async def unsandboxed(code: str, **kw):
    result = await run_code(textwrap.dedent(code), sandbox="unsandboxed", **kw)
    assert result.sandbox == "unsandboxed"
    return result


CONNECT = """\
import socket
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=3).close()
    print("connected")
except OSError as exc:
    print("no connection:", type(exc).__name__)
"""


async def test_code_cannot_connect_to_a_listener_on_loopback():
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setblocking(False)
        port = listener.getsockname()[1]

        result = await sandboxed(CONNECT.format(port=port))
        assert result.status == "ok", result.logs
        assert result.logs == "no connection: ConnectionRefusedError\n"
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing ever arrived

        control = await unsandboxed(CONNECT.format(port=port))
        assert control.logs == "connected\n"
        listener.accept()[0].close()


async def test_code_has_no_network_interface_but_its_own_loopback():
    result = await sandboxed(
        """\
        import socket
        print(sorted(name for _, name in socket.if_nameindex()))
        try:
            socket.create_connection(("1.1.1.1", 53), timeout=3)
        except OSError as exc:
            print(type(exc).__name__, exc.errno)
        """
    )
    assert result.status == "ok", result.logs
    lines = result.logs.splitlines()
    assert lines[0] == "['lo']"
    assert lines[1] == "OSError 101"  # ENETUNREACH: there is no route anywhere


READ = """\
import os
for path in {paths!r}:
    try:
        with open(path) as fh:
            print("read", fh.read())
    except OSError as exc:
        print("cannot read", type(exc).__name__)
    parent = os.path.dirname(path)
    try:
        print("listed", os.path.basename(path) in os.listdir(parent))
    except OSError as exc:
        print("cannot list", type(exc).__name__)
"""


async def test_code_cannot_read_files_in_the_users_home(tmp_path, monkeypatch):
    secret = secrets.token_hex(16)
    name = f".tui-assistant-sentinel-{secrets.token_hex(4)}"
    real_home = Path(os.path.expanduser("~"))
    fake_home = tmp_path / "home-of-user"
    fake_home.mkdir()
    monkeypatch.setenv("HOME", str(fake_home))
    sentinels = [fake_home / name, real_home / name]
    for path in sentinels:
        path.write_text(secret)
    try:
        code = READ.format(paths=[str(p) for p in sentinels])
        result = await sandboxed(code)
        control = await unsandboxed(code)
    finally:
        for path in sentinels:
            path.unlink()
    assert result.status == "ok", result.logs
    assert secret not in result.logs
    assert result.logs.count("cannot read FileNotFoundError") == 2
    assert "listed True" not in result.logs
    assert control.logs.count(f"read {secret}") == 2  # the same code outside reads both


async def test_code_cannot_write_outside_its_directory(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    site = next(p for p in sys.path if p.endswith("site-packages"))
    targets = [
        str(outside / "planted.txt"),  # a host directory: not visible, made in a fresh /tmp
        f"{site}/planted.pth",  # the interpreter's packages: visible, read-only
        "/usr/planted.txt",
        "/planted.txt",
    ]
    code = f"""\
        import os
        for path in {targets!r}:
            try:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w") as fh:
                    fh.write("x")
                print("wrote", path)
            except OSError as exc:
                print("refused", path, exc.strerror)
        with open("inside.txt", "w") as fh:
            fh.write("kept")
        """
    result = await sandboxed(code)
    assert result.status == "ok", result.logs
    for path in targets:
        assert not os.path.exists(path), path
    assert f"refused {site}/planted.pth Read-only file system" in result.logs
    assert "refused /usr/planted.txt Read-only file system" in result.logs
    assert "refused /planted.txt Read-only file system" in result.logs
    assert [(f.name, f.data) for f in result.files] == [("inside.txt", b"kept")]

    await unsandboxed(code.replace(repr(targets), repr(targets[:1])))
    assert (outside / "planted.txt").read_text() == "x"  # outside, the same write lands


async def test_code_does_not_see_the_servers_environment(monkeypatch):
    secret = secrets.token_hex(16)
    monkeypatch.setenv("TUI_ASSISTANT_SENTINEL_KEY", secret)
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    result = await sandboxed(
        """\
        import os
        print(sorted(os.environ))
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    with open(f"/proc/{pid}/environ", "rb") as fh:
                        print(pid, fh.read())
                except OSError as exc:
                    print(pid, type(exc).__name__)
        """
    )
    assert result.status == "ok", result.logs
    assert secret not in result.logs
    assert result.logs.splitlines()[0] == "['HOME', 'LANG', 'MPLBACKEND', 'PATH']"


async def test_code_cannot_see_the_test_process():
    result = await sandboxed(
        f"""\
        import os
        pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
        print(pids)
        for pid in pids:
            with open(f"/proc/{{pid}}/cmdline", "rb") as fh:
                print(fh.read().split(b"\\0")[0])
        try:
            os.kill({os.getpid()}, 0)
            print("signalled the test process")
        except ProcessLookupError:
            print("no such process")
        """
    )
    assert result.status == "ok", result.logs
    assert "pytest" not in result.logs
    pids = eval(result.logs.splitlines()[0])
    assert 1 in pids and len(pids) <= 3  # bwrap's init, the code (and nothing of the host)
    assert result.logs.rstrip().endswith("no such process")


def _host_processes_with(marker: str) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as fh:
                    if marker.encode() in fh.read():
                        found.append(int(pid))
            except OSError:
                continue
    return found


async def test_code_is_killed_at_its_time_limit_with_its_children():
    marker = f"tui-assistant-sleeper-{secrets.token_hex(4)}"
    result = await sandboxed(
        f"""\
        import subprocess, sys, time
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", {marker!r}],
                         start_new_session=True)
        print("started", flush=True)
        while True:
            time.sleep(0.1)
        """,
        limits=CodeLimits(timeout=2.0),
    )
    assert result.status == "timeout"
    assert result.error == "the code ran longer than 2 seconds and was stopped"
    assert result.logs.startswith("started\n")
    # The child left the code's session, but not the sandbox's PID namespace, which went
    # with it. The kernel tears it down after bwrap has been reaped: wait for that.
    for _ in range(100):
        if not _host_processes_with(marker):
            break
        await asyncio.sleep(0.05)
    assert _host_processes_with(marker) == []


async def test_code_cancelled_while_its_sandbox_starts_is_gone_and_the_run_returns():
    """A run cancelled at any moment of its start (bwrap still setting the sandbox up, or
    the code not yet read) returns at once and leaves nothing of the code running."""
    marker = "tui-assistant-code-"  # the working directory bwrap binds, in its command line
    before = set(_host_processes_with(marker))
    for attempt in range(72):
        task = asyncio.create_task(sandboxed("import time\ntime.sleep(600)\n"))
        await asyncio.sleep(0.001 * (attempt % 12))
        task.cancel()
        try:
            await asyncio.wait_for(task, 10)
        except asyncio.CancelledError:
            pass
    for _ in range(100):
        left = set(_host_processes_with(marker)) - before
        if not left:
            break
        await asyncio.sleep(0.05)
    assert left == set()


async def test_inputs_and_outputs_work_inside_the_sandbox():
    result = await sandboxed(
        """\
        import os
        print(os.getcwd(), os.environ["HOME"], sorted(os.listdir(".")))
        rows = open("data/in.csv").read().splitlines()
        with open("out.txt", "w") as fh:
            fh.write(str(len(rows)))
        """,
        inputs=[("data/in.csv", b"a\nb\nc\n")],
    )
    assert result.status == "ok", result.logs
    assert result.logs == f"{SANDBOX_WORKDIR} {SANDBOX_WORKDIR} ['data']\n"
    assert [(f.name, f.data) for f in result.files] == [("out.txt", b"3")]


async def test_a_crash_inside_the_sandbox_is_reported_as_killed():
    result = await sandboxed("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n")
    assert result.status == "killed"
    assert result.error == "the code was stopped by SIGSEGV"


async def test_the_environments_packages_import_inside_the_sandbox():
    import platformdirs  # installed in this environment's site-packages, not in /usr

    result = await sandboxed("import platformdirs\nprint(platformdirs.__file__)\n")
    assert result.status == "ok", result.logs
    assert result.logs == f"{platformdirs.__file__}\n"


async def test_the_interpreter_extra_draws_a_chart_inside_the_sandbox():
    for name in ("numpy", "pandas", "matplotlib"):
        pytest.importorskip(name, reason="pip install 'tui-assistant[interpreter]'")
    result = await sandboxed(
        """\
        import numpy as np, pandas as pd
        import matplotlib.pyplot as plt
        frame = pd.DataFrame({"x": np.arange(5), "y": np.arange(5) ** 2})
        print(frame.y.sum())
        frame.plot(x="x", y="y")
        plt.savefig("chart.png")
        """
    )
    assert result.status == "ok", result.logs
    assert result.logs == "30\n"
    (chart,) = result.files
    assert chart.name == "chart.png" and chart.is_png


async def test_code_has_no_capabilities_even_when_the_server_is_root():
    result = await sandboxed(
        """\
        fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
        print(fields["CapEff"].strip(), fields["CapBnd"].strip(), fields["NoNewPrivs"].strip())
        """
    )
    assert result.status == "ok", result.logs
    assert result.logs == "0000000000000000 0000000000000000 1\n"


def test_a_home_directory_holding_the_interpreter_is_not_bound(monkeypatch):
    if sys.prefix == sys.base_prefix:
        pytest.skip("needs a virtual environment (its directory then plays the home)")
    monkeypatch.setenv("HOME", sys.prefix)
    problem = bubblewrap_problem()  # the environment is not bound, so Python is not found
    assert problem is not None and problem.startswith("bubblewrap does not work here (bwrap: ")
    assert problem.endswith("No such file or directory)")
