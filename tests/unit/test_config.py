"""config.py: loading config.toml, resolving the profile, and keeping keys out of sight."""

from __future__ import annotations

import dataclasses
import os
import pickle
import shlex
import stat
import sys
from pathlib import Path

import pytest

from tui_assistant import config as config_module
from tui_assistant.config import (
    LOCAL_PROFILE,
    Profile,
    Secret,
    Settings,
    load_settings,
    resolve_profile,
    validate_base_url,
    write_default_config,
)
from tui_assistant.errors import ConfigError

SENTINEL_KEY = "sk-test-SENTINEL-0123456789"

EXAMPLE = """\
default_profile = "local"
theme = "textual-dark"
[keymap]
"thread.next" = "ctrl+down"
[local]
token_delay = 0.05
[profiles.work]
base_url = "https://assistants.example.com/v1"
api_key_env = "WORK_API_KEY"
assistant_id = "asst_123"
headers = { "X-Team" = "blue" }
[profiles.lab]
base_url = "http://127.0.0.1:8080/v1"
"""

posix_only = pytest.mark.skipif(os.name == "nt", reason="POSIX file modes")


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUI_ASSISTANT_HOME", str(tmp_path / "tui-home"))
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "WORK_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def write(tmp_path: Path, text: str, mode: int = 0o600, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def py_command(code: str) -> str:
    """A key command line that runs ``code`` with this interpreter."""
    return shlex.join([sys.executable, "-c", code])


def assert_one_line(exc: BaseException) -> str:
    text = str(exc)
    assert text and "\n" not in text
    return text


# --- Loading ----------------------------------------------------------------------------


def test_missing_file_gives_defaults(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "absent.toml")
    assert settings.profiles == {"local": LOCAL_PROFILE}
    assert settings.default_profile == "local"
    assert settings.keymap == {}
    assert settings.theme is None
    assert settings.demo_token_delay == 0.02
    assert settings.allowed_dir is None
    assert settings.source is None


def test_default_path_is_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "tui-home" / "config" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text('theme = "nord"\n')
    settings = load_settings()
    assert settings.theme == "nord"
    assert settings.source == path


def test_example_file_loads(tmp_path: Path) -> None:
    path = write(tmp_path, EXAMPLE)
    settings = load_settings(path)
    assert settings.source == path
    assert settings.theme == "textual-dark"
    assert settings.keymap == {"thread.next": "ctrl+down"}
    assert settings.demo_token_delay == 0.05
    assert list(settings.profiles) == ["local", "work", "lab"]
    work = settings.profiles["work"]
    assert work == Profile(
        name="work",
        base_url="https://assistants.example.com/v1",
        api_key_env="WORK_API_KEY",
        assistant_id="asst_123",
        headers={"X-Team": "blue"},
    )
    assert not work.is_local
    assert settings.profiles["local"].is_local


def test_local_section_can_name_an_assistant(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, '[local]\nassistant_id = "asst_local"\n'))
    assert settings.profiles["local"].assistant_id == "asst_local"
    assert settings.profiles["local"].is_local


def test_allowed_dir_expands_home(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    settings = load_settings(write(tmp_path, 'allowed_dir = "~/projects"\n'))
    assert settings.allowed_dir == str(tmp_path / "projects")


def test_profile_without_base_url_is_local(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, '[profiles.demo]\nassistant_id = "asst_9"\n'))
    assert settings.profiles["demo"].is_local
    assert settings.profiles["demo"].endpoint_key == "local"


def test_settings_always_have_the_local_profile() -> None:
    work = Profile(name="work", base_url="https://h.example/v1")
    settings = Settings(profiles={"work": work})
    assert settings.profiles["local"] == LOCAL_PROFILE
    assert settings.profiles["work"] == work
    assert Settings().profiles == {"local": LOCAL_PROFILE}


def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path)
    assert str(tmp_path) in assert_one_line(info.value)


