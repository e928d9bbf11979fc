"""store.py: saved threads, cached messages, state, schema versions, concurrency."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
import time
from pathlib import Path

import pytest

from tests.support.store import EP, make_v1_by_hand, schema_of
from tui_assistant import store as store_module
from tui_assistant.errors import StoreError
from tui_assistant.store import (
    MIGRATIONS,
    SCHEMA_VERSION,
    CachedMessage,
    SavedThread,
    Store,
    title_from_text,
)

# The version-1 schema exactly as the first release wrote it. Never edit this copy: it is
# how the tests know that an old file still upgrades to what a fresh store looks like.


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUI_ASSISTANT_HOME", str(tmp_path / "tui-home"))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "threads.sqlite3"


@pytest.fixture
def store(db_path: Path):
    with Store.open(db_path) as opened:
        yield opened


# --- Opening ----------------------------------------------------------------------------


def test_open_creates_the_file_in_wal_mode(db_path: Path) -> None:
    with Store.open(db_path) as store:
        assert db_path.exists()
        assert store.schema_version == SCHEMA_VERSION == len(MIGRATIONS)
        assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store._db.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
        assert store._db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        store.add_thread(EP, "thread_1", "asst_1")
    if os.name != "nt":
        assert stat.S_IMODE(db_path.stat().st_mode) == 0o600
        assert stat.S_IMODE(db_path.parent.stat().st_mode) == 0o700


def test_reopen_persists(db_path: Path) -> None:
    with Store.open(db_path) as store:
        store.add_thread(EP, "thread_1", "asst_1", "First")
        store.set_state("last_thread", "thread_1")
        store.cache_messages(EP, "thread_1", [CachedMessage("m1", "user", "hi", 1.0)])
    with Store.open(db_path) as store:
        saved = store.get_thread(EP, "thread_1")
        assert saved is not None and saved.title == "First"
        assert store.get_state("last_thread") == "thread_1"
        assert store.cached_messages(EP, "thread_1") == [CachedMessage("m1", "user", "hi", 1.0)]


def test_add_thread_is_committed_before_it_returns(db_path: Path, store: Store) -> None:
    store.add_thread(EP, "thread_1", "asst_1")
    other = sqlite3.connect(db_path)  # another process's view
    try:
        rows = other.execute("SELECT thread_id FROM threads").fetchall()
    finally:
        other.close()
    assert rows == [("thread_1",)]


def test_garbage_file_is_a_store_error_without_recovery(db_path: Path) -> None:
    # By default a damaged file is moved aside (tests/test_store_safety.py).
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(StoreError) as info:
        Store.open(db_path, recover=False)
    message = str(info.value)
    assert str(db_path) in message and "\n" not in message


def test_unusable_location_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot open thread store"):
        Store.open(blocker / "threads.sqlite3")


def test_newer_schema_is_refused_untouched(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    db = sqlite3.connect(db_path)
    db.execute("CREATE TABLE future (x)")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="newer tui-assistant"):
        Store.open(db_path)
    assert ("table", "future", "future") in schema_of(db_path)


def test_closed_store_raises_store_error(db_path: Path) -> None:
    store = Store.open(db_path)
    store.close()
    store.close()
    with pytest.raises(StoreError):
        store.list_threads(EP)


# --- Migrations -------------------------------------------------------------------------


def test_a_hand_made_v1_file_opens_and_keeps_its_data(db_path: Path, tmp_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    make_v1_by_hand(db_path)
    with Store.open(db_path) as store:
        assert store.schema_version == SCHEMA_VERSION
        saved = store.get_thread(EP, "thread_old")
        assert saved == SavedThread(
            EP, "thread_old", "asst_1", "Old thread", 100.0, 200.0, "hello", True, False
        )
        assert store.cached_messages(EP, "thread_old")[0].text == "hello there"
        assert store.get_state("last_thread") == "thread_old"
    fresh = tmp_path / "fresh.sqlite3"
    Store.open(fresh).close()
    assert schema_of(db_path) == schema_of(fresh)


@pytest.mark.parametrize("start", range(SCHEMA_VERSION))
def test_upgrade_from_every_earlier_version(tmp_path: Path, start: int) -> None:
    path = tmp_path / f"v{start}.sqlite3"
    db = sqlite3.connect(path)
    for step in MIGRATIONS[:start]:
        if callable(step):
            step(db)
        else:
            for statement in step:
                db.execute(statement)
    db.execute(f"PRAGMA user_version = {start}")
    db.commit()
    db.close()
    with Store.open(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        store.add_thread(EP, "t", "a")
        assert [t.thread_id for t in store.list_threads(EP)] == ["t"]


def test_a_new_step_upgrades_an_existing_file(db_path: Path, monkeypatch) -> None:
    db_path.parent.mkdir(parents=True)
    make_v1_by_hand(db_path)

    def add_colour(db: sqlite3.Connection) -> None:
        db.execute("ALTER TABLE threads ADD COLUMN colour TEXT NOT NULL DEFAULT 'grey'")

    monkeypatch.setattr(
        store_module, "MIGRATIONS", [*MIGRATIONS, ("CREATE TABLE tags (name TEXT)",), add_colour]
    )
    with Store.open(db_path) as store:
        assert store.schema_version == SCHEMA_VERSION + 2
        assert store.get_thread(EP, "thread_old") is not None
        (colour,) = store._db.execute("SELECT colour FROM threads").fetchone()
        assert colour == "grey"
    with Store.open(db_path) as store:  # nothing runs twice
        assert store.schema_version == SCHEMA_VERSION + 2


def test_a_failing_step_leaves_the_file_as_it_was(db_path: Path, monkeypatch) -> None:
    db_path.parent.mkdir(parents=True)
    make_v1_by_hand(db_path)

    def broken(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE half_done (x)")
        raise sqlite3.OperationalError("disk says no")

    monkeypatch.setattr(store_module, "MIGRATIONS", [*MIGRATIONS, broken])
    with pytest.raises(StoreError, match="disk says no"):
        Store.open(db_path)
    monkeypatch.undo()
    assert not any(name == "half_done" for _, name, _ in schema_of(db_path))
    with Store.open(db_path) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.get_thread(EP, "thread_old") is not None


# --- Threads ----------------------------------------------------------------------------


def test_add_and_get(store: Store) -> None:
    before = time.time()
    saved = store.add_thread(EP, "thread_1", "asst_1", "  Refactor\nplan  ")
    assert saved.endpoint == EP and saved.thread_id == "thread_1"
    assert saved.assistant_id == "asst_1"
    assert saved.title == "Refactor plan"
    assert before <= saved.created_at == saved.last_used <= time.time()
    assert (saved.preview, saved.pinned, saved.archived) == ("", False, False)
    assert store.get_thread(EP, "thread_1") == saved
    assert store.get_thread(EP, "missing") is None
    assert store.get_thread("local", "thread_1") is None  # endpoints are kept apart


def test_add_twice_returns_the_saved_thread(store: Store) -> None:
    first = store.add_thread(EP, "thread_1", "asst_1", "First")
    again = store.add_thread(EP, "thread_1", "asst_2", "Second")
    assert again == first
    assert len(store.list_threads(EP)) == 1


def test_empty_title_becomes_default(store: Store) -> None:
    assert store.add_thread(EP, "t", "a", " \n ").title == "New thread"
    assert store.add_thread(EP, "u", "a").title == "New thread"


def test_list_orders_pinned_first_then_recently_used(store: Store) -> None:
    for i, thread_id in enumerate(["a", "b", "c", "d"]):
        store.add_thread(EP, thread_id, "asst")
        store.touch(EP, thread_id, when=1000.0 + i)
    store.add_thread("local", "elsewhere", "asst")
    assert [t.thread_id for t in store.list_threads(EP)] == ["d", "c", "b", "a"]
    store.set_pinned(EP, "a")
    store.set_pinned(EP, "b")
    assert [t.thread_id for t in store.list_threads(EP)] == ["b", "a", "d", "c"]
    store.touch(EP, "c", when=2000.0)
    assert [t.thread_id for t in store.list_threads(EP)] == ["b", "a", "c", "d"]
    store.set_pinned(EP, "b", False)
    assert [t.thread_id for t in store.list_threads(EP)] == ["a", "c", "d", "b"]
    assert [t.thread_id for t in store.list_threads(EP, limit=2)] == ["a", "c"]


def test_archived_threads_are_hidden_unless_asked_for(store: Store) -> None:
    store.add_thread(EP, "a", "asst")
    store.add_thread(EP, "b", "asst")
    assert store.set_archived(EP, "a")
    assert [t.thread_id for t in store.list_threads(EP)] == ["b"]
    listed = store.list_threads(EP, include_archived=True)
    assert {t.thread_id for t in listed} == {"a", "b"}
    assert next(t for t in listed if t.thread_id == "a").archived
    store.set_archived(EP, "a", False)
    assert len(store.list_threads(EP)) == 2


def test_updates(store: Store) -> None:
    store.add_thread(EP, "t", "asst_1")
    assert store.rename_thread(EP, "t", "Corn flakes")
    assert store.set_assistant(EP, "t", "asst_2")
    assert store.touch(EP, "t", preview="line one\nline two " + "x" * 300, when=5.0)
    saved = store.get_thread(EP, "t")
    assert saved is not None
    assert (saved.title, saved.assistant_id, saved.last_used) == ("Corn flakes", "asst_2", 5.0)
    assert saved.preview.startswith("line one line two") and "\n" not in saved.preview
    assert len(saved.preview) <= 120 and saved.preview.endswith("…")
    store.touch(EP, "t", when=6.0)
    assert store.get_thread(EP, "t").preview == saved.preview  # kept when not given
    assert not store.rename_thread(EP, "missing", "x")
    assert not store.touch(EP, "missing")


def test_delete_removes_the_thread_and_its_messages(db_path: Path, store: Store) -> None:
    store.add_thread(EP, "t", "asst")
    store.add_thread(EP, "keep", "asst")
    store.cache_messages(EP, "t", [CachedMessage("m1", "user", "hi", 1.0)])
    store.cache_messages(EP, "keep", [CachedMessage("m2", "user", "yo", 1.0)])
    assert store.delete_thread(EP, "t")
    assert store.get_thread(EP, "t") is None
    assert store.cached_messages(EP, "t") == []
    assert not store.delete_thread(EP, "t")
    (count,) = store._db.execute("SELECT COUNT(*) FROM messages").fetchone()
    assert count == 1
    assert store.cached_messages(EP, "keep")[0].text == "yo"


def test_ten_thousand_threads_list_in_order_through_the_index(db_path: Path) -> None:
    # The time it takes is measured by bench/threads.py, not asserted here.
    with Store.open(db_path) as store:
        rows = [
            (EP, f"thread_{i:05d}", "asst", f"Thread {i}", float(i), float(i), "", int(i % 97 == 0))
            for i in range(10_000)
        ]
        with store._transaction() as db:
            db.executemany(
                "INSERT INTO threads (endpoint, thread_id, assistant_id, title, created_at,"
                " last_used, preview, pinned) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        threads = store.list_threads(EP)
        assert len(threads) == 10_000
        assert threads[0].pinned and threads[0].thread_id == "thread_09991"
        assert not threads[104].pinned and threads[104].thread_id == "thread_09999"
        plan = " ".join(
            str(row)
            for row in store._db.execute(
                "EXPLAIN QUERY PLAN SELECT thread_id FROM threads WHERE endpoint = ?"
                " ORDER BY pinned DESC, last_used DESC LIMIT 50",
                (EP,),
            )
        )
        assert "threads_recent" in plan
        store.add_thread(EP, "thread_new", "asst")
        store.touch(EP, "thread_new", preview="hi")
        # The newest activity comes right after the 104 pinned threads.
        assert store.list_threads(EP)[104].thread_id == "thread_new"


# --- Cached messages --------------------------------------------------------------------


def test_cached_messages_newest_limit_oldest_first(store: Store) -> None:
    store.add_thread(EP, "t", "asst")
    store.cache_messages(
        EP,
        "t",
        [
            CachedMessage(f"m{i}", "user" if i % 2 else "assistant", f"text {i}", i)
            for i in range(10)
        ],
    )
    assert [m.message_id for m in store.cached_messages(EP, "t", limit=3)] == ["m7", "m8", "m9"]
    assert len(store.cached_messages(EP, "t")) == 10
    assert store.cached_messages(EP, "t")[0] == CachedMessage("m0", "assistant", "text 0", 0)


def test_cached_messages_upsert_by_id(store: Store) -> None:
    store.add_thread(EP, "t", "asst")
    store.cache_messages(
        EP,
        "t",
        [CachedMessage("m1", "user", "hello", 10.0), CachedMessage("m2", "assistant", "Hi", 10.0)],
    )
    # The reply finishes streaming: same id, full text.
    assert store.cache_messages(EP, "t", [CachedMessage("m2", "assistant", "Hi there!", 10.0)]) == 1
    assert store.cached_messages(EP, "t") == [
        CachedMessage("m1", "user", "hello", 10.0),
        CachedMessage("m2", "assistant", "Hi there!", 10.0),
    ]


def test_equal_timestamps_keep_the_order_first_cached(store: Store) -> None:
    store.add_thread(EP, "t", "asst")
    store.cache_messages(EP, "t", [CachedMessage("z-user", "user", "q", 50.0)])
    store.cache_messages(EP, "t", [CachedMessage("a-reply", "assistant", "a", 50.0)])
    store.cache_messages(EP, "t", [CachedMessage("older", "user", "o", 40.0)])  # "load older"
    ids = [m.message_id for m in store.cached_messages(EP, "t")]
    assert ids == ["older", "z-user", "a-reply"]


def test_messages_for_an_unsaved_thread_are_not_kept(store: Store) -> None:
    assert store.cache_messages(EP, "ghost", [CachedMessage("m", "user", "x", 1.0)]) == 0
    assert store.cache_messages(EP, "ghost", []) == 0
    assert store.cached_messages(EP, "ghost") == []


# --- State ------------------------------------------------------------------------------


def test_state(store: Store) -> None:
    assert store.get_state("last_thread:local") is None
    assert store.get_state("last_thread:local", "fallback") == "fallback"
    store.set_state("last_thread:local", "t1")
    store.set_state("last_thread:local", "t2")
    assert store.get_state("last_thread:local") == "t2"
    store.set_state("last_thread:local", None)
    assert store.get_state("last_thread:local") is None


# --- Concurrency ------------------------------------------------------------------------


def test_two_stores_on_one_file_lose_nothing(db_path: Path) -> None:
    first, second = Store.open(db_path), Store.open(db_path)
    errors: list[BaseException] = []
    per_writer = 150

    def write(store: Store, prefix: str) -> None:
        try:
            for i in range(per_writer):
                store.add_thread(EP, f"{prefix}{i}", "asst")
                store.touch(EP, f"{prefix}{i}", preview=f"{prefix} {i}")
                store.cache_messages(EP, f"{prefix}{i}", [CachedMessage("m", "user", "x", i)])
                store.set_state(f"last:{prefix}", str(i))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    writers = [
        threading.Thread(target=write, args=(first, "a")),
        threading.Thread(target=write, args=(second, "b")),
        threading.Thread(target=write, args=(first, "c")),  # one Store shared by threads
    ]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    first.close()
    second.close()
    assert errors == []
    with Store.open(db_path) as store:
        assert len(store.list_threads(EP)) == 3 * per_writer
        assert store.get_state("last:b") == str(per_writer - 1)
        (count,) = store._db.execute("SELECT COUNT(*) FROM messages").fetchone()
        assert count == 3 * per_writer


def test_two_stores_opening_a_new_file_at_once(tmp_path: Path) -> None:
    path = tmp_path / "race.sqlite3"
    opened: list[Store] = []
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            opened.append(Store.open(path))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert all(store.schema_version == SCHEMA_VERSION for store in opened)
    for store in opened:
        store.close()


# --- Titles -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("Refactor plan", "Refactor plan"),
        ("  Corn   flakes\n\nare they good?", "Corn flakes"),
        ("", "New thread"),
        ("\n \n", "New thread"),
        ("```python\nprint('hi')\n```", "print('hi')"),
        ("# Heading here\nbody", "Heading here"),
        ("> quoted question", "quoted question"),
        ("- a list item", "a list item"),
        ("word " * 30, "word word word word word word word word word…"),
        ("x" * 100, "x" * 47 + "…"),
    ],
)
def test_title_from_text(text: str, title: str) -> None:
    result = title_from_text(text)
    assert result == title
    assert len(result) <= 48 and "\n" not in result


def test_title_respects_max_len() -> None:
    assert title_from_text("Explain the difference between threads and runs", 20) == (
        "Explain the…"
    )
    assert len(title_from_text("a" * 50, 10)) == 10
