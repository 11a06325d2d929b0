"""Shared fixtures: real servers on loopback (see tests/servers/), and the desk as the
daemon builds it: ``config`` (the test module's ``CONFIG`` text, else the built-in
defaults), ``clock``, ``store``, ``desk`` and ``pipeline``. A module overrides one by
defining a fixture of the same name.

``store`` is SQLite unless the test is marked ``@pytest.mark.stores("sqlite",
"postgresql")``: it then runs once per store, on PostgreSQL in a fresh database of a
private cluster (``postgres``, one per test session) copied from a migrated template."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from maildesk.clock import FakeClock
from maildesk.config import Config, parse
from maildesk.desk import Desk
from maildesk.ingest.pipeline import Pipeline
from maildesk.store.store import Store
from tests.servers import Dovecot, Postgres, SmtpSink
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


STORE_KINDS = ("sqlite", "postgresql")
_TEMPLATE = "maildesk_template"  # migrated once per session; each test gets a copy
_databases = itertools.count(1)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("stores")
    if marker is None or "store_location" not in metafunc.fixturenames:
        return
    unknown = set(marker.args) - set(STORE_KINDS)
    if unknown or not marker.args:
        raise pytest.UsageError(f"stores(...) takes some of {STORE_KINDS}, not {marker.args}")
    metafunc.parametrize("store_location", marker.args, indirect=True)


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    """A started private PostgreSQL cluster with a migrated template database.

    A missing or broken PostgreSQL fails the test with its own words; it never skips.
    """
    problem: RuntimeError | None = None
    try:
        server = Postgres(tmp_path_factory.mktemp("postgres"))
        server.start()
    except RuntimeError as exc:
        problem = exc
    if problem is not None:  # outside the except block, so the report is just the reason
        pytest.fail(f"the test PostgreSQL cannot run: {problem}", pytrace=False)
    try:
        Store(server.create_database(_TEMPLATE)).close()  # the schema, by the migrations
        yield server
    finally:
        server.close()


@pytest.fixture
def store_location(request: pytest.FixtureRequest, config: Config) -> Path | str:
    """Where ``store`` lives: the config's SQLite file, or a new PostgreSQL database."""
    kind = getattr(request, "param", "sqlite")
    if kind == "sqlite":
        return config.database
    server: Postgres = request.getfixturevalue("postgres")
    return server.create_database(f"test_{next(_databases)}", template=_TEMPLATE)


@pytest.fixture
def store(store_location: Path | str) -> Iterator[Store]:
    opened = Store(store_location)
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
