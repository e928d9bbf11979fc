"""Run execution: background tasks that drive a model and publish the run's events.

Each active run has a ``RunState`` with a ``Channel``: an append-only list of encoded SSE
frames that any number of streaming responses read from their own position. A run task
never waits for its readers, so a run goes on when a client disconnects mid-stream, and
a reader that falls behind gets the frames it missed in one write.

The channel is divided into segments. A segment ends where a stream must end: when the
run pauses in ``requires_action`` or reaches a terminal status. A reader stops at the end
of its segment and writes ``event: done``; the stream of ``submit_tool_outputs`` starts
at the next segment.

Objects are written to SQLite at every change of status. The text of a message that is
being written is flushed at most every ``FLUSH_INTERVAL`` seconds, so a client polling
the messages of a running thread sees it grow without a write per token.

Besides text and function calls, a model may use the server's own tools: a
``CodeInterpreterCall`` runs code in a child process (``sandbox``) and a
``FileSearchCall`` ranks passages of the run's files (``search``). Each is a
``tool_calls`` run step that starts and finishes within the turn; the model gets the
outcome in the call object and goes on. Faults (``faults``) may end a turn early.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from tui_assistant.server.faults import Fault, Faults
from tui_assistant.server.files import FileStore, read_text, safe_name
from tui_assistant.server.models import (
    Annotated,
    CodeInterpreterCall,
    ContextMessage,
    FileSearchCall,
    FunctionCall,
    ImageFile,
    Incomplete,
    Model,
    ModelError,
    Notice,
    RunContext,
    RunFile,
    SearchResult,
    ToolResult,
    Usage,
    count_tokens,
    tokenize,
)
from tui_assistant.server.objects import (
    message_object,
    message_text,
    new_id,
    now,
    step_object,
    step_view,
)
from tui_assistant.server.sandbox import CodeLimits, run_code
from tui_assistant.server.search import DEFAULT_MAX_RESULTS, DEFAULT_RANKER, SearchFile, search
from tui_assistant.server.storage import Storage, dumps
from tui_assistant.server.validation import ApiError, bad_request

logger = logging.getLogger("tui_assistant.server")

TERMINAL = frozenset({"completed", "failed", "cancelled", "expired", "incomplete"})
FLUSH_INTERVAL = 0.25
DONE_FRAME = b"event: done\ndata: [DONE]\n\n"
SERVER_STOPPED = "The server stopped before the run finished."


def sse_frame(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {dumps(data)}\n\n".encode()


class Channel:
    """The encoded events of one run, readable by any number of streams."""

    def __init__(self) -> None:
        self.frames: list[bytes | None] = []
        self._wakeup: asyncio.Event | None = None

    @property
    def position(self) -> int:
        return len(self.frames)

    def publish(self, frame: bytes | None) -> None:
        """Append a frame (``None`` ends the current segment) and wake the readers."""
        self.frames.append(frame)
        if self._wakeup is not None:
            self._wakeup.set()
            self._wakeup = None

    async def read(self, start: int = 0, *, batch: bool = True) -> AsyncIterator[bytes]:
        """Frames from ``start`` to the end of that segment, then ``done``.

        With ``batch`` the frames that are ready are joined into one chunk; without it
        each frame is yielded alone (fault injection counts them).
        """
        position = start
        frames = self.frames
        while True:
            end = len(frames)
            if position < end:
                ready = []
                while position < end:
                    frame = frames[position]
                    position += 1
                    if frame is None:
                        ready.append(DONE_FRAME)
                        break
                    ready.append(frame)
                if batch:
                    yield b"".join(ready)
                else:
                    for frame in ready:
                        yield frame
                if ready[-1] is DONE_FRAME:
                    return
            else:
                if self._wakeup is None:
                    self._wakeup = asyncio.Event()
                await self._wakeup.wait()


@dataclass(eq=False)
class RunState:
    """A run that has not finished, with what its task needs."""

    run: dict[str, Any]
    channel: Channel = field(default_factory=Channel)
    task: asyncio.Task | None = None
    cancel_requested: bool = False
    message: dict[str, Any] | None = None
    message_step: dict[str, Any] | None = None
    blocks: list[dict[str, Any]] = field(default_factory=list)
    """Finished content blocks of the message being written (images, earlier text)."""
    parts: list[str] = field(default_factory=list)
    """The text of the message's current (last) text block."""
    annotations: list[dict[str, Any]] = field(default_factory=list)
    text_len: int = 0
    tool_step: dict[str, Any] | None = None
    """The function-call step waiting for outputs."""
    server_step: dict[str, Any] | None = None
    """A code interpreter or file search step being executed."""
    stage: str = "first"
    """``first`` for the turn a run starts with, ``submit`` after tool outputs."""
    include_content: bool = False
    """Whether file search results carry their ``content`` in this run's events."""
    context: RunContext | None = None
    tool_results: list[ToolResult] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    turn_prompt_tokens: int = 0
    step_prompt_tokens: int = 0
    step_completion_tokens: int = 0
    delta_prefix: str = ""
    reported: Usage | None = None
    """The sum of the ``Usage`` the model reported, when it reports any."""
    last_flush: float = 0.0
    expiry: asyncio.TimerHandle | None = None


