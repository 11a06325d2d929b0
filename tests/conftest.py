"""Shared fixtures: real servers on loopback (see tests/servers/), and the desk as the
daemon builds it: ``config`` (the test module's ``CONFIG`` text, else the built-in
defaults), ``clock``, ``store``, ``desk`` and ``pipeline``. A module overrides one by
defining a fixture of the same name."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from maildesk.clock import FakeClock
from maildesk.config import Config, parse
from maildesk.desk import Desk
from maildesk.ingest.pipeline import Pipeline
from maildesk.store.store import Store
from tests.servers import Dovecot, SmtpSink
from tests.support import corpus
from tests.support.desk import build_desk

# A Friday afternoon inside working hours, unless a module says otherwise with START.
_START = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A ``corpus`` test without the corpus: not run, with the reason; under CI, a failure."""
    if item.get_closest_marker("corpus") is None:
        return
    reason = corpus.missing_reason()
    if reason is None:
        return
    if corpus.in_ci():
        pytest.fail(f"{reason}; CI=true needs it", pytrace=False)
    pytest.skip(f"not run: {reason}")


@pytest.fixture
def config(request: pytest.FixtureRequest, tmp_path: Path) -> Config:
    """The test module's ``CONFIG`` (TOML text), its database in the test's folder."""
    return parse(getattr(request.module, "CONFIG", ""), path=None, base_dir=tmp_path)


@pytest.fixture
def clock(request: pytest.FixtureRequest) -> FakeClock:
    return FakeClock(getattr(request.module, "START", _START))


@pytest.fixture
def store(config: Config) -> Iterator[Store]:
    opened = Store(config.database)
    yield opened
    opened.close()


@pytest.fixture
def desk(config: Config, store: Store) -> Desk:
    return build_desk(config, store)


@pytest.fixture
def pipeline(desk: Desk, clock: FakeClock) -> Pipeline:
    return Pipeline(desk, clock)


def _started_dovecot(directory: Path) -> Dovecot:
    server = Dovecot(directory)  # RuntimeError when Dovecot is not installed
    server.add_user("info", "secret")
    try:
        server.start()
    except BaseException:
        server.close()
        raise
    return server


@pytest.fixture
def dovecot(tmp_path: Path) -> Iterator[Dovecot]:
    """A started private Dovecot with the user `info` (password `secret`).

    A missing or broken Dovecot fails the test with Dovecot's own words; it never
    skips, so a machine without the package cannot pass the IMAP tests silently.
    """
    problem: RuntimeError | None = None
    try:
        server = _started_dovecot(tmp_path / "dovecot")
    except RuntimeError as exc:
        problem = exc
    if problem is not None:  # outside the except block, so the report is just the reason
        pytest.fail(f"the test Dovecot cannot run: {problem}", pytrace=False)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """A started SMTP sink recording every message it accepts."""
    sink = SmtpSink()
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()
