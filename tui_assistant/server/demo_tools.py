"""How the offline demo model uses tools: deterministic triggers in the user's message.

The demo model looks at the last user message of the thread. Each trigger below works on
its own or together with the others; in one run the model makes the function calls
first, then runs the code, then searches, then writes one reply about all of it.

Function calls: ``/call NAME {json}``
    A line ``/call get_weather {"city": "Oslo"}`` (``NAME`` is 1–64 letters, digits,
    ``_`` or ``-``; the JSON is optional and defaults to ``{}``; it is passed on exactly
    as written, even when it is not valid JSON) makes a ``function`` tool call. The run
    pauses in ``requires_action``. Several ``/call`` lines in one message are parallel
    calls in one step, or, when the run has ``parallel_tool_calls: false``, one call per
    step, in order. Once every output has been submitted the reply quotes each output.
    The name need not be one of the run's function tools (so a client can be tested on
    an unknown function). At most 20 calls per message.

Code interpreter: a fenced ```` ```python ```` block
    Each fenced block tagged ``python`` (or ``py``, ``python3``) is run, exactly as
    written, by a ``code_interpreter`` tool call, one call (and step) per block, at most
    five. This needs the code interpreter to be enabled for the run: a
    ``{"type": "code_interpreter"}`` tool on the assistant or the run, or a file
    attached to a message of the thread for ``code_interpreter``. Without it the model
    gives its usual reply, with a note that it did not run the code.

    The code runs in a limited child process (see ``sandbox``): a fresh temporary
    working directory holding the files made available to the tool (attachments for
    ``code_interpreter`` and ``tool_resources.code_interpreter.file_ids`` of the
    assistant and the thread, under their file names), ten seconds of time by default,
    an address-space limit, an environment without the server's secrets. Each block runs
    in a new process: variables do not carry over from one block to the next.

    The code streams as ``code_interpreter.input`` deltas; then come the outputs:
    ``logs`` (stdout and stderr; the value of a last bare expression is printed, as in a
    notebook) and one ``image`` output per PNG file the code wrote (``plt.savefig(...)``
    or any ``*.png``), stored as a file with purpose ``assistants_output``. Other files
    the code wrote are stored the same way and named in the reply as
    ``sandbox:/mnt/data/NAME`` with a ``file_path`` annotation. The reply shows the
    images (``image_file`` blocks), quotes the logs and says whether the code failed
    (the exception's last line) or was stopped at the time limit.

File search: a question
    When the user's message (without code blocks and ``/call`` lines) ends with ``?``
    and the run has files to search and the ``file_search`` tool (the assistant's or the
    run's: a file attached for it does not switch it on), a ``file_search`` tool call
    searches them (without the tool the reply says so). The
    files searched are those attached to any message of the thread with a
    ``file_search`` tool, and, as a local extension instead of vector stores, the files
    listed in ``tool_resources.file_search.file_ids`` of the assistant and the thread
    (``vector_store_ids`` are accepted and ignored). Only text (UTF-8) files are searched.

    Passages (paragraphs) are ranked with BM25 (see ``search``); scores are between 0
    and 1. The step's ``file_search.ranking_options`` echo the run's file_search tool
    (``ranker`` ``auto`` is reported as ``default_2024_08_21``; ``score_threshold``
    defaults to 0) and ``results`` list up to ``max_num_results`` (default 20) passages
    with ``file_id``, ``file_name`` and ``score``, and with ``content`` when the request
    had ``include=["step_details.tool_calls[*].file_search.results[*].content"]``. The
    reply quotes the best three passages, each followed by a citation mark like
    ``【2:0†source】`` (step number : result number) carrying a ``file_citation``
    annotation with the file's id.

``tool_choice: "none"`` turns every trigger off; a named ``tool_choice`` keeps only that
kind. ``/long`` (at the start of a message) still asks for the long document.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import AsyncIterator
from dataclasses import dataclass

from tui_assistant.server.demo import demo_reply, is_long_request, long_document
from tui_assistant.server.models import (
    Annotated,
    CodeInterpreterCall,
    FileSearchCall,
    FunctionCall,
    ImageFile,
    ModelOutput,
    RunContext,
    ToolResult,
    stream_tokens,
)

MAX_CALLS = 20
MAX_CODE_BLOCKS = 5
QUOTED_PASSAGES = 3

_FENCE = re.compile(
    r"^[ \t]*(?P<fence>`{3,})[ \t]*(?:python3?|py)[ \t]*\n"
    r"(?P<code>.*?)^[ \t]*(?P=fence)[ \t]*$",
    re.MULTILINE | re.DOTALL | re.IGNORECASE,
)
_ANY_FENCE = re.compile(
    r"^[ \t]*(?P<fence>`{3,})[^\n]*\n.*?^[ \t]*(?P=fence)[ \t]*$", re.MULTILINE | re.DOTALL
)
_CALL = re.compile(
    r"^[ \t]*/call[ \t]+(?P<name>[A-Za-z0-9_-]{1,64})(?:[ \t]+(?P<args>.*?))?[ \t]*$"
)


@dataclass(frozen=True, slots=True)
class CallRequest:
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Triggers:
    """What a user message asks the demo model to do with tools."""

    code: tuple[str, ...] = ()
    calls: tuple[CallRequest, ...] = ()
    question: str = ""
    """The message's prose (without code and ``/call`` lines) when it ends with ``?``."""

    @property
    def any(self) -> bool:
        return bool(self.code or self.calls or self.question)


