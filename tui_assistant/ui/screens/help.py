"""F1: every key of the app, as the user's keymap has it, grouped by where it works.

The table is built from the ``BINDINGS`` of our own classes that are on screen (the app,
the screen under the help, and every widget in it), with the config's ``[keymap]``
applied, so a remapped key shows its new keys. Each row names the binding's id: the name
to use in ``[keymap]``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.widgets import Label, Static

OWN_PACKAGE = "tui_assistant."

FORBIDDEN_PRIMARY_KEYS = frozenset({"ctrl+m", "ctrl+i", "ctrl+j", "ctrl+left_square_bracket"})
"""Keys a terminal cannot tell apart from enter, tab, newline and escape."""

HELP_EXAMPLE = '"thread.rename" = "f3"'
"""The remapping F1 suggests: a key no binding uses (a test keeps it so)."""

HELP_GROUPS = {
    "app": "Everywhere",
    "thread": "Threads",
    "search": "Threads",
    "run": "Runs",
    "composer": "Composer",
    "extra": "Composer",
    "assistant": "Assistants",
    "files": "Tools and files",
    "tools": "Tool activity",
    "threads": "Thread list",
    "conversation": "Conversation",
}
"""Help headings by binding group: the part of a binding's id before the dot."""


def help_group(binding_id: str) -> str:
    """The heading a binding is listed under in F1 (from its id's group)."""
    group = binding_id.partition(".")[0] if "." in binding_id else ""
    return HELP_GROUPS.get(group, group.replace("-", " ").capitalize() or "Other")


@dataclass(frozen=True)
class KeyRow:
    """One binding as the help screen shows it."""

    area: str
    binding_id: str
    keys: tuple[str, ...]
    description: str
    tooltip: str
    action: str = ""
    """The binding's action, without a ``screen.``/``app.`` namespace."""


def _bindings(cls: type) -> list[Binding]:
    found = []
    for item in cls.__dict__.get("BINDINGS", []):
        if isinstance(item, Binding):
            found.append(item)
        else:
            found.append(Binding(*item))
    return found


def own_binding_classes(nodes: Iterable[DOMNode]) -> list[type]:
    """Our classes (in MRO order, each once) that declare ``BINDINGS`` among ``nodes``."""
    seen: list[type] = []
    for node in nodes:
        for cls in type(node).__mro__:
            if (
                cls.__module__.startswith(OWN_PACKAGE)
                and "BINDINGS" in cls.__dict__
                and cls not in seen
            ):
                seen.append(cls)
    return seen


def key_rows(app: App, screen: Screen) -> list[KeyRow]:
    """The rows of the help table for ``screen`` (see the module docstring), grouped by
    ``help_group``."""
    keymap: dict[str, str] = dict(getattr(app, "_keymap", {}) or {})
    nodes: list[DOMNode] = [app, screen, *screen.query("*")]
    rows: list[KeyRow] = []
    seen_ids: set[str] = set()
    for cls in own_binding_classes(nodes):
        for binding in _bindings(cls):
            if binding.id and binding.id in seen_ids:
                continue
            if binding.id:
                seen_ids.add(binding.id)
            keys = keymap.get(binding.id, binding.key) if binding.id else binding.key
            rows.append(
                KeyRow(
                    area=help_group(binding.id or ""),
                    binding_id=binding.id or "",
                    keys=tuple(k.strip() for k in keys.split(",") if k.strip()),
                    description=binding.description,
                    tooltip=binding.tooltip,
                    action=binding.action.removeprefix("screen.").removeprefix("app."),
                )
            )
    return rows


class HelpScreen(ModalScreen[None]):
    """The keys of the app (F1)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,f1,q", "close", "Close", tooltip="Close the help", id="help.close"),
    ]

    def __init__(self, rows: list[KeyRow]) -> None:
        super().__init__(classes="dialog-screen")
        self.rows = rows

    def _table(self) -> Table:
        table = Table(box=None, expand=True, show_header=True, header_style="bold",
                      pad_edge=False)
        table.add_column("Keys", no_wrap=True)
        table.add_column("Action")
        table.add_column("Keymap id", style="dim", no_wrap=True)
        area = None
        for row in self.rows:
            if row.area != area:
                area = row.area
                table.add_row(Text(area, style="bold underline"), "", "")
            keys = ", ".join(self.app.get_key_display(Binding(k, "")) for k in row.keys)
            action = Text(row.tooltip or row.description)
            table.add_row(keys, action, row.binding_id)
        return table

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Keys", id="title")
            with VerticalScroll(id="keys-scroll"):
                yield Static(self._table(), id="keys-table")
            yield Label(  # Text: "[keymap]" is not markup
                Text(f"Remap a key in config.toml: [keymap] {HELP_EXAMPLE}. "
                     "`tui-assistant config --check` finds unknown ids and clashing keys. "
                     "Ctrl+P opens the command palette (themes: \"Theme\")."),
                id="detail",
            )

    def action_close(self) -> None:
        self.dismiss(None)
