"""The demo model does not search files for an assistant whose file search is off
(issue 12, "Also")."""

from __future__ import annotations

from tests.support.files import ask_with_file


async def test_demo_does_not_search_when_the_assistant_has_file_search_off(openai_client):
    plain = await openai_client.beta.assistants.create(model="demo", tools=[])
    _, steps, text = await ask_with_file(openai_client, plain.id, "When does it open?")
    assert [s.type for s in steps] == ["message_creation"]  # no file_search step
    assert not text.annotations
    assert "file search turned off" in text.value
