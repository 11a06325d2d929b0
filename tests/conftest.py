"""Shared fixtures: real servers on loopback (see tests/servers/)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import Dovecot, SmtpSink


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
