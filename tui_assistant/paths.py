"""Where tui-assistant keeps its files.

One function per location. The directories come from platformdirs
(``user_config_path`` / ``user_data_path`` for ``tui-assistant``), unless the environment
variable ``TUI_ASSISTANT_HOME`` is set: then everything lives under that one root
(``$TUI_ASSISTANT_HOME/config`` and ``$TUI_ASSISTANT_HOME/data``), which is how tests and
portable installs keep the user's real directories out of the way.

Nothing is computed or touched at import time. A directory is created (mode 0o700) the
first time a function is asked for it, unless the caller passes ``create=False`` (used
where a path is only shown, such as ``--help``). The environment is read on every call,
so changing ``TUI_ASSISTANT_HOME`` takes effect immediately.
"""

from __future__ import annotations

import os
from pathlib import Path

from tui_assistant.errors import ConfigError

APP_NAME = "tui-assistant"
"""The directory name platformdirs uses."""

HOME_ENV = "TUI_ASSISTANT_HOME"
"""Environment variable that moves every directory under one root."""

__all__ = [
    "APP_NAME",
    "HOME_ENV",
    "config_dir",
    "config_file",
    "data_dir",
    "files_dir",
    "server_db_path",
    "store_path",
]


def _home_override() -> Path | None:
    value = os.environ.get(HOME_ENV, "").strip()
    if not value:
        return None
    return Path(value).expanduser().absolute()


def _ensure(path: Path) -> Path:
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise ConfigError(
            f"cannot create directory {path}: {reason} (set {HOME_ENV} to use another place)"
        ) from None
    return path


def config_dir(*, create: bool = True) -> Path:
    """The directory holding ``config.toml``."""
    home = _home_override()
    if home is not None:
        path = home / "config"
    else:
        import platformdirs

        path = platformdirs.user_config_path(APP_NAME)
    return _ensure(path) if create else path


def data_dir(*, create: bool = True) -> Path:
    """The directory holding the thread store, the local server's database and files."""
    home = _home_override()
    if home is not None:
        path = home / "data"
    else:
        import platformdirs

        path = platformdirs.user_data_path(APP_NAME)
    return _ensure(path) if create else path


def config_file(*, create: bool = True) -> Path:
    """The settings file, ``config.toml`` (the file itself is never created here)."""
    return config_dir(create=create) / "config.toml"


def store_path(*, create: bool = True) -> Path:
    """The SQLite store of saved threads and cached messages."""
    return data_dir(create=create) / "threads.sqlite3"


def server_db_path(*, create: bool = True) -> Path:
    """The built-in local server's SQLite database."""
    return data_dir(create=create) / "local-server.sqlite3"


def files_dir(*, create: bool = True) -> Path:
    """Where uploaded and downloaded files are kept."""
    path = data_dir(create=create) / "files"
    return _ensure(path) if create else path
