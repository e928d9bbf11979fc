"""AssistantsEngine's thread and assistant management against the local server."""

from __future__ import annotations

from typing import Any

import pytest

from tui_assistant.engines.assistants import AssistantsEngine
from tui_assistant.engines.base import Engine
from tui_assistant.errors import NotFoundError

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


@pytest.fixture
async def engine(local_server: Any):
    engine = AssistantsEngine(local_server.base_url, "test")
    yield engine
    await engine.aclose()


def test_the_engine_still_meets_the_protocol(engine: AssistantsEngine) -> None:
    assert isinstance(engine, Engine)


async def test_retrieve_and_delete_a_thread(engine: AssistantsEngine) -> None:
    thread_id = await engine.create_thread()
    info = await engine.retrieve_thread(thread_id)
    assert info.id == thread_id and info.created_at > 0
    await engine.delete_thread(thread_id)
    with pytest.raises(NotFoundError, match=thread_id):
        await engine.retrieve_thread(thread_id)
    with pytest.raises(NotFoundError):
        await engine.delete_thread(thread_id)


async def test_edit_and_delete_an_assistant(engine: AssistantsEngine) -> None:
    created = await engine.create_assistant(name="Helper", model="demo", instructions="Help.")
    settings = await engine.assistant_settings(created.id)
    assert (settings.name, settings.model, settings.instructions) == ("Helper", "demo", "Help.")
    assert settings.tools == ()

    updated = await engine.update_assistant(
        created.id,
        name="Weather helper",
        model="demo-2",
        instructions="Say the weather.",
        tools=[{"type": "code_interpreter"}, WEATHER],
        temperature=0.3,
    )
    assert updated.label == "Weather helper" and updated.model == "demo-2"
    assert updated.tools == ("code_interpreter", "function")
    assert updated.function_names == ("get_weather",)
    again = await engine.assistant_settings(created.id)
    assert again.temperature == pytest.approx(0.3)
    assert again.tools[1]["function"]["name"] == "get_weather"
    assert again.tools[1]["function"]["parameters"]["required"] == ["city"]

    # Sending the settings back unchanged keeps them (a round trip loses nothing).
    await engine.update_assistant(
        created.id, name=again.name, model=again.model, instructions=again.instructions,
        tools=again.tools,
    )
    assert (await engine.assistant_settings(created.id)) == again

    await engine.delete_assistant(created.id)
    assert created.id not in {a.id for a in await engine.list_assistants()}
    with pytest.raises(NotFoundError):
        await engine.delete_assistant(created.id)
