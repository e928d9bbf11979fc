"""cli.py: help text, one-line errors with exit status 2, and what each command starts."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import types
from pathlib import Path

import pytest

from tui_assistant import cli, paths
from tui_assistant.config import Profile, Settings
from tui_assistant.errors import EndpointUnreachable
from tui_assistant.store import Store

SENTINEL_KEY = "sk-test-SENTINEL-cli-9876543210"
FILE_KEY = "sk-test-FILEKEY-0000000000"


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "tui-home"
    monkeypatch.setenv("TUI_ASSISTANT_HOME", str(root))
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "WORK_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    return root


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m tui_assistant ARGS`` with the test's environment (plus ``env``)."""
    return subprocess.run(
        [sys.executable, "-m", "tui_assistant", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def write_config(home: Path, text: str, mode: int = 0o600) -> Path:
    path = home / "config" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


# --- Help -------------------------------------------------------------------------------


def test_help_documents_everything(home: Path) -> None:
    result = run("--help")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    text = result.stdout
    for expected in (
        "usage: tui-assistant",
        "--profile NAME",
        "--base-url URL",
        "--assistant ID",
        "--config PATH",
        "serve",
        "config",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "TUI_ASSISTANT_HOME",
        "built-in",
        "offline",
        '"local"',
        "[profiles.NAME]",
        "api_key_env",
        "api_key_command",
        "chmod 600",
        str(home / "config" / "config.toml"),
    ):
        assert expected in text, expected
    assert not home.exists()  # showing paths creates nothing


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["serve", "--help"], ["--host", "--port", "--token", "--delay", "--db"]),
        (["config", "--help"], ["--init", "never keys"]),
    ],
)
def test_subcommand_help(args: list[str], expected: list[str]) -> None:
    result = run(*args)
    assert result.returncode == 0
    for word in expected:
        assert word in result.stdout


def test_version(capsys) -> None:
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("tui-assistant 0.")


# --- Bad input --------------------------------------------------------------------------


