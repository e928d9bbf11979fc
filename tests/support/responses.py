"""A scripted Responses + Conversations endpoint on 127.0.0.1, for the Responses engine tests.

``ResponsesServer`` keeps conversations, items and background responses the way OpenAI's
API does (as far as ``../shared/docs/responses-and-chat.md`` and the schema subset
``../shared/data/openai-responses-openapi.json`` describe it) and lets a test script what
the "model" answers next (``Plan``). Every JSON body it answers and every stream event it
sends is validated against the schema subset, and so is every ``POST /responses`` body it
receives; problems are collected in ``server.schema.failures``, which the fixture asserts
empty after each test.

What it does like the real API:

* stream events carry ``sequence_number`` from 0; a background response starts with
  ``response.created`` (queued), ``response.queued``, ``response.in_progress``;
* background responses can be retrieved (``GET /responses/{id}``), resumed
  (``?stream=true&starting_after=N``) and cancelled (``POST /responses/{id}/cancel``:
  the stream just ends, there is no cancelled event);
* a completed response appends its input and output items to its conversation;
* the 400s: ``previous_response_id`` with ``conversation``, a duplicate item, an output for
  an unknown call, a user message (or anything but outputs) while a call waits for its
  output, a second response while one is in progress, an unknown model.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support.serving import ThreadedServer

SPEC_PATH = (
    Path(__file__).resolve().parents[3] / "shared" / "data" / "openai-responses-openapi.json"
)
if not SPEC_PATH.exists():  # a worktree next to main: /work/wt-x -> /work/shared
    SPEC_PATH = Path("/work/shared/data/openai-responses-openapi.json")

MODELS = ("gpt-test-mini", "gpt-test-reasoner")
API_KEY = "sk-resp-test-secret-7777"


# --------------------------------------------------------------------------- schema


class ResponsesSchema:
    """Validates instances against the component schemas of the Responses subset.

    One relaxation: an instance that matches more than one branch of a ``oneOf`` passes
    (OpenAPI chooses the branch by discriminator; JSON Schema would demand exactly one)."""

    def __init__(self) -> None:
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT202012

        self.spec = json.loads(SPEC_PATH.read_text())
        resource = Resource.from_contents(self.spec, default_specification=DRAFT202012)
        self._registry = Registry().with_resource("urn:oai", resource)
        self._validators: dict[str, Any] = {}
        self.failures: list[str] = []
        self.checked: dict[str, int] = {}
        self._good: set[str] = set()
        components = self.spec["components"]["schemas"]
        self.event_schemas: dict[str, str] = {}
        for branch in components["ResponseStreamEvent"]["anyOf"]:
            name = branch["$ref"].rsplit("/", 1)[-1]
            for kind in components[name]["properties"]["type"].get("enum", ()):
                self.event_schemas[kind] = name

    def errors(self, name: str, instance: Any) -> list[str]:
        import jsonschema

        if name not in self._validators:
            self._validators[name] = _Lenient(
                {"$ref": f"urn:oai#/components/schemas/{name}"}, registry=self._registry
            )
        self.checked[name] = self.checked.get(name, 0) + 1
        found = []
        for error in self._validators[name].iter_errors(instance):
            best = jsonschema.exceptions.best_match([error])
            path = "/".join(str(p) for p in best.absolute_path)
            found.append(f"{name} at /{path}: {best.message[:300]}")
        return found

    def check(self, name: str, instance: Any, where: str) -> None:
        self.failures.extend(f"{where}: {problem}" for problem in self.errors(name, instance))

    def check_event(self, data: dict[str, Any]) -> None:
        kind = data.get("type", "")
        name = self.event_schemas.get(kind)
        if name is None:
            self.failures.append(f"event {kind}: not an event type of the schema")
            return
        if kind.endswith(".delta"):
            shape = json.dumps(_shape(data), sort_keys=True)
            if shape in self._good:
                return
        problems = self.errors(name, data)
        self.failures.extend(f"event {kind}: {p}" for p in problems)
        if not problems and kind.endswith(".delta"):
            self._good.add(shape)


def _lenient_validator() -> Any:
    """Draft 2020-12 where ``oneOf`` accepts an instance that fits several branches."""
    import jsonschema
    from jsonschema import _keywords

    return jsonschema.validators.extend(
        jsonschema.Draft202012Validator, {"oneOf": _keywords.anyOf}
    )


_Lenient: Any = _lenient_validator()
_SCHEMA: ResponsesSchema | None = None


def shared_schema() -> ResponsesSchema:
    """One checker per test process (building the validators takes a moment)."""
    global _SCHEMA
    if _SCHEMA is None:
        _SCHEMA = ResponsesSchema()
    return _SCHEMA


def _shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: (v if k == "type" else _shape(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return "" if isinstance(value, str) else value


# --------------------------------------------------------------------------- plans


@dataclass
class Plan:
    """What the next response does: its output steps and how it ends.

    Steps: ``("text", [chunks], [annotations])``, ``("call", name, arguments)``,
    ``("code", [code chunks], logs)``, ``("search", [queries], [results])``,
    ``("reasoning", [summary chunks])``, ``("gate", name)`` (wait until
    ``server.release(name)`` or a cancel), ``("raw", event)`` (any other event).
    ``end`` is ``completed``, ``failed``, ``incomplete`` or ``error`` (an ``error`` event,
    the response failed, the stream ends)."""

    steps: list[tuple] = field(default_factory=list)
    end: str = "completed"
    error: tuple[str, str] = ("server_error", "The model crashed.")
    reason: str = "max_output_tokens"
    cut_after: int | None = None
    """Cut the creating stream's connection after the event with this sequence number."""
    usage: tuple[int, int, int, int] = (12, 4, 7, 2)
    """input, cached, output, reasoning tokens."""


