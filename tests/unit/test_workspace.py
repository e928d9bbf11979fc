"""The Workspace, headless, against the local server through the real engine and SDK."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tui_assistant import events as ev
from tui_assistant import workspace as ws
from tui_assistant.config import Profile, Settings
from tui_assistant.engines.assistants import AssistantsEngine
from tui_assistant.errors import ActiveRunError
from tui_assistant.export import render
from tui_assistant.server.models import DemoModel
from tui_assistant.store import Store
from tui_assistant.workspace import Workspace

SECRET = "sk-workspace-sentinel-0123456789"


@pytest.fixture
def local_server(start_server: Any) -> Any:
    """Paced, so a run can be cancelled or met while it is still writing."""
    return start_server(token_delay=0.002)


@pytest.fixture
async def workspace(local_server: Any, tmp_path: Path):
    store = Store.open(tmp_path / "threads.sqlite3")
    profile = Profile(name="ws", base_url=local_server.base_url, secret=SECRET)
    engine = AssistantsEngine(local_server.base_url, SECRET)
    space = Workspace(store, profile, Settings(), engine)
    assert space.session is not None
    space.session.poll_interval = 0.02
    assistants = await space.list_assistants()
    chosen = space.preferred_assistant(assistants)
    assert chosen is not None and chosen.name == "Demo assistant"
    space.use_assistant(chosen)
    yield space
    await engine.aclose()
    store.close()


async def collect(events) -> list[ev.RunEvent]:
    return [event async for event in events]


async def send(space: Workspace, text: str) -> list[ev.RunEvent]:
    prepared = await space.prepare_send(text)
    return await collect(space.send(prepared.thread.thread_id, text))


async def test_first_message_saves_the_thread_and_caches_the_reply(workspace: Workspace):
    events = await send(workspace, "Plan a picnic")
    assert isinstance(events[-1], ev.RunCompleted) and events[-1].status == "completed"
    thread = workspace.current
    assert thread is not None and thread.title == "Plan a picnic"
    saved = workspace.list_threads()
    assert [t.thread_id for t in saved] == [thread.thread_id]
    reply = DemoModel().reply_for("Plan a picnic")
    cached = workspace.cached(thread.thread_id)
    assert [m.text for m in cached if m.role == "assistant"] == [reply]
    usage = workspace.thread_usage(thread.thread_id)
    assert usage.runs == 1 and usage.total_tokens > 0
    assert workspace.live == {}
    # A restart finds the thread open again, with its messages from the cache.
    again = Workspace(workspace.store, workspace.profile, workspace.settings)
    threads, messages = again.restore(limit=10)
    assert again.current is not None and again.current.thread_id == thread.thread_id
    assert reply in [m.text for m in messages]


async def test_one_run_per_thread(workspace: Workspace):
    prepared = await workspace.prepare_send("/long")
    thread_id = prepared.thread.thread_id
    first = workspace.send(thread_id, "/long")
    started = await anext(first)
    assert isinstance(started, ev.RunStarted)
    assert workspace.is_busy(thread_id)
    with pytest.raises(ActiveRunError):
        await collect(workspace.send(thread_id, "second"))
    assert await workspace.cancel(thread_id)
    rest = await collect(first)
    assert rest[-1].status == "cancelled"
    assert not workspace.is_busy(thread_id)


async def test_busy_thread_cancel_then_send(workspace: Workspace, local_server: Any):
    """Another client's run holds the thread: the user chooses to cancel it and send."""
    engine = workspace.engine
    assert engine is not None
    prepared = await workspace.prepare_send("hello")
    thread_id = prepared.thread.thread_id
    other = AssistantsEngine(local_server.base_url, "other")
    stream = other.run(thread_id, workspace.assistant.id, "/long")
    other_run = ""
    async for event in stream:
        if isinstance(event, ev.RunStarted):
            other_run = event.run_id
            break
    asked: list[tuple[str, bool]] = []

    async def ask(run_id: str, status: str, retry: bool):
        asked.append((run_id, retry))
        return "cancel"

    busy = ActiveRunError("Thread is busy.", run_id=other_run)
    resolution = await workspace.resolve_busy(thread_id, busy, "hello", ask)
    await stream.aclose()
    await other.aclose()
    assert asked == [(other_run, False)]
    assert resolution.action == "send"
    assert (await engine.retrieve_run(thread_id, other_run)).status == "cancelled"
    events = await collect(workspace.send(thread_id, "hello"))
    assert events[-1].status == "completed"


