"""The local thread store: saved threads per endpoint, and cached message text.

The Assistants API cannot list threads, so this store is the only record of the threads
a user has: thread id, assistant, title, times, a one-line preview, pinned and archived
flags, kept per endpoint (``Profile.endpoint_key``). It also caches message text, so a
thread shows instantly on open (and can later be searched) before the endpoint answers.

Guarantees:

* Every write is committed before the call returns; ``add_thread`` in particular commits
  the thread id before the caller sends the first message.
* SQLite in WAL mode with a busy timeout: several app instances (several ``Store`` objects)
  can use one file at once without losing writes. One ``Store`` may be shared by threads.
* The schema is versioned with ``PRAGMA user_version``; ``MIGRATIONS`` holds one step per
  version and ``Store.open`` applies the missing ones, each in its own transaction.
  A file written by a newer version is refused rather than damaged.
* Files are created with mode 0600. API keys never reach the store.
* Failures raise ``StoreError`` with one line that names the file.

Calls are synchronous and small (milliseconds); the UI may call them on its event loop.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tui_assistant.errors import StoreError

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "CachedMessage",
    "SavedThread",
    "Store",
    "one_line",
    "title_from_text",
]

DEFAULT_TITLE = "New thread"
TITLE_MAX = 200
PREVIEW_MAX = 120
BUSY_TIMEOUT_MS = 5000


@dataclass(frozen=True, slots=True)
class SavedThread:
    """A thread the user has, on one endpoint."""

    endpoint: str
    thread_id: str
    assistant_id: str
    title: str
    created_at: float
    last_used: float
    preview: str = ""
    pinned: bool = False
    archived: bool = False


@dataclass(frozen=True, slots=True)
class CachedMessage:
    """The text of one message, as last seen."""

    message_id: str
    role: str
    text: str
    created_at: float


# --- Schema -----------------------------------------------------------------------------

Migration = tuple[str, ...] | Callable[[sqlite3.Connection], None]
"""One schema step: SQL statements, or a function given the connection (in a transaction)."""

_V1: tuple[str, ...] = (
    """
    CREATE TABLE threads (
        endpoint      TEXT NOT NULL,
        thread_id     TEXT NOT NULL,
        assistant_id  TEXT NOT NULL DEFAULT '',
        title         TEXT NOT NULL,
        created_at    REAL NOT NULL,
        last_used     REAL NOT NULL,
        preview       TEXT NOT NULL DEFAULT '',
        pinned        INTEGER NOT NULL DEFAULT 0,
        archived      INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (endpoint, thread_id)
    ) WITHOUT ROWID
    """,
    "CREATE INDEX threads_recent ON threads (endpoint, pinned DESC, last_used DESC)",
    """
    CREATE TABLE messages (
        endpoint    TEXT NOT NULL,
        thread_id   TEXT NOT NULL,
        message_id  TEXT NOT NULL,
        role        TEXT NOT NULL,
        text        TEXT NOT NULL,
        created_at  REAL NOT NULL,
        position    INTEGER NOT NULL,
        PRIMARY KEY (endpoint, thread_id, message_id),
        FOREIGN KEY (endpoint, thread_id) REFERENCES threads (endpoint, thread_id)
            ON DELETE CASCADE
    )
    """,
    "CREATE INDEX messages_order ON messages (endpoint, thread_id, created_at, position)",
    "CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)

MIGRATIONS: list[Migration] = [_V1]
"""``MIGRATIONS[n]`` takes a store from version ``n`` to ``n + 1``. Only ever append."""

SCHEMA_VERSION = len(MIGRATIONS)
"""The version this code writes (the length of ``MIGRATIONS`` when the module loaded)."""


# --- Text helpers -----------------------------------------------------------------------


def one_line(text: str, max_len: int) -> str:
    """``text`` with all whitespace runs made single spaces, cut to ``max_len`` with '…'."""
    line = " ".join(text.split())
    if len(line) <= max_len:
        return line
    if max_len <= 1:
        return "…"[:max_len]
    cut = line[: max_len - 1]
    space = cut.rfind(" ")
    if space >= max_len // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-") + "…"


_MARKDOWN_LEAD = re.compile(r"^(?:[#>]+\s*|[-*+]\s+)+")


def title_from_text(text: str, max_len: int = 48) -> str:
    """A thread title from the first user message: its first line of prose, shortened.

    Code-fence lines are skipped and Markdown heading/quote/list markers dropped; the
    result is one line of at most ``max_len`` characters, ending in '…' when cut.
    Empty input gives ``"New thread"``.
    """
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("```") or line.startswith("~~~"):
            continue
        line = _MARKDOWN_LEAD.sub("", line)
        if line:
            return one_line(line, max_len)
    return DEFAULT_TITLE


def _clean_title(title: str) -> str:
    return one_line(title, TITLE_MAX) or DEFAULT_TITLE


# --- The store --------------------------------------------------------------------------

_THREAD_COLUMNS = (
    "endpoint, thread_id, assistant_id, title, created_at, last_used, preview, pinned, archived"
)


def _thread(row: tuple) -> SavedThread:
    return SavedThread(
        endpoint=row[0],
        thread_id=row[1],
        assistant_id=row[2],
        title=row[3],
        created_at=row[4],
        last_used=row[5],
        preview=row[6],
        pinned=bool(row[7]),
        archived=bool(row[8]),
    )


def _reason(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or exc.__class__.__name__


class Store:
    """A connection to one store file. Use ``Store.open(path)``; ``close()`` when done."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self._lock = threading.RLock()
        self.path = path

    # Opening and migrating ------------------------------------------------------------

    @classmethod
    def open(cls, path: Path) -> Store:
        """Open (creating if needed) and migrate the store at ``path``.

        Raises ``StoreError`` if the file cannot be created or opened, is not a store, or
        was written by a newer version of tui-assistant.
        """
        path = Path(path).expanduser()
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            # Create the file ourselves so it (and SQLite's -wal/-shm beside it) is 0600.
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        except OSError as exc:
            raise StoreError(
                f"cannot open thread store {path}: {exc.strerror or _reason(exc)}"
            ) from None
        try:
            connection = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open thread store {path}: {_reason(exc)}") from None
        store = cls(connection, path)
        try:
            store._configure()
            store._migrate()
        except StoreError:
            connection.close()
            raise
        except sqlite3.Error as exc:
            connection.close()
            raise StoreError(f"cannot open thread store {path}: {_reason(exc)}") from None
        return store

    def _configure(self) -> None:
        db = self._db
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")
        db.execute("PRAGMA foreign_keys = ON")

    def _version(self) -> int:
        return self._db.execute("PRAGMA user_version").fetchone()[0]

    def _migrate(self) -> None:
        target = len(MIGRATIONS)
        if self._version() == target:
            return
        with self._transaction():
            # Re-read inside the write lock: another process may have migrated meanwhile.
            version = self._version()
            if version > target:
                raise StoreError(
                    f"thread store {self.path} was written by a newer tui-assistant "
                    f"(schema {version}; this version knows up to {target})"
                )
            for number in range(version, target):
                step = MIGRATIONS[number]
                if callable(step):
                    step(self._db)
                else:
                    for statement in step:
                        self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {number + 1}")

    @property
    def schema_version(self) -> int:
        with self._lock:
            return self._version()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken up front (``BEGIN IMMEDIATE``) and committed."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise StoreError(f"thread store {self.path}: cannot {doing}: {_reason(exc)}") from None

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Threads --------------------------------------------------------------------------

    def add_thread(
        self, endpoint: str, thread_id: str, assistant_id: str, title: str = DEFAULT_TITLE
    ) -> SavedThread:
        """Save a thread (committed on return). Saving a known thread returns it unchanged."""
        now = time.time()
        with self._errors("save the thread"), self._transaction() as db:
            db.execute(
                f"INSERT OR IGNORE INTO threads ({_THREAD_COLUMNS})"
                " VALUES (?, ?, ?, ?, ?, ?, '', 0, 0)",
                (endpoint, thread_id, assistant_id or "", _clean_title(title), now, now),
            )
            row = db.execute(
                f"SELECT {_THREAD_COLUMNS} FROM threads WHERE endpoint = ? AND thread_id = ?",
                (endpoint, thread_id),
            ).fetchone()
        return _thread(row)

    def get_thread(self, endpoint: str, thread_id: str) -> SavedThread | None:
        with self._errors("read a thread"), self._lock:
            row = self._db.execute(
                f"SELECT {_THREAD_COLUMNS} FROM threads WHERE endpoint = ? AND thread_id = ?",
                (endpoint, thread_id),
            ).fetchone()
        return _thread(row) if row else None

    def list_threads(
        self, endpoint: str, *, include_archived: bool = False, limit: int | None = None
    ) -> list[SavedThread]:
        """The endpoint's threads: pinned first, then most recently used first."""
        where = "endpoint = ?" if include_archived else "endpoint = ? AND archived = 0"
        sql = (
            f"SELECT {_THREAD_COLUMNS} FROM threads WHERE {where}"
            " ORDER BY pinned DESC, last_used DESC, created_at DESC, thread_id"
        )
        params: tuple = (endpoint,)
        if limit is not None:
            sql += " LIMIT ?"
            params += (max(0, limit),)
        with self._errors("list threads"), self._lock:
            rows = self._db.execute(sql, params).fetchall()
        return [_thread(row) for row in rows]

    def _update(self, doing: str, endpoint: str, thread_id: str, sets: str, values: tuple) -> bool:
        with self._errors(doing), self._transaction() as db:
            cursor = db.execute(
                f"UPDATE threads SET {sets} WHERE endpoint = ? AND thread_id = ?",
                (*values, endpoint, thread_id),
            )
        return cursor.rowcount > 0

    def rename_thread(self, endpoint: str, thread_id: str, title: str) -> bool:
        """Retitle a thread; returns whether it exists."""
        return self._update(
            "rename the thread", endpoint, thread_id, "title = ?", (_clean_title(title),)
        )

    def set_assistant(self, endpoint: str, thread_id: str, assistant_id: str) -> bool:
        return self._update(
            "change the assistant", endpoint, thread_id, "assistant_id = ?", (assistant_id,)
        )

    def set_pinned(self, endpoint: str, thread_id: str, pinned: bool = True) -> bool:
        return self._update("pin the thread", endpoint, thread_id, "pinned = ?", (int(pinned),))

    def set_archived(self, endpoint: str, thread_id: str, archived: bool = True) -> bool:
        return self._update(
            "archive the thread", endpoint, thread_id, "archived = ?", (int(archived),)
        )

    def touch(
        self,
        endpoint: str,
        thread_id: str,
        *,
        preview: str | None = None,
        when: float | None = None,
    ) -> bool:
        """Mark a thread used now (or at ``when``), optionally with a new preview line."""
        when = time.time() if when is None else when
        if preview is None:
            return self._update("update the thread", endpoint, thread_id, "last_used = ?", (when,))
        return self._update(
            "update the thread",
            endpoint,
            thread_id,
            "last_used = ?, preview = ?",
            (when, one_line(preview, PREVIEW_MAX)),
        )

    def delete_thread(self, endpoint: str, thread_id: str) -> bool:
        """Forget a thread and its cached messages (the endpoint keeps it)."""
        with self._errors("delete the thread"), self._transaction() as db:
            db.execute(
                "DELETE FROM messages WHERE endpoint = ? AND thread_id = ?", (endpoint, thread_id)
            )
            cursor = db.execute(
                "DELETE FROM threads WHERE endpoint = ? AND thread_id = ?", (endpoint, thread_id)
            )
        return cursor.rowcount > 0

    # Cached messages ------------------------------------------------------------------

    def cache_messages(
        self, endpoint: str, thread_id: str, messages: Iterable[CachedMessage]
    ) -> int:
        """Insert or update messages by id; returns how many were written.

        Give them oldest first. Messages are ordered by ``created_at`` and, among equal
        times, by the order they were first cached. Nothing is written for a thread that
        is not saved (returns 0).
        """
        batch = list(messages)
        if not batch:
            return 0
        with self._errors("cache messages"), self._transaction() as db:
            if not db.execute(
                "SELECT 1 FROM threads WHERE endpoint = ? AND thread_id = ?",
                (endpoint, thread_id),
            ).fetchone():
                return 0
            (top,) = db.execute(
                "SELECT COALESCE(MAX(position), -1) FROM messages"
                " WHERE endpoint = ? AND thread_id = ?",
                (endpoint, thread_id),
            ).fetchone()
            db.executemany(
                "INSERT INTO messages"
                " (endpoint, thread_id, message_id, role, text, created_at, position)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (endpoint, thread_id, message_id) DO UPDATE SET"
                " role = excluded.role, text = excluded.text, created_at = excluded.created_at",
                [
                    (endpoint, thread_id, m.message_id, m.role, m.text, m.created_at, top + 1 + i)
                    for i, m in enumerate(batch)
                ],
            )
        return len(batch)

    def cached_messages(
        self, endpoint: str, thread_id: str, *, limit: int = 50
    ) -> list[CachedMessage]:
        """The newest ``limit`` cached messages, oldest first."""
        with self._errors("read cached messages"), self._lock:
            rows = self._db.execute(
                "SELECT message_id, role, text, created_at FROM messages"
                " WHERE endpoint = ? AND thread_id = ?"
                " ORDER BY created_at DESC, position DESC LIMIT ?",
                (endpoint, thread_id, max(0, limit)),
            ).fetchall()
        return [CachedMessage(*row) for row in reversed(rows)]

    # Small state ----------------------------------------------------------------------

    def get_state(self, key: str, default: str | None = None) -> str | None:
        """A remembered value (for example the last thread per endpoint)."""
        with self._errors("read state"), self._lock:
            row = self._db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_state(self, key: str, value: str | None) -> None:
        """Remember ``value`` under ``key``; ``None`` forgets it."""
        with self._errors("save state"), self._transaction() as db:
            if value is None:
                db.execute("DELETE FROM state WHERE key = ?", (key,))
            else:
                db.execute(
                    "INSERT INTO state (key, value) VALUES (?, ?)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (key, str(value)),
                )
