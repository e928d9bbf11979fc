"""Settings: named endpoint profiles and UI preferences, from TOML + environment + flags.

``load_settings()`` reads ``config.toml`` (``paths.config_file()`` unless a path is given)
with the standard library's ``tomllib``. A missing file means the defaults; anything else
that is wrong with the file (unreadable, invalid TOML, unknown keys, wrong types,
malformed URLs) raises ``ConfigError`` with one line that names the file and the problem.

``resolve_profile()`` picks the profile a run uses, in this order:

1. ``--base-url URL`` (on top of ``--profile NAME`` if that is given too),
2. ``--profile NAME``,
3. the ``OPENAI_BASE_URL`` environment variable (a profile named ``env``, key from
   ``OPENAI_API_KEY``),
4. ``default_profile`` from the file,
5. ``local``: the built-in offline server with its demo model, always present.

Nothing here hard-codes a hosted endpoint: a remote profile always names its own
``base_url``.

API keys: a profile says where its key comes from (an environment variable, a command
that prints it, or -- only in a file nobody else can read -- the file itself). Keys are
held in ``Secret`` objects that never show themselves in ``repr()``/``str()``, are never
written anywhere, and never appear in error messages.

The file format (every key optional)::

    default_profile = "local"
    theme = "textual-dark"
    allowed_dir = "~/projects"
    [tools]
    modules = ["my_tools", "~/bin/assistant_tools.py"]   # the user's own functions
    approval_required = ["delete_branch"]                # ask before each call
    timeout = 30                                         # seconds per function call
    entry_points = true                                  # load installed plugins
    [keymap]
    "thread.next" = "ctrl+down"
    [local]
    token_delay = 0.02
    assistant_id = "asst_..."
    code_interpreter = "auto"     # or "bubblewrap" (required) or "unsandboxed"
    [profiles.work]
    base_url = "https://assistants.example.com/v1"
    api_key_env = "WORK_API_KEY"
    api_key_command = "pass show work/api-key"
    api_key = "..."               # only if the file is mode 0600
    assistant_id = "asst_123"
    engine = "auto"               # or "assistants" / "responses"
    headers = { "X-Team" = "blue" }
    [mcp.servers.github]          # a Model Context Protocol server (tools/mcp.py)
    command = "github-mcp-server" # stdio: command, args, env ...
    args = ["stdio"]
    env = { GITHUB_TOOLSETS = "repos" }
    env_from = { GITHUB_PERSONAL_ACCESS_TOKEN = "GH_TOKEN" }   # from the environment
    env_command = { OTHER_TOKEN = "pass show other" }          # printed by a command
    # url = "http://127.0.0.1:9000/mcp"                        # ... or streamable HTTP
    trusted = false               # true: calls run without asking
    tools = ["create_issue"]      # only these of its tools
    timeout = 60                  # seconds per call
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

from tui_assistant import paths
from tui_assistant.engines import ENGINE_KINDS
from tui_assistant.errors import ConfigError

__all__ = [
    "BASE_URL_ENV",
    "DEFAULT_KEY_ENV",
    "ENGINES",
    "KEY_COMMAND_TIMEOUT",
    "LOCAL_PROFILE",
    "McpServerConfig",
    "Profile",
    "Secret",
    "Settings",
    "load_settings",
    "resolve_profile",
    "validate_base_url",
    "write_default_config",
]

DEFAULT_KEY_ENV = "OPENAI_API_KEY"
"""The environment variable a profile reads its key from unless it names another."""

BASE_URL_ENV = "OPENAI_BASE_URL"
"""The environment variable that selects an endpoint when no flag does."""

ENGINES = ENGINE_KINDS
"""Wire APIs a profile may name in ``engine`` (``auto`` probes the endpoint)."""

KEY_COMMAND_TIMEOUT = 30.0
"""Seconds an ``api_key_command`` may take (long enough to type a passphrase)."""

DEFAULT_TOKEN_DELAY = 0.02
"""Default pacing of the offline demo model, in seconds per token."""

DEFAULT_TOOL_TIMEOUT = 30.0
"""Default time limit of one local function call, in seconds."""

MAX_TOOL_TIMEOUT = 540.0
"""Runs expire ten minutes after they start; a function must finish well before that."""

LOCAL = "local"

CODE_INTERPRETER_MODES = ("auto", "bubblewrap", "unsandboxed")
"""The values of ``[local] code_interpreter`` (``server.sandbox.SANDBOX_SETTINGS``)."""
ENV_PROFILE = "env"
CLI_PROFILE = "command-line"
RESERVED_NAMES = frozenset({LOCAL, ENV_PROFILE})

_PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_SENSITIVE_HEADER = re.compile(r"auth|key|token|secret|cookie|password", re.IGNORECASE)


class Secret:
    """A string that does not show itself.

    ``repr()`` and ``str()`` print a mask; ``reveal()`` returns the value. A ``Secret``
    refuses to be pickled, so it cannot end up in a cache file by accident.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        import hmac

        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, len(self._value)))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled")


