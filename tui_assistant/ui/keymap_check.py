"""Check the config's ``[keymap]`` and ``theme`` before they silently do nothing.

Textual accepts any binding id and any key in a keymap and ignores what it cannot use,
so a typo, a key another binding already has, or a key the composer uses for editing
used to be a remap that simply never worked. ``keymap_problems`` lists, one line each:

* ids no binding has (with the nearest real id) and key names that are not keys;
* reserved keys: ctrl+q quits, ctrl+c copies (and interrupts), and terminals send
  ctrl+m, ctrl+i and ctrl+[ as Enter, Tab and Escape;
* two bindings on one key where both can be active at once (or where a focused pane's
  binding hides a screen-wide one);
* keys the composer uses itself: a printable key types text there, so the binding works
  only from the other panes; an editing key of the text area (f6 selects the line,
  ctrl+e goes to the line end) is given up by the composer (``composer_released_keys``),
  so the binding works there too, and the notice says what the composer no longer does.

The app shows the lines in one notice at start-up; ``tui-assistant config --check``
prints them.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import pkgutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from textual.app import App
from textual.binding import Binding
from textual.keys import Keys, _normalize_key_list, key_to_character
from textual.screen import ModalScreen, Screen
from textual.widgets import TextArea

RESERVED_KEYS = {
    "ctrl+c": "ctrl+c copies, and terminals often turn it into an interrupt",
    "ctrl+m": "terminals send ctrl+m as Enter",
    "ctrl+i": "terminals send ctrl+i as Tab",
    "ctrl+left_square_bracket": "terminals send ctrl+[ as Escape",
}
QUIT_KEY = "ctrl+q"
MODIFIERS = frozenset({"ctrl", "alt", "shift", "super", "meta", "hyper"})
_COMPOSER_OWN = frozenset({"composer.send", "composer.newline"})


@dataclass(frozen=True)
class BindingInfo:
    """One of our bindings, and where it can be active."""

    binding_id: str
    keys: tuple[str, ...]
    description: str
    owner: str
    """The class that declares it."""
    kind: str
    """``app`` (everywhere), ``main`` (the main screen), ``widget`` (a pane of the main
    screen, while it has focus) or ``modal`` (a dialog)."""
    priority: bool


def split_keys(keys: str) -> tuple[str, ...]:
    return tuple(k for k in _normalize_key_list(keys).split(",") if k)


def _kind(cls: type) -> str:
    if issubclass(cls, App):
        return "app"
    if issubclass(cls, ModalScreen):
        return "modal"
    if issubclass(cls, Screen):
        return "main"
    return "widget"


@lru_cache(maxsize=1)
def catalogue() -> tuple[BindingInfo, ...]:
    """Every binding with an id declared by a class of ``tui_assistant.ui``."""
    import tui_assistant.ui as ui

    found: dict[str, BindingInfo] = {}
    for module_info in pkgutil.walk_packages(ui.__path__, "tui_assistant.ui."):
        module = importlib.import_module(module_info.name)
        for cls in vars(module).values():
            if not (
                inspect.isclass(cls)
                and cls.__module__ == module.__name__
                and "BINDINGS" in cls.__dict__
            ):
                continue
            for item in cls.__dict__["BINDINGS"]:
                binding = item if isinstance(item, Binding) else Binding(*item)
                if binding.id and binding.id not in found:
                    found[binding.id] = BindingInfo(
                        binding.id,
                        split_keys(binding.key),
                        binding.description or binding.action,
                        cls.__name__,
                        _kind(cls),
                        binding.priority,
                    )
    return tuple(found.values())


@lru_cache(maxsize=1)
def _key_names() -> frozenset[str]:
    names = {key.value for key in Keys}
    names |= {f"f{n}" for n in range(1, 25)}
    return frozenset(names)


def is_key(key: str) -> bool:
    """Whether ``key`` (normalized) names a key a terminal can send."""
    *modifiers, name = key.split("+")
    if not name or any(m not in MODIFIERS for m in modifiers):
        return False
    return len(name) == 1 or name in _key_names() or key_to_character(name) is not None


def text_area_keys() -> dict[str, str]:
    """The text area's own editing keys and what they do (f6: select line, ...)."""
    keys: dict[str, str] = {}
    for item in TextArea.BINDINGS:
        binding = item if isinstance(item, Binding) else Binding(*item)
        for key in split_keys(binding.key):
            keys.setdefault(key, (binding.description or binding.action).lower())
    return keys


def _is_printable(key: str) -> bool:
    return "+" not in key and key_to_character(key) is not None


