"""A local-server model that calls the functions it is given, for tool tests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

from tui_assistant.server.models import FunctionCall, RunContext


class CallingModel:
    """Asks for ``calls`` (name, arguments) at once, then replies with the outputs."""

    def __init__(self, calls: Sequence[tuple[str, Any]]) -> None:
        self.calls = list(calls)
        self.contexts: list[RunContext] = []

    async def respond(self, context: RunContext) -> AsyncIterator[Any]:
        self.contexts.append(context)
        if not context.tool_results:
            for name, arguments in self.calls:
                text = arguments if isinstance(arguments, str) else json.dumps(arguments)
                yield FunctionCall(name, text)
            return
        yield " | ".join(f"{r.name}={r.output}" for r in context.tool_results)

    def outputs(self) -> list[Any]:
        """What the client submitted, JSON-decoded where possible."""
        results = self.contexts[-1].tool_results
        decoded = []
        for result in results:
            try:
                decoded.append(json.loads(result.output))
            except ValueError:
                decoded.append(result.output)
        return decoded
