"""Running code for the local ``code_interpreter``: a limited Python child process.

``run_code`` runs a piece of Python in a fresh ``sys.executable -I -u`` process:

* in a new temporary working directory (mode 0700), which is also ``HOME``; files made
  available to the tool are copied into it first, and it is deleted afterwards;
* with an environment of its own: ``PATH``, ``LANG``, ``HOME`` and ``MPLBACKEND=Agg``
  only, so no API key or other secret of the server's environment is inherited;
* with limits it sets on itself before the code runs (soft and hard, so the code cannot
  raise them): address space (``CodeLimits.memory_bytes``), CPU time, size of a written
  file, no core files; and a wall-clock time-out after which the whole process group
  is killed;
* in its own session (process group), killed with it on time-out or when the run is
  cancelled.

The code is sent on stdin, with its length on the command line: code cut off by a
cancelled run is not run. Then the code gets stdin from ``/dev/null``; stdout and stderr
are merged into the logs (the middle is cut when they are longer than
``CodeLimits.max_log_chars``). As in a notebook
cell, the value of a last bare expression is printed. A failure prints a traceback of
the user's code only and sets ``CodeResult.error`` to its last line.

Files the code wrote or changed in the working directory (not hidden ones, not in
hidden directories, not symlinks) come back in ``CodeResult.files``.

Isolation (``CodeLimits.sandbox``, see ``sandbox_status``):

* ``bubblewrap``: the process runs under ``bwrap`` (bubblewrap), which is an isolation
  boundary: new user, PID, network (no network at all, not even the host's loopback),
  IPC, UTS and cgroup namespaces; no capabilities and no further user namespaces; a
  read-only root holding only ``/usr`` (with the ``/bin``, ``/lib*`` links), the few
  ``/etc`` files the dynamic loader and fonts need, and the Python installation (its
  prefix and, for a virtual environment, the environment with its site-packages), all
  read-only; a fresh ``/proc``, ``/dev`` and size-limited ``/tmp``; the working directory
  read-write at ``/mnt/data`` (also ``HOME`` and the current directory). Nothing else of
  the host -- the user's home, other temporary files, sockets -- is visible. The sandbox
  dies with the server (``--die-with-parent``) and has no controlling terminal (the
  process starts in a session of its own). bwrap makes no session of its own
  (``--new-session``), so the whole sandbox stays in the process group that is killed
  at the time-out or when the run is cancelled, even while bwrap is still setting it
  up, and the whole PID namespace goes with it.
* ``unsandboxed``: the plain child process above -- a guard against runaway code, not a
  security boundary: the code runs as the same user as the server, with that user's
  file system and network access.
* ``auto`` (the default): bubblewrap when it works here; otherwise the plain child
  process for the offline demo model, and no code at all (``off``) for a real model
  (``CodeLimits.real_model``).
"""

from __future__ import annotations

import asyncio
import math
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

_EXCEPTION_EXIT = 86
"""The exit status of the bootstrap when the user's code raised."""

_BOOTSTRAP = r"""
import sys, resource
def _limit(kind, soft, hard):
    if soft < 0:
        return
    _, current = resource.getrlimit(kind)
    if current != resource.RLIM_INFINITY:
        soft, hard = min(soft, current), min(hard, current)
    try:
        resource.setrlimit(kind, (soft, hard))
    except (ValueError, OSError):
        pass
_mem, _cpu, _fsize = (int(a) for a in sys.argv[1:4])
_limit(resource.RLIMIT_AS, _mem, _mem)
_limit(resource.RLIMIT_CPU, _cpu, _cpu + 1)
_limit(resource.RLIMIT_FSIZE, _fsize, _fsize)
_limit(resource.RLIMIT_CORE, 0, 0)
import ast, linecache, os, traceback
os.environ.pop("PWD", None)  # bwrap sets it; the environment is the same in every mode
_source = sys.stdin.buffer.read()
if len(_source) != int(sys.argv[4]):  # cut off: the run was stopped while it was sent
    os._exit(1)
_source = _source.decode("utf-8", "surrogatepass")
sys.stdin.close()
sys.stdin = open(os.devnull)
sys.argv = ["<code>"]
linecache.cache["<code>"] = (len(_source), None, _source.splitlines(True), "<code>")
_namespace = {"__name__": "__main__", "__builtins__": __builtins__}
def _run():
    tree = ast.parse(_source, "<code>")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    exec(compile(tree, "<code>", "exec"), _namespace)
    if last is not None:
        value = eval(compile(last, "<code>", "eval"), _namespace)
        if value is not None:
            print(repr(value))
try:
    _run()
except SystemExit:
    raise
except BaseException as _exc:
    _tb = _exc.__traceback__
    while _tb is not None and _tb.tb_frame.f_code.co_filename != "<code>":
        _tb = _tb.tb_next
    sys.stdout.flush()
    traceback.print_exception(type(_exc), _exc, _tb)
    sys.stderr.flush()
    os._exit(EXCEPTION_EXIT)
""".replace("EXCEPTION_EXIT", str(_EXCEPTION_EXIT))


