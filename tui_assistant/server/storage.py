"""SQLite storage for the local server.

Each object is stored as its wire JSON (the exact body the API returns) next to the few
columns that queries need. Rows are ordered by an autoincrement ``seq``, which is what
list cursors (``after``/``before``) compare, because ``created_at`` has one-second
resolution. The connection is used from the server's event loop thread only; calls are
short and synchronous. A file database uses WAL with ``synchronous=NORMAL``.

Everything the server writes next to the database (the database itself, its WAL files,
the lock file) is private to the user: mode 0600.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

from tui_assistant.server.validation import bad_request

SCHEMA_VERSION = 2
"""Version 2 added the ``files`` table (files are also created in older databases)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS assistants (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS threads (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    thread_id TEXT NOT NULL,
    run_id TEXT,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_thread ON messages (thread_id, seq);
CREATE TABLE IF NOT EXISTS runs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    thread_id TEXT NOT NULL,
    status TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_thread ON runs (thread_id, seq);
CREATE TABLE IF NOT EXISTS steps (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    thread_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS steps_by_run ON steps (run_id, seq);
CREATE TABLE IF NOT EXISTS files (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    purpose TEXT NOT NULL,
    body TEXT NOT NULL
);
"""

_TABLES = {
    "assistants": (),
    "threads": (),
    "messages": ("thread_id", "run_id"),
    "runs": ("thread_id", "status"),
    "steps": ("thread_id", "run_id"),
    "files": ("purpose",),
}

ACTIVE_RUN_STATUSES = ("queued", "in_progress", "requires_action", "cancelling")


PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


def make_private(path: str | Path) -> None:
    """Make an existing file readable and writable by its owner only (best effort)."""
    try:
        os.chmod(path, PRIVATE_FILE_MODE)
    except OSError:
        pass


def open_private(path: str | Path, flags: int) -> int:
    """``os.open`` that creates the file with mode 0600 and fixes the mode of an old one."""
    fd = os.open(path, flags | os.O_CREAT, PRIVATE_FILE_MODE)
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)
    except OSError:  # pragma: no cover - not the owner
        pass
    return fd


def dumps(obj: Any) -> str:
    """Compact JSON, as sent on the wire."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


class Storage:
    """The server's objects in one SQLite database (a file, or memory when ``path`` is None).

    Several servers may share a database file (two app windows, say). ``sole_user`` tells
    whether this one was alone when it opened the file: only then may it settle runs that
    look unfinished, since otherwise they may belong to a server that is still running
    them. Each server holds a shared advisory lock on ``<file>.lock`` while it runs.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._lock_file: Any = None
        self.sole_user = True
        if path is not None:
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            target = str(path)
            os.close(open_private(path, os.O_RDWR))
            self.sole_user = self._claim(path)
        else:
            target = ":memory:"
        self._db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        if path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        if path is not None:
            # SQLite gives the WAL files the database's mode; older ones may predate that.
            for suffix in ("-wal", "-shm", "-journal"):
                if os.path.exists(f"{path}{suffix}"):
                    make_private(f"{path}{suffix}")

    def _claim(self, path: Path) -> bool:
        """Take the lock file: exclusively if no other server holds it, else shared."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            return True
        fd = open_private(f"{path}.lock", os.O_WRONLY | os.O_APPEND)
        self._lock_file = os.fdopen(fd, "a")  # held until close()
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            fcntl.flock(self._lock_file, fcntl.LOCK_SH)
            return False

    def share(self) -> None:
        """Let other servers open the database too (after start-up recovery)."""
        if self._lock_file is not None:
            import fcntl

            fcntl.flock(self._lock_file, fcntl.LOCK_SH)

    def close(self) -> None:
        self._db.close()
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    # --- single objects -------------------------------------------------------------

    def insert(self, table: str, obj: dict[str, Any], **columns: Any) -> None:
        cols = ["id", "body", *_TABLES[table]]
        values = [obj["id"], dumps(obj), *(columns.get(c) for c in _TABLES[table])]
        marks = ",".join("?" * len(cols))
        self._db.execute(f"INSERT INTO {table} ({','.join(cols)}) VALUES ({marks})", values)

    def save(self, table: str, obj: dict[str, Any], **columns: Any) -> None:
        """Replace the stored body of ``obj`` (and any of the given columns)."""
        sets = ["body=?"]
        values: list[Any] = [dumps(obj)]
        for name, value in columns.items():
            if name not in _TABLES[table]:
                raise KeyError(name)
            sets.append(f"{name}=?")
            values.append(value)
        values.append(obj["id"])
        self._db.execute(f"UPDATE {table} SET {','.join(sets)} WHERE id=?", values)

    def get(self, table: str, object_id: str, **scope: str) -> dict[str, Any] | None:
        raw = self.get_raw(table, object_id, **scope)
        return None if raw is None else json.loads(raw)

    def get_raw(self, table: str, object_id: str, **scope: str) -> str | None:
        where, values = self._where(table, scope)
        row = self._db.execute(
            f"SELECT body FROM {table} WHERE id=?{where}", [object_id, *values]
        ).fetchone()
        return None if row is None else row[0]

    def delete(self, table: str, object_id: str) -> None:
        self._db.execute(f"DELETE FROM {table} WHERE id=?", [object_id])

    def delete_thread(self, thread_id: str) -> None:
        """Delete a thread with its messages, runs and run steps, in one transaction."""
        self._db.execute("BEGIN")
        try:
            for table in ("messages", "runs", "steps"):
                self._db.execute(f"DELETE FROM {table} WHERE thread_id=?", [thread_id])
            self._db.execute("DELETE FROM threads WHERE id=?", [thread_id])
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def count(self, table: str) -> int:
        return self._db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

    # --- queries --------------------------------------------------------------------

    def all(self, table: str, **scope: str) -> list[dict[str, Any]]:
        """Every object in ``table`` matching ``scope``, oldest first."""
        where, values = self._where(table, scope, first=True)
        rows = self._db.execute(f"SELECT body FROM {table}{where} ORDER BY seq", values)
        return [json.loads(row[0]) for row in rows]

    def active_run_id(self, thread_id: str) -> str | None:
        marks = ",".join("?" * len(ACTIVE_RUN_STATUSES))
        row = self._db.execute(
            f"SELECT id FROM runs WHERE thread_id=? AND status IN ({marks}) "
            "ORDER BY seq DESC LIMIT 1",
            [thread_id, *ACTIVE_RUN_STATUSES],
        ).fetchone()
        return None if row is None else row[0]

    def unfinished_runs(self) -> list[dict[str, Any]]:
        marks = ",".join("?" * len(ACTIVE_RUN_STATUSES))
        rows = self._db.execute(
            f"SELECT body FROM runs WHERE status IN ({marks}) ORDER BY seq",
            list(ACTIVE_RUN_STATUSES),
        )
        return [json.loads(row[0]) for row in rows]

    def page(
        self,
        table: str,
        *,
        limit: int,
        order: str,
        after: str | None = None,
        before: str | None = None,
        **scope: str,
    ) -> tuple[list[str], bool]:
        """One page of raw JSON bodies, in ``order``, and whether more lie beyond it.

        ``after`` and ``before`` are ids of objects in the same scope; the page holds the
        objects that come after (or before) them in the requested order, nearest first.
        """
        where, values = self._where(table, scope, first=True)
        clauses = [where] if where else []
        descending = order == "desc"
        for cursor, name in ((after, "after"), (before, "before")):
            if cursor is None:
                continue
            seq = self._seq(table, cursor, scope, name)
            # In descending order "after" means older, i.e. a smaller seq.
            later = (name == "after") != descending
            clauses.append(f"{' AND' if clauses else ' WHERE'} seq {'>' if later else '<'} ?")
            values.append(seq)
        # Pages taken with only "before" are read from the cursor outwards, then reversed.
        backwards = before is not None and after is None
        ascending_scan = descending == backwards
        sql = (
            f"SELECT body FROM {table}{''.join(clauses)} "
            f"ORDER BY seq {'ASC' if ascending_scan else 'DESC'} LIMIT ?"
        )
        rows = [row[0] for row in self._db.execute(sql, [*values, limit + 1])]
        has_more = len(rows) > limit
        rows = rows[:limit]
        if backwards:
            rows.reverse()
        return rows, has_more

    # --- helpers --------------------------------------------------------------------

    def _seq(self, table: str, object_id: str, scope: dict[str, str], param: str) -> int:
        where, values = self._where(table, scope)
        row = self._db.execute(
            f"SELECT seq FROM {table} WHERE id=?{where}", [object_id, *values]
        ).fetchone()
        if row is None:
            raise bad_request(
                f"Invalid '{param}': no object with id '{object_id}' in this list.", param=param
            )
        return row[0]

    @staticmethod
    def _where(table: str, scope: dict[str, str], first: bool = False) -> tuple[str, list]:
        if not scope:
            return "", []
        names = list(scope)
        for name in names:
            if name not in _TABLES[table]:
                raise KeyError(name)
        joined = " AND ".join(f"{name}=?" for name in names)
        return (" WHERE " if first else " AND ") + joined, [scope[n] for n in names]
