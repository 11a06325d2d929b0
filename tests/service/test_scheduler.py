"""The APScheduler jobs hand the sweeps to the real single writer, first at start-up, on
both stores."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from maildesk.clock import FakeClock
from maildesk.config import Config
from maildesk.ingest.envelope import Envelope
from maildesk.ingest.pipeline import Pipeline
from maildesk.service.scheduler import Scheduler
from maildesk.service.writer import Writer
from maildesk.sla.sweeps import Sweeps
from maildesk.store.store import Store
from tests.support.desk import build_pipeline

CONFIG = """
[sla]
sweep_seconds = 7

[[queues]]
name = "info"
addresses = ["info@uni.example"]
tag = "INFO"

[[escalations]]
notify = ["coord@uni.example"]
"""
FRIDAY = datetime(2026, 3, 6, 23, 30, tzinfo=UTC)  # 19:30 in Santo Domingo

pytestmark = pytest.mark.stores("sqlite", "postgresql")


def desk(config: Config, location: Path | str) -> tuple[FakeClock, Store, Pipeline, Writer]:
    """A store with its pipeline and single writer, on a fake clock at FRIDAY."""
    clock = FakeClock(FRIDAY)
    store = Store(location)
    pipeline = build_pipeline(config, store, clock, secret=b"scheduler-test-secret-0123456")
    return clock, store, pipeline, Writer(store, pipeline)


def test_the_first_run_at_start_escalates_what_fell_due_and_follows_sweep_seconds(
    config: Config, store_location: Path | str
) -> None:
    clock, store, pipeline, writer = desk(config, store_location)
    message = EmailMessage()
    message["From"] = "Ana <ana@example.com>"
    message["To"] = "info@uni.example"
    message["Subject"] = "Consulta"
    message["Message-ID"] = "<s1@example.com>"
    message.set_content("Hola")
    writer.accept(
        message.as_bytes(), Envelope("ana@example.com", ["info@uni.example"], "smtp")
    ).result()
    clock.set(FRIDAY + timedelta(days=7))  # the daemon was stopped past the breach

    def escalations() -> int:
        count = "SELECT count(*) FROM outbox WHERE kind = 'escalation'"
        return int(writer.submit(lambda: store.conn.execute(count).fetchone()[0]).result())

    scheduler = Scheduler(
        lambda: Sweeps(pipeline.desk),
        writer.submit,
        clock,
        interval=3600,  # only the first run at start-up can do it within the test
    )
    scheduler.start()
    try:
        deadline = time.monotonic() + 10
        while escalations() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert escalations() == 1
        while scheduler.interval != 7 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert scheduler.interval == 7  # [sla] sweep_seconds of the configuration in force
    finally:
        scheduler.shutdown()
        writer.close()
    assert escalations_after_close(store_location) == 1


def escalations_after_close(location: Path | str) -> int:
    store = Store(location)
    try:
        row = store.conn.execute("SELECT count(*) FROM outbox WHERE kind = 'escalation'")
        return int(row.fetchone()[0])
    finally:
        store.close()


def test_shutdown_during_a_run_that_changes_the_interval_ends(
    config: Config, store_location: Path | str
) -> None:
    """The run ends by asking the scheduler things; shutdown must still come back."""
    clock, store, pipeline, writer = desk(config, store_location)
    inside, release = threading.Event(), threading.Event()

    def sweeps() -> Sweeps:  # the first run waits here until shutdown has begun
        inside.set()
        release.wait(10)
        return Sweeps(pipeline.desk)

    scheduler = Scheduler(sweeps, writer.submit, clock, interval=3600)
    scheduler.start()
    try:
        assert inside.wait(10)
        stopping = threading.Thread(target=scheduler.shutdown, daemon=True)
        stopping.start()
        time.sleep(0.2)  # shutdown is now waiting for the run
        release.set()
        stopping.join(20)
        assert not stopping.is_alive(), "shutdown waits forever for a run"
        states = scheduler.states
        assert states["sla"].state == "scheduled"
        assert states["sla"].last_result  # the run recorded what it did
    finally:
        release.set()
        writer.close()
        store.close()


def test_a_lock_lost_between_the_look_and_the_sweep_stops_the_sweep(
    config: Config, store_location: Path | str
) -> None:
    """The look (_standby) and the sweep are two jobs on the writer; a session lost in
    between takes the lock with it, and another daemon may sweep by then."""
    clock, _store, pipeline, writer = desk(config, store_location)
    message = EmailMessage()
    message["From"] = "Ana <ana@example.com>"
    message["To"] = "info@uni.example"
    message["Subject"] = "Consulta"
    message["Message-ID"] = "<s2@example.com>"
    message.set_content("Hola")
    envelope = Envelope("ana@example.com", ["info@uni.example"], "smtp")
    writer.accept(message.as_bytes(), envelope).result()
    clock.set(FRIDAY + timedelta(days=7))  # breached: a sweep would escalate it
    lost = threading.Event()

    def sweeps() -> Sweeps:  # on the writer, as the sweep's job begins: the session goes
        lost.set()
        return Sweeps(pipeline.desk)

    scheduler = Scheduler(
        sweeps, writer.submit, clock, interval=3600, may_sweep=lambda: not lost.is_set()
    )
    scheduler.start()
    try:
        assert lost.wait(10)  # the first run looked, held the lock, and began its job
        deadline = time.monotonic() + 10
        while scheduler.states["sla"].state != "scheduled" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert scheduler.states["sla"].state == "scheduled"
    finally:
        scheduler.shutdown()
        writer.close()
    assert escalations_after_close(store_location) == 0
