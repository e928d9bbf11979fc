"""Textual's footer, rebuilt only when what it shows has changed.

Textual's ``Footer`` recomposes (one styled widget per key) every time the screen says
its bindings may have changed: the focus moved, a ``check_action`` may answer otherwise,
a binding was remapped. Most of these leave the keys, their labels, tooltips and
enabled states as they were; at start-up the footer was rebuilt some eight times in the
first second (~40 ms each), on the same CPU that imports the SDK. This one compares
what it would show with what it shows and keeps its widgets when nothing differs.
"""

from __future__ import annotations

from textual.widgets import Footer as TextualFooter


class Footer(TextualFooter):
    """``textual.widgets.Footer`` that skips recomposing into the same keys."""

    _shown: tuple | None = None
    """What the last compose showed (see ``_contents``)."""

    def _contents(self) -> tuple:
        """Everything ``Footer.compose`` reads, in the form it reads it."""
        if not self._bindings_ready:
            return ()
        app = self.app
        shown = tuple(
            (key, binding.key, app.get_key_display(binding), binding.description,
             binding.action, enabled, tooltip, binding.tooltip, binding.group)
            for key, (_, binding, enabled, tooltip) in self.screen.active_bindings.items()
            if binding.show or key == app.COMMAND_PALETTE_BINDING
        )
        palette = self.show_command_palette and app.ENABLE_COMMAND_PALETTE
        return (shown, palette, self.combine_groups, app.COMMAND_PALETTE_BINDING)

    async def recompose(self) -> None:
        if not self.is_attached:
            return
        contents = self._contents()
        if contents == self._shown and contents:
            return
        self._shown = contents
        await super().recompose()
