"""The single writer commits messages in groups, each in its own savepoint, and answers
only once the commit is on disk; on both stores, except what is SQLite's own (its log,
its checkpoints)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path

import pytest

from maildesk.clock import FakeClock
from maildesk.config import Config
from maildesk.ingest.envelope import Duplicate, Envelope, Outcome, Stored
from maildesk.ingest.pipeline import Pipeline
from maildesk.service.syncer import CHECKPOINT_SECONDS, WRITER_CHECKPOINT_PAGES, sync_wal
from maildesk.service.writer import Writer
from maildesk.store.queries import open_reader
from maildesk.store.store import Store
from tests.support.desk import build_pipeline


def raw(n: int) -> bytes:
    return (
        f"From: p{n}@example.com\r\nTo: info@uni.example\r\nSubject: Caso {n}\r\n"
        f"Message-ID: <w{n}@example.com>\r\n\r\nHola {n}\r\n"
    ).encode()


both_stores = pytest.mark.stores("sqlite", "postgresql")


def _pipeline(config: Config, location: Path | str) -> tuple[Store, Pipeline]:
    store = Store(location)
    clock = FakeClock(datetime(2026, 11, 20, 12, tzinfo=UTC))
    return store, build_pipeline(config, store, clock, secret=b"writer-test-secret-01234")


@pytest.fixture
def writer(config: Config, store_location: Path | str) -> Writer:
    return Writer(*_pipeline(config, store_location))


def _rows(location: Path | str, sql: str) -> list[tuple[object, ...]]:
    """``sql``'s rows read on another connection: what is committed, not what is pending."""
    other = open_reader(location)
    try:
        return [tuple(row) for row in other.execute(sql)]
    finally:
        other.close()


def _committed(location: Path | str) -> int:
    [(count,)] = _rows(location, "SELECT count(*) FROM tickets")
    assert isinstance(count, int)
    return count


@both_stores
def test_a_burst_is_committed_and_every_caller_answered(
    writer: Writer, store_location: Path | str
) -> None:
    w = writer
    envelope = Envelope("x@example.com", ["info@uni.example"], "smtp")
    futures = [w.accept(raw(n), envelope) for n in range(200)]
    outcomes = [f.result(timeout=60) for f in futures]
    assert all(isinstance(o, Stored) and o.acknowledged for o in outcomes)
    # What was answered is committed: another connection sees it.
    assert _committed(store_location) == 200
    assert _rows(store_location, "SELECT count(*) FROM outbox") == [(200,)]
    assert isinstance(w.accept(raw(7), envelope).result(timeout=60), Duplicate)  # stored once
    w.close()


