"""The fault matrix, as a user lives it: the real app, keys through Pilot, the local server.

Every fault the local server can inject is put on the first stream of a run and on the
stream after ``submit_tool_outputs`` (the demo model calls the built-in ``calculate``
function, which the app runs, so each turn has both). For each case the test checks:

* the reply is shown exactly once (and nothing else is left "streaming" or "not sent"),
* the number of runs on the server is right (no duplicate run, ever),
* the thread list is intact (the one saved thread, in the store and on screen).

Faults that lose the request before a run exists leave the message marked "not sent"
with its text in the composer; F9 sends it again. Runs that end failed, expired or
incomplete are explained with their reason; F9 retries them (a second run, no second
message). The README's reliability table is this test's parameter list and outcomes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from textual import events

from tests.support.app import (
    SIZE,
    client_for,
    make_app,
    notices,
    ready,
    wait_for,
)
from tui_assistant.store import Store, title_from_text
from tui_assistant.ui.screens.active_run import ActiveRunDialog

CALL = 'Six times seven?\n/call calculate {"expression": "6*7"}'
ANSWER = '"result": 42'
TITLE = title_from_text(CALL)


@dataclass(frozen=True)
class Case:
    fault: str
    stage: str
    runs: tuple[str, ...]
    """The statuses of the thread's runs at the end, oldest first."""
    how: str
    """What the user does or sees: "nothing", "resend" (F9 on the unsent message), or
    "retry" (F9 after the failed run)."""

    @property
    def id(self) -> str:
        return f"{self.fault}-{self.stage}"


STREAM = ("drop_stream", "stall", "malformed_frame", "error_event")
CASES = [
    *(Case(kind, stage, ("completed",), "nothing") for kind in STREAM
      for stage in ("first", "submit")),
    *(Case(f"http_{status}", "first", ("completed",), "resend") for status in (429, 500, 503)),
    *(Case(f"http_{status}", "submit", ("completed",), "nothing") for status in (429, 500, 503)),
    *(Case(f"end_{status}", stage, (status, "completed"), "retry")
      for status in ("failed", "expired", "incomplete") for stage in ("first", "submit")),
    Case("active_run_conflict", "first", ("completed",), "nothing"),
]


def inject(server: Any, case: Case) -> None:
    faults = server.faults
    if case.fault == "stall":
        faults.stall(1.0, on=case.stage, after_events=2)
    elif case.fault in STREAM:
        getattr(faults, case.fault)(after_events=2, on=case.stage)
    elif case.fault.startswith("http_"):
        status = int(case.fault[5:])
        path = r"/runs$" if case.stage == "first" else r"/submit_tool_outputs$"
        faults.fail_requests(status, count=2 if case.stage == "submit" else 1,
                             retry_after=0.5 if status == 429 else None,
                             path_pattern=path, method="POST")
    elif case.fault.startswith("end_"):
        faults.end_run(case.fault[4:], on=case.stage,
                       after_outputs=0 if case.stage == "first" else 3)
    elif case.fault == "active_run_conflict":
        faults.active_run_conflict()
    else:  # pragma: no cover
        raise AssertionError(case)


async def paste_and_send(pilot, text: str) -> None:
    screen = pilot.app.screen
    pilot.app.post_message(events.Paste(text))  # what the driver posts for a paste
    await wait_for(pilot, lambda: screen.composer.text == text, "the pasted text")
    await pilot.press("enter")


def views(screen, role: str) -> list[Any]:
    return [v for v in screen.conversation.message_views if v.role == role]


def answers(screen) -> list[Any]:
    return [v for v in views(screen, "assistant") if ANSWER in v.text]


async def settled(pilot, screen) -> None:
    await wait_for(pilot, lambda: not screen.workspace.live, "the turn to end", timeout=30)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def run_statuses(server: Any, thread_id: str) -> tuple[str, ...]:
    client = client_for(server)
    try:
        runs = await client.beta.threads.runs.list(thread_id, order="asc")
    finally:
        await client.close()
    return tuple(r.status for r in runs.data)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
async def test_fault_matrix(case: Case, store: Store, start_server) -> None:
    server = start_server()
    app = make_app(store, server=server)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        inject(server, case)
        await paste_and_send(pilot, CALL)
        await settled(pilot, screen)

        if case.how == "resend":
            (user,) = views(screen, "user")
            assert user.has_class("-failed") and "not sent" in user.note
            assert "F9" in user.note
            assert screen.composer.text == CALL  # what was typed is kept
            assert answers(screen) == []
            assert await run_statuses(server, screen.workspace.current.thread_id) == ()
            await pilot.press("f9")
            await wait_for(pilot, lambda: answers(screen), "the reply after resending")
            await settled(pilot, screen)
            assert screen.composer.text == ""
        elif case.how == "retry":
            reason = {"end_failed": "failed", "end_expired": "expired",
                      "end_incomplete": "max_completion_tokens"}[case.fault]
            shown = " ".join(notices(screen))
            assert reason in shown and "F9" in shown, shown
            assert answers(screen) == []
            await pilot.press("f9")
            await wait_for(pilot, lambda: answers(screen), "the reply after retrying")
            await settled(pilot, screen)

        # The reply, exactly once, finished; the message once, not marked.
        (reply,) = answers(screen)
        assert not reply.has_class("-streaming") and reply.note == ""
        assert [v.text for v in views(screen, "user")] == [CALL]
        assert not any(v.has_class("-failed") for v in views(screen, "user"))
        assert not any(v.has_class("-streaming") for v in screen.conversation.message_views)
        # The runs: none duplicated.
        thread_id = screen.workspace.current.thread_id
        assert await run_statuses(server, thread_id) == case.runs
        # The thread list: one thread, saved, shown, open.
        saved = store.list_threads("local")
        assert [(t.thread_id, t.title) for t in saved] == [(thread_id, TITLE)]
        assert [t.thread_id for t in screen.threads.threads] == [thread_id]
        assert store.get_state("last_thread:local") == thread_id
        assert server.faults.pending() == []
        assert screen.header.status == "completed"
        if case.fault in ("drop_stream", "malformed_frame", "error_event"):
            assert any("run_" in line and ("Following run" in line or "checking the run"
                                            in line) for line in screen.activity.entries)


