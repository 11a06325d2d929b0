"""The single writer on PostgreSQL: a burst is committed and every caller answered, on
the same path as on SQLite (its COMMIT is durable, so no fsync of ours follows)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from maildesk.clock import FakeClock
from maildesk.config import Config
from maildesk.ingest.envelope import Envelope, Stored
from maildesk.service.writer import Writer
from maildesk.store.store import Store
from tests.support.desk import build_pipeline

pytestmark = pytest.mark.stores("sqlite", "postgresql")


def raw(n: int) -> bytes:
    return (
        f"From: p{n}@example.com\r\nTo: info@uni.example\r\nSubject: Caso {n}\r\n"
        f"Message-ID: <w{n}@example.com>\r\n\r\nHola {n}\r\n"
    ).encode()


def test_a_burst_is_committed_and_every_caller_answered(
    config: Config, store: Store, store_location: Path | str
) -> None:
    clock = FakeClock(datetime(2026, 11, 20, 12, tzinfo=UTC))
    writer = Writer(store, build_pipeline(config, store, clock))
    envelope = Envelope("x@example.com", ["info@uni.example"], "smtp")
    started = time.perf_counter()
    futures = [writer.accept(raw(n), envelope) for n in range(200)]
    outcomes = [f.result(timeout=60) for f in futures]
    elapsed = time.perf_counter() - started
    assert all(isinstance(o, Stored) and o.acknowledged for o in outcomes)
    again = writer.accept(raw(7), envelope).result(timeout=60)
    assert not isinstance(again, Stored)  # a duplicate: stored once
    writer.close()
    print(f"{store.dialect.name}: 200 messages through the writer in {elapsed:.2f} s")  # noqa: T201
    # What was answered is committed: another connection sees it.
    other = Store(store_location)
    try:
        assert other.conn.execute("SELECT count(*) FROM tickets").fetchone()[0] == 200
        assert other.conn.execute("SELECT count(*) FROM outbox").fetchone()[0] == 200
    finally:
        other.close()