def _is_sensitive_header(name: str) -> bool:
    return bool(_SENSITIVE_HEADER.search(name))


@dataclass(frozen=True)
class Profile:
    """An endpoint to talk to, and how to authenticate there."""

    name: str
    base_url: str | None = None
    """``None`` means the built-in local server (the offline demo model)."""
    api_key_env: str = DEFAULT_KEY_ENV
    """The name of the environment variable that holds the key."""
    api_key_command: str | None = None
    """A command (split like a shell line, run without a shell) that prints the key."""
    assistant_id: str | None = None
    """The assistant to open; ``None`` lets the app choose or ask."""
    engine: str = "auto"
    """The wire API: one of ``ENGINES``; ``auto`` probes (the local server: Assistants)."""
    headers: dict[str, str] = field(default_factory=dict, hash=False)
    """Extra default headers sent with every request."""
    secret: Secret | None = field(default=None, repr=False, compare=False, hash=False)
    """A key held in memory: from a 0600 config file, or resolved by ``with_key()``."""

    def __post_init__(self) -> None:
        if isinstance(self.secret, str):
            object.__setattr__(self, "secret", Secret(self.secret))

    def __repr__(self) -> str:
        parts = []
        for f in fields(self):
            if not f.repr:
                continue
            value = getattr(self, f.name)
            if f.name == "headers":
                value = {
                    k: ("********" if _is_sensitive_header(k) else v) for k, v in value.items()
                }
            parts.append(f"{f.name}={value!r}")
        return f"Profile({', '.join(parts)})"

    __str__ = __repr__

    @property
    def is_local(self) -> bool:
        """Whether this is the built-in local server."""
        return self.base_url is None

    @property
    def endpoint_key(self) -> str:
        """A stable name of the endpoint, used to keep saved threads apart.

        ``"local"`` for the built-in server; otherwise the base URL with a lower-case
        scheme and host, no default port and no trailing slash.
        """
        if self.base_url is None:
            return LOCAL
        return normalize_base_url(self.base_url)

    @property
    def key_source(self) -> str:
        """Where the key comes from, for display (never the key itself)."""
        if self.is_local:
            return "none needed"
        if self.secret is not None:
            return "config file"
        if self.api_key_command:
            program = (self.api_key_command.split() or [""])[0]
            return f"command {program}"
        return f"${self.api_key_env}"

    def api_key(self, env: Mapping[str, str] = os.environ) -> str | None:
        """The key for this endpoint, or ``None`` if none is configured.

        Looked up on every call, in this order: a key held in memory (``secret``), the
        output of ``api_key_command``, the environment variable ``api_key_env`` in
        ``env``. The built-in local server needs no key, so local profiles give ``None``.
        A failing command raises ``ConfigError`` (one line, without the command's output).
        """
        if self.is_local:
            return None
        if self.secret is not None:
            return self.secret.reveal() or None
        if self.api_key_command:
            return _run_key_command(self.name, self.api_key_command)
        if not self.api_key_env:
            return None
        return env.get(self.api_key_env, "").strip() or None

    def with_key(self, env: Mapping[str, str] = os.environ) -> Profile:
        """A copy holding the key in memory, so a key command runs only once.

        Local profiles, and remote profiles without a key, are returned as they are: many
        local servers need no key, so a missing key is only reported when the endpoint
        refuses to answer without one (``missing_key_hint``).
        """
        if self.is_local:
            return self
        key = self.api_key(env)
        if not key:
            return self
        return replace(self, secret=Secret(key))

    def missing_key_hint(self) -> str:
        """What to do when the endpoint wants a key and the profile has none."""
        hint = f"set {self.api_key_env}" if self.api_key_env else "set api_key_env"
        return f"{hint} (or give profile '{self.name}' an api_key_command)"


LOCAL_PROFILE = Profile(name=LOCAL)
"""The built-in offline server."""


MCP_SERVER_NAME = re.compile(r"^[A-Za-z0-9_-]{1,24}$")
"""A server's name prefixes its tools' names (``NAME__tool``), so it is short and plain."""


