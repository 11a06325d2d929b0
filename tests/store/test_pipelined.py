"""Store.pipelined: on PostgreSQL statements go out without waiting for each answer, and
a transaction still means what it did: an error surfaces in the savepoint that caused
it, work undone is undone, nothing failed is committed. On SQLite it changes nothing,
and the same tests hold."""

from __future__ import annotations

import sqlite3
from functools import partial

import psycopg
import pytest

from maildesk.store.store import Store

pytestmark = pytest.mark.stores("sqlite", "postgresql")

# A unique key violated: sqlite3's error, or psycopg's (raised at the block's end there).
VIOLATED = (sqlite3.IntegrityError, psycopg.IntegrityError)


def put(store: Store, key: str, value: str) -> None:
    """An INSERT whose answer nothing reads; it fails when ``key`` is there already."""
    store.conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (key, value))


def stored(store: Store) -> dict[str, str]:
    rows = store.conn.execute("SELECT key, value FROM meta WHERE key LIKE ?", ("t.%",))
    return {str(row[0]): str(row[1]) for row in rows}


def test_an_error_nobody_read_surfaces_in_its_own_savepoint(store: Store) -> None:
    said: list[str] = []
    failed: list[str] = []
    with store.pipelined(), store.transaction():
        put(store, "t.a", "first")
        for key in ("t.b", "t.a", "t.c"):  # t.a again, between two that hold
            try:
                with store.transaction():
                    put(store, key, "second")
                    store.after_commit(partial(said.append, key))
            except VIOLATED:
                failed.append(key)
    assert failed == ["t.a"]
    assert stored(store) == {"t.a": "first", "t.b": "second", "t.c": "second"}
    assert said == ["t.b", "t.c"]


def doubled_in_transaction(store: Store, said: list[str]) -> None:
    """A pipelined transaction whose last INSERT repeats its first one's key."""
    with store.pipelined(), store.transaction():
        put(store, "t.x", "1")
        with store.transaction():
            put(store, "t.inner", "1")
        put(store, "t.x", "2")
        store.after_commit(lambda: said.append("committed"))


def test_an_error_outside_any_savepoint_undoes_the_whole_transaction(store: Store) -> None:
    said: list[str] = []
    with pytest.raises(VIOLATED):
        doubled_in_transaction(store, said)
    assert stored(store) == {}
    assert said == []
    with store.pipelined(), store.transaction():  # the connection is in step again
        put(store, "t.y", "1")
    assert stored(store) == {"t.y": "1"}


def undone(store: Store, *keys: str) -> None:
    """A savepoint that sends ``keys`` (the same twice fails) and then fails itself."""
    with store.transaction():
        for key in keys:
            put(store, key, "1")
        raise RuntimeError("undo")


def test_a_savepoint_undone_takes_its_unread_statements_with_it(store: Store) -> None:
    with store.pipelined(), store.transaction():
        with pytest.raises(RuntimeError):
            undone(store, "t.gone")
        with pytest.raises((RuntimeError, *VIOLATED)):
            undone(store, "t.also-gone", "t.also-gone")
        put(store, "t.kept", "1")
    assert stored(store) == {"t.kept": "1"}


def test_rows_and_row_counts_are_read_inside_the_pipeline(store: Store) -> None:
    with store.pipelined(), store.transaction():
        put(store, "t.r", "1")
        put(store, "t.s", "1")
        cursor = store.conn.execute("UPDATE meta SET value = ? WHERE key = ?", ("3", "t.r"))
        assert cursor.rowcount == 1
        assert store.meta("t.r") == "3"
        names = store.conn.execute("SELECT key AS name FROM meta WHERE key = ?", ("t.s",))
        assert [row["name"] for row in names] == ["t.s"]
    assert stored(store) == {"t.r": "3", "t.s": "1"}
