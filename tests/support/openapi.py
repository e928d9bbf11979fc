"""Checks JSON bodies and stream events against an official OpenAPI schema subset."""

from __future__ import annotations

import copy
import json
import re
from typing import Any


def _nullable(schema: Any) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


class OpenAPIChecker:
    """Checks bodies against the OpenAPI component schemas and the SDK's types.

    OpenAPI 3.0's ``nullable`` is rewritten as ``anyOf [..., null]`` (including the
    ``allOf: [$ref, {nullable: true}]`` idiom) and every ``$ref`` is inlined, so plain
    JSON Schema validators can use the result. One deliberate relaxation: ``first_id``
    and ``last_id`` of list responses may be null, which is what the API returns for an
    empty page (the spec types them as strings).
    """

    def __init__(self, spec: dict[str, Any]) -> None:
        import jsonschema

        self._jsonschema = jsonschema
        self._components = spec["components"]["schemas"]
        self._resolved: dict[str, Any] = {}
        self._validators: dict[str, Any] = {}
        self._resolving: set[str] = set()
        self.routes = self._routes(spec)
        self.failures: list[str] = []
        self.checked: dict[str, int] = {}
        self.streams: list[list[tuple[str, Any]]] = []
        self._events: dict[str, str] = {}
        self._good_shapes: set[str] = set()

    # schema conversion

    def schema(self, name: str) -> dict[str, Any]:
        if name not in self._resolved:
            if name in self._resolving:
                raise RuntimeError(f"recursive schema {name}")
            self._resolving.add(name)
            converted = self._convert(self._components[name])
            self._resolving.discard(name)
            if name.startswith("List") and "properties" in converted:
                for key in ("first_id", "last_id"):
                    converted["properties"][key] = {"type": ["string", "null"]}
            self._resolved[name] = converted
        return self._resolved[name]

    def _convert(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self._convert(item) for item in node]
        if not isinstance(node, dict):
            return node
        node = dict(node)
        nullable = node.pop("nullable", False) is True
        if "$ref" in node:
            target = copy.deepcopy(self.schema(node.pop("$ref").rsplit("/", 1)[-1]))
            rest = {k: v for k, v in node.items() if not k.startswith("x-")}
            out = {"allOf": [target, self._convert(rest)]} if rest else target
            return _nullable(out) if nullable else out
        if "allOf" in node:
            parts = [p for p in node["allOf"] if p != {"nullable": True}]
            if len(parts) != len(node["allOf"]):
                nullable = True
            node["allOf"] = parts
        out = {key: self._convert(value) for key, value in node.items()}
        return _nullable(out) if nullable else out

    def _validator(self, name: str) -> Any:
        if name not in self._validators:
            cls = self._jsonschema.Draft202012Validator
            self._validators[name] = cls(self.schema(name))
        return self._validators[name]

    def errors(self, name: str, instance: Any) -> list[str]:
        """Schema errors of ``instance`` against component ``name`` (empty when valid)."""
        self.checked[name] = self.checked.get(name, 0) + 1
        found = []
        for error in self._validator(name).iter_errors(instance):
            best = self._jsonschema.exceptions.best_match([error])
            path = "/".join(str(p) for p in best.absolute_path)
            found.append(f"{name} at /{path}: {best.message[:300]}")
        return found

    def assert_valid(self, name: str, instance: Any) -> None:
        problems = self.errors(name, instance) + _sdk_errors(name, instance)
        assert not problems, "\n".join(problems)

    # responses

    @staticmethod
    def _routes(spec: dict[str, Any]) -> list[tuple[str, re.Pattern[str], dict[str, Any]]]:
        routes = []
        for path, operations in spec["paths"].items():
            pattern = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$")
            for method, operation in operations.items():
                if isinstance(operation, dict) and "responses" in operation:
                    routes.append((method.upper(), pattern, operation, path.count("{")))
        routes.sort(key=lambda route: route[3])
        return [(method, pattern, op) for method, pattern, op, _ in routes]

    def response_schema(self, method: str, path: str, status: int) -> str | None:
        if status >= 400:
            return "ErrorResponse"
        for route_method, pattern, operation in self.routes:
            if route_method == method and pattern.match(path):
                content = operation["responses"].get(str(status), {}).get("content", {})
                ref = content.get("application/json", {}).get("schema", {}).get("$ref", "")
                return ref.rsplit("/", 1)[-1] or None
        return None

    def check_response(self, method: str, path: str, status: int, body: Any) -> None:
        name = self.response_schema(method, path, status)
        if name is None:
            self.failures.append(f"{method} {path} ({status}): no schema in the spec")
            return
        problems = self.errors(name, body) + _sdk_errors(name, body)
        self.failures.extend(f"{method} {path}: {p}" for p in problems)

    def event_schema(self, event: str) -> str:
        """The name of the schema for one event: its branch of ``AssistantStreamEvent``.

        Validating against the branch picked by the event name gives the same verdict as
        the whole ``oneOf`` (the names are distinct enums) at a fraction of the cost.
        """
        if not self._events:
            for group in self._components["AssistantStreamEvent"]["oneOf"]:
                group_name = group["$ref"].rsplit("/", 1)[-1]
                branches = self._components[group_name].get("oneOf", [group])
                for i, branch in enumerate(branches):
                    if "$ref" in branch:
                        branch_name = branch["$ref"].rsplit("/", 1)[-1]
                        branch = self._components[branch_name]
                    else:
                        branch_name = f"{group_name}[{i}]"
                        self._components[branch_name] = branch
                    for name in branch["properties"]["event"]["enum"]:
                        self._events[name] = branch_name
        return self._events.get(event, "AssistantStreamEvent")

    def check_event(self, event: str, data: Any) -> None:
        frame = {"event": event, "data": data}
        if event.endswith(".delta"):
            # Deltas differ only in their strings, which the schemas accept whatever they
            # hold; one check per shape keeps a 4,000-delta stream fast.
            shape = json.dumps(_shape(frame), sort_keys=True)
            if shape in self._good_shapes:
                return
        problems = self.errors(self.event_schema(event), frame)
        if event != "done":
            problems += _sdk_errors("AssistantStreamEvent", frame)
        self.failures.extend(f"event {event}: {p}" for p in problems)
        if not problems and event.endswith(".delta"):
            self._good_shapes.add(shape)


