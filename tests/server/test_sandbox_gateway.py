"""A real model (``ChatModel`` over a scripted upstream): its code runs in the sandbox, or
the code tool is not offered at all when no sandbox is available."""

from __future__ import annotations

import json
import os
import secrets
import socket
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.support.gateway import call_chunks, text_chunks
from tui_assistant.server.chat_model import ChatModel
from tui_assistant.server.sandbox import bubblewrap_problem

HINT = 'set code_interpreter = "unsandboxed" under [local]'


def _client(server: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="local", max_retries=0)


def _ask(client: openai.OpenAI, text: str) -> tuple[Any, Any]:
    assistant = client.beta.assistants.create(model="m1", tools=[{"type": "code_interpreter"}])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": text}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    return thread, run


def test_without_a_sandbox_a_real_model_is_not_offered_the_code_tool(
    upstream: Any, start_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "bin-without-bwrap"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    model = ChatModel(upstream.url, model="m1")
    server = start_server(model=model)  # no flag needed: a model with an upstream is real
    assert server.code_interpreter.mode == "off"
    assert HINT in server.code_interpreter.reason
    assert model.code_interpreter is False
    upstream.script(text_chunks("I cannot run code here."))
    _, run = _ask(_client(server), "Compute 6*7 with code.")
    assert run.status == "completed", run.last_error
    offered = [t["function"]["name"] for t in upstream.requests[0].get("tools") or ()]
    assert "code" not in offered


def test_explicit_opt_in_runs_a_real_models_code_unsandboxed(
    upstream: Any, start_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "bin-without-bwrap"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    server = start_server(model=ChatModel(upstream.url, model="m1"), code_interpreter="unsandboxed")
    assert server.code_interpreter.mode == "unsandboxed"
    upstream.script(
        call_chunks([("call_c", "code", json.dumps({"code": "print(6 * 7)"}))]),
        text_chunks("42."),
    )
    client = _client(server)
    thread, run = _ask(client, "Compute 6*7 with code.")
    assert run.status == "completed", run.last_error
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    assert steps[0].step_details.tool_calls[0].code_interpreter.outputs[0].logs == "42\n"


@pytest.mark.skipif(
    bubblewrap_problem() is not None,
    reason=f"bubblewrap cannot be used here: {bubblewrap_problem()}",
)
def test_a_real_models_code_runs_inside_bubblewrap(
    upstream: Any, start_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = secrets.token_hex(16)
    monkeypatch.setenv("TUI_ASSISTANT_SENTINEL_KEY", secret)
    sentinel = Path(os.path.expanduser("~")) / f".tui-assistant-sentinel-{secrets.token_hex(4)}"
    sentinel.write_text(secret)
    server = start_server(model=ChatModel(upstream.url, model="m1"))
    assert server.code_interpreter.mode == "bubblewrap"
    try:
        with socket.create_server(("127.0.0.1", 0)) as listener:
            listener.setblocking(False)
            code = (
                "import os, socket\n"
                "try:\n"
                f"    socket.create_connection(('127.0.0.1', {listener.getsockname()[1]}), 3)\n"
                "except OSError as exc:\n"
                "    print('network:', type(exc).__name__)\n"
                f"print('home:', os.path.exists({str(sentinel)!r}))\n"
                "print('env:', os.environ.get('TUI_ASSISTANT_SENTINEL_KEY'))\n"
            )
            upstream.script(
                call_chunks([("call_c", "code", json.dumps({"code": code}))]),
                text_chunks("Done."),
            )
            client = _client(server)
            thread, run = _ask(client, "Probe the machine with code.")
            with pytest.raises(BlockingIOError):
                listener.accept()
    finally:
        sentinel.unlink()
    assert run.status == "completed", run.last_error
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    logs = steps[0].step_details.tool_calls[0].code_interpreter.outputs[0].logs
    assert logs == "network: ConnectionRefusedError\nhome: False\nenv: None\n"
    assert secret not in upstream.requests[1]["messages"][-1]["content"]
