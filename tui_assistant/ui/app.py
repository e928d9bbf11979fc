"""The Textual application: wiring only.

Settings, the profile and the store are passed in (tests build the app around a local
server and a temporary store). The app makes the ``Workspace`` and hands it to the main
screen; it keeps the theme, the keymap, help and the error net for workers.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING, ClassVar

from textual import events
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.theme import Theme
from textual.widgets import Input, TextArea
from textual.worker import Worker, WorkerState

from tui_assistant.backend import Connection, Prestarted, connect, preload_engines
from tui_assistant.config import Profile, Settings
from tui_assistant.errors import AppError
from tui_assistant.store import Store
from tui_assistant.text import clean_text
from tui_assistant.ui.heap import (
    TimedCollections,
    release_strip_cycles,
    resume_gc,
)
from tui_assistant.ui.keys import restore_alt_digits, use_paste_safe_parser
from tui_assistant.ui.screens.main import MainScreen
from tui_assistant.ui.widgets.tool_activity import ToolActivity
from tui_assistant.workspace import Workspace

if TYPE_CHECKING:
    from tui_assistant.tools.mcp import McpManager, McpNotice

Connector = Callable[[Profile, Settings], Awaitable[Connection]]

DIALOG_ACTIONS = frozenset({
    "rename_thread", "export_thread", "goto_thread", "search_messages", "pick_assistant",
    "manage_assistants", "create_assistant", "attach_file", "download_files", "help",
    "command_palette",
    "delete",  # a thread (the thread list) or an assistant (F5): asks first
})
"""Actions that open a dialog, often a moment later (from a worker), by the name their
bindings give them."""
TYPE_AHEAD_WAIT = 1.0
"""Keys typed after a dialog key wait at most this long for the dialog to open."""


def breakpoint_classes(size: int, breakpoints: list[tuple[int, str]]) -> list[str]:
    """The class of the largest breakpoint ``size`` reaches (as ``Screen`` picks it)."""
    for least, name in sorted(breakpoints, reverse=True):
        if size >= least:
            return [name]
    return []


class TuiAssistantApp(App[int]):
    """A keyboard-first client for assistant conversations."""

    TITLE = "tui-assistant"
    # main.tcss too: Textual loads a screen's CSS_PATH when the screen is pushed or its
    # mode starts, not for the screen get_default_screen() returns.
    CSS_PATH = ["screens/main.tcss", "screens/modals.tcss", "screens/library.tcss"]
    # Every screen gets -narrow below 120 columns and -short below 30 rows: the main
    # screen keeps the conversation wide (main.tcss), modals keep their buttons in view.
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-narrow"), (120, "-wide")]
    VERTICAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-short"), (30, "-tall")]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", tooltip="Quit tui-assistant", priority=True,
                id="app.quit"),
        Binding("f1", "help", "Help", tooltip="Show every key and how to remap it",
                id="app.help"),
    ]

    def __init__(
        self,
        *,
        settings: Settings,
        profile: Profile,
        store: Store,
        connector: Connector = connect,
        open_thread_id: str | None = None,
    ) -> None:
        super().__init__()
        restore_alt_digits()
        use_paste_safe_parser()
        self.settings = settings
        self.profile = profile
        self.store = store
        self._loads_engine = connector is connect or isinstance(connector, Prestarted)
        """Whether to load the engine at the first frame (``backend.connect`` connects)."""
        self._prestarted = connector if isinstance(connector, Prestarted) else None
        """Started at the first frame: the local server's process, if any."""
        if self._loads_engine:
            # a Responses engine keeps its assistants in the store
            connector = partial(connector, assistants=store.local_assistants(profile.endpoint_key))
        self._first_frame = asyncio.Event()
        self.connector: Connector = functools.partial(self._connect_after_first_frame, connector)
        """Connects once the first frame is out: the SDK's import would slow it down."""
        self.open_thread_id = open_thread_id
        """A thread to adopt and open once connected (``tui-assistant open ID``)."""
        self._terminal_size: Size | None = None
        """The size of the last ``Resize`` passed on (a repeat of it is dropped)."""
        self._type_ahead: deque[events.Event] | None = None
        """Keys and pastes typed while a dialog is opening; they go to the dialog."""
        self.workspace = Workspace(store, profile, settings)
        release_strip_cycles()
        self._collector = TimedCollections()
        """Full garbage collections in event-loop turns of their own (ui/heap.py)."""

    def get_default_screen(self) -> Screen:
        screen = MainScreen(self.workspace, self._starting_mcp(self.connector),
                            open_thread_id=self.open_thread_id)
        # Textual gives a screen its breakpoint classes (-narrow, -short…) at its first
        # Resize, which comes after the first frame: a narrow terminal's first frame had
        # the wide layout and was laid out and drawn again. The terminal's size is known
        # now; the Resize then finds the classes already set.
        width, height = self.size
        screen.add_class(*breakpoint_classes(width, self.HORIZONTAL_BREAKPOINTS),
                         *breakpoint_classes(height, self.VERTICAL_BREAKPOINTS))
        return screen

    # -- MCP servers -------------------------------------------------------------------

    def _starting_mcp(self, connector: Connector) -> Connector:
        """``connector``, then the MCP servers start in the background (the first frame
        never waits for them)."""

        async def connect_then_start(profile: Profile, settings: Settings) -> Connection:
            connection = await connector(profile, settings)
            self._mcp().start()
            return connection

        return connect_then_start

    def _mcp(self) -> McpManager:
        """The workspace's MCP servers, reporting to the app (made on first use)."""
        manager = self.workspace.mcp
        manager.on_notice = self._mcp_notice
        return manager

    def _mcp_notice(self, notice: McpNotice) -> None:
        """A server is ready (a line in the tool pane) or failed (also a notification,
        with the tail of its stderr)."""
        for screen in self.screen_stack:
            for pane in screen.query(ToolActivity):
                pane.add(notice.level, notice.text.splitlines()[0])
        if notice.level != "ok":
            self.notify(
                notice.text,
                title=f"MCP server {notice.server}",
                severity="error" if notice.level == "error" else "warning",
                timeout=20,
            )

    def restart_mcp_server(self, name: str) -> None:
        """Restart one MCP server (from the palette), in a worker."""

        async def restart() -> None:
            self.notify(f"Restarting MCP server '{name}'…")
            await self._mcp().restart(name)

        self.run_worker(restart(), group=f"mcp-{name}", exclusive=True, exit_on_error=False,
                        description=f"Restarting MCP server {name}")

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for server in self._mcp().servers.values():
            yield SystemCommand(
                f"Restart MCP server {server.name}",
                f"{server.status} · {server.config.target}",
                partial(self.restart_mcp_server, server.name),
            )

    async def on_unmount(self) -> None:
        self._collector.stop()
        await self.workspace.close_mcp()

    def _first_frame_out(self) -> None:
        # The local server's process and the SDK's import start now (the process on
        # another CPU, the import in a thread), while the UI finishes what it does after
        # the first frame; the connection starts once the screen asks for it.
        if self._prestarted is not None:
            self._prestarted.start()
        if self._loads_engine:
            preload_engines()
        self._first_frame.set()

    async def _connect_after_first_frame(
        self, connector: Connector, profile: Profile, settings: Settings
    ) -> Connection:
        await self._first_frame.wait()
        try:
            return await connector(profile, settings)
        finally:
            resume_gc()

    def on_ready(self) -> None:
        """Textual's ``Ready``: the first frame has been written."""
        self._first_frame_out()

    def on_mount(self) -> None:
        self._collector.start(self)
        # The config's theme wins; otherwise the one last chosen from the palette.
        for theme in (self.settings.theme, self.store.get_state("theme")):
            if theme and theme in self.available_themes:
                self.theme = theme
                break
        self.theme_changed_signal.subscribe(self, self._remember_theme)
        if self.settings.keymap:
            self.set_keymap(self.settings.keymap)
        if self.settings.keymap or self.settings.theme:
            self._report_keymap_problems()

    def _report_keymap_problems(self) -> None:
        """Unknown ids and themes, clashing or unusable keys: one notice (see keymap_check)."""
        from tui_assistant.ui.keymap_check import keymap_problems

        problems = keymap_problems(
            self.settings.keymap, self.settings.theme, self.available_themes
        )
        if problems:
            self.notify("\n".join(problems), title="config.toml: keymap and theme",
                        severity="warning", timeout=30)

    # -- typing ahead of a dialog --------------------------------------------------------
    #
    # A key like F2 starts an action that opens its dialog a moment later (a worker pushes
    # it; its input gets the focus once mounted). Keys typed meanwhile used to reach the
    # composer, so "F2, new name, Enter" sent the name as a message. Now keys and pastes
    # that follow a dialog key wait until the dialog has the focus (or the action ended
    # without one, or TYPE_AHEAD_WAIT passed) and are then delivered in order.

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Resize):
            # Textual sends the terminal's size twice at start (from the driver, then
            # once running), and the screen lays itself out and renders again for each.
            if event.size == self._terminal_size:
                return
            self._terminal_size = event.size
        # Only input as it arrives: a key the focused widget did not handle comes back
        # here on its way up (forwarded), and that one Textual handles as before.
        if isinstance(event, (events.Key, events.Paste)) and not event.is_forwarded:
            if self._type_ahead is not None:
                self._type_ahead.append(event)
            else:
                await self._deliver(event, deque())
            return
        await super().on_event(event)

    async def _deliver(self, event: events.Event, after: deque[events.Event]) -> bool:
        """Handle typed input; if it opens a dialog, hold ``after`` and what follows."""
        opens = isinstance(event, events.Key) and self._opens_dialog(event.key)
        screen, workers = self.screen, set(self.workers)
        await super().on_event(event)
        if opens:
            self._hold_typing(screen, workers, after)
        return opens

    def _opens_dialog(self, key: str) -> bool:
        focused = self.focused
        if len(key) == 1 and isinstance(focused, (Input, TextArea)):
            return False  # typing text (the common case): no binding to look up
        try:
            active = self.screen.active_bindings.get(key)
        except Exception:  # no screen yet
            return False
        if active is None or not active.enabled:
            return False
        action = active.binding.action.split("(")[0].rpartition(".")[2]
        return action in DIALOG_ACTIONS

    def _focus_chain_idle(self) -> bool:
        focused = self.focused
        nodes = list(focused.ancestors_with_self) if focused is not None else [self.screen]
        return all(node._message_queue.empty() for node in nodes if node is not self)

    def _hold_typing(self, screen: Screen, workers: set, held: deque[events.Event]) -> None:
        self._type_ahead = held
        started = time.monotonic()
        released = False

        async def check() -> None:
            nonlocal released
            if not released:
                # The binding runs once the key has passed the focused widget, and its
                # worker may start later still: look for workers new since the key.
                current, focused = self.screen, self.focused
                waited = time.monotonic() - started
                opened = (current is not screen and focused is not None
                          and focused.screen is current)
                new = [w for w in self.workers if w not in workers]
                ended = current is screen and (
                    all(w.is_finished for w in new) if new else waited > TYPE_AHEAD_WAIT / 4
                )
                released = opened or ended or waited > TYPE_AHEAD_WAIT
                if not released:
                    return
            # One held event at a time, once the last has been handled all the way up
            # (a key's binding runs as it bubbles), so ctrl+u still comes before the text.
            if not self._focus_chain_idle():
                return
            if not held:
                timer.stop()
                self._type_ahead = None
                return
            if await self._deliver(held.popleft(), held):
                timer.stop()  # it opens a dialog again: a new hold took over the rest

        timer = self.set_interval(0.02, check)

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Notifications never read markup: their text is often the endpoint's (error
        messages, names), so ``markup`` is ignored and escape sequences are removed."""
        super().notify(
            clean_text(str(message)),
            title=clean_text(str(title)),
            severity=severity,
            timeout=timeout,
            markup=False,
        )

    def _remember_theme(self, theme: Theme) -> None:
        self.store.set_state("theme", theme.name)

    def action_help(self) -> None:
        """F1: the keys of the screen underneath, as remapped."""
        from tui_assistant.ui.screens.help import HelpScreen, key_rows

        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(key_rows(self, self.screen)))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Any worker failure becomes a notification, never a traceback."""
        if event.state is not WorkerState.ERROR:
            return
        error = event.worker.error
        if isinstance(error, AppError):
            self.notify(error.message, title=error.title, severity="error")
        else:
            self.log.error(event.worker, error)
            self.notify(
                f"{type(error).__name__}: {error}",
                title=f"{event.worker.description or 'Background task'} failed",
                severity="error",
            )


def launch(
    *,
    settings: Settings,
    profile: Profile,
    store: Store,
    open_thread_id: str | None = None,
    connector: Connector = connect,
) -> int:
    """Run the app until the user quits; the CLI's entry point."""
    from tui_assistant.ui.widgets.image_preview import prepare_inline_images

    prepare_inline_images()  # asks the terminal about images before Textual takes it over
    app = TuiAssistantApp(
        settings=settings, profile=profile, store=store, open_thread_id=open_thread_id,
        connector=connector,
    )
    try:
        app.run()
    finally:
        store.close()
    return app.return_code or 0
