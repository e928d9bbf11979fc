"""The ``tui-assistant`` command: parse arguments, pick a profile, start the app or server.

``main(argv)`` returns the exit status: 0 on success, 2 for anything the user can fix
(bad flags, unknown profile, malformed URL, unreadable config, missing key, unusable
store), each reported as exactly one line ``tui-assistant: error: ...`` on stderr and
never as a traceback.

Start-up stays fast: this module imports only the standard library and our own headless
modules. Textual, the openai SDK, Starlette and uvicorn are imported by the app and the
server when they start.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NoReturn

from tui_assistant import __version__, cli_mcp, cli_threads, paths
from tui_assistant.backend import prestart
from tui_assistant.config import (
    BASE_URL_ENV,
    CODE_INTERPRETER_MODES,
    DEFAULT_KEY_ENV,
    LocalModel,
    Profile,
    Settings,
    load_settings,
    resolve_profile,
    validate_base_url,
    write_default_config,
)
from tui_assistant.errors import AppError, ConfigError
from tui_assistant.store import Store

PROG = "tui-assistant"

__all__ = ["PROG", "build_parser", "main"]


class _UsageError(Exception):
    """Raised instead of argparse's print-usage-and-exit, so ``main`` prints one line."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(" ".join(message.split()), f"see '{self.prog} --help'")


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535, not {port}")
    return port


def _host(text: str) -> str:
    host = text.strip()
    if not host or any(ch.isspace() or ch in "/?#@" for ch in host):
        raise argparse.ArgumentTypeError(f"not a host name or address: {text!r}")
    return host


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, not {text}")
    return value


def _window(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of tokens: {text!r}") from None
    if value < 256:
        raise argparse.ArgumentTypeError(f"must be at least 256 tokens, not {value}")
    return value


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model-url",
        metavar="URL",
        help="put this Chat Completions endpoint (Ollama, llama-server, vLLM, LM Studio, "
        "OpenAI...) behind the built-in server, e.g. http://127.0.0.1:11434/v1",
    )
    parser.add_argument(
        "--model", metavar="NAME", help="the endpoint's model (default: the first it lists)"
    )
    parser.add_argument(
        "--model-key-env",
        metavar="VAR",
        help="the environment variable holding the endpoint's key (none for keyless ones)",
    )
    parser.add_argument(
        "--context-window",
        metavar="N",
        type=_window,
        help="the model's context window in tokens; older messages are left out to fit",
    )


def _local_model(args: argparse.Namespace, settings: Settings | None) -> LocalModel | None:
    """The real model from the flags, else from ``[local]`` in the config, else None."""
    configured = settings.local_model if settings is not None else None
    url = getattr(args, "model_url", None)
    if url is None:
        if configured is None:
            for flag in ("model", "model_key_env", "context_window"):
                if getattr(args, flag, None) is not None:
                    name = "--" + flag.replace("_", "-")
                    raise ConfigError(f"{name} needs --model-url (or [local] model_url)")
            return None
        base = configured
    else:
        base = LocalModel(url=validate_base_url(url, "--model-url"))
    return LocalModel(
        url=base.url,
        model=getattr(args, "model", None) or base.model,
        key_env=getattr(args, "model_key_env", None) or (base.key_env if url is None else None),
        key_command=base.key_command if url is None else None,
        context_window=getattr(args, "context_window", None) or base.context_window,
    )


