"""The app on a Responses + Conversations endpoint (the scripted server), driven by keys.

``auto`` finds no Assistants API there and picks Responses; the header says so. The
assistant is made in the form (its model completes from ``GET /models``) and kept in the
local store; replies stream into the same panes, a function call is answered by hand in
the same modal, Escape cancels, and a failed response is explained and retried with F9.
"""

from __future__ import annotations

import json
from typing import Any

from tests.support.app import (
    SIZE,
    make_app,
    notices,
    ready,
    say,
    shown,
    turn_done,
    wait_for,
)
from tests.support.responses import API_KEY, MODELS, Plan
from tui_assistant.backend import connect
from tui_assistant.config import Profile, Settings
from tui_assistant.store import Store
from tui_assistant.ui.app import TuiAssistantApp
from tui_assistant.ui.screens.assistant_form import AssistantForm
from tui_assistant.ui.screens.tool_call import FunctionCallScreen


def responses_app(store: Store, rserver: Any) -> TuiAssistantApp:
    profile = Profile(name="openai", base_url=rserver.base_url, engine="auto", secret=API_KEY)
    book = store.local_assistants(profile.endpoint_key)

    async def connector(profile: Profile, settings: Settings):
        return await connect(profile, settings, assistants=book)

    app = make_app(store, profile=profile)
    app.connector = connector
    return app


async def create_assistant(pilot) -> None:
    """The form opens (no local assistants yet); the model completes from the endpoint."""
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, AssistantForm), "the form")
    form = app.screen
    assert form.models == sorted(MODELS)
    await pilot.press(*"Tester", "tab", *"gpt-test-m", "right")  # → takes the suggestion
    await pilot.pause()
    await pilot.press("ctrl+s")


async def test_auto_picks_responses_and_a_reply_streams_into_a_saved_conversation(
    store: Store, rserver
) -> None:
    rserver.plan(Plan([("reasoning", ["Weighing ", "a greeting."]),
                       ("text", ["Hello ", "from ", "Responses."], [])]))
    app = responses_app(store, rserver)
    async with app.run_test(size=SIZE) as pilot:
        await create_assistant(pilot)
        screen = await ready(pilot)
        assert "Responses API" in str(screen.header.render())
        assert any("(responses API)" in line for line in screen.activity.entries)
        assistant = screen.workspace.assistant
        assert (assistant.name, assistant.model) == ("Tester", "gpt-test-mini")
        await say(pilot, "hi there")
        await turn_done(pilot, screen, replies=1)
        assert shown(screen) == [("user", "hi there"), ("assistant", "Hello from Responses.")]
        # The reasoning summary is in the tool pane, collapsed; usage names cached and
        # reasoning tokens.
        (entry,) = screen.activity.calls.values()
        assert entry.state.kind == "reasoning" and entry.collapsed
        assert "4 cached, 2 reasoning" in str(screen.header.render())
        thread = screen.workspace.current
        assert thread is not None and thread.thread_id.startswith("conv_")
        assert store.get_thread(screen.workspace.endpoint, thread.thread_id) is not None
        body = rserver.requests_to("POST", "/responses")[-1][3]
        assert body["conversation"] == thread.thread_id and body["model"] == "gpt-test-mini"
        assert body["background"] is True and body["stream"] is True
        # A conversation exports with its messages and the usage this client recorded.
        document, reason = await screen.workspace.export(thread.thread_id)
        assert reason == ""
        assert [m.text for m in document.messages] == ["hi there", "Hello from Responses."]
        assert [r.total_tokens for r in document.runs] == [19]
    # The assistant was kept in the store; the key was not.
    saved = store.list_local_assistants(Profile(name="openai", base_url=rserver.base_url)
                                        .endpoint_key)
    assert [a.name for a in saved] == ["Tester"]
    assert API_KEY.encode() not in open(store.path, "rb").read()


