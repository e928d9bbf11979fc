"""Answering a paused run's function calls: local functions and a human in the loop.

``ToolRunner`` is a ``session.ActionHandler``: the session awaits it with an
``ActionRequired`` and submits what it returns, all outputs in one request. For each call:

* a registered function that needs no approval runs at once; parallel calls run
  concurrently. Sync functions run in a worker thread (``asyncio.to_thread``), async ones
  in the loop; either way under a time limit.
* a function configured as needing approval is shown to the user first (``ask`` with a
  ``HumanRequest`` of kind ``approve``); approved, it runs like the others.
* a function the client does not have is shown to the user, who types its output
  (``ask`` with kind ``answer``), as the Playground let you.

Guarantees: every call gets an output. Malformed or schema-violating arguments, an
exception in the function, a function running past its time limit and a denial all
become a JSON error output ``{"error": "..."}`` that the model can read; nothing hangs and
no run is left waiting. Questions to the user are asked one at a time, in call order.
While a question is open the run is watched: if it stops waiting (it expired, or was
cancelled elsewhere) the question is withdrawn and ``RunNoLongerWaiting`` tells the
session to follow the run to its end instead of submitting. If the run's ``expires_at``
passes while the run still waits, unanswered calls get an error output. If the user
cancels (``HumanAnswer.cancel()``), ``cancel`` is awaited (the UI passes
``Session.cancel``), no more questions are asked and the remaining calls get an error
output, which the session does not submit once the cancel went through.

A sync function cannot be stopped from outside: after its time limit it is abandoned (its
output is no longer waited for) but its thread runs on until the function returns.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from tui_assistant.errors import RunNoLongerWaiting
from tui_assistant.events import ActionRequired, FunctionCall, ToolOutput
from tui_assistant.tools.registry import LocalFunction, ToolRegistry, validate_arguments

__all__ = [
    "DEFAULT_TIMEOUT",
    "MAX_OUTPUT_CHARS",
    "CallResult",
    "HumanAnswer",
    "HumanRequest",
    "ToolOutputWithImages",
    "ToolRunner",
    "error_output",
]

DEFAULT_TIMEOUT = 30.0
"""Seconds a local function may run unless configured otherwise."""

MAX_OUTPUT_CHARS = 100_000
"""Longer outputs are cut (with a note) before they are submitted."""

Outcome = Literal["ok", "error", "timeout", "denied", "answered", "cancelled", "unanswered"]


def error_output(message: str) -> str:
    """The JSON error output a failed call submits."""
    return json.dumps({"error": message}, ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class HumanRequest:
    """A question for the user about one function call."""

    kind: Literal["answer", "approve"]
    """``answer``: the client has no such function, the user types the output;
    ``approve``: the function needs the user's approval before it runs."""
    call: FunctionCall
    arguments_text: str
    """The arguments, pretty-printed when they are valid JSON."""
    description: str = ""
    expires_at: float | None = None
    """When the run expires (epoch seconds), for a countdown."""
    position: int = 1
    total: int = 1
    """This question's place among the questions of the same pause."""


@dataclass(frozen=True, slots=True)
class HumanAnswer:
    """What the user decided."""

    action: Literal["output", "approve", "deny", "cancel"]
    text: str = ""
    """The typed output (``output``), or a reason (``deny``)."""

    @classmethod
    def output(cls, text: str) -> HumanAnswer:
        return cls("output", text)

    @classmethod
    def approve(cls) -> HumanAnswer:
        return cls("approve")

    @classmethod
    def deny(cls, reason: str = "") -> HumanAnswer:
        return cls("deny", reason)

    @classmethod
    def cancel(cls) -> HumanAnswer:
        return cls("cancel")


@dataclass(frozen=True, slots=True)
class ToolOutputWithImages:
    """What a function may return to show images beside its text output: ``text`` is
    submitted; ``images`` are ids of images saved with ``files.image_path`` (shown in the
    tool pane like code-interpreter images)."""

    text: str
    images: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CallResult:
    """What was submitted for one call, and how it came about (for the activity pane)."""

    call: FunctionCall
    output: str
    outcome: Outcome
    duration: float = 0.0
    images: tuple[str, ...] = ()
    """Images the function returned (ids for ``files.image_path``)."""