def _epilog() -> str:
    config_file = paths.config_file(create=False)
    store_file = paths.store_path(create=False)
    return f"""\
profiles:
  A profile is an endpoint that serves the Assistants API: a base URL, where its API key
  comes from, an optional assistant id and extra headers. Profiles live in the config
  file under [profiles.NAME]. The built-in profile "local" is the default: an offline
  local server with a demo model, started for you, needing no key and no network.

  The profile is chosen by, first match wins:
    --base-url URL       (with --profile NAME: that profile at another URL)
    --profile NAME
    ${BASE_URL_ENV}     (a profile named "env", key from ${DEFAULT_KEY_ENV})
    default_profile      (in the config file)
    local

files:
  config file     {config_file}
                  ('{PROG} config --init' writes a commented example;
                  '{PROG} config' shows the profiles it defines)
  saved threads   {store_file}

environment:
  {DEFAULT_KEY_ENV:<19} the API key, unless a profile names another variable
                      (api_key_env) or a command that prints it (api_key_command)
  {BASE_URL_ENV:<19} select an endpoint without a profile
  {paths.HOME_ENV:<19} keep config and data under this directory instead of the
                      platform's locations

API keys are read from the environment or a command and are never written to disk; a
config file may hold api_key only while nobody else can read it (chmod 600).

commands:
  {PROG} [options]          start the terminal app
  {PROG} serve [options]    run the local Assistants-compatible server
  {PROG} config [--init]    show the config file and its profiles
{cli_threads.EPILOG_LINES.format(prog=PROG, pad=" " * (len(PROG) + 20))}
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and documentation)."""
    parser = _Parser(
        prog=PROG,
        description=(
            "A keyboard-first terminal client for assistants: threads, messages, runs\n"
            "and tools, over the Assistants API. With no options it talks to a built-in\n"
            "offline server with a demo model."
        ),
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--profile", metavar="NAME", help="use the named profile from the config file"
    )
    parser.add_argument(
        "--base-url",
        metavar="URL",
        help="talk to this endpoint (http or https, e.g. https://host/v1)",
    )
    parser.add_argument(
        "--assistant", metavar="ID", help="open this assistant instead of the profile's"
    )
    parser.add_argument(
        "--config", metavar="PATH", type=Path, help="read settings from PATH (must exist)"
    )
    _add_model_options(parser)
    parser.add_argument(
        "--engine",
        metavar="NAME",
        help="the wire API: assistants, responses or auto (probe the endpoint)",
    )

    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")

    serve = commands.add_parser(
        "serve",
        help="run the local Assistants-compatible server",
        description=(
            "Run the local Assistants-compatible HTTP server (the one the app starts by "
            "default) with its offline demo model, until interrupted."
        ),
    )
    serve.add_argument(
        "--host", type=_host, default="127.0.0.1",
        help="address to listen on (default: %(default)s)",
    )
    serve.add_argument(
        "--port", type=_port, default=8080, help="port to listen on (default: %(default)s)"
    )
    serve.add_argument(
        "--token",
        metavar="T",
        help="require 'Authorization: Bearer T' on every request (a token is generated when "
        "--host is not a loopback address; a token given here is visible in the process list)",
    )
    serve.add_argument(
        "--delay",
        metavar="SECONDS",
        type=_seconds,
        help="demo model pacing, seconds per token (default: [local] token_delay, 0.02)",
    )
    serve.add_argument(
        "--db",
        metavar="PATH",
        type=Path,
        help=f"server database (default: {paths.server_db_path(create=False)})",
    )
    serve.add_argument(
        "--code-interpreter",
        choices=CODE_INTERPRETER_MODES,
        default=None,
        help="how model-written code runs: auto (bubblewrap sandbox when it works, "
        "otherwise a plain child process for the demo model only), bubblewrap (required; "
        "the code interpreter is off without it) or unsandboxed (explicit opt-in) "
        "(default: [local] code_interpreter, auto)",
    )
    serve.add_argument(
        "--fault",
        metavar="SPEC",
        action="append",
        default=[],
        help="inject a fault for testing clients, e.g. 'drop_stream,after_events=5' or "
        "'fail_requests,status=429,count=2,retry_after=1' (repeatable; also opens the "
        "loopback-only /_faults endpoint)",
    )
    serve.add_argument(
        "--config",
        metavar="PATH",
        type=Path,
        default=argparse.SUPPRESS,
        help="read settings from PATH",
    )
    _add_model_options(serve)

    config = commands.add_parser(
        "config",
        help="show the config file and profiles (never keys)",
        description="Show the config file's path and the profiles it defines (never keys).",
    )
    config.add_argument(
        "--init",
        action="store_true",
        help="write a commented example config (mode 0600) if none exists",
    )
    config.add_argument(
        "--check",
        action="store_true",
        help="check the keymap and theme: unknown ids or themes, clashing, reserved or "
        "unusable keys (exit status 1 when there is a problem)",
    )
    config.add_argument(
        "--config",
        metavar="PATH",
        type=Path,
        default=argparse.SUPPRESS,
        help="the config file to show or create",
    )
    cli_threads.add_parsers(commands)
    cli_mcp.add_parser(commands)
    return parser


def _load(config: Path | None) -> Settings:
    if config is not None and not config.expanduser().exists():
        raise ConfigError(f"config file not found: {config}")
    return load_settings(config)


def _run_app(args: argparse.Namespace) -> int:
    settings = _load(args.config)
    local = _local_model(args, settings)
    profile = resolve_profile(
        settings,
        name=args.profile,
        base_url=args.base_url,
        assistant_id=args.assistant,
        engine=args.engine,
    )
    if local is not None:
        from dataclasses import replace

        if args.model_url is not None and not profile.is_local:
            raise ConfigError(
                "--model-url puts a model behind the built-in server; it cannot be used "
                f"with the remote endpoint {profile.base_url}"
            )
        if local.key_env and not local.key_command:
            local.api_key()  # a missing key is reported now, as one line
        settings = replace(settings, local_model=local)
    profile = profile.with_key()
    store = Store.open(paths.store_path())
    from tui_assistant.ui.heap import pause_gc

    pause_gc()  # until the app is connected (see ui/heap.py)
    try:
        # The local server's process starts with the app's first frame (``Prestarted``).
        connector = prestart(profile, settings)
        try:
            from tui_assistant.ui.app import launch

            return launch(settings=settings, profile=profile, store=store, connector=connector)
        finally:
            connector.stop()
    finally:
        gc.enable()
        store.close()