async def test_busy_thread_keep_gives_up(workspace: Workspace, local_server: Any):
    prepared = await workspace.prepare_send("hi")
    thread_id = prepared.thread.thread_id
    other = AssistantsEngine(local_server.base_url, "other")
    stream = other.run(thread_id, workspace.assistant.id, "/long")
    async for event in stream:
        if isinstance(event, ev.RunStarted):
            break

    async def keep(run_id: str, status: str, retry: bool):
        return "keep"

    resolution = await workspace.resolve_busy(
        thread_id, ActiveRunError("busy", run_id=""), "hi", keep
    )
    assert resolution.action == "give_up"
    assert workspace.mark_unsent("hi", thread_id) == thread_id
    assert workspace.can_retry()
    assert workspace.take_unsent("hi") == "hi"
    assert not workspace.can_retry()
    await workspace.session.cancel_and_wait(thread_id, resolution.run_id)
    await stream.aclose()
    await other.aclose()


async def start_elsewhere(workspace: Workspace, local_server: Any, thread_id: str):
    """Another client starts a long run on the thread; returns its engine, stream, run id."""
    other = AssistantsEngine(local_server.base_url, "other")
    stream = other.run(thread_id, workspace.assistant.id, "/long")
    async for event in stream:
        if isinstance(event, ev.RunStarted):
            return other, stream, event.run_id
    raise AssertionError("the other run did not start")


async def test_a_message_meeting_another_run_follows_it_then_goes_again(
    workspace: Workspace, local_server: Any
):
    """The whole flow, as the screen gets it: the question, the other run's reply, then
    the message sent again and answered."""
    thread_id = (await workspace.prepare_send("hello")).thread.thread_id
    other, stream, other_run = await start_elsewhere(workspace, local_server, thread_id)
    asked: list[tuple[str, bool]] = []

    async def follow(run_id: str, status: str, retry: bool):
        asked.append((run_id, retry))
        return "follow"

    workspace.ask_busy = follow
    steps = [(live.run_id if live else None, step)
             async for live, step in workspace.exchange("hello")]
    await stream.aclose()
    await other.aclose()
    kinds = [type(step).__name__ for _, step in steps]
    assert asked == [(other_run, False)]
    # Our first try ends before a run exists; the other run is followed to its end; then
    # the message goes again and is answered.
    assert kinds[:2] == ["TurnStarted", "TurnEnded"]
    assert steps[2][1] == ws.Noted("info", f"following run {other_run}")
    again = kinds.index("SentAgain")
    followed = [step for run_id, step in steps[3:again] if run_id == other_run]
    assert isinstance(followed[-2], ev.RunCompleted) and followed[-2].status == "completed"
    ours = steps[again + 1:]
    assert isinstance(ours[-2][1], ev.RunCompleted) and ours[-2][1].status == "completed"
    assert ours[-2][0] not in ("", other_run)
    assert not any(isinstance(step, ws.NotSent | ws.TurnBroke) for _, step in steps)
    page = await workspace.engine.list_messages(thread_id, limit=10)
    assert [m.text for m in page.messages if m.role == "user"] == ["/long", "hello"]


async def test_a_retry_meeting_another_run_stays_retryable(
    workspace: Workspace, local_server: Any
):
    """Without anyone to ask (``ask_busy`` unset) nothing runs, and F9 can try again."""
    thread_id = (await workspace.prepare_send("hello")).thread.thread_id
    other, stream, _ = await start_elsewhere(workspace, local_server, thread_id)
    steps = [step async for _, step in workspace.exchange("", thread_id=thread_id)]
    assert isinstance(steps[-1], ws.NotSent) and steps[-1].thread_id == thread_id
    assert workspace.retryable[thread_id] == "busy" and workspace.can_retry()
    await stream.aclose()
    await other.aclose()


