"""Errors a user can be shown.

Every error the app expects carries a short ``title`` and a one-line ``message`` written
for the person at the keyboard (what happened, and what to do). The UI shows them as
notifications or inline notices, the CLI as one line on stderr; neither shows a traceback.
Messages never contain API keys.
"""

from __future__ import annotations


class AppError(Exception):
    """Base class: an error with a user-facing title and message."""

    title = "Error"

    def __init__(self, message: str, *, title: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if title is not None:
            self.title = title

    def __str__(self) -> str:
        return self.message


class ConfigError(AppError):
    """The configuration (file, flags or environment) cannot be used."""

    title = "Configuration"


class MissingKeyError(ConfigError):
    """A remote endpoint needs an API key and none was found."""

    title = "No API key"


class StoreError(AppError):
    """The local thread store cannot be read or written."""

    title = "Local store"


class EngineError(AppError):
    """The endpoint answered with an error, or could not be reached."""

    title = "Endpoint error"


class EndpointUnreachable(EngineError):
    """Nothing answered at the endpoint's address."""

    title = "Endpoint unreachable"


class AuthError(EngineError):
    """The endpoint refused the API key (401/403)."""

    title = "Not authorised"


class NotServedError(EngineError):
    """The endpoint does not serve the Assistants API (404/410 on its paths)."""

    title = "Assistants API not served"


class NotFoundError(EngineError):
    """An object (thread, assistant, run) does not exist on the endpoint."""

    title = "Not found"


class ActiveRunError(EngineError):
    """The thread already has an active run."""

    title = "Run in progress"

    def __init__(self, message: str, *, run_id: str = "") -> None:
        super().__init__(message)
        self.run_id = run_id


class RateLimitedError(EngineError):
    """The endpoint asked us to slow down (429)."""

    title = "Rate limited"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        """Seconds the endpoint asked us to wait (``Retry-After``), when it said."""


class ServerError(EngineError):
    """The endpoint failed with a server error (HTTP 5xx); trying again later may work.

    A request that got this answer may or may not have been carried out."""

    title = "Endpoint error"


class StreamInterrupted(EngineError):
    """A run's event stream broke off before the run paused or ended.

    The run itself may still be going on the server: reattach to ``run_id`` (poll it and
    read its messages) rather than starting a second run.
    """

    title = "Connection lost"

    def __init__(self, message: str, *, run_id: str = "") -> None:
        super().__init__(message)
        self.run_id = run_id


class NotSupportedError(EngineError):
    """The endpoint does not implement an optional part of the API (run steps, files)."""

    title = "Not supported"


class RunNoLongerWaiting(Exception):
    """Raised by an action handler when the paused run stopped waiting for outputs
    (it expired, or was cancelled or failed meanwhile). The session then submits nothing
    and follows the run to its end instead."""