@dataclass(frozen=True, slots=True)
class CodeLimits:
    """What code run by the local ``code_interpreter`` may use."""

    timeout: float = 10.0
    """Wall-clock seconds before the process group is killed."""
    memory_bytes: int = 2 * 1024**3
    """``RLIMIT_AS``: the process's address space (0 or less: no limit)."""
    file_bytes: int = 64 * 1024**2
    """``RLIMIT_FSIZE``: the largest file the code may write."""
    max_log_chars: int = 20_000
    max_output_files: int = 10
    max_output_bytes: int = 10 * 1024**2
    """Output files larger than this are left out (and named in the logs)."""
    tmp_bytes: int = 64 * 1024**2
    """Size of the sandbox's own ``/tmp`` (bubblewrap only)."""
    sandbox: str = "auto"
    """``auto``, ``bubblewrap`` or ``unsandboxed`` (see ``sandbox_status``)."""
    real_model: bool = False
    """The code comes from a real model: ``auto`` then never runs it unsandboxed."""

    def __post_init__(self) -> None:
        check_setting(self.sandbox)


@dataclass(frozen=True, slots=True)
class OutputFile:
    name: str
    """The path relative to the working directory, with ``/`` separators."""
    data: bytes

    @property
    def is_png(self) -> bool:
        return self.data.startswith(b"\x89PNG\r\n\x1a\n")


@dataclass(slots=True)
class CodeResult:
    logs: str
    status: str
    """``ok``, ``error`` (the code raised or exited non-zero), ``timeout`` or ``killed``."""
    error: str = ""
    """One line saying what went wrong (empty when ``status`` is ``ok``)."""
    files: list[OutputFile] = field(default_factory=list)
    sandbox: str = ""
    """How the code ran: ``bubblewrap``, ``unsandboxed``, or ``off`` (it did not run)."""


def child_environment(home: str) -> dict[str, str]:
    """The whole environment the code runs with."""
    return {
        "PATH": os.environ.get("PATH") or os.defpath,
        "LANG": os.environ.get("LANG") or "C.UTF-8",
        "HOME": home,
        "MPLBACKEND": "Agg",
    }


SANDBOX_SETTINGS = ("auto", "bubblewrap", "unsandboxed")
"""The values of ``[local] code_interpreter`` / ``CodeLimits.sandbox``."""

SANDBOX_WORKDIR = "/mnt/data"
"""Where the working directory appears inside the bubblewrap sandbox."""

_UNSANDBOXED_HINT = 'set code_interpreter = "unsandboxed" under [local] to run it without one'


def check_setting(setting: object) -> str:
    """``setting`` if it is one of ``SANDBOX_SETTINGS``; else ``ValueError`` saying so."""
    if setting not in SANDBOX_SETTINGS:
        raise ValueError(
            f"code interpreter mode must be one of {', '.join(SANDBOX_SETTINGS)}, "
            f"not {setting!r}"
        )
    return str(setting)


