"""The HTTP layer: Starlette routes for the Assistants and Files APIs under ``/v1``.

Handlers check the request, read and write ``Storage`` and hand runs to ``RunManager``.
Every error leaves as an OpenAI-style JSON body; no exception reaches the ASGI server,
except the one that cuts a stream on purpose (the ``drop_stream`` fault).

``ServerApp`` applies request faults (``fail_requests``, ``stall`` on requests) before
routing, and serves ``/_faults`` (outside ``/v1``) when fault administration is on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from tui_assistant.server import validation as v
from tui_assistant.server.faults import Faults, StreamDropped, faulty_stream
from tui_assistant.server.files import (
    MAX_UPLOAD_BYTES,
    UPLOAD_PURPOSES,
    FileStore,
    parse_multipart,
)
from tui_assistant.server.models import DemoModel, Model
from tui_assistant.server.objects import (
    assistant_object,
    list_body,
    message_object,
    parse_message_request,
    run_object,
    step_raw_view,
    step_view,
    thread_object,
    tool_resources_file_ids,
)
from tui_assistant.server.runs import DONE_FRAME, RunManager
from tui_assistant.server.sandbox import CodeLimits, SandboxStatus, sandbox_status
from tui_assistant.server.storage import Storage, dumps
from tui_assistant.server.validation import ApiError, bad_request, not_found

logger = logging.getLogger("tui_assistant.server")
logger.addHandler(logging.NullHandler())

DEMO_ASSISTANT_NAME = "Demo assistant"
DEMO_ASSISTANT_INSTRUCTIONS = (
    "You are the offline demo assistant of tui-assistant. Answer every message with a short "
    "Markdown reply built from the user's words; reply to '/long' with a long document."
)
POLL_AFTER_MS = 50
"""Sent as ``openai-poll-after-ms`` on run responses: the SDK's polling helpers wait this long."""

_ASSISTANT_KEYS = frozenset(
    {
        "model",
        "name",
        "description",
        "instructions",
        "reasoning_effort",
        "tools",
        "tool_resources",
        "metadata",
        "temperature",
        "top_p",
        "response_format",
    }
)
_THREAD_KEYS = frozenset({"messages", "tool_resources", "metadata"})
_RUN_KEYS = frozenset(
    {
        "assistant_id",
        "model",
        "reasoning_effort",
        "instructions",
        "additional_instructions",
        "additional_messages",
        "tools",
        "metadata",
        "temperature",
        "top_p",
        "stream",
        "max_prompt_tokens",
        "max_completion_tokens",
        "truncation_strategy",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
    }
)
_THREAD_AND_RUN_KEYS = (_RUN_KEYS - {"additional_instructions", "additional_messages"}) | {
    "thread",
    "tool_resources",
}
_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _json(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(obj).encode(), status, headers, media_type="application/json")


def _error(error: ApiError) -> Response:
    return _json(error.body(), error.status)


Endpoint = Callable[[Request], Awaitable[Response]]


