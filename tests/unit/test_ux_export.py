"""Markdown exports turn citation marks into footnotes (issue 12, "Also")."""

from __future__ import annotations

import json

from tests.support.files import ask_with_file
from tui_assistant.engines.assistants import AssistantsEngine
from tui_assistant.export import collect, to_json, to_markdown


async def test_markdown_export_has_footnotes_not_citation_marks(openai_client, local_server):
    demo = (await openai_client.beta.assistants.list()).data[0]  # file search is on
    thread_id, _, text = await ask_with_file(openai_client, demo.id, "When does it open?")
    assert "【" in text.value and text.annotations  # the server cites

    engine = AssistantsEngine(local_server.base_url, "test")
    try:
        export = await collect(engine, thread_id)
    finally:
        await engine.aclose()
    markdown = to_markdown(export)
    assert "【" not in markdown and "†" not in markdown
    assert "[1]" in markdown
    assert "- [1] handbook.txt (cited)" in markdown
    (message,) = [m for m in json.loads(to_json(export))["messages"] if m["role"] == "assistant"]
    assert message["annotations"][0]["file_name"] == "handbook.txt"
    assert message["annotations"][0]["type"] == "file_citation"