def test_unreadable_file_is_one_line(tmp_path: Path, monkeypatch) -> None:
    path = write(tmp_path, EXAMPLE)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(config_module, "open", refuse, raising=False)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    text = assert_one_line(info.value)
    assert str(path) in text and "Permission denied" in text


@posix_only
@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads anything")
def test_unreadable_file_by_mode(tmp_path: Path) -> None:
    path = write(tmp_path, EXAMPLE, mode=0o000)
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(path)


def test_invalid_toml_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, 'theme = "nord"\n[profiles.work\nbase_url = 1\n')
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    text = assert_one_line(info.value)
    assert text.startswith(f"{path}: invalid TOML")
    assert "line 2" in text


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b'theme = "\xff\xfe"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_settings(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("colour = 1\n", "unknown key 'colour'"),
        ("[local]\ndelay = 1\n", "unknown key 'local.delay'"),
        ('[profiles.work]\nbase_url = "http://h/v1"\nbaseurl = "x"\n', "profiles.work.baseurl"),
        ("theme = 3\n", "theme must be a string, not an integer"),
        ("theme = ''\n", "theme must not be empty"),
        ('[local]\ntoken_delay = "fast"\n', "local.token_delay must be a number"),
        ("[local]\ntoken_delay = -1\n", "local.token_delay must be a number of seconds >= 0"),
        ("[local]\ntoken_delay = true\n", "local.token_delay must be a number"),
        ("local = 1\n", "[local] must be a table"),
        ("profiles = 1\n", "[profiles] must be a table"),
        ("[profiles]\nwork = 1\n", "[profiles.work] must be a table"),
        ("[profiles.work]\nbase_url = 1\n", "profiles.work.base_url must be a string"),
        ('[profiles.work]\nheaders = "x"\n', "profiles.work.headers must be a table"),
        ("[profiles.work]\nheaders = { X-A = 1 }\n", "profiles.work.headers.X-A must be a string"),
        ('[profiles.work]\nheaders = { "a b" = "c" }\n', "not a valid header name"),
        ('[profiles.work]\nengine = "telepathy"\n', "profiles.work.engine must be one of"),
        ("[keymap]\nquit = 1\n", "keymap.quit must be a string"),
        ("[keymap]\nquit = ''\n", "keymap.quit must not be empty"),
        ('[profiles.local]\nbase_url = "http://h/v1"\n', "'local' is reserved"),
        ('[profiles.env]\nbase_url = "http://h/v1"\n', "'env' is reserved"),
        ('[profiles."a b"]\nbase_url = "http://h/v1"\n', "may use only letters"),
        ('default_profile = "nope"\n', "default_profile 'nope' is not a profile (known: local)"),
        ('[profiles.w]\nbase_url = "ftp://h"\n', "profiles.w.base_url must start with http"),
        ('[profiles.w]\nassistant_id = ""\n', "profiles.w.assistant_id must not be empty"),
        (
            '[profiles.w]\napi_key = "k"\napi_key_command = "pass x"\n',
            "both api_key and api_key_command",
        ),
    ],
)
def test_invalid_settings_are_one_line_naming_the_file(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = assert_one_line(info.value)
    assert message.startswith(f"{path}: ")
    assert expected in message


def test_a_key_pasted_into_api_key_env_is_not_echoed(tmp_path: Path) -> None:
    path = write(tmp_path, f'[profiles.w]\napi_key_env = "{SENTINEL_KEY}"\n', mode=0o644)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = assert_one_line(info.value)
    assert "name of an environment variable" in message
    assert SENTINEL_KEY not in message


# --- Resolution -------------------------------------------------------------------------


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(write(tmp_path, EXAMPLE.replace('"local"', '"work"', 1)))


def test_default_is_local_without_anything() -> None:
    profile = resolve_profile(Settings(), env={})
    assert profile is LOCAL_PROFILE
    assert profile.is_local and profile.endpoint_key == "local"


def test_default_profile_from_the_file(settings: Settings) -> None:
    assert settings.default_profile == "work"
    assert resolve_profile(settings, env={}).name == "work"


def test_env_base_url_beats_default_profile(settings: Settings) -> None:
    env = {"OPENAI_BASE_URL": "https://gateway.example.org/v1", "OPENAI_API_KEY": "k-env"}
    profile = resolve_profile(settings, env=env)
    assert profile.name == "env"
    assert profile.base_url == "https://gateway.example.org/v1"
    assert profile.api_key_env == "OPENAI_API_KEY"
    assert profile.api_key(env) == "k-env"


def test_empty_env_base_url_is_ignored(settings: Settings) -> None:
    assert resolve_profile(settings, env={"OPENAI_BASE_URL": " "}).name == "work"


def test_profile_flag_beats_env(settings: Settings) -> None:
    env = {"OPENAI_BASE_URL": "https://gateway.example.org/v1"}
    assert resolve_profile(settings, name="lab", env=env).name == "lab"
    assert resolve_profile(settings, name="local", env=env).is_local


def test_base_url_flag_beats_everything(settings: Settings) -> None:
    env = {"OPENAI_BASE_URL": "https://gateway.example.org/v1"}
    profile = resolve_profile(settings, base_url="http://10.0.0.5:9000/v1", env=env)
    assert profile.name == "command-line"
    assert profile.base_url == "http://10.0.0.5:9000/v1"
    assert profile.api_key_env == "OPENAI_API_KEY"


def test_base_url_flag_with_profile_flag_keeps_the_profile(settings: Settings) -> None:
    profile = resolve_profile(settings, name="work", base_url="https://staging.example.com/v1")
    assert profile.name == "work"
    assert profile.base_url == "https://staging.example.com/v1"
    assert profile.api_key_env == "WORK_API_KEY"
    assert profile.headers == {"X-Team": "blue"}


def test_assistant_flag_replaces_the_profiles(settings: Settings) -> None:
    assert resolve_profile(settings, env={}).assistant_id == "asst_123"
    assert resolve_profile(settings, assistant_id="asst_9", env={}).assistant_id == "asst_9"
    with pytest.raises(ConfigError):
        resolve_profile(settings, assistant_id=" ", env={})


def test_profile_named_env_needs_the_variable(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="OPENAI_BASE_URL"):
        resolve_profile(settings, name="env", env={})
    env = {"OPENAI_BASE_URL": "https://gateway.example.org/v1"}
    assert resolve_profile(settings, name="env", env=env).name == "env"


def test_default_profile_env_in_file(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, 'default_profile = "env"\n'))
    env = {"OPENAI_BASE_URL": "https://gateway.example.org/v1"}
    assert resolve_profile(settings, env=env).name == "env"