def _guarded(handler: Endpoint) -> Endpoint:
    """Turn every failure of ``handler`` into an OpenAI-style answer."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as error:
            return _error(error)
        except Exception:
            logger.exception("%s %s failed", request.method, request.url.path)
            return _error(
                ApiError(
                    500,
                    "The server had an error while processing your request.",
                    type="server_error",
                )
            )

    return endpoint


class Api:
    """The state behind the routes: storage, files, the run manager, faults, settings."""

    def __init__(
        self,
        storage: Storage,
        model: Model,
        *,
        poll_after_ms: int = POLL_AFTER_MS,
        code_limits: CodeLimits | None = None,
        faults: Faults | None = None,
    ) -> None:
        self.storage = storage
        self.model = model
        self._default_ready = False
        self.files = FileStore(storage)
        self.faults = faults or Faults()
        self.runs = RunManager(
            storage, model, files=self.files, code_limits=code_limits, faults=self.faults
        )
        self.poll_headers = {"openai-poll-after-ms": str(poll_after_ms)}
        if self.runs.code_limits.real_model and not self.code_interpreter.enabled:
            if getattr(model, "code_interpreter", None) is True:
                model.code_interpreter = False  # type: ignore[attr-defined]  # no code tool

    @property
    def code_interpreter(self) -> SandboxStatus:
        """How the code interpreter runs code now (bubblewrap is probed once)."""
        limits = self.runs.code_limits
        return sandbox_status(limits.sandbox, real_model=limits.real_model)

    # --- lookups --------------------------------------------------------------------

    def _assistant(self, assistant_id: str) -> dict[str, Any]:
        found = self.storage.get("assistants", assistant_id)
        if found is None:
            raise not_found("assistant", assistant_id)
        return found

    def _thread(self, thread_id: str) -> dict[str, Any]:
        found = self.storage.get("threads", thread_id)
        if found is None:
            raise not_found("thread", thread_id)
        return found

    def _run(self, thread_id: str, run_id: str) -> dict[str, Any]:
        self._thread(thread_id)
        state = self.runs.active.get(run_id)
        if state is not None and state.run["thread_id"] == thread_id:
            return state.run
        found = self.storage.get("runs", run_id, thread_id=thread_id)
        if found is None:
            raise not_found("run", run_id)
        return found

    async def _body(self, request: Request, *, required: bool = True) -> dict[str, Any]:
        return v.parse_json_body(await request.body(), required=required)

    def _check_files(self, named: list[tuple[str, Any]]) -> None:
        """400 for a file id (in attachments or tool resources) that names no file."""
        for param, file_id in named:
            if not isinstance(file_id, str) or self.files.get(file_id) is None:
                raise bad_request(f"Invalid '{param}': no file with id {file_id!r}.", param=param)

    def _check_attachments(self, messages: list[dict[str, Any]], param: str) -> None:
        for i, message in enumerate(messages):
            self._check_files(
                [
                    (f"{param}[{i}].attachments[{j}].file_id", item["file_id"])
                    for j, item in enumerate(message["attachments"])
                ]
            )

    def _list(self, request: Request, table: str, **scope: str) -> Response:
        limit, order, after, before = v.list_params(request.query_params)
        items, has_more = self.storage.page(
            table, limit=limit, order=order, after=after, before=before, **scope
        )
        return Response(list_body(items, has_more), media_type="application/json")

    def _run_response(self, run: dict[str, Any]) -> Response:
        return _json(run, headers=self.poll_headers)

    # --- assistants -------------------------------------------------------------------

    def _assistant_fields(self, body: dict[str, Any]) -> dict[str, Any]:
        v.check_keys(body, _ASSISTANT_KEYS)
        fields: dict[str, Any] = {}
        if "model" in body:
            fields["model"] = v.req_str(body, "model")
        for key, limit in (("name", 256), ("description", 512), ("instructions", 256000)):
            if key in body:
                fields[key] = v.opt_str(body, key, max_len=limit)
        if "tools" in body:
            fields["tools"] = v.tools(body) or []
        if "tool_resources" in body:
            fields["tool_resources"] = v.tool_resources(body) or {}
            self._check_files(tool_resources_file_ids(fields["tool_resources"]))
        if "metadata" in body:
            fields["metadata"] = v.metadata(body)
        if "temperature" in body:
            fields["temperature"] = v.opt_number(body, "temperature", 0, 2)
        if "top_p" in body:
            fields["top_p"] = v.opt_number(body, "top_p", 0, 1)
        if "response_format" in body:
            fields["response_format"] = v.response_format(body)
        return fields

    async def create_assistant(self, request: Request) -> Response:
        body = await self._body(request)
        if "model" not in body:
            raise bad_request("Missing required parameter: 'model'.", param="model")
        assistant = assistant_object(**self._assistant_fields(body))
        self.storage.insert("assistants", assistant)
        return _json(assistant)

    async def list_assistants(self, request: Request) -> Response:
        if not self._default_ready:
            await self.ensure_default_assistant()
        return self._list(request, "assistants")

    async def ensure_default_assistant(self) -> None:
        """With a real model: an assistant for its model (``--model`` or the first the
        endpoint lists), with both server tools, unless one for that model exists."""
        default_model = getattr(self.model, "default_model", None)
        if default_model is None or self._default_ready:
            self._default_ready = True
            return
        name = await default_model()
        if not name:
            return
        self._default_ready = True
        if any(a["model"] == name for a in self.storage.all("assistants")):
            return
        self.storage.insert(
            "assistants",
            assistant_object(
                model=name,
                name=name,
                description=f"{name} at {getattr(self.model, 'host', '')}",
                instructions="You are a helpful assistant.",
                tools=[{"type": "code_interpreter"}, {"type": "file_search"}],
            ),
        )

    async def list_models(self, request: Request) -> Response:
        """``GET /models``: the upstream's list with a real model, else the demo model."""
        upstream = getattr(self.model, "list_models", None)
        if upstream is None:
            data = [{"id": "demo", "object": "model", "created": 0, "owned_by": "tui-assistant"}]
        else:
            from tui_assistant.server.models import ModelError

            try:
                found = await upstream()
            except ModelError as exc:
                raise ApiError(502, exc.message, type="server_error") from None
            data = [
                {
                    "id": m["id"],
                    "object": "model",
                    "created": m.get("created") if isinstance(m.get("created"), int) else 0,
                    "owned_by": m.get("owned_by") if isinstance(m.get("owned_by"), str) else "",
                }
                for m in found
            ]
        return _json({"object": "list", "data": data})

    async def retrieve_assistant(self, request: Request) -> Response:
        return _json(self._assistant(request.path_params["assistant_id"]))

    async def update_assistant(self, request: Request) -> Response:
        assistant = self._assistant(request.path_params["assistant_id"])
        fields = self._assistant_fields(await self._body(request))
        for key, default in (("temperature", 1.0), ("top_p", 1.0), ("response_format", "auto")):
            if key in fields and fields[key] is None:
                fields[key] = default
        assistant.update(fields)
        self.storage.save("assistants", assistant)
        return _json(assistant)

    async def delete_assistant(self, request: Request) -> Response:
        assistant = self._assistant(request.path_params["assistant_id"])
        self.storage.delete("assistants", assistant["id"])
        return _json({"id": assistant["id"], "object": "assistant.deleted", "deleted": True})

    def ensure_demo_assistant(self) -> None:
        if self.storage.count("assistants") == 0:
            demo = assistant_object(
                model="demo",
                name=DEMO_ASSISTANT_NAME,
                description="Replies offline, without an API key.",
                instructions=DEMO_ASSISTANT_INSTRUCTIONS,
                # So every demo trigger works offline: a pasted ```python block runs
                # (in the sandboxed subprocess of demo_tools), and questions about
                # attached files are searched.
                tools=[{"type": "code_interpreter"}, {"type": "file_search"}],
            )
            self.storage.insert("assistants", demo)

    # --- threads ----------------------------------------------------------------------

    def _new_thread(self, body: dict[str, Any], param: str = "") -> tuple[dict, list[dict]]:
        """Check a CreateThreadRequest; return the thread and its messages (not yet stored)."""
        v.check_keys(body, _THREAD_KEYS, prefix=f"{param}." if param else "")
        raw_messages = body.get("messages") or []
        if not isinstance(raw_messages, list):
            raise bad_request(
                f"Invalid type for '{param + '.' if param else ''}messages': expected an array.",
                param="messages",
                code="invalid_type",
            )
        parsed = [
            parse_message_request(m, f"{param + '.' if param else ''}messages[{i}]")
            for i, m in enumerate(raw_messages)
        ]
        thread = thread_object(
            tool_resources=v.tool_resources(body),
            metadata=v.metadata(body, param=f"{param}.metadata" if param else "metadata"),
        )
        messages = [message_object(thread_id=thread["id"], **fields) for fields in parsed]
        self._check_files(tool_resources_file_ids(thread["tool_resources"]))
        self._check_attachments(messages, f"{param + '.' if param else ''}messages")
        return thread, messages

    def _store_thread(self, thread: dict, messages: list[dict]) -> None:
        self.storage.insert("threads", thread)
        for message in messages:
            self.storage.insert("messages", message, thread_id=thread["id"], run_id=None)

    async def create_thread(self, request: Request) -> Response:
        thread, messages = self._new_thread(await self._body(request, required=False))
        self._store_thread(thread, messages)
        return _json(thread)

    async def retrieve_thread(self, request: Request) -> Response:
        return _json(self._thread(request.path_params["thread_id"]))

    async def update_thread(self, request: Request) -> Response:
        thread = self._thread(request.path_params["thread_id"])
        body = await self._body(request, required=False)
        v.check_keys(body, frozenset({"metadata", "tool_resources"}))
        if "metadata" in body:
            thread["metadata"] = v.metadata(body)
        if "tool_resources" in body:
            thread["tool_resources"] = v.tool_resources(body) or {}
            self._check_files(tool_resources_file_ids(thread["tool_resources"]))
        self.storage.save("threads", thread)
        return _json(thread)

    async def delete_thread(self, request: Request) -> Response:
        thread = self._thread(request.path_params["thread_id"])
        self.runs.drop_thread(thread["id"])
        self.storage.delete_thread(thread["id"])
        return _json({"id": thread["id"], "object": "thread.deleted", "deleted": True})

    # --- messages -----------------------------------------------------------------------

    async def create_message(self, request: Request) -> Response:
        thread = self._thread(request.path_params["thread_id"])
        fields = parse_message_request(await self._body(request))
        self._check_files(
            [
                (f"attachments[{j}].file_id", a["file_id"])
                for j, a in enumerate(fields["attachments"])
            ]
        )
        active = self.storage.active_run_id(thread["id"])
        if active is not None:
            raise bad_request(
                f"Can't add messages to {thread['id']} while a run {active} is active."
            )
        message = message_object(thread_id=thread["id"], **fields)
        self.storage.insert("messages", message, thread_id=thread["id"], run_id=None)
        return _json(message)

    async def list_messages(self, request: Request) -> Response:
        thread = self._thread(request.path_params["thread_id"])
        scope = {"thread_id": thread["id"]}
        run_id = request.query_params.get("run_id")
        if run_id:
            scope["run_id"] = run_id
        return self._list(request, "messages", **scope)

    def _message(self, request: Request) -> dict[str, Any]:
        thread = self._thread(request.path_params["thread_id"])
        message_id = request.path_params["message_id"]
        found = self.storage.get("messages", message_id, thread_id=thread["id"])
        if found is None:
            raise not_found("message", message_id)
        return found

    async def retrieve_message(self, request: Request) -> Response:
        return _json(self._message(request))

    async def update_message(self, request: Request) -> Response:
        message = self._message(request)
        body = await self._body(request, required=False)
        v.check_keys(body, frozenset({"metadata"}))
        if "metadata" in body:
            message["metadata"] = v.metadata(body)
            self.storage.save("messages", message)
        return _json(message)

    async def delete_message(self, request: Request) -> Response:
        message = self._message(request)
        if message["status"] == "in_progress":
            raise bad_request(f"Can't delete message {message['id']} while it is being written.")
        self.storage.delete("messages", message["id"])
        return _json({"id": message["id"], "object": "thread.message.deleted", "deleted": True})

    # --- runs ---------------------------------------------------------------------------

    def _new_run(
        self, body: dict[str, Any], thread_id: str, *, keys: frozenset[str] = _RUN_KEYS
    ) -> tuple[dict[str, Any], list[dict]]:
        """Check a CreateRunRequest; return the run and its additional messages (neither
        is stored yet)."""
        v.check_keys(body, keys)
        assistant_id = v.req_str(body, "assistant_id")
        model = v.opt_str(body, "model")
        instructions = v.opt_str(body, "instructions")
        extra = v.opt_str(body, "additional_instructions")
        raw_messages = body.get("additional_messages") or []
        if not isinstance(raw_messages, list):
            raise bad_request(
                "Invalid type for 'additional_messages': expected an array.",
                param="additional_messages",
                code="invalid_type",
            )
        messages = [
            message_object(
                thread_id=thread_id,
                **parse_message_request(m, f"additional_messages[{i}]"),
            )
            for i, m in enumerate(raw_messages)
        ]
        self._check_attachments(messages, "additional_messages")
        tools = v.tools(body, max_items=20)
        parallel = v.opt_bool(body, "parallel_tool_calls")
        v.opt_bool(body, "stream")
        options = {
            "metadata": v.metadata(body),
            "temperature": v.opt_number(body, "temperature", 0, 2),
            "top_p": v.opt_number(body, "top_p", 0, 1),
            "max_prompt_tokens": v.opt_int(body, "max_prompt_tokens", 256),
            "max_completion_tokens": v.opt_int(body, "max_completion_tokens", 256),
            "truncation_strategy": v.truncation_strategy(body),
            "tool_choice": v.tool_choice(body),
            "parallel_tool_calls": True if parallel is None else parallel,
            "response_format": v.response_format(body),
        }
        assistant = self._assistant(assistant_id)
        if instructions is None:
            instructions = assistant["instructions"] or ""
        if extra:
            instructions = f"{instructions}\n\n{extra}" if instructions else extra
        run = run_object(
            thread_id=thread_id,
            assistant_id=assistant["id"],
            model=model or assistant["model"],
            instructions=instructions,
            tools=assistant["tools"] if tools is None else tools,
            **options,
        )
        return run, messages

    def _run_started(
        self, body: dict[str, Any], state: Any, start: int = 0, stage: str = "first"
    ) -> Response:
        if body.get("stream"):
            faults = self.faults.take_stream_faults(stage)
            if faults:
                frames = faulty_stream(state.channel.read(start, batch=False), faults, DONE_FRAME)
            else:
                frames = state.channel.read(start)
            return StreamingResponse(frames, media_type="text/event-stream", headers=_SSE_HEADERS)
        return self._run_response(state.run)

    async def create_run(self, request: Request) -> Response:
        thread = self._thread(request.path_params["thread_id"])
        include = v.include_param(request.query_params)
        body = await self._body(request)
        run, messages = self._new_run(body, thread["id"])
        active = self.storage.active_run_id(thread["id"])
        if active is not None:
            raise bad_request(f"Thread {thread['id']} already has an active run {active}.")
        for message in messages:
            self.storage.insert("messages", message, thread_id=thread["id"], run_id=None)
        state = self.runs.start(run, include_content=include)
        if self.faults.take_conflict():
            raise bad_request(f"Thread {thread['id']} already has an active run {run['id']}.")
        return self._run_started(body, state)

    async def create_thread_and_run(self, request: Request) -> Response:
        body = await self._body(request)
        thread_body = body.get("thread") or {}
        if not isinstance(thread_body, dict):
            raise bad_request(
                "Invalid type for 'thread': expected an object.",
                param="thread",
                code="invalid_type",
            )
        thread, messages = self._new_thread(thread_body, "thread")
        if body.get("tool_resources") is not None:
            thread["tool_resources"] = v.tool_resources(body)
            self._check_files(tool_resources_file_ids(thread["tool_resources"]))
        run, _ = self._new_run(body, thread["id"], keys=_THREAD_AND_RUN_KEYS)
        self._store_thread(thread, messages)
        state = self.runs.start(
            run,
            thread=thread if body.get("stream") else None,
            include_content=v.include_param(request.query_params),
        )
        return self._run_started(body, state)

    async def list_runs(self, request: Request) -> Response:
        thread = self._thread(request.path_params["thread_id"])
        return self._list(request, "runs", thread_id=thread["id"])

    async def retrieve_run(self, request: Request) -> Response:
        p = request.path_params
        return self._run_response(self._run(p["thread_id"], p["run_id"]))

    async def update_run(self, request: Request) -> Response:
        p = request.path_params
        run = self._run(p["thread_id"], p["run_id"])
        body = await self._body(request, required=False)
        v.check_keys(body, frozenset({"metadata"}))
        if "metadata" in body:
            metadata = v.metadata(body)
            updated = self.runs.update_metadata(run["id"], metadata)
            if updated is None:
                run["metadata"] = metadata
                self.storage.save("runs", run)
            else:
                run = updated
        return self._run_response(run)

    async def cancel_run(self, request: Request) -> Response:
        p = request.path_params
        run = self._run(p["thread_id"], p["run_id"])
        return self._run_response(self.runs.cancel(run))

    async def submit_tool_outputs(self, request: Request) -> Response:
        p = request.path_params
        run = self._run(p["thread_id"], p["run_id"])
        body = await self._body(request)
        v.check_keys(body, frozenset({"tool_outputs", "stream"}))
        if "tool_outputs" not in body:
            raise bad_request("Missing required parameter: 'tool_outputs'.", param="tool_outputs")
        v.opt_bool(body, "stream")
        state, start = self.runs.submit_tool_outputs(run, body["tool_outputs"])
        return self._run_started(body, state, start, stage="submit")

    # --- run steps ----------------------------------------------------------------------

    async def list_steps(self, request: Request) -> Response:
        p = request.path_params
        run = self._run(p["thread_id"], p["run_id"])
        include = v.include_param(request.query_params)
        limit, order, after, before = v.list_params(request.query_params)
        items, has_more = self.storage.page(
            "steps", limit=limit, order=order, after=after, before=before, run_id=run["id"]
        )
        items = [step_raw_view(raw, include) for raw in items]
        return Response(list_body(items, has_more), media_type="application/json")

    async def retrieve_step(self, request: Request) -> Response:
        p = request.path_params
        run = self._run(p["thread_id"], p["run_id"])
        include = v.include_param(request.query_params)
        step = self.storage.get("steps", p["step_id"], run_id=run["id"])
        if step is None:
            raise not_found("run step", p["step_id"])
        return _json(step_view(step, include))

    # --- files --------------------------------------------------------------------------

    async def create_file(self, request: Request) -> Response:
        size = request.headers.get("content-length")
        if size is not None and size.isdigit() and int(size) > MAX_UPLOAD_BYTES + 65536:
            raise ApiError(413, f"The file is too large: the limit is {MAX_UPLOAD_BYTES} bytes.")
        chunks, total = [], 0
        async for chunk in request.stream():
            total += len(chunk)
            if total > MAX_UPLOAD_BYTES + 65536:
                raise ApiError(
                    413, f"The file is too large: the limit is {MAX_UPLOAD_BYTES} bytes."
                )
            chunks.append(chunk)
        form = parse_multipart(b"".join(chunks), request.headers.get("content-type", ""))
        upload = form.get("file")
        if upload is None or upload.filename is None:
            raise bad_request("Missing required parameter: 'file'.", param="file")
        purpose_part = form.get("purpose")
        if purpose_part is None:
            raise bad_request("Missing required parameter: 'purpose'.", param="purpose")
        purpose = purpose_part.data.decode("utf-8", "replace").strip()
        if purpose not in UPLOAD_PURPOSES:
            raise bad_request(
                f"Invalid value for 'purpose': {purpose!r}. The local server keeps files with "
                f"purpose {', '.join(repr(p) for p in UPLOAD_PURPOSES)}.",
                param="purpose",
                code="invalid_value",
            )
        if len(upload.data) > MAX_UPLOAD_BYTES:
            raise ApiError(413, f"The file is too large: the limit is {MAX_UPLOAD_BYTES} bytes.")
        return _json(self.files.create(upload.filename, upload.data, purpose))

    async def list_files(self, request: Request) -> Response:
        limit, order, after, _ = v.list_params(
            request.query_params, default_limit=10000, max_limit=10000
        )
        scope = {}
        purpose = request.query_params.get("purpose")
        if purpose:
            scope["purpose"] = purpose
        items, has_more = self.storage.page("files", limit=limit, order=order, after=after, **scope)
        return Response(list_body(items, has_more), media_type="application/json")

    async def retrieve_file(self, request: Request) -> Response:
        return _json(self.files.require(request.path_params["file_id"]))

    async def delete_file(self, request: Request) -> Response:
        found = self.files.require(request.path_params["file_id"])
        self.files.delete(found["id"])
        return _json({"id": found["id"], "object": "file", "deleted": True})

    async def file_content(self, request: Request) -> Response:
        found = self.files.require(request.path_params["file_id"])
        path = self.files.path(found["id"])
        if not path.is_file():
            raise ApiError(404, f"The content of file {found['id']} is missing.")
        return FileResponse(
            path,
            media_type=self.files.media_type(found["filename"]),
            filename=found["filename"],
            content_disposition_type="attachment",
        )

    # --- faults -------------------------------------------------------------------------

    async def faults_admin(self, request: Request) -> Response:
        """``/_faults``: list (GET), add (POST) or clear (DELETE) injected faults."""
        client = request.client.host if request.client else ""
        from tui_assistant.server.runtime import is_loopback

        if not is_loopback(client):
            raise ApiError(403, "Faults can only be set from this machine.")
        if request.method == "POST":
            body = await self._body(request)
            spec = body.get("spec") if set(body) == {"spec"} else body
            try:
                fault = self.faults.add(spec)
            except ValueError as exc:
                raise bad_request(str(exc)) from None
            return _json(fault.describe())
        if request.method == "DELETE":
            self.faults.clear()
        return _json({"object": "list", "data": self.faults.pending()})

    # --- routing ------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        def r(path: str, handler: Endpoint, method: str) -> Route:
            return Route(path, _guarded(handler), methods=[method])

        t = "/threads/{thread_id}"
        run = t + "/runs/{run_id}"
        return [
            r("/assistants", self.create_assistant, "POST"),
            r("/assistants", self.list_assistants, "GET"),
            r("/assistants/{assistant_id}", self.retrieve_assistant, "GET"),
            r("/assistants/{assistant_id}", self.update_assistant, "POST"),
            r("/assistants/{assistant_id}", self.delete_assistant, "DELETE"),
            r("/threads", self.create_thread, "POST"),
            r("/threads/runs", self.create_thread_and_run, "POST"),
            r(t, self.retrieve_thread, "GET"),
            r(t, self.update_thread, "POST"),
            r(t, self.delete_thread, "DELETE"),
            r(t + "/messages", self.create_message, "POST"),
            r(t + "/messages", self.list_messages, "GET"),
            r(t + "/messages/{message_id}", self.retrieve_message, "GET"),
            r(t + "/messages/{message_id}", self.update_message, "POST"),
            r(t + "/messages/{message_id}", self.delete_message, "DELETE"),
            r(t + "/runs", self.create_run, "POST"),
            r(t + "/runs", self.list_runs, "GET"),
            r(run, self.retrieve_run, "GET"),
            r(run, self.update_run, "POST"),
            r(run + "/cancel", self.cancel_run, "POST"),
            r(run + "/submit_tool_outputs", self.submit_tool_outputs, "POST"),
            r(run + "/steps", self.list_steps, "GET"),
            r(run + "/steps/{step_id}", self.retrieve_step, "GET"),
            r("/files", self.create_file, "POST"),
            r("/files", self.list_files, "GET"),
            r("/files/{file_id}", self.retrieve_file, "GET"),
            r("/files/{file_id}", self.delete_file, "DELETE"),
            r("/files/{file_id}/content", self.file_content, "GET"),
            r("/models", self.list_models, "GET"),
        ]


