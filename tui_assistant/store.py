"""The local thread store: saved threads per endpoint, and cached message text.

The Assistants API cannot list threads, so this store is the only record of the threads
a user has: thread id, assistant, title, times, a one-line preview, pinned and archived
flags, kept per endpoint (``Profile.endpoint_key``). It also caches message text, so a
thread shows instantly on open before the endpoint answers, and indexes that text for
full-text search (SQLite FTS5, kept in step by triggers: ``search_messages``). Finished
runs are recorded with their token counts (``record_run``, ``thread_usage``).

Guarantees:

* Every write is committed before the call returns; ``add_thread`` in particular commits
  the thread id before the caller sends the first message.
* SQLite in WAL mode with a busy timeout: several app instances (several ``Store`` objects)
  can use one file at once without losing writes. One ``Store`` may be shared by threads.
* The schema is versioned with ``PRAGMA user_version``; ``MIGRATIONS`` holds one step per
  version and ``Store.open`` applies the missing ones, each in its own transaction.
  A file written by a newer version is refused rather than damaged.
* Files are created with mode 0600. API keys never reach the store.
* Failures raise ``StoreError`` with one line that names the file. A file that is not a
  readable database (corrupt, truncated, unreadable) is moved aside as
  ``NAME.corrupt-<time>`` and a fresh store is started; ``Store.notice`` says so once.

Calls are synchronous and small (milliseconds); the UI may call them on its event loop.
"""

from __future__ import annotations

import json
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
from tui_assistant.text import one_line

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "CachedMessage",
    "LocalAssistant",
    "LocalAssistantBook",
    "RunRecord",
    "SavedThread",
    "SearchHit",
    "Store",
    "ThreadUsage",
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


@dataclass(frozen=True, slots=True)
class SearchHit:
    """A cached message that matches a full-text search."""

    thread_id: str
    message_id: str
    role: str
    created_at: float
    title: str
    """The title of the thread the message belongs to."""
    snippet: str
    """A short excerpt around the match; matched terms sit between ``HIT_START`` and
    ``HIT_END`` (control characters, so they cannot occur in cleaned text)."""
    archived: bool = False


@dataclass(frozen=True, slots=True)
class RunRecord:
    """A finished run of a thread, with its token counts."""

    run_id: str
    status: str
    created_at: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


@dataclass(frozen=True, slots=True)
class ThreadUsage:
    """Token counts summed over a thread's recorded runs."""

    runs: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


@dataclass(frozen=True, slots=True)
class LocalAssistant:
    """An assistant kept in the local store (for engines whose API keeps none)."""

    id: str
    name: str = ""
    model: str = ""
    instructions: str = ""
    tools: tuple[dict, ...] = ()
    """Tool definitions as the editor gives them (Assistants shape is fine)."""
    temperature: float | None = None
    created_at: float = 0.0


HIT_START = "\x02"
HIT_END = "\x03"


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

_V2: tuple[str, ...] = (
    # Full-text search over cached message text: an external-content FTS5 index keyed by
    # the messages' rowid, kept in step by triggers (so every write path -- history pages,
    # streamed replies, deletes -- updates it), then filled from what is already cached.
    # The rowids of ``messages`` must stay stable: never VACUUM without a 'rebuild' after.
    "CREATE VIRTUAL TABLE messages_fts USING fts5("
    " text, content='messages', content_rowid='rowid',"
    " tokenize='unicode61 remove_diacritics 2')",
    """
    CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts (rowid, text) VALUES (new.rowid, new.text);
    END
    """,
    """
    CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, text)
            VALUES ('delete', old.rowid, old.text);
    END
    """,
    """
    CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, text)
            VALUES ('delete', old.rowid, old.text);
        INSERT INTO messages_fts (rowid, text) VALUES (new.rowid, new.text);
    END
    """,
    "INSERT INTO messages_fts (messages_fts) VALUES ('rebuild')",
    # Finished runs and their token counts (per-thread usage, and exports when offline).
    """
    CREATE TABLE runs (
        endpoint           TEXT NOT NULL,
        thread_id          TEXT NOT NULL,
        run_id             TEXT NOT NULL,
        status             TEXT NOT NULL,
        created_at         REAL NOT NULL,
        prompt_tokens      INTEGER NOT NULL DEFAULT 0,
        completion_tokens  INTEGER NOT NULL DEFAULT 0,
        total_tokens       INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (endpoint, thread_id, run_id),
        FOREIGN KEY (endpoint, thread_id) REFERENCES threads (endpoint, thread_id)
            ON DELETE CASCADE
    ) WITHOUT ROWID
    """,
)