BAD_INPUTS = {
    "unknown subcommand": (["bogus"], "invalid choice: 'bogus'"),
    "unknown flag": (["--frobnicate"], "unrecognized arguments: --frobnicate"),
    "flag without value": (["--profile"], "expected one argument"),
    "unknown profile": (["--profile", "nope"], "unknown profile 'nope'"),
    "ftp url": (["--base-url", "ftp://example.com"], "--base-url must start with http"),
    "url without scheme": (["--base-url", "example.com/v1"], "--base-url must start with http"),
    "url with password": (["--base-url", "https://u:pw@h.example/v1"], "user name or password"),
    "empty assistant": (["--assistant", ""], "--assistant must not be empty"),
    "missing config": (["--config", "/nonexistent/tui.toml"], "config file not found"),
    "bad port": (["serve", "--port", "abc"], "argument --port: not a port number"),
    "port out of range": (["serve", "--port", "70000"], "port must be 0-65535"),
    "negative delay": (["serve", "--delay", "-1"], "must be a number of seconds >= 0"),
    "unknown serve flag": (["serve", "--colour"], "unrecognized arguments: --colour"),
    "unknown config flag": (["config", "--bogus"], "unrecognized arguments: --bogus"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_line_and_exit_2(case: str) -> None:
    args, expected = BAD_INPUTS[case]
    result = run(*args)
    assert result.returncode == 2, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tui-assistant: error: ")
    assert expected in lines[0]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("text", "mode", "expected"),
    [
        ("[profiles.work\n", 0o600, "invalid TOML"),
        ("colour = 1\n", 0o600, "unknown key 'colour'"),
        ('default_profile = "gone"\n', 0o600, "default_profile 'gone' is not a profile"),
        (
            f'[profiles.w]\nbase_url = "https://h.example/v1"\napi_key = "{FILE_KEY}"\n',
            0o644,
            "readable by others: chmod 600",
        ),
    ],
)
@pytest.mark.parametrize("command", [[], ["config"], ["serve"]])
def test_bad_config_file_is_one_line(
    home: Path, text: str, mode: int, expected: str, command: list[str]
) -> None:
    if os.name == "nt" and mode != 0o600:
        pytest.skip("POSIX file modes")
    path = write_config(home, text, mode)
    result = run(*command)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert lines[0].startswith(f"tui-assistant: error: {path}: ")
    assert expected in lines[0]
    assert FILE_KEY not in result.stderr


def test_bad_env_base_url_is_one_line() -> None:
    result = run(env={"OPENAI_BASE_URL": "localhost:8080"})
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("tui-assistant: error: OPENAI_BASE_URL must start with")


def test_unusable_data_dir_is_one_line(home: Path) -> None:
    home.mkdir()
    (home / "data").write_text("a file where the data directory should be")
    result = run()
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("tui-assistant: error: cannot create directory")


# --- config -----------------------------------------------------------------------------


def test_config_shows_profiles_and_never_keys(home: Path) -> None:
    write_config(
        home,
        'default_profile = "work"\n'
        '[profiles.work]\nbase_url = "https://assistants.example.com/v1"\n'
        'api_key_env = "WORK_API_KEY"\nassistant_id = "asst_123"\n'
        'headers = { "X-Team" = "blue", "Authorization" = "Bearer ' + FILE_KEY + '" }\n'
        '[profiles.vault]\nbase_url = "https://v.example/v1"\napi_key = "' + FILE_KEY + '"\n',
    )
    env = {
        "OPENAI_API_KEY": SENTINEL_KEY,
        "WORK_API_KEY": SENTINEL_KEY,
        "OPENAI_BASE_URL": "https://gateway.example.org/v1",
    }
    result = run("config", env=env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert SENTINEL_KEY not in out + result.stderr
    assert FILE_KEY not in out + result.stderr
    assert str(home / "config" / "config.toml") in out
    for expected in (
        "local",
        "https://assistants.example.com/v1",
        "$WORK_API_KEY (set)",
        "asst_123",
        "X-Team, Authorization",
        "key: config file",
        "https://gateway.example.org/v1",
        "used without flags: env",
    ):
        assert expected in out, expected


def test_config_without_a_file_says_how_to_create_one(home: Path) -> None:
    result = run("config")
    assert result.returncode == 0
    assert "not found" in result.stdout and "config --init" in result.stdout
    assert "used without flags: local (local)" in result.stdout


def test_config_init_writes_a_private_example_once(home: Path) -> None:
    path = home / "config" / "config.toml"
    first = run("config", "--init")
    assert first.returncode == 0, first.stderr
    assert f"wrote {path}" in first.stdout
    if os.name != "nt":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    content = path.read_text()
    path.write_text(content + "# mine\n")
    second = run("config", "--init")
    assert second.returncode == 0
    assert "already exists" in second.stdout
    assert path.read_text().endswith("# mine\n")


def test_config_init_at_an_explicit_path(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "tui.toml"
    assert cli.main(["config", "--init", "--config", str(target)]) == 0
    assert target.exists()
    assert cli.main(["--config", str(target), "config"]) == 0


# --- Starting the app (with a stand-in UI) ----------------------------------------------


@pytest.fixture
def fake_launch(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    calls: list[dict] = []

    def launch(*, settings: Settings, profile: Profile, store: Store, connector=None) -> int:
        store.add_thread(profile.endpoint_key, "thread_from_ui", "asst")  # the store is open
        calls.append({"settings": settings, "profile": profile, "store": store,
                      "connector": connector})
        return 0

    module = types.ModuleType("tui_assistant.ui.app")
    module.launch = launch  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tui_assistant.ui.app", module)
    return calls


def test_app_starts_with_the_local_profile_and_an_open_store(fake_launch: list[dict]) -> None:
    assert cli.main([]) == 0
    (call,) = fake_launch
    assert call["profile"].is_local and call["profile"].name == "local"
    assert call["settings"].source is None
    store = call["store"]
    assert store.path == paths.store_path()
    with Store.open(store.path) as reopened:  # committed, then closed by main
        assert reopened.get_thread("local", "thread_from_ui") is not None
    with pytest.raises(Exception):  # noqa: B017 - closed after launch returns
        store.list_threads("local")


def test_app_gets_a_remote_profile_with_its_key_in_memory(
    fake_launch: list[dict], monkeypatch, capsys
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SENTINEL_KEY)
    code = cli.main(["--base-url", "https://h.example/v1", "--assistant", "asst_7"])
    assert code == 0
    profile = fake_launch[0]["profile"]
    assert profile.base_url == "https://h.example/v1"
    assert profile.assistant_id == "asst_7"
    assert profile.api_key({}) == SENTINEL_KEY
    assert SENTINEL_KEY not in repr(profile)
    captured = capsys.readouterr()
    assert SENTINEL_KEY not in captured.out + captured.err
    store_files = list(paths.data_dir().glob("threads.sqlite3*"))
    assert store_files  # the stand-in UI saved a thread for this endpoint
    for path in store_files:
        assert SENTINEL_KEY.encode() not in path.read_bytes()


def test_app_start_error_is_one_line(monkeypatch, capsys) -> None:
    def launch(**kwargs) -> int:
        raise EndpointUnreachable("nothing answered at http://127.0.0.1:9/v1")

    module = types.ModuleType("tui_assistant.ui.app")
    module.launch = launch  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tui_assistant.ui.app", module)
    assert cli.main([]) == 2
    err = capsys.readouterr().err
    assert err == "tui-assistant: error: nothing answered at http://127.0.0.1:9/v1\n"


# --- serve (with a stand-in server) -----------------------------------------------------


@pytest.fixture
def fake_serve(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    calls: list[dict] = []

    def serve(
        host="127.0.0.1", port=8080, db_path=None, *, bearer_token=None, token_delay=0.02,
        faults=(), code_interpreter="auto",
    ):
        call = dict(host=host, port=port, db_path=db_path, token=bearer_token, delay=token_delay)
        if faults:
            call["faults"] = list(faults)
        if code_interpreter != "auto":
            call["code_interpreter"] = code_interpreter
        calls.append(call)
        return 0

    module = types.ModuleType("tui_assistant.server.runtime")
    module.serve = serve  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tui_assistant.server.runtime", module)
    return calls


def test_serve_defaults(fake_serve: list[dict], home: Path) -> None:
    assert cli.main(["serve"]) == 0
    assert fake_serve == [
        dict(
            host="127.0.0.1",
            port=8080,
            db_path=home / "data" / "local-server.sqlite3",
            token=None,
            delay=0.02,
        )
    ]


def test_serve_options(fake_serve: list[dict], tmp_path: Path) -> None:
    db = tmp_path / "srv.sqlite3"
    args = ["serve", "--host", "::1", "--port", "0", "--token", "t0k", "--delay", "0"]
    assert cli.main([*args, "--db", str(db)]) == 0
    assert fake_serve[0] == dict(host="::1", port=0, db_path=db, token="t0k", delay=0.0)


def test_serve_passes_fault_specs(fake_serve: list[dict]) -> None:
    args = ["serve", "--fault", "drop_stream,after_events=5", "--fault", "stall,seconds=1"]
    assert cli.main(args) == 0
    assert fake_serve[0]["faults"] == ["drop_stream,after_events=5", "stall,seconds=1"]


def test_serve_delay_from_config(fake_serve: list[dict], home: Path) -> None:
    write_config(home, "[local]\ntoken_delay = 0.5\n")
    assert cli.main(["serve"]) == 0
    assert fake_serve[0]["delay"] == 0.5


def test_serve_code_interpreter_from_option_and_config(fake_serve: list[dict], home: Path) -> None:
    assert cli.main(["serve", "--code-interpreter", "bubblewrap"]) == 0
    write_config(home, '[local]\ncode_interpreter = "unsandboxed"\n')
    assert cli.main(["serve"]) == 0
    assert cli.main(["serve", "--code-interpreter", "auto"]) == 0  # the option wins
    assert [c.get("code_interpreter", "auto") for c in fake_serve] == [
        "bubblewrap",
        "unsandboxed",
        "auto",
    ]


def test_serve_leaves_the_token_to_the_server(fake_serve: list[dict], capsys) -> None:
    assert cli.main(["serve", "--host", "0.0.0.0"]) == 0
    assert fake_serve[0]["host"] == "0.0.0.0" and fake_serve[0]["token"] is None
    assert capsys.readouterr().err == ""
