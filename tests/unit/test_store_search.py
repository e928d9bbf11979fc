"""store.py, schema 2: full-text search over cached messages, recorded runs and usage."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.support.store import EP, make_v1_by_hand, schema_of
from tui_assistant.store import (
    HIT_END,
    HIT_START,
    SCHEMA_VERSION,
    CachedMessage,
    Store,
    ThreadUsage,
    fts_query,
)

OTHER = "http://127.0.0.1:9/v1"


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


def fill(store: Store, endpoint: str = EP) -> None:
    store.add_thread(endpoint, "t_cook", "a", "Cooking")
    store.add_thread(endpoint, "t_code", "a", "Code")
    store.cache_messages(endpoint, "t_cook", [
        CachedMessage("m1", "user", "How long do I boil an egg?", 1.0),
        CachedMessage("m2", "assistant", "Boil the egg for seven minutes.", 2.0),
    ])
    store.cache_messages(endpoint, "t_code", [
        CachedMessage("m3", "user", "Write a Python function that reverses a list", 3.0),
        CachedMessage("m4", "assistant", "```python\ndef rev(xs):\n    return xs[::-1]\n```", 4.0),
    ])


def hits(store: Store, query: str, endpoint: str = EP) -> list[tuple[str, str]]:
    return [(h.thread_id, h.message_id) for h in store.search_messages(endpoint, query)]


# --- upgrading -----------------------------------------------------------------------


def test_a_v1_file_upgrades_and_its_old_messages_are_searchable(
    db_path: Path, tmp_path: Path
) -> None:
    db_path.parent.mkdir(parents=True)
    make_v1_by_hand(db_path)  # holds msg_1 "hello there" in thread_old
    with Store.open(db_path) as store:
        assert store.schema_version == SCHEMA_VERSION >= 2
        assert hits(store, "hello") == [("thread_old", "msg_1")]
        # And the index keeps up with writes made after the upgrade.
        store.cache_messages(EP, "thread_old", [CachedMessage("msg_2", "assistant", "hi back", 2)])
        assert hits(store, "back") == [("thread_old", "msg_2")]
        assert store.thread_usage(EP, "thread_old") == ThreadUsage()
    fresh = tmp_path / "fresh.sqlite3"
    Store.open(fresh).close()
    assert schema_of(db_path) == schema_of(fresh)


# --- search --------------------------------------------------------------------------


def test_search_finds_words_in_any_thread_with_a_highlighted_snippet(store: Store) -> None:
    fill(store)
    assert set(hits(store, "egg")) == {("t_cook", "m1"), ("t_cook", "m2")}
    [hit] = store.search_messages(EP, "reverses")
    assert (hit.thread_id, hit.title, hit.role) == ("t_code", "Code", "user")
    assert f"{HIT_START}reverses{HIT_END}" in hit.snippet
    # Every word must occur; case and accents do not matter.
    assert hits(store, "BOIL seven") == [("t_cook", "m2")]
    assert hits(store, "boil python") == []
    assert set(hits(store, "Pythön")) == {("t_code", "m3"), ("t_code", "m4")}


def test_the_last_word_matches_as_a_prefix_while_typing(store: Store) -> None:
    fill(store)
    assert hits(store, "minu") == [("t_cook", "m2")]
    assert hits(store, "minu ") == []  # a finished word matches whole only
    assert hits(store, "rev") and all(t == "t_code" for t, _ in hits(store, "rev"))


@pytest.mark.parametrize(
    "query",
    ['"', "egg AND", "NEAR(egg", "text:egg", "*", "egg OR boil)", "-egg", "^egg", "'; DROP"],
)
def test_fts_syntax_in_a_query_is_just_text(store: Store, query: str) -> None:
    fill(store)
    store.search_messages(EP, query)  # never raises


def test_queries_without_words_find_nothing(store: Store) -> None:
    fill(store)
    assert store.search_messages(EP, "") == []
    assert store.search_messages(EP, "  ?! ") == []
    assert fts_query("a b") == '"a" "b"*'
    assert fts_query('say "hi" ') == '"say" "hi"'


def test_search_follows_updates_and_deletes(store: Store) -> None:
    fill(store)
    store.cache_messages(EP, "t_cook", [CachedMessage("m2", "assistant", "Poach it instead.", 2)])
    assert hits(store, "seven") == []
    assert hits(store, "poach") == [("t_cook", "m2")]
    store.delete_thread(EP, "t_cook")
    assert hits(store, "egg") == [] and hits(store, "poach") == []
    assert set(hits(store, "python")) == {("t_code", "m3"), ("t_code", "m4")}
    # The index holds nothing that the messages table does not.
    (count,) = store._db.execute("SELECT COUNT(*) FROM messages_fts").fetchone()
    assert count == 2
    store._db.execute("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')")


def test_search_is_per_endpoint_and_includes_archived_threads(store: Store) -> None:
    fill(store)
    store.add_thread(OTHER, "t_far", "a", "Elsewhere")
    store.cache_messages(OTHER, "t_far", [CachedMessage("m9", "user", "egg elsewhere", 1)])
    assert ("t_far", "m9") not in hits(store, "egg")
    assert hits(store, "egg", OTHER) == [("t_far", "m9")]
    store.set_archived(EP, "t_cook")
    [hit, *_] = store.search_messages(EP, "seven")
    assert hit.archived


def test_search_over_many_threads_ranks_and_limits(store: Store) -> None:
    # How fast this is goes in bench/threads.py; here, that the answer is right.
    for t in range(200):
        store.add_thread(EP, f"t{t}", "a", f"Thread {t}")
        store.cache_messages(EP, f"t{t}", [
            CachedMessage(f"m{t}_{i}", "user", f"message {i} of thread {t} about topic{t % 7}", i)
            for i in range(25)
        ])
    found = store.search_messages(EP, "topic3 thread", limit=50)
    assert len(found) == 50
    assert {hit.thread_id for hit in found} <= {f"t{t}" for t in range(200) if t % 7 == 3}


# --- runs and usage ------------------------------------------------------------------


def test_runs_are_recorded_and_summed_per_thread(store: Store) -> None:
    fill(store)
    assert store.record_run(EP, "t_cook", "run_1", "completed", prompt_tokens=10,
                            completion_tokens=5, total_tokens=15, created_at=1)
    assert store.record_run(EP, "t_cook", "run_2", "cancelled", total_tokens=7, created_at=2)
    # Recording a run again updates it rather than counting it twice.
    assert store.record_run(EP, "t_cook", "run_2", "completed", prompt_tokens=3,
                            completion_tokens=4, total_tokens=7, created_at=2)
    assert not store.record_run(EP, "t_unsaved", "run_3", "completed", total_tokens=99)
    assert store.thread_usage(EP, "t_cook") == ThreadUsage(2, 13, 9, 22)
    assert store.thread_usage(EP, "t_code") == ThreadUsage()
    assert [(r.run_id, r.status) for r in store.list_runs(EP, "t_cook")] == [
        ("run_1", "completed"),
        ("run_2", "completed"),
    ]
    store.delete_thread(EP, "t_cook")
    assert store.list_runs(EP, "t_cook") == []
    (left,) = store._db.execute("SELECT COUNT(*) FROM runs").fetchone()
    assert left == 0


def test_a_current_file_is_not_migrated_again(db_path: Path) -> None:
    with Store.open(db_path) as store:
        fill(store)
    db = sqlite3.connect(db_path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    db.close()
    with Store.open(db_path) as store:
        assert hits(store, "seven") == [("t_cook", "m2")]


def test_a_reply_cached_while_streaming_then_synced_keeps_the_conversation_order(
    store: Store,
) -> None:
    store.add_thread(EP, "t", "a")
    # The reply is cached when it finishes streaming, with the local clock...
    store.cache_messages(EP, "t", [CachedMessage("reply", "assistant", "Hi!", 1000.4)])
    # ...then the thread's newest page arrives with the endpoint's (whole-second) times.
    store.cache_messages(EP, "t", [
        CachedMessage("question", "user", "Hello?", 1000.0),
        CachedMessage("reply", "assistant", "Hi!", 1000.0),
    ])
    assert [m.message_id for m in store.cached_messages(EP, "t")] == ["question", "reply"]
    assert [h.message_id for h in store.search_messages(EP, "hi")] == ["reply"]
