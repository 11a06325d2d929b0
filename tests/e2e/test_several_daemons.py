"""Two ``maildesk run`` on one PostgreSQL database: a message sent to both at once is one
ticket with one acknowledgement; one daemon sweeps and the other stands by, and takes
over when the first is killed; an IMAP account is read by one daemon, and by the other
once the first is killed, each message once."""

from __future__ import annotations

import json
import smtplib
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from maildesk.clock import SystemClock
from tests.e2e.test_imap_daemon import ImapDesk
from tests.ingest.test_imap import append_all, message
from tests.servers import Dovecot, Postgres
from tests.support.daemon import Maildesk, mail

pytestmark = pytest.mark.server

ALL_WEEK = "".join(
    f'{day} = "00:00-24:00"\n' for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
)
SLA = f"""
[calendar]
{ALL_WEEK}first_response_hours = 1

[sla]
sweep_seconds = 1

[[escalations]]
level = 1
notify = ["coord@uni.example"]
"""


def on_database(desk: Maildesk, url: str, node: str) -> Maildesk:
    """``desk`` configured to use the PostgreSQL database ``url`` under the name ``node``."""
    text = desk.config.read_text(encoding="utf-8")
    general = f'[maildesk]\ndatabase = "{url}"\nnode = "{node}"\n'
    desk.config.write_text(text.replace("[maildesk]\n", general, 1), encoding="utf-8")
    return desk


def health(desk: Maildesk) -> dict[str, Any]:
    url = f"http://127.0.0.1:{desk.http_port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:  # 503 while starting: the body still says why
        body = exc.read()
    found: dict[str, Any] = json.loads(body)
    return found


def metrics(desk: Maildesk) -> str:
    url = f"http://127.0.0.1:{desk.http_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode("utf-8"))


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)
    return time.monotonic() - started


def count(postgres: Postgres, database: str, sql: str, *args: object) -> int:
    with postgres.connect(database) as conn:
        row = conn.execute(sql.encode() if not args else sql, args or None).fetchone()
        return int(row[0]) if row else 0


@pytest.fixture
def started() -> Iterator[list[Maildesk]]:
    """Daemons to stop whatever a test does (before the servers they use stop)."""
    desks: list[Maildesk] = []
    yield desks
    for desk in desks:
        desk.stop()


def two_daemons(
    tmp_path: Path, url: str, started: list[Maildesk], extra: str = ""
) -> tuple[Maildesk, Maildesk]:
    first = on_database(Maildesk(tmp_path / "a", extra), url, "desk-a")
    second = on_database(Maildesk(tmp_path / "b", extra), url, "desk-b")
    for desk in (first, second):
        started.append(desk)
        desk.start()
    return first, second


def sweeper(desks: tuple[Maildesk, Maildesk]) -> tuple[Maildesk, Maildesk]:
    """(the daemon that holds the sweep lock, the other), once one does."""
    wait_for(lambda: any(health(d)["node"]["sweeps"] for d in desks), "a daemon to sweep")
    holder = next(d for d in desks if health(d)["node"]["sweeps"])
    return holder, next(d for d in desks if d is not holder)


def breach(postgres: Postgres, database: str, number: int) -> None:
    """Make ticket ``number``'s mail two hours old: its one-hour commitment is breached."""
    earlier = (SystemClock().now() - timedelta(hours=2)).isoformat(timespec="microseconds")
    with postgres.connect(database) as conn:
        conn.execute(
            "UPDATE tickets SET response_from = %s, sla_next_at = %s WHERE number = %s",
            (earlier, earlier, number),
        )


def escalated(postgres: Postgres, database: str, number: int) -> int:
    return count(
        postgres,
        database,
        "SELECT count(*) FROM events WHERE kind = 'escalated' AND ticket = %s",
        number,
    )