async def _http_error(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    if status in (404, 405):
        # OpenAI answers unknown paths and methods alike.
        message = f"Invalid URL ({request.method} {request.url.path})"
        return _error(ApiError(404 if status == 404 else 405, message))
    detail = getattr(exc, "detail", "") or "The request could not be handled."
    return _error(ApiError(status, str(detail)))


class ServerApp:
    """The ASGI application: the bearer-token check in front of the routes.

    With a token set, every request must carry ``Authorization: Bearer <token>``; without
    one, any key (or none) is accepted. ``api`` gives access to storage and runs.
    """

    def __init__(self, api: Api, routes: ASGIApp, token: str | None) -> None:
        self.api = api
        self.routes = routes
        self.token = token.encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.routes(scope, receive, send)
            return
        if self.token is None:
            await self._serve(scope, receive, send)
            return
        given = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                given = value
                break
        if given is None or not given.startswith(b"Bearer "):
            message = (
                "You didn't provide an API key. This server needs its bearer token in an "
                "'Authorization: Bearer <token>' header."
            )
        elif not secrets.compare_digest(given[7:].strip(), self.token):
            message = "Incorrect API key provided. Use the bearer token this server printed."
        else:
            await self._serve(scope, receive, send)
            return
        error = ApiError(401, message, code="invalid_api_key")
        await _json(error.body(), 401)(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Apply request faults, then route."""
        path = scope.get("path", "")
        if path.startswith("/v1/"):
            stalls, failure = self.api.faults.take_request_faults(scope["method"], path)
            for stall in stalls:
                await asyncio.sleep(stall.seconds)
            if failure is not None:
                status, body, headers = failure.error_response()
                await _json(body, status, headers)(scope, receive, send)
                return
        await self.routes(scope, receive, send)


class _DroppedStreamFilter(logging.Filter):
    """Keeps uvicorn from logging a stream cut on purpose as an application error."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        while isinstance(error, BaseExceptionGroup) and error.exceptions:
            error = error.exceptions[0]
        return not isinstance(error, StreamDropped)


def _quiet_dropped_streams() -> None:
    uvicorn_error = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DroppedStreamFilter) for f in uvicorn_error.filters):
        uvicorn_error.addFilter(_DroppedStreamFilter())


