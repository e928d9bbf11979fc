"""Builders for the wire objects the local server returns.

Shapes follow the official Assistants OpenAPI schema: every required field is present,
timestamps are integer unix seconds and ids look like OpenAI's (``asst_`` followed by
24 letters and digits, and so on).
"""

from __future__ import annotations

import copy
import json
import secrets
import string
import time
from typing import Any

from tui_assistant.server.validation import (
    bad_request,
    check_keys,
    metadata,
    opt_str,
)

_ID_ALPHABET = string.ascii_letters + string.digits
RUN_LIFETIME = 600
"""Seconds from a run's creation to its ``expires_at``."""


def new_id(prefix: str) -> str:
    return prefix + "_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(24))


def now() -> int:
    return int(time.time())


def assistant_object(
    *,
    model: str,
    name: str | None = None,
    description: str | None = None,
    instructions: str | None = None,
    tools: list[dict] | None = None,
    tool_resources: dict | None = None,
    metadata: dict | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    response_format: Any = None,
) -> dict[str, Any]:
    return {
        "id": new_id("asst"),
        "object": "assistant",
        "created_at": now(),
        "name": name,
        "description": description,
        "model": model,
        "instructions": instructions,
        "tools": tools or [],
        "tool_resources": tool_resources or {},
        "metadata": metadata or {},
        "temperature": 1.0 if temperature is None else temperature,
        "top_p": 1.0 if top_p is None else top_p,
        "response_format": "auto" if response_format is None else response_format,
    }


def thread_object(*, tool_resources: dict | None = None, metadata: dict | None = None) -> dict:
    return {
        "id": new_id("thread"),
        "object": "thread",
        "created_at": now(),
        "tool_resources": tool_resources or {},
        "metadata": metadata or {},
    }


def text_block(value: str) -> dict[str, Any]:
    return {"type": "text", "text": {"value": value, "annotations": []}}


def message_object(
    *,
    thread_id: str,
    role: str,
    content: list[dict],
    status: str = "completed",
    assistant_id: str | None = None,
    run_id: str | None = None,
    attachments: list | None = None,
    metadata: dict | None = None,
) -> dict[str, Any]:
    created = now()
    return {
        "id": new_id("msg"),
        "object": "thread.message",
        "created_at": created,
        "thread_id": thread_id,
        "status": status,
        "incomplete_details": None,
        "completed_at": created if status == "completed" else None,
        "incomplete_at": None,
        "role": role,
        "content": content,
        "assistant_id": assistant_id,
        "run_id": run_id,
        "attachments": attachments or [],
        "metadata": metadata or {},
    }


def message_text(message: dict[str, Any]) -> str:
    """The text of a message's text blocks, joined."""
    return "\n".join(
        block["text"]["value"] for block in message["content"] if block.get("type") == "text"
    )


_MESSAGE_KEYS = frozenset({"role", "content", "attachments", "metadata"})


def parse_message_request(body: Any, param: str = "") -> dict[str, Any]:
    """Check a CreateMessageRequest; return role, content blocks, attachments, metadata."""
    if not isinstance(body, dict):
        raise bad_request(f"Invalid '{param or 'body'}': expected an object.", param=param or None)
    check_keys(body, _MESSAGE_KEYS, prefix=f"{param}." if param else "")
    role = body.get("role")
    if role not in ("user", "assistant"):
        name = f"{param}.role" if param else "role"
        if role is None:
            raise bad_request(f"Missing required parameter: '{name}'.", param=name)
        raise bad_request(
            f"Invalid value: '{role}'. Supported values are: 'user' and 'assistant'.",
            param=name,
            code="invalid_value",
        )
    content_param = f"{param}.content" if param else "content"
    if "content" not in body:
        raise bad_request(f"Missing required parameter: '{content_param}'.", param=content_param)
    content = _content_blocks(body["content"], content_param)
    attachments = parse_attachments(
        body.get("attachments"), f"{param}.attachments" if param else "attachments"
    )
    return {
        "role": role,
        "content": content,
        "attachments": attachments or [],
        "metadata": metadata(body, param=f"{param}.metadata" if param else "metadata"),
    }


def _content_blocks(value: Any, param: str) -> list[dict]:
    if isinstance(value, str):
        return [text_block(value)]
    if not isinstance(value, list) or not value:
        raise bad_request(
            f"Invalid '{param}': expected a string or a non-empty array of content parts.",
            param=param,
            code="invalid_type",
        )
    blocks = []
    for i, part in enumerate(value):
        where = f"{param}[{i}]"
        if not isinstance(part, dict):
            raise bad_request(f"Invalid '{where}': expected an object.", param=where)
        kind = part.get("type")
        if kind == "text":
            text = opt_str(part, "text", param=f"{where}.text")
            if text is None:
                raise bad_request(
                    f"Missing required parameter: '{where}.text'.", param=f"{where}.text"
                )
            blocks.append(text_block(text))
        elif kind == "image_file" and isinstance(part.get("image_file"), dict):
            if not isinstance(part["image_file"].get("file_id"), str):
                raise bad_request(
                    f"Missing required parameter: '{where}.image_file.file_id'.",
                    param=f"{where}.image_file.file_id",
                )
            blocks.append({"type": "image_file", "image_file": dict(part["image_file"])})
        elif kind == "image_url" and isinstance(part.get("image_url"), dict):
            if not isinstance(part["image_url"].get("url"), str):
                raise bad_request(
                    f"Missing required parameter: '{where}.image_url.url'.",
                    param=f"{where}.image_url.url",
                )
            blocks.append({"type": "image_url", "image_url": dict(part["image_url"])})
        else:
            raise bad_request(
                f"Invalid '{where}': expected a part of type 'text', 'image_file' or 'image_url'.",
                param=f"{where}.type",
                code="invalid_value",
            )
    return blocks