def _shape(value: Any) -> Any:
    """``value`` with every string replaced by ``""`` (keys and enum-like ids kept)."""
    if isinstance(value, dict):
        return {k: (v if k in ("event", "object", "type") else _shape(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(item) for item in value]
    return "" if isinstance(value, str) else value


def _sdk_types() -> dict[str, Any]:
    from openai.types import FileDeleted, FileObject
    from openai.types.beta import (
        Assistant,
        AssistantDeleted,
        AssistantStreamEvent,
        Thread,
        ThreadDeleted,
    )
    from openai.types.beta.threads import Message, MessageDeleted, Run
    from openai.types.beta.threads.runs import RunStep
    from openai.types.shared import ErrorObject
    from pydantic import TypeAdapter

    return {
        "AssistantObject": Assistant,
        "DeleteAssistantResponse": AssistantDeleted,
        "ThreadObject": Thread,
        "DeleteThreadResponse": ThreadDeleted,
        "MessageObject": Message,
        "DeleteMessageResponse": MessageDeleted,
        "RunObject": Run,
        "RunStepObject": RunStep,
        "ListAssistantsResponse": Assistant,
        "ListMessagesResponse": Message,
        "ListRunsResponse": Run,
        "ListRunStepsResponse": RunStep,
        "ErrorResponse": ErrorObject,
        "AssistantStreamEvent": TypeAdapter(AssistantStreamEvent),
        "OpenAIFile": FileObject,
        "ListFilesResponse": FileObject,
        "DeleteFileResponse": FileDeleted,
    }


_SDK: dict[str, Any] = {}


def _sdk_errors(name: str, body: Any) -> list[str]:
    """Problems found by validating ``body`` with the SDK's pydantic type for ``name``."""
    if not _SDK:
        _SDK.update(_sdk_types())
    kind = _SDK.get(name)
    if kind is None:
        return []
    if name.startswith("List"):
        items = body.get("data", []) if isinstance(body, dict) else []
    elif name == "ErrorResponse":
        items = [body.get("error")] if isinstance(body, dict) else [body]
    else:
        items = [body]
    problems = []
    for item in items:
        try:
            if hasattr(kind, "validate_python"):
                parsed = kind.validate_python(item)
                if getattr(parsed, "event", None) != item.get("event"):
                    problems.append(f"SDK {name}: parsed as {type(parsed).__name__}")
            else:
                kind.model_validate(item)
        except Exception as exc:  # pydantic.ValidationError
            problems.append(f"SDK {name}: {str(exc)[:400]}")
    return problems
