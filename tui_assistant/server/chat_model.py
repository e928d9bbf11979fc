"""A real model behind the local server: any Chat Completions endpoint.

``ChatModel`` fills the server's ``Model`` interface (see ``models``) by calling
``POST {model_url}/chat/completions`` with ``stream: true`` through httpx:

* The run's instructions become the system message and the thread's messages the chat
  messages, in order; the context window is respected (see ``fit_messages``).
* Each content delta of the upstream stream is yielded at once as reply text.
* The run's function tools go upstream as chat tools. A tool call the model makes is
  yielded as a ``FunctionCall`` with the call's id; the run pauses in ``requires_action``
  and, when the outputs arrive, the model is called again with them as ``tool`` messages.
  The conversation of a paused run is kept in memory (and rebuilt from the thread when
  the server restarted in between).
* The server's own tools are offered as function tools too: ``code`` (one string
  parameter, the Python code) runs in the code interpreter's sandbox, ``query`` (one
  string parameter) searches the run's files. Their outcome goes back to the model as the
  tool result and the model is called again in the same turn. Passages found are numbered
  with marks like ``【3:0†source】``; marks the model copies into its reply become
  ``file_citation`` annotations.
* Streams from real servers differ from OpenAI's; ``ToolCallAccumulator`` and
  ``TextToolCalls`` take each known quirk (see ``docs`` in the shared design notes).
* Upstream failures become ``ModelError`` with a plain message naming the host.

The API key, when there is one, is only ever put in the ``Authorization`` header of the
upstream requests: it is not logged, stored or put into any message.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import secrets
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx2 as httpx

from tui_assistant.server.models import (
    Annotated,
    CodeInterpreterCall,
    FileSearchCall,
    FunctionCall,
    ImageFile,
    Incomplete,
    ModelError,
    ModelOutput,
    Notice,
    RunContext,
    Usage,
)

logger = logging.getLogger("tui_assistant.server")

CODE_TOOL = "code"
SEARCH_TOOL = "query"
MAX_TOOL_ROUNDS = 10
"""Model calls that end in tool calls, per run; past this the run ends ``incomplete``."""
INCOMPLETE_TOOL_ROUNDS = "max_tool_rounds"
DEFAULT_REPLY_ROOM = 1024
"""Tokens of the context window kept free for the reply (at most a quarter of it)."""
TOOL_OUTPUT_CHARS = 4000
"""Tool outputs longer than this are shortened first when the window is too small."""
RETRY_AFTER_CAP = 30.0
PASSAGES_FOR_MODEL = 8
PASSAGE_CHARS = 1200
_MAX_TRANSCRIPTS = 256

CODE_DESCRIPTION = (
    "Run Python 3 code in a sandbox and get back what it printed (the value of a last "
    "bare expression is printed too). Files the user attached are in the working "
    "directory. Save charts as PNG files (plt.savefig('chart.png')) to show them."
)
SEARCH_DESCRIPTION = (
    "Search the files the user attached and get the best matching passages, each with a "
    "mark like 【3:0†source】. Put a passage's mark right after a statement it supports."
)


def estimate_tokens(text: str) -> int:
    """A rough token count (four characters a token) for when the upstream gives none."""
    return math.ceil(len(text) / 4) if text else 0


def _message_tokens(message: dict[str, Any]) -> int:
    size = 4 + estimate_tokens(message.get("content") or "")
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        size += estimate_tokens(function.get("name", "") + function.get("arguments", ""))
    return size


_ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def new_call_id() -> str:
    """An id for a call that came without one: nine letters and digits, the one shape
    every server takes back (Mistral's templates insist on it)."""
    return "".join(secrets.choice(_ID_CHARS) for _ in range(9))


# --- stream accumulation ----------------------------------------------------------------


@dataclass(slots=True)
class ToolCallPiece:
    id: str
    name: str
    arguments: str = ""


class ToolCallAccumulator:
    """Tool calls put together from stream chunks, robust to real servers' quirks.

    ``id`` and ``name`` are taken the first time they appear (servers that repeat them
    in every chunk must not double them); a new ``id`` at an index already in use starts
    a new call (servers that put every call on index 0); a missing ``index`` is the
    call's position in the chunk; arguments are concatenated.
    """

    def __init__(self) -> None:
        self.calls: list[ToolCallPiece] = []
        self._at: dict[int, ToolCallPiece] = {}

    def add(self, deltas: list[Any]) -> None:
        for position, delta in enumerate(deltas):
            if not isinstance(delta, dict):
                continue
            index = delta.get("index")
            if not isinstance(index, int):
                index = position
            call_id = delta.get("id") or ""
            function = delta.get("function") or {}
            name = function.get("name") or ""
            arguments = function.get("arguments")
            if isinstance(arguments, dict):  # a few servers send an object
                arguments = json.dumps(arguments)
            current = self._at.get(index)
            if current is None or (call_id and current.id and call_id != current.id):
                current = ToolCallPiece(call_id, name)
                self._at[index] = current
                self.calls.append(current)
            else:
                if call_id and not current.id:
                    current.id = call_id
                if name and not current.name:
                    current.name = name
            if isinstance(arguments, str):
                current.arguments += arguments


_TAG_OPEN = "<tool_call>"
_TAG_CLOSE = "</tool_call>"


def parse_text_call(text: str) -> ToolCallPiece | None:
    """A call written as JSON text: ``{"name": ..., "arguments": ...}``, else None."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        return None
    if set(value) - {"name", "arguments", "parameters", "id", "type"}:
        return None
    arguments = value.get("arguments", value.get("parameters", {}))
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments)
    return ToolCallPiece(value.get("id") or "", value["name"], arguments)


class TextToolCalls:
    """Separates reply text from tool calls a server wrote into the content as text.

    Text is passed on as soon as it cannot be the start of a call: a ``<tool_call>``
    element is held until it closes, and a reply that starts with ``{`` is held to its
    end (it may be a bare JSON call). What turns out not to be a call is passed on then.
    """

    def __init__(self) -> None:
        self.calls: list[ToolCallPiece] = []
        self._held = ""
        self._started = False
        self._bare = False

    def feed(self, text: str) -> str:
        """Take a content delta; return the text that can be shown now."""
        held = self._held + text
        if not self._started:
            stripped = held.lstrip()
            if not stripped:
                self._held = held
                return ""
            self._started = True
            if stripped.startswith("{"):
                self._bare = True
        if self._bare:
            self._held = held
            return ""
        out = []
        while True:
            start = held.find(_TAG_OPEN)
            if start < 0:
                keep = _partial_suffix(held, _TAG_OPEN)
                out.append(held[: len(held) - keep])
                self._held = held[len(held) - keep :]
                break
            out.append(held[:start])
            end = held.find(_TAG_CLOSE, start)
            if end < 0:
                self._held = held[start:]
                break
            body = held[start + len(_TAG_OPEN) : end].strip()
            call = parse_text_call(body)
            if call is None:
                out.append(held[start : end + len(_TAG_CLOSE)])
            else:
                self.calls.append(call)
            held = held[end + len(_TAG_CLOSE) :]
        return "".join(out)

    def finish(self) -> str:
        """The end of the content: the held text that is not a call."""
        held, self._held = self._held, ""
        if self._bare:
            stripped = held.strip()
            call = parse_text_call(stripped)
            if call is not None:
                self.calls.append(call)
                return ""
            calls = _json_lines(stripped)
            if calls:
                self.calls.extend(calls)
                return ""
        return held


def _json_lines(text: str) -> list[ToolCallPiece]:
    calls = []
    for line in text.splitlines():
        if not line.strip():
            continue
        call = parse_text_call(line.strip())
        if call is None:
            return []
        calls.append(call)
    return calls


def _partial_suffix(text: str, tag: str) -> int:
    """The length of the longest end of ``text`` that starts ``tag``."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:size]):
            return size
    return 0


_MARK = re.compile(r"【(\d+):(\d+)†[^】]{0,40}】")


class Citations:
    """Finds passage marks (``【3:0†source】``) in streamed text; holds a mark while open."""

    def __init__(self, marks: dict[str, str]) -> None:
        self.marks = marks
        self._held = ""

    def feed(self, text: str) -> list[str | Annotated]:
        if not self.marks:
            return [text] if text else []
        held = self._held + text
        out: list[str | Annotated] = []
        position = 0
        for match in _MARK.finditer(held):
            file_id = self.marks.get(f"{match.group(1)}:{match.group(2)}")
            if file_id is None:
                continue
            if match.start() > position:
                out.append(held[position : match.start()])
            out.append(Annotated(match.group(0), "file_citation", file_id))
            position = match.end()
        rest = held[position:]
        opening = rest.rfind("【")
        if opening >= 0 and "】" not in rest[opening:] and len(rest) - opening < 48:
            if opening:
                out.append(rest[:opening])
            self._held = rest[opening:]
        else:
            if rest:
                out.append(rest)
            self._held = ""
        return out

    def finish(self) -> str:
        held, self._held = self._held, ""
        return held


# --- the model --------------------------------------------------------------------------


@dataclass(slots=True)
class _RunMemory:
    """What a run's conversation needs between its turns."""

    messages: list[dict[str, Any]]
    pending: list[str] = field(default_factory=list)
    """Ids of the function calls waiting for the client's outputs."""
    rounds: int = 0
    told_invalid: bool = False
    marks: dict[str, str] = field(default_factory=dict)
    """Passage marks (``step:index``) to file ids, for citations."""
    no_tools: bool = False


@dataclass(slots=True)
class _Reply:
    text: list[str] = field(default_factory=list)
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    done: bool = False


class ChatModel:
    """The server's model backed by a Chat Completions endpoint."""

    def __init__(
        self,
        base_url: str,
        *,
        model: str | None = None,
        api_key: str | None = None,
        context_window: int | None = None,
        max_tool_rounds: int = MAX_TOOL_ROUNDS,
        timeout: float = 600.0,
        key_hint: str = "",
        code_interpreter: bool = True,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        self.host = parts.netloc or self.base_url
        self.model = model or None
        self.context_window = context_window
        self.max_tool_rounds = max_tool_rounds
        self.timeout = timeout
        self.key_hint = key_hint
        self.code_interpreter = code_interpreter
        """Whether the ``code`` tool is offered at all (off where no sandbox may run
        model-written code)."""
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client: httpx.AsyncClient | None = None
        self._memory: OrderedDict[str, _RunMemory] = OrderedDict()
        self._toolless: set[str] = set()
        """Models that answered that they do not support tools."""

    def __repr__(self) -> str:  # never shows the key
        return f"ChatModel({self.base_url!r}, model={self.model!r})"

    # --- http -----------------------------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                headers=self._headers,
                timeout=httpx.Timeout(self.timeout, connect=10.0),
                trust_env=False,
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    async def list_models(self) -> list[dict[str, Any]]:
        """The upstream's ``GET /models`` list (raises ``ModelError`` when unavailable)."""
        try:
            response = await self._http().get(self.base_url + "/models", timeout=10.0)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None
        if response.status_code != 200:
            raise ModelError(
                f"The model server at {self.host} does not list its models "
                f"(HTTP {response.status_code})."
            )
        try:
            data = response.json().get("data")
        except (ValueError, AttributeError):
            data = None
        if not isinstance(data, list):
            raise ModelError(f"The model server at {self.host} sent a malformed model list.")
        return [m for m in data if isinstance(m, dict) and isinstance(m.get("id"), str)]

    async def default_model(self) -> str | None:
        """``--model``, or the first model the endpoint lists, or None."""
        if self.model:
            return self.model
        try:
            models = await self.list_models()
        except ModelError:
            return None
        if models:
            self.model = models[0]["id"]
        return self.model

    def _unreachable(self, exc: Exception) -> ModelError:
        return ModelError(
            f"The model server at {self.host} is not reachable ({type(exc).__name__}). "
            f"Check that it is running and that the model URL ({self.base_url}) is right."
        )

    # --- the conversation ---------------------------------------------------------------

    def _memory_for(self, context: RunContext) -> _RunMemory:
        memory = self._memory.pop(context.run_id, None)
        if memory is not None:
            done = {r.call_id: r for r in context.tool_results}
            for call_id in memory.pending:
                result = done.get(call_id)
                memory.messages.append(
                    {
                        "role": "tool",
                        "tool_call_id": call_id,
                        "content": result.output if result is not None else "",
                    }
                )
            memory.pending = []
            return memory
        messages: list[dict[str, Any]] = []
        for message in context.messages:
            role = message.role if message.role in ("user", "assistant") else "user"
            messages.append({"role": role, "content": message.text})
        if context.tool_results:  # resumed after a restart: rebuild the calls
            messages.append(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": r.call_id,
                            "type": "function",
                            "function": {"name": r.name, "arguments": r.arguments or "{}"},
                        }
                        for r in context.tool_results
                    ],
                }
            )
            for r in context.tool_results:
                messages.append({"role": "tool", "tool_call_id": r.call_id, "content": r.output})
        return _RunMemory(messages=messages)

    def _keep(self, run_id: str, memory: _RunMemory) -> None:
        self._memory[run_id] = memory
        while len(self._memory) > _MAX_TRANSCRIPTS:
            self._memory.popitem(last=False)

    def _model_name(self, context: RunContext) -> str:
        if context.model and context.model != "demo":
            return context.model
        return self.model or context.model

    def _tools(self, context: RunContext, memory: _RunMemory) -> list[dict[str, Any]]:
        if memory.no_tools or context.tool_choice == "none":
            return []
        if self._model_name(context) in self._toolless:
            return []
        tools: list[dict[str, Any]] = []
        for tool in context.tools:
            if tool.get("type") == "function" and isinstance(tool.get("function"), dict):
                function = {
                    k: v
                    for k, v in tool["function"].items()
                    if k in ("name", "description", "parameters", "strict") and v is not None
                }
                tools.append({"type": "function", "function": function})
        if self.code_interpreter and context.tool_enabled("code_interpreter"):
            names = [f.filename for f in context.files_for("code_interpreter")]
            about = CODE_DESCRIPTION
            if names:
                about += " Files in the working directory: " + ", ".join(names[:50]) + "."
            tools.append(_string_tool(CODE_TOOL, about, "The Python code to run."))
        if context.tool_enabled("file_search") and context.files_for("file_search"):
            tools.append(_string_tool(SEARCH_TOOL, SEARCH_DESCRIPTION, "What to search for."))
        return tools

    def _tool_choice(self, context: RunContext) -> Any:
        choice = context.tool_choice
        if isinstance(choice, dict):
            kind = choice.get("type")
            if kind == "function":
                name = (choice.get("function") or {}).get("name")
                return {"type": "function", "function": {"name": name}}
            if kind == "code_interpreter":
                return {"type": "function", "function": {"name": CODE_TOOL}}
            if kind == "file_search":
                return {"type": "function", "function": {"name": SEARCH_TOOL}}
            return None
        if choice in ("auto", "required"):
            return choice
        return None

    def _budget(self, context: RunContext) -> int | None:
        limits = []
        if self.context_window:
            room = min(DEFAULT_REPLY_ROOM, self.context_window // 4)
            limits.append(self.context_window - room)
        if context.max_prompt_tokens:
            limits.append(context.max_prompt_tokens)
        return min(limits) if limits else None

    def _request(
        self, context: RunContext, memory: _RunMemory, tools: list[dict[str, Any]]
    ) -> tuple[dict[str, Any], int]:
        system = []
        if context.instructions:
            system.append({"role": "system", "content": context.instructions})
        messages, dropped = fit_messages(system, memory.messages, self._budget(context))
        body: dict[str, Any] = {
            "model": self._model_name(context),
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if tools:
            body["tools"] = tools
            choice = self._tool_choice(context)
            if memory.rounds and choice not in (None, "auto"):
                choice = "auto"  # a forced tool is forced once, not in every round
            if choice is not None:
                body["tool_choice"] = choice
            if not context.parallel_tool_calls:
                body["parallel_tool_calls"] = False
        if context.temperature is not None:
            body["temperature"] = context.temperature
        if context.top_p is not None:
            body["top_p"] = context.top_p
        response_format = context.response_format
        if isinstance(response_format, dict) and response_format.get("type") in (
            "json_object",
            "json_schema",
        ):
            body["response_format"] = response_format
        return body, dropped

    # --- one run turn ---------------------------------------------------------------------

    async def respond(self, context: RunContext) -> AsyncIterator[ModelOutput]:
        memory = self._memory_for(context)
        while True:
            tools = self._tools(context, memory)
            body, dropped = self._request(context, memory, tools)
            if dropped:
                yield Notice(
                    f"{dropped} earlier message(s) left out to fit the context window", dropped
                )
            reply = _Reply()
            calls = ToolCallAccumulator()
            text_calls = TextToolCalls()
            citations = Citations(memory.marks)
            visible: list[str] = []
            try:
                async for value in self._stream(body, reply, calls):
                    shown = text_calls.feed(value)
                    if shown:
                        visible.append(shown)
                        for piece in citations.feed(shown):
                            yield piece
            except _ToolsUnsupported:
                if memory.no_tools or not tools:
                    raise ModelError(
                        f"The model server at {self.host} refused the request for tools."
                    ) from None
                memory.no_tools = True
                self._toolless.add(body["model"])
                yield Notice(f"the model at {self.host} does not support tools; retried without")
                yield (
                    "> Note: this model does not support tools, so it answered without them.\n\n"
                )
                continue
            rest = text_calls.finish()
            visible.append(rest)
            for piece in citations.feed(rest) if rest else ():
                yield piece
            tail = citations.finish()
            if tail:
                yield tail
            yield self._usage(body, reply, calls)
            found = calls.calls or text_calls.calls
            if not found:
                self._memory.pop(context.run_id, None)
                return
            if memory.rounds >= self.max_tool_rounds:
                yield Incomplete(INCOMPLETE_TOOL_ROUNDS)
                return
            memory.rounds += 1
            taken = {c["id"] for m in memory.messages for c in m.get("tool_calls") or ()}
            for call in found:
                if not call.id or call.id in taken:
                    call.id = new_call_id()
                taken.add(call.id)
                if not call.arguments.strip():
                    call.arguments = "{}"
            memory.messages.append(
                {
                    "role": "assistant",
                    "content": "".join(visible) or None,
                    "tool_calls": [
                        {
                            "id": c.id,
                            "type": "function",
                            "function": {"name": c.name, "arguments": c.arguments},
                        }
                        for c in found
                    ],
                }
            )
            bad = [c for c in found if not _valid_object(c.arguments)]
            if bad:
                if memory.told_invalid:
                    names = ", ".join(sorted({c.name for c in bad}))
                    raise ModelError(
                        f"The model sent invalid JSON arguments for {names} twice; "
                        "the run was stopped."
                    )
                memory.told_invalid = True
                for call in found:
                    memory.messages.append(
                        {
                            "role": "tool",
                            "tool_call_id": call.id,
                            "content": (
                                "Error: the arguments were not a valid JSON object. "
                                "Call the tool again with valid JSON arguments."
                                if call in bad
                                else "Not run: another call in this step had invalid arguments."
                            ),
                        }
                    )
                continue
            server_names = {t["function"]["name"] for t in tools if t["type"] == "function"}
            functions = []
            for call in found:
                if call.name == CODE_TOOL and CODE_TOOL in server_names and _is_ours(context, call):
                    run = CodeInterpreterCall(_string_argument(call.arguments, "code"))
                    yield run
                    for image in run.images:
                        yield ImageFile(image)
                    memory.messages.append(
                        {"role": "tool", "tool_call_id": call.id, "content": code_outcome(run)}
                    )
                elif (
                    call.name == SEARCH_TOOL
                    and SEARCH_TOOL in server_names
                    and _is_ours(context, call)
                ):
                    search = FileSearchCall(_string_argument(call.arguments, "query"))
                    yield search
                    memory.messages.append(
                        {
                            "role": "tool",
                            "tool_call_id": call.id,
                            "content": search_outcome(search, memory.marks),
                        }
                    )
                else:
                    functions.append(call)
            if functions:
                memory.pending = [c.id for c in functions]
                self._keep(context.run_id, memory)
                for call in functions:
                    yield FunctionCall(call.name, call.arguments, call_id=call.id)
                return

    def _usage(self, body: dict[str, Any], reply: _Reply, calls: ToolCallAccumulator) -> Usage:
        usage = reply.usage
        if usage and isinstance(usage.get("prompt_tokens"), int):
            return Usage(usage["prompt_tokens"], int(usage.get("completion_tokens") or 0))
        prompt = sum(_message_tokens(m) for m in body["messages"])
        completion = estimate_tokens("".join(reply.text)) + sum(
            estimate_tokens(c.name + c.arguments) for c in calls.calls
        )
        return Usage(prompt, completion, estimated=True)

    async def _stream(
        self, body: dict[str, Any], reply: _Reply, calls: ToolCallAccumulator
    ) -> AsyncIterator[str]:
        """Call the upstream; yield each piece of content as it arrives."""
        retried = False
        while True:
            try:
                async with self._http().stream(
                    "POST", self.base_url + "/chat/completions", json=body
                ) as response:
                    if response.status_code == 429 and not retried:
                        wait = _retry_after(response.headers.get("retry-after"))
                        retried = True
                        await response.aread()
                        await asyncio.sleep(wait)
                        continue
                    if response.status_code != 200:
                        await response.aread()
                        if (
                            response.status_code in (400, 422)
                            and "stream_options" in body
                            and "stream_options" in _error_message(response)
                        ):
                            del body["stream_options"]  # an older server: usage is estimated
                            continue
                        raise await self._http_error(response, body)
                    async for value in self._read(response, reply, calls, body):
                        yield value
                    return
            except httpx.ConnectError as exc:
                raise self._unreachable(exc) from None
            except httpx.TimeoutException as exc:
                if reply.text or calls.calls:
                    raise self._cut(exc) from None
                raise ModelError(
                    f"The model server at {self.host} did not answer in time "
                    f"({type(exc).__name__})."
                ) from None
            except httpx.HTTPError as exc:
                raise self._cut(exc) from None

    def _cut(self, exc: Exception | None) -> ModelError:
        why = f" ({type(exc).__name__})" if exc is not None else ""
        return ModelError(
            f"The model server at {self.host} cut the reply off midway{why}; "
            "the text so far is kept."
        )

    async def _read(
        self,
        response: httpx.Response,
        reply: _Reply,
        calls: ToolCallAccumulator,
        body: dict[str, Any],
    ) -> AsyncIterator[str]:
        content_type = response.headers.get("content-type", "")
        if "text/event-stream" not in content_type:
            # A server that ignored ``stream``: take the whole reply at once.
            await response.aread()
            try:
                whole = response.json()
            except ValueError:
                raise ModelError(
                    f"The model server at {self.host} sent a reply that is not JSON."
                ) from None
            for choice in whole.get("choices") or ():
                message = choice.get("message") or {}
                if message.get("content"):
                    reply.text.append(message["content"])
                    yield message["content"]
                if message.get("tool_calls"):
                    calls.add(message["tool_calls"])
                reply.finish_reason = choice.get("finish_reason")
            reply.usage = whole.get("usage")
            reply.done = True
            return
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                reply.done = True
                break
            try:
                chunk = json.loads(data)
            except ValueError:
                continue
            if not isinstance(chunk, dict):
                continue
            if chunk.get("error"):
                error = chunk["error"]
                message = error.get("message") if isinstance(error, dict) else str(error)
                if _no_tools_message(str(message)) and body.get("tools"):
                    raise _ToolsUnsupported
                raise ModelError(f"The model server at {self.host} failed: {message}")
            if chunk.get("usage"):
                reply.usage = chunk["usage"]
            for choice in chunk.get("choices") or ():
                delta = choice.get("delta") or {}
                text = delta.get("content")
                if text:
                    reply.text.append(text)
                    yield text
                if delta.get("tool_calls"):
                    calls.add(delta["tool_calls"])
                if choice.get("finish_reason"):
                    reply.finish_reason = choice["finish_reason"]
        if not reply.done and reply.finish_reason is None:
            raise self._cut(None)

    async def _http_error(self, response: httpx.Response, body: dict[str, Any]) -> Exception:
        status = response.status_code
        message = _error_message(response)
        host = self.host
        if status == 400 and body.get("tools") and _no_tools_message(message):
            return _ToolsUnsupported()
        if status in (401, 403):
            where = f" (from ${self.key_hint})" if self.key_hint else ""
            return ModelError(
                f"The model server at {host} refused the API key{where} with HTTP {status}: "
                f"{message or 'check the key'}."
            )
        if status == 404 or "model" in message.lower() and "not found" in message.lower():
            listed = ""
            try:
                models = await self.list_models()
                names = ", ".join(m["id"] for m in models[:20])
                listed = f" It has: {names}." if names else " It lists no models."
            except ModelError:
                pass
            return ModelError(
                f"The model server at {host} has no model '{body.get('model')}' "
                f"(HTTP {status}).{listed}"
            )
        if status == 429:
            return ModelError(
                f"The model server at {host} is rate limiting requests (HTTP 429)"
                + (f": {message}" if message else "."),
                code="rate_limit_exceeded",
            )
        if status >= 500:
            return ModelError(
                f"The model server at {host} failed with HTTP {status}"
                + (f": {message}" if message else ".")
            )
        return ModelError(
            f"The model server at {host} refused the request with HTTP {status}"
            + (f": {message}" if message else ".")
        )


class _ToolsUnsupported(Exception):
    """The upstream model cannot take tools."""


def _no_tools_message(message: str) -> bool:
    lowered = message.lower()
    return "tool" in lowered and (
        "not support" in lowered or "unsupported" in lowered or "does not support" in lowered
    )


def _error_message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        text = response.text.strip()
        return " ".join(text.split())[:300]
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or "")[:300]
    if isinstance(error, str):
        return error[:300]
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return data["message"][:300]
    return ""


def _retry_after(value: str | None) -> float:
    try:
        seconds = float(value) if value else 1.0
    except ValueError:
        seconds = 1.0
    return max(0.0, min(seconds, RETRY_AFTER_CAP))


def _string_tool(name: str, description: str, about: str) -> dict[str, Any]:
    key = "code" if name == CODE_TOOL else "query"
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": {key: {"type": "string", "description": about}},
                "required": [key],
            },
        },
    }


