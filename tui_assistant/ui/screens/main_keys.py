"""The main screen's own keys: those that work wherever the focus is on the screen.

``MainScreen.BINDINGS`` is this list; each action is a handler of the screen (the panes'
own keys are in their widgets). A pane's action that must work from every pane is bound
here and the screen's action calls the pane (F2: ``ThreadsPane``; ctrl+r, ctrl+o:
``ConversationPane``). Ids are the keymap's (``[keymap]`` in config.toml) and group the
keys in F1 (``thread.*`` → Threads, ``run.*`` → Runs …).
"""

from __future__ import annotations

from textual.binding import Binding, BindingType

THREADS = Binding.Group("Threads")

MAIN_BINDINGS: list[BindingType] = [
    Binding("ctrl+n", "new_thread", "New thread", tooltip="Start a new thread",
            id="thread.new"),
    Binding("alt+down,ctrl+pagedown", "next_thread", "Next", id="thread.next",
            tooltip="Open the next thread in the list", group=THREADS),
    Binding("alt+up,ctrl+pageup", "previous_thread", "Previous", id="thread.previous",
            tooltip="Open the previous thread in the list", group=THREADS),
    Binding("ctrl+g", "goto_thread", "Go to", tooltip="Find a thread by name",
            id="thread.goto"),
    Binding("f2", "rename_thread", "Rename", id="thread.rename",
            tooltip="Rename the thread (the highlighted one in the list, or the open one)"),
    Binding("ctrl+f", "search_messages", "Search", id="search.open",
            tooltip="Search the messages of all saved threads"),
    Binding("ctrl+s", "export_thread", "Export", id="thread.export", show=False,
            tooltip="Export the thread to Markdown or JSON"),
    Binding("ctrl+l", "filter_threads", "Filter", id="thread.filter", show=False,
            tooltip="Filter the thread list as you type"),
    Binding("alt+right", "resize_threads(4)", "Wider", id="thread.wider", show=False,
            tooltip="Make the thread pane wider"),
    Binding("alt+left", "resize_threads(-4)", "Narrower", id="thread.narrower",
            show=False, tooltip="Make the thread pane narrower"),
    *[
        Binding(f"alt+{n}", f"jump_thread({n})", f"Thread {n}", show=False,
                tooltip=f"Open thread {n} of the list", id=f"thread.jump-{n}")
        for n in range(1, 10)
    ],
    Binding("escape", "cancel_run", "Cancel run", tooltip="Cancel the active run",
            id="run.cancel"),
    Binding("f9,alt+r", "retry", "Retry", id="run.retry", show=False,
            tooltip="Send the unsent message again, or retry the run that failed"),
    Binding("ctrl+r", "toggle_extra_instructions", "Extra instructions", show=False,
            id="composer.extra", tooltip="Extra instructions for the next run only"),
    Binding("f4", "pick_assistant", "Assistant", tooltip="Choose the assistant",
            id="assistant.pick"),
    Binding("f5", "manage_assistants", "Assistants", id="assistant.manage", show=False,
            tooltip="List, create, edit and delete assistants; switch this thread's"),
    Binding("ctrl+o", "attach_file", "Attach", id="files.attach",
            tooltip="Attach a local file to the next message"),
    Binding("f8", "download_files", "Files", id="files.download",
            tooltip="Download the files this thread refers to"),
    Binding("ctrl+t", "focus_tools", "Tools", id="tools.focus",
            tooltip="Focus the tool-activity pane"),
]