class _StopRun(Exception):
    """Ends a run early as ``incomplete`` (a token budget ran out)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _InjectedEnd(Exception):
    """Ends a run early as an ``end_run`` fault asks."""

    def __init__(self, fault: Fault) -> None:
        super().__init__(fault.kind)
        self.fault = fault


class RunManager:
    """Starts, streams, pauses, resumes and cancels runs."""

    def __init__(
        self,
        storage: Storage,
        model: Model,
        *,
        files: FileStore | None = None,
        code_limits: CodeLimits | None = None,
        faults: Faults | None = None,
    ) -> None:
        self.storage = storage
        self.model = model
        self.files = files or FileStore(storage)
        self.code_limits = code_limits or CodeLimits()
        self.faults = faults
        self.active: dict[str, RunState] = {}
        self._closing = False

    # --- start-up and shutdown ------------------------------------------------------

    def recover(self) -> None:
        """Settle runs a previous server left unfinished.

        Runs that were executing fail (their task is gone); runs waiting for tool outputs
        are restored so the outputs can still be submitted, unless they have expired.
        """
        for run in self.storage.unfinished_runs():
            state = RunState(run=run)
            for step in self.storage.all("steps", run_id=run["id"]):
                usage = step["usage"] or {}
                state.prompt_tokens += usage.get("prompt_tokens", 0)
                state.completion_tokens += usage.get("completion_tokens", 0)
                if step["status"] == "in_progress":
                    if step["type"] == "tool_calls":
                        state.tool_step = step
                    else:
                        state.message_step = step
                elif step["type"] == "tool_calls" and step["status"] == "completed":
                    for call in step["step_details"]["tool_calls"]:
                        if call.get("type") != "function":
                            continue
                        function = call.get("function") or {}
                        state.tool_results.append(
                            ToolResult(
                                call_id=call["id"],
                                name=function.get("name", ""),
                                arguments=function.get("arguments", ""),
                                output=function.get("output") or "",
                            )
                        )
            for message in self.storage.all("messages", run_id=run["id"]):
                if message["status"] == "in_progress":
                    state.message = message
                    blocks = list(message["content"])
                    if blocks and blocks[-1].get("type") == "text":
                        last = blocks.pop()["text"]
                        state.parts = [last["value"]]
                        state.annotations = list(last.get("annotations") or [])
                    state.blocks = blocks
            self.active[run["id"]] = state
            if run["status"] == "requires_action" and state.tool_step is not None:
                if run["expires_at"] is not None and run["expires_at"] > time.time():
                    continue
                self._interrupt(state, "expired")
            else:
                self._interrupt(state, "failed", SERVER_STOPPED)

    def start_timers(self) -> None:
        """Arm the expiry timers of restored paused runs (needs the running loop)."""
        for state in self.active.values():
            if state.run["status"] == "requires_action" and state.expiry is None:
                self._arm_expiry(state)

    async def shutdown(self) -> None:
        """Stop every running run (it fails with a note that the server stopped)."""
        self._closing = True
        tasks = []
        for state in list(self.active.values()):
            if state.expiry is not None:
                state.expiry.cancel()
                state.expiry = None
            if state.task is not None and not state.task.done():
                state.task.cancel()
                tasks.append(state.task)
        if tasks:
            await asyncio.wait(tasks, timeout=2)

    # --- requests ---------------------------------------------------------------------

    def start(
        self, run: dict[str, Any], *, thread: dict | None = None, include_content: bool = False
    ) -> RunState:
        """Persist a new ``queued`` run and start executing it in the background."""
        if self._closing:
            raise ApiError(503, "The server is shutting down.", type="server_error")
        state = RunState(run=run, include_content=include_content)
        self.storage.insert("runs", run, thread_id=run["thread_id"], status=run["status"])
        self.active[run["id"]] = state
        if thread is not None:
            state.channel.publish(sse_frame("thread.created", thread))
        self._emit_run(state, "thread.run.created")
        self._emit_run(state, "thread.run.queued")
        self._spawn(state)
        return state

    def cancel(self, run: dict[str, Any]) -> dict[str, Any]:
        """Ask a run to stop; answers with the run in ``cancelling``."""
        state = self.active.get(run["id"])
        if state is None or state.run["status"] in TERMINAL:
            raise bad_request(f"Cannot cancel run with status '{run['status']}'.")
        if state.run["status"] == "cancelling":
            return state.run
        state.cancel_requested = True
        self._set_status(state, "cancelling")
        snapshot = json.loads(dumps(state.run))
        if state.task is not None and not state.task.done():
            state.task.cancel()
        else:
            asyncio.get_running_loop().call_soon(self._finish_cancel, state)
        return snapshot

    def submit_tool_outputs(self, run: dict[str, Any], outputs: Any) -> tuple[RunState, int]:
        """Record the outputs of a paused run's calls and resume it.

        Returns the run's state and the channel position its continuation stream starts at.
        """
        state = self.active.get(run["id"])
        if state is None or state.run["status"] != "requires_action" or state.tool_step is None:
            raise bad_request(f'Runs in status "{run["status"]}" do not accept tool outputs.')
        if not isinstance(outputs, list):
            raise bad_request(
                "Invalid type for 'tool_outputs': expected an array.",
                param="tool_outputs",
                code="invalid_type",
            )
        required = state.run["required_action"]["submit_tool_outputs"]["tool_calls"]
        expected = [call["id"] for call in required]
        given: dict[str, str] = {}
        for i, item in enumerate(outputs):
            if not isinstance(item, dict) or not isinstance(item.get("tool_call_id"), str):
                raise bad_request(
                    f"Missing required parameter: 'tool_outputs[{i}].tool_call_id'.",
                    param=f"tool_outputs[{i}].tool_call_id",
                )
            output = item.get("output", "")
            if not isinstance(output, str):
                raise bad_request(
                    f"Invalid type for 'tool_outputs[{i}].output': expected a string.",
                    param=f"tool_outputs[{i}].output",
                    code="invalid_type",
                )
            given[item["tool_call_id"]] = output
        if sorted(given) != sorted(expected):
            raise bad_request(
                f"Expected tool outputs for call_ids {expected}, got {list(given)}.",
                param="tool_outputs",
            )
        if state.expiry is not None:
            state.expiry.cancel()
            state.expiry = None
        start = state.channel.position
        step = state.tool_step
        for call in step["step_details"]["tool_calls"]:
            call["function"]["output"] = given[call["id"]]
            state.tool_results.append(
                ToolResult(
                    call_id=call["id"],
                    name=call["function"]["name"],
                    arguments=call["function"]["arguments"],
                    output=given[call["id"]],
                )
            )
        self._close_step(state, step, "completed", "", now())
        state.tool_step = None
        state.run["required_action"] = None
        state.stage = "submit"
        self._set_status(state, "queued")
        self._spawn(state)
        return state, start

    def update_metadata(self, run_id: str, metadata: dict) -> dict[str, Any] | None:
        """Change an active run's metadata; None when the run is not active."""
        state = self.active.get(run_id)
        if state is None:
            return None
        state.run["metadata"] = metadata
        self._save_run(state)
        return state.run

    def drop_thread(self, thread_id: str) -> None:
        """Forget (and stop) the active runs of a thread that is being deleted."""
        for run_id, state in list(self.active.items()):
            if state.run["thread_id"] == thread_id:
                del self.active[run_id]
                if state.expiry is not None:
                    state.expiry.cancel()
                if state.task is not None and not state.task.done():
                    state.cancel_requested = True
                    state.task.cancel()
                state.channel.publish(None)

    # --- execution ----------------------------------------------------------------------

    def _spawn(self, state: RunState) -> None:
        task = asyncio.get_running_loop().create_task(
            self._execute(state), name=f"run {state.run['id']}"
        )
        state.task = task
        task.add_done_callback(lambda t, s=state: self._task_done(s, t))

    def _task_done(self, state: RunState, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:  # pragma: no cover
            logger.error("run task crashed", exc_info=task.exception())
        # A task cancelled before it first ran never reached its own handler.
        if self.active.get(state.run["id"]) is state and state.run["status"] not in (
            "requires_action",
            *TERMINAL,
        ):
            if state.cancel_requested:
                self._finish_cancel(state)
            else:
                self._interrupt(state, "failed", SERVER_STOPPED)

    async def _execute(self, state: RunState) -> None:
        try:
            if state.cancel_requested:
                raise asyncio.CancelledError
            run = state.run
            fields = {"started_at": now()} if run["started_at"] is None else {}
            self._set_status(state, "in_progress", **fields)
            await self._turn(state)
        except asyncio.CancelledError:
            if self.active.get(state.run["id"]) is not state:
                return  # the thread was deleted
            if state.cancel_requested:
                self._finish_cancel(state)
            else:
                self._interrupt(state, "failed", SERVER_STOPPED)
        except _StopRun as stop:
            self._finish_incomplete(state, stop.reason)
        except ModelError as exc:
            logger.warning("run %s failed: %s", state.run["id"], exc.message)
            self._interrupt(state, "failed", exc.message, code=exc.code)
        except _InjectedEnd as injected:
            fault = injected.fault
            if fault.status == "incomplete":
                self._finish_incomplete(state, fault.reason)
            else:
                self._interrupt(state, fault.status, fault.message, code=fault.code)
        except Exception as exc:
            logger.exception("run %s failed", state.run["id"])
            self._interrupt(state, "failed", f"The model failed: {exc}")

    async def _turn(self, state: RunState) -> None:
        """One call of the model: stream its output, then complete or pause the run."""
        context = self._context(state)
        state.context = context
        end = self.faults.take_end_run(state.stage) if self.faults is not None else None
        limit = state.run["max_completion_tokens"]
        calls: list[FunctionCall] = []
        produced = 0
        outputs = self.model.respond(context)
        try:
            async for output in outputs:
                if end is not None and produced >= end.after:
                    raise _InjectedEnd(end)
                produced += 1
                if isinstance(output, Usage):
                    state.reported = _add_usage(state.reported, output)
                    continue
                if isinstance(output, Notice):
                    logger.info("run %s: %s", state.run["id"], output.text)
                    if output.left_out:
                        strategy = dict(state.run["truncation_strategy"] or {"type": "auto"})
                        strategy.setdefault("last_messages", None)
                        strategy["left_out"] = output.left_out
                        state.run["truncation_strategy"] = strategy
                        self._save_run(state)
                    continue
                if isinstance(output, Incomplete):
                    raise _StopRun(output.reason)
                if isinstance(output, FunctionCall):
                    if state.message is not None:
                        self._close_message(state)
                    calls.append(output)
                    continue
                if calls:
                    raise RuntimeError("the model produced output after a function call")
                if isinstance(output, str):
                    if not output:
                        continue
                    if state.message is None:
                        self._open_message(state)
                    self._append_text(state, output)
                elif isinstance(output, Annotated):
                    self._append_annotated(state, output)
                elif isinstance(output, ImageFile):
                    self._append_image(state, output.file_id)
                elif isinstance(output, CodeInterpreterCall):
                    await self._code_step(state, output)
                elif isinstance(output, FileSearchCall):
                    await self._search_step(state, output)
                else:
                    raise TypeError(f"unknown model output {type(output).__name__}")
                if limit is not None and state.completion_tokens >= limit:
                    raise _StopRun("max_completion_tokens")
        finally:
            close = getattr(outputs, "aclose", None)
            if close is not None:
                await close()
        if end is not None:
            raise _InjectedEnd(end)
        if state.message is not None:
            self._close_message(state)
        if calls:
            self._require_action(state, calls)
        else:
            self._finish_completed(state)

    def _context(self, state: RunState) -> RunContext:
        run = state.run
        messages = [
            ContextMessage(role=m["role"], text=message_text(m))
            for m in self.storage.all("messages", thread_id=run["thread_id"])
            if m["status"] != "in_progress"
        ]
        truncation = run["truncation_strategy"] or {}
        if truncation.get("type") == "last_messages" and truncation.get("last_messages"):
            messages = messages[-truncation["last_messages"] :]
        fixed = count_tokens(run["instructions"] or "") + sum(
            count_tokens(r.name) + count_tokens(r.arguments) + count_tokens(r.output)
            for r in state.tool_results
        )
        sizes = [count_tokens(m.text) for m in messages]
        prompt = fixed + sum(sizes)
        budget = run["max_prompt_tokens"]
        if budget is not None:
            while prompt > budget and len(messages) > 1:
                prompt -= sizes.pop(0)
                messages.pop(0)
            if prompt > budget:
                raise _StopRun("max_prompt_tokens")
        state.turn_prompt_tokens = prompt
        state.prompt_tokens += prompt
        return RunContext(
            run_id=run["id"],
            thread_id=run["thread_id"],
            assistant_id=run["assistant_id"],
            model=run["model"],
            instructions=run["instructions"] or "",
            messages=tuple(messages),
            tools=tuple(run["tools"] or ()),
            tool_results=tuple(state.tool_results),
            files=self._run_files(run),
            tool_choice=run["tool_choice"],
            parallel_tool_calls=bool(run["parallel_tool_calls"]),
            truncation=truncation.get("type") or "auto",
            max_prompt_tokens=budget,
            temperature=run.get("temperature"),
            top_p=run.get("top_p"),
            response_format=run.get("response_format") or "auto",
        )

    def _run_files(self, run: dict[str, Any]) -> tuple[RunFile, ...]:
        """The stored files the run's tools may use (see ``RunContext.files``)."""
        tools: dict[str, set[str]] = {}

        def add(file_id: Any, tool: Any) -> None:
            if isinstance(file_id, str) and tool in ("code_interpreter", "file_search"):
                tools.setdefault(file_id, set()).add(tool)

        for message in self.storage.all("messages", thread_id=run["thread_id"]):
            for attachment in message.get("attachments") or ():
                for tool in attachment.get("tools") or ():
                    add(attachment.get("file_id"), tool.get("type"))
        for table, owner_id in (("assistants", run["assistant_id"]), ("threads", run["thread_id"])):
            owner = self.storage.get(table, owner_id) or {}
            resources = owner.get("tool_resources") or {}
            for tool, key in (("code_interpreter", "file_ids"), ("file_search", "file_ids")):
                for file_id in (resources.get(tool) or {}).get(key) or ():
                    add(file_id, tool)
        found = []
        for file_id, kinds in tools.items():
            stored = self.files.get(file_id)
            if stored is not None:
                found.append(RunFile(file_id, stored["filename"], frozenset(kinds)))
        return tuple(found)

    # --- messages and steps -------------------------------------------------------------

    def _take_turn_prompt(self, state: RunState) -> int:
        """The turn's prompt tokens, charged to the first step of the turn only."""
        tokens, state.turn_prompt_tokens = state.turn_prompt_tokens, 0
        return tokens

    def _open_message(self, state: RunState) -> None:
        run = state.run
        message = message_object(
            thread_id=run["thread_id"],
            role="assistant",
            content=[],
            status="in_progress",
            assistant_id=run["assistant_id"],
            run_id=run["id"],
        )
        step = step_object(
            run=run,
            step_type="message_creation",
            step_details={
                "type": "message_creation",
                "message_creation": {"message_id": message["id"]},
            },
        )
        state.message, state.message_step = message, step
        state.blocks, state.parts, state.annotations, state.text_len = [], [], [], 0
        state.step_prompt_tokens = self._take_turn_prompt(state)
        state.step_completion_tokens = 0
        self.storage.insert("steps", step, thread_id=run["thread_id"], run_id=run["id"])
        self.storage.insert("messages", message, thread_id=run["thread_id"], run_id=run["id"])
        channel = state.channel
        channel.publish(sse_frame("thread.run.step.created", step))
        channel.publish(sse_frame("thread.run.step.in_progress", step))
        channel.publish(sse_frame("thread.message.created", message))
        channel.publish(sse_frame("thread.message.in_progress", message))
        state.last_flush = time.monotonic()
        self._set_delta_prefix(state)

    def _set_delta_prefix(self, state: RunState) -> None:
        """The start of every text delta of the message's current text block."""
        assert state.message is not None
        state.delta_prefix = (
            'event: thread.message.delta\ndata: {"id":"'
            + state.message["id"]
            + '","object":"thread.message.delta","delta":{"content":[{"index":'
            + str(len(state.blocks))
            + ',"type":"text","text":{"value":'
        )

    def _count_completion(self, state: RunState, text: str) -> None:
        tokens = count_tokens(text)
        state.completion_tokens += tokens
        state.step_completion_tokens += tokens

    def _append_text(self, state: RunState, piece: str) -> None:
        state.parts.append(piece)
        state.text_len += len(piece)
        self._count_completion(state, piece)
        state.channel.publish(
            (
                state.delta_prefix
                + json.dumps(piece, ensure_ascii=False)
                + ',"annotations":[]}}]}}\n\n'
            ).encode()
        )
        self._maybe_flush(state)

    def _maybe_flush(self, state: RunState) -> None:
        stamp = time.monotonic()
        if stamp - state.last_flush >= FLUSH_INTERVAL:
            state.last_flush = stamp
            self._store_text(state)

    def _append_annotated(self, state: RunState, piece: Annotated) -> None:
        """Text with a ``file_citation`` or ``file_path`` annotation over all of it."""
        if piece.kind not in ("file_citation", "file_path"):
            raise ValueError(f"unknown annotation kind {piece.kind!r}")
        if state.message is None:
            self._open_message(state)
        message = state.message
        assert message is not None
        start = state.text_len
        state.parts.append(piece.text)
        state.text_len += len(piece.text)
        self._count_completion(state, piece.text)
        annotation = {
            "type": piece.kind,
            "text": piece.text,
            "start_index": start,
            "end_index": state.text_len,
            piece.kind: {"file_id": piece.file_id},
        }
        state.annotations.append(annotation)
        delta = {
            "id": message["id"],
            "object": "thread.message.delta",
            "delta": {
                "content": [
                    {
                        "index": len(state.blocks),
                        "type": "text",
                        "text": {
                            "value": piece.text,
                            "annotations": [{"index": len(state.annotations) - 1, **annotation}],
                        },
                    }
                ]
            },
        }
        state.channel.publish(sse_frame("thread.message.delta", delta))
        self._maybe_flush(state)

    def _append_image(self, state: RunState, file_id: str) -> None:
        """An ``image_file`` block; text after it goes into a new text block."""
        if state.message is None:
            self._open_message(state)
        message = state.message
        assert message is not None
        if state.parts:
            state.blocks.append(self._text_block(state))
            state.parts, state.annotations, state.text_len = [], [], 0
        index = len(state.blocks)
        state.blocks.append({"type": "image_file", "image_file": {"file_id": file_id}})
        delta = {
            "id": message["id"],
            "object": "thread.message.delta",
            "delta": {
                "content": [
                    {"index": index, "type": "image_file", "image_file": {"file_id": file_id}}
                ]
            },
        }
        state.channel.publish(sse_frame("thread.message.delta", delta))
        self._set_delta_prefix(state)
        self._store_text(state)

    @staticmethod
    def _text_block(state: RunState) -> dict[str, Any]:
        return {
            "type": "text",
            "text": {"value": "".join(state.parts), "annotations": list(state.annotations)},
        }

    def _content(self, state: RunState) -> list[dict[str, Any]]:
        """The content blocks of the message being written, as they stand."""
        blocks = list(state.blocks)
        if state.parts or not blocks:
            blocks.append(self._text_block(state))
        return blocks

    def _store_text(self, state: RunState) -> None:
        message = state.message
        assert message is not None
        message["content"] = self._content(state)
        self.storage.save("messages", message)

    def _close_message(
        self,
        state: RunState,
        status: str = "completed",
        reason: str = "",
        step_status: str = "completed",
        error: str = "",
    ) -> None:
        """Finish the message being written (``completed`` or ``incomplete``) and its step."""
        message, step = state.message, state.message_step
        assert message is not None
        stamp = now()
        message["content"] = self._content(state)
        message["status"] = status
        if status == "completed":
            message["completed_at"] = stamp
        else:
            message["incomplete_at"] = stamp
            message["incomplete_details"] = {"reason": reason}
        self.storage.save("messages", message)
        state.channel.publish(sse_frame(f"thread.message.{status}", message))
        if step is not None:
            step["usage"] = _usage(state.step_prompt_tokens, state.step_completion_tokens)
            self._close_step(state, step, step_status, error, stamp)
        state.message = state.message_step = None
        state.blocks, state.parts, state.annotations, state.text_len = [], [], [], 0

    def _close_step(
        self, state: RunState, step: dict[str, Any], status: str, error: str, stamp: int
    ) -> None:
        step["status"] = status
        step[f"{status}_at"] = stamp
        if status == "failed":
            step["last_error"] = {"code": "server_error", "message": error}
        if step["usage"] is None:
            step["usage"] = _usage(0, 0)
        self.storage.save("steps", step)
        state.channel.publish(
            sse_frame(f"thread.run.step.{status}", step_view(step, state.include_content))
        )

    # --- the server's own tools -------------------------------------------------------

    def _open_tool_step(self, state: RunState) -> dict[str, Any]:
        """A new ``tool_calls`` step for a tool the server runs itself."""
        if state.message is not None:
            self._close_message(state)
        run = state.run
        step = step_object(
            run=run, step_type="tool_calls", step_details={"type": "tool_calls", "tool_calls": []}
        )
        self.storage.insert("steps", step, thread_id=run["thread_id"], run_id=run["id"])
        state.channel.publish(sse_frame("thread.run.step.created", step))
        state.channel.publish(sse_frame("thread.run.step.in_progress", step))
        state.server_step = step
        return step

    def _step_delta(self, state: RunState, step: dict[str, Any], tool_call: dict) -> None:
        delta = {
            "id": step["id"],
            "object": "thread.run.step.delta",
            "delta": {"step_details": {"type": "tool_calls", "tool_calls": [tool_call]}},
        }
        state.channel.publish(sse_frame("thread.run.step.delta", delta))

    def _finish_tool_step(self, state: RunState, step: dict[str, Any], completion: int) -> None:
        prompt = self._take_turn_prompt(state)
        state.completion_tokens += completion
        step["usage"] = _usage(prompt, completion)
        self._close_step(state, step, "completed", "", now())
        state.server_step = None

    def _tool_inputs(self, state: RunState) -> list[tuple[str, bytes]]:
        """(name, content) of the files made available to the code interpreter."""
        inputs: list[tuple[str, bytes]] = []
        taken: set[str] = set()
        context = state.context
        for file in context.files_for("code_interpreter") if context else ():
            name = safe_name(file.filename, file.file_id)
            if name in taken:
                name = f"{file.file_id}-{name}"
            try:
                inputs.append((name, self.files.read(file.file_id)))
            except OSError:
                continue
            taken.add(name)
        return inputs

    async def _code_step(self, state: RunState, call: CodeInterpreterCall) -> None:
        """Stream the code as input, run it, record its outputs; fill in ``call``."""
        step = self._open_tool_step(state)
        call_id = new_id("call")
        details: dict[str, Any] = {"input": "", "outputs": []}
        tool_call = {"id": call_id, "type": "code_interpreter", "code_interpreter": details}
        self._step_delta(
            state,
            step,
            {
                "index": 0,
                "id": call_id,
                "type": "code_interpreter",
                "code_interpreter": {"input": "", "outputs": []},
            },
        )
        for count, piece in enumerate(tokenize(call.code), 1):
            self._step_delta(
                state,
                step,
                {"index": 0, "type": "code_interpreter", "code_interpreter": {"input": piece}},
            )
            if call.pace > 0:
                await asyncio.sleep(call.pace)
            elif count % 32 == 0:
                await asyncio.sleep(0)
        details["input"] = call.code
        step["step_details"]["tool_calls"] = [tool_call]
        self.storage.save("steps", step)
        inputs = await asyncio.to_thread(self._tool_inputs, state)
        result = await run_code(call.code, inputs=inputs, limits=self.code_limits)
        outputs: list[dict[str, Any]] = []
        if result.logs:
            outputs.append({"type": "logs", "logs": result.logs})
        for produced in result.files:
            stored = self.files.create(safe_name(produced.name), produced.data, "assistants_output")
            if produced.name.lower().endswith(".png") and produced.is_png:
                outputs.append({"type": "image", "image": {"file_id": stored["id"]}})
                call.images.append(stored["id"])
            else:
                call.files.append((produced.name, stored["id"]))
        details["outputs"] = outputs
        if outputs:
            self._step_delta(
                state,
                step,
                {
                    "index": 0,
                    "type": "code_interpreter",
                    "code_interpreter": {
                        "outputs": [{"index": i, **o} for i, o in enumerate(outputs)]
                    },
                },
            )
        self._finish_tool_step(state, step, count_tokens(call.code))
        call.result = result

    async def _search_step(self, state: RunState, call: FileSearchCall) -> None:
        """Rank passages of the run's files for the call's query; fill in ``call``."""
        step = self._open_tool_step(state)
        call.number = len(self.storage.all("steps", run_id=state.run["id"])) - 1
        call_id = new_id("call")
        self._step_delta(
            state, step, {"index": 0, "id": call_id, "type": "file_search", "file_search": {}}
        )
        config: dict[str, Any] = {}
        for tool in state.run["tools"] or ():
            if tool.get("type") == "file_search":
                config = tool.get("file_search") or {}
                break
        options = config.get("ranking_options") or {}
        ranker = options.get("ranker") or "auto"
        threshold = float(options.get("score_threshold") or 0.0)
        max_results = config.get("max_num_results") or DEFAULT_MAX_RESULTS
        context = state.context
        candidates = context.files_for("file_search") if context else ()

        def find() -> tuple[int, list]:
            texts = []
            for file in candidates:
                text = read_text(self.files, file.file_id)
                if text is not None:
                    texts.append(SearchFile(file.file_id, file.filename, text))
            found = search(texts, call.query, max_results=max_results, score_threshold=threshold)
            return len(texts), found

        searched, found = await asyncio.to_thread(find)
        step["step_details"]["tool_calls"] = [
            {
                "id": call_id,
                "type": "file_search",
                "file_search": {
                    "ranking_options": {
                        "ranker": DEFAULT_RANKER if ranker == "auto" else ranker,
                        "score_threshold": threshold,
                    },
                    "results": [
                        {
                            "file_id": passage.file_id,
                            "file_name": passage.file_name,
                            "score": passage.score,
                            "content": [{"type": "text", "text": passage.text}],
                        }
                        for passage in found
                    ],
                },
            }
        ]
        self._finish_tool_step(state, step, count_tokens(call.query))
        call.searched = searched
        call.results = [SearchResult(p.file_id, p.file_name, p.score, p.text) for p in found]

    def _require_action(self, state: RunState, calls: list[FunctionCall]) -> None:
        run = state.run
        step = step_object(
            run=run, step_type="tool_calls", step_details={"type": "tool_calls", "tool_calls": []}
        )
        channel = state.channel
        self.storage.insert("steps", step, thread_id=run["thread_id"], run_id=run["id"])
        channel.publish(sse_frame("thread.run.step.created", step))
        channel.publish(sse_frame("thread.run.step.in_progress", step))
        tool_calls = [
            {
                "id": call.call_id or new_id("call"),
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments, "output": None},
            }
            for call in calls
        ]
        step["step_details"]["tool_calls"] = tool_calls
        prompt = self._take_turn_prompt(state)
        completion = sum(count_tokens(c.name) + count_tokens(c.arguments) for c in calls)
        state.completion_tokens += completion
        step["usage"] = _usage(prompt, completion)
        self.storage.save("steps", step)
        delta = {
            "id": step["id"],
            "object": "thread.run.step.delta",
            "delta": {
                "step_details": {
                    "type": "tool_calls",
                    "tool_calls": [{"index": i, **call} for i, call in enumerate(tool_calls)],
                }
            },
        }
        channel.publish(sse_frame("thread.run.step.delta", delta))
        state.tool_step = step
        run["required_action"] = {
            "type": "submit_tool_outputs",
            "submit_tool_outputs": {
                "tool_calls": [
                    {
                        "id": call["id"],
                        "type": "function",
                        "function": {
                            "name": call["function"]["name"],
                            "arguments": call["function"]["arguments"],
                        },
                    }
                    for call in tool_calls
                ]
            },
        }
        self._set_status(state, "requires_action")
        channel.publish(None)
        self._arm_expiry(state)

    def _arm_expiry(self, state: RunState) -> None:
        expires_at = state.run["expires_at"] or time.time()
        delay = max(0.0, expires_at - time.time())
        state.expiry = asyncio.get_running_loop().call_later(delay, self._expire, state.run["id"])

    def _expire(self, run_id: str) -> None:
        state = self.active.get(run_id)
        if state is not None and state.run["status"] == "requires_action":
            state.expiry = None
            self._interrupt(state, "expired")

    # --- endings ------------------------------------------------------------------------

    def _finish_completed(self, state: RunState) -> None:
        run = state.run
        run["completed_at"] = now()
        self._end(state, "completed")

    def _finish_incomplete(self, state: RunState, reason: str) -> None:
        if state.message is not None:
            self._close_message(state, "incomplete", "max_tokens", "completed")
        state.run["incomplete_details"] = {"reason": reason}
        self._end(state, "incomplete")

    def _finish_cancel(self, state: RunState) -> None:
        if self.active.get(state.run["id"]) is state and state.run["status"] not in TERMINAL:
            self._interrupt(state, "cancelled")

    def _interrupt(
        self, state: RunState, status: str, error: str = "", *, code: str = "server_error"
    ) -> None:
        """End a run early: ``cancelled``, ``failed`` (with ``error``) or ``expired``."""
        stamp = now()
        reason = {"cancelled": "run_cancelled", "expired": "run_expired"}.get(status, "run_failed")
        step_status = {"cancelled": "cancelled", "expired": "expired"}.get(status, "failed")
        if state.message is not None:
            self._close_message(state, "incomplete", reason, step_status, error)
        for step in (state.message_step, state.tool_step, state.server_step):
            if step is not None and step["status"] == "in_progress":
                self._close_step(state, step, step_status, error, stamp)
        state.message_step = state.tool_step = state.server_step = None
        run = state.run
        run["required_action"] = None
        run[f"{status}_at"] = stamp
        if status == "failed":
            run["last_error"] = {"code": code, "message": error}
        self._end(state, status)

    def _end(self, state: RunState, status: str) -> None:
        run = state.run
        run["expires_at"] = None
        run["usage"] = _usage(state.prompt_tokens, state.completion_tokens)
        if state.reported is not None:
            reported = state.reported
            run["usage"] = _usage(reported.prompt_tokens, reported.completion_tokens)
            if reported.estimated:
                run["usage"]["estimated"] = True
        self._set_status(state, status)
        state.channel.publish(None)
        if state.expiry is not None:
            state.expiry.cancel()
            state.expiry = None
        if self.active.get(run["id"]) is state:
            del self.active[run["id"]]

    # --- persistence and events -------------------------------------------------------

    def _set_status(self, state: RunState, status: str, **fields: Any) -> None:
        run = state.run
        run["status"] = status
        run.update(fields)
        self._save_run(state)
        self._emit_run(state, f"thread.run.{status}")

    def _save_run(self, state: RunState) -> None:
        self.storage.save("runs", state.run, status=state.run["status"])

    def _emit_run(self, state: RunState, event: str) -> None:
        state.channel.publish(sse_frame(event, state.run))


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _add_usage(total: Usage | None, more: Usage) -> Usage:
    if total is None:
        return more
    return Usage(
        total.prompt_tokens + more.prompt_tokens,
        total.completion_tokens + more.completion_tokens,
        total.estimated or more.estimated,
    )
