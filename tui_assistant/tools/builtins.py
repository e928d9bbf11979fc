"""The built-in local functions: safe by construction.

* ``current_time(timezone)``: the date and time in an IANA time zone.
* ``calculate(expression)``: arithmetic, evaluated by walking the parsed expression (never
  ``eval``), with limits on size so that no expression can exhaust memory or time.
* ``read_text_file(path)``: a UTF-8 text file inside the directory the user allowed in
  ``config.toml`` (``allowed_dir``). Paths are resolved (symbolic links included) before
  the check, so nothing outside that directory can be read. Only offered when a directory
  is configured.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from tui_assistant.tools.registry import LocalFunction

__all__ = ["MAX_FILE_BYTES", "builtin_functions", "calculate", "current_time", "read_text_file"]

MAX_FILE_BYTES = 256 * 1024
"""The most ``read_text_file`` returns of one file."""

MAX_EXPRESSION = 500
MAX_EXPONENT = 10_000
MAX_INT_BITS = 4_096
MAX_DEPTH = 60


# --------------------------------------------------------------------------- time


def current_time(timezone: str = "UTC") -> dict[str, Any]:
    """The current date and time in ``timezone`` (an IANA name such as Europe/Paris)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    name = (timezone or "UTC").strip()
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"Unknown time zone {name!r}; use an IANA name such as UTC or Europe/Paris."
        ) from None
    now = datetime.now(zone)
    return {
        "timezone": name,
        "iso": now.isoformat(timespec="seconds"),
        "date": now.date().isoformat(),
        "time": now.strftime("%H:%M:%S"),
        "weekday": now.strftime("%A"),
        "utc_offset": now.strftime("%z"),
    }


# --------------------------------------------------------------------------- arithmetic

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type, Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_CONSTANTS = {"pi": math.pi, "e": math.e, "tau": math.tau}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs,
    "round": round,
    "min": min,
    "max": max,
    "sqrt": math.sqrt,
    "exp": math.exp,
    "log": math.log,
    "log10": math.log10,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "floor": math.floor,
    "ceil": math.ceil,
}


def _check_size(value: Any) -> Any:
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise ValueError("The result is too large.")
    return value


def _evaluate(node: ast.AST, depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        raise ValueError("The expression is nested too deeply.")
    if isinstance(node, ast.Expression):
        return _evaluate(node.body, depth + 1)
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise ValueError(f"Only numbers are allowed, not {node.value!r}.")
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in _CONSTANTS:
            raise ValueError(f"Unknown name {node.id!r} (known: {', '.join(_CONSTANTS)}).")
        return _CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand, depth + 1))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left = _evaluate(node.left, depth + 1)
        right = _evaluate(node.right, depth + 1)
        if isinstance(node.op, ast.Pow):
            if abs(right) > MAX_EXPONENT:
                raise ValueError("The exponent is too large.")
            if isinstance(left, int) and isinstance(right, int) and right > 0:
                if left.bit_length() * right > MAX_INT_BITS:
                    raise ValueError("The result is too large.")
        if isinstance(node.op, ast.Div | ast.FloorDiv | ast.Mod) and right == 0:
            raise ValueError("Division by zero.")
        return _check_size(_BINARY[type(node.op)](left, right))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        function = _FUNCTIONS.get(node.func.id)
        if function is None or node.keywords:
            raise ValueError(
                f"Unknown function {node.func.id!r} (known: {', '.join(sorted(_FUNCTIONS))})."
            )
        args = [_evaluate(arg, depth + 1) for arg in node.args]
        return _check_size(function(*args))
    raise ValueError(f"Unsupported syntax: {type(node).__name__}.")


def calculate(expression: str) -> dict[str, Any]:
    """Evaluate an arithmetic expression: + - * / // % ** and parentheses, the constants
    pi, e and tau, and the functions abs, round, min, max, sqrt, exp, log, log10, sin, cos,
    tan, floor, ceil."""
    text = (expression or "").strip().replace("^", "**").replace("×", "*").replace("÷", "/")
    if not text:
        raise ValueError("The expression is empty.")
    if len(text) > MAX_EXPRESSION:
        raise ValueError(f"The expression is longer than {MAX_EXPRESSION} characters.")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"Not an arithmetic expression: {exc.msg}.") from None
    try:
        result = _evaluate(tree)
    except (OverflowError, ZeroDivisionError) as exc:
        raise ValueError(f"Cannot compute: {exc}.") from None
    except TypeError as exc:
        raise ValueError(f"Wrong arguments: {exc}.") from None
    if isinstance(result, float) and result.is_integer() and abs(result) < 2**53:
        result = int(result)
    return {"expression": expression, "result": result}


# --------------------------------------------------------------------------- files


def read_text_file(path: str, *, root: str) -> dict[str, Any]:
    """Read a UTF-8 text file inside ``root`` (``path`` is relative to it)."""
    base = Path(root).expanduser().resolve()
    requested = Path(path or "").expanduser()
    target = (requested if requested.is_absolute() else base / requested).resolve()
    if not target.is_relative_to(base):
        raise PermissionError(f"{path!r} is outside the allowed directory.")
    if not target.exists():
        raise FileNotFoundError(f"No file {path!r} in the allowed directory.")
    if not target.is_file():
        raise ValueError(f"{path!r} is not a file.")
    with open(target, "rb") as fh:
        data = fh.read(MAX_FILE_BYTES + 1)
    truncated = len(data) > MAX_FILE_BYTES
    data = data[:MAX_FILE_BYTES]
    if b"\x00" in data:
        raise ValueError(f"{path!r} is not a text file.")
    text = data.decode("utf-8", errors="ignore" if truncated else "strict")
    return {
        "path": target.relative_to(base).as_posix(),
        "content": text,
        "truncated": truncated,
    }


def _read_text_file_for(root: str) -> Callable[..., Any]:
    def read(path: str) -> dict[str, Any]:
        try:
            return read_text_file(path, root=root)
        except UnicodeDecodeError:
            raise ValueError(f"{path!r} is not UTF-8 text.") from None

    return read


def builtin_functions(allowed_dir: str | None = None) -> list[LocalFunction]:
    """The built-in functions (``read_text_file`` only when ``allowed_dir`` is set)."""
    functions = [
        LocalFunction(
            name="current_time",
            description="The current date and time in a time zone.",
            parameters={
                "type": "object",
                "properties": {
                    "timezone": {
                        "type": "string",
                        "description": "An IANA time zone such as UTC or Europe/Paris.",
                    }
                },
            },
            func=current_time,
        ),
        LocalFunction(
            name="calculate",
            description=(
                "Evaluate an arithmetic expression exactly (+ - * / // % **, parentheses, "
                "pi, e, sqrt, log, sin, cos, round, min, max ...)."
            ),
            parameters={
                "type": "object",
                "properties": {
                    "expression": {"type": "string", "description": "For example (2+3)*4**2"}
                },
                "required": ["expression"],
            },
            func=calculate,
        ),
    ]
    if allowed_dir:
        functions.append(
            LocalFunction(
                name="read_text_file",
                description=(
                    "Read a UTF-8 text file from the user's allowed directory "
                    f"({Path(allowed_dir).name or allowed_dir}); the path is relative to it."
                ),
                parameters={
                    "type": "object",
                    "properties": {
                        "path": {"type": "string", "description": "A path inside the directory."}
                    },
                    "required": ["path"],
                },
                func=_read_text_file_for(allowed_dir),
            )
        )
    return functions