AREA_NAMES = {
    "MainScreen": "main screen",
    "ThreadActions": "main screen",
    "AssistantActions": "main screen",
    "RunRecovery": "main screen",
    "ThreadList": "thread list",
    "ThreadFilter": "thread filter",
    "ReadingConversation": "conversation",
    "Conversation": "conversation",
    "Composer": "composer",
    "ExtraInstructions": "extra instructions",
    "ToolActivity": "tool pane",
}
"""Where a class's bindings work, in words."""


def _where(info: BindingInfo) -> str:
    area = AREA_NAMES.get(info.owner, info.owner)
    return "everywhere" if info.kind == "app" else f"in the {area.lower()}"


def _clash(mine: BindingInfo, other: BindingInfo) -> str | None:
    """Why ``mine`` and ``other`` on one key do not both work, or ``None``."""
    kinds = {mine.kind, other.kind}
    if mine.owner == other.owner or "app" in kinds or kinds == {"main"}:
        return "only one of them can have it"
    if kinds == {"main", "widget"}:
        pane = mine if mine.kind == "widget" else other
        area = AREA_NAMES.get(pane.owner, pane.owner).lower()
        return f"while the {area} has focus the key is {pane.binding_id} there"
    return None


def keymap_problems(
    keymap: Mapping[str, str], theme: str | None = None, themes: Iterable[str] = ()
) -> list[str]:
    """One line per problem with the config's keymap and theme (see the module doc)."""
    problems: list[str] = []
    themes = sorted(themes)
    if theme and themes and theme not in themes:
        near = difflib.get_close_matches(theme, themes, 1)
        hint = f"did you mean “{near[0]}”? " if near else ""
        problems.append(f"theme = “{theme}”: no such theme ({hint}ctrl+p, Theme, lists them).")
    if not keymap:
        return problems
    bindings = {info.binding_id: info for info in catalogue()}
    remapped = {bid: split_keys(keys) for bid, keys in keymap.items()}
    effective = {
        bid: remapped.get(bid, info.keys) for bid, info in bindings.items()
    }
    editing = text_area_keys()
    quit_keys = effective.get("app.quit", (QUIT_KEY,))
    reported: set[frozenset[str]] = set()
    for binding_id, keys in remapped.items():
        info = bindings.get(binding_id)
        if info is None:
            near = difflib.get_close_matches(binding_id, bindings, 1)
            hint = f" (did you mean “{near[0]}”?)" if near else ""
            problems.append(f"“{binding_id}”: no binding has this id{hint}; F1 lists them.")
            continue
        for key in keys:
            entry = f"“{binding_id}” = “{key}”"
            if not is_key(key):
                problems.append(f"{entry}: not a key name (like ctrl+e, alt+x, f6 or home).")
                continue
            if key in RESERVED_KEYS:
                problems.append(f"{entry}: {RESERVED_KEYS[key]}; choose another key.")
                continue
            if key in quit_keys and binding_id != "app.quit":
                problems.append(f"{entry}: {key} quits the app; choose another key.")
                continue
            for other_id, other_keys in effective.items():
                if other_id == binding_id or key not in other_keys:
                    continue
                pair = frozenset({binding_id, other_id, key})
                why = _clash(info, bindings[other_id])
                if why is None or pair in reported:
                    continue
                reported.add(pair)
                problems.append(
                    f"{entry}: {key} is also {other_id} ({bindings[other_id].description}, "
                    f"{_where(bindings[other_id])}); {why}."
                )
            if info.kind in ("app", "main") and not info.priority:
                if _is_printable(key):
                    problems.append(
                        f"{entry}: {key} types text in the composer, so this works only "
                        "when another pane has focus."
                    )
                elif key in editing and binding_id not in _COMPOSER_OWN:
                    problems.append(
                        f"{entry}: the composer gives up {key} ({editing[key]}) so this "
                        "works there too."
                    )
    return problems


def composer_released_keys(keymap: Mapping[str, str]) -> set[str]:
    """Editing keys of the composer that the keymap gives to a screen-wide binding."""
    if not keymap:
        return set()
    bindings = {info.binding_id: info for info in catalogue()}
    editing = text_area_keys()
    released: set[str] = set()
    for binding_id, keys in keymap.items():
        info = bindings.get(binding_id)
        if info is None or info.kind not in ("app", "main") or binding_id in _COMPOSER_OWN:
            continue
        released |= {
            key for key in split_keys(keys)
            if key in editing and key not in RESERVED_KEYS and is_key(key)
        }
    return released