def parse_triggers(text: str) -> Triggers:
    """Find the tool triggers of the demo model in a user message."""
    code = tuple(textwrap.dedent(match.group("code")) for match in _FENCE.finditer(text))[
        :MAX_CODE_BLOCKS
    ]
    prose = _ANY_FENCE.sub("", text)
    calls = []
    kept = []
    for line in prose.splitlines():
        match = _CALL.match(line)
        if match is None:
            kept.append(line)
        elif len(calls) < MAX_CALLS:
            calls.append(CallRequest(match.group("name"), match.group("args") or "{}"))
    rest = "\n".join(kept).strip()
    return Triggers(code=code, calls=tuple(calls), question=rest if rest.endswith("?") else "")


# --- the reply --------------------------------------------------------------------------

ReplyPart = str | Annotated | ImageFile


def _fenced(text: str, language: str = "") -> str:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    body = text if text.endswith("\n") else text + "\n"
    return f"{fence}{language}\n{body}{fence}\n"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit].rstrip() + " …"


def _quote_output(output: str) -> str:
    """An output inline (“…”) when it is short and simple, else as a fenced block."""
    if "\n" not in output.strip() and len(output) <= 200 and "`" not in output:
        return f"“{output.strip()}”."
    return ":\n\n" + textwrap.indent(_fenced(_clip(output, 2000)), "  ")


def function_section(results: tuple[ToolResult, ...]) -> str:
    lines = ["**Function results**", ""]
    for result in results:
        arguments = _clip(" ".join(result.arguments.split()), 120).replace("`", "'")
        lines.append(f"- `{result.name}({arguments})` returned {_quote_output(result.output)}")
    return "\n".join(lines) + "\n"


def code_section(calls: list[CodeInterpreterCall]) -> list[ReplyPart]:
    parts: list[ReplyPart] = ["**Code interpreter**\n\n"]
    for number, call in enumerate(calls, 1):
        result = call.result
        if result is None:  # pragma: no cover - the executor always sets it
            continue
        which = f" (block {number} of {len(calls)})" if len(calls) > 1 else ""
        logs = result.logs.strip("\n")
        if result.status == "off":
            why = result.error.removeprefix("the code was not run: ")
            parts.append(f"I did not run your code{which}: {why}.")
        elif result.status == "timeout":
            parts.append(f"I ran your code{which}, but {result.error}.")
        elif result.status == "ok":
            parts.append(f"I ran your code{which}.")
        else:
            parts.append(f"I ran your code{which}. It failed: `{result.error}`.")
        if logs:
            parts.append(" It printed:\n\n" + _fenced(_clip(logs, 1500), "text") + "\n")
        else:
            parts.append(" It printed nothing.\n\n")
        if call.images:
            count = len(call.images)
            # The images are content blocks of this reply; clients show them after the
            # text (the app does), so the text does not say where they are.
            parts.append(f"It drew {count} image{'s' if count > 1 else ''}, attached to this "
                         "reply.\n\n")
        for name, file_id in call.files:
            parts.append(f"It wrote `{name}`: ")
            parts.append(Annotated(f"sandbox:/mnt/data/{name}", "file_path", file_id))
            parts.append("\n\n")
    return parts


