"""An image a tool or a message produced: shown inline where possible, always with its path.

Inline images come from ``textual-image`` (Sixel, the Kitty graphics protocol, else
coloured half cells). What the terminal supports has to be asked *before* Textual takes
the terminal over, so ``prepare_inline_images()`` is called by ``launch()`` before the
app runs. It asks in one round trip and leaves no trace:

* the Kitty graphics query is sent only outside terminal multiplexers: tmux and GNU
  screen do not pass the protocol on, and take the query's APC string for a window or
  pane title (tmux showed ``Gi=…,a=q,t=d,f=24;AAAA`` as the pane title);
* the primary device-attributes query (``ESC [ c``), which every terminal answers, ends
  the exchange, so nothing waits for a timeout; its answer also says whether the terminal
  speaks Sixel;
* the terminal does not echo while the answers arrive.

``textual-image`` itself (and Pillow) is imported only when the first image is shown,
with its own import-time terminal queries switched off: the answers above are used.
When the package is missing or a file cannot be read the preview is just the path; the
``o`` key of the tool pane opens it with the desktop's viewer either way.
"""

from __future__ import annotations

import os
import re
import sys
import warnings
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.dom import DOMNode
from textual.widgets import Static

from tui_assistant.errors import AppError
from tui_assistant.files import open_externally

__all__ = [
    "ImagePreview",
    "SavedImages",
    "inline_image_class",
    "prepare_inline_images",
    "terminal_query",
]

QUERY_TIMEOUT = 0.5
"""How long to wait for a terminal that does not answer the device-attributes query."""

KITTY_QUERY = "\x1b_Gi=31,s=1,v=1,a=q,t=d,f=24;AAAA\x1b\\"
DA1_QUERY = "\x1b[c"
_DA1_ANSWER = re.compile(r"\x1b\[\?([0-9;]*)c")
_KITTY_OK = re.compile(r"\x1b_Gi=31;OK\x1b\\")

_prepared = False
_method: str | None = None
"""What the terminal supports: "sixel", "tgp", "halfcell"; None without a terminal."""
_cell_size: tuple[int, int] | None = None
_image_class: Any = None
_loaded = False


def in_multiplexer(environ: os._Environ[str] | dict[str, str] = os.environ) -> bool:
    """Whether the app runs inside tmux or GNU screen."""
    term = environ.get("TERM", "")
    return bool(environ.get("TMUX") or environ.get("STY")) or term.startswith(("tmux", "screen"))


def terminal_query(environ: os._Environ[str] | dict[str, str] = os.environ) -> str:
    """The bytes ``prepare_inline_images`` writes to the terminal."""
    return ("" if in_multiplexer(environ) else KITTY_QUERY) + DA1_QUERY


def _read_answers(fd: int, timeout: float) -> str:
    """Read what the terminal answers, up to the device attributes (or the timeout)."""
    import select
    import time

    deadline = time.monotonic() + timeout
    answer = b""
    while not _DA1_ANSWER.search(answer.decode("latin-1")):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        chunk = os.read(fd, 1024)
        if not chunk:
            break
        answer += chunk
    return answer.decode("latin-1")


def _ask_terminal() -> str:
    """One round trip: which image protocol the terminal speaks."""
    import termios

    stdin, stdout = sys.__stdin__, sys.__stdout__
    if stdin is None or stdout is None or not (stdin.isatty() and stdout.isatty()):
        return ""
    fd = stdin.fileno()
    saved = termios.tcgetattr(fd)
    quiet = termios.tcgetattr(fd)
    quiet[3] &= ~(termios.ECHO | termios.ICANON)  # no echo, answers readable at once
    quiet[6][termios.VMIN], quiet[6][termios.VTIME] = 1, 0
    try:
        termios.tcsetattr(fd, termios.TCSANOW, quiet)
        os.write(stdout.fileno(), terminal_query().encode())
        return _read_answers(fd, QUERY_TIMEOUT)
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, saved)


def _measure_cells() -> tuple[int, int] | None:
    import fcntl
    import struct
    import termios

    stdout = sys.__stdout__
    try:
        rows, cols, width, height = struct.unpack(
            "HHHH", fcntl.ioctl(stdout.fileno(), termios.TIOCGWINSZ, b"\0" * 8)  # type: ignore[union-attr]
        )
    except (OSError, AttributeError, ValueError):
        return None
    if rows and cols and width and height:
        return width // cols, height // rows
    return None


