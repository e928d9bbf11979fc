"""Managing assistants: list, create, edit, delete, and switch the current thread's one.

``AssistantsScreen`` (F5) lists the endpoint's assistants and does the work itself
through the workspace: ``n`` creates, ``e`` edits, ``delete`` deletes (after asking), and
enter returns the highlighted assistant for the current thread. ``AssistantEditor`` edits
one assistant: name, model, instructions, tools (code interpreter, file search, and the
functions registered in this client, plus any the assistant already has), temperature.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Button, Checkbox, Input, Label, OptionList, SelectionList, TextArea
from textual.widgets.option_list import Option
from textual.widgets.selection_list import Selection

from tui_assistant.engines.base import AssistantInfo, AssistantSettings
from tui_assistant.errors import AppError, NotFoundError
from tui_assistant.text import clean_text, one_line
from tui_assistant.ui.keys import key_label
from tui_assistant.ui.screens.assistant_form import AssistantDraft, AssistantForm
from tui_assistant.ui.screens.assistant_picker import AssistantPicker
from tui_assistant.ui.screens.dialogs import ConfirmDialog

if TYPE_CHECKING:
    from textual.app import App

    from tui_assistant.workspace import Workspace

BUILTIN_TOOLS = ("code_interpreter", "file_search")


@dataclass(frozen=True)
class AssistantEdit:
    """What the editor returns."""

    name: str
    model: str
    instructions: str
    tools: tuple[dict, ...]
    temperature: float | None


def function_name(tool: dict) -> str:
    return str((tool.get("function") or {}).get("name", "")) if tool.get("type") == "function" \
        else ""


def tools_summary(info: AssistantInfo) -> str:
    parts = [t.replace("_", " ") for t in info.tools if t != "function"]
    if info.function_names:
        parts.append("functions: " + ", ".join(info.function_names))
    return " · ".join(parts)


class AssistantEditor(ModalScreen[AssistantEdit | None]):
    """Create or edit an assistant. Returns the edit, or ``None`` if cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", tooltip="Close without saving",
                id="assistant-editor.cancel"),
        Binding("ctrl+s", "save", "Save", tooltip="Save the assistant",
                id="assistant-editor.save"),
    ]

    def __init__(
        self,
        settings: AssistantSettings | None,
        registered: Sequence[dict],
        *,
        default_model: str = "",
        models: Sequence[str] = (),
    ) -> None:
        super().__init__(classes="dialog-screen")
        self.settings = settings
        self.registered = {function_name(t): dict(t) for t in registered if function_name(t)}
        self.default_model = default_model
        self.models = list(models)
        """The endpoint's models (``GET /models``): a typed name completes from them."""
        existing = settings.tools if settings else ()
        self.existing = list(existing)
        self.existing_functions = {function_name(t): t for t in existing if function_name(t)}

    def compose(self) -> ComposeResult:
        s = self.settings
        names = sorted(set(self.registered) | set(self.existing_functions))
        selections = []
        for name in names:
            label = Text(name, "bold")
            if name in self.registered:
                description = (self.registered[name].get("function") or {}).get("description", "")
                if description:
                    label.append("  " + one_line(str(description), 50), "dim")
            else:
                label.append("  (the assistant has it; not registered in this client)",
                             "dim italic")
            selections.append(Selection(label, name, name in self.existing_functions, id=name))
        kinds = {t.get("type") for t in self.existing}
        with Vertical(id="dialog"):
            yield Label("Edit the assistant" if s else "Create an assistant", id="title")
            fields = VerticalScroll(id="fields")
            fields.can_focus = False  # tab goes from field to field, not to the scroller
            with fields:
                yield Label("Name")
                yield Input(value=s.name if s else "", placeholder="e.g. Research helper",
                            id="name")
                yield Label("Model")
                yield Input(value=s.model if s else self.default_model,
                            placeholder="e.g. gpt-4o", id="model",
                            suggester=SuggestFromList(self.models, case_sensitive=False)
                            if self.models else None)
                yield Label("Instructions")
                yield TextArea(s.instructions if s else "", id="instructions", soft_wrap=True,
                               tab_behavior="focus")
                yield Label("Tools")
                yield Checkbox("Code interpreter", "code_interpreter" in kinds,
                               id="code_interpreter")
                yield Checkbox("File search", "file_search" in kinds, id="file_search")
                if selections:
                    yield Label("Functions (space toggles)", classes="sub")
                    yield SelectionList[str](*selections, id="functions")
                else:
                    yield Label("No functions are registered in this client.", classes="sub")
                yield Label("Temperature (0–2, empty: the endpoint's default)")
                yield Input(
                    value="" if not s or s.temperature is None else f"{s.temperature:g}",
                    placeholder="e.g. 0.7", id="temperature",
                )
            yield Label("", id="error")
            with Horizontal(id="buttons"):
                yield Button("Save" if s else "Create", variant="primary", id="save")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()

    def _fail(self, message: str, field: str) -> None:
        self.query_one("#error", Label).update(message)
        self.query_one(f"#{field}").focus()

    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        name = self.query_one("#name", Input).value.strip()
        model = self.query_one("#model", Input).value.strip()
        instructions = self.query_one("#instructions", TextArea).text.strip()
        raw_temperature = self.query_one("#temperature", Input).value.strip()
        if not model:
            self._fail("A model name is needed.", "model")
            return
        temperature: float | None = None
        if raw_temperature:
            try:
                temperature = float(raw_temperature)
            except ValueError:
                temperature = -1.0
            if not 0.0 <= temperature <= 2.0:
                self._fail("Temperature is a number from 0 to 2 (or empty).", "temperature")
                return
        tools: list[dict] = []
        for kind in BUILTIN_TOOLS:
            if self.query_one(f"#{kind}", Checkbox).value:
                kept = next((t for t in self.existing if t.get("type") == kind), None)
                tools.append(dict(kept) if kept else {"type": kind})
        chosen = self.query("#functions")
        selected = list(chosen.first(SelectionList).selected) if chosen else []
        for function in selected:
            definition = self.registered.get(function) or self.existing_functions.get(function)
            if definition:
                tools.append(dict(definition))
        # Tool types this editor does not know are kept as they are.
        tools += [dict(t) for t in self.existing
                  if t.get("type") not in (*BUILTIN_TOOLS, "function")]
        self.dismiss(AssistantEdit(name or "Assistant", model, instructions, tuple(tools),
                                   temperature))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class AssistantsScreen(ModalScreen[AssistantInfo | None]):
    """The endpoint's assistants; returns the one to use, or ``None``.

    | Key | Action |
    | --- | --- |
    | enter | use the highlighted assistant for this thread |
    | n | create an assistant |
    | e | edit the highlighted assistant |
    | delete | delete it (asks first) |
    | escape | close |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", tooltip="Close the list", id="assistants.close"),
        Binding("n", "create", "New", tooltip="Create an assistant", id="assistants.new"),
        Binding("e", "edit", "Edit", tooltip="Edit the highlighted assistant",
                id="assistants.edit"),
        Binding("delete", "delete", "Delete", tooltip="Delete the highlighted assistant",
                id="assistants.delete"),
    ]

    def __init__(
        self,
        workspace: Workspace,
        current: str | None,
        registered: Callable[[], Sequence[dict]],
        *,
        default_model: str = "",
    ) -> None:
        super().__init__(classes="dialog-screen")
        self.workspace = workspace
        self.current = current
        self.registered = registered
        self.default_model = default_model
        self.assistants: list[AssistantInfo] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Assistants", id="title")
            yield OptionList(id="assistants")
            yield Label("", id="status")
            key = partial(key_label, self.app)  # the keys as bound now
            yield Label(f"enter use for this thread · {key('assistants.new', 'n')} new · "
                        f"{key('assistants.edit', 'e')} edit · "
                        f"{key('assistants.delete', 'delete')} delete · "
                        f"{key('assistants.close', 'Escape')} close", id="keys")

    @property
    def options(self) -> OptionList:
        return self.query_one("#assistants", OptionList)

    def on_mount(self) -> None:
        self.options.focus()
        self.reload()

    def _status(self, text: str) -> None:
        self.query_one("#status", Label).update(Text(clean_text(text)))

    @work(exclusive=True, group="assistants-list", exit_on_error=False,
          description="Listing assistants")
    async def reload(self, highlight: str | None = None) -> None:
        try:
            self.assistants = await self.workspace.list_assistants()
        except AppError as error:
            self._status(f"{error.title}: {error.message}")
            return
        options = self.options
        keep = highlight or (self.highlighted.id if self.highlighted else self.current)
        options.clear_options()
        for assistant in self.assistants:
            prompt = Text("● " if assistant.id == self.current else "  ", "bold")
            prompt.append(one_line(assistant.label, 40), "bold")
            prompt.append(f"  {one_line(assistant.model, 30)}", "dim")
            summary = tools_summary(assistant)
            if summary:
                prompt.append(f"  {one_line(summary, 50)}", "dim italic")
            if assistant.instructions:
                prompt.append("\n    " + one_line(assistant.instructions, 70), "dim")
            options.add_option(Option(prompt, id=assistant.id))
        if not self.assistants:
            self._status("This endpoint has no assistants: press n to create one.")
            return
        index = next((i for i, a in enumerate(self.assistants) if a.id == keep), 0)
        options.highlighted = index

    @property
    def highlighted(self) -> AssistantInfo | None:
        index = self.options.highlighted
        if index is None or not 0 <= index < len(self.assistants):
            return None
        return self.assistants[index]

    @on(OptionList.OptionSelected, "#assistants")
    def use(self, event: OptionList.OptionSelected) -> None:
        chosen = next((a for a in self.assistants if a.id == event.option.id), None)
        if chosen is not None:
            self.dismiss(chosen)

    @work(exclusive=True, group="assistants-edit", exit_on_error=False,
          description="Creating an assistant")
    async def action_create(self) -> None:
        edit = await self.app.push_screen_wait(
            AssistantEditor(None, self.registered(), default_model=self.default_model,
                            models=await self.workspace.list_models())
        )
        if edit is None:
            return
        try:
            created = await self.workspace.create_assistant(
                name=edit.name, model=edit.model, instructions=edit.instructions,
                tools=edit.tools,
            )
            if edit.temperature is not None:
                created = await self.workspace.update_assistant(
                    created.id, name=edit.name, model=edit.model,
                    instructions=edit.instructions, tools=edit.tools,
                    temperature=edit.temperature,
                )
        except AppError as error:
            self._status(f"Not created — {error.message}")
            return
        self._status(f"Created {created.label}.")
        self.notify(f"Created the assistant {one_line(created.label, 40)}.")
        self.reload(highlight=created.id)

    @work(exclusive=True, group="assistants-edit", exit_on_error=False,
          description="Editing an assistant")
    async def action_edit(self) -> None:
        target = self.highlighted
        if target is None:
            return
        try:
            settings = await self.workspace.assistant_settings(target.id)
        except AppError as error:
            self._status(f"{error.title}: {error.message}")
            return
        edit = await self.app.push_screen_wait(
            AssistantEditor(settings, self.registered(), default_model=self.default_model,
                            models=await self.workspace.list_models())
        )
        if edit is None:
            return
        try:
            updated = await self.workspace.update_assistant(
                target.id, name=edit.name, model=edit.model, instructions=edit.instructions,
                tools=edit.tools, temperature=edit.temperature,
            )
        except AppError as error:
            self._status(f"Not saved — {error.message}")
            return
        self._status(f"Saved {updated.label}.")
        self.notify(f"Saved the assistant {one_line(updated.label, 40)}.")
        self.reload(highlight=updated.id)

    @work(exclusive=True, group="assistants-edit", exit_on_error=False,
          description="Deleting an assistant")
    async def action_delete(self) -> None:
        target = self.highlighted
        if target is None:
            return
        confirmed = await self.app.push_screen_wait(
            ConfirmDialog(
                f"Delete the assistant “{one_line(target.label, 40)}”?",
                "It is deleted on the endpoint for every client. Threads that used it stay, "
                "but need another assistant to continue.",
                confirm="Delete", danger=True,
            )
        )
        if not confirmed:
            return
        try:
            await self.workspace.delete_assistant(target.id)
        except NotFoundError:
            pass
        except AppError as error:
            self._status(f"Not deleted — {error.message}")
            return
        self._status(f"Deleted {target.label}.")
        self.notify(f"Deleted the assistant {one_line(target.label, 40)}.")
        self.reload()

    def action_close(self) -> None:
        self.dismiss(None)


# -- the flows the main screen runs --------------------------------------------------------


async def choose_assistant(app: App, workspace: Workspace, *, initial: bool
                           ) -> AssistantInfo | None:
    """The assistant to talk to: at start-up the one the profile, the open thread or the
    last session names (or the only one), otherwise the picker's choice; the form when
    the endpoint has none. ``None`` when the user chose nothing. Raises ``AppError`` when
    the endpoint cannot list them."""
    assistants = await workspace.list_assistants()
    chosen = workspace.preferred_assistant(assistants) if initial else None
    if chosen is not None:
        return chosen
    if not assistants:
        return await create_assistant(
            app, workspace, reason="This endpoint has no assistants yet. Create one to start "
            "talking."
        )
    current = workspace.assistant
    picked = await app.push_screen_wait(
        AssistantPicker(assistants, current.id if current else None)
    )
    if picked == "create":
        return await create_assistant(app, workspace)
    if isinstance(picked, AssistantInfo):
        return picked
    return assistants[0] if initial else None


async def create_assistant(app: App, workspace: Workspace, reason: str = ""
                           ) -> AssistantInfo | None:
    """The short form (its model completes from the endpoint's list), then the assistant
    it created; ``None`` when cancelled or refused (the refusal is shown)."""
    models = await workspace.list_models()
    current = workspace.assistant
    draft: AssistantDraft | None = await app.push_screen_wait(AssistantForm(
        model=current.model if current else "", reason=reason, models=models
    ))
    if draft is None:
        return None
    try:
        return await workspace.create_assistant(
            name=draft.name, model=draft.model, instructions=draft.instructions
        )
    except AppError as error:
        app.notify(error.message, title=error.title, severity="error")
        return None


@dataclass(frozen=True)
class Managed:
    """What is left to do on the main screen after the assistants screen (F5)."""

    use: AssistantInfo | None = None
    """The assistant to talk to from now on (``None``: no change)."""
    chosen: str = ""
    """The name of the assistant the user chose for the open thread (``""``: none)."""
    deleted: bool = False
    """The assistant in use was deleted: another must be chosen."""


async def manage_assistants(app: App, workspace: Workspace) -> Managed:
    """The assistants screen, then the endpoint's list read again (a failure keeps the
    last one): the assistant the user chose, or the one in use as it is now."""
    current = workspace.assistant
    chosen = await app.push_screen_wait(AssistantsScreen(
        workspace, current.id if current else None, workspace.registry.definitions,
        default_model=current.model if current else "",
    ))
    try:
        await workspace.list_assistants()
    except AppError:
        pass
    if chosen is not None:
        return Managed(workspace.known_assistants.get(chosen.id, chosen), chosen.label)
    current = workspace.assistant
    if current is None:
        return Managed()
    fresh = workspace.known_assistants.get(current.id)
    if fresh is None:
        workspace.assistant = None
        return Managed(deleted=True)
    return Managed(fresh if fresh != current else None)
