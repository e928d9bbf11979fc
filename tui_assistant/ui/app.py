"""The Textual application: wiring only.

Settings, the profile and the store are passed in (tests build the app around a local
server and a temporary store); the main screen does the work.
"""

from __future__ import annotations

import warnings
from collections.abc import Awaitable, Callable, Iterable
from typing import ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from tui_assistant.backend import Connection, connect
from tui_assistant.config import Profile, Settings
from tui_assistant.errors import AppError
from tui_assistant.store import Store
from tui_assistant.ui.commands import ThreadCommands
from tui_assistant.ui.screens.main import MainScreen

Connector = Callable[[Profile, Settings], Awaitable[Connection]]


class TuiAssistantApp(App[int]):
    """A keyboard-first client for assistant conversations."""

    TITLE = "tui-assistant"
    CSS_PATH = ["screens/modals.tcss"]
    COMMANDS = App.COMMANDS | {ThreadCommands}
    MODES: ClassVar = {"main": MainScreen}
    DEFAULT_MODE = "main"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", tooltip="Quit tui-assistant", priority=True,
                id="app.quit"),
    ]

    def __init__(
        self,
        *,
        settings: Settings,
        profile: Profile,
        store: Store,
        connector: Connector = connect,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.profile = profile
        self.store = store
        self.connector = connector

    def on_mount(self) -> None:
        if self.settings.theme and self.settings.theme in self.available_themes:
            self.theme = self.settings.theme
        if self.settings.keymap:
            self.set_keymap(self.settings.keymap)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if isinstance(screen, MainScreen):
            yield SystemCommand("New thread", "Start a new conversation", screen.action_new_thread)
            yield SystemCommand("Go to thread", "Find a saved thread by name",
                                screen.action_goto_thread)
            yield SystemCommand("Choose assistant", "Pick the assistant to talk to",
                                screen.action_pick_assistant)
            yield SystemCommand("Create assistant", "Create a new assistant on the endpoint",
                                screen.action_create_assistant)
            yield SystemCommand("Cancel run", "Cancel the active run", screen.action_cancel_run)

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


def launch(*, settings: Settings, profile: Profile, store: Store) -> int:
    """Run the app until the user quits; the CLI's entry point."""
    warnings.filterwarnings("ignore", category=DeprecationWarning,
                            message=r"The Assistants API is deprecated")
    warnings.filterwarnings("ignore", category=DeprecationWarning, message=r"deprecated$")
    app = TuiAssistantApp(settings=settings, profile=profile, store=store)
    try:
        app.run()
    finally:
        store.close()
    return app.return_code or 0
