"""Two ``maildesk run`` on one PostgreSQL database with a relay (an SMTP sink): a SIGKILL
of one in the middle of taking mail or of sending it loses nothing and doubles no ticket
or message; live daemons send each outbox row once; the daemon that takes the sweeps over
runs the retention purge and the monthly report at once, not a day later."""

from __future__ import annotations

import smtplib
import threading
import time
from collections import Counter
from collections.abc import Iterator
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest

from tests.e2e.test_several_daemons import (
    ALL_WEEK,
    count,
    health,
    sweeper,
    two_daemons,
    wait_for,
)
from tests.servers import Postgres, SmtpSink
from tests.support.daemon import Maildesk, mail

pytestmark = pytest.mark.server

PENDING = "SELECT count(*) FROM outbox WHERE state = 'pending'"


@pytest.fixture
def started() -> Iterator[list[Maildesk]]:
    """Daemons to stop whatever a test does (before the servers they use stop)."""
    desks: list[Maildesk] = []
    yield desks
    for desk in desks:
        desk.stop()


def relay(sink: SmtpSink) -> str:
    return (
        f'[outgoing]\ntransport = "smtp"\nhost = "{sink.host}"\nport = {sink.port}\n'
        'tls = "none"\nretry_seconds = 1\n'
    )


def request(n: int) -> EmailMessage:
    """Request ``n``: its own requester, so its acknowledgement is told apart at the sink."""
    return mail(
        f"p{n:02d}@alumnos.example",
        "info@uni.example",
        f"Consulta {n}",
        message_id=f"<c{n}@alumnos.example>",
    )


def deliver(n: int, desks: list[Maildesk]) -> Maildesk:
    """Send request ``n`` as an MTA does: to the first daemon that answers 250, trying
    the next on a refusal or a dead connection, again a little later if none did."""
    for _ in range(50):
        for desk in desks:
            if not desk.alive():
                continue
            try:
                desk.send(request(n))
            except (OSError, smtplib.SMTPException):  # killed, or 451: the other stored it
                continue
            return desk
        time.sleep(0.1)
    raise AssertionError(f"request {n} was never answered 250")


def acks(sink: SmtpSink) -> Counter[str]:
    return Counter(m.rcpt_tos[0] for m in sink.messages)


def per_message_id(sink: SmtpSink) -> Counter[str]:
    parser = BytesParser()
    return Counter(str(parser.parsebytes(m.data)["Message-ID"]) for m in sink.messages)


def sent_lines(desk: Maildesk) -> int:
    return desk.log().count("maildesk.outbox.sender: sent ticket=")


def all_sent(postgres: Postgres, database: str, sink: SmtpSink, total: int) -> None:
    wait_for(
        lambda: count(postgres, database, PENDING) == 0 and len(acks(sink)) == total,
        f"{total} acknowledgements sent",
        45,
    )


def test_a_kill_mid_ingest_loses_nothing_and_doubles_no_ticket(
    postgres: Postgres, tmp_path: Path, started: list[Maildesk], smtp_sink: SmtpSink
) -> None:
    """Requests 0-39 go to the first daemon, 20-59 to the second (20-39 to both at once),
    and the first is killed once it has answered ten. A request cut off by the kill goes
    to the second, as an MTA sends to its next MX; the first may have committed it
    without its 250, and the second then finds it stored.

    Acknowledgements: one per ticket, but for at most one: the first daemon's sender hands
    one row at a time to the relay, and one the relay took just before the kill, not yet
    marked sent, is claimed and sent again by the second (its claim died with the first's
    database session).
    """
    url = postgres.create_database("crash_ingest")
    database = "crash_ingest"
    first, second = two_daemons(tmp_path, url, started, relay(smtp_sink))
    answered: dict[int, str] = {}
    first_answers = threading.Semaphore(0)

    def client(numbers: range, desks: list[Maildesk]) -> None:
        for n in numbers:
            by = deliver(n, desks)
            answered[n] = by.folder.name
            if by is first:
                first_answers.release()

    clients = [
        threading.Thread(target=client, args=(range(40), [first, second])),
        threading.Thread(target=client, args=(range(20, 60), [second, first])),
    ]
    for thread in clients:
        thread.start()
    for _ in range(10):
        assert first_answers.acquire(timeout=30), "the first daemon answered fewer than 10"
    first.kill()  # SIGKILL in the middle of the stream: nothing is finished or flushed
    for thread in clients:
        thread.join(60)
    assert sorted(answered) == list(range(60))
    assert 10 <= Counter(answered.values())["a"] < 40  # the kill came mid-stream

    # Every request answered 250 is stored, once; one ticket each.
    inbound = "SELECT count(*) FROM messages WHERE direction = 'in'"
    assert count(postgres, database, inbound) == 60
    ids = "SELECT count(DISTINCT message_id) FROM messages WHERE direction = 'in'"
    assert count(postgres, database, ids) == 60
    assert count(postgres, database, "SELECT count(*) FROM tickets") == 60
    for n in range(60):
        stored = "SELECT count(*) FROM messages WHERE message_id = %s"
        assert count(postgres, database, stored, f"c{n}@alumnos.example") == 1, n
    assert count(postgres, database, "SELECT count(*) FROM outbox WHERE kind = 'ack'") == 60

    all_sent(postgres, database, smtp_sink, 60)
    twice = {rcpt: n for rcpt, n in acks(smtp_sink).items() if n > 1}
    assert sum(n - 1 for n in twice.values()) <= 1, twice
    print(f"acknowledgements sent twice after the kill: {len(twice)}")  # noqa: T201