# --- the thread is busy with a run started elsewhere --------------------------------------


async def start_elsewhere(server: Any, thread_id: str, assistant_id: str) -> str:
    """Another program starts a run on the thread (as from another device)."""
    client = client_for(server)
    try:
        run = await client.beta.threads.runs.create(
            thread_id, assistant_id=assistant_id,
            additional_messages=[{"role": "user", "content": "a question from elsewhere"}],
        )
    finally:
        await client.close()
    return run.id


async def open_thread_with_a_reply(pilot, screen) -> str:
    await paste_and_send(pilot, "hello there")
    await wait_for(pilot, lambda: views(screen, "assistant"), "the first reply")
    await settled(pilot, screen)
    return screen.workspace.current.thread_id


@pytest.mark.parametrize("choice", ["c", "f", "escape"])
async def test_a_run_started_elsewhere_can_be_cancelled_followed_or_left(
    choice: str, store: Store, start_server
) -> None:
    server = start_server(token_delay=0.02)  # the other run takes a second or two
    app = make_app(store, server=server)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        thread_id = await open_thread_with_a_reply(pilot, screen)
        other = await start_elsewhere(server, thread_id, screen.workspace.assistant.id)

        await paste_and_send(pilot, CALL)
        await wait_for(pilot, lambda: isinstance(app.screen, ActiveRunDialog), "the question")
        dialog = app.screen
        assert dialog.run_id == other
        await pilot.press(choice)
        if choice == "escape":
            await settled(pilot, screen)
            (unsent,) = [v for v in views(screen, "user") if v.text == CALL]
            assert unsent.has_class("-failed") and screen.composer.text == CALL
            client = client_for(server)
            await client.beta.threads.runs.poll(other, thread_id=thread_id, poll_interval_ms=50)
            await client.close()
            await pilot.press("f9")  # later, when the thread is free
        await wait_for(pilot, lambda: answers(screen), "our reply", timeout=30)
        await settled(pilot, screen)

        (reply,) = answers(screen)
        assert [v.text for v in views(screen, "user")].count(CALL) == 1
        statuses = await run_statuses(server, thread_id)
        expected_other = "cancelled" if choice == "c" else "completed"
        assert statuses == ("completed", expected_other, "completed")
        if choice == "f":  # the other run's reply was shown before ours
            texts = [v.text for v in views(screen, "assistant")]
            assert len(texts) == 3 and texts[-1] == reply.text
        assert [t.thread_id for t in store.list_threads("local")] == [thread_id]


# --- what was typed is never lost ----------------------------------------------------------


async def test_a_message_that_cannot_start_a_thread_is_kept_and_resent_once(
    store: Store, start_server
) -> None:
    server = start_server()
    app = make_app(store, server=server)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        server.faults.fail_requests(503, count=2, path_pattern=r"/threads$", method="POST")
        await paste_and_send(pilot, "keep every word of this")
        await wait_for(pilot, lambda: screen.composer.text == "keep every word of this",
                       "the text back in the composer")
        await settled(pilot, screen)
        (user,) = views(screen, "user")
        assert user.has_class("-failed")
        assert store.list_threads("local") == []
        # Enter on the restored text: still failing, still one marked copy.
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.composer.text == "keep every word of this",
                       "the text back again")
        await settled(pilot, screen)
        assert len(views(screen, "user")) == 1
        # The endpoint is well again: F9 sends it, and it shows once.
        await pilot.press("f9")
        await wait_for(pilot, lambda: views(screen, "assistant"), "the reply")
        await settled(pilot, screen)
        assert [v.text for v in views(screen, "user")] == ["keep every word of this"]
        assert not views(screen, "user")[0].has_class("-failed")
        assert len(views(screen, "assistant")) == 1
        assert [t.title for t in store.list_threads("local")] == ["keep every word of this"]
        assert screen.composer.text == ""


async def test_f9_does_nothing_when_there_is_nothing_to_retry(store: Store, start_server):
    server = start_server()
    app = make_app(store, server=server)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        assert not screen.workspace.can_retry()
        await paste_and_send(pilot, "hello")
        await wait_for(pilot, lambda: views(screen, "assistant"), "the reply")
        await settled(pilot, screen)
        assert not screen.workspace.can_retry()
        await pilot.press("f9")
        await pilot.pause()
        assert len(views(screen, "assistant")) == 1
        assert await run_statuses(server, screen.workspace.current.thread_id) == ("completed",)


@pytest.mark.parametrize("wait", [1.3, 0.0], ids=["typed-then-idle", "quit-at-once"])
async def test_what_is_in_the_composer_survives_a_restart(
    wait: float, store: Store, start_server
) -> None:
    server = start_server()
    app = make_app(store, server=server)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await pilot.press(*"half a thought")
        await wait_for(pilot, lambda: screen.composer.text == "half a thought", "the typing")
        if wait:
            await pilot.pause(wait)
    app = make_app(store, server=server)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        assert screen.composer.text == "half a thought"
        await pilot.press("enter")
        await wait_for(pilot, lambda: views(screen, "assistant"), "the reply")
        await settled(pilot, screen)
    app = make_app(store, server=server)
    async with app.run_test(size=SIZE) as pilot:  # sent: nothing to put back
        screen = await ready(pilot)
        assert screen.composer.text == ""
