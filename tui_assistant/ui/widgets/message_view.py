"""One message of the conversation, as a single lightweight widget.

A ``MessageView`` draws cached lines through the line API instead of mounting a tree of
Markdown widgets, so a long history adds one widget per message to every layout pass
and a finished message costs nothing to keep. Assistant text is Markdown, rendered
block by block (see ``markdown_blocks``); user text is shown as typed.
"""

from __future__ import annotations

import time
from datetime import datetime

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.timer import Timer
from textual.widget import Widget

from tui_assistant.text import one_line
from tui_assistant.ui.markdown_blocks import BlockRenderer, plain_lines

ROLE_LABELS = {"user": "you", "assistant": "assistant"}

GROWTH_INTERVAL = 0.25
"""Least seconds between two growths of a streaming message's height.

Every new line of a streaming reply means a layout pass and, with the conversation
anchored to the bottom, a repaint of the whole visible conversation. Text keeps arriving
on every flush (``conversation.FLUSH_INTERVAL``); new lines are let in with the first
flush at least this long after the previous growth, so the view scrolls in calm steps
(about three a second) and a paced reply costs far less CPU. If the stream pauses, held
lines come in on their own shortly after; a finished message shows whole at once.
"""


class MessageView(Widget):
    """A message: a label line, then the body."""

    DEFAULT_CSS = """
    MessageView {
        height: auto;
        width: 1fr;
        padding: 0 1;
        margin: 0 0 1 0;
    }
    MessageView.-user {
        border-left: outer $primary 60%;
    }
    MessageView.-assistant {
        border-left: outer $secondary 40%;
    }
    MessageView.-streaming {
        border-left: outer $accent;
    }
    MessageView.-failed {
        border-left: outer $error;
    }
    """

    def __init__(
        self,
        role: str,
        text: str = "",
        *,
        message_id: str | None = None,
        created_at: float | None = None,
        streaming: bool = False,
        note: str = "",
        author: str = "",
    ) -> None:
        super().__init__(classes=f"-{role}" + (" -streaming" if streaming else ""))
        self.role = role
        self.author = author
        """Who wrote it, for the label (the assistant's name); the role when empty."""
        self.message_id = message_id
        self.created_at = created_at
        self.note = note
        self._markdown = role != "user"
        self._renderer: BlockRenderer | None = None
        self._plain = text
        self._initial = text
        self._cache_key: tuple[int, int] | None = None
        self._lines: list[Strip] = []
        self._painted: dict[int, tuple[Strip, Style, Strip]] = {}
        """Line index -> (source strip, style, strip as painted): repaints of a streaming
        message reuse it."""
        self._label_key: tuple | None = None
        self._label_strip: Strip | None = None
        self._line_style: Style | None = None
        """The widget's style, looked up once per render pass (see ``render_lines``)."""
        self._height_cap: int | None = None
        """While set, the height shown (lines beyond it wait for the next growth)."""
        self._last_growth = 0.0
        self._growth_timer: Timer | None = None
        self._version = 0

    # -- content -------------------------------------------------------------------

    @property
    def text(self) -> str:
        if self._markdown:
            return self._get_renderer().text if self._renderer else self._initial
        return self._plain

    def _get_renderer(self) -> BlockRenderer:
        if self._renderer is None:
            theme = "monokai" if self.app.current_theme.dark else "default"
            self._renderer = BlockRenderer(self.app.console, code_theme=theme)
            self._renderer.append(self._initial)
        return self._renderer

    def append(self, text: str) -> None:
        """Add streamed text (the caller batches deltas; see ``Conversation``)."""
        if not text:
            return
        if self._markdown:
            self._get_renderer().append(text)
        else:
            self._plain += text
        self._changed()

    def finish(self, text: str | None = None, *, message_id: str | None = None) -> None:
        """Mark the message complete; ``text`` is the authoritative final text."""
        if message_id:
            self.message_id = message_id
        if text is not None and text != self.text:
            if self._markdown:
                self._get_renderer().reset(text)
            else:
                self._plain = text
        self.remove_class("-streaming")
        self._painted.clear()
        self._changed()
        self._grow()  # the final text is shown whole, at once

    def set_note(self, note: str, *, failed: bool = False) -> None:
        """Show a short status note beside the label (``cancelled``, ``not sent``, ...)."""
        self.note = note
        self.set_class(failed, "-failed")
        self._changed()

    def _changed(self) -> None:
        """Repaint only the lines that changed (usually the tail of a streaming reply)."""
        self._version += 1
        width = self.content_size.width
        if not (width and self.is_mounted and self._cache_key and self._cache_key[0] == width):
            self._height_cap = None
            self.refresh(layout=True)
            return
        shown = self._shown_height()
        old = self._lines
        new = self._render_all(width)
        first = 0
        for first, (before, after) in enumerate(zip(old, new, strict=False)):  # noqa: B007
            if before is not after and before != after:
                break
            new[first] = before  # the same line: keep the strip its painted copy is for
        else:
            first = min(len(old), len(new))
        if len(new) > shown and self.has_class("-streaming"):
            wait = self._last_growth + GROWTH_INTERVAL - time.monotonic()
            if wait > 0:
                # Too soon to grow again: repaint what is shown, let the rest in with a
                # later flush (so growing costs no frame of its own), or after a pause.
                self._height_cap = shown
                if first < shown:
                    self.refresh(Region(0, first, width, shown - first))
                if self._growth_timer is None:
                    self._growth_timer = self.set_timer(wait + GROWTH_INTERVAL, self._grow)
                return
            self._last_growth = time.monotonic()
            if self._growth_timer is not None:
                self._growth_timer.stop()
                self._growth_timer = None
        self._height_cap = None
        first = min(first, shown)  # lines held back so far are new on screen
        height = max(shown, len(new)) - first
        if height > 0:
            self.refresh(Region(0, first, width, height), layout=len(new) != shown)

    def _shown_height(self) -> int:
        lines = len(self._lines)
        return lines if self._height_cap is None else min(self._height_cap, lines)

    def _grow(self) -> None:
        """Show every line now (the growth timer fired, or the message is complete)."""
        if self._growth_timer is not None:
            self._growth_timer.stop()
            self._growth_timer = None
        if self._height_cap is None:
            return
        shown, self._height_cap = self._height_cap, None
        self._last_growth = time.monotonic()
        width = self.content_size.width
        if width and len(self._lines) != shown:
            first = min(shown, len(self._lines))
            height = abs(len(self._lines) - shown)
            self.refresh(Region(0, first, width, height), layout=True)

    def on_unmount(self) -> None:
        # Let go of the rendered lines at once (they are most of a message's objects):
        # an unmounted view waits for the cycle collector, and a long thread scrolled
        # through unmounts many (see ``Conversation``); every object kept alive makes
        # each full collection -- a pause of the event loop -- longer.
        self._lines = []
        self._painted.clear()
        self._styles_cache.clear()  # Textual's copy of the painted lines
        self._cache_key = None
        self._label_strip = None
        if self._renderer is not None:
            self._initial = self._renderer.text
            self._renderer = None

    # -- rendering ------------------------------------------------------------------

    def _label(self) -> Text:
        who = one_line(self.author, 40) if self.author else ROLE_LABELS.get(self.role, self.role)
        label = Text(who, style="bold")
        if self.created_at:
            label.append("  " + datetime.fromtimestamp(self.created_at).strftime("%H:%M"), "dim")
        if self.note:
            label.append("  " + self.note, "italic dim")
        return label

    def _label_line(self, width: int) -> Strip:
        key = (width, self.role, self.author, self.created_at, self.note)
        if self._label_strip is None or key != self._label_key:
            console = self.app.console
            options = console.options.update_width(width)
            self._label_strip = Strip(console.render_lines(self._label(), options, pad=False)[0])
            self._label_key = key
        return self._label_strip

    def prepare(self, width: int) -> None:
        """Render the lines for ``width`` now (before mounting), so the layout pass that
        mounts this view finds them cached (``Conversation`` spreads this over frames)."""
        self._render_all(width)

    def _render_all(self, width: int) -> list[Strip]:
        key = (width, self._version)
        if self._cache_key == key:
            return self._lines
        console = self.app.console
        lines = [self._label_line(width)]
        if self._markdown:
            body = self._get_renderer().lines(width)
        else:
            body = plain_lines(console, self._plain, width)
        self._lines = lines + body
        self._cache_key = key
        return self._lines

    def _size_updated(
        self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True
    ) -> bool:
        # Textual repaints a whole widget whenever its size changes. A streaming reply
        # grows by a line or two per flush and ``_changed`` has already marked exactly
        # the lines that changed, so a change of height alone must not throw away the
        # cached lines above them.
        # Nor does a message (it does not scroll) need another layout pass for its
        # virtual size: that would cost a second frame per flush.
        if self._cache_key is not None and size.width == self._size.width:
            self._size = size
        return super()._size_updated(size, virtual_size, container_size, layout=False)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        if not width:
            return 1
        lines = len(self._render_all(width))
        return lines if self._height_cap is None else min(self._height_cap, lines)

    def render_lines(self, crop: Region) -> list[Strip]:
        # ``rich_style`` walks every ancestor's styles; one lookup serves the whole pass.
        # Keeping the previous object while it is equal lets ``_painted`` hit.
        style = self.rich_style
        if style != self._line_style:
            self._line_style = style
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        width = self.content_size.width
        lines = self._render_all(width)
        style = self._line_style if self._line_style is not None else self.rich_style
        if y >= len(lines):
            return Strip.blank(width, style)
        source = lines[y]
        cached = self._painted.get(y)
        if cached is not None and cached[0] is source and cached[1] is style:
            return cached[2]
        painted = paint(source, width, style)
        if self.has_class("-streaming"):  # a finished one is painted again only on change
            self._painted[y] = (source, style, painted)
        return painted


def paint(line: Strip, width: int, style: Style) -> Strip:
    """``line`` padded to ``width`` in the widget's ``style`` and drawn in it: one new
    strip (Textual's ``crop_extend(...).apply_style(...)`` makes two, each with its
    caches, and keeps them in ``line`` -- objects every full garbage collection walks)."""
    missing = width - line.cell_length
    if missing < 0:
        return line.crop_extend(0, width, style).apply_style(style)
    segments = list(line)
    if missing:
        segments.append(Segment(" " * missing, style))
    return Strip(Segment.apply_style(segments, style), width)
