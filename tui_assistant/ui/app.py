"""The Textual application: wiring only.

Settings, the profile and the store are passed in (tests build the app around a local
server and a temporary store); the main screen does the work.
"""

from __future__ import annotations

import asyncio
import functools
import warnings
from collections.abc import Awaitable, Callable, Iterable
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
from tui_assistant.ui.commands import ThreadCommands
from tui_assistant.ui.keys import restore_alt_digits
from tui_assistant.ui.sanitize import clean_text
from tui_assistant.ui.screens.help import HelpScreen, key_rows
from tui_assistant.ui.screens.main import MainScreen

Connector = Callable[[Profile, Settings], Awaitable[Connection]]


class TuiAssistantApp(App[int]):
    """A keyboard-first client for assistant conversations."""

    TITLE = "tui-assistant"
    CSS_PATH = ["screens/modals.tcss", "screens/library.tcss"]
    COMMANDS = App.COMMANDS | {ThreadCommands}
    MODES: ClassVar = {"main": MainScreen}
    DEFAULT_MODE = "main"
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
        self._first_frame = asyncio.Event()
        self.connector: Connector = functools.partial(self._connect_after_first_frame, connector)
        """Connects once the first frame is out: the SDK's import would slow it down."""
        self.open_thread_id = open_thread_id
        """A thread to adopt and open once connected (``tui-assistant open ID``)."""

    async def _connect_after_first_frame(
        self, connector: Connector, profile: Profile, settings: Settings
    ) -> Connection:
        await self._first_frame.wait()
        return await connector(profile, settings)

    def on_mount(self) -> None:
        self.call_after_refresh(self._first_frame.set)
        # The config's theme wins; otherwise the one last chosen from the palette.
        for theme in (self.settings.theme, self.store.get_state("theme")):
            if theme and theme in self.available_themes:
                self.theme = theme
                break
        self.theme_changed_signal.subscribe(self, self._remember_theme)
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
            yield SystemCommand("Attach file", "Attach a local file to the next message",
                                screen.action_attach_file)
            yield SystemCommand("Clear attachments", "Attach nothing to the next message",
                                screen.action_clear_attachments)
            yield SystemCommand("Download files", "Save the files this thread refers to",
                                screen.action_download_files)
            yield SystemCommand("Tool activity", "Focus the tool-activity pane",
                                screen.action_focus_tools)
            yield from screen.library_commands()

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
    *,
    settings: Settings,
    profile: Profile,
    store: Store,
    open_thread_id: str | None = None,
    connector: Connector = connect,
) -> int:
    """Run the app until the user quits; the CLI's entry point."""
    warnings.filterwarnings("ignore", category=DeprecationWarning,
                            message=r"The Assistants API is deprecated")
    warnings.filterwarnings("ignore", category=DeprecationWarning, message=r"deprecated$")
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