def prepare_inline_images() -> None:
    """Find out what the terminal can show (call before the app starts)."""
    global _prepared, _method, _cell_size
    if _prepared:
        return
    _prepared = True
    try:
        answers = _ask_terminal()
    except (OSError, ValueError, ImportError):  # no termios, or not a usable terminal
        answers = ""
    if not answers and not (sys.__stdout__ is not None and sys.__stdout__.isatty()):
        _method = None
        return
    attributes = _DA1_ANSWER.search(answers)
    if attributes and "4" in attributes.group(1).split(";"):
        _method = "sixel"
    elif _KITTY_OK.search(answers):
        _method = "tgp"
    else:
        _method = "halfcell"
    _cell_size = _measure_cells()


class _NotATerminal:
    """Stands in for ``sys.__stdout__`` while textual-image is imported: it must not ask
    the terminal anything once Textual owns it."""

    def isatty(self) -> bool:
        return False

    def __bool__(self) -> bool:
        return True


def _load_image_class() -> Any:
    # textual-image still calls a Pillow method that Pillow 13 deprecates; a warning
    # printed over the screen would garble it.
    warnings.filterwarnings(
        "ignore", category=DeprecationWarning, message=r"Image\.Image\.getdata is deprecated"
    )
    if _method is None:  # no terminal (tests, pipes): the package picks its fallback
        from textual_image.widget import Image

        return Image
    from textual_image._terminal import CellSize, get_cell_size

    # the cell size in pixels, as measured before the app started (VT340's otherwise)
    get_cell_size._result = CellSize(*(_cell_size or (10, 20)))  # type: ignore[attr-defined]
    real_stdout = sys.__stdout__
    sys.__stdout__ = _NotATerminal()  # type: ignore[assignment]
    try:
        from textual_image import widget
    finally:
        sys.__stdout__ = real_stdout
    return {"sixel": widget.SixelImage, "tgp": widget.TGPImage}.get(
        _method, widget.HalfcellImage
    )


def inline_image_class() -> Any:
    """The widget class for inline images, or ``None`` when images are shown as paths.

    textual-image is imported here, on first use. Without a terminal (tests, pipes)
    nothing needs asking; on a terminal only ``prepare_inline_images()`` may ask."""
    global _loaded, _image_class
    if not _prepared:
        stdout = sys.__stdout__
        if stdout is not None and stdout.isatty():
            return None  # the terminal was not asked before the app took it over
        prepare_inline_images()
    if not _loaded:
        _loaded = True
        try:
            _image_class = _load_image_class()
        except Exception:  # not installed, or broken
            _image_class = None
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
        if not self.query_children(".image-path"):
            # Mounted but not composed yet (the image was saved in between): shown on mount.
            self._initial = path
            return
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


class ShowsImages(Protocol):
    """A pane with image previews (the tool pane, the conversation)."""

    def image_ready(self, file_id: str, path: Path) -> None: ...

    def image_failed(self, file_id: str, reason: str) -> None: ...


class SavedImages:
    """Images runs and messages refer to, each saved once, in ``node``'s workers (group
    ``images``); the ``panes`` showing them are told when one is ready or has failed."""

    def __init__(self, node: DOMNode, save: Callable[[str], Awaitable[Path]],
                 panes: Callable[[], Iterable[ShowsImages]]) -> None:
        self._node = node
        self._save = save
        self._panes = panes
        self.paths: dict[str, Path] = {}
        """File id -> where it was saved."""
        self._fetching: set[str] = set()

    def fetch(self, file_ids: Sequence[str]) -> None:
        for file_id in file_ids:
            if file_id in self.paths:
                self._ready(file_id, self.paths[file_id])
            elif file_id not in self._fetching:
                self._fetching.add(file_id)
                self._node.run_worker(self._save_image(file_id), group="images",
                                      exit_on_error=False, description="Saving an image")

    async def _save_image(self, file_id: str) -> None:
        try:
            path = await self._save(file_id)
        except (AppError, OSError) as error:
            reason = error.message if isinstance(error, AppError) else str(error)
            for pane in self._panes():
                pane.image_failed(file_id, reason)
            return
        finally:
            self._fetching.discard(file_id)
        self.paths[file_id] = path
        self._ready(file_id, path)

    def _ready(self, file_id: str, path: Path) -> None:
        for pane in self._panes():
            pane.image_ready(file_id, path)
