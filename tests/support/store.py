"""Store files made by hand, for upgrade tests."""

from __future__ import annotations

import sqlite3
from pathlib import Path

EP = "https://assistants.example.com/v1"


V1_SCHEMA = (
    """CREATE TABLE threads (
        endpoint TEXT NOT NULL, thread_id TEXT NOT NULL,
        assistant_id TEXT NOT NULL DEFAULT '', title TEXT NOT NULL,
        created_at REAL NOT NULL, last_used REAL NOT NULL,
        preview TEXT NOT NULL DEFAULT '', pinned INTEGER NOT NULL DEFAULT 0,
        archived INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (endpoint, thread_id)) WITHOUT ROWID""",
    "CREATE INDEX threads_recent ON threads (endpoint, pinned DESC, last_used DESC)",
    """CREATE TABLE messages (
        endpoint TEXT NOT NULL, thread_id TEXT NOT NULL, message_id TEXT NOT NULL,
        role TEXT NOT NULL, text TEXT NOT NULL, created_at REAL NOT NULL,
        position INTEGER NOT NULL,
        PRIMARY KEY (endpoint, thread_id, message_id),
        FOREIGN KEY (endpoint, thread_id) REFERENCES threads (endpoint, thread_id)
            ON DELETE CASCADE)""",
    "CREATE INDEX messages_order ON messages (endpoint, thread_id, created_at, position)",
    "CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)


def make_v1_by_hand(path: Path) -> None:
    """A version-1 file with some data, written without the Store class."""
    db = sqlite3.connect(path)
    for statement in V1_SCHEMA:
        db.execute(statement)
    db.execute(
        "INSERT INTO threads VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (EP, "thread_old", "asst_1", "Old thread", 100.0, 200.0, "hello", 1, 0),
    )
    db.execute(
        "INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?)",
        (EP, "thread_old", "msg_1", "user", "hello there", 150.0, 0),
    )
    db.execute("INSERT INTO state VALUES ('last_thread', 'thread_old')")
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()


def schema_of(path: Path) -> set[tuple[str, str, str]]:
    db = sqlite3.connect(path)
    try:
        rows = db.execute("SELECT type, name, tbl_name FROM sqlite_master").fetchall()
    finally:
        db.close()
    return {tuple(row) for row in rows}
