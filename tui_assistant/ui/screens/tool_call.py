"""The human in the loop: a modal for one function call the run is waiting for.

Two kinds (``HumanRequest.kind``):

* ``answer``: the client has no function of that name. The modal shows the name and the
  pretty-printed arguments, and the user types the output to submit (as the Playground
  let you).
* ``approve``: the function is configured as needing approval. The user approves (it then
  runs locally) or denies it, optionally with a reason the model gets to read.

Both show a countdown to the run's ``expires_at``. Escape cancels the run.

``ask_in_modal(app, request)`` is the ``ask`` callback of ``tools.ToolRunner``: it pushes
the modal and awaits an ``asyncio.Future`` that the modal resolves (the toad pattern). If
the runner withdraws the question (the run expired or was cancelled elsewhere), the
awaiting task is cancelled and the modal closes itself. ``ask_about_call`` does the same
with the call shown as waiting for the user meanwhile (the tool pane's ``ask_human``,
``ui/widgets/tool_pane.py``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static, TextArea

from tui_assistant.text import clean_text
from tui_assistant.ui.keys import key_label

if TYPE_CHECKING:
    from tui_assistant.tool_calls import ToolCallRecord
    from tui_assistant.tools.runner import HumanAnswer, HumanRequest

__all__ = ["FunctionCallScreen", "ask_about_call", "ask_in_modal", "countdown_text"]


def countdown_text(expires_at: float | None, now: float | None = None) -> str:
    """``the run expires in 9:41`` (or that its time is up)."""
    if expires_at is None:
        return "the run has no expiry time"
    left = int(expires_at - (time.time() if now is None else now))
    if left <= 0:
        return "the run's time is up"
    minutes, seconds = divmod(left, 60)
    return f"the run expires in {minutes}:{seconds:02d}"


def _answers() -> type[HumanAnswer]:
    # The tools package is loaded by the time a function call asks (not at start-up).
    from tui_assistant.tools.runner import HumanAnswer

    return HumanAnswer


class FunctionCallScreen(ModalScreen["HumanAnswer | None"]):
    """Answer, approve or deny one function call (see the module docstring)."""

    CSS_PATH = "tools.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel_run", "Cancel run", id="toolcall.cancel",
                tooltip="Cancel the run instead of answering"),
        Binding("ctrl+s", "submit", "Submit output", id="toolcall.submit",
                tooltip="Submit the typed output"),
        Binding("ctrl+y", "approve", "Approve", id="toolcall.approve",
                tooltip="Run the function locally"),
        Binding("ctrl+r", "deny", "Deny", id="toolcall.deny",
                tooltip="Refuse: the model gets an error output"),
    ]

    def __init__(self, request: HumanRequest) -> None:
        super().__init__(classes=f"-{request.kind}")
        self.request = request
        self._withdrawn = False

    # -- layout --------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        key = partial(key_label, self.app)  # the buttons name the bindings' keys
        from rich.syntax import Syntax  # Pygments loads with the first dialog

        request = self.request
        call = request.call
        if request.kind == "answer":
            title = f"The assistant calls {call.name}, which this client does not have"
            hint = "Type the output to send back (it is submitted as the function's result)."
        else:
            title = f"The assistant wants to run {call.name}"
            hint = "This function needs your approval before it runs on this machine."
        counter = f"call {request.position} of {request.total} · " if request.total > 1 else ""
        with Vertical(id="dialog"):
            yield Label(Text(clean_text(title)), id="title")
            yield Label(
                Text(counter + clean_text(hint) + (
                    f"\n{clean_text(request.description)}" if request.description else ""
                )),
                id="hint",
            )
            with VerticalScroll(id="arguments"):
                yield Static(
                    Syntax(
                        clean_text(request.arguments_text) or "{}",
                        "json",
                        word_wrap=True,
                        background_color="default",
                        theme="monokai" if self.app.current_theme.dark else "default",
                    ),
                    id="arguments-text",
                )
            if request.kind == "answer":
                yield TextArea(id="output", soft_wrap=True, tab_behavior="focus")
            else:
                yield Input(placeholder="Reason if you deny (optional)", id="reason")
            with Vertical(id="footer"):  # stays in view (tools.tcss)
                yield Label(countdown_text(request.expires_at), id="countdown")
                with Horizontal(id="buttons"):
                    if request.kind == "answer":
                        yield Button(f"Submit output  {key('toolcall.submit', '^s')}",
                                     variant="primary", id="submit")
                    else:
                        yield Button(f"Approve  {key('toolcall.approve', '^y')}",
                                     variant="success", id="approve")
                        yield Button(f"Deny  {key('toolcall.deny', '^r')}", variant="error",
                                     id="deny")
                    yield Button(f"Cancel run  {key('toolcall.cancel', 'Escape')}",
                                 id="cancel")

    def on_mount(self) -> None:
        if self.request.kind == "answer":
            self.query_one("#output", TextArea).focus()
        else:
            # Not the Approve button: a stray Enter must not approve anything.
            self.query_one("#reason", Input).focus()
        self._tick()
        self.set_interval(1.0, self._tick)

    def _tick(self) -> None:
        label = self.query_one("#countdown", Label)
        label.update(countdown_text(self.request.expires_at))
        left = None if self.request.expires_at is None else self.request.expires_at - time.time()
        label.set_class(left is not None and left < 60, "-urgent")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "submit":
            return self.request.kind == "answer"
        if action in ("approve", "deny"):
            return self.request.kind == "approve"
        return True

    # -- answers -------------------------------------------------------------------------

    @on(Button.Pressed, "#submit")
    def action_submit(self) -> None:
        text = self.query_one("#output", TextArea).text
        self.dismiss(_answers().output(text))

    @on(Button.Pressed, "#approve")
    def action_approve(self) -> None:
        self.dismiss(_answers().approve())

    @on(Button.Pressed, "#deny")
    def action_deny(self) -> None:
        self.dismiss(_answers().deny(self.query_one("#reason", Input).value))

    @on(Button.Pressed, "#cancel")
    def action_cancel_run(self) -> None:
        self.dismiss(_answers().cancel())

    @on(Input.Submitted, "#reason")
    def reason_submitted(self, event: Input.Submitted) -> None:
        event.stop()  # Enter in the reason field decides nothing

    # -- withdrawal ----------------------------------------------------------------------

    def withdraw(self) -> None:
        """Close without an answer (the run stopped waiting)."""
        self._withdrawn = True
        if self.is_current:
            self.dismiss(None)

    def on_screen_resume(self) -> None:
        if self._withdrawn:
            self.dismiss(None)


async def ask_in_modal(app: App, request: HumanRequest) -> HumanAnswer:
    """Show the modal and wait for the user's answer (see the module docstring)."""
    answer: asyncio.Future[HumanAnswer] = asyncio.get_running_loop().create_future()
    screen = FunctionCallScreen(request)

    def resolve(result: HumanAnswer | None) -> None:
        if not answer.done():
            answer.set_result(result if result is not None else _answers().cancel())

    await app.push_screen(screen, callback=resolve)
    try:
        return await answer
    except asyncio.CancelledError:  # withdrawn: the run stopped waiting
        screen.withdraw()
        raise


async def ask_about_call(app: App, request: HumanRequest, record: ToolCallRecord | None,
                         changed: Callable[[ToolCallRecord], None]) -> HumanAnswer:
    """``ask_in_modal``, with the call's ``record`` (when it is shown) ``waiting`` until
    the user answers; ``changed`` redraws it."""
    if record is not None:
        record.status = "waiting"
        changed(record)
    try:
        return await ask_in_modal(app, request)
    finally:
        if record is not None and record.status == "waiting":
            record.status = "running"
            changed(record)