@dataclass(frozen=True)
class McpServerConfig:
    """One ``[mcp.servers.NAME]`` table: how to reach a Model Context Protocol server.

    A stdio server has ``command`` (and ``args``, environment); an HTTP one has ``url``.
    Environment values may be secrets: they are kept out of ``repr()``, resolved only when
    the server starts (``resolve_env``) and handed to the server's process, nowhere else.
    """

    name: str
    command: str | None = None
    args: tuple[str, ...] = ()
    env: dict[str, Secret] = field(default_factory=dict, hash=False, repr=False)
    """Literal values."""
    env_from: dict[str, str] = field(default_factory=dict, hash=False)
    """Variable -> the name of a variable of the app's environment to copy."""
    env_command: dict[str, str] = field(default_factory=dict, hash=False, repr=False)
    """Variable -> a command whose first output line is the value."""
    url: str | None = None
    trusted: bool = False
    """Calls run without asking the user first."""
    tools: tuple[str, ...] | None = None
    """Only these of the server's tools (all when ``None``)."""
    timeout: float | None = None
    """Seconds one call may take (``[tools] timeout`` when ``None``)."""

    @property
    def target(self) -> str:
        """What is started or reached, for lists and messages (never a secret)."""
        if self.url:
            return _strip_query(self.url)
        return " ".join([self.command or "", *self.args]).strip()

    def resolve_env(self, env: Mapping[str, str] = os.environ) -> dict[str, str]:
        """The variables to give the server's process. Raises ``ConfigError`` (naming the
        variable, never a value) when one cannot be had."""
        values = {name: secret.reveal() for name, secret in self.env.items()}
        for name, source in self.env_from.items():
            value = env.get(source)
            if value is None:
                raise ConfigError(
                    f"MCP server '{self.name}': {name} should come from ${source}, "
                    "which is not set"
                )
            values[name] = value
        for name, command in self.env_command.items():
            values[name] = _run_key_command(
                self.name, command, what=f"env_command {name} of MCP server '{self.name}'"
            )
        return values


def _strip_query(url: str) -> str:
    """``url`` without user info, query or fragment (they may carry tokens)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


def _default_profiles() -> dict[str, Profile]:
    return {LOCAL: LOCAL_PROFILE}


@dataclass(frozen=True)
class LocalModel:
    """A Chat Completions endpoint the built-in server puts behind the Assistants API."""

    url: str
    model: str | None = None
    key_env: str | None = None
    """The variable holding the endpoint's key (most local endpoints need none)."""
    key_command: str | None = None
    """A command that prints the key, instead of ``key_env``."""
    context_window: int | None = None

    def api_key(self, env: Mapping[str, str] = os.environ) -> str | None:
        """The key, read now (never stored); None for a keyless endpoint."""
        if self.key_command:
            return _run_key_command("local", self.key_command)
        if self.key_env:
            value = env.get(self.key_env, "").strip()
            if not value:
                raise ConfigError(
                    f"the model key variable {self.key_env} is not set "
                    "(export it, or leave out --model-key-env for a keyless endpoint)"
                )
            return value
        return None


@dataclass(frozen=True)
class Settings:
    """Everything ``config.toml`` can say, with defaults for what it does not."""

    profiles: dict[str, Profile] = field(default_factory=_default_profiles, hash=False)
    """By name; always contains ``local``."""
    default_profile: str = LOCAL
    keymap: dict[str, str] = field(default_factory=dict, hash=False)
    """Binding id -> keys, for ``App.set_keymap()``."""
    theme: str | None = None
    demo_token_delay: float = DEFAULT_TOKEN_DELAY
    """Pacing of the offline demo model, in seconds per token."""
    code_interpreter: str = "auto"
    """How the built-in server runs model-written code: ``auto``, ``bubblewrap``
    (required; off without it) or ``unsandboxed`` (see ``server.sandbox``)."""
    allowed_dir: str | None = None
    """The directory the ``read_text_file`` built-in may read (it is offered only then)."""
    tool_modules: tuple[str, ...] = ()
    """Modules (names or ``.py`` paths) whose functions become local tools."""
    approval_required: tuple[str, ...] = ()
    """Function names the user must approve before each call."""
    tool_timeout: float = DEFAULT_TOOL_TIMEOUT
    """Seconds a local function may run before its call is answered with an error."""
    tool_entry_points: bool = True
    """Whether functions from installed ``tui_assistant.tools`` entry points are loaded."""
    mcp_servers: tuple[McpServerConfig, ...] = ()
    """``[mcp.servers.NAME]`` tables, in file order."""
    source: Path | None = None
    """The file these settings were read from; ``None`` when no file exists."""
    local_model: LocalModel | None = None
    """With a ``[local] model_url``: the real model behind the built-in server."""

    def __post_init__(self) -> None:
        if LOCAL not in self.profiles:
            object.__setattr__(self, "profiles", {LOCAL: LOCAL_PROFILE, **self.profiles})