def test_unknown_profile_lists_the_known_ones(settings: Settings) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_profile(settings, name="wrok", env={})
    message = assert_one_line(info.value)
    assert "unknown profile 'wrok'" in message
    assert "local, work, lab" in message


def test_unknown_default_profile_in_hand_made_settings() -> None:
    with pytest.raises(ConfigError, match="unknown profile 'gone'"):
        resolve_profile(Settings(default_profile="gone"), env={})


@pytest.mark.parametrize(
    "url",
    [
        "",
        "example.com/v1",
        "ftp://example.com",
        "http://",
        "https:///v1",
        "http://exa mple.com",
        "http://example.com:99999",
        "http://example.com:0/v1",
        "https://example.com/v1?key=abc",
        "https://example.com/v1#frag",
        "https://user:sekrit@example.com/v1",
        "file:///etc/passwd",
    ],
)
def test_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_profile(Settings(), base_url=url, env={})
    message = assert_one_line(info.value)
    assert message.startswith("--base-url")
    assert "sekrit" not in message


def test_malformed_env_url_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="^OPENAI_BASE_URL"):
        resolve_profile(Settings(), env={"OPENAI_BASE_URL": "localhost:8080"})


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("HTTPS://API.Example.COM:443/v1/", "https://api.example.com/v1"),
        ("http://localhost:8080/v1", "http://localhost:8080/v1"),
        ("http://LOCALHOST:80/V1", "http://localhost/V1"),
        ("https://h.example", "https://h.example"),
        ("http://[::1]:8080/v1//", "http://[::1]:8080/v1"),
    ],
)
def test_endpoint_key_is_normalized(url: str, key: str) -> None:
    assert validate_base_url(url) == url
    assert Profile(name="p", base_url=url).endpoint_key == key