def _run_server(args: argparse.Namespace) -> int:
    settings = _load(getattr(args, "config", None))
    delay = args.delay
    if delay is None:
        delay = settings.demo_token_delay
    local = _local_model(args, settings)
    mode = args.code_interpreter or settings.code_interpreter
    db_path = args.db.expanduser() if args.db is not None else paths.server_db_path()
    from tui_assistant.backend import chat_model

    extra = {"model": chat_model(local)} if local is not None else {}
    from tui_assistant.server.runtime import serve

    return serve(
        args.host,
        args.port,
        db_path,
        **extra,  # type: ignore[arg-type]
        bearer_token=args.token,
        token_delay=delay,
        faults=args.fault,
        code_interpreter=mode,
    )


def _describe(profile: Profile, env: Mapping[str, str]) -> str:
    if profile.is_local:
        text = "built-in local server (offline demo model)"
    else:
        text = f"{profile.base_url}  key: {profile.key_source}"
        if profile.secret is None and not profile.api_key_command:
            text += " (set)" if env.get(profile.api_key_env, "").strip() else " (not set)"
    if profile.assistant_id:
        text += f"  assistant: {profile.assistant_id}"
    if profile.engine != "auto":
        text += f"  engine: {profile.engine}"
    if profile.headers:
        text += f"  headers: {', '.join(profile.headers)}"
    return text


def _show_config(args: argparse.Namespace) -> int:
    explicit = getattr(args, "config", None)
    path = explicit.expanduser() if explicit is not None else paths.config_file(create=False)
    if args.init:
        if path.exists():
            print(f"{path} already exists; left unchanged")
        else:
            write_default_config(path)
            print(f"wrote {path}")
        return 0
    settings = _load(explicit)
    if args.check:
        return _check_config(path, settings)
    env = os.environ
    status = "" if settings.source is not None else f"  (not found; '{PROG} config --init')"
    print(f"config file: {path}{status}")
    print(f"thread store: {paths.store_path(create=False)}")
    print(f"default profile: {settings.default_profile}")
    print("profiles:")
    shown = dict(settings.profiles)
    if env.get(BASE_URL_ENV, "").strip():
        shown["env"] = resolve_profile(settings, name="env")
    width = max(len(name) for name in shown)
    for name, profile in shown.items():
        described = _describe(profile, env)
        model = settings.local_model
        if profile.is_local and model is not None:
            key = f"  key: ${model.key_env}" if model.key_env else ""
            key = "  key: (command)" if model.key_command else key
            described = described.replace(
                "(offline demo model)", f"→ {model.url} · {model.model or 'first listed'}{key}"
            )
        print(f"  {name:<{width}}  {described}")
    chosen = resolve_profile(settings)
    print(f"used without flags: {chosen.name} ({chosen.endpoint_key})")
    return 0


def _check_config(path: Path, settings: Settings) -> int:
    """``config --check``: the problems the app would show in its start-up notice."""
    from textual.theme import BUILTIN_THEMES

    from tui_assistant.ui.keymap_check import keymap_problems

    problems = keymap_problems(settings.keymap, settings.theme, BUILTIN_THEMES)
    for problem in problems:
        print(f"{path}: {problem}")
    if not problems:
        print(f"{path}: keymap and theme are fine")
    return 1 if problems else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    try:
        parser = build_parser()
        try:
            args = parser.parse_args(list(argv) if argv is not None else None)
        except SystemExit as exc:  # --help and --version
            return exc.code if isinstance(exc.code, int) else 0
        if args.command == "serve":
            return _run_server(args)
        if args.command == "config":
            return _show_config(args)
        if args.command == "mcp":
            explicit = getattr(args, "config", None)
            path = explicit.expanduser() if explicit is not None else paths.config_file(
                create=False
            )
            return cli_mcp.run(_load(explicit), path)
        if args.command in cli_threads.COMMANDS:
            return cli_threads.run(args)
        return _run_app(args)
    except _UsageError as exc:
        print(f"{PROG}: error: {exc.message} ({exc.hint})", file=sys.stderr)
        return 2
    except AppError as exc:
        print(f"{PROG}: error: {' '.join(exc.message.split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