def create_app(
    storage: Storage,
    model: Model | None = None,
    *,
    bearer_token: str | None = None,
    demo_assistant: bool = True,
    poll_after_ms: int = POLL_AFTER_MS,
    code_limits: CodeLimits | None = None,
    faults: Faults | None = None,
    fault_admin: bool = False,
) -> ServerApp:
    """The ASGI application serving the Assistants API under ``/v1``.

    At start-up (the ASGI lifespan) runs left unfinished by an earlier server are settled
    and, with ``demo_assistant``, the demo assistant is created if there is no assistant.
    At shutdown running runs are stopped. ``code_limits`` bound the code interpreter;
    ``faults`` (a new ``Faults`` by default) are the faults to inject, and with
    ``fault_admin`` loopback clients may change them at ``/_faults``.
    """
    api = Api(
        storage,
        model or DemoModel(),
        poll_after_ms=poll_after_ms,
        code_limits=code_limits,
        faults=faults,
    )
    _quiet_dropped_streams()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if storage.sole_user:
            api.runs.recover()
            api.runs.start_timers()
        storage.share()
        if hasattr(api.model, "default_model"):
            try:
                await asyncio.wait_for(api.ensure_default_assistant(), 5)
            except TimeoutError:
                pass
        elif demo_assistant:
            api.ensure_demo_assistant()
        yield
        await api.runs.shutdown()
        api.files.close()
        closing = getattr(api.model, "aclose", None)
        if closing is not None:
            await closing()

    extra = []
    if fault_admin:
        extra.append(
            Route("/_faults", _guarded(api.faults_admin), methods=["GET", "POST", "DELETE"])
        )
    routes = Starlette(
        routes=[Mount("/v1", routes=api.routes()), *extra],
        exception_handlers={HTTPException: _http_error},
        lifespan=lifespan,
    )
    return ServerApp(api, routes, bearer_token)
