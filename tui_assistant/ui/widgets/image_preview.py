"""An image a tool or a message produced: shown inline where possible, always with its path.

Inline images come from ``textual-image``, which picks the terminal's best method (Sixel
or the Kitty graphics protocol, else coloured half cells). It has to ask the terminal what
it supports *before* Textual takes over the terminal, so ``prepare_inline_images()`` is
called by ``launch()`` before the app runs. When that did not happen on a real terminal
(or the package is missing, or the file cannot be read), the preview is just the path;
the ``o`` key of the tool pane opens it with the desktop's viewer either way.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from tui_assistant.files import open_externally

__all__ = ["ImagePreview", "inline_image_class", "prepare_inline_images"]

_prepared = False
_image_class: Any = None


def prepare_inline_images() -> None:
    """Detect the terminal's image support (call before the app starts)."""
    global _prepared, _image_class
    if _prepared:
        return
    _prepared = True
    # textual-image still calls a Pillow method that Pillow 13 deprecates; a warning
    # printed over the screen would garble it.
    warnings.filterwarnings(
        "ignore", category=DeprecationWarning, message=r"Image\.Image\.getdata is deprecated"
    )
    try:
        from textual_image.widget import Image
    except Exception:  # not installed, or the terminal query failed
        _image_class = None
    else:
        _image_class = Image


def inline_image_class() -> Any:
    """The widget class for inline images, or ``None`` when images are shown as paths.

    Without a terminal (tests, pipes) nothing needs asking, so the package is loaded on
    first use; on a terminal only ``prepare_inline_images()`` may load it."""
    stdout = sys.__stdout__
    if not _prepared and not (stdout is not None and stdout.isatty()):
        prepare_inline_images()
    return _image_class


class ImagePreview(Vertical):
    """One image: its path (or a note while it downloads), and the picture under it."""

    DEFAULT_CSS = """
    ImagePreview {
        height: auto;
        width: 1fr;
    }
    ImagePreview > .image-path {
        color: $text-muted;
    }
    ImagePreview > .image-inline {
        width: auto;
        max-width: 100%;
        height: auto;
        max-height: 12;
    }
    """

    def __init__(self, file_id: str, path: Path | None = None) -> None:
        super().__init__(classes="image-preview")
        self.file_id = file_id
        self.path: Path | None = None
        self._initial = path
        self.inline = False
        """Whether the picture itself is shown (not only its path)."""

    def compose(self) -> ComposeResult:
        yield Static(Text(f"image {self.file_id} · downloading…"), classes="image-path")

    def on_mount(self) -> None:
        if self._initial is not None:
            self.show(self._initial)

    def show(self, path: Path) -> None:
        """The image is saved at ``path``: show it."""
        if self.path == path:
            return
        self.path = path
        self.query_one(".image-path", Static).update(
            Text.assemble(("image ", "dim"), (str(path), "underline"),
                          (f"  ({self._open_hint()})", "dim"))
        )
        image_class = inline_image_class()
        if image_class is None:
            return
        try:
            picture = image_class(str(path), classes="image-inline")
        except Exception:  # an unreadable or unsupported file: the path is enough
            return
        self.inline = True
        self.mount(picture)

    def _open_hint(self) -> str:
        """How to open the image by key (as the keymap has it) as well as by mouse."""
        keymap = getattr(getattr(self.app, "settings", None), "keymap", None) or {}
        open_key = keymap.get("tools.open", "o").split(",")[0].strip()
        pane_key = keymap.get("tools.focus", "ctrl+t").split(",")[0].strip()
        return f"{open_key} in the tool pane ({pane_key}) or a click opens it"

    def on_click(self) -> None:
        """A click opens the image with the desktop's viewer."""
        if self.path is not None:
            if not open_externally(self.path):
                self.notify(f"No viewer could be started. The image is at {self.path}.")

    def failed(self, reason: str) -> None:
        self.query_one(".image-path", Static).update(
            Text(f"image {self.file_id} · not downloaded: {reason}", style="red")
        )
