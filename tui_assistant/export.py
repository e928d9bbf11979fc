"""Exporting a thread to Markdown or JSON, with no UI.

``collect(engine, ...)`` gathers a thread from its endpoint: every message (all history
pages), its runs with their token usage, and each run's tool calls with their inputs and
outputs (from the run steps). ``from_cache(store, ...)`` builds the same document from
the local store when the endpoint cannot be reached: messages and recorded run usage,
without tool calls, and says so in ``notes``.

``to_markdown`` and ``to_json`` render a ``ThreadExport``; ``write_export`` writes it
atomically. Both renderers pass the text through ``redact``: an export never contains an
API key, even one that was pasted into a message. The endpoint is written without any
user name, password or query string its URL might carry.

The JSON format (``"format": "tui-assistant.thread", "version": 1``)::

    {"format", "version", "exported_at", "source": "endpoint" | "cache", "notes": [...],
     "thread": {"id", "title", "endpoint", "assistant_id", "assistant_name", "created_at",
                "last_used"},
     "usage": {"runs", "prompt_tokens", "completion_tokens", "total_tokens"},
     "messages": [{"id", "role", "text", "created_at", "run_id", "status",
                   "annotations": [{"type", "text", "file_id", "file_name",
                                    "start_index", "end_index"}]}],
     "runs": [{"id", "status", "assistant_id", "created_at", "usage": {...} | null,
               "error": str, "tool_calls": [{"id", "kind", "name", "input", "output",
                                             "images", "status"}]}]}

Times are ISO 8601 in UTC. In Markdown, the citation and file marks of a message
(``【4:0†source】``, ``sandbox:/mnt/data/x.csv``) become numbered footnotes naming the files,
as in the app; the JSON keeps the text as sent, with its annotations.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit, urlunsplit

from tui_assistant.errors import AppError, EngineError, NotSupportedError
from tui_assistant.events import Annotation
from tui_assistant.files import footnote
from tui_assistant.tool_calls import ToolCallRecord

if TYPE_CHECKING:
    from tui_assistant.engines.base import Engine
    from tui_assistant.store import Store

__all__ = [
    "FORMATS",
    "ExportError",
    "ExportedMessage",
    "ExportedRun",
    "ThreadExport",
    "collect",
    "default_filename",
    "from_cache",
    "public_endpoint",
    "redact",
    "render",
    "to_json",
    "to_markdown",
    "write_export",
]

Format = Literal["md", "json"]
FORMATS: tuple[Format, ...] = ("md", "json")
FORMAT_NAME = "tui-assistant.thread"
FORMAT_VERSION = 1
MAX_MESSAGES = 10_000
"""History pages stop here (100 pages of 100)."""
MAX_RUNS = 100
"""The newest runs are exported; the Assistants API lists at most 100 per page."""
REDACTED = "[redacted]"


class ExportError(AppError):
    """The export could not be written."""

    title = "Export failed"


@dataclass(frozen=True, slots=True)
class ExportedMessage:
    id: str
    role: str
    text: str
    created_at: float
    run_id: str | None = None
    status: str = "completed"
    annotations: tuple[Annotation, ...] = ()
    """Citations and generated-file references in ``text``."""


@dataclass(frozen=True, slots=True)
class ExportedRun:
    id: str
    status: str
    created_at: float = 0.0
    assistant_id: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    error: str = ""
    tool_calls: tuple[ToolCallRecord, ...] = ()

    @property
    def has_usage(self) -> bool:
        return self.total_tokens is not None


@dataclass(slots=True)
class ThreadExport:
    """One thread, ready to render."""

    thread_id: str
    title: str
    endpoint: str = ""
    assistant_id: str = ""
    assistant_name: str = ""
    created_at: float = 0.0
    last_used: float = 0.0
    source: Literal["endpoint", "cache"] = "endpoint"
    messages: list[ExportedMessage] = field(default_factory=list)
    runs: list[ExportedRun] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    file_names: dict[str, str] = field(default_factory=dict)
    """File id -> file name, for the files the messages cite or produced."""
    exported_at: float = field(default_factory=lambda: datetime.now(UTC).timestamp())

    def usage(self) -> dict[str, int]:
        counted = [r for r in self.runs if r.has_usage]
        return {
            "runs": len(counted),
            "prompt_tokens": sum(r.prompt_tokens or 0 for r in counted),
            "completion_tokens": sum(r.completion_tokens or 0 for r in counted),
            "total_tokens": sum(r.total_tokens or 0 for r in counted),
        }


# --- gathering ---------------------------------------------------------------------------


def public_endpoint(endpoint: str) -> str:
    """``endpoint`` without user name, password, query or fragment (``local`` unchanged)."""
    parts = urlsplit(endpoint)
    if not parts.scheme or not parts.netloc:
        return endpoint
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


async def collect(
    engine: Engine,
    thread_id: str,
    *,
    title: str = "",
    endpoint: str = "",
    assistant_id: str = "",
    assistant_name: str = "",
    created_at: float = 0.0,
    last_used: float = 0.0,
) -> ThreadExport:
    """The whole thread from the endpoint: messages, runs, usage and tool calls.

    Raises the engine's ``EngineError`` subclasses (``NotFoundError`` for an unknown
    thread, ``EndpointUnreachable``, ...). An endpoint that does not list runs or run
    steps still gives the messages, with a note.
    """
    export = ThreadExport(
        thread_id=thread_id,
        title=title,
        endpoint=public_endpoint(endpoint),
        assistant_id=assistant_id,
        assistant_name=assistant_name,
        created_at=created_at,
        last_used=last_used,
    )
    before: str | None = None
    pages: list[list[ExportedMessage]] = []
    count = 0
    while True:
        page = await engine.list_messages(thread_id, limit=100, before_id=before)
        pages.append([
            ExportedMessage(m.id, m.role, m.text, m.created_at, m.run_id, m.status,
                            tuple(m.annotations))
            for m in page.messages
        ])
        count += len(page.messages)
        if not page.has_more or not page.messages:
            break
        if count >= MAX_MESSAGES:
            export.notes.append(f"Only the newest {count} messages are included.")
            break
        before = page.messages[0].id
    for chunk in reversed(pages):
        export.messages.extend(chunk)
    for file_id in {a.file_id for m in export.messages for a in m.annotations if a.file_id}:
        try:
            info = await engine.retrieve_file(file_id)
        except EngineError:
            continue  # deleted or not readable: the footnote names the id instead
        if info.filename:
            export.file_names[file_id] = info.filename
    if not export.title:
        from tui_assistant.store import title_from_text

        first = next((m.text for m in export.messages if m.role == "user"), "")
        export.title = title_from_text(first)

    try:
        runs = await engine.list_runs(thread_id, limit=MAX_RUNS)
    except NotSupportedError:
        export.notes.append("The endpoint does not list runs: usage and tool calls are missing.")
        return export
    if len(runs) >= MAX_RUNS:
        export.notes.append(f"Only the newest {MAX_RUNS} runs are included.")
    steps_supported = True
    for run in runs:
        calls: list[ToolCallRecord] = []
        if steps_supported:
            try:
                steps = await engine.list_run_steps(thread_id, run.id)
            except NotSupportedError:
                steps_supported = False
                export.notes.append("The endpoint does not list run steps: tool calls are missing.")
                steps = []
            for step in steps:
                calls += [ToolCallRecord.from_step(call, step, run.status)
                          for call in step.tool_calls]
        usage = run.usage
        export.runs.append(
            ExportedRun(
                id=run.id,
                status=run.status,
                created_at=run.created_at,
                assistant_id=run.assistant_id,
                prompt_tokens=usage.prompt_tokens if usage else None,
                completion_tokens=usage.completion_tokens if usage else None,
                total_tokens=usage.total_tokens if usage else None,
                error=run.error_message,
                tool_calls=tuple(calls),
            )
        )
    return export


def from_cache(
    store: Store,
    endpoint: str,
    thread_id: str,
    *,
    assistant_name: str = "",
    reason: str = "",
) -> ThreadExport:
    """The thread as the local store last saw it (no tool calls).

    Raises ``ExportError`` if the thread is not saved on this machine.
    """
    saved = store.get_thread(endpoint, thread_id)
    if saved is None:
        raise ExportError(f"Thread {thread_id} is not saved on this machine for {endpoint}.")
    export = ThreadExport(
        thread_id=thread_id,
        title=saved.title,
        endpoint=public_endpoint(endpoint),
        assistant_id=saved.assistant_id,
        assistant_name=assistant_name,
        created_at=saved.created_at,
        last_used=saved.last_used,
        source="cache",
    )
    export.messages = [
        ExportedMessage(m.message_id, m.role, m.text, m.created_at)
        for m in store.cached_messages(endpoint, thread_id, limit=MAX_MESSAGES)
    ]
    export.runs = [
        ExportedRun(
            id=r.run_id,
            status=r.status,
            created_at=r.created_at,
            prompt_tokens=r.prompt_tokens,
            completion_tokens=r.completion_tokens,
            total_tokens=r.total_tokens,
        )
        for r in store.list_runs(endpoint, thread_id)
    ]
    note = "Exported from the local cache"
    note += f" ({reason.rstrip('.')})" if reason else ""
    export.notes.append(note + ": tool calls are not included and the history may be incomplete.")
    return export


# --- rendering ---------------------------------------------------------------------------


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret (of 6 characters or more) replaced by ``[redacted]``."""
    for secret in sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def _iso(when: float | None) -> str | None:
    if not when:
        return None
    return datetime.fromtimestamp(when, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def to_json(export: ThreadExport, *, secrets: Sequence[str] = ()) -> str:
    """The export as a JSON document (see the module docstring)."""
    document = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "exported_at": _iso(export.exported_at),
        "source": export.source,
        "notes": list(export.notes),
        "thread": {
            "id": export.thread_id,
            "title": export.title,
            "endpoint": export.endpoint,
            "assistant_id": export.assistant_id,
            "assistant_name": export.assistant_name,
            "created_at": _iso(export.created_at),
            "last_used": _iso(export.last_used),
        },
        "usage": export.usage(),
        "messages": [
            {
                "id": m.id,
                "role": m.role,
                "text": m.text,
                "created_at": _iso(m.created_at),
                "run_id": m.run_id,
                "status": m.status,
                "annotations": [
                    {
                        "type": a.kind,
                        "text": a.text,
                        "file_id": a.file_id,
                        "file_name": export.file_names.get(a.file_id, ""),
                        "start_index": a.start_index,
                        "end_index": a.end_index,
                    }
                    for a in m.annotations
                ],
            }
            for m in export.messages
        ],
        "runs": [
            {
                "id": r.id,
                "status": r.status,
                "assistant_id": r.assistant_id,
                "created_at": _iso(r.created_at),
                "usage": {
                    "prompt_tokens": r.prompt_tokens or 0,
                    "completion_tokens": r.completion_tokens or 0,
                    "total_tokens": r.total_tokens or 0,
                }
                if r.has_usage
                else None,
                "error": r.error,
                "tool_calls": [
                    {
                        "id": c.call_id,
                        "kind": c.kind,
                        "name": c.name,
                        "input": c.input,
                        "output": c.output,
                        "images": list(c.images),
                        "status": c.status,
                    }
                    for c in r.tool_calls
                ],
            }
            for r in export.runs
        ],
    }
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if not secrets:
        return text
    # Redact inside the JSON strings, so the document stays valid JSON.
    return json.dumps(_redact_tree(document, secrets), indent=2, ensure_ascii=False) + "\n"


