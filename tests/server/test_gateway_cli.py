"""``tui-assistant serve --model-url``: the real command, the key kept secret, bad input."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.support.gateway import error_reply, text_chunks
from tui_assistant import cli

SENTINEL = "sk-sentinel-7f3a9c1e5b2d"


def _serve(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui_assistant", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        found = re.search(r"at (http://\S+/v1)$", line.strip())
        if found and line.startswith("Serving"):
            return proc, found.group(1)
    proc.kill()
    raise AssertionError(f"the server did not start: {lines} {proc.stderr.read()}")


def _stop(proc: subprocess.Popen) -> tuple[str, str]:
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    return out, err


def test_serve_model_url_with_a_key_that_is_never_stored_or_logged(
    upstream: Any, tmp_path: Path
) -> None:
    db = tmp_path / "server.sqlite3"
    env = {**os.environ, "GW_TEST_KEY": SENTINEL}
    upstream.script(text_chunks("Hello from upstream."), error_reply(401, "bad key"))
    proc, base_url = _serve(
        [
            "--db",
            str(db),
            "--model-url",
            upstream.url,
            "--model",
            "m2",
            "--model-key-env",
            "GW_TEST_KEY",
        ],
        env,
    )
    try:
        client = openai.OpenAI(base_url=base_url, api_key="local", max_retries=0)
        [assistant] = client.beta.assistants.list().data
        assert assistant.model == "m2"
        thread = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
        run = client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id
        )
        assert run.status == "completed"
        reply = client.beta.threads.messages.list(thread.id).data[0]
        assert reply.content[0].text.value == "Hello from upstream."
        failed = client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id
        )
        assert failed.status == "failed"
        assert "refused the API key (from $GW_TEST_KEY)" in failed.last_error.message
        assert SENTINEL not in failed.last_error.message
        assert [m.id for m in client.models.list().data] == ["m1", "m2"]
    finally:
        out, err = _stop(proc)
    assert upstream.headers[-1]["Authorization"] == f"Bearer {SENTINEL}"
    assert all(h.get("Authorization") == f"Bearer {SENTINEL}" for h in upstream.headers)
    assert SENTINEL not in out and SENTINEL not in err
    assert "refused the API key" in err  # the failure was logged, without the key
    stored = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert stored  # the database was written
    assert SENTINEL.encode() not in stored


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["serve", "--model-url", "ftp://host/v1"], "--model-url must start with http://"),
        (["serve", "--model-url", "http://u:p@host/v1"], "must not contain a user name"),
        (["serve", "--model", "m1"], "--model needs --model-url"),
        (
            ["serve", "--model-url", "http://127.0.0.1:9/v1", "--model-key-env", "GW_UNSET_VAR"],
            "the model key variable GW_UNSET_VAR is not set",
        ),
        (["serve", "--model-url", "http://h/v1", "--context-window", "12"], "at least 256"),
        (["--model-url", "http://h/v1", "--model-key-env", "GW_UNSET_VAR"], "GW_UNSET_VAR"),
        (
            ["--model-url", "http://h/v1", "--base-url", "https://api.example.com/v1"],
            "cannot be used with the remote endpoint https://api.example.com/v1",
        ),
    ],
)
def test_bad_model_options_are_one_line_errors(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    os.environ.pop("GW_UNSET_VAR", None)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("tui-assistant: error: ")
    assert expected in err
    assert "Traceback" not in err


def test_model_settings_from_the_config(upstream: Any, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        "[local]\n"
        f'model_url = "{upstream.url}"\n'
        'model = "m1"\n'
        'model_key_command = "echo sk-from-command"\n'
        "context_window = 4096\n"
    )
    config.chmod(0o600)
    upstream.script(text_chunks("configured"))
    proc, base_url = _serve(["--config", str(config), "--db", str(tmp_path / "s.db")], os.environ)
    try:
        client = openai.OpenAI(base_url=base_url, api_key="local", max_retries=0)
        [assistant] = client.beta.assistants.list().data
        thread = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
        run = client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id
        )
        assert run.status == "completed"
    finally:
        _stop(proc)
    assert upstream.requests[0]["model"] == "m1"
    assert upstream.headers[-1]["Authorization"] == "Bearer sk-from-command"


def test_config_shows_the_model_behind_the_built_in_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[local]\nmodel_url = "http://127.0.0.1:11434/v1"\nmodel = "qwen2.5:7b"\n'
        'model_key_env = "GW_KEY"\n'
    )
    config.chmod(0o600)
    assert cli.main(["config", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "built-in local server → http://127.0.0.1:11434/v1 · qwen2.5:7b  key: $GW_KEY" in out