async def test_a_message_that_cannot_start_a_thread_is_not_sent(start_server: Any,
                                                               tmp_path: Path):
    server = start_server()
    store = Store.open(tmp_path / "threads.sqlite3")
    engine = AssistantsEngine(server.base_url, SECRET)
    space = Workspace(store, Profile(name="ws", base_url=server.base_url, secret=SECRET),
                      Settings(), engine)
    space.use_assistant(space.preferred_assistant(await space.list_assistants()))
    server.faults.fail_requests(503, count=2, path_pattern=r"/threads$", method="POST")
    steps = [step async for _, step in space.exchange("keep this")]
    await engine.aclose()
    assert len(steps) == 1 and isinstance(steps[0], ws.NotSent) and "503" in steps[0].reason
    assert space.current is None and space.list_threads() == []
    store.close()


async def test_failed_run_is_retryable_and_rerun_completes(start_server: Any, tmp_path: Path):
    server = start_server()
    server.faults.end_run("failed", on="first")
    store = Store.open(tmp_path / "s.sqlite3")
    engine = AssistantsEngine(server.base_url, "k")
    space = Workspace(store, Profile(name="f", base_url=server.base_url), Settings(), engine)
    space.use_assistant(space.preferred_assistant(await space.list_assistants()))
    try:
        events = await send(space, "hello")
        assert isinstance(events[-1], ev.RunFailed)
        assert space.can_retry()
        again = await collect(space.rerun(space.context()))
        assert again[-1].status == "completed"
        assert not space.can_retry()
        runs = store.list_runs(space.endpoint, space.context())
        assert sorted(r.status for r in runs) == ["completed", "failed"]
    finally:
        await engine.aclose()
        store.close()


async def test_thread_operations_and_adopt(workspace: Workspace, local_server: Any):
    await send(workspace, "first thread")
    thread = workspace.current
    assert thread is not None
    renamed = workspace.rename(thread, "Renamed")
    assert renamed.title == "Renamed" and workspace.current.title == "Renamed"
    assert workspace.set_pinned(renamed, True).pinned
    assert workspace.set_archived(renamed, True).archived
    assert workspace.list_threads() == []
    # A thread made by another program is adopted by id, with a title from its messages.
    other = AssistantsEngine(local_server.base_url, "other")
    made = await other.create_thread()
    await collect(other.run(made, workspace.assistant.id, "Made elsewhere"))
    await other.aclose()
    adopted, added = await workspace.adopt(made)
    assert added and adopted.title == "Made elsewhere"
    assert [t.thread_id for t in workspace.list_threads()] == [made]
    # Delete: gone on the endpoint and here.
    assert await workspace.delete_remote(adopted) == ""
    workspace.forget(adopted)
    assert workspace.get_thread(made) is None
    assert await workspace.delete_remote(adopted) == ""  # already gone counts as deleted


async def test_export_falls_back_to_the_cache(workspace: Workspace, local_server: Any):
    await send(workspace, "Export me")
    thread_id = workspace.context()
    document, reason = await workspace.export(thread_id)
    assert reason == "" and document.source != "cache"
    assert [m.role for m in document.messages] == ["user", "assistant"]
    await workspace.engine.delete_thread(thread_id)
    document, reason = await workspace.export(thread_id)
    assert document.source == "cache" and "no longer has" in reason
    text = render(document, "md", secrets=workspace.secrets())
    assert "Export me" in text and SECRET not in text


async def test_workspace_imports_no_textual():
    code = (
        "import sys, tui_assistant.workspace; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'textual'))"
    )
    proc = await asyncio.create_subprocess_exec(
        "python", "-c", code, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    assert out.decode().strip() == "[]"