def test_a_kill_mid_sending_sends_every_row_and_doubles_at_most_the_one_in_flight(
    postgres: Postgres, tmp_path: Path, started: list[Maildesk], smtp_sink: SmtpSink
) -> None:
    """A relay taking 0.25 s per message, and the first daemon killed while both send.

    Rows in flight at the kill: one. Each daemon's sender hands one row at a time to the
    relay and marks it sent (committed) before the next; the rows it holds besides (up to
    ten claimed at once) were never handed over, and their claim dies with its database
    session, so the second daemon sends them once. The one row with the relay at the kill
    is never marked sent, and the second sends it again: a duplicate when the relay had
    taken it (its 250 lost with the killed daemon). So at most one. This sink drops a
    message whose client is gone before the 250, so the count here is mostly 0; a relay
    that queued it just before the kill makes it 1.
    """
    url = postgres.create_database("crash_sending")
    database = "crash_sending"
    smtp_sink.delay = 0.25
    first, second = two_daemons(tmp_path, url, started, relay(smtp_sink))
    for n in range(40):
        (first if n % 2 else second).send(request(n))
    held = "SELECT count(*) FROM outbox WHERE state = 'pending' AND claimed_by IS NOT NULL"
    wait_for(lambda: len(smtp_sink.messages) >= 6, "the first deliveries", 20)
    claimed_before = count(postgres, database, held)
    at_kill = len(smtp_sink.messages)
    first.kill()
    assert claimed_before > 0  # the daemons held rows: the kill came mid-sending
    assert at_kill < 34
    all_sent(postgres, database, smtp_sink, 40)
    twice = {mid: n for mid, n in per_message_id(smtp_sink).items() if n > 1}
    assert sum(n - 1 for n in twice.values()) <= 1, twice
    assert count(postgres, database, "SELECT count(*) FROM outbox WHERE state = 'sent'") == 40
    print(f"rows sent twice after a kill mid-sending: {len(twice)}")  # noqa: T201


def test_two_live_daemons_send_each_pending_row_once(
    postgres: Postgres, tmp_path: Path, started: list[Maildesk], smtp_sink: SmtpSink
) -> None:
    url = postgres.create_database("live_sending")
    database = "live_sending"
    smtp_sink.delay = 0.05
    first, second = two_daemons(tmp_path, url, started, relay(smtp_sink))
    for n in range(40):  # both see every row pending; each claims what it sends
        (first if n % 2 else second).send(request(n))
    all_sent(postgres, database, smtp_sink, 40)
    deliveries = per_message_id(smtp_sink)
    assert len(deliveries) == 40
    assert set(deliveries.values()) == {1}
    assert sent_lines(first) + sent_lines(second) == 40
    assert sent_lines(first) > 0
    assert sent_lines(second) > 0


REPORTS = f"""
[calendar]
{ALL_WEEK}
[sla]
sweep_seconds = 1

[reports]
recipients = ["coord@uni.example"]
"""


def test_the_daemon_taking_over_the_sweeps_purges_and_reports_at_once(
    postgres: Postgres, tmp_path: Path, started: list[Maildesk]
) -> None:
    """The purge runs daily and the monthly report is looked at hourly, each on the daemon
    that holds the sweep lock; the one that takes it over cannot know when the other last
    ran them, so it runs both at the takeover."""
    url = postgres.create_database("takeover_chores")
    database = "takeover_chores"
    desks = two_daemons(tmp_path, url, started, REPORTS)
    holder, other = sweeper(desks)
    reports = "SELECT count(*) FROM outbox WHERE kind = 'report'"
    wait_for(lambda: count(postgres, database, reports) == 1, "the holder's monthly report")
    holder.send(request(1))
    with postgres.connect(database) as conn:  # a ticket closed long ago; a report unsent
        conn.execute(
            "UPDATE tickets SET state = 'closed', closed_at = '2020-01-01T00:00:00.000000+00:00'"
        )
        conn.execute("DELETE FROM meta WHERE key LIKE 'report-sent:%'")
    holder.kill()
    took = wait_for(lambda: count(postgres, database, reports) == 2, "the report again", 20)
    wait_for(lambda: count(postgres, database, "SELECT count(*) FROM tickets") == 0, "the purge")
    assert took < 15  # not the next hourly look
    assert "took over the sweeps" in other.log()
    purge = health(other)["scheduler"]["jobs"]["retention-purge"]
    assert purge["last_result"].startswith("removed 1 ticket(s)"), purge
    assert "retention purge: removed 1 ticket(s)" in other.log()
