"""Pasted text only ever becomes text in the composer (issue 12, item 2)."""

from __future__ import annotations

from textual import events
from textual.drivers import linux_driver

from tests.support.app import SIZE, make_app, ready
from tui_assistant.store import Store
from tui_assistant.ui.keys import PasteSafeParser
from tui_assistant.ui.screens.main import MainScreen

PASTE = "\x1b[200~esc \x1b[31mred\x1b[0m end\x1b[201~"
BELL_PASTE = "\x1b[200~go \x1b\x07to\x1b[201~"


def parse(parser, *chunks: str) -> list[tuple[str, str]]:
    out = []
    for chunk in (*chunks, ""):
        for event in parser.feed(chunk):
            if isinstance(event, events.Paste):
                out.append(("paste", event.text))
            elif isinstance(event, events.Key):
                out.append(("key", event.key))
    return out


def test_a_paste_is_one_clean_event_in_order_wherever_the_input_is_cut() -> None:
    data = "a" + PASTE + "b" + BELL_PASTE + "\r"
    expected = [
        ("key", "a"),
        ("paste", "esc red end"),
        ("key", "b"),
        ("paste", "go to"),
        ("key", "enter"),
    ]
    assert parse(PasteSafeParser(), data) == expected
    for cut in range(1, len(data)):
        assert parse(PasteSafeParser(), data[:cut], data[cut:]) == expected, cut
    # Line ends from the terminal (CR) are newlines; other control bytes are dropped.
    assert parse(PasteSafeParser(), "\x1b[200~one\rtwo\r\nthree\x00\x7f\x1b]0;t\x07\x1b[201~") == [
        ("paste", "one\ntwo\nthree")
    ]


def test_a_lone_escape_before_a_paste_still_arrives_first() -> None:
    assert parse(PasteSafeParser(), "\x1b", "\x1b[200~x\x1b[201~") == [
        ("key", "escape"),
        ("paste", "x"),
    ]


async def test_pasted_escapes_become_text_in_the_composer_never_keys(store: Store) -> None:
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        # What the terminal driver would read: the app installs its parser in the driver.
        parser = linux_driver.XTermParser()
        for data in (PASTE, BELL_PASTE):
            for event in [*parser.feed(data)]:
                app.post_message(event)
            await pilot.pause()
        assert screen.composer.text == "esc red endgo to"
        # The bell (ctrl+g) did not open go-to; nothing but the main screen is shown.
        assert isinstance(app.screen, MainScreen)
        # A paste delivered as an event by anything else is cleaned by the composer too.
        screen.composer.clear()
        app.post_message(events.Paste("a\x1b[1mb\x07\x1b[0m c"))
        await pilot.pause()
        assert screen.composer.text == "ab c"