@dataclass(frozen=True, slots=True)
class SandboxStatus:
    """Which way the code interpreter runs code, and why."""

    mode: str
    """``bubblewrap``, ``unsandboxed`` or ``off`` (code is not run)."""
    setting: str
    """The setting it came from: ``auto``, ``bubblewrap`` or ``unsandboxed``."""
    reason: str
    """One sentence for people: what the mode means, or why the interpreter is off."""

    @property
    def enabled(self) -> bool:
        return self.mode != "off"

    def describe(self) -> str:
        """E.g. ``code interpreter: bubblewrap sandbox (no network, ...)``."""
        return f"code interpreter: {self.reason}"


@dataclass(frozen=True, slots=True)
class _Bwrap:
    path: str
    isolation: tuple[str, ...]
    """The namespace and privilege flags that work here."""
    sized_tmp: bool = True
    """Whether ``--size`` bounds the sandbox's ``/tmp``."""


# Namespace and privilege flags, the strictest first; the first set that runs Python here
# is used. --unshare-all is user (if possible), IPC, PID, network, UTS and cgroup.
# 1. Forces the user namespace and forbids nested ones (bwrap >= 0.8): as root too, the
#    bound directories stay locked read-only and capabilities confined to the sandbox.
# 2. The same without those two (bwrap 0.7; or root where user namespaces are forbidden,
#    e.g. by a container's seccomp profile).
# 3. The same without --size for /tmp (bwrap < 0.7; setuid bwrap refuses --size).
# --cap-drop ALL matters as root: bwrap otherwise leaves root's capabilities to the code
# (setuid bwrap drops them itself, and accepts --cap-drop ALL, which requests none).
_ISOLATION: tuple[tuple[tuple[str, ...], bool], ...] = (
    # (flags, --size for /tmp)
    (("--unshare-all", "--unshare-user", "--disable-userns", "--cap-drop", "ALL"), True),
    (("--unshare-all", "--cap-drop", "ALL"), True),
    (("--unshare-all", "--cap-drop", "ALL"), False),
)

# Files of /etc the interpreter and the usual libraries need (the dynamic loader's
# cache, fonts, time zone); nothing else of /etc (no passwd, shadow, keys, hosts).
_ETC = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/fonts",
    "/etc/mime.types",
)

_probe_lock = threading.Lock()
_probes: dict[tuple[str | None, str, tuple[str, ...]], _Bwrap | str] = {}


def _python_dirs() -> list[str]:
    """The directories of the Python installation (prefix, base prefix, venv) to bind."""
    found: list[str] = []
    executable = os.path.abspath(sys.executable)
    real = os.path.realpath(executable)
    for path in (
        sys.prefix,
        sys.exec_prefix,
        sys.base_prefix,
        sys.base_exec_prefix,
        os.path.dirname(os.path.dirname(executable)),
        os.path.dirname(os.path.dirname(real)),
    ):
        for candidate in (os.path.abspath(path), os.path.realpath(path)):
            if candidate not in found:
                found.append(candidate)
    covered = ("/usr",)
    homes = {os.path.realpath(os.path.expanduser("~"))}
    try:
        import pwd

        homes.add(os.path.realpath(pwd.getpwuid(os.getuid()).pw_dir))
    except (ImportError, KeyError):  # pragma: no cover - no passwd entry
        pass
    kept: list[str] = []
    for path in sorted(found, key=len):
        if path == "/" or not os.path.isdir(path):
            continue
        if any(home == path or home.startswith(path + "/") for home in homes):
            continue  # never a whole home directory (then Python is not found: no sandbox)
        if any(path == c or path.startswith(c.rstrip("/") + "/") for c in (*covered, *kept)):
            continue
        kept.append(path)
    return kept


def _bwrap_environment() -> dict[str, str]:
    """The environment of bwrap itself (its init process is visible in the sandbox)."""
    return {"PATH": "/usr/bin:/bin", "LANG": os.environ.get("LANG") or "C.UTF-8"}


def _sandbox_path() -> str:
    here = os.path.dirname(os.path.abspath(sys.executable))
    return ":".join(dict.fromkeys((here, "/usr/local/bin", "/usr/bin", "/bin")))