# --- Keys -------------------------------------------------------------------------------


def test_key_from_the_named_environment_variable() -> None:
    profile = Profile(name="w", base_url="https://h.example/v1", api_key_env="WORK_API_KEY")
    assert profile.api_key({"WORK_API_KEY": " k1 \n"}) == "k1"
    assert profile.api_key({"WORK_API_KEY": ""}) is None
    assert profile.api_key({}) is None


def test_key_from_os_environ_by_default(monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SENTINEL_KEY)
    assert Profile(name="w", base_url="https://h.example/v1").api_key() == SENTINEL_KEY


def test_local_profile_never_reads_a_key() -> None:
    assert LOCAL_PROFILE.api_key({"OPENAI_API_KEY": SENTINEL_KEY}) is None
    assert LOCAL_PROFILE.with_key({}) is LOCAL_PROFILE


def test_key_from_a_command_beats_the_environment() -> None:
    command = py_command("print('k-from-command'); print('second line')")
    profile = Profile(name="w", base_url="https://h.example/v1", api_key_command=command)
    assert profile.api_key({"OPENAI_API_KEY": "k-env"}) == "k-from-command"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("import sys; print('oops ' + 'sk-leak', file=sys.stderr); sys.exit(3)", "exit status 3"),
        ("pass", "printed nothing"),
    ],
)
def test_failing_key_command_is_one_line(code: str, expected: str) -> None:
    profile = Profile(name="w", base_url="https://h.example/v1", api_key_command=py_command(code))
    with pytest.raises(ConfigError) as info:
        profile.api_key({})
    message = assert_one_line(info.value)
    assert expected in message and "profile 'w'" in message
    assert "sk-leak" not in message


def test_missing_key_program(tmp_path: Path) -> None:
    command = str(tmp_path / "no-such-helper")
    profile = Profile(name="w", base_url="https://h.example/v1", api_key_command=command)
    with pytest.raises(ConfigError, match="program not found"):
        profile.api_key({})


def test_key_command_times_out(monkeypatch) -> None:
    monkeypatch.setattr(config_module, "KEY_COMMAND_TIMEOUT", 0.3)
    command = py_command("import time; time.sleep(5)")
    profile = Profile(name="w", base_url="https://h.example/v1", api_key_command=command)
    with pytest.raises(ConfigError, match="timed out"):
        profile.api_key({})


def test_unparsable_key_command() -> None:
    profile = Profile(name="w", base_url="https://h.example/v1", api_key_command="pass 'open")
    with pytest.raises(ConfigError, match="cannot be parsed"):
        profile.api_key({})