_V3: tuple[str, ...] = (
    # Assistants kept locally, per endpoint, for wire APIs that do not store them
    # (Responses + Conversations). ``tools`` is a JSON list of tool definitions.
    """
    CREATE TABLE local_assistants (
        endpoint      TEXT NOT NULL,
        assistant_id  TEXT NOT NULL,
        name          TEXT NOT NULL DEFAULT '',
        model         TEXT NOT NULL DEFAULT '',
        instructions  TEXT NOT NULL DEFAULT '',
        tools         TEXT NOT NULL DEFAULT '[]',
        temperature   REAL,
        created_at    REAL NOT NULL,
        PRIMARY KEY (endpoint, assistant_id)
    ) WITHOUT ROWID
    """,
)

MIGRATIONS: list[Migration] = [_V1, _V2, _V3]
"""``MIGRATIONS[n]`` takes a store from version ``n`` to ``n + 1``. Only ever append."""

SCHEMA_VERSION = len(MIGRATIONS)
"""The version this code writes (the length of ``MIGRATIONS`` when the module loaded)."""


# --- Text helpers -----------------------------------------------------------------------


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


_WORD = re.compile(r"\w+", re.UNICODE)


def fts_query(text: str) -> str:
    """An FTS5 query matching every word of ``text`` (the last one also as a prefix).

    Each word is quoted, so nothing the user types is read as FTS5 syntax (``AND``,
    ``NEAR``, ``*``, quotes, column filters). Gives ``""`` when ``text`` has no words.
    """
    words = _WORD.findall(text)[:32]
    if not words:
        return ""
    quoted = [f'"{word}"' for word in words]
    if text.rstrip() == text:  # still typing the last word: match it as a prefix too
        quoted[-1] += "*"
    return " ".join(quoted)


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


class _Damaged(Exception):
    """The store file exists but is not a database this user can read."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_DAMAGE_CODES = ("SQLITE_NOTADB", "SQLITE_CORRUPT", "SQLITE_IOERR_SHORT_READ")


def _is_damage(exc: sqlite3.Error) -> bool:
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name.startswith(_DAMAGE_CODES):
        return True
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text


def _move_aside(path: Path) -> Path:
    """Rename ``path`` (and its -wal, -shm, -journal) to ``NAME.corrupt-<time>``."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    try:
        os.replace(path, target)
        for suffix in ("-wal", "-shm", "-journal"):
            side = path.with_name(path.name + suffix)
            if side.exists():
                os.replace(side, target.with_name(target.name + suffix))
    except OSError as exc:
        raise StoreError(
            f"thread store {path} cannot be read and cannot be moved aside: "
            f"{exc.strerror or _reason(exc)}"
        ) from None
    return target