def _bwrap_argv(bwrap: _Bwrap, workdir: Path, tmp_bytes: int) -> list[str]:
    """The ``bwrap`` command line up to ``--``: the sandbox for ``workdir``."""
    argv = [bwrap.path, *bwrap.isolation, "--die-with-parent"]
    argv += ["--hostname", "sandbox", "--clearenv"]
    env = child_environment(SANDBOX_WORKDIR)
    env["PATH"] = _sandbox_path()
    for name, value in env.items():
        argv += ["--setenv", name, value]
    argv += ["--ro-bind", "/usr", "/usr"]
    for name in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(name):
            argv += ["--symlink", os.readlink(name), name]
        elif os.path.isdir(name):
            argv += ["--ro-bind", name, name]
    for name in _ETC:
        argv += ["--ro-bind-try", name, name]
    argv += ["--proc", "/proc", "--dev", "/dev"]
    if tmp_bytes > 0 and bwrap.sized_tmp:
        argv += ["--size", str(tmp_bytes)]
    argv += ["--tmpfs", "/tmp"]
    # After the fresh /tmp, so that an installation under /tmp (a venv in a CI clone) is
    # bound on top of it rather than hidden by it.
    for path in _python_dirs():
        argv += ["--ro-bind", os.path.realpath(path), path]
    argv += ["--bind", str(workdir), SANDBOX_WORKDIR, "--chdir", SANDBOX_WORKDIR]
    argv += ["--remount-ro", "/"]
    return argv


def _probe(bwrap: _Bwrap) -> str | None:
    """Run ``python -c pass`` in the sandbox; None when it works, else bwrap's complaint."""
    workdir = tempfile.mkdtemp(prefix="tui-assistant-probe-")
    try:
        done = subprocess.run(
            [*_bwrap_argv(bwrap, Path(workdir), 1024**2), "--", sys.executable, "-I", "-c", ""],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"bwrap could not be started: {exc}"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if done.returncode == 0:
        return None
    lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
    return (lines[-1] if lines else f"bwrap exited with status {done.returncode}").strip()


def _find_bwrap() -> _Bwrap | str:
    """A bubblewrap set-up that works here, or why there is none (cached per bwrap)."""
    path = shutil.which("bwrap")
    key = (path, sys.executable, tuple(_python_dirs()))
    with _probe_lock:
        if key in _probes:
            return _probes[key]
        if path is None:
            found: _Bwrap | str = (
                "bubblewrap is not installed (install the bwrap command: package "
                "'bubblewrap' on Debian, Ubuntu and Fedora)"
            )
        else:
            problems = []
            for isolation, sized_tmp in _ISOLATION:
                bwrap = _Bwrap(path, isolation, sized_tmp)
                problem = _probe(bwrap)
                if problem is None:
                    found = bwrap
                    break
                problems.append(problem)
            else:
                found = f"bubblewrap does not work here ({problems[0]})"
        _probes[key] = found
        return found


def bubblewrap_problem() -> str | None:
    """None when code can run under bubblewrap here; else one sentence saying why not."""
    found = _find_bwrap()
    return found if isinstance(found, str) else None


def sandbox_status(setting: str = "auto", *, real_model: bool = False) -> SandboxStatus:
    """How code runs for ``setting`` (``SANDBOX_SETTINGS``), probing bubblewrap once.

    ``bubblewrap`` when bwrap works (for ``auto`` and ``bubblewrap``); otherwise ``off``
    for ``bubblewrap``, and for ``auto`` with a real model; the plain child process for
    ``auto`` with the demo model and for ``unsandboxed``.
    """
    check_setting(setting)
    if setting == "unsandboxed":
        return SandboxStatus(
            "unsandboxed",
            setting,
            "unsandboxed (a child process with limits, as your user, with your files "
            "and network)",
        )
    problem = bubblewrap_problem()
    if problem is None:
        return SandboxStatus(
            "bubblewrap",
            setting,
            "bubblewrap sandbox (no network, read-only system, only its working directory)",
        )
    if setting == "bubblewrap":
        return SandboxStatus("off", setting, f"off: a sandbox is required but {problem}")
    if real_model:
        return SandboxStatus(
            "off", setting, f"off for real models: {problem}; {_UNSANDBOXED_HINT}"
        )
    return SandboxStatus(
        "unsandboxed",
        setting,
        f"unsandboxed (demo model only; {problem}): a child process with limits",
    )


class _Logs:
    """Collects output, keeping its beginning and its end when it is too long."""

    def __init__(self, limit: int) -> None:
        self.head_limit = limit * 3 // 5
        self.tail_limit = limit - self.head_limit
        self.head = bytearray()
        self.tail = bytearray()
        self.cut = 0

    def add(self, data: bytes) -> None:
        room = self.head_limit - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            extra = len(self.tail) - self.tail_limit
            if extra > 0:
                self.cut += extra
                del self.tail[:extra]

    def text(self) -> str:
        if not self.cut:
            return (self.head + self.tail).decode("utf-8", "replace")
        return (
            self.head.decode("utf-8", "replace")
            + f"\n[… {self.cut} bytes of output cut …]\n"
            + self.tail.decode("utf-8", "replace")
        )


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


async def _reap(proc: asyncio.subprocess.Process) -> None:
    """Kill the process group and wait for the child, never for its output pipe.

    asyncio reports an exit only once the child's pipes are closed. A process that left
    the group (possible unsandboxed) may hold the output pipe open: after a grace period
    the pipe is closed on our side so the exit is seen.
    """
    _kill_group(proc.pid)
    if proc.stdin is not None:  # asyncio sees the exit only once every pipe is closed
        proc.stdin.close()
    try:
        await asyncio.wait_for(asyncio.shield(proc.wait()), 2.0)
    except TimeoutError:
        transport = getattr(proc, "_transport", None)
        pipe = transport.get_pipe_transport(1) if transport is not None else None
        if pipe is not None:
            pipe.close()
        await proc.wait()


def _snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    return {name: (st.st_size, st.st_mtime_ns) for name, st in _walk(directory)}


def _walk(directory: Path, budget: int = 2000) -> list[tuple[str, os.stat_result]]:
    """Regular files under ``directory`` (no hidden ones, no symlinks), sorted by name."""
    found = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(
            d
            for d in dirs
            if not d.startswith(".")
            and d != "__pycache__"
            and not os.path.islink(os.path.join(root, d))
        )
        for name in sorted(files):
            budget -= 1
            if budget < 0:
                return found
            if name.startswith("."):
                continue
            path = os.path.join(root, name)
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode):
                found.append((os.path.relpath(path, directory).replace(os.sep, "/"), st))
    return found