def test_with_key_runs_the_command_once(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    code = (
        f"import pathlib; p = pathlib.Path({str(counter)!r}); "
        "p.write_text(p.read_text() + 'x' if p.exists() else 'x'); print('k-' + 'once')"
    )
    profile = Profile(name="w", base_url="https://h.example/v1", api_key_command=py_command(code))
    resolved = profile.with_key({})
    assert resolved.api_key({}) == "k-once"
    assert resolved.api_key({}) == "k-once"
    assert counter.read_text() == "x"
    assert "k-once" not in repr(resolved)
    assert resolved == profile  # the held key is not part of equality


def test_with_key_keeps_a_profile_without_key_and_says_how_to_give_one() -> None:
    """Many local servers need no key: a missing key is reported only when the endpoint
    asks for one (tests/test_startup_keyless.py), with this hint."""
    profile = Profile(name="w", base_url="https://h.example/v1", api_key_env="WORK_API_KEY")
    assert profile.with_key({}).api_key({}) is None
    hint = profile.missing_key_hint()
    assert "WORK_API_KEY" in hint and "'w'" in hint and "\n" not in hint


@posix_only
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_key_in_a_file_others_can_read_is_refused(tmp_path: Path, mode: int) -> None:
    text = f'[profiles.w]\nbase_url = "https://h.example/v1"\napi_key = "{SENTINEL_KEY}"\n'
    path = write(tmp_path, text, mode=mode)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = assert_one_line(info.value)
    assert "readable by others" in message
    assert f"chmod 600 {path}" in message and "api_key_env" in message
    assert SENTINEL_KEY not in message


@posix_only
def test_credential_header_in_a_shared_file_is_refused(tmp_path: Path) -> None:
    text = (
        '[profiles.w]\nbase_url = "https://h.example/v1"\n'
        f'headers = {{ "Authorization" = "Bearer {SENTINEL_KEY}" }}\n'
    )
    with pytest.raises(ConfigError, match="readable by others"):
        load_settings(write(tmp_path, text, mode=0o644))
    settings = load_settings(write(tmp_path, text, mode=0o600, name="private.toml"))
    profile = settings.profiles["w"]
    assert profile.headers["Authorization"].endswith(SENTINEL_KEY)
    assert SENTINEL_KEY not in repr(profile)


@posix_only
def test_plain_headers_are_fine_in_a_shared_file(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, EXAMPLE, mode=0o644))
    assert settings.profiles["work"].headers == {"X-Team": "blue"}


@posix_only
def test_key_in_a_private_file_is_allowed_and_hidden(tmp_path: Path) -> None:
    text = f'[profiles.w]\nbase_url = "https://h.example/v1"\napi_key = "{SENTINEL_KEY}"\n'
    settings = load_settings(write(tmp_path, text, mode=0o600))
    profile = settings.profiles["w"]
    assert profile.api_key({"OPENAI_API_KEY": "other"}) == SENTINEL_KEY
    assert profile.key_source == "config file"
    for shown in (repr(profile), str(profile), f"{profile}", repr(settings), str(settings)):
        assert SENTINEL_KEY not in shown
    assert SENTINEL_KEY not in repr(dataclasses.asdict(profile))
    with pytest.raises(TypeError):
        pickle.dumps(profile)


def test_secret_hides_itself() -> None:
    secret = Secret(SENTINEL_KEY)
    assert SENTINEL_KEY not in repr(secret) and SENTINEL_KEY not in str(secret)
    assert secret.reveal() == SENTINEL_KEY
    assert secret == Secret(SENTINEL_KEY) and secret != Secret("other")
    profile = Profile(name="w", base_url="https://h.example/v1", secret=SENTINEL_KEY)  # type: ignore[arg-type]
    assert isinstance(profile.secret, Secret)
    assert hash(profile) == hash(Profile(name="w", base_url="https://h.example/v1"))


# --- Writing ----------------------------------------------------------------------------


def test_default_config_is_private_and_loads(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "config.toml"
    assert write_default_config(path) == path
    if os.name != "nt":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    settings = load_settings(path)
    assert settings.profiles == {"local": LOCAL_PROFILE}
    assert settings.default_profile == "local"
    assert settings.demo_token_delay == 0.02
    assert "[profiles.work]" in path.read_text()  # as a commented example


def test_default_config_never_overwrites(tmp_path: Path) -> None:
    path = write(tmp_path, 'theme = "mine"\n')
    with pytest.raises(ConfigError, match="already exists"):
        write_default_config(path)
    assert path.read_text() == 'theme = "mine"\n'


def test_example_profile_in_the_default_config_is_valid(tmp_path: Path) -> None:
    text = config_module.DEFAULT_CONFIG
    example = text[text.index("# [profiles.work]") :]
    uncommented = "\n".join(line.removeprefix("# ") for line in example.splitlines())
    settings = load_settings(write(tmp_path, text + uncommented))
    work = settings.profiles["work"]
    assert work.base_url == "https://assistants.example.com/v1"
    assert work.api_key_command == "pass show work/api-key"
    assert work.headers == {"X-Team": "blue"}
