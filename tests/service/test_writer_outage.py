"""The single writer when its PostgreSQL connection is cut under it (a restart or a
failover of the server): the message in hand is answered "try again", nothing of it is
stored, and the writer connects again by itself, so the sender's retry is stored once."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from maildesk.clock import FakeClock
from maildesk.config import Config
from maildesk.errors import TransientError
from maildesk.ingest.envelope import Envelope, Stored
from maildesk.service.writer import Writer
from maildesk.store.store import Store
from tests.service.test_writer import raw
from tests.support.desk import build_pipeline

pytestmark = pytest.mark.stores("postgresql")


def test_a_cut_connection_answers_try_again_and_the_retry_is_stored_once(
    config: Config,
    store: Store,
    store_location: Path | str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock(datetime(2026, 11, 20, 12, tzinfo=UTC))
    writer = Writer(store, build_pipeline(config, store, clock))
    envelope = Envelope("x@example.com", ["info@uni.example"], "smtp")
    assert isinstance(writer.accept(raw(1), envelope).result(timeout=30), Stored)
    pid = writer.submit(lambda: store.conn.execute("SELECT pg_backend_pid()").fetchone()[0])
    with psycopg.connect(str(store_location), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid.result(timeout=30),))
    with caplog.at_level(logging.INFO):
        refused = [writer.accept(raw(n), envelope) for n in (2, 3, 4)]
        for future in refused:
            with pytest.raises(TransientError):
                future.result(timeout=30)
        started = time.monotonic()
        while True:  # as an SMTP client retries after a 451
            try:
                outcome = writer.accept(raw(2), envelope).result(timeout=30)
                break
            except TransientError:
                assert time.monotonic() - started < 10, "the writer did not reconnect"
                time.sleep(0.1)
        assert isinstance(outcome, Stored)
        again = writer.accept(raw(2), envelope).result(timeout=30)
    writer.close()
    assert not isinstance(again, Stored)  # the retry of a stored message is a duplicate
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]  # not one per message
    assert "lost the connection to the database" in warnings[0].getMessage()
    assert any("is back" in r.getMessage() for r in caplog.records)
    other = Store(store_location)
    try:
        subjects = other.conn.execute("SELECT subject FROM tickets ORDER BY number").fetchall()
        assert [row[0] for row in subjects] == ["Caso 1", "Caso 2"]
    finally:
        other.close()
