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
  answered with ``{"error": "No local function named NAME is available."}``. A handler
  that finds the run has stopped waiting (expired, cancelled) raises
  ``RunNoLongerWaiting``: nothing is submitted and the turn follows the run to its end.
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
  An ``error`` event is treated the same way: it ends the stream, not necessarily the
  run, so the session retrieves the run and follows it to its real end (the error event
  itself is yielded only when the run cannot be retrieved).
* Run creation is never retried. When it fails in a way that leaves it unknown whether
  the run was created (HTTP 5xx, a lost connection, a stream cut before the run was
  named), the session looks for it with ``runs.list(limit=1)``: a run newer than the
  request whose thread now ends with this message is followed (as above, starting with
  a ``RunStarted``); otherwise the error propagates and nothing was sent. ``rerun``
  starts a run without a new message (to retry a failed, expired or incomplete run).
* Submitting tool outputs is retried only when the run is seen still waiting for the
  same calls (after a 429, a 5xx or a lost connection, for up to ``unreachable_grace``
  seconds, honouring ``Retry-After``); when the run has moved on, the submission got
  through and the session follows the run instead.
* ``run_tools(assistant_id)``, when given, is awaited before a run is created; tools it
  returns (not ``None``) are sent as the run's ``tools`` (MCP servers' tools join the
  assistant's this way). An error it raises ends the turn before anything was sent.
* ``on_recovery(thread_id, text)``, when given, is told in a sentence each time the
  session recovers from one of these faults (for an activity log).
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
    AuthError,
    EndpointUnreachable,
    EngineError,
    NotFoundError,
    NotServedError,
    RateLimitedError,
    RunNoLongerWaiting,
    ServerError,
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

__all__ = [
    "ActionHandler",
    "ActiveRun",
    "RunNoLongerWaiting",
    "RunTools",
    "Session",
    "no_local_functions",
]

logger = logging.getLogger(__name__)

ActionHandler = Callable[[ActionRequired], Awaitable[Sequence[ToolOutput]]]
"""Produces the outputs for a paused run's function calls (one per call)."""

RunTools = Callable[[str], Awaitable[Sequence[dict] | None]]
"""``assistant_id -> tools``: the tools to send with a new run (``None``: the assistant's)."""

RecoveryNote = Callable[[str, str], None]
"""``(thread_id, sentence)``: told when the session recovers from a fault."""

_TRANSIENT = (EndpointUnreachable, RateLimitedError, ServerError)
"""Errors after which the same read may well work a moment later."""
_DEFINITE = (ActiveRunError, AuthError, NotFoundError, NotServedError, RateLimitedError)
"""Errors of a run-creating request after which no run exists."""

