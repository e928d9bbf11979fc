"""Keymap and theme mistakes are reported, and remapped keys work from the composer
(issue 12, item 3)."""

from __future__ import annotations

import tomllib

from tests.support.app import (
    SIZE,
    ready,
    say,
    turn_done,
    wait_for,
)
from tui_assistant import cli, paths
from tui_assistant.config import Settings, resolve_profile
from tui_assistant.store import Store
from tui_assistant.ui.app import TuiAssistantApp
from tui_assistant.ui.keymap_check import keymap_problems
from tui_assistant.ui.screens.dialogs import TextPrompt
from tui_assistant.ui.screens.help import HELP_EXAMPLE

MISTAKES = {
    "thread.rename": "f6",  # the text area selects the line with f6
    "composer.extra": "ctrl+e",  # ... and goes to the line end with ctrl+e
    "thread.renam": "f3",  # no such id
    "thread.new": "ctrl+q",  # quits
    "thread.goto": "f4",  # assistant.pick has it
}


def test_the_f1_example_is_a_free_key() -> None:
    assert keymap_problems(tomllib.loads(HELP_EXAMPLE)) == []


def test_config_check_prints_one_line_per_mistake(capsys) -> None:
    config = paths.config_file(create=False)
    config.parent.mkdir(parents=True, exist_ok=True)
    lines = "\n".join(f'"{k}" = "{v}"' for k, v in MISTAKES.items())
    config.write_text(f'theme = "nordd"\n[keymap]\n{lines}\n')
    config.chmod(0o600)
    assert cli.main(["config", "--check"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 6, out
    text = "\n".join(out)
    assert "“nordd”: no such theme (did you mean “nord”?" in text
    assert "“thread.renam”: no binding has this id (did you mean “thread.rename”?)" in text
    assert "“thread.new” = “ctrl+q”: ctrl+q quits the app" in text
    assert "“thread.goto” = “f4”: f4 is also assistant.pick" in text
    assert "the composer gives up f6 (select line)" in text
    assert "the composer gives up ctrl+e (cursor line end)" in text

    config.write_text('theme = "nord"\n[keymap]\n"thread.rename" = "f3"\n')
    assert cli.main(["config", "--check"]) == 0
    assert "keymap and theme are fine" in capsys.readouterr().out


async def test_mistakes_are_one_notice_and_remapped_keys_work_in_the_composer(
    store: Store,
) -> None:
    settings = Settings(keymap=dict(MISTAKES), theme="nordd")
    app = TuiAssistantApp(settings=settings, profile=resolve_profile(settings, env={}),
                          store=store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        notices = [n for n in app._notifications if "keymap" in n.title]
        assert len(notices) == 1
        assert len(notices[0].message.splitlines()) == 6
        await say(pilot, "a thread to rename")
        await turn_done(pilot, screen, replies=1)
        assert screen.composer.has_focus
        await pilot.press("f6")
        await wait_for(pilot, lambda: isinstance(app.screen, TextPrompt), "the rename prompt")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen, "the prompt to close")
        assert screen.composer.has_focus
        await pilot.press("ctrl+e")
        await wait_for(pilot, lambda: screen.extra_instructions.is_open, "extra instructions")
        # The composer still edits with its other keys: End goes to the line end.
        screen.composer.focus()
        await pilot.press(*"ab", "home", "end", "c")
        assert screen.composer.text == "abc"


async def test_the_composer_and_attachment_hints_name_the_remapped_keys(
    store: Store, tmp_path
) -> None:
    from tui_assistant.ui.screens.files import PendingAttachment
    from tui_assistant.ui.widgets.attachment_bar import AttachmentBar
    from tui_assistant.ui.widgets.conversation import BelowHint

    settings = Settings(keymap={"composer.send": "ctrl+y", "files.attach": "f7",
                                "composer.newest": "ctrl+b"})
    app = TuiAssistantApp(settings=settings, profile=resolve_profile(settings, env={}),
                          store=store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        assert screen.composer.placeholder.startswith(
            "Message the assistant — ^y sends, shift+Enter adds a line")
        bar = screen.query_one(AttachmentBar)
        bar.add(PendingAttachment(tmp_path / "notes.md", ("file_search",)))
        await pilot.pause()
        assert "(F7 adds another;" in str(bar.render())
        hint = BelowHint()
        await screen.conversation.mount(hint)
        assert str(hint.render()) == "↓ new text below · ^b jumps there"
