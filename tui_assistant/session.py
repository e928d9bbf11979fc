"""The run loop, with no UI.

A ``Session`` drives user turns against an ``Engine`` and reports them as ``events.py``
objects. It is where the run logic lives, so it is tested without a screen; the UI only
iterates ``send()`` in a worker and renders what comes out.

Contract of ``Session.send(thread_id, assistant_id, text)`` (an async generator):

* It yields every event of every stream of one user turn: the run's first stream, then,
  each time the run pauses with ``ActionRequired``, the event itself, followed by the stream
  that continues the run after the tool outputs were submitted. It ends after the run's
  ``RunCompleted`` or ``RunFailed`` (exactly one of them, as the last event).
* On ``ActionRequired`` it awaits ``on_action(event)`` and submits the outputs for *all*
  calls in one request. A call the handler gave no output for gets an error output, so the
  run never waits for an output that will not come. Without a handler, every call is
  answered with ``{"error": "No local function named NAME is available."}``.
* One run per thread: ``send`` (or ``attach``) for a thread whose turn is still going
  raises ``ActiveRunError`` before any request is made.
* Cancellation: ``await session.cancel()`` (the Escape key) asks the server to cancel the
  active run; the turn then ends with ``RunCompleted(status="cancelled")`` (or whatever the
  run reached first). If instead the task iterating ``send`` is cancelled, or the iteration
  is abandoned (``aclose``), the run is cancelled on the server (shielded, bounded by
  ``cancel_timeout``) and ``CancelledError`` propagates. The same best-effort cancel
  happens when an error ends the turn while the run is still going, so a failed turn never
  leaves the thread locked for the ten minutes before the run expires.
* A stream that breaks off (``StreamInterrupted``) is not retried: the session reattaches
  to the same run. It polls the run until it pauses or ends, reads the run's messages and
  yields ``MessageCompleted`` for each assistant message that had not completed yet (with
  ``MessageStarted`` first if it had not started), then the run's ``ActionRequired``,
  ``RunCompleted`` or ``RunFailed``. The reply therefore appears exactly once and no
  second run is created. Tool-call details that happened during the gap are not replayed.
* Errors are ``errors.EngineError`` subclasses from the engine (or whatever ``on_action``
  raised); nothing from the SDK or the transport.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field

from tui_assistant.engines.base import Engine, RunInfo
from tui_assistant.errors import (
    ActiveRunError,
    EndpointUnreachable,
    EngineError,
    RateLimitedError,
    StreamInterrupted,
)
from tui_assistant.events import (
    TERMINAL_STATUSES,
    ActionRequired,
    MessageCompleted,
    MessageStarted,
    RunCompleted,
    RunEvent,
    RunFailed,
    RunStarted,
    RunStatusChanged,
    ToolOutput,
)

__all__ = ["ActionHandler", "ActiveRun", "Session", "no_local_functions"]

logger = logging.getLogger(__name__)

ActionHandler = Callable[[ActionRequired], Awaitable[Sequence[ToolOutput]]]
"""Produces the outputs for a paused run's function calls (one per call)."""

_ACTIVE_STATUSES = frozenset({"queued", "in_progress", "requires_action", "cancelling"})
_COMPLETED_STATUSES = frozenset({"completed", "cancelled", "incomplete"})
_CLOCK_SLACK = 120.0
"""Seconds of clock difference tolerated when looking for a run we may just have created."""


def _error_output(message: str) -> str:
    return json.dumps({"error": message})


async def no_local_functions(event: ActionRequired) -> list[ToolOutput]:
    """The default action handler: no function is available locally."""
    return [
        ToolOutput(
            call_id=call.call_id,
            output=_error_output(f"No local function named {call.name} is available."),
        )
        for call in event.calls
    ]


@dataclass(frozen=True, slots=True)
class ActiveRun:
    """The turn a session is driving in a thread (``run_id`` is empty until it starts)."""

    thread_id: str
    run_id: str = ""
    status: str = "starting"