_ACTIVE_STATUSES = frozenset({"queued", "in_progress", "requires_action", "cancelling"})
_COMPLETED_STATUSES = frozenset({"completed", "cancelled", "incomplete"})
CANCEL_WAIT = 15.0
"""Seconds ``cancel_and_wait`` waits for another run to stop after cancelling it."""
_CLOCK_SLACK = 120.0
"""Seconds of clock difference tolerated when looking for a run we may just have created."""
_LOOKUP_TIMEOUT = 30.0
"""Seconds a look-up made to recover from a failed request may take."""


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
    not_waiting: bool = False
    recovered: bool = False
    """The run was found after its creation request failed: announce it on reattach."""
    started: bool = False
    started_messages: set[str] = field(default_factory=set)
    completed_messages: set[str] = field(default_factory=set)

    def note(self, event: RunEvent) -> None:
        match event:
            case RunStarted(run_id=run_id, created_at=created_at):
                self.run_id = run_id or self.run_id
                self.run_created_at = created_at
                self.status = "queued"
                self.started = True
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
        on_recovery: RecoveryNote | None = None,
        seen_runs: set[str] | None = None,
        run_tools: RunTools | None = None,
    ) -> None:
        self.engine = engine
        self.run_tools = run_tools
        """Asked before each run is created; tools it returns go with the run."""
        self.on_action: ActionHandler = on_action or no_local_functions
        self.on_recovery = on_recovery
        self.cancel_timeout = cancel_timeout
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.unreachable_grace = unreachable_grace
        """How long reattaching tolerates an unreachable endpoint before giving up."""
        self._turns: dict[str, _Turn] = {}
        self._seen_runs: set[str] = seen_runs if seen_runs is not None else set()
        """Runs this client has followed already (never adopted as "just created");
        pass one set to several sessions to share it."""

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
        attachments: Sequence[dict] = (),
    ) -> AsyncIterator[RunEvent]:
        """Add the user's message, run the assistant, and yield the turn's events.

        ``attachments`` (uploaded files for code_interpreter or file_search) go with the
        message; the engine is only told about them when there are some."""
        turn = self._begin(thread_id)
        try:
            extra: dict = {"attachments": list(attachments)} if attachments else {}
            if self.run_tools is not None:
                tools = await self.run_tools(assistant_id)
                if tools is not None:
                    extra["tools"] = list(tools)
            turn.request_sent = True
            first = self.engine.run(
                thread_id,
                assistant_id,
                text,
                additional_instructions=additional_instructions,
                **extra,
            )
            first = self._created(turn, first, text)
            async with aclosing(self._drive(turn, first)) as events:
                async for event in events:
                    yield event
        finally:
            self._end(turn)

    async def rerun(
        self, thread_id: str, assistant_id: str, *, additional_instructions: str | None = None
    ) -> AsyncIterator[RunEvent]:
        """Run the assistant again on the thread as it is, adding no message (the retry of
        a failed, expired or incomplete run). Otherwise exactly like ``send``."""
        async with aclosing(
            self.send(thread_id, assistant_id, "", additional_instructions=additional_instructions)
        ) as events:
            async for event in events:
                yield event

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

    async def cancel_and_wait(
        self, thread_id: str, run_id: str, *, timeout: float = CANCEL_WAIT
    ) -> RunInfo | None:
        """Cancel a run this session is not driving (another client's, found when a
        thread was busy) and poll it until it ends.

        Returns the run as it ended, or ``None`` when it had not ended after ``timeout``
        seconds. Raises ``EngineError`` when the endpoint refuses to cancel it."""
        await self.engine.cancel_run(thread_id, run_id)
        deadline = time.monotonic() + timeout
        delay = self.poll_interval
        while True:
            try:
                info = await self.engine.retrieve_run(thread_id, run_id)
            except EngineError:
                info = None
            if info is not None and info.status in TERMINAL_STATUSES:
                self._seen_runs.add(run_id)
                return info
            if time.monotonic() + delay > deadline:
                return None
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, self.max_poll_interval)

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
        if turn.run_id:
            self._seen_runs.add(turn.run_id)
        if self._turns.get(turn.thread_id) is turn:
            del self._turns[turn.thread_id]

    def _note(self, turn: _Turn, text: str) -> None:
        if self.on_recovery is not None:
            try:
                self.on_recovery(turn.thread_id, text)
            except Exception:  # a log line must never break a turn
                logger.debug("on_recovery failed", exc_info=True)

    # -- recovering from faults ------------------------------------------------------

    async def _created(
        self, turn: _Turn, stream: AsyncIterator[RunEvent], text: str
    ) -> AsyncIterator[RunEvent]:
        """The turn's first stream. If its request fails without saying whether the run
        was created, look for the run; when found, raise ``StreamInterrupted`` naming it so
        that ``_drive`` follows it (no second run is ever created)."""
        try:
            async with aclosing(stream) as events:
                async for event in events:
                    yield event
        except _DEFINITE:
            raise
        except EngineError as exc:
            if turn.run_id or (isinstance(exc, StreamInterrupted) and exc.run_id):
                raise
            found = await self._find_created_run(turn, text)
            if found is None:
                raise
            turn.recovered = True
            self._note(
                turn,
                f"{exc.message} Run {found.id} was created all the same; following it.",
            )
            raise StreamInterrupted(exc.message, run_id=found.id) from exc

    async def _find_created_run(self, turn: _Turn, text: str) -> RunInfo | None:
        """The run the turn's failed creation request made, if it made one: the thread's
        newest run, newer than the request, with this message as the thread's newest."""
        try:
            async with asyncio.timeout(_LOOKUP_TIMEOUT):
                latest = await self.engine.latest_run(turn.thread_id)
                if latest is None or latest.id in self._seen_runs:
                    return None
                if latest.created_at < turn.requested_at - _CLOCK_SLACK:
                    return None
                if text.strip():
                    page = await self.engine.list_messages(turn.thread_id, limit=5)
                    users = [m for m in page.messages if m.role == "user"]
                    if not users or users[-1].text.strip() != text.strip():
                        return None
                    if users[-1].created_at < turn.requested_at - _CLOCK_SLACK:
                        return None
        except (EngineError, TimeoutError):
            logger.debug("could not look for the run of %s", turn.thread_id, exc_info=True)
            return None
        return latest

    async def _submitted(
        self, turn: _Turn, pause: ActionRequired, outputs: Sequence[ToolOutput]
    ) -> AsyncIterator[RunEvent]:
        """The stream after submitting ``outputs``. A submission that fails is retried
        while the run is seen still waiting for the same calls; if the run has moved on,
        the submission got through: ``StreamInterrupted`` makes ``_drive`` follow it."""
        loop = asyncio.get_running_loop()
        since = loop.time()
        delay = self.poll_interval
        while True:
            got_events = False
            try:
                async with aclosing(
                    self.engine.submit_tool_outputs(turn.thread_id, pause.run_id, outputs)
                ) as events:
                    async for event in events:
                        got_events = True
                        yield event
                return
            except StreamInterrupted:
                raise
            except EngineError as exc:
                if got_events:
                    raise
                waiting = await self._still_waiting(turn, pause)
                if waiting is None:
                    raise
                if not waiting:
                    self._note(
                        turn,
                        f"Submitting the tool outputs failed ({exc.message}), but run "
                        f"{pause.run_id} has moved on; following it.",
                    )
                    raise StreamInterrupted(exc.message, run_id=pause.run_id) from exc
                if not isinstance(exc, _TRANSIENT) or loop.time() - since > self.unreachable_grace:
                    raise
                wait = delay
                if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
                    wait = exc.retry_after
                wait = min(max(wait, 0.0), self.unreachable_grace)
                self._note(
                    turn,
                    f"Submitting the tool outputs failed ({exc.message}); run "
                    f"{pause.run_id} still waits for them: sending them again in {wait:.1f} s.",
                )
                await asyncio.sleep(wait)
                delay = min(delay * 2, self.max_poll_interval)

    async def _still_waiting(self, turn: _Turn, pause: ActionRequired) -> bool | None:
        """Whether the paused run still waits for the same calls (None: cannot tell)."""
        try:
            async with asyncio.timeout(_LOOKUP_TIMEOUT):
                info = await self.engine.retrieve_run(turn.thread_id, pause.run_id)
        except (EngineError, TimeoutError):
            return None
        if info.status != "requires_action":
            return False
        return {c.call_id for c in info.calls} == {c.call_id for c in pause.calls}

    # -- the loop --------------------------------------------------------------------

    async def _drive(
        self, turn: _Turn, stream: AsyncIterator[RunEvent] | None
    ) -> AsyncIterator[RunEvent]:
        """Follow one turn through all its streams; ``stream=None`` starts by reattaching."""
        try:
            while True:
                pause: ActionRequired | None = None
                errored: RunFailed | None = None
                if stream is not None:
                    try:
                        async with aclosing(stream) as events:
                            async for event in events:
                                if _is_error_event(event) and (turn.run_id or event.run_id):
                                    errored = event  # the stream failed; the run may not have
                                    break
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
                        if not turn.recovered or turn.started:
                            self._note(turn, f"{exc.message} Following run {turn.run_id}.")
                        stream = None
                    if errored is not None:
                        turn.run_id = turn.run_id or errored.run_id
                        self._note(
                            turn,
                            f"The stream of run {turn.run_id} reported an error "
                            f"({errored.message}); checking the run itself.",
                        )
                        stream = None
                if stream is None:
                    settle = (turn.cancel_requested and turn.cancel_sent) or turn.not_waiting
                    try:
                        async with aclosing(self._reattach(turn, until_ended=settle)) as events:
                            async for event in events:
                                turn.note(event)
                                yield event
                                if isinstance(event, ActionRequired):
                                    pause = event
                    except EngineError:
                        if errored is None:
                            raise
                        turn.note(errored)  # the run cannot be retrieved: report the error
                        yield errored
                if turn.finished:
                    if turn.status == "error":
                        # An error event may leave the run going and the thread locked.
                        await self._cancel_on_server(turn)
                    return
                if pause is None:  # an engine broke its contract; do not spin
                    raise EngineError("The run's stream ended without a final event.")
                try:
                    outputs = None if turn.cancel_requested else await self._outputs(pause)
                except RunNoLongerWaiting:
                    turn.not_waiting = True  # follow the run to its end; submit nothing
                    stream = None
                    continue
                if turn.cancel_requested:
                    # Being cancelled: let the server settle instead of submitting outputs.
                    await self._deferred_cancel(turn)
                    if turn.cancel_sent:
                        stream = None
                        continue
                if outputs is None:  # the cancel request failed: carry on
                    outputs = await self._outputs(pause)
                stream = self._submitted(turn, pause, outputs)
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
            except _TRANSIENT:
                now = loop.time()
                failing_since = failing_since if failing_since is not None else now
                if now - failing_since > self.unreachable_grace:
                    raise
            else:
                failing_since = None
                if turn.recovered and not turn.started:
                    turn.started = True
                    yield RunStarted(
                        run_id=info.id,
                        thread_id=info.thread_id or turn.thread_id,
                        assistant_id=info.assistant_id,
                        created_at=info.created_at,
                        expires_at=info.expires_at,
                    )
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


def _is_error_event(event: RunEvent) -> bool:
    """An ``error`` event of the stream (the engine's ``RunFailed(status="error")``)."""
    return isinstance(event, RunFailed) and event.status == "error"


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
