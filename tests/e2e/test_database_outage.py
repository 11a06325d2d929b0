"""``maildesk run`` on PostgreSQL while the database stops and starts again (a restart, a
failover): mail sent meanwhile is answered 4xx and kept by its sender, /healthz says the
database is failing, and the daemon comes back by itself, without a restart: the mail
retried is stored once, each acknowledgement goes out once, and the locks (the sweeps,
an IMAP account) are held again, by exactly one daemon each."""

from __future__ import annotations

import smtplib
import threading
import time
from collections import Counter
from collections.abc import Iterator
from email.parser import BytesParser
from pathlib import Path

import pytest

from tests.e2e.test_imap_daemon import ImapDesk
from tests.e2e.test_several_daemons import count, health, metrics, on_database, wait_for
from tests.e2e.test_several_daemons_crash import request
from tests.ingest.test_imap import append_all, message
from tests.servers import Dovecot, Postgres
from tests.support.daemon import Maildesk

pytestmark = pytest.mark.server

DATABASE = "outage"
TOTAL = 30


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Postgres]:
    """A cluster of this test's own, as the test stops it (the shared one serves others)."""
    server = Postgres(tmp_path / "pg")
    server.start()  # RuntimeError with PostgreSQL's own words when it cannot
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def started() -> Iterator[list[Maildesk]]:
    """Daemons to stop whatever a test does (before the database they use stops)."""
    desks: list[Maildesk] = []
    yield desks
    for desk in desks:
        desk.stop()


def database_state(desk: Maildesk) -> str:
    return str(health(desk)["database"]["state"])


def test_a_daemon_survives_a_database_restart_while_mail_is_sent(
    database: Postgres, tmp_path: Path, started: list[Maildesk]
) -> None:
    url = database.create_database(DATABASE)
    desk = on_database(Maildesk(tmp_path / "desk"), url, "desk-a")
    started.append(desk)
    desk.start()
    assert desk.process is not None
    pid = desk.process.pid
    wait_for(lambda: health(desk)["node"]["sweeps"], "the daemon to hold the sweeps")
    refusals: Counter[int] = Counter()
    answered = threading.Semaphore(0)

    def client() -> None:
        """An MTA: each request until it is answered 250; a 4xx is sent again later."""
        for n in range(TOTAL):
            while True:
                try:
                    desk.send(request(n))
                    break
                except smtplib.SMTPResponseException as exc:
                    refusals[exc.smtp_code] += 1
                    if exc.smtp_code >= 500:  # refused for good: the test fails below
                        return
                    time.sleep(0.2)
            answered.release()
            time.sleep(0.05)

    sending = threading.Thread(target=client)
    sending.start()
    try:
        for _ in range(5):
            assert answered.acquire(timeout=30)
        database.stop()  # pg_ctl stop -m fast: every session is cut
        wait_for(lambda: sum(refusals.values()) >= 2, "mail answered 4xx while it is down")
        body = health(desk)
        assert body["status"] == "failing"
        assert body["database"]["state"] == "failing"
        assert body["node"]["sweeps"] is False  # the lock went with the session
        assert "maildesk_store_up 0" in metrics(desk)
        database.start()
        back = wait_for(lambda: database_state(desk) == "ok", "the database part to be ok", 20)
        assert back < 10  # the first attempts come within seconds (0.5 s, 1, 2, 4 …)
    finally:
        sending.join(120)
    assert not sending.is_alive()
    assert all(400 <= code < 500 for code in refusals), refusals  # "try again", never 5xx
    assert desk.process is not None
    assert desk.process.pid == pid  # no restart
    wait_for(lambda: health(desk)["node"]["sweeps"], "the sweeps held again", 15)
    assert "maildesk_store_up 1" in metrics(desk)
    assert "maildesk_store_reconnects_total 1" in metrics(desk)
    desk.send(request(TOTAL - 1))  # a sender's retry after all: stored already

    inbound = "SELECT count(*) FROM messages WHERE direction = 'in'"
    assert count(database, DATABASE, "SELECT count(*) FROM tickets") == TOTAL
    assert count(database, DATABASE, inbound) == TOTAL
    files = desk.outbox_files(TOTAL, timeout=30)
    time.sleep(1)  # a second copy of any would be written by now
    files = sorted(desk.outbox.glob("*.eml"))
    parser = BytesParser()
    to = Counter(str(parser.parsebytes(f.read_bytes())["To"]) for f in files)
    assert len(to) == TOTAL
    assert set(to.values()) == {1}  # each acknowledgement once
    log = desk.log()
    assert log.count("lost the connection to the database") == 1
    assert log.count("is back after") == 1
    assert "cannot store a message" not in log  # one line for the outage, not one per mail


def test_after_a_restart_each_lock_is_held_by_exactly_one_of_two_daemons(
    database: Postgres, dovecot: Dovecot, tmp_path: Path, started: list[Maildesk]
) -> None:
    url = database.create_database(DATABASE)
    account = {"info": {"idle": False, "poll_seconds": 1, "processed_folder": "Hecho"}}
    desks: list[Maildesk] = []
    for letter in "ab":
        desk = ImapDesk(tmp_path / letter, dovecot, {k: dict(v) for k, v in account.items()})
        desks.append(on_database(desk, url, f"desk-{letter}"))
        started.append(desk)
        desk.start()

    def holders() -> tuple[list[str], list[str]]:
        nodes = [health(d)["node"] for d in desks]
        return (
            [n["name"] for n in nodes if n["sweeps"]],
            [n["name"] for n in nodes if n["imap"] == ["info"]],
        )

    def one_each() -> bool:
        sweeps, imap = holders()
        return len(sweeps) == 1 and len(imap) == 1

    wait_for(one_each, "one daemon to sweep and one to read the account")
    database.stop()
    wait_for(lambda: holders() == ([], []), "both daemons to give up their locks", 15)
    assert all(database_state(d) == "failing" for d in desks)
    time.sleep(3)  # long enough for a few attempts to connect
    database.start()
    wait_for(lambda: all(database_state(d) == "ok" for d in desks), "both to reconnect", 20)
    wait_for(one_each, "each lock held again", 30)
    for _ in range(20):  # and never by both: sampled over a few of the standby's checks
        sweeps, imap = holders()
        assert len(sweeps) <= 1, sweeps
        assert len(imap) <= 1, imap
        time.sleep(0.25)
    inbound = "SELECT count(*) FROM messages WHERE direction = 'in'"
    append_all(dovecot, [message(1), message(2)])
    wait_for(lambda: count(database, DATABASE, inbound) == 2, "the reader to take both")
    time.sleep(2)  # two more looks by whoever reads: nothing is read twice
    assert count(database, DATABASE, inbound) == 2
    assert all(d.alive() for d in desks)
