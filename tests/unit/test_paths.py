"""paths.py: one function per location, TUI_ASSISTANT_HOME override, lazy creation."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tui_assistant import paths
from tui_assistant.errors import ConfigError


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "tui-home"
    monkeypatch.setenv("TUI_ASSISTANT_HOME", str(root))
    return root


def test_override_puts_everything_under_one_root(home: Path) -> None:
    assert paths.config_dir() == home / "config"
    assert paths.data_dir() == home / "data"
    assert paths.config_file() == home / "config" / "config.toml"
    assert paths.store_path() == home / "data" / "threads.sqlite3"
    assert paths.server_db_path() == home / "data" / "local-server.sqlite3"
    assert paths.files_dir() == home / "data" / "files"


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
def test_directories_are_created_private_when_asked_for(home: Path) -> None:
    assert not home.exists()
    config = paths.config_dir()
    assert config.is_dir()
    assert stat.S_IMODE(config.stat().st_mode) == 0o700
    assert not (home / "data").exists()  # only what was asked for
    files = paths.files_dir()
    assert files.is_dir()
    assert stat.S_IMODE(files.stat().st_mode) == 0o700
    assert stat.S_IMODE(paths.data_dir().stat().st_mode) == 0o700


def test_file_functions_create_the_directory_but_not_the_file(home: Path) -> None:
    store = paths.store_path()
    assert store.parent.is_dir()
    assert not store.exists()
    assert not paths.config_file().exists()


def test_create_false_touches_nothing(home: Path) -> None:
    assert paths.config_file(create=False) == home / "config" / "config.toml"
    assert paths.store_path(create=False) == home / "data" / "threads.sqlite3"
    assert paths.server_db_path(create=False).parent == home / "data"
    assert paths.files_dir(create=False) == home / "data" / "files"
    assert not home.exists()


def test_environment_is_read_on_every_call(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TUI_ASSISTANT_HOME", str(tmp_path / "a"))
    first = paths.data_dir(create=False)
    monkeypatch.setenv("TUI_ASSISTANT_HOME", str(tmp_path / "b"))
    assert paths.data_dir(create=False) != first
    assert paths.data_dir(create=False) == tmp_path / "b" / "data"


def test_relative_and_tilde_overrides_become_absolute(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TUI_ASSISTANT_HOME", "rel")
    assert paths.config_dir(create=False) == tmp_path / "rel" / "config"
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("TUI_ASSISTANT_HOME", "~/t")
    assert paths.data_dir(create=False) == tmp_path / "t" / "data"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG variables are Linux's")
def test_without_override_platformdirs_decides(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("TUI_ASSISTANT_HOME", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    assert paths.config_dir() == tmp_path / "xdg-config" / "tui-assistant"
    assert paths.data_dir() == tmp_path / "xdg-data" / "tui-assistant"
    assert paths.config_dir().is_dir()


def test_empty_override_is_ignored(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TUI_ASSISTANT_HOME", "  ")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    assert paths.config_dir(create=False).name == "tui-assistant"


def test_uncreatable_directory_is_a_config_error(tmp_path: Path, monkeypatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("TUI_ASSISTANT_HOME", str(blocker))
    with pytest.raises(ConfigError) as info:
        paths.data_dir()
    assert str(blocker / "data") in str(info.value)
    assert "\n" not in str(info.value)


def test_import_touches_no_disk_and_computes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "never-created"
    code = (
        "import json, sys\n"
        "import tui_assistant.paths, tui_assistant.config, tui_assistant.store\n"
        "import tui_assistant.cli\n"
        "print(json.dumps('platformdirs' in sys.modules))\n"
    )
    env = {**os.environ, "TUI_ASSISTANT_HOME": str(root)}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) is False
    assert not root.exists()
