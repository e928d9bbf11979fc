"""``--base-url`` to an endpoint without a key (issue 12, "Also").

Many local servers need no key; the app used to refuse to start (``no API key for profile
'command-line'``). Now it connects; only an endpoint that answers 401 gets a message that
a key is needed and how to give one, and an unreachable endpoint says what to check.
Real local servers on 127.0.0.1, the real SDK, and the installed script in a pty.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.support.pty import PtyApp, app_env
from tui_assistant.backend import connect
from tui_assistant.config import load_settings, resolve_profile
from tui_assistant.errors import AuthError, EndpointUnreachable

SERVER_TOKEN = "server-token-7731"


def _profile(base_url: str):
    settings = load_settings()
    return resolve_profile(settings, base_url=base_url).with_key({}), settings


def test_app_with_base_url_and_no_key_talks_to_a_keyless_server(
    tmp_path: Path, local_server
):
    app = PtyApp(["--base-url", local_server.base_url], app_env(tmp_path))
    try:
        app.wait_for("● ready")
        app.write(b"keyless giraffe\r")
        app.wait_for("giraffe: 7 letters")  # the server's demo model answered
    finally:
        app.close()
    assert "no API key" not in app.text


async def test_connect_without_key_lists_the_assistants(local_server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    profile, settings = _profile(local_server.base_url)
    connection = await connect(profile, settings)
    try:
        assistants = await connection.engine.list_assistants()
        assert [a.name for a in assistants] == ["Demo assistant"]
    finally:
        await connection.close()


async def test_endpoint_that_wants_a_key_says_so(start_server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    server = start_server(bearer_token=SERVER_TOKEN)
    profile, settings = _profile(server.base_url)
    with pytest.raises(AuthError) as caught:
        await connect(profile, settings)
    message = caught.value.message
    assert "needs an API key" in message and "OPENAI_API_KEY" in message
    assert "\n" not in message and SERVER_TOKEN not in message


async def test_a_wrong_key_is_still_called_refused(start_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-1234")
    server = start_server(bearer_token=SERVER_TOKEN)
    settings = load_settings()
    profile = resolve_profile(settings, base_url=server.base_url).with_key()
    with pytest.raises(AuthError) as caught:
        await connect(profile, settings)
    assert "refused the API key" in caught.value.message
    assert "sk-wrong-1234" not in caught.value.message


async def test_unreachable_endpoint_says_what_to_check(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}/v1"
    profile, settings = _profile(base_url)
    with pytest.raises(EndpointUnreachable) as caught:
        await connect(profile, settings)
    message = caught.value.message
    assert "connection refused" in message
    assert base_url in message and "server is running" in message
