"""The thread store under stress and damage: two real processes, damaged files, old files.

* Two processes on one data directory save threads at the same time and lose none: raw
  ``Store`` writers under heavy contention, and two real app processes typing messages.
* A damaged or unreadable store file is moved aside (with its -wal/-shm), a fresh store
  is started, and the app shows a notice about it once.
* Fixture databases of every earlier schema version (``tests/fixtures/store-v*.sqlite3``,
  written by that version's own code, see ``make_store_fixtures.py``) upgrade with their
  data intact.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.app import (
    SIZE,
    make_app,
    notices,
    ready,
)
from tui_assistant import paths
from tui_assistant.errors import StoreError
from tui_assistant.store import SCHEMA_VERSION, Store

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ROOT = Path(__file__).resolve().parents[2]
SAMPLE_DB = "local"
REMOTE = "https://assistants.example.com/v1"


def fixture_versions() -> dict[int, Path]:
    found = {}
    for path in FIXTURES.glob("store-v*.sqlite3"):
        match = re.fullmatch(r"store-v(\d+)\.sqlite3", path.name)
        if match:
            found[int(match.group(1))] = path
    return found


def schema_of(path: Path) -> set[tuple[str, str]]:
    db = sqlite3.connect(path)
    try:
        rows = db.execute("SELECT type, name FROM sqlite_master").fetchall()
    finally:
        db.close()
    return set(rows)


# --- upgrades from every earlier version ------------------------------------------------


def test_every_earlier_schema_version_has_a_fixture() -> None:
    missing = set(range(SCHEMA_VERSION)) - set(fixture_versions())
    assert not missing, (
        f"no fixture database for schema version(s) {sorted(missing)}: run "
        "tests/fixtures/make_store_fixtures.py with a revision that wrote that version"
    )


@pytest.mark.parametrize("version", sorted(fixture_versions()))
def test_fixture_of_an_earlier_version_upgrades_with_its_data(
    version: int, tmp_path: Path
) -> None:
    source = fixture_versions()[version]
    path = tmp_path / "threads.sqlite3"
    shutil.copyfile(source, path)
    with Store.open(path) as store:
        assert store.notice is None
        assert store.schema_version == SCHEMA_VERSION
        if version == 0:
            assert store.list_threads(SAMPLE_DB) == []
        else:
            local = store.list_threads(SAMPLE_DB)
            # pinned first, then most recently used; archived hidden
            assert [t.thread_id for t in local] == ["thread_beta", "thread_alpha"]
            beta = local[0]
            assert beta.title == "Déjà vu — naïve café ☕ 日本語"
            assert beta.pinned and not beta.archived and beta.preview == "unicode survives"
            assert beta.created_at == 1_700_000_100.0 and beta.last_used == 1_700_000_900.0
            everything = store.list_threads(SAMPLE_DB, include_archived=True)
            assert {t.thread_id for t in everything} == {
                "thread_alpha", "thread_beta", "thread_gamma"
            }
            assert [t.thread_id for t in store.list_threads(REMOTE)] == ["thread_remote"]
            cached = store.cached_messages(SAMPLE_DB, "thread_alpha")
            assert [(m.message_id, m.role) for m in cached] == [
                ("msg_a1", "user"), ("msg_a2", "assistant")
            ]
            assert store.get_state("last_thread:local") == "thread_beta"
            assert store.get_state("theme") == "textual-dark"
            if hasattr(store, "search_messages"):  # messages cached before search existed
                hits = store.search_messages(SAMPLE_DB, "tomatoes")
                assert [h.message_id for h in hits] == ["msg_a2"]
                hits = store.search_messages(SAMPLE_DB, "deja")  # accents folded
                assert {h.message_id for h in hits} == {"msg_b1", "msg_b2"}
        # The upgraded file carries on like a new one.
        store.add_thread(SAMPLE_DB, "thread_new", "asst_demo", "After the upgrade")
        assert store.get_thread(SAMPLE_DB, "thread_new") is not None
    fresh = tmp_path / "fresh.sqlite3"
    Store.open(fresh).close()
    assert schema_of(path) == schema_of(fresh)
    with Store.open(path) as again:  # nothing runs twice
        assert again.schema_version == SCHEMA_VERSION and again.notice is None


# --- damaged files -----------------------------------------------------------------------


def corrupt_copies(path: Path) -> list[Path]:
    return sorted(path.parent.glob(path.name + ".corrupt-*"))


def _garbage(path: Path) -> bytes:
    data = b"this is not a database at all\n" * 200
    path.write_bytes(data)
    return data


def _truncated(path: Path) -> bytes:
    shutil.copyfile(fixture_versions()[1], path)
    data = path.read_bytes()[:5000]  # the header says 8 pages; most are gone
    path.write_bytes(data)
    return data


def _scribbled(path: Path) -> bytes:
    shutil.copyfile(fixture_versions()[1], path)
    data = bytearray(path.read_bytes())
    data[100:4096] = b"\xa5" * (4096 - 100)  # the schema page
    path.write_bytes(bytes(data))
    return bytes(data)


@pytest.mark.parametrize("damage", [_garbage, _truncated, _scribbled])
def test_a_damaged_store_is_moved_aside_and_a_fresh_one_started(
    tmp_path: Path, damage
) -> None:
    path = tmp_path / "data" / "threads.sqlite3"
    path.parent.mkdir()
    original = damage(path)
    (path.parent / (path.name + "-wal")).write_bytes(b"stale wal")
    with Store.open(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.list_threads(SAMPLE_DB) == []
        store.add_thread(SAMPLE_DB, "thread_after", "asst")
        notice = store.notice
    assert notice is not None and "\n" not in notice
    (moved,) = corrupt_copies(path)
    assert str(moved) in notice and "new, empty store" in notice
    assert moved.read_bytes() == original  # kept byte for byte, for rescue
    old_wal = Path(str(moved) + "-wal")  # SQLite itself may drop a WAL this short
    assert not old_wal.exists() or old_wal.read_bytes() == b"stale wal"
    fresh_wal = path.parent / (path.name + "-wal")
    assert not fresh_wal.exists() or b"stale wal" not in fresh_wal.read_bytes()
    assert os.stat(path).st_mode & 0o777 == 0o600
    with Store.open(path) as store:  # the fresh store is kept, and no second notice
        assert store.notice is None
        assert [t.thread_id for t in store.list_threads(SAMPLE_DB)] == ["thread_after"]
    assert len(corrupt_copies(path)) == 1


@pytest.mark.skipif(os.name == "nt" or os.geteuid() == 0, reason="needs POSIX modes, not root")
def test_an_unreadable_store_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "threads.sqlite3"
    shutil.copyfile(fixture_versions()[1], path)
    path.chmod(0)
    with Store.open(path) as store:
        assert store.notice and "moved to" in store.notice
    (moved,) = corrupt_copies(path)
    assert moved.stat().st_mode & 0o777 == 0


def test_an_unreadable_store_is_moved_aside_even_as_root(tmp_path: Path, monkeypatch) -> None:
    """Root reads anything, so the permission error is made by hand here."""
    path = tmp_path / "threads.sqlite3"
    shutil.copyfile(fixture_versions()[1], path)
    real_open = os.open
    unreadable = {os.stat(path).st_ino}

    def refuse(file, flags, *args, **kwargs):
        if Path(file) == path and path.exists() and os.stat(path).st_ino in unreadable:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(StoreError, match="Permission denied"):
        Store.open(path, recover=False)
    store = Store.open(path)  # the unreadable file is moved; the new one is readable
    monkeypatch.undo()
    try:
        assert store.notice and "Permission denied" in store.notice
        assert store.list_threads(SAMPLE_DB) == []
    finally:
        store.close()
    assert len(corrupt_copies(path)) == 1


def test_a_newer_store_is_refused_not_moved(tmp_path: Path) -> None:
    path = tmp_path / "threads.sqlite3"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 3}")
    db.close()
    with pytest.raises(StoreError, match="newer tui-assistant"):
        Store.open(path)
    assert corrupt_copies(path) == []


def test_a_locked_store_is_not_mistaken_for_a_damaged_one(tmp_path: Path, monkeypatch) -> None:
    from tui_assistant import store as store_module

    path = tmp_path / "threads.sqlite3"
    # A file another program holds an exclusive lock on (rollback journal, so that even
    # reading waits), and that still needs migrating.
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE other (x)")
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_MS", 50)
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("INSERT INTO other VALUES (1)")
    try:
        with pytest.raises(StoreError, match="locked"):
            Store.open(path)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert corrupt_copies(path) == []


async def test_the_app_shows_the_store_notice_once(tmp_path: Path) -> None:
    path = paths.store_path()
    _garbage(path)
    store = Store.open(path)
    try:
        app = make_app(store)
        async with app.run_test(size=SIZE) as pilot:
            screen = await ready(pilot)
            shown = [text for text in notices(screen) if "could not be read" in text]
            assert len(shown) == 1 and ".corrupt-" in shown[0]
            assert any("could not be read" in line for line in screen.activity.entries)
            assert store.notice is None  # taken: it is shown once
    finally:
        store.close()
    again = Store.open(path)
    try:
        app = make_app(again)
        async with app.run_test(size=SIZE) as pilot:
            screen = await ready(pilot)
            assert not any("could not be read" in text for text in notices(screen))
    finally:
        again.close()


# --- opening at once ----------------------------------------------------------------------


def test_many_first_opens_of_a_new_file_at_once_all_succeed(tmp_path: Path) -> None:
    """Switching a new file to WAL makes SQLite answer BUSY at once (no busy handler)
    to the others switching it too; the store waits instead of failing."""
    import threading

    failures: list[BaseException] = []
    for trial in range(40):
        path = tmp_path / f"race-{trial}.sqlite3"

        def open_it(path: Path = path) -> None:
            try:
                Store.open(path).close()
            except BaseException as exc:  # surfaced below
                failures.append(exc)

        threads = [threading.Thread(target=open_it) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert failures == []


# --- two real processes ------------------------------------------------------------------


def _start(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _release(barrier: Path, names: list[str], procs: list[subprocess.Popen], timeout: float):
    deadline = time.monotonic() + timeout
    while not all((barrier / f"ready-{name}").exists() for name in names):
        for proc in procs:
            if proc.poll() is not None:
                raise AssertionError(f"a writer ended early: {proc.communicate()}")
        if time.monotonic() > deadline:
            raise AssertionError("the writers did not get ready")
        time.sleep(0.02)
    (barrier / "go").touch()


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    db = tmp_path / "data" / "threads.sqlite3"
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    count = 250
    writer = str(FIXTURES / "store_writer.py")
    procs = [_start([writer, str(db), name, str(count), str(barrier)]) for name in ("a", "b")]
    _release(barrier, ["a", "b"], procs, timeout=30)
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert out.strip() == f"done {count}"
    with Store.open(db) as store:
        saved = {t.thread_id for t in store.list_threads("local")}
        assert saved == {f"{p}-{i}" for p in "ab" for i in range(count)}
        assert store.get_state("last_thread:a") == f"a-{count - 1}"
        assert store.get_state("last_thread:b") == f"b-{count - 1}"
        (messages,) = store._db.execute("SELECT COUNT(*) FROM messages").fetchone()
        assert messages == 2 * count


def test_two_app_processes_on_one_data_dir_lose_no_thread(tmp_path: Path) -> None:
    home = Path(os.environ["TUI_ASSISTANT_HOME"])
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    count = 4
    env = {"TUI_ASSISTANT_HOME": str(home), "OPENAI_API_KEY": "", "OPENAI_BASE_URL": ""}
    app = str(FIXTURES / "app_writer.py")
    procs = [_start([app, name, str(count), str(barrier)], env) for name in ("left", "right")]
    try:
        _release(barrier, ["left", "right"], procs, timeout=90)
        created: list[str] = []
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err[-2000:]
            ids = json.loads(out.strip().splitlines()[-1])
            assert len(ids) == count and len(set(ids)) == count
            created += ids
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    with Store.open(paths.store_path()) as store:
        saved = store.list_threads("local")
        assert {t.thread_id for t in saved} == set(created)
        titles = {t.title for t in saved}
        assert titles == {f"{p} message {i}" for p in ("left", "right") for i in range(count)}
