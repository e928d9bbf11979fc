"""Request checking for the local server, with OpenAI-style error bodies.

Every failure becomes an ``ApiError``; the HTTP layer turns it into
``{"error": {"message", "type", "param", "code"}}`` with the error's status.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_METADATA_KEYS = 16
_FUNCTION_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
TOOL_TYPES = ("code_interpreter", "file_search", "function")


class ApiError(Exception):
    """An error answered with an OpenAI-style body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        type: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.type = type

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def bad_request(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, param=param, code=code)


def not_found(kind: str, object_id: str) -> ApiError:
    """``No thread found with id 'thread_x'.``"""
    return ApiError(404, f"No {kind} found with id '{object_id}'.")


def parse_json_body(raw: bytes, *, required: bool = True) -> dict[str, Any]:
    """The request body as a JSON object (an empty body is ``{}`` unless required)."""
    if not raw.strip():
        if required:
            raise bad_request(
                "The request needs a JSON body, and this one was empty. Send a JSON object "
                "with 'Content-Type: application/json'."
            )
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise bad_request(
            "The body of the request is not valid JSON. Send a JSON object with "
            "'Content-Type: application/json'."
        ) from None
    if not isinstance(body, dict):
        raise bad_request("The body of the request must be a JSON object.")
    return body


def check_keys(body: dict[str, Any], allowed: frozenset[str], prefix: str = "") -> None:
    for key in body:
        if key not in allowed:
            raise bad_request(
                f"Unrecognized request argument supplied: {prefix}{key}", param=prefix + key
            )


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _invalid_type(param: str, expected: str, value: Any) -> ApiError:
    return bad_request(
        f"Invalid type for '{param}': expected {expected}, but got {_type_name(value)} instead.",
        param=param,
        code="invalid_type",
    )


def opt_str(
    body: dict[str, Any], key: str, *, max_len: int | None = None, param: str | None = None
) -> str | None:
    param = param or key
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid_type(param, "a string", value)
    if max_len is not None and len(value) > max_len:
        raise bad_request(
            f"Invalid '{param}': string too long. Expected a string with maximum length "
            f"{max_len}, but got a string with length {len(value)} instead.",
            param=param,
            code="string_above_max_length",
        )
    return value


def req_str(body: dict[str, Any], key: str, *, param: str | None = None) -> str:
    param = param or key
    if key not in body:
        raise bad_request(f"Missing required parameter: '{param}'.", param=param)
    value = opt_str(body, key, param=param)
    if value is None:
        raise _invalid_type(param, "a string", None)
    if not value:
        raise bad_request(
            f"Invalid '{param}': empty string. Expected a string with minimum length 1, "
            "but got an empty string instead.",
            param=param,
            code="empty_string",
        )
    return value


def opt_number(body: dict[str, Any], key: str, lo: float, hi: float | None = None) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid_type(key, "a number", value)
    if value < lo or (hi is not None and value > hi):
        limits = f"between {lo:g} and {hi:g}" if hi is not None else f">= {lo:g}"
        raise bad_request(
            f"Invalid '{key}': expected a value {limits}, but got {value} instead.",
            param=key,
            code="invalid_value",
        )
    return value


def opt_int(body: dict[str, Any], key: str, lo: int) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid_type(key, "an integer", value)
    if value < lo:
        raise bad_request(
            f"Invalid '{key}': integer below minimum value. Expected a value >= {lo}, "
            f"but got {value} instead.",
            param=key,
            code="integer_below_min_value",
        )
    return value


def opt_bool(body: dict[str, Any], key: str) -> bool | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise _invalid_type(key, "a boolean", value)
    return value


def metadata(body: dict[str, Any], key: str = "metadata", param: str | None = None) -> dict:
    """Validated metadata (``{}`` when absent or null)."""
    param = param or key
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _invalid_type(param, "an object", value)
    if len(value) > MAX_METADATA_KEYS:
        raise bad_request(
            f"Invalid '{param}': too many properties. Expected an object with at most "
            f"{MAX_METADATA_KEYS} properties, but got an object with {len(value)} instead.",
            param=param,
            code="object_above_max_properties",
        )
    for name, item in value.items():
        if len(name) > 64:
            raise bad_request(
                f"Invalid '{param}': metadata keys can be at most 64 characters long.",
                param=param,
            )
        if not isinstance(item, str):
            raise _invalid_type(f"{param}.{name}", "a string", item)
        if len(item) > 512:
            raise bad_request(
                f"Invalid '{param}.{name}': metadata values can be at most 512 characters long.",
                param=f"{param}.{name}",
                code="string_above_max_length",
            )
    return dict(value)


