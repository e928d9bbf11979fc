"""Choosing the engine: ``auto`` probes the endpoint; ``--engine`` and profiles name a kind."""

from __future__ import annotations

import pytest

from tests.support.responses import API_KEY
from tui_assistant import backend
from tui_assistant.config import Profile, load_settings, resolve_profile
from tui_assistant.engines import ENGINE_KINDS, choose_engine, create_engine
from tui_assistant.errors import AuthError, ConfigError, NotServedError


async def test_auto_chooses_assistants_on_the_local_server(local_server):
    engine = await choose_engine("auto", base_url=local_server.base_url, api_key="local")
    try:
        assert engine.kind == "assistants"
        assert await engine.list_assistants() is not None
    finally:
        await engine.aclose()


async def test_auto_chooses_responses_where_only_responses_is_served(rserver):
    engine = await choose_engine("auto", base_url=rserver.base_url, api_key=API_KEY)
    try:
        assert engine.kind == "responses"
        thread = await engine.create_thread()
        assert thread.startswith("conv_")
    finally:
        await engine.aclose()
    probed = [(m, p) for m, p, _q, _b in rserver.requests]
    assert ("GET", "/assistants") in probed  # Assistants was asked first
    assert ("GET", "/conversations/conv_tui_probe") in probed
    assert len(rserver.conversations) >= 1 and rserver.requests_to("POST", "/responses")
    # The probe created no response.
    assert all(not body for *_rest, body in rserver.requests_to("POST", "/responses"))


async def test_responses_is_refused_on_an_assistants_only_server(local_server):
    with pytest.raises(NotServedError, match="Conversations"):
        await choose_engine("responses", base_url=local_server.base_url, api_key="local")


async def test_auto_says_when_neither_api_is_served(wire):
    with pytest.raises(NotServedError, match="neither the Assistants API nor Responses"):
        await choose_engine("auto", base_url=wire.base_url, api_key="k")


async def test_auto_stops_at_a_refused_key(rserver):
    with pytest.raises(AuthError):
        await choose_engine("auto", base_url=rserver.base_url, api_key="sk-bad-key-0000")


def test_engine_kinds_are_listed_in_one_place():
    assert ENGINE_KINDS == ("assistants", "responses", "auto")
    with pytest.raises(ConfigError, match="Unknown engine kind"):
        create_engine("telepathy", base_url="http://127.0.0.1:9/v1", api_key="k")


def test_profiles_and_the_flag_name_the_engine(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(
        '[profiles.openai]\nbase_url = "https://api.example.com/v1"\nengine = "responses"\n'
    )
    config.chmod(0o600)
    settings = load_settings(config)
    assert resolve_profile(settings, name="openai").engine == "responses"
    assert resolve_profile(settings, name="openai", engine="auto").engine == "auto"
    assert resolve_profile(settings, base_url="https://h.example/v1").engine == "auto"
    with pytest.raises(ConfigError, match="--engine must be one of"):
        resolve_profile(settings, name="openai", engine="chat")


async def test_connect_reports_the_chosen_kind(rserver, local_server, monkeypatch):
    from tui_assistant.config import Settings
    from tui_assistant.engines.responses import MemoryAssistants

    monkeypatch.setenv("RESP_TEST_KEY", API_KEY)
    profile = Profile(name="r", base_url=rserver.base_url, api_key_env="RESP_TEST_KEY")
    book = MemoryAssistants()
    connection = await backend.connect(profile, Settings(), assistants=book)
    try:
        assert connection.kind == "responses"
        assert connection.engine.assistants is book
    finally:
        await connection.close()
    local = await backend.connect(Profile(name="local"), Settings(), server=local_server)
    try:
        assert local.kind == "assistants"
    finally:
        await local.close()


def test_the_cli_refuses_an_unknown_engine(capsys):
    from tui_assistant.cli import main

    assert main(["--engine", "chat", "--base-url", "http://127.0.0.1:9/v1"]) == 2
    err = capsys.readouterr().err
    assert "--engine must be one of: assistants, responses, auto" in err
    assert "Traceback" not in err
