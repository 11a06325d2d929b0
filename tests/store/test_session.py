"""The writer's database session through a cut connection (a restart or failover of the
server, here its backend ended by ``pg_terminate_backend``): told apart from an SQL
error, connected again with a backoff, the advisory locks forgotten at once and asked for
again, and an outbox claim of the lost session free for anyone."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from maildesk.store import claims
from maildesk.store.locks import SWEEP_LOCK, Ownership, account_key
from maildesk.store.postgres import PostgresConnection
from maildesk.store.session import DatabaseLost, Session, connection_lost, reconnect_delay
from maildesk.store.store import OutgoingMail, Store

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def cut(store: Store, location: Path | str) -> None:
    """End ``store``'s session from another connection, as a server restart does."""
    pid = store.conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    with psycopg.connect(str(location), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


class Ticks:
    """A monotonic clock that moves only when told (FakeClock is for wall time)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def failure(store: Store) -> BaseException:
    try:
        store.conn.execute("SELECT 1").fetchall()
    except Exception as exc:
        return exc
    raise AssertionError("the cut connection still answered")


def test_the_backoff_doubles_from_half_a_second_to_thirty() -> None:
    assert [reconnect_delay(n) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]


@pytest.mark.stores("postgresql")
def test_a_cut_connection_is_lost_and_comes_back_after_the_backoff(
    store: Store, store_location: Path | str, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Ticks()
    session = Session(store, clock=clock)
    cut(store, store_location)
    with caplog.at_level(logging.INFO, logger="maildesk.store.session"):
        error = session.after_error(failure(store))
        assert isinstance(error, DatabaseLost)
        assert session.after_error(failure(store)) is not None  # noticed again: no new line
        assert not session.up
        assert session.wait() == pytest.approx(0.5)
        assert not session.ready()  # the backoff first
        clock.now += 0.5
        assert session.ready()
    assert session.up
    assert session.reconnects == 1
    assert store.conn.execute("SELECT 1").fetchone()[0] == 1
    lines = [r for r in caplog.records if r.name == "maildesk.store.session"]
    assert [r.levelname for r in lines] == ["WARNING", "INFO"]
    assert "lost the connection to the database" in lines[0].getMessage()
    assert "is back" in lines[1].getMessage()


@pytest.mark.stores("postgresql")
def test_an_sql_error_keeps_its_meaning(store: Store) -> None:
    session = Session(store)
    store.conn.execute("CREATE TEMPORARY TABLE t (x INTEGER UNIQUE)")
    store.conn.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(psycopg.errors.UniqueViolation) as raised:
        store.conn.execute("INSERT INTO t VALUES (1)")
    assert session.after_error(raised.value) is raised.value
    assert session.up
    assert not connection_lost(store)


@pytest.mark.stores("postgresql")
def test_locks_are_forgotten_with_the_session_and_taken_again_unless_another_has_them(
    store: Store, store_location: Path | str
) -> None:
    mine = Ownership(store)
    clock = Ticks()
    session = Session(store, mine, clock=clock)
    info, crm = account_key("info"), account_key("crm")
    assert all(mine.take(key) for key in (SWEEP_LOCK, info, crm))
    other_store = Store(store_location)
    try:
        other = Ownership(other_store)
        cut(store, store_location)
        session.after_error(failure(store))
        assert mine.held == frozenset()  # at once: no lock is shown as held meanwhile
        assert other.take(info)  # the other daemon asks first
        clock.now += 0.5
        assert session.ready()
        assert mine.held == {SWEEP_LOCK, crm}
        assert not other.take(SWEEP_LOCK)  # held again, on the new session
        assert not mine.take(info)
    finally:
        other_store.close()


@pytest.mark.stores("postgresql")
def test_a_claim_of_the_lost_session_is_free_for_anyone(
    store: Store, store_location: Path | str
) -> None:
    with store.transaction():
        store.enqueue(
            OutgoingMail(None, "ack", "<n1@maildesk>", "info@uni.example", ["a@x"], b"m"),
            None,
            NOW,
        )
    clock = Ticks()
    session = Session(store, clock=clock)
    assert len(claims.claim_due(store, NOW)) == 1
    cut(store, store_location)
    session.after_error(failure(store))
    other = Store(store_location)
    try:
        assert len(claims.claim_due(other, NOW)) == 1  # the other daemon sends it
        clock.now += 0.5
        assert session.ready()
        assert claims.claim_due(store, NOW) == []  # and this one, back, leaves it alone
    finally:
        other.close()


@pytest.mark.stores("sqlite")
def test_on_sqlite_nothing_is_ever_lost(store: Store) -> None:
    session = Session(store)
    error = ValueError("a bug")
    assert session.after_error(error) is error
    assert session.up
    assert session.ready()
    assert session.probe()


@pytest.mark.stores("postgresql")
def test_a_silent_server_is_found_dead_by_tcp_keepalives_unless_the_uri_says_otherwise(
    store_location: Path | str,
) -> None:
    # After a failover the old primary may vanish without closing the connection; these
    # make libpq give up on it in about 30 s instead of TCP's quarter of an hour.
    store = Store(store_location)
    chosen = Store(f"{store_location}?keepalives_idle=60")
    try:
        assert isinstance(store.conn, PostgresConnection)
        assert isinstance(chosen.conn, PostgresConnection)
        params = store.conn.raw.info.get_parameters()
        assert params["keepalives"] == "1"
        assert params["keepalives_idle"] == "15"
        assert params["tcp_user_timeout"] == "30000"
        assert chosen.conn.raw.info.get_parameters()["keepalives_idle"] == "60"
    finally:
        store.close()
        chosen.close()
