"""Command-palette providers of the main screen (``MainScreen.COMMANDS``).

``ScreenCommands`` lists what ``screen.palette_commands()`` offers, each with the key that
does the same (as remapped); ``main_screen_commands`` is that list for the main screen.
``ThreadCommands`` offers ``Go to: <title>`` for every thread; ``goto_thread`` (ctrl+g)
opens the palette on the thread titles alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Protocol

from textual.command import DiscoveryHit, Hit, Hits, Provider

from tui_assistant.text import one_line
from tui_assistant.ui.keys import key_label

if TYPE_CHECKING:
    from tui_assistant.store import SavedThread
    from tui_assistant.ui.screens.main import MainScreen


@dataclass(frozen=True)
class PaletteCommand:
    """One palette entry: what it is called, what it does, and its key's binding id."""

    name: str
    help: str
    callback: Callable[[], object]
    binding_id: str = ""


class HasPaletteCommands(Protocol):
    def palette_commands(self) -> Iterable[PaletteCommand]: ...


class ScreenCommands(Provider):
    """The screen's own commands, each with its key."""

    def _commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        screen = self.screen
        if not hasattr(screen, "palette_commands"):
            return []
        found = []
        for command in screen.palette_commands():  # type: ignore[attr-defined]
            key = key_label(self.app, command.binding_id) if command.binding_id else ""
            help_text = f"{command.help} ({key})" if key else command.help
            found.append((command.name, help_text, command.callback))
        return found

    async def discover(self) -> Hits:
        for name, help_text, callback in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)


class ThreadCommands(Provider):
    """``Go to: <title>`` for every saved thread, fuzzy-matched."""

    def _threads(self):
        screen = self.screen
        threads = getattr(screen, "threads", None)
        return screen, list(getattr(threads, "all_threads", []))

    async def discover(self) -> Hits:
        screen, threads = self._threads()
        for thread in threads[:10]:
            title = one_line(thread.title, 60) or "Untitled"
            yield DiscoveryHit(
                f"Go to: {title}", partial(screen.open_thread, thread),
                help=one_line(thread.preview, 80) or None,
            )

    async def search(self, query: str) -> Hits:
        screen, threads = self._threads()
        matcher = self.matcher(query)
        for thread in threads:
            title = one_line(thread.title, 60) or "Untitled"
            name = f"Go to: {title}"
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), partial(screen.open_thread, thread),
                          help=one_line(thread.preview, 80) or None)


def main_screen_commands(screen: MainScreen) -> list[PaletteCommand]:
    """The palette's entries for the main screen (``ScreenCommands`` shows their keys)."""
    c = PaletteCommand
    pane, conversation = screen.threads_pane, screen.conversation_pane
    return [
        c("New thread", "Start a new conversation", screen.action_new_thread, "thread.new"),
        c("Go to thread", "Find a saved thread by name", screen.action_goto_thread,
          "thread.goto"),
        c("Rename thread", "Give the thread a new title", screen.action_rename_thread,
          "thread.rename"),
        c("Delete thread", "Delete the thread here and on the endpoint", pane.action_delete),
        c("Archive or unarchive thread", "Hide the thread from the list, or bring it back",
          pane.action_archive),
        c("Pin or unpin thread", "Keep the thread at the top of the list", pane.action_pin),
        c("Hide archived threads" if pane.show_archived else "Show archived threads",
          "Toggle archived threads in the thread list", pane.action_toggle_archived),
        c("Filter threads", "Type to narrow the thread list", screen.action_filter_threads,
          "thread.filter"),
        c("Search messages", "Full-text search of every saved thread",
          screen.action_search_messages, "search.open"),
        c("Export thread as Markdown", "Write the thread to a .md file",
          lambda: screen.action_export_thread("md"), "thread.export"),
        c("Export thread as JSON", "Write the thread to a .json file",
          lambda: screen.action_export_thread("json")),
        c("Open thread by id", "Adopt a thread created elsewhere", pane.action_open_by_id),
        c("Choose assistant", "Pick the assistant to talk to", screen.action_pick_assistant,
          "assistant.pick"),
        c("Create assistant", "Create a new assistant on the endpoint",
          screen.action_create_assistant),
        c("Manage assistants", "List, create, edit and delete assistants; switch this "
          "thread's", screen.action_manage_assistants, "assistant.manage"),
        c("Cancel run", "Cancel the active run", screen.action_cancel_run, "run.cancel"),
        c("Extra instructions for the next run", "Add instructions to the next run only",
          screen.action_toggle_extra_instructions, "composer.extra"),
        c("Attach file", "Attach a local file to the next message",
          screen.action_attach_file, "files.attach"),
        c("Clear attachments", "Attach nothing to the next message",
          conversation.action_clear_attachments),
        c("Download files", "Save the files this thread refers to",
          screen.action_download_files, "files.download"),
        c("Tool activity", "Focus the tool-activity pane", screen.action_focus_tools,
          "tools.focus"),
        c("Copy last reply", "Copy the newest reply to the clipboard",
          conversation.action_copy_last_reply),
        c("Keys and help", "Every key, as remapped, and its keymap id",
          screen.app.action_help, "app.help"),  # type: ignore[attr-defined]
    ]


def goto_thread(screen: MainScreen) -> None:
    """The palette on the saved threads' titles alone; the one chosen opens (ctrl+g)."""

    def opener(thread: SavedThread):
        async def open_it() -> None:
            await screen.open_thread(thread)
            screen.composer.focus()

        return open_it

    screen.app.search_commands(
        [(one_line(t.title, 60) or "Untitled", opener(t), one_line(t.preview, 80) or None)
         for t in screen.threads.threads],
        placeholder="Go to thread…",
    )