def run_object(
    *,
    thread_id: str,
    assistant_id: str,
    model: str,
    instructions: str,
    tools: list[dict],
    metadata: dict,
    temperature: float | None,
    top_p: float | None,
    max_prompt_tokens: int | None,
    max_completion_tokens: int | None,
    truncation_strategy: dict | None,
    tool_choice: Any,
    parallel_tool_calls: bool,
    response_format: Any,
) -> dict[str, Any]:
    created = now()
    return {
        "id": new_id("run"),
        "object": "thread.run",
        "created_at": created,
        "thread_id": thread_id,
        "assistant_id": assistant_id,
        "status": "queued",
        "required_action": None,
        "last_error": None,
        "expires_at": created + RUN_LIFETIME,
        "started_at": None,
        "cancelled_at": None,
        "failed_at": None,
        "completed_at": None,
        "incomplete_details": None,
        "model": model,
        "instructions": instructions,
        "tools": tools,
        "metadata": metadata,
        "usage": None,
        "temperature": 1.0 if temperature is None else temperature,
        "top_p": 1.0 if top_p is None else top_p,
        "max_prompt_tokens": max_prompt_tokens,
        "max_completion_tokens": max_completion_tokens,
        "truncation_strategy": truncation_strategy or {"type": "auto", "last_messages": None},
        "tool_choice": "auto" if tool_choice is None else tool_choice,
        "parallel_tool_calls": parallel_tool_calls,
        "response_format": "auto" if response_format is None else response_format,
    }


def step_object(
    *, run: dict[str, Any], step_type: str, step_details: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": new_id("step"),
        "object": "thread.run.step",
        "created_at": now(),
        "assistant_id": run["assistant_id"],
        "thread_id": run["thread_id"],
        "run_id": run["id"],
        "type": step_type,
        "status": "in_progress",
        "step_details": step_details,
        "last_error": None,
        "expired_at": None,
        "cancelled_at": None,
        "failed_at": None,
        "completed_at": None,
        "metadata": {},
        "usage": None,
    }


def step_view(step: dict[str, Any], include_content: bool) -> dict[str, Any]:
    """A run step as a client sees it: file search results lose their ``content``
    unless it was asked for with ``include``. (The stored step keeps it.)"""
    if include_content or step.get("type") != "tool_calls":
        return step
    calls = (step.get("step_details") or {}).get("tool_calls") or []
    if not any(
        "content" in result
        for call in calls
        if call.get("type") == "file_search"
        for result in (call.get("file_search") or {}).get("results") or ()
    ):
        return step
    view = copy.deepcopy(step)
    for call in view["step_details"]["tool_calls"]:
        if call.get("type") == "file_search":
            for result in (call.get("file_search") or {}).get("results") or ():
                result.pop("content", None)
    return view


def step_raw_view(raw: str, include_content: bool) -> str:
    """``step_view`` for a stored JSON body (decoded only when it has search results)."""
    if include_content or '"file_search"' not in raw:
        return raw
    return json.dumps(step_view(json.loads(raw), False), separators=(",", ":"), ensure_ascii=False)


def parse_attachments(value: Any, param: str) -> list[dict[str, Any]]:
    """Check ``attachments``: ``[{file_id, tools: [{type}]}]`` (ids are checked later)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad_request(
            f"Invalid type for '{param}': expected an array.", param=param, code="invalid_type"
        )
    attachments = []
    for i, item in enumerate(value):
        where = f"{param}[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("file_id"), str):
            raise bad_request(
                f"Missing required parameter: '{where}.file_id'.", param=f"{where}.file_id"
            )
        check_keys(item, frozenset({"file_id", "tools"}), prefix=f"{where}.")
        tools = item.get("tools") or []
        if not isinstance(tools, list):
            raise bad_request(
                f"Invalid type for '{where}.tools': expected an array.",
                param=f"{where}.tools",
                code="invalid_type",
            )
        for j, tool in enumerate(tools):
            kind = tool.get("type") if isinstance(tool, dict) else None
            if kind not in ("code_interpreter", "file_search"):
                raise bad_request(
                    f"Invalid value for '{where}.tools[{j}].type': expected "
                    "'code_interpreter' or 'file_search'.",
                    param=f"{where}.tools[{j}].type",
                    code="invalid_value",
                )
        attachments.append(
            {"file_id": item["file_id"], "tools": [{"type": t["type"]} for t in tools]}
        )
    return attachments


def tool_resources_file_ids(resources: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(param, file id) of every file named in ``tool_resources``, for checking."""
    found = []
    for tool in ("code_interpreter", "file_search"):
        for i, file_id in enumerate(((resources or {}).get(tool) or {}).get("file_ids") or ()):
            found.append((f"tool_resources.{tool}.file_ids[{i}]", file_id))
    return found


def list_body(raw_items: list[str], has_more: bool) -> bytes:
    """A list response built from stored JSON bodies without decoding them."""
    first_id = last_id = None
    if raw_items:
        first_id = json.loads(raw_items[0])["id"]
        last_id = json.loads(raw_items[-1])["id"] if len(raw_items) > 1 else first_id
    return (
        '{"object":"list","data":['
        + ",".join(raw_items)
        + f'],"first_id":{json.dumps(first_id)},"last_id":{json.dumps(last_id)},'
        + f'"has_more":{"true" if has_more else "false"}}}'
    ).encode()
