"""The single writer commits messages in groups, each in its own savepoint."""

from __future__ import annotations

import sqlite3
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path

import pytest

from maildesk.clock import FakeClock
from maildesk.config import parse
from maildesk.ingest.pipeline import Envelope, Outcome, Pipeline, Stored
from maildesk.store.store import Store
from maildesk.templates import Templates
from maildesk.writer import Writer


def raw(n: int) -> bytes:
    return (
        f"From: p{n}@example.com\r\nTo: info@uni.example\r\nSubject: Caso {n}\r\n"
        f"Message-ID: <w{n}@example.com>\r\n\r\nHola {n}\r\n"
    ).encode()


@pytest.fixture
def writer(tmp_path: Path) -> tuple[Writer, Path]:
    config = parse("", path=None, base_dir=tmp_path)
    store = Store(config.database)
    clock = FakeClock(datetime(2026, 11, 20, 12, tzinfo=UTC))
    pipeline = Pipeline(config, store, Templates(None, "es"), clock, b"writer-test-secret-01234")
    return Writer(store, pipeline), config.database


def test_a_burst_is_committed_and_every_caller_answered(writer: tuple[Writer, Path]) -> None:
    w, database = writer
    envelope = Envelope("x@example.com", ["info@uni.example"], "smtp")
    futures = [w.accept(raw(n), envelope) for n in range(200)]
    outcomes = [f.result(timeout=60) for f in futures]
    assert all(isinstance(o, Stored) and o.acknowledged for o in outcomes)
    # What was answered is committed: another connection sees it.
    with sqlite3.connect(database) as other:
        assert other.execute("SELECT count(*) FROM tickets").fetchone()[0] == 200
        assert other.execute("SELECT count(*) FROM outbox").fetchone()[0] == 200
    w.close()


def test_one_failing_message_does_not_take_its_group_down(
    writer: tuple[Writer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    w, database = writer
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
    with sqlite3.connect(database) as other:
        subjects = [r[0] for r in other.execute("SELECT subject FROM tickets ORDER BY number")]
    assert subjects == ["Caso 0", "Caso 1", "Caso 2", "Caso 4"]


def test_close_finishes_queued_work(writer: tuple[Writer, Path]) -> None:
    w, database = writer
    envelope = Envelope("x@example.com", ["info@uni.example"], "smtp")
    futures = [w.accept(raw(n), envelope) for n in range(20)]
    w.close()
    assert all(f.done() for f in futures)
    with sqlite3.connect(database) as other:
        assert other.execute("SELECT count(*) FROM tickets").fetchone()[0] == 20


def test_a_caller_that_gave_up_does_not_stop_the_writer(writer: tuple[Writer, Path]) -> None:
    w, database = writer
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
    with sqlite3.connect(database) as other:
        assert [r[0] for r in other.execute("SELECT subject FROM tickets")] == ["Caso 2"]
