"""Assistants from the app: list, create, edit, delete, and switch the thread's assistant."""

from __future__ import annotations

from tests.support.app import (
    SIZE,
    client_for,
    make_app,
    ready,
    say,
    turn_done,
    wait_for,
)
from tui_assistant.server.models import RunContext
from tui_assistant.store import Store
from tui_assistant.ui.screens.assistants import AssistantEditor, AssistantsScreen
from tui_assistant.ui.screens.dialogs import ConfirmDialog


class EchoInstructions:
    """Replies with the run's instructions, so a test can see what the run was told."""

    async def respond(self, context: RunContext):
        yield f"[{context.instructions}]"


def listed(app) -> list[str]:
    screen = app.screen
    assert isinstance(screen, AssistantsScreen)
    return [a.label for a in screen.assistants]


async def focus_to(pilot, widget_id: str, limit: int = 12) -> None:
    """Press tab until the widget ``widget_id`` has focus (as a user tabs through a form)."""
    for _ in range(limit):
        if pilot.app.focused is not None and pilot.app.focused.id == widget_id:
            return
        await pilot.press("tab")
    raise AssertionError(f"could not tab to #{widget_id}")


async def test_create_edit_use_and_delete_an_assistant(store: Store, start_server) -> None:
    server = start_server(model=EchoInstructions())
    app = make_app(store, server=server)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await say(pilot, "hello")
        await turn_done(pilot, screen, replies=1)
        thread_id = screen.workspace.current.thread_id
        demo_id = screen.workspace.assistant.id

        await pilot.press("f5")
        await wait_for(pilot, lambda: isinstance(app.screen, AssistantsScreen)
                       and listed(app) == ["Demo assistant"], "the list")

        # n: create, with tools, a registered function and a temperature.
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, AssistantEditor), "the editor")
        await pilot.press(*"Calc helper")
        await focus_to(pilot, "model")
        assert app.focused.value == "demo"  # the current assistant's model, to start from
        await focus_to(pilot, "instructions")
        await pilot.press(*"Compute")
        await focus_to(pilot, "code_interpreter")
        await pilot.press("space")
        await focus_to(pilot, "functions")
        await pilot.press("space")  # the first registered function: calculate
        await focus_to(pilot, "temperature")
        await pilot.press(*"5")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "0 to 2" in str(app.screen.query_one("#error").render())  # 5 is refused
        await pilot.press("backspace", *"0.5", "ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, AssistantsScreen)
                       and "Calc helper" in listed(app), "the new assistant")

        client = client_for(server)
        created = next(a for a in (await client.beta.assistants.list()).data
                       if a.name == "Calc helper")
        assert created.instructions == "Compute" and created.temperature == 0.5
        assert [t.type for t in created.tools] == ["code_interpreter", "function"]
        assert created.tools[1].function.name == "calculate"

        # e: edit the highlighted (new) assistant; its settings are filled in.
        assert app.screen.highlighted.label == "Calc helper"
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, AssistantEditor), "the editor")
        assert app.screen.query_one("#temperature").value == "0.5"
        await pilot.press("ctrl+a", "ctrl+k", *"Calculator")
        await focus_to(pilot, "code_interpreter")
        await pilot.press("space")  # drop the code interpreter
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, AssistantsScreen)
                       and "Calculator" in listed(app), "the edit")
        edited = await client.beta.assistants.retrieve(created.id)
        assert edited.name == "Calculator" and [t.type for t in edited.tools] == ["function"]

        # enter: use it for this thread.
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.workspace.assistant is not None
                       and screen.workspace.assistant.id == created.id, "the switch")
        assert "Calculator" in str(screen.header.render())
        assert store.get_thread("local", thread_id).assistant_id == created.id
        await wait_for(pilot, lambda: "Calculator" in screen.threads.assistant_names.values(),
                       "the names in the list")
        await say(pilot, "and now?")
        await turn_done(pilot, screen, replies=2)
        assert screen.conversation.message_views[-1].text == "[Compute]"

        # Opening another thread switches to its assistant; coming back switches back.
        await pilot.press("ctrl+n")
        screen.set_assistant(screen.workspace.known_assistants[demo_id])
        await say(pilot, "demo again")
        await turn_done(pilot, screen, replies=1)
        await pilot.press("alt+2")  # the older thread (the one with Calculator)
        await wait_for(pilot, lambda: screen.workspace.current.thread_id == thread_id
                       and screen.workspace.assistant.id == created.id, "its assistant")

        # delete: asks, then deletes on the endpoint; the thread falls back to another one.
        await pilot.press("f5")
        await wait_for(pilot, lambda: isinstance(app.screen, AssistantsScreen)
                       and len(listed(app)) == 2, "the list")
        app.screen.options.highlighted = listed(app).index("Calculator")
        await pilot.press("delete")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the question")
        await pilot.pause()
        await pilot.press("tab", "enter")  # Cancel has the focus
        await wait_for(pilot, lambda: isinstance(app.screen, AssistantsScreen)
                       and listed(app) == ["Demo assistant"], "the deletion")
        assert created.id not in {a.id for a in (await client.beta.assistants.list()).data}
        await client.close()
        await pilot.press("escape")
        await wait_for(pilot, lambda: screen.workspace.assistant is not None
                       and screen.workspace.assistant.label == "Demo assistant", "the fallback")


async def test_f4_switches_the_assistant_of_the_current_thread(
    store: Store, start_server
) -> None:
    server = start_server()
    client = client_for(server)
    other = await client.beta.assistants.create(model="demo", name="Second opinion")
    demo = next(a for a in (await client.beta.assistants.list()).data
                if a.name == "Demo assistant")
    await client.close()
    app = make_app(store, server=server)

    async def pick(assistant_id: str) -> None:
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "AssistantPicker"
                       and app.focused is not None and app.focused.id == "assistants",
                       "the picker")
        await pilot.pause()
        options = app.screen.query_one("OptionList")
        options.highlighted = options.get_option_index(assistant_id)
        await pilot.press("enter")

    async with app.run_test(size=SIZE) as pilot:
        await pick(demo.id)  # two assistants: the app asks which one at start
        screen = await ready(pilot)
        await say(pilot, "hi")
        await turn_done(pilot, screen, replies=1)
        first = screen.workspace.assistant.id
        assert screen.workspace.assistant.label == "Demo assistant"
        await pilot.press("f4")
        await pick(other.id)
        await wait_for(pilot, lambda: screen.workspace.assistant.id == other.id, "the switch")
        await wait_for(pilot, lambda: store.get_thread(
            "local", screen.workspace.current.thread_id).assistant_id == other.id, "the record")
        assert first != other.id


async def test_extra_instructions_go_with_the_next_run_only(store: Store, start_server) -> None:
    server = start_server(model=EchoInstructions())
    app = make_app(store, server=server)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        base = screen.workspace.assistant.instructions
        await pilot.press("ctrl+r")
        extra = screen.extra_instructions
        assert extra.is_open and app.focused is extra
        await pilot.press(*"Answer in French.", "enter")
        assert app.focused is screen.composer and extra.is_open
        await say(pilot, "bonjour")
        await turn_done(pilot, screen, replies=1)
        assert screen.conversation.message_views[-1].text.endswith("Answer in French.]")
        assert not extra.is_open and extra.value == ""
        await say(pilot, "again")
        await turn_done(pilot, screen, replies=2)
        assert screen.conversation.message_views[-1].text == f"[{base}]"
        # Escape discards what was typed.
        await pilot.press("ctrl+r", *"shout", "escape")
        assert not extra.is_open and extra.value == "" and app.focused is screen.composer