async def test_a_function_call_is_answered_by_hand_and_the_reply_follows(
    store: Store, rserver
) -> None:
    rserver.plan(Plan([("call", "get_weather", '{"city": "Oslo"}')]))
    app = responses_app(store, rserver)
    async with app.run_test(size=SIZE) as pilot:
        await create_assistant(pilot)
        screen = await ready(pilot)
        await say(pilot, "weather?")
        await wait_for(pilot, lambda: isinstance(app.screen, FunctionCallScreen), "the modal")
        await pilot.pause()
        await pilot.press(*'{"sky": "clear"}', "ctrl+s")
        await turn_done(pilot, screen, replies=1)
        assert shown(screen)[-1] == ("assistant", 'The function said: {"sky": "clear"}')
        (entry,) = screen.activity.calls.values()
        record = entry.state
        assert (record.name, record.status, record.outcome) == (
            "get_weather", "completed", "answered")
        outputs = rserver.requests_to("POST", "/responses")[-1][3]["input"]
        assert [(i["type"], json.loads(i["output"])) for i in outputs] == [
            ("function_call_output", {"sky": "clear"})]


async def test_escape_cancels_and_a_failed_response_is_retried_with_f9(
    store: Store, rserver
) -> None:
    rserver.plan(
        Plan([("text", ["Half "], []), ("gate", "never")]),
        Plan([("text", ["Oops"], [])], end="failed"),
        Plan([("text", ["Second try."], [])]),
    )
    app = responses_app(store, rserver)
    async with app.run_test(size=SIZE) as pilot:
        await create_assistant(pilot)
        screen = await ready(pilot)
        await say(pilot, "start")
        await wait_for(pilot, lambda: any(v.text == "Half " for v in
                                          screen.conversation.message_views), "half a reply")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not screen.workspace.live, "the cancel")
        await pilot.app.workers.wait_for_complete()
        assert any("cancelled" in n.lower() for n in notices(screen))
        await say(pilot, "again")
        await wait_for(pilot, lambda: any("failed" in n for n in notices(screen)), "the failure")
        await wait_for(pilot, lambda: screen.workspace.can_retry(), "F9 to be offered")
        assert any("F9 runs the assistant again" in n for n in notices(screen))
        await pilot.press("f9")
        await wait_for(pilot, lambda: ("assistant", "Second try.") in shown(screen), "the retry")


async def test_hosted_tools_a_cut_stream_and_an_incomplete_reply_in_the_panes(
    store: Store, rserver, tmp_path
) -> None:
    """Code interpreter code and logs and a file search land in the tool pane; a citation
    becomes a footnote; a stream cut midway is resumed with the reply shown once; an
    incomplete response says why it stopped."""
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=rserver.base_url, api_key=API_KEY, max_retries=0)
    source = tmp_path / "policy.txt"
    source.write_text("Refunds take 30 days.")
    with source.open("rb") as handle:
        uploaded = await client.files.create(file=handle, purpose="assistants")
    await client.close()
    words = [f"word{n} " for n in range(12)]
    rserver.plan(
        Plan([("code", ["print(", "6 * 7)"], "42\n"), ("text", ["The answer ", "is 42."], [])]),
        Plan([("text", words, [])], cut_after=8),
        Plan([("search", ["refund time"], [{"file_id": uploaded.id, "filename": "policy.txt",
                                            "score": 0.91, "text": "Refunds take 30 days."}]),
              ("text", ["Refunds take 30 days."],
               [{"type": "file_citation", "file_id": uploaded.id, "filename": "policy.txt",
                 "index": 21}])]),
        Plan([("text", ["Cut sh"], [])], end="incomplete", reason="max_output_tokens"),
    )
    app = responses_app(store, rserver)
    async with app.run_test(size=SIZE) as pilot:
        await create_assistant(pilot)
        screen = await ready(pilot)
        for turn, text in enumerate(("compute", "long one", "how long?", "more"), start=1):
            await say(pilot, text)
            await turn_done(pilot, screen, replies=turn)
        answer, long_one, cited, cut = [reply for role, reply in shown(screen)
                                        if role == "assistant"]
        assert (answer, long_one, cut) == ("The answer is 42.", "".join(words), "Cut sh")
        assert cited.startswith("Refunds take 30 days.[1]") and "[1] policy.txt" in cited
        records = [entry.state for entry in screen.activity.calls.values()]
        assert [(r.kind, r.input, r.output) for r in records if r.kind == "code_interpreter"] \
            == [("code_interpreter", "print(6 * 7)", "42\n")]
        (search,) = [r for r in records if r.kind == "file_search"]
        assert search.input == "refund time" and search.status == "completed"
        assert any("stopped early (max_output_tokens)" in n for n in notices(screen))
    resumed = [q for _m, path, q, _b in rserver.requests if path.startswith("/responses/resp_")
               and q.get("stream") == "true"]
    assert resumed and resumed[0]["starting_after"] == "8"
