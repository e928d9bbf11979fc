"""Run streams read as plain JSON events, without building SDK models.

The SDK's typed stream (``runs.create(..., stream=True)``) validates every event into a
pydantic model. At 100 events a second that alone cost about 0.1 s of CPU per second on
the benchmark machine, twice what reading the same stream as JSON costs. So the engine
asks the SDK for the streaming HTTP response (``with_streaming_response``: the request,
its headers, retries policy and error mapping stay the SDK's) and reads the server-sent
events here:

* ``event:`` and ``data:`` fields, ``data`` lines joined with newlines, comments and other
  fields ignored, an event dispatched at each blank line (the SSE format);
* ``data: [DONE]`` ends the stream (the rest of the body is read, as the SDK does, so
  the connection can be reused);
* a ``data`` object with an ``error`` member raises ``openai.APIError`` (as the SDK does);
* a timeout or transport failure while reading raises ``openai.APITimeoutError`` or
  ``openai.APIConnectionError`` (as the SDK does), so callers handle one set of errors;
* a ``data`` field that is not JSON raises ``ValueError``.

Each event is a dict ``{"event": name, "data": parsed_json}``, which the engine's mapper
reads like the SDK objects it also accepts.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import openai

__all__ = ["RawEventStream"]


class RawEventStream:
    """The events of one streaming response, as dicts; an async iterator."""

    def __init__(self, manager: Any, response: Any) -> None:
        self._manager = manager
        self._response = response
        self._events = self._read()
        self._closed = False

    @classmethod
    async def open(cls, manager: Any) -> RawEventStream:
        """Send the request of ``manager`` (a ``with_streaming_response`` call) and wrap it.

        HTTP errors are raised here, as the SDK's own exceptions.
        """
        response = await manager.__aenter__()
        return cls(manager, response)

    @property
    def is_event_stream(self) -> bool:
        """Whether the answer is a stream of events (not a JSON body, which some servers
        send for a streamed request)."""
        kind = self._response.headers.get("content-type", "").lower()
        return "json" not in kind or "event-stream" in kind

    async def read_json(self) -> Any:
        """The whole body as JSON (for an answer that is not an event stream)."""
        return json.loads(await self._response.aread())

    def __aiter__(self) -> RawEventStream:
        return self

    async def __anext__(self) -> dict[str, Any]:
        return await self._events.__anext__()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._events.aclose()
        await self._manager.__aexit__(None, None, None)

    async def _lines(self) -> AsyncIterator[str]:
        request = self._response.http_request
        try:
            async for line in self._response.iter_lines():
                yield line
        except httpx2.TimeoutException as exc:
            raise openai.APITimeoutError(request=request) from exc
        except httpx2.TransportError as exc:
            raise openai.APIConnectionError(request=request) from exc

    async def _read(self) -> AsyncIterator[dict[str, Any]]:
        name = ""
        data: list[str] = []
        lines = self._lines()
        async for line in lines:
            if line:
                field, _, value = line.partition(":")
                if value.startswith(" "):
                    value = value[1:]
                if field == "event":
                    name = value
                elif field == "data":
                    data.append(value)
                continue
            if not data:
                name = ""
                continue
            text = "\n".join(data)
            event, name, data = name, "", []
            if text.startswith("[DONE]"):
                # Read the (empty) rest, so an HTTP/1.1 connection can be used again.
                async for _ in lines:
                    pass
                return
            parsed = json.loads(text)
            if isinstance(parsed, dict) and parsed.get("error") and not event.startswith("thread."):
                error = parsed["error"]
                message = error.get("message") if isinstance(error, dict) else None
                raise openai.APIError(
                    message if isinstance(message, str) and message else "An error occurred "
                    "during streaming",
                    self._response.http_request,
                    body=error,
                )
            yield {"event": event, "data": parsed}