@dataclass(slots=True)
class _Turn:
    thread_id: str
    run_id: str = ""
    status: str = "starting"
    run_created_at: float = 0.0
    requested_at: float = field(default_factory=time.time)
    request_sent: bool = False
    finished: bool = False
    cancel_requested: bool = False
    cancel_sent: bool = False
    started_messages: set[str] = field(default_factory=set)
    completed_messages: set[str] = field(default_factory=set)

    def note(self, event: RunEvent) -> None:
        match event:
            case RunStarted(run_id=run_id, created_at=created_at):
                self.run_id = run_id or self.run_id
                self.run_created_at = created_at
                self.status = "queued"
            case RunStatusChanged(run_id=run_id, status=status):
                self.run_id = self.run_id or run_id
                self.status = status
            case MessageStarted(message_id=mid):
                self.started_messages.add(mid)
            case MessageCompleted(message_id=mid):
                self.started_messages.add(mid)
                self.completed_messages.add(mid)
            case ActionRequired(run_id=run_id):
                self.run_id = self.run_id or run_id
                self.status = "requires_action"
            case RunCompleted(status=status) | RunFailed(status=status):
                self.status = status
                self.finished = True


class Session:
    """Runs user turns against one engine; see the module docstring for the contract."""

    def __init__(
        self,
        engine: Engine,
        *,
        on_action: ActionHandler | None = None,
        cancel_timeout: float = 5.0,
        poll_interval: float = 0.5,
        max_poll_interval: float = 2.0,
        unreachable_grace: float = 30.0,
    ) -> None:
        self.engine = engine
        self.on_action: ActionHandler = on_action or no_local_functions
        self.cancel_timeout = cancel_timeout
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.unreachable_grace = unreachable_grace
        """How long reattaching tolerates an unreachable endpoint before giving up."""
        self._turns: dict[str, _Turn] = {}

    # -- state -----------------------------------------------------------------------

    @property
    def active_run(self) -> ActiveRun | None:
        """The most recently started turn that is still going, if any."""
        runs = self.active_runs
        return runs[-1] if runs else None

    @property
    def active_runs(self) -> tuple[ActiveRun, ...]:
        """Every turn still going, oldest first (at most one per thread)."""
        return tuple(
            ActiveRun(t.thread_id, t.run_id, t.status)
            for t in self._turns.values()
            if not t.finished
        )

    def is_active(self, thread_id: str) -> bool:
        return thread_id in self._turns

    # -- turns -----------------------------------------------------------------------

    async def send(
        self,
        thread_id: str,
        assistant_id: str,
        text: str,
        *,
        additional_instructions: str | None = None,
    ) -> AsyncIterator[RunEvent]:
        """Add the user's message, run the assistant, and yield the turn's events."""
        turn = self._begin(thread_id)
        try:
            turn.request_sent = True
            first = self.engine.run(
                thread_id, assistant_id, text, additional_instructions=additional_instructions
            )
            async with aclosing(self._drive(turn, first)) as events:
                async for event in events:
                    yield event
        finally:
            self._end(turn)

    async def attach(self, thread_id: str, run_id: str) -> AsyncIterator[RunEvent]:
        """Follow a run that is already going (after ``ActiveRunError``, or a restart).

        Polls the run, yields its assistant messages once it pauses or ends, and then
        carries on exactly like ``send`` (tool outputs, continuation streams).
        """
        turn = self._begin(thread_id)
        turn.run_id = run_id
        try:
            async with aclosing(self._drive(turn, None)) as events:
                async for event in events:
                    yield event
        finally:
            self._end(turn)

    async def cancel(self, thread_id: str | None = None) -> None:
        """Ask the server to cancel the active run (of ``thread_id``, or every one).

        A no-op when nothing is running. If the run has not been created yet, it is
        cancelled as soon as the server reports it. Raises ``EngineError`` when the
        endpoint refuses (for example when it does not implement cancelling); the turn
        then simply carries on.
        """
        if thread_id is None:
            turns = list(self._turns.values())
        else:
            turns = [self._turns[thread_id]] if thread_id in self._turns else []
        for turn in turns:
            if turn.finished or turn.cancel_requested:
                continue
            turn.cancel_requested = True
            if not turn.run_id:
                continue
            try:
                turn.cancel_sent = True
                await self.engine.cancel_run(turn.thread_id, turn.run_id)
            except BaseException:
                turn.cancel_requested = turn.cancel_sent = False
                raise

    def _begin(self, thread_id: str) -> _Turn:
        current = self._turns.get(thread_id)
        if current is not None:
            shown = f" ({current.run_id})" if current.run_id else ""
            raise ActiveRunError(
                f"A reply is still being written in this thread{shown}. "
                "Wait for it to finish or cancel it.",
                run_id=current.run_id,
            )
        turn = _Turn(thread_id=thread_id)
        self._turns[thread_id] = turn
        return turn

    def _end(self, turn: _Turn) -> None:
        if self._turns.get(turn.thread_id) is turn:
            del self._turns[turn.thread_id]

    # -- the loop --------------------------------------------------------------------

    async def _drive(
        self, turn: _Turn, stream: AsyncIterator[RunEvent] | None
    ) -> AsyncIterator[RunEvent]:
        """Follow one turn through all its streams; ``stream=None`` starts by reattaching."""
        try:
            while True:
                pause: ActionRequired | None = None
                if stream is not None:
                    try:
                        async with aclosing(stream) as events:
                            async for event in events:
                                turn.note(event)
                                yield event
                                if isinstance(event, ActionRequired):
                                    pause = event
                                elif isinstance(event, RunStarted):
                                    await self._deferred_cancel(turn)
                    except StreamInterrupted as exc:
                        turn.run_id = turn.run_id or exc.run_id
                        if not turn.run_id:
                            raise
                        stream = None
                if stream is None:
                    settle = turn.cancel_requested and turn.cancel_sent
                    async with aclosing(self._reattach(turn, until_ended=settle)) as events:
                        async for event in events:
                            turn.note(event)
                            yield event
                            if isinstance(event, ActionRequired):
                                pause = event
                if turn.finished:
                    if turn.status == "error":
                        # An error event may leave the run going and the thread locked.
                        await self._cancel_on_server(turn)
                    return
                if pause is None:  # an engine broke its contract; do not spin
                    raise EngineError("The run's stream ended without a final event.")
                outputs = None if turn.cancel_requested else await self._outputs(pause)
                if turn.cancel_requested:
                    # Being cancelled: let the server settle instead of submitting outputs.
                    await self._deferred_cancel(turn)
                    if turn.cancel_sent:
                        stream = None
                        continue
                if outputs is None:  # the cancel request failed: carry on
                    outputs = await self._outputs(pause)
                stream = self.engine.submit_tool_outputs(turn.thread_id, pause.run_id, outputs)
        except (StreamInterrupted, EndpointUnreachable):
            raise  # the server cannot be reached: a cancel request could not get there either
        except ActiveRunError:
            if not turn.run_id:
                raise  # the thread's active run is someone else's: leave it alone
            await self._cancel_on_server(turn)
            raise
        except BaseException:  # CancelledError, GeneratorExit, EngineError, handler errors
            if not turn.finished:
                await self._cancel_on_server(turn)
            raise

    async def _outputs(self, event: ActionRequired) -> list[ToolOutput]:
        given = {out.call_id: out for out in await self.on_action(event)}
        return [
            given.get(call.call_id)
            or ToolOutput(
                call_id=call.call_id,
                output=_error_output(f"No output was produced for {call.name}."),
            )
            for call in event.calls
        ]

    async def _reattach(self, turn: _Turn, *, until_ended: bool = False) -> AsyncIterator[RunEvent]:
        """Poll the turn's run until it pauses (unless ``until_ended``) or ends, then yield
        what the broken stream missed: unfinished assistant messages and the final event.

        An unreachable or rate-limiting endpoint is retried for ``unreachable_grace``
        seconds; other errors end the turn."""
        loop = asyncio.get_running_loop()
        delay = self.poll_interval
        failing_since: float | None = None
        while True:
            try:
                info = await self.engine.retrieve_run(turn.thread_id, turn.run_id)
            except (EndpointUnreachable, RateLimitedError):
                now = loop.time()
                failing_since = failing_since if failing_since is not None else now
                if now - failing_since > self.unreachable_grace:
                    raise
            else:
                failing_since = None
                if info.status in TERMINAL_STATUSES:
                    break
                if info.status == "requires_action":
                    if not until_ended:
                        break
                elif info.status != turn.status:
                    yield RunStatusChanged(run_id=info.id, status=info.status)
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, self.max_poll_interval)
        async for event in self._missed_messages(turn, info):
            yield event
        yield _final_event(info, turn.thread_id)

    async def _missed_messages(self, turn: _Turn, info: RunInfo) -> AsyncIterator[RunEvent]:
        if not turn.run_created_at:
            turn.run_created_at = info.created_at
        page = await self.engine.list_messages(turn.thread_id, limit=20)
        for message in page.messages:
            if message.role == "user" or message.id in turn.completed_messages:
                continue
            if message.run_id != info.id and not (
                message.run_id is None and message.created_at >= turn.run_created_at > 0
            ):
                continue
            if message.id not in turn.started_messages:
                yield MessageStarted(message_id=message.id, role=message.role)
            yield MessageCompleted(message_id=message.id, text=message.text, status=message.status)

    # -- cancelling ------------------------------------------------------------------

    async def _deferred_cancel(self, turn: _Turn) -> None:
        """Send a cancel requested before the run id was known."""
        if turn.cancel_requested and not turn.cancel_sent and turn.run_id:
            turn.cancel_sent = True
            try:
                await self.engine.cancel_run(turn.thread_id, turn.run_id)
            except EngineError:
                turn.cancel_requested = turn.cancel_sent = False

    async def _cancel_on_server(self, turn: _Turn) -> None:
        """Best-effort cancel of the turn's run: shielded, bounded, never raising
        (except ``CancelledError`` if the task is cancelled once more while waiting)."""
        task = asyncio.ensure_future(self._cancel_quietly(turn))
        done, _ = await asyncio.wait({task}, timeout=self.cancel_timeout)
        if not done:
            task.cancel()

    async def _cancel_quietly(self, turn: _Turn) -> None:
        try:
            run_id = turn.run_id
            if not run_id and turn.request_sent:
                # Cancelled while the run was being created: it may exist already.
                latest = await self.engine.latest_run(turn.thread_id)
                if (
                    latest is not None
                    and latest.status in _ACTIVE_STATUSES
                    and latest.created_at >= turn.requested_at - _CLOCK_SLACK
                ):
                    run_id = latest.id
            if run_id:
                await self.engine.cancel_run(turn.thread_id, run_id)
        except Exception:  # best effort: the turn is ending for another reason already
            logger.debug("could not cancel run %s", turn.run_id or "?", exc_info=True)


def _final_event(info: RunInfo, thread_id: str) -> RunEvent:
    if info.status == "requires_action":
        return ActionRequired(
            run_id=info.id,
            thread_id=info.thread_id or thread_id,
            calls=info.calls,
            expires_at=info.expires_at,
        )
    if info.status in _COMPLETED_STATUSES:
        return RunCompleted(
            run_id=info.id, status=info.status, usage=info.usage, reason=info.incomplete_reason
        )
    expired = info.status == "expired"
    return RunFailed(
        run_id=info.id,
        status=info.status,
        code=info.error_code or ("expired" if expired else ""),
        message=info.error_message
        or ("The run expired before it finished." if expired else "The run failed."),
    )