# --- URLs -------------------------------------------------------------------------------


def validate_base_url(url: str, what: str = "base_url") -> str:
    """Return ``url`` stripped, or raise ``ConfigError`` naming ``what`` if it is unusable.

    A base URL is ``http`` or ``https`` with a host, and no user name, password, query or
    fragment (credentials in a URL would end up in the thread store's endpoint names).
    """
    url = url.strip()
    shown = f" ({url!r})" if "@" not in url else ""
    if not url:
        raise ConfigError(f"{what} is empty")
    if any(ch.isspace() for ch in url):
        raise ConfigError(f"{what} contains whitespace{shown}")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ConfigError(f"{what} is not a valid URL{shown}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ConfigError(f"{what} must start with http:// or https://{shown}")
    if "@" in parts.netloc:
        raise ConfigError(
            f"{what} must not contain a user name or password (use api_key_env for keys)"
        )
    if not parts.hostname:
        raise ConfigError(f"{what} has no host{shown}")
    if port == 0:
        raise ConfigError(f"{what} has an invalid port{shown}")
    if parts.query or parts.fragment:
        raise ConfigError(f"{what} must not contain a query (?...) or fragment (#...){shown}")
    return url


def normalize_base_url(url: str) -> str:
    """The canonical form of a valid base URL (see ``Profile.endpoint_key``)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return url.strip().rstrip("/")
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if port is not None and (scheme, port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    return f"{scheme}://{host}{parts.path.rstrip('/')}"


# --- API key command -------------------------------------------------------------------


def _run_key_command(profile: str, command: str, *, what: str = "") -> str:
    import shlex
    import subprocess

    what = what or f"api_key_command of profile '{profile}'"
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ConfigError(f"{what} cannot be parsed: {exc}") from None
    if not argv:
        raise ConfigError(f"{what} is empty")
    try:
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=KEY_COMMAND_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        raise ConfigError(f"{what}: program not found: {argv[0]}") from None
    except subprocess.TimeoutExpired:
        raise ConfigError(f"{what} timed out after {KEY_COMMAND_TIMEOUT:g} s") from None
    except OSError as exc:
        raise ConfigError(f"{what} could not run: {exc.strerror or exc}") from None
    if proc.returncode != 0:
        raise ConfigError(f"{what} failed with exit status {proc.returncode}")
    for line in proc.stdout.splitlines():
        if line.strip():
            return line.strip()
    raise ConfigError(f"{what} printed nothing")


# --- Loading ----------------------------------------------------------------------------


def _toml_type(value: object) -> str:
    match value:
        case bool():
            return "a boolean"
        case int():
            return "an integer"
        case float():
            return "a float"
        case str():
            return "a string"
        case dict():
            return "a table"
        case list():
            return "an array"
        case datetime() | date() | time():
            return "a date/time"
    return type(value).__name__


def _one_line(text: str) -> str:
    return " ".join(text.split())


class _Reader:
    """Checks one parsed file; every complaint is one line that starts with the path."""

    def __init__(self, path: Path, readable_by_others: bool) -> None:
        self.path = path
        self.readable_by_others = readable_by_others

    def fail(self, problem: str) -> NoReturn:
        raise ConfigError(f"{self.path}: {problem}")

    def table(self, value: object, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(f"{where} must be a table, not {_toml_type(value)}")
        return value

    def known_keys(self, table: dict[str, Any], known: tuple[str, ...], prefix: str) -> None:
        for key in table:
            if key not in known:
                self.fail(f"unknown key '{prefix}{key}' (known: {', '.join(known)})")

    def string(self, value: object, where: str, *, empty_ok: bool = False) -> str:
        if not isinstance(value, str):
            self.fail(f"{where} must be a string, not {_toml_type(value)}")
        if not empty_ok and not value.strip():
            self.fail(f"{where} must not be empty")
        return value.strip()

    def number(self, value: object, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(f"{where} must be a number, not {_toml_type(value)}")
        if not math.isfinite(value) or value < 0:
            self.fail(f"{where} must be a number of seconds >= 0")
        return float(value)

    def string_table(self, value: object, where: str) -> dict[str, str]:
        table = self.table(value, where)
        result = {}
        for key, item in table.items():
            if not isinstance(item, str):
                self.fail(f"{where}.{key} must be a string, not {_toml_type(item)}")
            result[key] = item
        return result

    def refuse_if_shared(self, where: str) -> None:
        if self.readable_by_others:
            self.fail(
                f"{where} holds a secret but the file is readable by others: "
                f"chmod 600 {self.path} or use api_key_env"
            )


_TOP_KEYS = (
    "default_profile", "theme", "allowed_dir", "keymap", "local", "profiles", "tools", "mcp"
)
_MCP_SERVER_KEYS = (
    "command", "args", "env", "env_from", "env_command", "url", "trusted", "tools", "timeout"
)
_TOOLS_KEYS = ("modules", "approval_required", "timeout", "entry_points")
_FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _read_tools(reader: _Reader, value: object) -> dict[str, Any]:
    """The ``[tools]`` table as ``Settings`` keyword arguments."""
    table = reader.table(value, "[tools]")
    reader.known_keys(table, _TOOLS_KEYS, "tools.")
    kwargs: dict[str, Any] = {}

    def string_list(key: str) -> tuple[str, ...]:
        items = table[key]
        if not isinstance(items, list):
            reader.fail(f"tools.{key} must be an array of strings, not {_toml_type(items)}")
        return tuple(reader.string(item, f"tools.{key}[{i}]") for i, item in enumerate(items))

    if "modules" in table:
        kwargs["tool_modules"] = string_list("modules")
    if "approval_required" in table:
        names = string_list("approval_required")
        for name in names:
            if not _FUNCTION_NAME.match(name):
                reader.fail(f"tools.approval_required: {name!r} is not a function name")
        kwargs["approval_required"] = names
    if "timeout" in table:
        seconds = reader.number(table["timeout"], "tools.timeout")
        if not 0 < seconds <= MAX_TOOL_TIMEOUT:
            reader.fail(
                f"tools.timeout must be more than 0 and at most {MAX_TOOL_TIMEOUT:g} seconds "
                "(runs expire after ten minutes)"
            )
        kwargs["tool_timeout"] = seconds
    if "entry_points" in table:
        if not isinstance(table["entry_points"], bool):
            reader.fail(
                f"tools.entry_points must be true or false, not {_toml_type(table['entry_points'])}"
            )
        kwargs["tool_entry_points"] = table["entry_points"]
    return kwargs


def _read_mcp(reader: _Reader, value: object) -> tuple[McpServerConfig, ...]:
    """The ``[mcp]`` table: ``[mcp.servers.NAME]`` tables."""
    table = reader.table(value, "[mcp]")
    reader.known_keys(table, ("servers",), "mcp.")
    servers = []
    for name, item in reader.table(table.get("servers", {}), "[mcp.servers]").items():
        where = f"mcp.servers.{name}"
        if not MCP_SERVER_NAME.match(name):
            reader.fail(f"{where}: a server name is 1-24 letters, digits, '_' or '-'")
        server = reader.table(item, f"[{where}]")
        reader.known_keys(server, _MCP_SERVER_KEYS, f"{where}.")
        kwargs: dict[str, Any] = {}
        if "command" in server:
            kwargs["command"] = reader.string(server["command"], f"{where}.command")
        if "url" in server:
            url = reader.string(server["url"], f"{where}.url")
            scheme = urlsplit(url).scheme
            if scheme not in ("http", "https") or not urlsplit(url).hostname:
                reader.fail(f"{where}.url must be an http or https URL")
            kwargs["url"] = url
        if ("command" in kwargs) == ("url" in kwargs):
            reader.fail(f"[{where}] needs either command (stdio) or url (HTTP), not both")
        if "args" in server:
            args = server["args"]
            if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
                reader.fail(f"{where}.args must be an array of strings")
            kwargs["args"] = tuple(args)
        for key in ("env", "env_from", "env_command"):
            if key not in server:
                continue
            values = reader.string_table(server[key], f"{where}.{key}")
            for variable, text in values.items():
                if not _ENV_NAME.match(variable):
                    reader.fail(f"{where}.{key}: {variable!r} is not a variable name")
                if key == "env_from" and not _ENV_NAME.match(text):
                    reader.fail(f"{where}.env_from.{variable} must name a variable")
                if key == "env" and _is_sensitive_header(variable):
                    reader.refuse_if_shared(f"{where}.env.{variable}")
            if key == "env":
                kwargs["env"] = {k: Secret(v) for k, v in values.items()}
            else:
                kwargs[key] = values
        if "trusted" in server:
            if not isinstance(server["trusted"], bool):
                reader.fail(f"{where}.trusted must be true or false")
            kwargs["trusted"] = server["trusted"]
        if "tools" in server:
            tools = server["tools"]
            if not isinstance(tools, list) or not all(isinstance(t, str) for t in tools):
                reader.fail(f"{where}.tools must be an array of tool names")
            kwargs["tools"] = tuple(tools)
        if "timeout" in server:
            seconds = reader.number(server["timeout"], f"{where}.timeout")
            if not 0 < seconds <= MAX_TOOL_TIMEOUT:
                reader.fail(
                    f"{where}.timeout must be more than 0 and at most "
                    f"{MAX_TOOL_TIMEOUT:g} seconds"
                )
            kwargs["timeout"] = seconds
        servers.append(McpServerConfig(name=name, **kwargs))
    return tuple(servers)


_LOCAL_KEYS = (
    "token_delay",
    "assistant_id",
    "model_url",
    "model",
    "model_key_env",
    "model_key_command",
    "context_window",
    "code_interpreter",
)
_PROFILE_KEYS = (
    "base_url",
    "api_key_env",
    "api_key_command",
    "api_key",
    "assistant_id",
    "engine",
    "headers",
)


def _read_profile(reader: _Reader, name: str, value: object) -> Profile:
    where = f"profiles.{name}"
    if name in RESERVED_NAMES:
        reader.fail(
            f"profile name '{name}' is reserved"
            + (" (configure the built-in server under [local])" if name == LOCAL else "")
        )
    if not _PROFILE_NAME.match(name):
        reader.fail(f"profile name {name!r} may use only letters, digits, '_', '.' and '-'")
    table = reader.table(value, f"[{where}]")
    reader.known_keys(table, _PROFILE_KEYS, f"{where}.")
    kwargs: dict[str, Any] = {}
    if "base_url" in table:
        url = reader.string(table["base_url"], f"{where}.base_url")
        try:
            kwargs["base_url"] = validate_base_url(url, f"{where}.base_url")
        except ConfigError as exc:
            reader.fail(exc.message)
    if "api_key_env" in table:
        env_name = reader.string(table["api_key_env"], f"{where}.api_key_env")
        if not _ENV_NAME.match(env_name):
            # Never echo the value: people paste the key itself here.
            reader.fail(
                f"{where}.api_key_env must be the name of an environment variable "
                "(like WORK_API_KEY), not a key"
            )
        kwargs["api_key_env"] = env_name
    if "api_key_command" in table:
        kwargs["api_key_command"] = reader.string(
            table["api_key_command"], f"{where}.api_key_command"
        )
    if "api_key" in table:
        if not isinstance(table["api_key"], str) or not table["api_key"].strip():
            reader.fail(f"{where}.api_key must be a non-empty string")
        reader.refuse_if_shared(f"{where}.api_key")
        if "api_key_command" in table:
            reader.fail(f"{where} has both api_key and api_key_command: keep one")
        kwargs["secret"] = Secret(table["api_key"].strip())
    if "assistant_id" in table:
        kwargs["assistant_id"] = reader.string(table["assistant_id"], f"{where}.assistant_id")
    if "engine" in table:
        engine = reader.string(table["engine"], f"{where}.engine")
        if engine not in ENGINES:
            reader.fail(f"{where}.engine must be one of: {', '.join(ENGINES)}")
        kwargs["engine"] = engine
    if "headers" in table:
        headers = reader.string_table(table["headers"], f"{where}.headers")
        for header, header_value in headers.items():
            if not _HEADER_NAME.match(header):
                reader.fail(f"{where}.headers: {header!r} is not a valid header name")
            if "\n" in header_value or "\r" in header_value:
                reader.fail(f"{where}.headers.{header} must be one line")
            if _is_sensitive_header(header):
                reader.refuse_if_shared(f"{where}.headers.{header}")
        kwargs["headers"] = headers
    return Profile(name=name, **kwargs)


def _settings_from_data(data: dict[str, Any], path: Path, readable_by_others: bool) -> Settings:
    reader = _Reader(path, readable_by_others)
    reader.known_keys(data, _TOP_KEYS, "")
    kwargs: dict[str, Any] = {"source": path}

    local = LOCAL_PROFILE
    if "local" in data:
        table = reader.table(data["local"], "[local]")
        reader.known_keys(table, _LOCAL_KEYS, "local.")
        if "token_delay" in table:
            kwargs["demo_token_delay"] = reader.number(table["token_delay"], "local.token_delay")
        if "code_interpreter" in table:
            mode = reader.string(table["code_interpreter"], "local.code_interpreter")
            if mode not in CODE_INTERPRETER_MODES:
                reader.fail(
                    f"local.code_interpreter must be one of "
                    f"{', '.join(repr(m) for m in CODE_INTERPRETER_MODES)}, not {mode!r}"
                )
            kwargs["code_interpreter"] = mode
        if "assistant_id" in table:
            local = replace(
                local, assistant_id=reader.string(table["assistant_id"], "local.assistant_id")
            )
        if "model_url" in table:
            url = validate_base_url(
                reader.string(table["model_url"], "local.model_url"), "local.model_url"
            )
            window = None
            if "context_window" in table:
                window = int(reader.number(table["context_window"], "local.context_window"))
                if window < 256:
                    reader.fail("local.context_window must be at least 256 tokens")
            kwargs["local_model"] = LocalModel(
                url=url,
                model=reader.string(table["model"], "local.model") if "model" in table else None,
                key_env=(
                    reader.string(table["model_key_env"], "local.model_key_env")
                    if "model_key_env" in table
                    else None
                ),
                key_command=(
                    reader.string(table["model_key_command"], "local.model_key_command")
                    if "model_key_command" in table
                    else None
                ),
                context_window=window,
            )

    profiles = {LOCAL: local}
    if "profiles" in data:
        for name, value in reader.table(data["profiles"], "[profiles]").items():
            profiles[name] = _read_profile(reader, name, value)
    kwargs["profiles"] = profiles

    if "default_profile" in data:
        default = reader.string(data["default_profile"], "default_profile")
        if default not in profiles and default != ENV_PROFILE:
            reader.fail(
                f"default_profile '{default}' is not a profile (known: {', '.join(profiles)})"
            )
        kwargs["default_profile"] = default
    if "theme" in data:
        kwargs["theme"] = reader.string(data["theme"], "theme")
    if "allowed_dir" in data:
        allowed = reader.string(data["allowed_dir"], "allowed_dir")
        kwargs["allowed_dir"] = str(Path(allowed).expanduser())
    if "tools" in data:
        kwargs.update(_read_tools(reader, data["tools"]))
    if "mcp" in data:
        kwargs["mcp_servers"] = _read_mcp(reader, data["mcp"])
    if "keymap" in data:
        keymap = reader.string_table(data["keymap"], "keymap")
        for binding_id, keys in keymap.items():
            if not keys.strip():
                reader.fail(f"keymap.{binding_id} must not be empty")
        kwargs["keymap"] = {k: v.strip() for k, v in keymap.items()}
    return Settings(**kwargs)


def load_settings(path: Path | None = None) -> Settings:
    """Read settings from ``path`` (default ``paths.config_file()``).

    A missing file gives the defaults (``source`` is ``None``). Raises ``ConfigError`` for
    an unreadable or invalid file, and for a file that holds a secret (``api_key`` or a
    credential header) while others can read it.
    """
    import tomllib

    path = Path(path).expanduser() if path is not None else paths.config_file(create=False)
    try:
        with open(path, "rb") as fh:
            mode = os.fstat(fh.fileno()).st_mode
            raw = fh.read()
    except FileNotFoundError:
        return Settings()
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: is not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {_one_line(str(exc))}") from None
    readable_by_others = os.name != "nt" and bool(mode & 0o044)
    return _settings_from_data(data, path, readable_by_others)


# --- Resolution -------------------------------------------------------------------------


def _lookup(settings: Settings, name: str, env: Mapping[str, str], via: str) -> Profile:
    if name == ENV_PROFILE:
        url = env.get(BASE_URL_ENV, "").strip()
        if not url:
            raise ConfigError(f"profile 'env' needs the {BASE_URL_ENV} environment variable")
        return Profile(name=ENV_PROFILE, base_url=validate_base_url(url, BASE_URL_ENV))
    try:
        return settings.profiles[name]
    except KeyError:
        known = list(settings.profiles)
        if env.get(BASE_URL_ENV, "").strip():
            known.append(ENV_PROFILE)
        raise ConfigError(
            f"unknown profile '{name}' ({via}); known profiles: {', '.join(known)}"
        ) from None


def resolve_profile(
    settings: Settings,
    *,
    name: str | None = None,
    base_url: str | None = None,
    assistant_id: str | None = None,
    env: Mapping[str, str] = os.environ,
    engine: str | None = None,
) -> Profile:
    """The profile to use, from flags, environment and settings (see the module docstring).

    ``name`` and ``base_url`` are the ``--profile`` and ``--base-url`` flags. With both,
    the named profile is used with the given URL; ``base_url`` alone makes a profile named
    ``command-line`` whose key comes from ``OPENAI_API_KEY``. ``assistant_id`` (the
    ``--assistant`` flag) replaces the profile's assistant; ``engine`` (``--engine``) its
    engine kind. Raises ``ConfigError`` for an unknown profile, a malformed URL or an
    unknown engine kind.
    """
    profile: Profile | None
    if name is not None:
        profile = _lookup(settings, name, env, "--profile")
    elif base_url is not None:
        profile = None
    elif env.get(BASE_URL_ENV, "").strip():
        profile = _lookup(settings, ENV_PROFILE, env, BASE_URL_ENV)
    else:
        where = f"default_profile in {settings.source}" if settings.source else "default_profile"
        profile = _lookup(settings, settings.default_profile, env, where)

    if base_url is not None:
        url = validate_base_url(base_url, "--base-url")
        if profile is None:
            profile = Profile(name=CLI_PROFILE, base_url=url)
        else:
            profile = replace(profile, base_url=url)
    assert profile is not None
    if assistant_id is not None:
        assistant_id = assistant_id.strip()
        if not assistant_id:
            raise ConfigError("--assistant must not be empty")
        profile = replace(profile, assistant_id=assistant_id)
    if engine is not None:
        kind = engine.strip().lower()
        if kind not in ENGINES:
            raise ConfigError(f"--engine must be one of: {', '.join(ENGINES)}")
        profile = replace(profile, engine=kind)
    return profile


# --- Writing ----------------------------------------------------------------------------

DEFAULT_CONFIG = """\
# tui-assistant settings (TOML).
#
# Keys: keep API keys out of this file. A profile names the environment variable that
# holds its key (api_key_env) or a command that prints it (api_key_command). A profile
# may hold api_key = "..." only while this file is private (chmod 600).

# The profile used when neither --profile, --base-url nor OPENAI_BASE_URL picks one.
# "local" is the built-in offline server with its demo model.
default_profile = "local"

# A Textual theme, e.g. "textual-dark", "nord", "gruvbox".
# theme = "textual-dark"

# The directory the built-in read_text_file function may read (offered only when set).
# allowed_dir = "~/projects"

[keymap]
# Rebind keys by binding id (see the app's key help), e.g.:
# "thread.next" = "ctrl+down"

[local]
# Pacing of the offline demo model, in seconds per token (0 = as fast as it can).
token_delay = 0.02
# The assistant to open on the local server:
# assistant_id = "asst_..."
# A real model behind the built-in server: any Chat Completions endpoint.
# model_url = "http://127.0.0.1:11434/v1"     # Ollama; llama-server: http://127.0.0.1:8080/v1
# model = "qwen2.5:7b"                        # default: the first model the endpoint lists
# model_key_env = "OPENAI_API_KEY"            # only for endpoints that need a key
# model_key_command = "pass show openai"      # ... or a command that prints it
# context_window = 8192                       # tokens; older messages are left out to fit

# Local functions the assistant may call (see the README, "Tools"):
# [tools]
# modules = ["my_tools", "~/bin/assistant_tools.py"]  # your own functions
# approval_required = ["delete_branch"]               # ask before each call
# timeout = 30                                        # seconds per call
# entry_points = true                                 # installed plugins

# Tools from Model Context Protocol servers (see the README, "Tools from MCP servers"):
# [mcp.servers.files]
# command = "npx"
# args = ["-y", "@modelcontextprotocol/server-filesystem", "~/projects"]
# env_from = { SOME_TOKEN = "MY_TOKEN" }          # copied from your environment
# trusted = false                                 # ask before each call
# tools = ["read_file", "list_directory"]         # only these

# One table per endpoint that serves the Assistants API:
# [profiles.work]
# base_url = "https://assistants.example.com/v1"
# api_key_env = "WORK_API_KEY"                  # the variable that holds the key
# api_key_command = "pass show work/api-key"    # ... or a command that prints it
# assistant_id = "asst_123"
# headers = { "X-Team" = "blue" }
"""


def write_default_config(path: Path) -> Path:
    """Write the commented example config to ``path`` with mode 0600 and return ``path``.

    Never overwrites: raises ``ConfigError`` if ``path`` exists or cannot be written.
    """
    path = Path(path).expanduser()
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(f"{path}: already exists; not overwritten") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(DEFAULT_CONFIG)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write: {exc.strerror or exc}") from None
    return path
