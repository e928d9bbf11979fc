"""The Textual application: wiring only.

Settings, the profile and the store are passed in (tests build the app around a local
server and a temporary store). The app makes the ``Workspace`` and hands it to the main
screen; it keeps the theme, the keymap, help and the error net for workers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import ClassVar

from textual.app import App
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
from tui_assistant.ui.keys import restore_alt_digits
from tui_assistant.ui.screens.help import HelpScreen, key_rows
from tui_assistant.ui.screens.main import MainScreen
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

    def get_default_screen(self) -> Screen:
        return MainScreen(self.workspace, self.connector, open_thread_id=self.open_thread_id)

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