@both_stores
def test_one_failing_message_does_not_take_its_group_down(
    writer: Writer, store_location: Path | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = writer
    original = w.pipeline.accept

    def flaky(message: bytes, envelope: Envelope) -> Outcome:
        outcome = original(message, envelope)  # writes first, then fails: must be undone
        if b"Caso 3\r\n" in message:
            raise OSError("simulated fault")
        return outcome

    monkeypatch.setattr(w.pipeline, "accept", flaky)
    envelope = Envelope("x@example.com", ["info@uni.example"], "smtp")
    # Hold the writer busy so the five messages queue up and share one transaction.
    gate: Future[None] = Future()
    w.submit(gate.result, 10)
    futures = [w.accept(raw(n), envelope) for n in range(5)]
    gate.set_result(None)
    with pytest.raises(OSError, match="simulated fault"):
        futures[3].result(timeout=30)
    assert all(isinstance(f.result(timeout=30), Stored) for i, f in enumerate(futures) if i != 3)
    w.close()
    subjects = [r[0] for r in _rows(store_location, "SELECT subject FROM tickets ORDER BY number")]
    assert subjects == ["Caso 0", "Caso 1", "Caso 2", "Caso 4"]


@both_stores
def test_close_finishes_queued_work(writer: Writer, store_location: Path | str) -> None:
    w = writer
    envelope = Envelope("x@example.com", ["info@uni.example"], "smtp")
    futures = [w.accept(raw(n), envelope) for n in range(20)]
    w.close()
    assert all(f.done() for f in futures)
    assert _committed(store_location) == 20


@both_stores
def test_a_caller_that_gave_up_does_not_stop_the_writer(
    writer: Writer, store_location: Path | str
) -> None:
    w = writer
    envelope = Envelope("x@example.com", ["info@uni.example"], "smtp")
    gate: Future[None] = Future()
    w.submit(gate.result, 10)
    gone = w.accept(raw(1), envelope)  # an SMTP client hung up while waiting for its 250
    query = w.submit(lambda: 42)
    assert gone.cancel()
    assert query.cancel()
    gate.set_result(None)
    later = w.accept(raw(2), envelope)
    assert isinstance(later.result(timeout=30), Stored)  # the thread is still serving
    w.close()
    assert _rows(store_location, "SELECT subject FROM tickets") == [("Caso 2",)]


def _wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@both_stores
def test_no_caller_is_answered_before_the_commit_is_on_disk(
    config: Config, store_location: Path | str
) -> None:
    # The commit does not wait for the disk; the answer does (invariant 1).
    disk = threading.Event()
    flushes: list[int] = []
    store, pipeline = _pipeline(config, store_location)

    def flush() -> None:
        disk.wait(30)
        flushes.append(_committed(store_location))

    w = Writer(store, pipeline, sync=flush)
    envelope = Envelope("x@example.com", ["info@uni.example"], "smtp")
    stored = w.accept(raw(1), envelope)
    query = w.submit(lambda: "read")
    _wait_until(lambda: _committed(store_location) == 1)  # committed, not yet flushed
    time.sleep(0.2)
    assert not stored.done()
    assert not query.done()
    disk.set()
    assert isinstance(stored.result(timeout=30), Stored)
    assert query.result(timeout=30) == "read"
    assert flushes[0] == 1  # the flush that answered came after the commit
    w.close()


@both_stores
def test_work_submitted_as_committed_is_answered_before_the_flush(
    config: Config, store_location: Path | str
) -> None:
    # The outbox sender's "delivered" mark: the next delivery waits for the commit only.
    disk = threading.Event()
    flushed = threading.Event()
    store, pipeline = _pipeline(config, store_location)

    def flush() -> None:
        disk.wait(30)
        flushed.set()

    w = Writer(store, pipeline, sync=flush)
    marked = w.submit_committed(lambda: "marked")
    assert marked.result(timeout=30) == "marked"
    assert not flushed.is_set()  # answered while the disk still works
    disk.set()
    assert flushed.wait(30)  # and flushed all the same, without anyone asking again
    w.close()


@pytest.mark.stores("postgresql")
def test_on_postgresql_only_work_submitted_as_committed_skips_the_servers_flush(
    config: Config, store_location: Path | str
) -> None:
    # A delivered mark may be lost with the server, never with this process; mail is not.
    store, pipeline = _pipeline(config, store_location)
    w = Writer(store, pipeline)

    def setting() -> str:
        return str(store.conn.execute("SHOW synchronous_commit").fetchone()[0])

    def mark_and_setting() -> str:
        store.conn.execute("UPDATE outbox SET attempts = attempts WHERE id = 0")
        return setting()

    assert w.submit_committed(mark_and_setting).result(timeout=30) == "off"
    assert w.submit(setting).result(timeout=30) == "on"  # the session's own setting is kept
    envelope = Envelope("p1@example.com", ["info@uni.example"], "smtp")
    assert isinstance(w.accept(raw(1), envelope).result(timeout=30), Stored)
    assert w.submit(setting).result(timeout=30) == "on"
    w.close()


@both_stores
def test_a_failed_flush_is_the_callers_error_and_the_writer_goes_on(
    config: Config, store_location: Path | str
) -> None:
    failing = [True]

    def flush() -> None:
        if failing[0]:
            raise OSError(5, "Input/output error")

    store, pipeline = _pipeline(config, store_location)
    w = Writer(store, pipeline, sync=flush)
    envelope = Envelope("x@example.com", ["info@uni.example"], "smtp")
    with pytest.raises(OSError, match="Input/output error"):
        w.accept(raw(1), envelope).result(timeout=30)  # the listener answers 451
    failing[0] = False
    again = w.accept(raw(1), envelope).result(timeout=30)  # the sender tries again
    assert isinstance(again, Duplicate)  # it was committed: stored once
    assert isinstance(w.accept(raw(2), envelope).result(timeout=30), Stored)
    w.close()
    assert _committed(store_location) == 2


def test_the_writer_commits_without_waiting_and_flushes_its_log(
    writer: Writer, store_location: Path | str
) -> None:
    w, database = writer, Path(store_location)
    assert (
        w.submit(lambda: w.store.conn.execute("PRAGMA synchronous").fetchone()[0]).result(
            timeout=30
        )
        == 1
    )  # NORMAL: the syncer fsyncs the log
    envelope = Envelope("x@example.com", ["info@uni.example"], "smtp")
    assert isinstance(w.accept(raw(1), envelope).result(timeout=30), Stored)
    assert Path(f"{database}-wal").stat().st_size > 0  # the log that sync_wal flushes
    sync_wal(database)
    sync_wal(database.with_name("missing.db"))  # no log yet: nothing to flush
    w.close()
    assert _committed(database) == 1


def test_the_log_is_copied_into_the_database_off_the_writer(
    writer: Writer, store_location: Path | str
) -> None:
    # Checkpoints run on the sync thread once callers are answered; the writer's own
    # (in its COMMIT, holding up a whole group) is only a backstop far out.
    w, database = writer, Path(store_location)
    assert (
        w.submit(lambda: w.store.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]).result(
            timeout=30
        )
        == WRITER_CHECKPOINT_PAGES
    )
    envelope = Envelope("x@example.com", ["info@uni.example"], "smtp")
    before = database.stat().st_size
    for n in range(40):
        assert isinstance(w.accept(raw(n), envelope).result(timeout=30), Stored)
    time.sleep(CHECKPOINT_SECONDS + 0.05)
    assert isinstance(w.accept(raw(99), envelope).result(timeout=30), Stored)
    _wait_until(lambda: database.stat().st_size > before)  # pages copied from the log
    w.close()
    assert _committed(database) == 41
