"""The IMAP adapter against a real Dovecot, with the real pipeline and store behind it.

The tests that store mail run on both stores: the UIDs taken and each folder's
UIDVALIDITY live in the database, SQLite's or PostgreSQL's."""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from maildesk.clock import SystemClock
from maildesk.config import Config, ImapConfig, parse
from maildesk.errors import PermanentError, TransientError
from maildesk.ingest.envelope import Envelope, Outcome
from maildesk.ingest.imap import Account, Backoff
from maildesk.ingest.imap_client import connect, probe
from maildesk.store.store import Store
from tests.servers import Dovecot
from tests.support.desk import build_pipeline

pytestmark = pytest.mark.server
both_stores = pytest.mark.stores("sqlite", "postgresql")

FAST = Backoff(first=0.05, refused_first=0.05, cap=0.2)


def message(number: int, *, subject: str | None = None, to: str = "info@uni.example") -> bytes:
    """A new request from its own sender, so the loop guard never holds back an answer."""
    return (
        f"From: Persona {number} <p{number}@alumnos.example>\r\n"
        f"To: {to}\r\n"
        f"Subject: {subject or f'Solicitud {number}'}\r\n"
        f"Message-ID: <req-{number}@alumnos.example>\r\n"
        "Date: Fri, 20 Nov 2026 10:00:00 -0400\r\n"
        "\r\n"
        f"Buenos días, esta es la solicitud {number}.\r\n"
    ).encode()