def _id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def _error(
    status: int,
    message: str,
    *,
    param: str | None = None,
    code: str | None = None,
    kind: str = "invalid_request_error",
) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "type": kind, "param": param, "code": code}},
        status_code=status,
    )


@dataclass
class _Live:
    """A response being produced (or produced): its object and its event log."""

    obj: dict[str, Any]
    plan: Plan
    input_items: list[dict[str, Any]]
    events: list[dict[str, Any]] = field(default_factory=list)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    task: asyncio.Task | None = None
    done: bool = False


class ResponsesServer(ThreadedServer):
    """The scripted endpoint (uvicorn in a background thread). See the module docstring."""

    name = "the Responses server"

    def __init__(self, *, token_pause: float = 0.0, schema: ResponsesSchema | None = None) -> None:
        self.schema = schema or shared_schema()
        self.token_pause = token_pause
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []
        self.plans: deque[Plan] = deque()
        self.fail_next: deque[tuple[int, dict[str, Any], dict[str, str]]] = deque()
        self.conversations: dict[str, dict[str, Any]] = {}
        self.responses: dict[str, _Live] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self.vector_stores: dict[str, dict[str, Any]] = {}
        self.container_files: dict[tuple[str, str], bytes] = {}
        self._gates: dict[str, asyncio.Event] = {}
        self.refuse_resume = False
        """Answer ``GET /responses/{id}?stream=true`` with HTTP 500."""
        self.release_on_retrieve = ""
        """Open this gate when a response is retrieved (not streamed)."""
        app = Starlette(
            routes=[Route("/{path:path}", self._handle, methods=["GET", "POST", "DELETE"])]
        )
        super().__init__(app)

    # -- test helpers ----------------------------------------------------------------

    def reset(self) -> None:
        self.requests.clear()
        self.plans.clear()
        self.fail_next.clear()
        self.schema.failures.clear()
        self.refuse_resume = False
        self.release_on_retrieve = ""

    def plan(self, *plans: Plan) -> None:
        self.plans.extend(plans)

    def _gate(self, name: str) -> asyncio.Event:
        if name not in self._gates:
            self._gates[name] = asyncio.Event()
        return self._gates[name]

    def release(self, name: str) -> None:
        """Open a ``("gate", name)`` step (callable from the test's thread)."""
        assert self.loop is not None
        self.loop.call_soon_threadsafe(lambda: self._gate(name).set())

    def requests_to(self, method: str, path: str) -> list[Any]:
        return [r for r in self.requests if r[0] == method and r[1] == path]

    def items(self, conversation_id: str) -> list[dict[str, Any]]:
        return list(self.conversations[conversation_id]["items"])

    # -- plumbing --------------------------------------------------------------------

    def _json(self, body: Any, schema: str | None, where: str, status: int = 200) -> JSONResponse:
        if schema is not None:
            self.schema.check(schema, body, where)
        return JSONResponse(body, status_code=status)

    async def _handle(self, request: Request) -> Response:
        raw = await request.body()
        body: Any = None
        if raw and request.headers.get("content-type", "").startswith("application/json"):
            body = json.loads(raw)
        path = request.url.path.removeprefix("/v1")
        query = dict(request.query_params)
        self.requests.append((request.method, path, query, body))
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            return _error(401, "Incorrect API key provided: sk-wr***ong.", code="invalid_api_key")
        parts = [p for p in path.split("/") if p]
        method = request.method
        try:
            if parts == ["models"] and method == "GET":
                return JSONResponse(
                    {
                        "object": "list",
                        "data": [
                            {"id": m, "object": "model", "created": 1, "owned_by": "test"}
                            for m in MODELS
                        ],
                    }
                )
            if parts and parts[0] == "conversations":
                return await self._conversations(method, parts[1:], query, body)
            if parts and parts[0] == "responses":
                return await self._responses(method, parts[1:], query, body)
            if parts == ["files"] and method == "POST":
                from tui_assistant.server.files import parse_multipart

                form = parse_multipart(raw, request.headers.get("content-type", ""))
                upload = form["file"]
                data = upload.data
                file_id = _id("file")
                self.files[file_id] = {
                    "id": file_id,
                    "object": "file",
                    "bytes": len(data),
                    "created_at": 1,
                    "filename": upload.filename,
                    "purpose": form["purpose"].data.decode(),
                    "status": "processed",
                }
                return JSONResponse(self.files[file_id])
            if parts and parts[0] == "vector_stores":
                return self._vector_stores(method, parts[1:], body)
            if (
                len(parts) == 5
                and parts[0] == "containers"
                and parts[2] == "files"
                and parts[4] == "content"
                and method == "GET"
            ):
                data = self.container_files.get((parts[1], parts[3]))
                if data is None:
                    return _error(404, f"File {parts[3]} not found in container {parts[1]}.")
                return Response(data, media_type="application/octet-stream")
        except _Refused as refused:
            return refused.response
        return _error(404, f"Invalid URL ({method} /v1{path})")

    # -- conversations ---------------------------------------------------------------

    def _conversation(self, conversation_id: str) -> dict[str, Any]:
        found = self.conversations.get(conversation_id)
        if found is None:
            raise _Refused(
                self._json(
                    {
                        "error": {
                            "message": f"Conversation with id '{conversation_id}' not found.",
                            "type": "invalid_request_error",
                            "param": None,
                            "code": None,
                        }
                    },
                    "ErrorResponse",
                    "conversation",
                    404,
                )
            )
        return found

    @staticmethod
    def _public(conversation: dict[str, Any]) -> dict[str, Any]:
        return {k: conversation[k] for k in ("id", "object", "metadata", "created_at")}

    async def _conversations(
        self, method: str, rest: list[str], query: dict, body: Any
    ) -> Response:
        if not rest and method == "POST":
            self.schema.check("CreateConversationBody", body or {}, "POST /conversations body")
            conversation = {
                "id": _id("conv"),
                "object": "conversation",
                "metadata": (body or {}).get("metadata") or {},
                "created_at": int(time.time()),
                "items": [],
                "active": "",
            }
            for item in (body or {}).get("items") or []:
                conversation["items"].append(self._stored(item))
            self.conversations[conversation["id"]] = conversation
            return self._json(
                self._public(conversation), "ConversationResource", "POST /conversations"
            )
        conversation = self._conversation(rest[0])
        if len(rest) == 1:
            if method == "GET":
                return self._json(self._public(conversation), "ConversationResource", "GET conv")
            if method == "POST":
                conversation["metadata"] = dict((body or {}).get("metadata") or {})
                return self._json(self._public(conversation), "ConversationResource", "POST conv")
            if method == "DELETE":
                del self.conversations[rest[0]]
                return self._json(
                    {"id": rest[0], "object": "conversation.deleted", "deleted": True},
                    "DeletedConversationResource",
                    "DELETE conv",
                )
        if rest[1:] == ["items"] and method == "GET":
            items = list(conversation["items"])
            if query.get("order", "desc") == "desc":
                items.reverse()
            if query.get("after"):
                ids = [i["id"] for i in items]
                if query["after"] in ids:
                    items = items[ids.index(query["after"]) + 1 :]
            limit = int(query.get("limit", 20))
            page = items[:limit]
            out = {
                "object": "list",
                "data": page,
                "has_more": len(items) > limit,
                "first_id": page[0]["id"] if page else "",
                "last_id": page[-1]["id"] if page else "",
            }
            return self._json(out, "ConversationItemList", "GET items")
        if rest[1:] == ["items"] and method == "POST":
            items = list((body or {}).get("items") or [])
            self._validate_input(conversation, items, adding=True)
            added = [self._stored(item) for item in items]
            conversation["items"].extend(added)
            out = {
                "object": "list",
                "data": added,
                "has_more": False,
                "first_id": added[0]["id"] if added else "",
                "last_id": added[-1]["id"] if added else "",
            }
            return self._json(out, "ConversationItemList", "POST items")
        return _error(404, f"Invalid URL ({method} /v1/conversations/{'/'.join(rest)})")

    @staticmethod
    def _stored(item: dict[str, Any]) -> dict[str, Any]:
        """An input item as the conversation keeps it (with an id and a status)."""
        kind = item.get("type", "message")
        if kind == "message":
            content = item.get("content")
            if isinstance(content, str):
                content = [{"type": "input_text", "text": content}]
            return {
                "type": "message",
                "id": item.get("id") or _id("msg"),
                "status": "completed",
                "role": item.get("role", "user"),
                "content": content,
            }
        if kind == "function_call_output":
            return {
                "type": "function_call_output",
                "id": item.get("id") or _id("fco"),
                "call_id": item["call_id"],
                "output": item.get("output", ""),
                "status": "completed",
            }
        return {**item, "id": item.get("id") or _id("item")}

    def _validate_input(
        self, conversation: dict[str, Any], items: list[dict[str, Any]], *, adding: bool = False
    ) -> None:
        known_ids = {i.get("id") for i in conversation["items"]}
        calls = {i["call_id"] for i in conversation["items"] if i.get("type") == "function_call"}
        answered = {
            i["call_id"] for i in conversation["items"] if i.get("type") == "function_call_output"
        }
        for item in items:
            if item.get("id") and item["id"] in known_ids:
                raise _Refused(
                    _error(400, f"Duplicate item found with id {item['id']}.", param="input")
                )
        waiting = [c for c in calls if c not in answered]
        given = {i.get("call_id") for i in items if i.get("type") == "function_call_output"}
        for call_id in given:
            if call_id not in calls:
                raise _Refused(
                    _error(
                        400,
                        f"No tool call found for function call output with call_id {call_id}.",
                        param="input",
                    )
                )
        others = [i for i in items if i.get("type") != "function_call_output"]
        missing = [c for c in waiting if c not in given]
        if missing and (others or not adding):
            raise _Refused(
                _error(400, f"No tool output found for function call {missing[0]}.", param="input")
            )

    # -- responses -------------------------------------------------------------------

    async def _responses(self, method: str, rest: list[str], query: dict, body: Any) -> Response:
        if not rest and method == "POST":
            return await self._create(body or {})
        live = self.responses.get(rest[0]) if rest else None
        if live is None:
            return self._json(
                {
                    "error": {
                        "message": f"Response with id '{rest[0] if rest else ''}' not found.",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": None,
                    }
                },
                "ErrorResponse",
                "responses",
                404,
            )
        if len(rest) == 1 and method == "GET":
            if query.get("stream") == "true" and self.refuse_resume:
                return _error(500, "The stream cannot be resumed right now.", kind="server_error")
            if query.get("stream") != "true" and self.release_on_retrieve:
                self._gate(self.release_on_retrieve).set()
            if query.get("stream") == "true":
                after = int(query.get("starting_after", -1))
                if not live.obj.get("background"):
                    return _error(400, "Only background responses can be streamed again.")
                return self._stream(live, after, cut_after=None)
            return self._json(live.obj, "Response", "GET response")
        if rest[1:] == ["cancel"] and method == "POST":
            if not live.obj.get("background"):
                return _error(400, "Only background responses can be cancelled.")
            if live.obj["status"] in ("completed", "failed", "incomplete"):
                return _error(400, f"Cannot cancel a response with status {live.obj['status']}.")
            if live.obj["status"] != "cancelled":
                live.obj["status"] = "cancelled"
                if live.task is not None:
                    live.task.cancel()
                await self._settle(live)
            return self._json(live.obj, "Response", "cancel")
        return _error(404, f"Invalid URL ({method} /v1/responses/{'/'.join(rest)})")

    async def _create(self, body: dict[str, Any]) -> Response:
        self.schema.check("CreateResponse", body, "POST /responses body")
        if self.fail_next:
            status, error, headers = self.fail_next.popleft()
            return JSONResponse({"error": error}, status_code=status, headers=headers)
        if not body.get("model"):
            return _error(
                400,
                "Missing required parameter: 'model'.",
                param="model",
                code="missing_required_parameter",
            )
        conv_ref = body.get("conversation")
        conversation_id = conv_ref.get("id") if isinstance(conv_ref, dict) else conv_ref
        if conversation_id and body.get("previous_response_id"):
            return _error(
                400,
                "Cannot use 'previous_response_id' together with 'conversation'.",
                param="previous_response_id",
            )
        if body["model"] not in MODELS:
            return _error(
                400,
                f"The requested model '{body['model']}' does not exist.",
                param="model",
                code="model_not_found",
            )
        conversation = self._conversation(conversation_id) if conversation_id else None
        raw_input = body.get("input") or []
        if isinstance(raw_input, str):
            raw_input = [{"type": "message", "role": "user", "content": raw_input}]
        if conversation is not None:
            active = self.responses.get(conversation["active"])
            if active is not None and not active.done:
                return _error(
                    400,
                    "Another process is currently operating on this conversation. "
                    "Please retry in a few seconds.",  # what api.openai.com says
                    param="conversation",
                    code="conversation_locked",
                )
            self._validate_input(conversation, raw_input)
        plan = self.plans.popleft() if self.plans else self._default_plan(raw_input)
        obj = {
            "id": _id("resp"),
            "object": "response",
            "created_at": int(time.time()),
            "status": "queued" if body.get("background") else "in_progress",
            "background": bool(body.get("background")),
            "completed_at": None,
            "error": None,
            "incomplete_details": None,
            "instructions": body.get("instructions"),
            "model": body["model"],
            "output": [],
            "parallel_tool_calls": True,
            "metadata": body.get("metadata") or {},
            "tool_choice": "auto",
            "tools": body.get("tools") or [],
            "temperature": body.get("temperature", 1.0),
            "top_p": 1.0,
            "truncation": body.get("truncation", "disabled"),
            "conversation": {"id": conversation_id} if conversation_id else None,
            "max_output_tokens": None,
            "previous_response_id": None,
        }
        live = _Live(obj=obj, plan=plan, input_items=[self._stored(i) for i in raw_input])
        self.responses[obj["id"]] = live
        if conversation is not None:
            conversation["active"] = obj["id"]
        live.task = asyncio.get_running_loop().create_task(self._produce(live, conversation))
        if body.get("stream"):
            return self._stream(live, -1, cut_after=plan.cut_after)
        if live.obj["background"]:
            return self._json(self._snapshot(live), "Response", "POST /responses")
        async with live.changed:
            while not live.done:
                await live.changed.wait()
        return self._json(live.obj, "Response", "POST /responses")

    @staticmethod
    def _default_plan(items: list[dict[str, Any]]) -> Plan:
        outputs = [i for i in items if i.get("type") == "function_call_output"]
        if outputs:
            return Plan([("text", ["The function ", "said: ", str(outputs[0].get("output"))], [])])
        text = ""
        for item in items:
            content = item.get("content")
            if isinstance(content, str):
                text = content
            elif isinstance(content, list):
                text = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
        if text.strip() == "/long":  # the demo model's long document (benchmarks)
            from tui_assistant.server.demo import long_document
            from tui_assistant.server.models import tokenize

            return Plan([("text", tokenize(long_document()), [])])
        return Plan([("text", ["You ", "said: ", text or "nothing"], [])])

    def _stream(self, live: _Live, after: int, *, cut_after: int | None) -> StreamingResponse:
        async def frames():
            position = 0
            while True:
                async with live.changed:
                    while position >= len(live.events) and not live.done:
                        await live.changed.wait()
                if position >= len(live.events) and live.done:
                    return
                event = live.events[position]
                position += 1
                if event["sequence_number"] <= after:
                    continue
                yield f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()
                if cut_after is not None and event["sequence_number"] >= cut_after:
                    raise ConnectionAbortedError("scripted cut")

        return StreamingResponse(frames(), media_type="text/event-stream")

    async def _emit(self, live: _Live, event: dict[str, Any]) -> None:
        event["sequence_number"] = len(live.events)
        self.schema.check_event(event)
        async with live.changed:
            live.events.append(event)
            live.changed.notify_all()
        await asyncio.sleep(self.token_pause)

    def _snapshot(self, live: _Live) -> dict[str, Any]:
        return json.loads(json.dumps(live.obj))

    async def _produce(self, live: _Live, conversation: dict[str, Any] | None) -> None:
        try:
            await self._emit(live, {"type": "response.created", "response": self._snapshot(live)})
            if live.obj["background"]:
                await self._emit(
                    live, {"type": "response.queued", "response": self._snapshot(live)}
                )
            live.obj["status"] = "in_progress"
            await self._emit(
                live, {"type": "response.in_progress", "response": self._snapshot(live)}
            )
            for step in live.plan.steps:
                await self._step(live, step)
            plan = live.plan
            inp, cached, out, reasoning = plan.usage
            live.obj["usage"] = {
                "input_tokens": inp,
                "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
                "output_tokens": out,
                "output_tokens_details": {"reasoning_tokens": reasoning},
                "total_tokens": inp + out,
            }
            if plan.end == "error":  # an error event, and the stream just ends
                live.obj["status"] = "failed"
                live.obj["error"] = {"code": plan.error[0], "message": plan.error[1]}
                await self._emit(live, {"type": "error", "code": plan.error[0],
                                        "message": plan.error[1], "param": None})
                return
            live.obj["status"] = plan.end
            if plan.end == "failed":
                live.obj["error"] = {"code": plan.error[0], "message": plan.error[1]}
            elif plan.end == "incomplete":
                live.obj["incomplete_details"] = {"reason": plan.reason}
            else:
                live.obj["completed_at"] = int(time.time())
            if plan.end == "completed" and conversation is not None:
                conversation["items"].extend(live.input_items)
                conversation["items"].extend(json.loads(json.dumps(live.obj["output"])))
            await self._emit(
                live, {"type": f"response.{plan.end}", "response": self._snapshot(live)}
            )
        except asyncio.CancelledError:
            pass
        finally:
            await self._settle(live)

    async def _settle(self, live: _Live) -> None:
        async with live.changed:
            live.done = True
            live.changed.notify_all()

    async def _step(self, live: _Live, step: tuple) -> None:  # noqa: C901 - one per kind
        kind = step[0]
        index = len(live.obj["output"])
        if kind == "gate":
            await self._gate(step[1]).wait()
            return
        if kind == "raw":  # an event the engine has no use for
            await self._emit(live, dict(step[1]))
            return
        if kind == "text":
            chunks, annotations = step[1], step[2]
            item = {
                "id": _id("msg"),
                "type": "message",
                "role": "assistant",
                "status": "in_progress",
                "content": [],
            }
            live.obj["output"].append(item)
            await self._emit(
                live,
                {
                    "type": "response.output_item.added",
                    "output_index": index,
                    "item": json.loads(json.dumps(item)),
                },
            )
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            base = {"item_id": item["id"], "output_index": index, "content_index": 0}
            await self._emit(live, {"type": "response.content_part.added", **base, "part": part})
            for chunk in chunks:
                await self._emit(
                    live,
                    {"type": "response.output_text.delta", **base, "delta": chunk, "logprobs": []},
                )
            text = "".join(chunks)
            for n, annotation in enumerate(annotations):
                await self._emit(
                    live,
                    {
                        "type": "response.output_text.annotation.added",
                        **base,
                        "annotation_index": n,
                        "annotation": annotation,
                    },
                )
            await self._emit(
                live, {"type": "response.output_text.done", **base, "text": text, "logprobs": []}
            )
            part = {"type": "output_text", "text": text, "annotations": annotations, "logprobs": []}
            await self._emit(live, {"type": "response.content_part.done", **base, "part": part})
            item.update(status="completed", content=[part])
        elif kind == "call":
            name, arguments = step[1], step[2]
            item = {
                "id": _id("fc"),
                "type": "function_call",
                "status": "in_progress",
                "call_id": _id("call"),
                "name": name,
                "arguments": "",
            }
            live.obj["output"].append(item)
            await self._emit(
                live,
                {
                    "type": "response.output_item.added",
                    "output_index": index,
                    "item": json.loads(json.dumps(item)),
                },
            )
            half = len(arguments) // 2
            for piece in (arguments[:half], arguments[half:]):
                await self._emit(
                    live,
                    {
                        "type": "response.function_call_arguments.delta",
                        "item_id": item["id"],
                        "output_index": index,
                        "delta": piece,
                    },
                )
            await self._emit(
                live,
                {
                    "type": "response.function_call_arguments.done",
                    "item_id": item["id"],
                    "output_index": index,
                    "name": name,
                    "arguments": arguments,
                },
            )
            item.update(status="completed", arguments=arguments)
        elif kind == "code":
            chunks, logs = step[1], step[2]
            item = {
                "id": _id("ci"),
                "type": "code_interpreter_call",
                "status": "in_progress",
                "container_id": "cntr_test",
                "code": "",
                "outputs": None,
            }
            live.obj["output"].append(item)
            base = {"item_id": item["id"], "output_index": index}
            await self._emit(
                live,
                {
                    "type": "response.output_item.added",
                    "output_index": index,
                    "item": json.loads(json.dumps(item)),
                },
            )
            await self._emit(live, {"type": "response.code_interpreter_call.in_progress", **base})
            for chunk in chunks:
                await self._emit(
                    live,
                    {"type": "response.code_interpreter_call_code.delta", **base, "delta": chunk},
                )
            code = "".join(chunks)
            await self._emit(
                live, {"type": "response.code_interpreter_call_code.done", **base, "code": code}
            )
            await self._emit(live, {"type": "response.code_interpreter_call.interpreting", **base})
            await self._emit(live, {"type": "response.code_interpreter_call.completed", **base})
            item.update(status="completed", code=code, outputs=[{"type": "logs", "logs": logs}])
        elif kind == "search":
            queries, results = step[1], step[2]
            item = {
                "id": _id("fs"),
                "type": "file_search_call",
                "status": "in_progress",
                "queries": [],
                "results": None,
            }
            live.obj["output"].append(item)
            base = {"item_id": item["id"], "output_index": index}
            await self._emit(
                live,
                {
                    "type": "response.output_item.added",
                    "output_index": index,
                    "item": json.loads(json.dumps(item)),
                },
            )
            for phase in ("in_progress", "searching", "completed"):
                await self._emit(live, {"type": f"response.file_search_call.{phase}", **base})
            item.update(status="completed", queries=queries, results=results)
        elif kind == "reasoning":
            chunks = step[1]
            item = {"id": _id("rs"), "type": "reasoning", "summary": []}
            live.obj["output"].append(item)
            base = {"item_id": item["id"], "output_index": index, "summary_index": 0}
            await self._emit(
                live,
                {
                    "type": "response.output_item.added",
                    "output_index": index,
                    "item": json.loads(json.dumps(item)),
                },
            )
            await self._emit(
                live,
                {
                    "type": "response.reasoning_summary_part.added",
                    **base,
                    "part": {"type": "summary_text", "text": ""},
                },
            )
            for chunk in chunks:
                await self._emit(
                    live, {"type": "response.reasoning_summary_text.delta", **base, "delta": chunk}
                )
            text = "".join(chunks)
            await self._emit(
                live, {"type": "response.reasoning_summary_text.done", **base, "text": text}
            )
            await self._emit(
                live,
                {
                    "type": "response.reasoning_summary_part.done",
                    **base,
                    "part": {"type": "summary_text", "text": text},
                },
            )
            item["summary"] = [{"type": "summary_text", "text": text}]
        await self._emit(
            live,
            {
                "type": "response.output_item.done",
                "output_index": index,
                "item": json.loads(json.dumps(live.obj["output"][index])),
            },
        )

    # -- vector stores (not in the schema subset) ------------------------------------

    def _vector_stores(self, method: str, rest: list[str], body: Any) -> Response:
        if not rest and method == "POST":
            store = {
                "id": _id("vs"),
                "object": "vector_store",
                "created_at": 1,
                "name": (body or {}).get("name", ""),
                "usage_bytes": 0,
                "file_counts": {
                    "in_progress": 0,
                    "completed": 0,
                    "failed": 0,
                    "cancelled": 0,
                    "total": 0,
                },
                "status": "completed",
                "last_active_at": 1,
                "metadata": {},
                "files": [],
            }
            self.vector_stores[store["id"]] = store
            return JSONResponse({k: v for k, v in store.items() if k != "files"})
        store = self.vector_stores.get(rest[0]) if rest else None
        if store is None:
            return _error(404, "Vector store not found.")
        if rest[1:2] == ["files"]:
            file_id = (body or {}).get("file_id") if method == "POST" else rest[2]
            if method == "POST":
                store["files"].append(file_id)
            return JSONResponse(
                {
                    "id": file_id,
                    "object": "vector_store.file",
                    "usage_bytes": 1,
                    "created_at": 1,
                    "vector_store_id": rest[0],
                    "status": "completed",
                    "last_error": None,
                }
            )
        return _error(404, "Invalid URL")


class _Refused(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__("refused")
        self.response = response


def main() -> None:
    """Serve until interrupted: ``python -m tests.support.responses [SECONDS_PER_EVENT]``.

    Prints the base URL on the first line (the benchmark reads it)."""
    import sys

    pause = float(sys.argv[1]) if len(sys.argv) > 1 else 0.0
    server = ResponsesServer(token_pause=pause).start()
    print(server.base_url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