def _redact_tree(value: object, secrets: Sequence[str]) -> object:
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, list):
        return [_redact_tree(v, secrets) for v in value]
    if isinstance(value, dict):
        return {k: _redact_tree(v, secrets) for k, v in value.items()}
    return value


ROLE_NAMES = {"user": "You", "assistant": "Assistant"}


def _fence(text: str, info: str = "") -> str:
    """``text`` in a code fence longer than any backtick run inside it."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{info}\n{text.rstrip()}\n{ticks}"


def _when(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M UTC") if stamp else ""


def _tokens(run: ExportedRun) -> str:
    if not run.has_usage:
        return ""
    return (
        f"{run.total_tokens:,} tokens (prompt {run.prompt_tokens or 0:,}, "
        f"completion {run.completion_tokens or 0:,})"
    )


def _run_section(run: ExportedRun) -> list[str]:
    lines: list[str] = []
    for call in run.tool_calls:
        label = call.name or call.kind
        kind = f" · {call.kind}" if call.name else ""
        status = f" · {call.status}" if call.status and call.status != "completed" else ""
        lines.append(f"> **Tool call** `{label}`{kind}{status}")
        lines.append("")
        if call.input:
            language = "python" if call.kind == "code_interpreter" else (
                "json" if call.kind == "function" else ""
            )
            lines += ["Input:", "", _fence(call.input, language), ""]
        if call.output:
            lines += ["Output:", "", _fence(call.output), ""]
        if call.images:
            lines += ["Images: " + ", ".join(f"`{i}`" for i in call.images), ""]
    return lines


def _run_footer(run: ExportedRun) -> str:
    parts = [f"run `{run.id}`", run.status]
    if run.has_usage:
        parts.append(_tokens(run))
    if run.error:
        parts.append(run.error)
    return "*" + " · ".join(p.replace("*", "\\*") for p in parts) + "*"


def to_markdown(export: ThreadExport, *, secrets: Sequence[str] = ()) -> str:
    """The export as a readable Markdown document."""
    out: list[str] = [f"# {export.title or 'Untitled thread'}", ""]
    meta = [f"- Thread: `{export.thread_id}`"]
    if export.assistant_name or export.assistant_id:
        name = export.assistant_name or export.assistant_id
        meta.append(f"- Assistant: {name}" + (
            f" (`{export.assistant_id}`)" if export.assistant_name and export.assistant_id else ""
        ))
    if export.endpoint:
        meta.append(f"- Endpoint: {export.endpoint}")
    usage = export.usage()
    if usage["runs"]:
        meta.append(
            f"- Tokens: {usage['total_tokens']:,} over {usage['runs']} "
            f"run{'s' if usage['runs'] != 1 else ''} (prompt {usage['prompt_tokens']:,}, "
            f"completion {usage['completion_tokens']:,})"
        )
    meta.append(f"- Exported: {_when(export.exported_at)}"
                + (" from the local cache" if export.source == "cache" else ""))
    out += meta + [""]
    for note in export.notes:
        out += [f"> {note}", ""]

    runs = {r.id: r for r in export.runs}
    last_message_of: dict[str, str] = {}
    for message in export.messages:
        if message.run_id in runs:
            last_message_of[message.run_id] = message.id
    shown_runs: set[str] = set()
    # Runs that wrote no message (failed early, cancelled) go where they happened in time.
    orphans = sorted(
        (r for r in export.runs if r.id not in last_message_of), key=lambda r: r.created_at
    )

    def flush_orphans(until: float | None) -> None:
        while orphans and (until is None or orphans[0].created_at <= until):
            run = orphans.pop(0)
            out.extend(_run_section(run))
            out.extend([_run_footer(run), ""])

    for message in export.messages:
        flush_orphans(message.created_at)
        run = runs.get(message.run_id or "")
        if run is not None and run.id not in shown_runs:
            shown_runs.add(run.id)
            out.extend(_run_section(run))
        heading = ROLE_NAMES.get(message.role, message.role.title())
        when = _when(message.created_at)
        out.append(f"## {heading}" + (f" · {when}" if when else ""))
        out.append("")
        body = message.text
        if message.annotations:  # citation marks become numbered footnotes
            body = footnote(body, message.annotations, export.file_names).markdown()
        body = body.rstrip()
        out.append(body if body else "*(no text)*")
        if message.status and message.status != "completed":
            out += ["", f"*{message.status}*"]
        out.append("")
        if run is not None and last_message_of.get(run.id) == message.id:
            out += [_run_footer(run), ""]
    flush_orphans(None)
    return redact("\n".join(out).rstrip() + "\n", secrets)


def render(export: ThreadExport, fmt: Format, *, secrets: Sequence[str] = ()) -> str:
    if fmt == "json":
        return to_json(export, secrets=secrets)
    if fmt == "md":
        return to_markdown(export, secrets=secrets)
    raise ExportError(f"unknown export format {fmt!r} (use md or json)")


# --- writing -----------------------------------------------------------------------------


def default_filename(title: str, thread_id: str, fmt: Format) -> str:
    """``refactor-plan-a1b2c3.md``: a file name from the title and the thread id's tail."""
    slug = re.sub(r"[^\w]+", "-", title.lower(), flags=re.UNICODE).strip("-_")[:48] or "thread"
    tail = re.sub(r"\W", "", thread_id)[-6:]
    return f"{slug}-{tail}.{fmt}" if tail else f"{slug}.{fmt}"


def write_export(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` atomically (creating folders); return the full path.

    The file is readable by its owner only (0600), like the store: conversations are
    private.

    Raises ``ExportError`` with one line if the file cannot be written.
    """
    target = Path(path).expanduser()
    if target.is_dir():
        raise ExportError(f"{target} is a folder; give a file name.")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(text)
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ExportError(f"Could not write {target}: {exc.strerror or exc}.") from None
    return target.resolve()
