"""Full-text search across every saved thread's cached messages.

The screen asks the store (SQLite FTS5, see ``Store.search_messages``) on every
keystroke; a query takes milliseconds. Each hit shows the thread's title, who wrote the
message and when, and an excerpt with the matched words marked. Choosing a hit returns
it (``search_messages`` is that flow, over the workspace's endpoint); the main screen then
opens that thread scrolled to the message.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from tui_assistant.store import HIT_END, HIT_START, SearchHit
from tui_assistant.text import clean_text, one_line

if TYPE_CHECKING:
    from textual.app import App

    from tui_assistant.workspace import Workspace

Searcher = Callable[[str], list[SearchHit]]

ROLE = {"user": "you", "assistant": "assistant"}


_MD_LINE_START = re.compile(r"^\s{0,3}(?:#{1,6}\s+|[-*+]\s+(?:\[[ xX]\]\s+)?|\d+[.)]\s+|>\s?)+")
_MD_INLINE = [  # (pattern, replacement), in this order
    (re.compile(r"(\*\*|~~)(?=\S)(.+?)(?<=\S)\1"), r"\2"),  # bold, strike-through
    # emphasis, but not the underscores of snake_case names
    (re.compile(r"(?<!\w)(__|_|\*)(?=\S)(.+?)(?<=\S)\1(?!\w)"), r"\2"),
    # links and images: their text (a snippet may cut a link's address short)
    (re.compile(r"!?\[([^\]]*)\]\([^)\s]*\)?"), r"\1"),
    (re.compile(r"`+"), ""),  # code marks
]


def _md_plain(line: str) -> str:
    """One line of Markdown source as the text it shows."""
    line = _MD_LINE_START.sub("", line)
    for pattern, replacement in _MD_INLINE:
        previous = None
        while previous != line:  # nested marks (**_x_**)
            previous = line
            line = pattern.sub(replacement, line)
    return line


def snippet_text(snippet: str) -> Text:
    """The store's snippet as Rich ``Text``: the text the Markdown shows (no ``##``,
    ``**`` or fences), on one line with the spacing around matches kept, matched words in
    bold reverse video."""
    lines = [
        _md_plain(line)
        for line in snippet.split("\n")
        if not line.lstrip().startswith(("```", "~~~"))
    ]
    flat = re.sub(r"\s+", " ", " ".join(lines)).strip()
    text = Text(no_wrap=True, overflow="ellipsis")
    marked = False
    for part in flat.replace(HIT_END, HIT_START).split(HIT_START):
        if part:
            text.append(clean_text(part), "bold reverse" if marked else "")
        marked = not marked
    return text


class HitOption(Option):
    """One search hit as a two-line option."""

    def __init__(self, hit: SearchHit) -> None:
        self.hit = hit
        head = Text(no_wrap=True, overflow="ellipsis")
        head.append(one_line(hit.title, 60) or "Untitled", "bold")
        when = datetime.fromtimestamp(hit.created_at).strftime("%Y-%m-%d %H:%M") \
            if hit.created_at else ""
        head.append(f"  {ROLE.get(hit.role, hit.role)}" + (f" · {when}" if when else ""), "dim")
        if hit.archived:
            head.append(" · archived", "dim italic")
        super().__init__(Text("\n").join([head, snippet_text(hit.snippet)]),
                         id=f"{hit.thread_id}/{hit.message_id}")


class SearchScreen(ModalScreen[SearchHit | None]):
    """Search all saved threads; returns the chosen hit, or ``None``.

    | Key | Action |
    | --- | --- |
    | (type) | search as you type |
    | down | go to the results |
    | enter | open the highlighted (or first) result |
    | escape | close |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", tooltip="Close the search", id="search.close"),
        Binding("down", "to_results", "Results", tooltip="Move to the results",
                id="search.to-results", show=False),
    ]

    LIMIT = 50

    def __init__(self, search: Searcher, query: str = "") -> None:
        super().__init__(classes="dialog-screen")
        self.search = search
        self.query_text = query
        self.hits: list[SearchHit] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Search messages in all saved threads", id="title")
            yield Input(value=self.query_text, placeholder="Words to find…", id="query")
            yield Label("Type to search. Every word must appear; the last may be a prefix.",
                        id="status")
            yield OptionList(id="hits")

    @property
    def results(self) -> OptionList:
        return self.query_one("#hits", OptionList)

    def on_mount(self) -> None:
        self.query_one("#query", Input).focus()
        if self.query_text:
            self.run_search(self.query_text)

    @on(Input.Changed, "#query")
    def query_changed(self, event: Input.Changed) -> None:
        self.run_search(event.value)

    def run_search(self, query: str) -> None:
        self.hits = self.search(query) if query.strip() else []
        results = self.results
        results.clear_options()
        results.add_options([HitOption(hit) for hit in self.hits])
        status = self.query_one("#status", Label)
        if not query.strip():
            status.update("Type to search. Every word must appear; the last may be a prefix.")
        elif not self.hits:
            status.update("No message matches.")
        else:
            more = "+" if len(self.hits) >= self.LIMIT else ""
            status.update(f"{len(self.hits)}{more} message{'s' if len(self.hits) != 1 else ''}"
                          " — enter opens the first, down to choose")
        if self.hits:
            results.highlighted = 0

    @on(Input.Submitted, "#query")
    def open_first(self) -> None:
        results = self.results
        index = results.highlighted if results.highlighted is not None else 0
        if self.hits:
            self.dismiss(self.hits[min(index, len(self.hits) - 1)])

    def action_to_results(self) -> None:
        if self.hits:
            self.results.focus()

    @on(OptionList.OptionSelected, "#hits")
    def chosen(self, event: OptionList.OptionSelected) -> None:
        if isinstance(event.option, HitOption):
            self.dismiss(event.option.hit)

    def action_close(self) -> None:
        self.dismiss(None)


async def search_messages(app: App, workspace: Workspace) -> SearchHit | None:
    """The search screen over the saved threads of the workspace's endpoint; the hit
    chosen, or ``None``."""
    store, endpoint = workspace.store, workspace.endpoint
    return await app.push_screen_wait(SearchScreen(
        lambda query: store.search_messages(endpoint, query, limit=SearchScreen.LIMIT)
    ))