Ask = Callable[[HumanRequest], Awaitable[HumanAnswer]]
RunStatus = Callable[[str, str], Awaitable[str]]


def _pretty(arguments: str) -> tuple[Any, str]:
    """(parsed arguments or None, display text)."""
    try:
        parsed = json.loads(arguments or "{}")
    except ValueError:
        return None, arguments
    return parsed, json.dumps(parsed, indent=2, ensure_ascii=False)


def _as_output(value: Any) -> str:
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=str)
        except ValueError:  # circular structures
            text = str(value)
    if len(text) > MAX_OUTPUT_CHARS:
        text = text[:MAX_OUTPUT_CHARS] + f"\n[output cut at {MAX_OUTPUT_CHARS} characters]"
    return text


class ToolRunner:
    """Produces the outputs for a paused run's function calls (see the module docstring)."""

    def __init__(
        self,
        registry: ToolRegistry,
        *,
        ask: Ask | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        cancel: Callable[[], Awaitable[None]] | None = None,
        run_status: RunStatus | None = None,
        poll_interval: float = 2.0,
        on_result: Callable[[CallResult], Any] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry
        self.ask = ask
        self.timeout = timeout
        self.cancel = cancel
        self.run_status = run_status
        """``(thread_id, run_id) -> status``: polled while a question is open."""
        self.poll_interval = poll_interval
        self.on_result = on_result
        self.clock = clock
        self.results: list[CallResult] = []
        """Every call answered so far, in the order they finished."""

    async def __call__(self, event: ActionRequired) -> list[ToolOutput]:
        started = time.monotonic()
        tasks: dict[str, asyncio.Task[CallResult]] = {}
        answered: dict[str, CallResult] = {}
        questions: list[tuple[FunctionCall, LocalFunction | None]] = []
        for call in event.calls:
            function = self.registry.get(call.name)
            if function is not None and not function.needs_approval:
                tasks[call.call_id] = asyncio.create_task(self._run(call, function))
            else:
                questions.append((call, function))
        try:
            cancelled = False
            for position, (call, function) in enumerate(questions, start=1):
                if cancelled:
                    answered[call.call_id] = self._done(
                        call, error_output("The user cancelled the run."), "cancelled", started
                    )
                    continue
                answer = await self._ask(event, call, function, position, len(questions))
                if answer is None:
                    answered[call.call_id] = self._done(
                        call,
                        error_output(
                            f"Nobody answered the call to {call.name} before the run's time "
                            "ran out."
                        ),
                        "unanswered",
                        started,
                    )
                elif answer.action == "cancel":
                    cancelled = True
                    answered[call.call_id] = self._done(
                        call, error_output("The user cancelled the run."), "cancelled", started
                    )
                    if self.cancel is not None:
                        await self.cancel()
                elif answer.action == "deny":
                    reason = f" Reason: {answer.text.strip()}" if answer.text.strip() else ""
                    answered[call.call_id] = self._done(
                        call,
                        error_output(f"The user denied the call to {call.name}.{reason}"),
                        "denied",
                        started,
                    )
                elif answer.action == "approve" and function is not None:
                    tasks[call.call_id] = asyncio.create_task(self._run(call, function))
                else:
                    answered[call.call_id] = self._done(
                        call, answer.text, "answered", started
                    )
            if tasks:
                await asyncio.wait(tasks.values())
        except BaseException:
            for task in tasks.values():
                task.cancel()
            raise
        results = {**answered, **{cid: task.result() for cid, task in tasks.items()}}
        return [
            ToolOutput(call.call_id, results[call.call_id].output)
            for call in event.calls
            if call.call_id in results
        ]

    # -- one call ----------------------------------------------------------------------

    def _done(
        self,
        call: FunctionCall,
        output: str,
        outcome: Outcome,
        since: float,
        images: tuple[str, ...] = (),
    ) -> CallResult:
        result = CallResult(call, _as_output(output), outcome, time.monotonic() - since, images)
        self.results.append(result)
        if self.on_result is not None:
            self.on_result(result)
        return result

    async def _run(self, call: FunctionCall, function: LocalFunction) -> CallResult:
        started = time.monotonic()
        parsed, _ = _pretty(call.arguments)
        if not isinstance(parsed, dict):
            what = "valid JSON" if parsed is None else "a JSON object"
            return self._done(
                call,
                error_output(f"The arguments for {call.name} are not {what}: {call.arguments}"),
                "error",
                started,
            )
        problems = validate_arguments(function.parameters, parsed)
        if problems:
            return self._done(
                call,
                error_output(f"Invalid arguments for {call.name}: " + "; ".join(problems) + "."),
                "error",
                started,
            )
        limit = function.timeout or self.timeout
        try:
            if inspect.iscoroutinefunction(function.func):
                value = await asyncio.wait_for(function.func(**parsed), limit)
            else:
                value = await asyncio.wait_for(
                    asyncio.to_thread(function.func, **parsed), limit
                )
                if inspect.isawaitable(value):
                    value = await asyncio.wait_for(value, limit)
        except TimeoutError:
            return self._done(
                call,
                error_output(f"{call.name} did not finish within {limit:g} s and was abandoned."),
                "timeout",
                started,
            )
        except Exception as exc:
            detail = str(exc).strip()
            return self._done(
                call,
                error_output(f"{call.name} failed: {type(exc).__name__}" + (
                    f": {detail}" if detail else ""
                )),
                "error",
                started,
            )
        if isinstance(value, ToolOutputWithImages):
            return self._done(call, value.text, "ok", started, value.images)
        return self._done(call, _as_output(value), "ok", started)

    # -- asking the user -----------------------------------------------------------------

    async def _ask(
        self,
        event: ActionRequired,
        call: FunctionCall,
        function: LocalFunction | None,
        position: int,
        total: int,
    ) -> HumanAnswer | None:
        """The user's answer; ``None`` when the run's time ran out first."""
        if self.ask is None:
            if function is None:
                return HumanAnswer.output(
                    error_output(f"No local function named {call.name} is available.")
                )
            return HumanAnswer.deny("Nobody is there to approve it.")
        _, pretty = _pretty(call.arguments)
        request = HumanRequest(
            kind="answer" if function is None else "approve",
            call=call,
            arguments_text=pretty,
            description=function.description if function is not None else "",
            expires_at=event.expires_at,
            position=position,
            total=total,
        )
        question = asyncio.ensure_future(self.ask(request))
        watcher = asyncio.ensure_future(self._watch(event))
        try:
            await asyncio.wait({question, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (question, watcher):
                if not task.done():
                    task.cancel()
            await asyncio.gather(question, watcher, return_exceptions=True)
        if question.done() and not question.cancelled() and question.exception() is None:
            return question.result()
        if question.done() and not question.cancelled() and question.exception() is not None:
            raise question.exception()  # type: ignore[misc]
        status = watcher.result()
        if status == "requires_action":
            return None  # the deadline passed and the run still waits
        raise RunNoLongerWaiting(f"The run is {status} and no longer waits for outputs.")

    async def _watch(self, event: ActionRequired) -> str:
        """Return once the run stops waiting (its status), or its deadline passed
        while it still waits (``requires_action``)."""
        while True:
            wait = self.poll_interval if self.run_status is not None else 3600.0
            if event.expires_at is not None:
                wait = min(wait, max(0.0, event.expires_at - self.clock()))
            await asyncio.sleep(wait)
            status = "requires_action"
            if self.run_status is not None:
                try:
                    status = await self.run_status(event.thread_id, event.run_id) or status
                except Exception:  # an unreachable endpoint: keep asking, keep watching
                    status = "requires_action"
            if status != "requires_action":
                return status
            if event.expires_at is not None and self.clock() >= event.expires_at:
                return status