def test_the_same_message_sent_to_two_daemons_at_once_is_one_ticket_one_ack(
    postgres: Postgres, tmp_path: Path, started: list[Maildesk]
) -> None:
    url = postgres.create_database("two_daemons_one_message")
    desks = two_daemons(tmp_path, url, started)
    request = mail(
        "Ana Pérez <ana@alumnos.example>",
        "info@uni.example",
        "Certificado de notas",
        message_id="<same@alumnos.example>",
    )
    barrier = threading.Barrier(2)
    answers: list[object] = []
    refused: list[int] = []

    def send(desk: Maildesk) -> None:
        barrier.wait()
        try:
            answers.append(desk.send(request))
        except smtplib.SMTPDataError as exc:  # 451: the other daemon stored it meanwhile
            refused.append(exc.smtp_code)
            answers.append(desk.send(request))  # as a sending MTA retries: a duplicate

    threads = [threading.Thread(target=send, args=(desk,)) for desk in desks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert answers == [{}, {}]  # both took it (250)
    assert set(refused) <= {451}  # "try again later", never a permanent refusal

    database = "two_daemons_one_message"
    assert count(postgres, database, "SELECT count(*) FROM tickets") == 1
    assert count(postgres, database, "SELECT count(*) FROM messages WHERE direction = 'in'") == 1
    assert count(postgres, database, "SELECT count(*) FROM outbox WHERE kind = 'ack'") == 1
    for desk in desks:  # each daemon's command line reads the one database
        [ticket] = desk.json("tickets")
        # The mail and its acknowledgement. The number may be 2: the daemon that lost the
        # race drew 1 from the sequence before its transaction was undone (numbers are
        # never reused, so a gap is the price).
        assert ticket["ref"] in ("INFO#1", "INFO#2")
        assert ticket["message_count"] == 2

    # Each names itself; one sweeps, the other stands by; both are healthy.
    holder, other = sweeper(desks)
    assert {health(d)["node"]["name"] for d in desks} == {"desk-a", "desk-b"}
    standing = health(other)
    assert (standing["status"], standing["node"]["sweeps"]) == ("ok", False)
    assert standing["scheduler"]["jobs"]["sla"]["last_result"] == "another node sweeps"
    name = health(holder)["node"]["name"]
    assert f'maildesk_sweep_lock_held{{node="{name}"}} 1' in metrics(holder)
    assert f'maildesk_node_info{{node="{name}"}} 1' in metrics(holder)
    other_name = health(other)["node"]["name"]
    assert f'maildesk_sweep_lock_held{{node="{other_name}"}} 0' in metrics(other)


def test_a_breached_ticket_is_escalated_once_with_two_daemons_sweeping(
    postgres: Postgres, tmp_path: Path, started: list[Maildesk]
) -> None:
    url = postgres.create_database("two_daemons_escalate")
    database = "two_daemons_escalate"
    desks = two_daemons(tmp_path, url, started, SLA)
    for number, desk in enumerate(desks, start=1):
        desk.send(
            mail(
                "Ana <ana@alumnos.example>",
                "info@uni.example",
                f"Consulta {number}",
                message_id=f"<e{number}@alumnos.example>",
            )
        )
    holder, other = sweeper(desks)
    for number in (1, 2):
        breach(postgres, database, number)
    wait_for(
        lambda: escalated(postgres, database, 1) > 0 and escalated(postgres, database, 2) > 0,
        "both tickets to be escalated",
    )
    time.sleep(3)  # three more sweeps each: nothing more is due
    assert [escalated(postgres, database, n) for n in (1, 2)] == [1, 1]
    assert count(postgres, database, "SELECT count(*) FROM outbox WHERE kind = 'escalation'") == 2
    # Every timed job ran on one daemon only; the other's found the lock taken each time.
    jobs = health(other)["scheduler"]["jobs"]
    assert {name: job["last_result"] for name, job in jobs.items()} == dict.fromkeys(
        ("sla", "follow-ups", "monthly-report", "retention-purge"), "another node sweeps"
    )
    assert health(holder)["scheduler"]["jobs"]["sla"]["last_result"] != "another node sweeps"
    rows = desks[0].json("sla")
    assert sorted((r["ref"], r["escalation_level"]) for r in rows) == [("INFO#1", 1), ("INFO#2", 1)]


def test_when_the_sweeping_daemon_is_killed_the_other_takes_over(
    postgres: Postgres, tmp_path: Path, started: list[Maildesk]
) -> None:
    url = postgres.create_database("two_daemons_takeover")
    database = "two_daemons_takeover"
    desks = two_daemons(tmp_path, url, started, SLA)
    holder, other = sweeper(desks)
    assert holder.process is not None
    holder.process.kill()  # SIGKILL: its database session ends with it, and the lock
    holder.process.wait()
    took = wait_for(lambda: health(other)["node"]["sweeps"], "the other daemon to sweep", 15)
    assert took < 10  # the next sweep run (every second) finds the lock free
    other.send(
        mail(
            "Ana <ana@alumnos.example>",
            "info@uni.example",
            "Consulta",
            message_id="<after-kill@alumnos.example>",
        )
    )
    breach(postgres, database, 1)
    wait_for(lambda: escalated(postgres, database, 1) == 1, "the survivor to escalate")
    assert health(other)["scheduler"]["jobs"]["sla"]["state"] in ("scheduled", "running")


def test_an_imap_account_is_read_by_one_daemon_and_taken_over_after_a_kill(
    dovecot: Dovecot, postgres: Postgres, tmp_path: Path, started: list[Maildesk]
) -> None:
    url = postgres.create_database("two_daemons_imap")
    database = "two_daemons_imap"
    account = {"info": {"idle": False, "poll_seconds": 1, "processed_folder": "Hecho"}}
    desks = []
    for letter in "ab":
        desk = ImapDesk(tmp_path / letter, dovecot, {k: dict(v) for k, v in account.items()})
        desks.append(on_database(desk, url, f"desk-{letter}"))
        started.append(desk)
        desk.start()

    def reader() -> list[Maildesk]:
        return [d for d in desks if d.alive() and health(d)["node"]["imap"] == ["info"]]

    wait_for(lambda: len(reader()) == 1, "one daemon to read the account")
    [owner] = reader()
    [standby] = [d for d in desks if d is not owner]
    assert health(standby)["imap"]["info"]["state"] == "standby"
    assert health(standby)["status"] == "ok"
    assert 'maildesk_imap_account_held{account="info",node="desk-' in metrics(standby)

    inbound = "SELECT count(*) FROM messages WHERE direction = 'in'"
    append_all(dovecot, [message(1), message(2)])
    wait_for(lambda: count(postgres, database, inbound) == 2, "the owner to take two")
    assert owner.process is not None
    owner.process.kill()
    owner.process.wait()
    append_all(dovecot, [message(3)])
    took = wait_for(lambda: reader() == [standby], "the other daemon to read the account")
    assert took < 60
    wait_for(lambda: count(postgres, database, inbound) == 3, "the third message")
    time.sleep(2)  # two more checks: nothing is read twice
    assert count(postgres, database, inbound) == 3
    assert count(postgres, database, "SELECT count(*) FROM tickets") == 3
    assert count(postgres, database, "SELECT count(*) FROM outbox WHERE kind = 'ack'") == 3


def test_a_lone_daemon_on_sqlite_names_its_host_and_holds_the_sweeps(
    tmp_path: Path, started: list[Maildesk]
) -> None:
    desk = Maildesk(tmp_path / "alone")
    started.append(desk)
    desk.start()
    wait_for(lambda: health(desk)["node"]["sweeps"], "the daemon to sweep")
    node = health(desk)["node"]
    assert node == {"name": socket.gethostname(), "sweeps": True, "imap": []}
    assert f'maildesk_node_info{{node="{socket.gethostname()}"}} 1' in metrics(desk)
