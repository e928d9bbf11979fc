"""The Textual application: wiring only.

Settings, the profile and the store are passed in (tests build the app around a local
server and a temporary store). The app makes the ``Workspace`` and hands it to the main
screen; it keeps the theme, the keymap, help and the error net for workers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from typing import ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.theme import Theme
from textual.worker import Worker, WorkerState

from tui_assistant.backend import Connection, connect
from tui_assistant.config import Profile, Settings
from tui_assistant.errors import AppError
from tui_assistant.store import Store
from tui_assistant.text import clean_text
from tui_assistant.tools.mcp import McpNotice
from tui_assistant.ui.keys import restore_alt_digits
from tui_assistant.ui.screens.help import HelpScreen, key_rows
from tui_assistant.ui.screens.main import MainScreen
from tui_assistant.ui.widgets.tool_activity import ToolActivity
from tui_assistant.workspace import Workspace

Connector = Callable[[Profile, Settings], Awaitable[Connection]]


class TuiAssistantApp(App[int]):
    """A keyboard-first client for assistant conversations."""

    TITLE = "tui-assistant"
    CSS_PATH = ["screens/modals.tcss", "screens/library.tcss"]
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
        self.settings = settings
        self.profile = profile
        self.store = store
        if connector is connect:  # a Responses engine keeps its assistants in the store
            connector = partial(connect, assistants=store.local_assistants(profile.endpoint_key))
        self.connector = connector
        self.open_thread_id = open_thread_id
        """A thread to adopt and open once connected (``tui-assistant open ID``)."""
        self.workspace = Workspace(store, profile, settings)
        self.workspace.mcp.on_notice = self._mcp_notice

    def get_default_screen(self) -> Screen:
        return MainScreen(self.workspace, self._starting_mcp(self.connector),
                          open_thread_id=self.open_thread_id)

    # -- MCP servers -------------------------------------------------------------------

    def _starting_mcp(self, connector: Connector) -> Connector:
        """``connector``, then the MCP servers start in the background (the first frame
        never waits for them)."""

        async def connect_then_start(profile: Profile, settings: Settings) -> Connection:
            connection = await connector(profile, settings)
            self.workspace.mcp.start()
            return connection

        return connect_then_start

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
            await self.workspace.mcp.restart(name)

        self.run_worker(restart(), group=f"mcp-{name}", exclusive=True, exit_on_error=False,
                        description=f"Restarting MCP server {name}")

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for server in self.workspace.mcp.servers.values():
            yield SystemCommand(
                f"Restart MCP server {server.name}",
                f"{server.status} · {server.config.target}",
                partial(self.restart_mcp_server, server.name),
            )

    async def on_unmount(self) -> None:
        await self.workspace.mcp.aclose()

    def on_mount(self) -> None:
        # The config's theme wins; otherwise the one last chosen from the palette.
        for theme in (self.settings.theme, self.store.get_state("theme")):
            if theme and theme in self.available_themes:
                self.theme = theme
                break
        self.theme_changed_signal.subscribe(self, self._remember_theme)
        if self.settings.keymap:
            self.set_keymap(self.settings.keymap)

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
    *, settings: Settings, profile: Profile, store: Store, open_thread_id: str | None = None
) -> int:
    """Run the app until the user quits; the CLI's entry point."""
    from tui_assistant.ui.widgets.image_preview import prepare_inline_images

    prepare_inline_images()  # asks the terminal about images before Textual takes it over
    app = TuiAssistantApp(
        settings=settings, profile=profile, store=store, open_thread_id=open_thread_id
    )
    try:
        app.run()
    finally:
        store.close()
    return app.return_code or 0
