"""The store's promises when several daemons share it: each message stored once (the
unique key decides), ticket numbers never handed out twice, one migration history taken
by one daemon at a time, and each outbox row claimed by one daemon, its claim gone with it.

Two ``Store`` objects on one database stand for two daemons: each has its own connection
(its own database session), as two processes would.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from maildesk.store import claims
from maildesk.store.schema import migrations
from maildesk.store.store import AlreadyStored, NewMessage, NewTicket, OutgoingMail, Store
from tests.servers import Postgres

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

both_stores = pytest.mark.stores("sqlite", "postgresql")


@pytest.fixture
def other(store_location: Path | str, store: Store) -> Iterator[Store]:
    """A second daemon's store on the same database (opened after ``store`` migrated it)."""
    opened = Store(store_location)
    yield opened
    opened.close()


def _message(key: str, ticket: int | None = None) -> NewMessage:
    return NewMessage(
        ticket=ticket,
        direction="in",
        kind="human",
        message_id=f"{key}@example.com",
        dedupe_key=key,
        from_addr="ana@example.com",
        from_name="Ana",
        to_addrs=["info@uni.example"],
        cc_addrs=[],
        subject="Certificado",
        body="Hola",
        sent_at=None,
        source="smtp",
        envelope_from="ana@example.com",
        raw_sha256=None,
    )


def _ticket(store: Store) -> int:
    return store.insert_ticket(
        NewTicket("info", "info@uni.example", "Asunto", "ana@example.com", "Ana", "es", None, None),
        NOW,
    )


@both_stores
def test_the_dedupe_key_decides_when_two_daemons_store_one_message(
    store: Store, other: Store
) -> None:
    # Both looked for the key and found nothing; the first commits while the second waits
    # on the unique index, which then turns the second away with its ticket undone.
    entered = threading.Event()

    def second() -> None:
        with other.transaction():
            entered.set()
            ticket = _ticket(other)
            other.insert_message(_message("k1", ticket), NOW)

    with ThreadPoolExecutor(1) as pool:
        with store.transaction():
            first_ticket = _ticket(store)
            store.insert_message(_message("k1", first_ticket), NOW)
            outcome = pool.submit(second)
            # SQLite's second writer waits at BEGIN, PostgreSQL's at the unique key.
            entered.wait(0.5)
            threading.Event().wait(0.2)
            assert not outcome.done()
        with pytest.raises(AlreadyStored):
            outcome.result(timeout=30)
    with pytest.raises(AlreadyStored):
        outcome.result(timeout=30)
    count = store.conn.execute("SELECT count(*) FROM messages WHERE dedupe_key = 'k1'")
    assert count.fetchone()[0] == 1
    assert store.conn.execute("SELECT count(*) FROM tickets").fetchone()[0] == 1
    assert store.find_duplicate("k1") == (1, first_ticket)


@both_stores
def test_ticket_numbers_are_never_handed_out_twice(store: Store, other: Store) -> None:
    with store.transaction():
        numbers = [_ticket(store) for _ in range(3)]
    with store.transaction():  # the newest ticket goes (a purge, an erasure)
        store.conn.execute("DELETE FROM participants WHERE ticket = ?", (numbers[-1],))
        store.conn.execute("DELETE FROM tickets WHERE number = ?", (numbers[-1],))
    with other.transaction():
        again = _ticket(other)
    assert again > numbers[-1]


@both_stores
def test_one_migration_history_and_a_second_open_applies_nothing(
    store: Store, store_location: Path | str
) -> None:
    assert migrations.applied(store.conn, store.dialect) == migrations.names
    reopened = Store(store_location)
    try:
        assert migrations.apply(reopened.conn, reopened.dialect) == []
    finally:
        reopened.close()


@pytest.mark.stores("postgresql")
def test_daemons_started_together_migrate_a_new_database_once(postgres: Postgres) -> None:
    url = postgres.create_database("fresh_for_migration")  # template1: no schema yet
    barrier = threading.Barrier(3)

    def start() -> list[str]:
        barrier.wait()
        opened = Store(url)
        try:
            return migrations.applied(opened.conn, opened.dialect)
        finally:
            opened.close()

    with ThreadPoolExecutor(3) as pool:
        histories = list(pool.map(lambda _: start(), range(3)))
    assert histories == [migrations.names] * 3
    with postgres.connect("fresh_for_migration") as conn:
        recorded = conn.execute("SELECT count(*), count(DISTINCT name) FROM maildesk_migrations")
        assert recorded.fetchone() == (len(migrations.names), len(migrations.names))


def _enqueue(store: Store, count: int) -> list[int]:
    with store.transaction():
        return [
            store.enqueue(
                OutgoingMail(None, "ack", f"<m{i}@maildesk>", "info@uni.example", ["a@x"], b"m"),
                None,
                NOW,
            )
            for i in range(count)
        ]


@pytest.mark.stores("postgresql")
def test_two_daemons_claiming_at_once_claim_each_row_once(store: Store, other: Store) -> None:
    rows = _enqueue(store, 60)
    later = NOW + timedelta(minutes=1)
    taken: dict[str, list[int]] = {"store": [], "other": []}
    barrier = threading.Barrier(2)

    def drain(name: str, daemon: Store) -> None:
        barrier.wait()
        while batch := claims.claim_due(daemon, later, limit=7):
            taken[name] += [row["id"] for row in batch]

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(drain, ("store", "other"), (store, other)))
    assert sorted(taken["store"] + taken["other"]) == rows  # every row, none twice
    assert taken["store"]
    assert taken["other"]  # both took part: neither waited for the other's locks


@pytest.mark.stores("postgresql")
def test_a_claim_dies_with_its_daemon(
    store: Store, other: Store, store_location: Path | str
) -> None:
    rows = _enqueue(store, 5)
    later = NOW + timedelta(minutes=1)
    doomed = Store(store_location)
    try:
        held = [row["id"] for row in claims.claim_due(doomed, later, limit=3)]
        assert held == rows[:3]
        assert [row["id"] for row in claims.claim_due(other, later)] == rows[3:]
        assert claims.claim_due(other, later) == []  # the live daemon's rows stay its own
        # The daemon's session ends as it would when its process is killed.
        pid = doomed.conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        store.conn.execute("SELECT pg_terminate_backend(?)", (pid,)).fetchall()
        _wait_gone(store, pid)
        assert [row["id"] for row in claims.claim_due(other, later)] == held
    finally:
        doomed.close()


@pytest.mark.stores("postgresql")
def test_a_retried_row_is_due_again_for_any_daemon(store: Store, other: Store) -> None:
    (row,) = _enqueue(store, 1)
    later = NOW + timedelta(minutes=1)
    assert [r["id"] for r in claims.claim_due(store, later)] == [row]
    store.outbox_retry(row, "451 try later", later)
    assert [r["id"] for r in claims.claim_due(other, later)] == [row]
    other.outbox_sent(row, later)
    assert claims.claim_due(store, later + timedelta(days=1)) == []


def _wait_gone(store: Store, pid: int) -> None:
    for _ in range(200):
        alive = store.conn.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ?", (pid,))
        if alive.fetchone()[0] == 0:
            return
        threading.Event().wait(0.02)
    raise AssertionError(f"backend {pid} did not end")