def tools(body: dict[str, Any], key: str = "tools", max_items: int = 128) -> list[dict] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, list):
        raise _invalid_type(key, "an array", value)
    if len(value) > max_items:
        raise bad_request(
            f"Invalid '{key}': array too long. Expected an array with maximum length "
            f"{max_items}, but got an array with length {len(value)} instead.",
            param=key,
            code="array_above_max_length",
        )
    result = []
    for i, tool in enumerate(value):
        param = f"{key}[{i}]"
        if not isinstance(tool, dict):
            raise _invalid_type(param, "an object", tool)
        kind = tool.get("type")
        if kind not in TOOL_TYPES:
            raise bad_request(
                f"Invalid value for '{param}.type': expected one of 'code_interpreter', "
                f"'file_search' or 'function', but got {json.dumps(kind)}.",
                param=f"{param}.type",
                code="invalid_value",
            )
        if kind == "file_search" and tool.get("file_search") is not None:
            _file_search_options(tool["file_search"], f"{param}.file_search")
        if kind == "function":
            function = tool.get("function")
            if not isinstance(function, dict):
                raise bad_request(
                    f"Missing required parameter: '{param}.function'.", param=f"{param}.function"
                )
            name = function.get("name")
            if not isinstance(name, str) or not _FUNCTION_NAME_RE.match(name):
                raise bad_request(
                    f"Invalid '{param}.function.name': a function name is 1 to 64 letters, "
                    "digits, underscores or dashes.",
                    param=f"{param}.function.name",
                    code="invalid_value",
                )
            if "parameters" in function and not isinstance(function["parameters"], dict):
                raise _invalid_type(
                    f"{param}.function.parameters", "an object", function["parameters"]
                )
        result.append(tool)
    return result


def _file_search_options(value: Any, param: str) -> None:
    if not isinstance(value, dict):
        raise _invalid_type(param, "an object", value)
    check_keys(value, frozenset({"max_num_results", "ranking_options"}), prefix=f"{param}.")
    count = value.get("max_num_results")
    if count is not None and (
        isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 50
    ):
        raise bad_request(
            f"Invalid '{param}.max_num_results': expected an integer between 1 and 50.",
            param=f"{param}.max_num_results",
            code="invalid_value",
        )
    options = value.get("ranking_options")
    if options is None:
        return
    where = f"{param}.ranking_options"
    if not isinstance(options, dict):
        raise _invalid_type(where, "an object", options)
    if options.get("ranker", "auto") not in ("auto", "default_2024_08_21"):
        raise bad_request(
            f"Invalid value for '{where}.ranker': expected 'auto' or 'default_2024_08_21'.",
            param=f"{where}.ranker",
            code="invalid_value",
        )
    threshold = options.get("score_threshold")
    if "score_threshold" in options and (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float)
        or not 0 <= threshold <= 1
    ):
        raise bad_request(
            f"Invalid '{where}.score_threshold': expected a number between 0 and 1.",
            param=f"{where}.score_threshold",
            code="invalid_value",
        )


def _string_list(value: Any, param: str, max_items: int) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _invalid_type(param, "an array of strings", value)
    if len(value) > max_items:
        raise bad_request(
            f"Invalid '{param}': array too long. Expected an array with maximum length "
            f"{max_items}, but got an array with length {len(value)} instead.",
            param=param,
            code="array_above_max_length",
        )
    return value


