"""The one-line header: endpoint, assistant, model and run status."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from tui_assistant.backend import LOCAL_HINT, LOCAL_LABEL
from tui_assistant.text import one_line

if TYPE_CHECKING:
    from tui_assistant.backend import Connection
    from tui_assistant.config import Profile
    from tui_assistant.workspace import Workspace

STATUS_STYLES = {
    "connecting": "yellow",
    "ready": "green",
    "streaming": "bold cyan",
    "queued": "cyan",
    "in_progress": "bold cyan",
    "requires_action": "bold yellow",
    "cancelling": "yellow",
    "cancelled": "yellow",
    "completed": "green",
    "failed": "bold red",
    "expired": "bold red",
    "incomplete": "yellow",
    "error": "bold red",
    "offline": "bold red",
}


class StatusHeader(Static):
    """Where we are talking to, with whom, and what the current run is doing."""

    DEFAULT_CSS = """
    StatusHeader {
        height: auto;
        width: 1fr;
        background: $panel;
        color: $foreground;
        padding: 0 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    endpoint: reactive[str] = reactive("")
    assistant: reactive[str] = reactive("")
    model: reactive[str] = reactive("")
    status: reactive[str] = reactive("connecting")
    hint: reactive[str] = reactive("", layout=True)
    usage: reactive[str] = reactive("")
    thread: reactive[str] = reactive("")
    """The open thread's title (empty for a new thread)."""

    def show_profile(self, profile: Profile) -> None:
        """Where the app is about to connect."""
        self.endpoint = "local server" if profile.is_local else (profile.base_url or "")

    def show_thread(self, workspace: Workspace) -> None:
        """The open thread, the assistant it talks to and its token counts."""
        current, assistant = workspace.current, workspace.assistant
        self.thread = current.title if current is not None else ""
        if assistant is not None:
            self.assistant, self.model = assistant.label, assistant.model
        self.usage = workspace.usage_label()

    def show_connection(self, connection: Connection) -> None:
        """Where the app is connected (and through which API, when it is not the
        Assistants API); how to use the local server, when it is the demo one."""
        self.endpoint = connection.title
        if connection.is_local and connection.label == LOCAL_LABEL:
            self.hint = LOCAL_HINT

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append("tui-assistant", "bold")
        text.append("  │  ", "dim")
        # The run status first: in a narrow terminal the rest is what gets cut.
        text.append("● " + self.status.replace("_", " "), STATUS_STYLES.get(self.status, ""))
        text.append("  │  ", "dim")
        if self.thread:
            text.append(one_line(self.thread, 40), "bold")
            text.append("  │  ", "dim")
        text.append(one_line(self.endpoint, 60) or "…")
        if self.assistant:
            text.append("  │  ", "dim")
            text.append(one_line(self.assistant, 40), "bold")
            if self.model:
                text.append(" · " + one_line(self.model, 30), "dim")
        if self.usage:
            text.append("  │  ", "dim")
            text.append(self.usage, "dim")
        if self.hint:
            text.append("\n")
            text.append(self.hint, "italic dim")
        return text
