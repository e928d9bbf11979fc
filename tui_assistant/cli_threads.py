"""The thread commands of the CLI: ``threads``, ``open THREAD_ID`` and ``export THREAD_ID``.

``cli.py`` adds the parsers with ``add_parsers`` and hands a parsed command to ``run``.
Like the rest of the CLI, every failure a user can fix ends as one line on stderr with
exit status 2 (an ``AppError`` raised to ``cli.main``), never a traceback.

* ``threads`` lists the saved threads of the chosen profile's endpoint, from the local
  store (no network): pinned first, then by last use.
* ``open THREAD_ID`` starts the app on a thread created elsewhere (a script, another
  client): the app checks it exists on the endpoint, saves it and shows its history.
* ``export THREAD_ID`` writes the thread as Markdown or JSON (``--format``, or from the
  ``--output`` file's suffix; Markdown by default) to ``--output`` or standard output.
  It asks the endpoint (starting the built-in local server for the local profile) and
  falls back to the locally cached copy, with a note on stderr, when the endpoint cannot
  be reached or no longer has the thread.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from tui_assistant.errors import ConfigError, EngineError, NotFoundError

if TYPE_CHECKING:
    from tui_assistant.config import Profile, Settings
    from tui_assistant.store import Store
    from tui_assistant.workspace import Workspace

COMMANDS = ("threads", "open", "export")
EPILOG_LINES = """\
  {prog} threads [--all]    list saved threads (of the chosen profile's endpoint)
  {prog} open THREAD_ID     open a thread created elsewhere, and save it
  {prog} export THREAD_ID [--format md|json] [--output PATH]
  {pad}write a thread (messages, tool calls, usage)"""

_THREAD_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")


def _thread_id(text: str) -> str:
    text = text.strip()
    if not _THREAD_ID.match(text):
        raise argparse.ArgumentTypeError(f"not a thread id: {text!r}")
    return text


def _common(parser: argparse.ArgumentParser) -> None:
    """Options that may also follow the command (``threads --profile work``)."""
    parser.add_argument("--profile", metavar="NAME", default=argparse.SUPPRESS,
                        help="use the named profile from the config file")
    parser.add_argument("--base-url", metavar="URL", default=argparse.SUPPRESS,
                        help="talk to this endpoint")
    parser.add_argument("--config", metavar="PATH", type=Path, default=argparse.SUPPRESS,
                        help="read settings from PATH (must exist)")


def add_parsers(commands: argparse._SubParsersAction) -> None:
    """Add ``threads``, ``open`` and ``export`` to the CLI's subcommands."""
    threads = commands.add_parser(
        "threads",
        help="list saved threads",
        description="List the threads saved on this machine for the chosen profile's "
        "endpoint, pinned first, then most recently used. Reads the local store only.",
    )
    threads.add_argument("--all", action="store_true", help="include archived threads")
    _common(threads)

    opener = commands.add_parser(
        "open",
        help="open a thread created elsewhere (by id), and save it",
        description="Start the app on THREAD_ID, a thread created by another client or a "
        "script. The app checks that the endpoint has it, saves it to the thread list and "
        "shows its history.",
    )
    opener.add_argument("thread_id", metavar="THREAD_ID", type=_thread_id)
    _common(opener)

    export = commands.add_parser(
        "export",
        help="write a thread as Markdown or JSON",
        description="Write a thread -- its messages, tool calls with their inputs and "
        "outputs, and run usage -- as Markdown or JSON. The endpoint is asked first; if it "
        "cannot be reached the locally cached copy is written, with a note on stderr. "
        "Exports never contain API keys.",
    )
    export.add_argument("thread_id", metavar="THREAD_ID", type=_thread_id)
    export.add_argument("--format", choices=("md", "json"), default=None,
                        help="md or json (default: from --output's suffix, else md)")
    export.add_argument("--output", "-o", metavar="PATH", type=Path, default=None,
                        help="write to PATH (default: standard output)")
    _common(export)


def run(args: argparse.Namespace) -> int:
    """Run ``args.command`` (one of ``COMMANDS``); returns the exit status."""
    from tui_assistant import cli

    settings = cli._load(args.config)
    if args.command == "threads":
        return _list_threads(args, settings)
    profile = _profile(args, settings)
    if args.command == "open":
        return _open(args, settings, profile)
    return _export(args, settings, profile)


def _profile(args: argparse.Namespace, settings: Settings) -> Profile:
    from tui_assistant.config import resolve_profile

    return resolve_profile(
        settings,
        name=args.profile,
        base_url=args.base_url,
        assistant_id=getattr(args, "assistant", None),
        engine=getattr(args, "engine", None),
    )


def _open_store() -> Store:
    from tui_assistant import paths
    from tui_assistant.store import Store

    return Store.open(paths.store_path())


# --- threads ---------------------------------------------------------------------------------


def _list_threads(args: argparse.Namespace, settings: Settings) -> int:
    profile = _profile(args, settings)
    from tui_assistant.text import one_line, relative_time

    store = _open_store()
    try:
        saved = store.list_threads(profile.endpoint_key, include_archived=args.all)
    finally:
        store.close()
    if not saved:
        where = "the built-in local server" if profile.is_local else profile.endpoint_key
        print(f"No saved threads for {where}.", file=sys.stderr)
        return 0
    now = time.time()
    width = max(len(t.thread_id) for t in saved)
    for thread in saved:
        flags = ("pinned " if thread.pinned else "") + ("archived " if thread.archived else "")
        title = one_line(thread.title, 80)
        when = relative_time(thread.last_used, now)
        when = "just now" if when == "now" else when if "-" in when else f"{when} ago"
        print(f"{thread.thread_id:<{width}}  {when:>10}  {flags}{title}")
    return 0


# --- open ------------------------------------------------------------------------------------


def _open(args: argparse.Namespace, settings: Settings, profile: Profile) -> int:

    profile = profile.with_key()
    store = _open_store()
    try:
        from tui_assistant.backend import prestart

        connector = prestart(profile, settings)
        try:
            from tui_assistant.ui.app import launch

            return launch(settings=settings, profile=profile, store=store,
                          open_thread_id=args.thread_id, connector=connector)
        finally:
            connector.stop()
    finally:
        store.close()


# --- export ----------------------------------------------------------------------------------


def _format(args: argparse.Namespace) -> str:
    if args.format:
        return args.format
    if args.output is not None and args.output.suffix.lower() == ".json":
        return "json"
    if args.output is not None and args.output.suffix.lower() not in ("", ".md", ".markdown"):
        raise ConfigError(
            f"cannot tell the format from {args.output.name}: add --format md or --format json"
        )
    return "md"


def _export(args: argparse.Namespace, settings: Settings, profile: Profile) -> int:
    from tui_assistant import cli
    from tui_assistant.export import render, write_export
    from tui_assistant.workspace import Workspace

    fmt = _format(args)
    profile = profile.with_key()
    store = _open_store()
    try:
        workspace = Workspace(store, profile, settings)
        try:
            document, reason = asyncio.run(_collect(workspace, args.thread_id))
        except NotFoundError as error:  # an id that is neither saved nor on the endpoint
            raise NotFoundError(f"{error.message} '{cli.PROG} threads' lists the threads "
                                "saved here.") from error
    finally:
        store.close()
    if reason:
        print(f"{cli.PROG}: note: {reason}; writing the locally cached copy instead "
              "(no tool calls)", file=sys.stderr)
    text = render(document, fmt, secrets=workspace.secrets())  # type: ignore[arg-type]
    if args.output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return 0
    written = write_export(args.output, text)
    print(f"wrote {written} ({len(document.messages)} messages, {len(document.runs)} runs)",
          file=sys.stderr)
    return 0


async def _collect(workspace: Workspace, thread_id: str):
    """The export through the workspace the app uses: from the endpoint, or from the
    local cache when the endpoint cannot be reached or no longer has the thread."""
    from tui_assistant.backend import connect

    try:
        connection = await connect(workspace.profile, workspace.settings)
    except EngineError as error:
        if workspace.get_thread(thread_id) is None:
            raise
        return await workspace.export(thread_id, offline_reason=error.message)
    try:
        workspace.attach_engine(connection.engine)
        return await workspace.export(thread_id)
    finally:
        await connection.close()
