"""The loop cap in the mailer: every kind of mail to one address, per hour, but replies."""

from __future__ import annotations

from datetime import timedelta

import pytest

from maildesk.clock import FakeClock
from maildesk.desk import Desk
from maildesk.mail.parsed import Address
from maildesk.outbox.mailer import Mail
from maildesk.store.store import NewTicket, OutgoingMail

CONFIG = """
[limits]
mails_per_recipient_per_hour = 3
"""


def notice(desk: Desk, ticket: int, kind: str, to: list[str]) -> Mail:
    queue = desk.config.queues[0]
    return Mail(
        ticket=ticket,
        kind=kind,
        queue=queue,
        from_address="info@uni.example",
        to=[Address(a) for a in to],
        subject="Aviso",
        template="reply.txt.j2",
        language="es",
        context={"body": "texto", "agent_name": ""},
    )


@pytest.fixture
def ticket(desk: Desk, clock: FakeClock) -> int:
    with desk.store.transaction():
        return desk.store.insert_ticket(
            NewTicket("info", "info@uni.example", "Beca", "ana@x.example", "Ana", "es", None, None),
            clock.now(),
        )


def events(desk: Desk, ticket: int) -> list[str]:
    rows = desk.store.conn.execute(
        "SELECT detail FROM events WHERE ticket = ? AND kind = 'loop-capped'", (ticket,)
    )
    return [r[0] for r in rows]


def test_every_automatic_kind_counts_per_recipient_and_replies_pass(
    desk: Desk, clock: FakeClock, ticket: int
) -> None:
    now = clock.now()
    with desk.store.transaction():
        # A group's notification counts for each of its recipients.
        for kind in ("notify", "escalation", "ack"):
            assert desk.mailer.queue(notice(desk, ticket, kind, ["b@x", "c@x"]), now)
        assert desk.mailer.queue(notice(desk, ticket, "reminder", ["b@x"]), now) is None
        # Only the capped recipient is left out of a mail to several.
        assert desk.mailer.queue(notice(desk, ticket, "notify", ["b@x", "d@x"]), now)
        # A person's reply is neither held back nor counted.
        assert desk.mailer.queue(notice(desk, ticket, "reply", ["b@x"]), now)
        # Mail composed elsewhere (a digest, a report) passes the same cap.
        digest = OutgoingMail(None, "digest", "d1@x", "info@uni.example", ["c@x", "e@x"], b"x")
        row = desk.mailer.enqueue(digest, now)
    assert row is not None
    assert events(desk, ticket) == ["no reminder to b@x", "no notify to b@x"]
    rcpt = [r[0] for r in desk.store.conn.execute("SELECT rcpt_to FROM outbox ORDER BY id")]
    assert rcpt[3:] == ['["d@x"]', '["b@x"]', '["e@x"]']
    # An hour later the count starts again.
    with desk.store.transaction():
        later = notice(desk, ticket, "notify", ["b@x"])
        assert desk.mailer.queue(later, now + timedelta(hours=1, seconds=1))