class Store:
    """A connection to one store file. Use ``Store.open(path)``; ``close()`` when done."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self._lock = threading.RLock()
        self.path = path
        self.notice: str | None = None
        """Set by ``open`` when a damaged file was moved aside (shown to the user once)."""

    # Opening and migrating ------------------------------------------------------------

    @classmethod
    def open(cls, path: Path, *, recover: bool = True) -> Store:
        """Open (creating if needed) and migrate the store at ``path``.

        A file that is not a readable SQLite database (corrupt, truncated, garbage, or
        unreadable by this user) is moved aside, with its ``-wal``/``-shm`` files, as
        ``<name>.corrupt-<time>`` and a fresh store is created in its place; ``notice``
        then says so, for the UI to show once. ``recover=False`` raises instead.

        Raises ``StoreError`` if the file cannot be created or opened (an unusable
        directory), or was written by a newer version of tui-assistant.
        """
        path = Path(path).expanduser()
        try:
            return cls._open(path)
        except _Damaged as damage:
            if not recover:
                raise StoreError(f"cannot open thread store {path}: {damage.reason}") from None
            moved = _move_aside(path)
            store = cls._open(path)
            store.notice = (
                f"The thread store could not be read ({damage.reason}). It was moved to "
                f"{moved} and a new, empty store was started; threads saved in the old "
                "file are not listed."
            )
            return store

    @classmethod
    def _open(cls, path: Path) -> Store:
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            # Create the file ourselves so it (and SQLite's -wal/-shm beside it) is 0600.
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        except PermissionError as exc:
            if path.is_file() and os.access(path.parent, os.W_OK | os.X_OK):
                raise _Damaged(exc.strerror or "permission denied") from None
            raise StoreError(
                f"cannot open thread store {path}: {exc.strerror or _reason(exc)}"
            ) from None
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
            # A cheap read of the schema and the first rows: a damaged header or schema
            # page shows up here rather than on the first click.
            connection.execute("SELECT 1 FROM threads LIMIT 1").fetchall()
        except StoreError:
            connection.close()
            raise
        except sqlite3.Error as exc:
            connection.close()
            if _is_damage(exc):
                raise _Damaged(_reason(exc)) from None
            raise StoreError(f"cannot open thread store {path}: {_reason(exc)}") from None
        return store

    def _configure(self) -> None:
        db = self._db
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        # Switching a new file to WAL needs an exclusive lock, and SQLite answers BUSY at
        # once (without the busy handler) when another process is switching it too: wait.
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                db.execute("PRAGMA journal_mode = WAL")
                break
            except sqlite3.OperationalError as exc:
                busy = getattr(exc, "sqlite_errorname", "") == "SQLITE_BUSY"
                if not busy or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
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
            db.execute(
                "DELETE FROM runs WHERE endpoint = ? AND thread_id = ?", (endpoint, thread_id)
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
        times, by the order they were first cached; a message cached again with another
        time (a streamed reply cached with the local clock, then with the endpoint's) is
        placed as if cached now. Nothing is written for a thread that is not saved
        (returns 0).
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
                " role = excluded.role, text = excluded.text, created_at = excluded.created_at,"
                " position = CASE WHEN excluded.created_at = messages.created_at"
                " THEN messages.position ELSE excluded.position END",
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

    # Search ---------------------------------------------------------------------------

    def search_messages(
        self, endpoint: str, query: str, *, limit: int = 50
    ) -> list[SearchHit]:
        """Cached messages of the endpoint's threads that contain every word of ``query``.

        Words match whole tokens, case- and accent-insensitively; the last word also
        matches as a prefix (so results follow typing). Best matches first. A query with
        no words gives no hits. Archived threads are searched too.
        """
        match = fts_query(query)
        if not match:
            return []
        with self._errors("search messages"), self._lock:
            rows = self._db.execute(
                "SELECT m.thread_id, m.message_id, m.role, m.created_at, t.title,"
                " snippet(messages_fts, 0, ?, ?, '…', 16), t.archived"
                " FROM messages_fts"
                " JOIN messages AS m ON m.rowid = messages_fts.rowid"
                " JOIN threads AS t ON t.endpoint = m.endpoint AND t.thread_id = m.thread_id"
                " WHERE messages_fts MATCH ? AND m.endpoint = ?"
                " ORDER BY messages_fts.rank, m.created_at DESC LIMIT ?",
                (HIT_START, HIT_END, match, endpoint, max(0, limit)),
            ).fetchall()
        return [
            SearchHit(row[0], row[1], row[2], row[3], row[4], row[5], bool(row[6]))
            for row in rows
        ]

    # Runs and usage -------------------------------------------------------------------

    def record_run(
        self,
        endpoint: str,
        thread_id: str,
        run_id: str,
        status: str,
        *,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        total_tokens: int = 0,
        created_at: float | None = None,
    ) -> bool:
        """Remember a finished run and its token counts (a run recorded twice is updated).

        Nothing is written for a thread that is not saved (returns False).
        """
        when = time.time() if created_at is None else created_at
        with self._errors("record the run"), self._transaction() as db:
            if not db.execute(
                "SELECT 1 FROM threads WHERE endpoint = ? AND thread_id = ?",
                (endpoint, thread_id),
            ).fetchone():
                return False
            db.execute(
                "INSERT INTO runs (endpoint, thread_id, run_id, status, created_at,"
                " prompt_tokens, completion_tokens, total_tokens)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (endpoint, thread_id, run_id) DO UPDATE SET"
                " status = excluded.status, prompt_tokens = excluded.prompt_tokens,"
                " completion_tokens = excluded.completion_tokens,"
                " total_tokens = excluded.total_tokens",
                (endpoint, thread_id, run_id, status, when, int(prompt_tokens),
                 int(completion_tokens), int(total_tokens)),
            )
        return True

    def list_runs(self, endpoint: str, thread_id: str) -> list[RunRecord]:
        """The thread's recorded runs, oldest first."""
        with self._errors("read runs"), self._lock:
            rows = self._db.execute(
                "SELECT run_id, status, created_at, prompt_tokens, completion_tokens,"
                " total_tokens FROM runs WHERE endpoint = ? AND thread_id = ?"
                " ORDER BY created_at, run_id",
                (endpoint, thread_id),
            ).fetchall()
        return [RunRecord(*row) for row in rows]

    def thread_usage(self, endpoint: str, thread_id: str) -> ThreadUsage:
        """Token counts summed over the thread's recorded runs."""
        with self._errors("read usage"), self._lock:
            row = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(prompt_tokens), 0),"
                " COALESCE(SUM(completion_tokens), 0), COALESCE(SUM(total_tokens), 0)"
                " FROM runs WHERE endpoint = ? AND thread_id = ?",
                (endpoint, thread_id),
            ).fetchone()
        return ThreadUsage(*row)

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

    # Local assistants --------------------------------------------------------------------

    def save_local_assistant(self, endpoint: str, assistant: LocalAssistant) -> LocalAssistant:
        """Create or replace a locally kept assistant (committed on return)."""
        created = assistant.created_at or time.time()
        tools = json.dumps([dict(t) for t in assistant.tools])
        with self._errors("save the assistant"), self._transaction() as db:
            db.execute(
                "INSERT INTO local_assistants (endpoint, assistant_id, name, model,"
                " instructions, tools, temperature, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (endpoint, assistant_id) DO UPDATE SET name = excluded.name,"
                " model = excluded.model, instructions = excluded.instructions,"
                " tools = excluded.tools, temperature = excluded.temperature",
                (endpoint, assistant.id, assistant.name, assistant.model,
                 assistant.instructions, tools, assistant.temperature, created),
            )
        return self.get_local_assistant(endpoint, assistant.id) or assistant

    def get_local_assistant(self, endpoint: str, assistant_id: str) -> LocalAssistant | None:
        with self._errors("read an assistant"), self._lock:
            row = self._db.execute(
                f"SELECT {_ASSISTANT_COLUMNS} FROM local_assistants"
                " WHERE endpoint = ? AND assistant_id = ?",
                (endpoint, assistant_id),
            ).fetchone()
        return _local_assistant(row) if row else None

    def list_local_assistants(self, endpoint: str) -> list[LocalAssistant]:
        """The endpoint's locally kept assistants, newest first."""
        with self._errors("read assistants"), self._lock:
            rows = self._db.execute(
                f"SELECT {_ASSISTANT_COLUMNS} FROM local_assistants WHERE endpoint = ?"
                " ORDER BY created_at DESC, assistant_id",
                (endpoint,),
            ).fetchall()
        return [_local_assistant(row) for row in rows]

    def delete_local_assistant(self, endpoint: str, assistant_id: str) -> bool:
        with self._errors("delete the assistant"), self._transaction() as db:
            cursor = db.execute(
                "DELETE FROM local_assistants WHERE endpoint = ? AND assistant_id = ?",
                (endpoint, assistant_id),
            )
        return cursor.rowcount > 0

    def local_assistants(self, endpoint: str) -> LocalAssistantBook:
        """The endpoint's local assistants as the book an engine takes."""
        return LocalAssistantBook(self, endpoint)