def search_section(call: FileSearchCall) -> list[ReplyPart]:
    query = _clip(" ".join(call.query.split()), 120)
    files = f"{call.searched} file{'' if call.searched == 1 else 's'}"
    parts: list[ReplyPart] = ["**File search**\n\n"]
    if call.searched == 0:
        parts.append("None of the files attached for file search is a text file I can read.\n")
        return parts
    if not call.results:
        parts.append(f"I searched {files} for “{query}”, and no passage matches.\n")
        return parts
    best = call.results[:QUOTED_PASSAGES]
    parts.append(
        f"I searched {files} for “{query}”. "
        + ("The best passages:" if len(best) > 1 else "The best passage:")
        + "\n\n"
    )
    for index, result in enumerate(best):
        passage = _clip(" ".join(result.text.split()), 240).replace("”", '"')
        parts.append(f"{index + 1}. “{passage}”")
        parts.append(
            Annotated(f"【{call.number}:{index}†source】", "file_citation", result.file_id)
        )
        parts.append(f" ({result.file_name}, score {result.score:.2f})\n")
    return parts


def tools_reply(
    *,
    results: tuple[ToolResult, ...],
    code: list[CodeInterpreterCall],
    search: FileSearchCall | None,
) -> list[ReplyPart]:
    """The reply after the tools ran: images first, then one section per tool kind."""
    parts: list[ReplyPart] = [ImageFile(file_id) for call in code for file_id in call.images]
    sections: list[list[ReplyPart]] = []
    if results:
        sections.append([function_section(results)])
    if code:
        sections.append(code_section(code))
    if search is not None:
        sections.append(search_section(search))
    for number, section in enumerate(sections):
        if number:
            parts.append("\n")
        parts.extend(section)
    return parts


CODE_NOT_ENABLED = (
    "\n> Your message has a Python block, but this run has no `code_interpreter` tool, so I "
    "did not run it. Enable the tool on the assistant (or attach a file for it) to run code.\n"
)


SEARCH_NOT_ENABLED = (
    "\n> Your question has files attached for `file_search`, but this assistant has file "
    "search turned off, so I did not search them. Turn it on for the assistant (F5, then e) "
    "to search them.\n"
)


def _search_enabled(context: RunContext) -> bool:
    """File search runs only when the run's tools include it: attaching a file for it
    does not switch on a tool the assistant has turned off."""
    return context.tool_enabled("file_search") and any(
        tool.get("type") == "file_search" for tool in context.tools
    )


def _calls_allowed(context: RunContext) -> bool:
    choice = context.tool_choice
    if choice == "none":
        return False
    return not (isinstance(choice, dict) and choice.get("type") != "function")


async def demo_respond(context: RunContext, token_delay: float = 0.0) -> AsyncIterator[ModelOutput]:
    """The demo model's output for a run (see the module docstring)."""
    text = context.last_user_text
    if is_long_request(text):
        async for token in stream_tokens(long_document(), token_delay):
            yield token
        return
    triggers = parse_triggers(text)
    if triggers.calls and _calls_allowed(context):
        done = len(context.tool_results)
        if done < len(triggers.calls):
            pending = triggers.calls[done:]
            if not context.parallel_tool_calls:
                pending = pending[:1]
            for request in pending:
                yield FunctionCall(request.name, request.arguments)
            return
    code_calls: list[CodeInterpreterCall] = []
    if triggers.code and context.tool_enabled("code_interpreter"):
        for code in triggers.code:
            call = CodeInterpreterCall(code, pace=token_delay)
            yield call
            code_calls.append(call)
    search = None
    searchable = bool(triggers.question and context.files_for("file_search"))
    if searchable and _search_enabled(context):
        search = FileSearchCall(triggers.question)
        yield search
    parts = tools_reply(results=context.tool_results, code=code_calls, search=search)
    if not parts:
        reply = demo_reply(text)
        if triggers.code:
            reply += CODE_NOT_ENABLED
        if searchable and context.tool_choice != "none":
            reply += SEARCH_NOT_ENABLED
        parts = [reply]
    for part in parts:
        if isinstance(part, str):
            async for token in stream_tokens(part, token_delay):
                yield token
        else:
            yield part