async def run_code(
    code: str,
    *,
    inputs: list[tuple[str, bytes]] | None = None,
    limits: CodeLimits | None = None,
    sandbox: str | None = None,
    real_model: bool | None = None,
) -> CodeResult:
    """Run ``code`` as described in the module docstring; ``inputs`` are (name, data).

    ``sandbox`` and ``real_model`` override ``limits.sandbox`` and ``limits.real_model``.
    When the resulting mode is ``off`` nothing runs: the result has status ``off``, the
    reason in ``error`` and, in brackets, in ``logs``.
    """
    limits = limits or CodeLimits()
    setting = check_setting(limits.sandbox if sandbox is None else sandbox)
    real = limits.real_model if real_model is None else real_model
    status_now = await asyncio.to_thread(sandbox_status, setting, real_model=real)
    if not status_now.enabled:
        reason = f"the code was not run: the {status_now.describe()}"
        return CodeResult(logs=f"[{reason}]\n", status="off", error=reason, sandbox="off")
    found = _find_bwrap() if status_now.mode == "bubblewrap" else None
    bwrap = found if isinstance(found, _Bwrap) else None
    source = code.encode("utf-8", "surrogatepass")
    workdir = Path(tempfile.mkdtemp(prefix="tui-assistant-code-"))
    proc: asyncio.subprocess.Process | None = None
    try:
        for name, data in inputs or ():
            target = workdir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        before = _snapshot(workdir)
        cpu = math.ceil(limits.timeout) + 1
        command = [
            sys.executable,
            "-I",
            "-u",
            "-c",
            _BOOTSTRAP,
            str(limits.memory_bytes if limits.memory_bytes > 0 else -1),
            str(cpu),
            str(limits.file_bytes if limits.file_bytes > 0 else -1),
            str(len(source)),
        ]
        if bwrap is not None:
            command = [*_bwrap_argv(bwrap, workdir, limits.tmp_bytes), "--", *command]
        spawning = asyncio.ensure_future(asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=workdir,
            env=_bwrap_environment() if bwrap is not None else child_environment(str(workdir)),
            start_new_session=True,
        ))
        try:
            proc = await asyncio.shield(spawning)
        except asyncio.CancelledError:  # cancelled while starting: the child is still reaped
            proc = await spawning
            raise
        logs = _Logs(limits.max_log_chars)

        async def read() -> None:
            assert proc is not None and proc.stdout is not None
            while data := await proc.stdout.read(65536):
                logs.add(data)

        reader = asyncio.create_task(read())
        assert proc.stdin is not None
        try:
            proc.stdin.write(source)
            await proc.stdin.drain()
            proc.stdin.close()
        except (BrokenPipeError, ConnectionResetError):
            pass
        timed_out = False
        try:
            await asyncio.wait_for(proc.wait(), limits.timeout)
        except TimeoutError:
            timed_out = True
        await _reap(proc)  # the code's own children go too
        try:
            await asyncio.wait_for(reader, 1.0)
        except TimeoutError:  # pragma: no cover - a grandchild left the group
            reader.cancel()
        text = logs.text()
        code_status = proc.returncode
        if bwrap is not None and code_status is not None and 128 < code_status < 128 + 65:
            # bwrap exits with 128 + N when the code was killed by signal N
            code_status = 128 - code_status
        if timed_out:
            status = "timeout"
            error = f"the code ran longer than {limits.timeout:g} seconds and was stopped"
            text += ("" if not text or text.endswith("\n") else "\n") + f"TimeoutError: {error}\n"
        elif code_status == 0:
            status, error = "ok", ""
        elif code_status == _EXCEPTION_EXIT:
            status = "error"
            lines = [line for line in text.splitlines() if line.strip()]
            error = lines[-1].strip() if lines else "the code raised an exception"
        elif code_status is not None and code_status < 0:
            status = "killed"
            try:
                name = signal.Signals(-code_status).name
            except ValueError:  # pragma: no cover
                name = f"signal {-code_status}"
            error = f"the code was stopped by {name}"
            text += ("" if not text or text.endswith("\n") else "\n") + f"[{error}]\n"
        elif bwrap is not None and code_status == 1 and text.startswith("bwrap: "):
            status, error = "error", f"the sandbox could not start: {text.splitlines()[0][7:]}"
        else:
            status, error = "error", f"the code exited with status {code_status}"
        files, skipped = _collect(workdir, before, limits)
        if skipped:
            text += "".join(f"[{name} was not kept: {why}]\n" for name, why in skipped)
        return CodeResult(
            logs=text, status=status, error=error, files=files, sandbox=status_now.mode
        )
    finally:
        if proc is not None and proc.returncode is None:
            try:
                await asyncio.shield(_reap(proc))
            except BaseException:  # pragma: no cover - cancelled again
                pass
        shutil.rmtree(workdir, ignore_errors=True)


def _collect(
    workdir: Path, before: dict[str, tuple[int, int]], limits: CodeLimits
) -> tuple[list[OutputFile], list[tuple[str, str]]]:
    files: list[OutputFile] = []
    skipped: list[tuple[str, str]] = []
    for name, st in _walk(workdir):
        if before.get(name) == (st.st_size, st.st_mtime_ns):
            continue
        if st.st_size > limits.max_output_bytes:
            skipped.append((name, f"larger than {limits.max_output_bytes} bytes"))
            continue
        if len(files) >= limits.max_output_files:
            skipped.append((name, f"more than {limits.max_output_files} files"))
            continue
        try:
            files.append(OutputFile(name, (workdir / name).read_bytes()))
        except OSError:  # pragma: no cover - removed meanwhile
            continue
    return files, skipped