def _valid_object(arguments: str) -> bool:
    try:
        return isinstance(json.loads(arguments), dict)
    except ValueError:
        return False


def _string_argument(arguments: str, key: str) -> str:
    value = json.loads(arguments)
    found = value.get(key)
    if isinstance(found, str):
        return found
    strings = [v for v in value.values() if isinstance(v, str)]
    return strings[0] if len(strings) == 1 else ""


def _is_ours(context: RunContext, call: ToolCallPiece) -> bool:
    """Whether ``code``/``query`` is the server's tool (not a client function so named)."""
    return not any(
        t.get("type") == "function" and (t.get("function") or {}).get("name") == call.name
        for t in context.tools
    )


def code_outcome(call: CodeInterpreterCall) -> str:
    """What the model is told about code it ran."""
    result = call.result
    if result is None:
        return "The code did not run."
    logs = result.logs
    if len(logs) > TOOL_OUTPUT_CHARS:
        logs = logs[: TOOL_OUTPUT_CHARS // 2] + "\n…\n" + logs[-TOOL_OUTPUT_CHARS // 2 :]
    lines = []
    if result.status == "ok":
        lines.append("The code ran.")
    elif result.status == "timeout":
        lines.append(f"The code was stopped: {result.error}.")
    else:
        lines.append(f"The code failed: {result.error}")
    lines.append("Output:\n" + logs if logs.strip() else "It printed nothing.")
    if call.images:
        lines.append(f"It drew {len(call.images)} image(s); the user sees them.")
    for name, _file_id in call.files:
        lines.append(f"It wrote the file {name} (the user can download sandbox:/mnt/data/{name}).")
    return "\n".join(lines)


def search_outcome(call: FileSearchCall, marks: dict[str, str]) -> str:
    """Numbered passages for the model; records their marks for citations."""
    if call.searched == 0:
        return "There are no text files to search."
    if not call.results:
        return f"No passage of the {call.searched} file(s) matches {call.query!r}."
    lines = [
        f"Passages from the user's files for {call.query!r}, best first. "
        "Cite a passage by writing its mark (as shown, e.g. "
        f"【{call.number}:0†source】) right after the statement it supports."
    ]
    for index, result in enumerate(call.results[:PASSAGES_FOR_MODEL]):
        marks[f"{call.number}:{index}"] = result.file_id
        text = " ".join(result.text.split())
        if len(text) > PASSAGE_CHARS:
            text = text[:PASSAGE_CHARS] + " …"
        mark = f"【{call.number}:{index}†source】"
        lines.append(f"{mark} ({result.file_name}, score {result.score:.2f})\n{text}")
    return "\n\n".join(lines)


def fit_messages(
    system: list[dict[str, Any]], messages: list[dict[str, Any]], budget: int | None
) -> tuple[list[dict[str, Any]], int]:
    """The messages to send within ``budget`` tokens, and how many were left out.

    Long tool outputs are shortened first; then the oldest messages are dropped, never
    the system message or the newest user message, and a tool call is dropped with its
    results (so no ``tool`` message is left without its call).
    """
    if budget is None:
        return system + messages, 0
    size = sum(_message_tokens(m) for m in system + messages)
    if size <= budget:
        return system + messages, 0
    messages = [dict(m) for m in messages]
    for message in messages:
        content = message.get("content")
        if message.get("role") == "tool" and isinstance(content, str):
            if len(content) > TOOL_OUTPUT_CHARS:
                half = TOOL_OUTPUT_CHARS // 2
                message["content"] = content[:half] + "\n…(shortened)…\n" + content[-half:]
    size = sum(_message_tokens(m) for m in system + messages)
    last_user = max(
        (i for i, m in enumerate(messages) if m.get("role") == "user"), default=len(messages)
    )
    dropped = 0
    start = 0
    while size > budget and start < last_user:
        size -= _message_tokens(messages[start])
        start += 1
        dropped += 1
        # a tool message may not begin the conversation
        while start < last_user and messages[start].get("role") == "tool":
            size -= _message_tokens(messages[start])
            start += 1
            dropped += 1
    # strict chat templates want the conversation to start with the user
    while dropped and start < last_user and messages[start].get("role") != "user":
        start += 1
        dropped += 1
    kept = messages[start:]
    return system + kept, dropped
