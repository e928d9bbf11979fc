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

The code gets stdin from ``/dev/null``; stdout and stderr are merged into the logs (the
middle is cut when they are longer than ``CodeLimits.max_log_chars``). As in a notebook
cell, the value of a last bare expression is printed. A failure prints a traceback of
the user's code only and sets ``CodeResult.error`` to its last line.

Files the code wrote or changed in the working directory (not hidden ones, not in
hidden directories, not symlinks) come back in ``CodeResult.files``.

This is a guard against runaway code, not a security boundary: the code runs as the
same user as the server, with that user's file system and network access.
"""

from __future__ import annotations

import asyncio
import math
import os
import shutil
import signal
import stat
import sys
import tempfile
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
_source = sys.stdin.read()
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


def child_environment(home: str) -> dict[str, str]:
    """The whole environment the code runs with."""
    return {
        "PATH": os.environ.get("PATH") or os.defpath,
        "LANG": os.environ.get("LANG") or "C.UTF-8",
        "HOME": home,
        "MPLBACKEND": "Agg",
    }


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
) -> CodeResult:
    """Run ``code`` as described in the module docstring; ``inputs`` are (name, data)."""
    limits = limits or CodeLimits()
    workdir = Path(tempfile.mkdtemp(prefix="tui-assistant-code-"))
    proc: asyncio.subprocess.Process | None = None
    try:
        for name, data in inputs or ():
            target = workdir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        before = _snapshot(workdir)
        cpu = math.ceil(limits.timeout) + 1
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-I",
            "-u",
            "-c",
            _BOOTSTRAP,
            str(limits.memory_bytes if limits.memory_bytes > 0 else -1),
            str(cpu),
            str(limits.file_bytes if limits.file_bytes > 0 else -1),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=workdir,
            env=child_environment(str(workdir)),
            start_new_session=True,
        )
        logs = _Logs(limits.max_log_chars)

        async def read() -> None:
            assert proc is not None and proc.stdout is not None
            while data := await proc.stdout.read(65536):
                logs.add(data)

        reader = asyncio.create_task(read())
        assert proc.stdin is not None
        try:
            proc.stdin.write(code.encode("utf-8", "surrogatepass"))
            await proc.stdin.drain()
            proc.stdin.close()
        except (BrokenPipeError, ConnectionResetError):
            pass
        timed_out = False
        try:
            await asyncio.wait_for(proc.wait(), limits.timeout)
        except TimeoutError:
            timed_out = True
        _kill_group(proc.pid)  # the code's own children go too
        await proc.wait()
        try:
            await asyncio.wait_for(reader, 1.0)
        except TimeoutError:  # pragma: no cover - a grandchild left the group
            reader.cancel()
        text = logs.text()
        code_status = proc.returncode
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
        else:
            status, error = "error", f"the code exited with status {code_status}"
        files, skipped = _collect(workdir, before, limits)
        if skipped:
            text += "".join(f"[{name} was not kept: {why}]\n" for name, why in skipped)
        return CodeResult(logs=text, status=status, error=error, files=files)
    finally:
        if proc is not None and proc.returncode is None:
            _kill_group(proc.pid)
            try:
                await asyncio.shield(proc.wait())
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