def tool_resources(body: dict[str, Any], key: str = "tool_resources") -> dict | None:
    """Check ``tool_resources``.

    ``code_interpreter.file_ids`` as in the API; for ``file_search`` the local server
    takes ``file_ids`` (its stand-in for vector stores) and keeps ``vector_store_ids``
    without using them. Creating vector stores (``vector_stores``) is refused.
    """
    value = object_or_none(body, key)
    if value is None:
        return None
    for tool, resource in value.items():
        param = f"{key}.{tool}"
        if tool not in ("code_interpreter", "file_search"):
            raise bad_request(f"Unrecognized request argument supplied: {param}", param=param)
        if not isinstance(resource, dict):
            raise _invalid_type(param, "an object", resource)
        if tool == "code_interpreter":
            check_keys(resource, frozenset({"file_ids"}), prefix=f"{param}.")
            _string_list(resource.get("file_ids") or [], f"{param}.file_ids", 20)
            continue
        if "vector_stores" in resource:
            raise bad_request(
                "The local server has no vector stores. List the files to search in "
                f"'{param}.file_ids' instead, or attach them to a message for file_search.",
                param=f"{param}.vector_stores",
            )
        check_keys(resource, frozenset({"file_ids", "vector_store_ids"}), prefix=f"{param}.")
        _string_list(resource.get("vector_store_ids") or [], f"{param}.vector_store_ids", 1)
        _string_list(resource.get("file_ids") or [], f"{param}.file_ids", 100)
    return value


def object_or_none(body: dict[str, Any], key: str) -> dict | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _invalid_type(key, "an object", value)
    return value


def response_format(body: dict[str, Any], key: str = "response_format") -> Any:
    value = body.get(key)
    if value is None or value == "auto":
        return value
    if isinstance(value, dict) and value.get("type") in ("text", "json_object", "json_schema"):
        return value
    raise bad_request(
        f"Invalid value for '{key}': expected 'auto' or an object whose type is 'text', "
        "'json_object' or 'json_schema'.",
        param=key,
        code="invalid_value",
    )


def tool_choice(body: dict[str, Any], key: str = "tool_choice") -> Any:
    value = body.get(key)
    if value is None or value in ("none", "auto", "required"):
        return value
    if isinstance(value, dict) and value.get("type") in TOOL_TYPES:
        return value
    raise bad_request(
        f"Invalid value for '{key}': expected 'none', 'auto', 'required' or a named tool.",
        param=key,
        code="invalid_value",
    )


def truncation_strategy(body: dict[str, Any], key: str = "truncation_strategy") -> dict | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _invalid_type(key, "an object", value)
    kind = value.get("type")
    if kind not in ("auto", "last_messages"):
        raise bad_request(
            f"Invalid value for '{key}.type': expected 'auto' or 'last_messages'.",
            param=f"{key}.type",
            code="invalid_value",
        )
    last = value.get("last_messages")
    if last is not None and (isinstance(last, bool) or not isinstance(last, int) or last < 1):
        raise bad_request(
            f"Invalid '{key}.last_messages': expected an integer >= 1.",
            param=f"{key}.last_messages",
            code="invalid_value",
        )
    return {"type": kind, "last_messages": last}


def list_params(
    query: Any, *, default_limit: int = 20, max_limit: int = 100
) -> tuple[int, str, str | None, str | None]:
    """``limit``, ``order``, ``after`` and ``before`` from a list request's query string."""
    raw_limit = query.get("limit")
    limit = default_limit
    if raw_limit is not None:
        try:
            limit = int(raw_limit)
        except ValueError:
            raise bad_request(
                f"Invalid 'limit': expected an integer, but got '{raw_limit}' instead.",
                param="limit",
                code="invalid_type",
            ) from None
        if limit < 1 or limit > max_limit:
            raise bad_request(
                f"Invalid 'limit': expected a value between 1 and {max_limit}, but got {limit} "
                "instead.",
                param="limit",
                code="invalid_value",
            )
    order = query.get("order") or "desc"
    if order not in ("asc", "desc"):
        raise bad_request(
            f"Invalid 'order': expected 'asc' or 'desc', but got '{order}' instead.",
            param="order",
            code="invalid_value",
        )
    return limit, order, query.get("after") or None, query.get("before") or None


INCLUDE_VALUES = ("step_details.tool_calls[*].file_search.results[*].content",)


def include_param(query: Any) -> bool:
    """Whether ``include`` (``include[]``) asks for file search result content."""
    values = [*query.getlist("include[]"), *query.getlist("include")]
    for value in values:
        if value not in INCLUDE_VALUES:
            raise bad_request(
                f"Invalid value for 'include': {value!r}. Supported values are: "
                f"{', '.join(repr(v) for v in INCLUDE_VALUES)}.",
                param="include",
                code="invalid_value",
            )
    return bool(values)