def wait_until(condition: Callable[[], bool], timeout: float = 10.0, what: str = "") -> float:
    """Poll ``condition``; return the seconds it took, or fail after ``timeout``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            pytest.fail(f"timed out after {timeout} s waiting for {what or condition}")
        time.sleep(0.02)
    return time.monotonic() - started


class Desk:
    """The daemon's ingest half in-process: a pipeline and a store behind one writer thread."""

    def __init__(self, tmp_path: Path, dovecot: Dovecot, location: Path | str) -> None:
        self.tmp_path = tmp_path
        self.dovecot = dovecot
        self.config = parse(
            '[[queues]]\nname = "info"\naddresses = ["info@uni.example"]\ntag = "INFO"\n'
            '[[queues]]\nname = "crm"\naddresses = ["crm@uni.example"]\ntag = "CRM"\n',
            path=None,
            base_dir=tmp_path,
        )
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-writer")
        self.store = self.writer.submit(Store, location).result()
        self.pipeline = build_pipeline(self.config, self.store, SystemClock())
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []
        self.accepted = 0
        self.failures_to_come = 0
        self.lines: list[str] = []
        self._handler = _Lines(self.lines)
        self._logger = logging.getLogger("maildesk.ingest.imap")
        self._level = self._logger.level
        self._logger.setLevel(logging.INFO)
        self._logger.addHandler(self._handler)

    def account(self, name: str = "info", **overrides: Any) -> ImapConfig:
        password = self.tmp_path / f"{name}.password"
        password.write_text(overrides.pop("password", "secret") + "\n", encoding="utf-8")
        values: dict[str, Any] = {
            "name": name,
            "host": self.dovecot.host,
            "port": self.dovecot.port,
            "tls": "none",
            "username": name,
            "password_env": "",
            "password_file": password,
            "folder": "INBOX",
            "processed_folder": "Processed",
            "quarantine_folder": "Quarantine",
            "queue": "info",
            "idle": True,
            "poll_seconds": 60,
            "batch_size": 200,
        }
        values.update(overrides)
        return ImapConfig(**values)

    # -- the Sink the daemon provides ----------------------------------------------

    def accept(self, raw: bytes, envelope: Envelope) -> Future[Outcome]:
        self.accepted += 1
        if self.failures_to_come:  # the store's trouble (a full disk, say)
            self.failures_to_come -= 1
            failed: Future[Outcome] = Future()
            failed.set_exception(sqlite3.OperationalError("database or disk is full"))
            return failed
        return self.writer.submit(self.pipeline.accept, raw, envelope)

    def load_state(self, account: str, folder: str) -> tuple[int, int] | None:
        return self.writer.submit(self.store.imap_state, account, folder).result()

    def save_state(self, account: str, folder: str, uidvalidity: int, last_uid: int) -> None:
        now = SystemClock().now()
        self.writer.submit(
            self.store.set_imap_state, account, folder, uidvalidity, last_uid, now
        ).result()

    # -- running accounts ------------------------------------------------------------

    def start(self, config: ImapConfig, *, use_move: bool = True) -> Account:
        account = Account(config, self, self.stopping, FAST)
        account.use_move = use_move
        self.threads.append(account.start())
        return account

    def ready(self, name: str = "info") -> None:
        """Wait until the account ``name`` has logged in and reached its folder.

        Mail that lands in a brand-new Maildir while a session selects it can go
        unannounced by Dovecot until the next IDLE renewal; tests that time IDLE start
        after the account is ready, as a mailbox in service would be.
        """
        wait_until(
            lambda: any(
                line.startswith(f"imap:{name}: ") and "collecting from" in line
                for line in self.lines
            ),
            what=f"account {name} to be ready",
        )

    def stop(self, timeout: float = 10.0) -> float:
        """Stop every account; return how long they took to finish."""
        started = time.monotonic()
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout)
            assert not thread.is_alive(), f"{thread.name} did not stop within {timeout} s"
        return time.monotonic() - started

    def close(self) -> None:
        self._logger.removeHandler(self._handler)
        self._logger.setLevel(self._level)
        self.stop()
        self.writer.submit(self.store.close).result()
        self.writer.shutdown()

    # -- looking at the results -------------------------------------------------------

    def rows(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        def run() -> list[tuple[Any, ...]]:
            return [tuple(r) for r in self.store.conn.execute(sql, args).fetchall()]

        return self.writer.submit(run).result()

    def count(self, sql: str, *args: object) -> int:
        return int(self.rows(sql, *args)[0][0])

    def tickets(self) -> int:
        return self.count("SELECT count(*) FROM tickets")

    def inbound(self) -> list[str]:
        return [r[0] for r in self.rows("SELECT message_id FROM messages WHERE direction = 'in'")]

    def acks(self) -> int:
        return self.count("SELECT count(*) FROM outbox WHERE kind = 'ack'")

    def folder(self, name: str, user: str = "info") -> dict[int, tuple[bytes, ...]]:
        return folder_flags(self.dovecot, name, user)


class _Lines(logging.Handler):
    def __init__(self, lines: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def desk(tmp_path: Path, dovecot: Dovecot, store_location: Path | str) -> Iterator[Desk]:
    opened = Desk(tmp_path, dovecot, store_location)
    try:
        yield opened
    finally:
        opened.close()


def append_all(
    dovecot: Dovecot, raws: list[bytes], folder: str = "INBOX", user: str = "info"
) -> None:
    """APPEND ``raws`` in this order over one connection, creating ``folder`` if missing."""
    with dovecot.client(user) as imap:
        if not imap.folder_exists(folder):
            imap.create_folder(folder)
        for start in range(0, len(raws), 50):
            imap.multiappend(folder, raws[start : start + 50])


def folder_flags(dovecot: Dovecot, folder: str, user: str = "info") -> dict[int, tuple[bytes, ...]]:
    """UID -> flags of every message in ``folder`` (empty when the folder is missing)."""
    with dovecot.client(user) as imap:
        if not imap.folder_exists(folder):
            return {}
        imap.select_folder(folder, readonly=True)
        flags: dict[int, tuple[bytes, ...]] = imap.get_flags(imap.search("ALL"))
        return flags


# -- taking mail ---------------------------------------------------------------------


@both_stores
def test_appended_mail_becomes_tickets_by_idle_before_any_poll(
    desk: Desk, dovecot: Dovecot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="maildesk.ingest.imap")
    desk.start(desk.account())  # polls every 60 s: only IDLE brings mail in sooner
    desk.ready()
    assert "collecting from 'INBOX' (IDLE)" in caplog.text

    # How soon is a benchmark figure (bench/imap_ingest.py); on a busy machine it varies.
    for number in range(1, 4):
        dovecot.append("info", "INBOX", message(number))
        wait_until(lambda n=number: desk.tickets() == n, timeout=30)  # type: ignore[misc]
    wait_until(lambda: len(desk.folder("Processed")) == 3, what="three processed messages")
    assert desk.folder("INBOX") == {}
    assert all(b"\\Seen" in flags for flags in desk.folder("Processed").values())
    assert desk.folder("Quarantine") == {}  # created, empty
    assert desk.acks() == 3
    assert desk.rows("SELECT DISTINCT source FROM messages WHERE direction = 'in'") == [
        ("imap:info",)
    ]
    assert desk.rows("SELECT DISTINCT queue FROM tickets") == [("info",)]
    [(validity, last_uid)] = desk.rows("SELECT uidvalidity, last_uid FROM imap_state")
    assert validity > 0
    assert last_uid == 3


@both_stores
def test_without_idle_the_folder_is_polled(desk: Desk, dovecot: Dovecot) -> None:
    dovecot.append("info", "INBOX", message(1))
    desk.start(desk.account(idle=False, poll_seconds=1))
    wait_until(lambda: desk.tickets() == 1)
    assert any("collecting from 'INBOX' (checking every 1 s)" in line for line in desk.lines)
    dovecot.append("info", "INBOX", message(2))
    wait_until(lambda: desk.tickets() == 2, timeout=30)  # without IDLE, only a poll finds it


@both_stores
def test_batches_are_taken_in_uid_order(desk: Desk, dovecot: Dovecot) -> None:
    append_all(dovecot, [message(n) for n in range(1, 12)])
    desk.start(desk.account(batch_size=3))
    wait_until(lambda: desk.tickets() == 11)
    subjects = [r[0] for r in desk.rows("SELECT subject FROM tickets ORDER BY number")]
    assert subjects == [f"Solicitud {n}" for n in range(1, 12)]
    wait_until(lambda: len(desk.folder("Processed")) == 11)


@both_stores
def test_an_empty_processed_folder_leaves_mail_in_place_flagged_seen(
    desk: Desk, dovecot: Dovecot
) -> None:
    append_all(dovecot, [message(1), message(2)])
    desk.start(desk.account(processed_folder=""))
    wait_until(lambda: desk.tickets() == 2)
    wait_until(lambda: all(b"\\Seen" in f for f in desk.folder("INBOX").values()))
    assert len(desk.folder("INBOX")) == 2
    with dovecot.client("info") as imap:
        assert not imap.folder_exists("Processed")
    # Left in place, they are not taken again: the last UID is kept.
    dovecot.append("info", "INBOX", message(3))
    wait_until(lambda: desk.tickets() == 3)
    time.sleep(0.3)
    assert desk.accepted == 3


@both_stores
def test_without_move_mail_is_copied_flagged_deleted_and_expunged(
    desk: Desk, dovecot: Dovecot
) -> None:
    append_all(dovecot, [message(n) for n in range(1, 5)])
    desk.start(desk.account(), use_move=False)
    wait_until(lambda: len(desk.folder("Processed")) == 4)
    wait_until(lambda: desk.folder("INBOX") == {})
    assert desk.tickets() == 4
    assert all(b"\\Seen" in f and b"\\Deleted" not in f for f in desk.folder("Processed").values())


@both_stores
def test_unreadable_mail_is_quarantined_and_moved_to_the_quarantine_folder(
    desk: Desk, dovecot: Dovecot
) -> None:
    append_all(dovecot, [b"garbage without any header\r\n\r\nbody\r\n", message(1)])
    desk.start(desk.account())
    wait_until(lambda: len(desk.folder("Quarantine")) == 1, what="the quarantine folder")
    wait_until(lambda: len(desk.folder("Processed")) == 1)
    assert desk.rows("SELECT source, reason FROM quarantine") == [
        ("imap:info", "no header section")
    ]
    assert desk.tickets() == 1
    assert desk.folder("INBOX") == {}


@both_stores
def test_a_message_stored_before_a_crash_is_moved_not_stored_again(
    desk: Desk, dovecot: Dovecot
) -> None:
    # The commit happened, the move did not: the crash window the pipeline's dedupe closes.
    envelope = Envelope(None, (), "imap:info", "info")
    desk.accept(message(1), envelope).result()
    desk.accept(b"no headers at all\r\n", envelope).result()
    append_all(dovecot, [message(1), b"no headers at all\r\n", message(2)])

    desk.start(desk.account())
    wait_until(lambda: desk.folder("INBOX") == {}, what="an empty INBOX")
    assert sorted(desk.inbound()) == ["req-1@alumnos.example", "req-2@alumnos.example"]
    assert desk.tickets() == desk.acks() == 2
    assert desk.count("SELECT count(*) FROM quarantine") == 1
    assert len(desk.folder("Processed")) == 2
    assert len(desk.folder("Quarantine")) == 1


@both_stores
def test_a_changed_uidvalidity_reads_the_folder_again_without_duplicates(
    desk: Desk, dovecot: Dovecot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="maildesk.ingest.imap")
    append_all(dovecot, [message(1), message(2), message(3)], folder="Requests")
    config = desk.account(folder="Requests", processed_folder="")
    desk.start(config)
    wait_until(lambda: desk.tickets() == 3)
    wait_until(lambda: all(b"\\Seen" in f for f in desk.folder("Requests").values()))
    [(old_validity, _)] = desk.rows("SELECT uidvalidity, last_uid FROM imap_state")

    # Recreate the folder: a new message first, so it gets a UID the old folder already used.
    with dovecot.client("info") as imap:
        imap.delete_folder("Requests")
    append_all(dovecot, [message(4), message(1), message(2), message(3)], folder="Requests")

    wait_until(lambda: desk.tickets() == 4, timeout=10, what="the new message")
    wait_until(lambda: all(b"\\Seen" in f for f in desk.folder("Requests").values()))
    assert sorted(desk.inbound()) == [f"req-{n}@alumnos.example" for n in range(1, 5)]
    assert desk.acks() == 4
    [(validity, last_uid)] = desk.rows("SELECT uidvalidity, last_uid FROM imap_state")
    assert validity != old_validity
    assert last_uid == 4
    assert "UIDVALIDITY of 'Requests' changed" in caplog.text


@both_stores
def test_a_restart_goes_on_from_the_uid_recorded_in_the_store(
    tmp_path: Path, dovecot: Dovecot, store_location: Path | str
) -> None:
    append_all(dovecot, [message(1), message(2)])
    first = Desk(tmp_path, dovecot, store_location)
    try:
        first.start(first.account(processed_folder=""))  # left in place
        wait_until(lambda: first.load_state("info", "INBOX") is not None)
        wait_until(lambda: (first.load_state("info", "INBOX") or (0, 0))[1] == 2)
    finally:
        first.close()
    with dovecot.client("info") as imap:  # unread again: only the recorded UID tells
        imap.select_folder("INBOX")
        imap.remove_flags(imap.search("ALL"), [b"\\Seen"])
    dovecot.append("info", "INBOX", message(3))

    second = Desk(tmp_path, dovecot, store_location)  # a new process, the same store
    try:
        second.start(second.account(processed_folder=""))
        wait_until(lambda: second.tickets() == 3)
        time.sleep(0.3)
        assert second.accepted == 1  # UID 3 only: 1 and 2 were recorded as taken
        assert second.rows("SELECT folder, last_uid FROM imap_state") == [("INBOX", 3)]
    finally:
        second.close()


@both_stores
def test_a_store_failure_leaves_mail_in_the_folder_and_is_retried(
    desk: Desk, dovecot: Dovecot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="maildesk.ingest.imap")
    desk.failures_to_come = 3
    append_all(dovecot, [message(1), message(2)])
    desk.start(desk.account())

    wait_until(lambda: desk.tickets() == 2)
    wait_until(lambda: len(desk.folder("Processed")) == 2)
    failed = [r for r in caplog.records if "cannot store message" in r.getMessage()]
    assert len(failed) == 1, caplog.text
    assert "UID 1: OperationalError: database or disk is full; left in the folder" in (
        failed[0].getMessage()
    )
    assert "imap:info: storing mail again" in caplog.text
    assert "reconnecting" not in caplog.text  # the connection was never the problem


# -- connections -----------------------------------------------------------------------


@both_stores
def test_a_wrong_password_logs_one_clear_line_backs_off_and_recovers(
    desk: Desk, dovecot: Dovecot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="maildesk.ingest.imap")
    config = desk.account(password="Not-The-Password-42")
    desk.start(config)
    wait_until(
        lambda: dovecot.log_path.read_text().count("auth failed") >= 4, what="several attempts"
    )
    refused = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 1, caplog.text
    assert refused[0].levelno == logging.ERROR
    assert re.match(
        r"imap:info: login to 127\.0\.0\.1:\d+ as info \(password from .*info\.password\):"
        r" refused: \[AUTHENTICATIONFAILED\] Authentication failed\.; retrying with backoff$",
        refused[0].getMessage(),
    ), refused[0].getMessage()
    assert "Not-The-Password-42" not in caplog.text

    assert config.password_file is not None
    config.password_file.write_text("secret\n", encoding="utf-8")
    desk.ready()
    dovecot.append("info", "INBOX", message(1))
    wait_until(lambda: desk.tickets() == 1)
    assert re.search(r"reconnected after \d+ failed attempt", caplog.text)


@both_stores
def test_a_dovecot_restart_is_survived_and_nothing_is_lost(
    desk: Desk, dovecot: Dovecot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="maildesk.ingest.imap")
    desk.start(desk.account())
    desk.ready()
    dovecot.append("info", "INBOX", message(1))
    wait_until(lambda: desk.tickets() == 1)

    dovecot.stop()
    wait_until(lambda: "reconnecting with backoff" in caplog.text, what="the lost connection")
    time.sleep(0.5)  # several failed attempts while the server is down
    dovecot.start()
    append_all(dovecot, [message(2), message(3)])

    wait_until(lambda: desk.tickets() == 3, timeout=10)
    wait_until(lambda: len(desk.folder("Processed")) == 3)
    lost = [r for r in caplog.records if "reconnecting with backoff" in r.getMessage()]
    assert len(lost) == 1, caplog.text
    assert "reconnected after" in caplog.text


@both_stores
def test_stopping_ends_idle_and_logs_out_promptly(desk: Desk, dovecot: Dovecot) -> None:
    desk.start(desk.account())
    desk.ready()
    dovecot.append("info", "INBOX", message(1))
    wait_until(lambda: desk.tickets() == 1)
    time.sleep(0.3)  # back in IDLE

    assert desk.stop() < 3
    wait_until(lambda: "Logged out" in dovecot.log_path.read_text(), what="a clean LOGOUT")


def test_starttls_is_never_skipped(desk: Desk) -> None:
    # This Dovecot offers no STARTTLS: the account must refuse to log in in clear text.
    with pytest.raises(PermanentError, match="does not offer STARTTLS"):
        connect(desk.account(tls="starttls"))


def test_implicit_tls_against_a_plain_server_fails_without_login(desk: Desk) -> None:
    with pytest.raises(TransientError, match=r"connect to 127\.0\.0\.1"):
        connect(desk.account(tls="tls"), timeout=5)


def test_a_closed_port_is_a_transient_error(desk: Desk, dovecot: Dovecot) -> None:
    dovecot.stop()
    with pytest.raises(TransientError, match="connect to"):
        connect(desk.account())


def test_a_missing_password_is_a_permanent_error(desk: Desk) -> None:
    config = desk.account(password_env="MAILDESK_TEST_UNSET_VARIABLE", password_file=None)
    with pytest.raises(PermanentError, match="MAILDESK_TEST_UNSET_VARIABLE is not set"):
        connect(config)


@both_stores
def test_a_missing_folder_is_reported_and_retried(
    desk: Desk, dovecot: Dovecot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="maildesk.ingest.imap")
    desk.start(desk.account(folder="Nowhere"))
    wait_until(lambda: "Nowhere" in caplog.text, what="the missing folder")
    append_all(dovecot, [message(1)], folder="Nowhere")
    wait_until(lambda: desk.tickets() == 1)


def test_probe_reports_folders_and_capabilities(desk: Desk, dovecot: Dovecot) -> None:
    append_all(dovecot, [message(1), message(2)])
    found = probe(desk.account(processed_folder="Done"))
    assert found.folders == {"INBOX": True, "Done": False, "Quarantine": False}
    assert found.messages == 2
    assert found.idle
    assert found.move


@both_stores
def test_two_accounts_feed_two_queues(desk: Desk, dovecot: Dovecot) -> None:
    dovecot.add_user("crm", "secret")
    desk.start(desk.account())
    desk.start(desk.account("crm", queue="crm"))
    desk.ready("info")
    desk.ready("crm")
    dovecot.append("info", "INBOX", message(1))
    dovecot.append("crm", "INBOX", message(2, to="crm@uni.example"))
    wait_until(lambda: desk.tickets() == 2)
    assert sorted(desk.rows("SELECT queue, subject FROM tickets")) == [
        ("crm", "Solicitud 2"),
        ("info", "Solicitud 1"),
    ]


def test_the_config_accepts_imap_with_the_listener_disabled(tmp_path: Path) -> None:
    config: Config = parse(
        '[listener]\nenabled = false\n\n[[imap]]\nname = "info"\nhost = "localhost"\n'
        'tls = "none"\nusername = "info"\npassword_env = "X"\nqueue = "info"\n',
        path=None,
        base_dir=tmp_path,
    )
    assert not config.listener.enabled
    assert [(a.name, a.port, a.source) for a in config.imap] == [("info", 143, "imap:info")]