_ASSISTANT_COLUMNS = "assistant_id, name, model, instructions, tools, temperature, created_at"


def _local_assistant(row: tuple) -> LocalAssistant:
    try:
        tools = json.loads(row[4] or "[]")
    except ValueError:
        tools = []
    return LocalAssistant(
        id=row[0],
        name=row[1],
        model=row[2],
        instructions=row[3],
        tools=tuple(t for t in tools if isinstance(t, dict)) if isinstance(tools, list) else (),
        temperature=row[5],
        created_at=row[6],
    )


class LocalAssistantBook:
    """One endpoint's local assistants: ``list``, ``get``, ``save``, ``delete``.

    The shape ``engines.responses.ResponsesEngine`` takes as ``assistants=``."""

    def __init__(self, store: Store, endpoint: str) -> None:
        self.store = store
        self.endpoint = endpoint

    def list(self) -> list[LocalAssistant]:
        return self.store.list_local_assistants(self.endpoint)

    def get(self, assistant_id: str) -> LocalAssistant | None:
        return self.store.get_local_assistant(self.endpoint, assistant_id)

    def save(self, assistant: LocalAssistant) -> LocalAssistant:
        return self.store.save_local_assistant(self.endpoint, assistant)

    def delete(self, assistant_id: str) -> bool:
        return self.store.delete_local_assistant(self.endpoint, assistant_id)
