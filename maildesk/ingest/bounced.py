"""What a bounce of our mail does, inside the transaction that stores it.

The outbox rows it names are marked bounced and the bounce is noted on their tickets.
Then it depends on who did not get the mail:

- the ticket's requester or a participant: the ticket's agents are told, since they must
  reach that person another way;
- anyone else (an agent's notification, a reminder, an escalation, a digest, a report):
  nothing more is sent because of it. Telling an agent by mail that mail to them came
  back is how one full mailbox made thousands of notifications a minute: each one
  bounced in turn. One log line says it; and the coordinators of the ticket's queue hear
  of it at most once a day per address, because an agent whose mailbox refuses mail
  misses every notification, and the tickets routed to them would wait unseen until they
  escalate. Someone who can fix the address or the rota must know; once a day is enough
  to act on, and bounded even when it is a coordinator's own mailbox that bounces.

Mail about a bounce never goes to an address that bounced, and the loop cap in the mailer
bounds whatever remains.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import partial

from maildesk.desk import Desk
from maildesk.mail.bounces import bounced_recipients, who_failed
from maildesk.mail.parsed import Address
from maildesk.store import tickets
from maildesk.store.store import Bounced

log = logging.getLogger(__name__)

TOLD = "undeliverable-told"  # the event that says the coordinators heard of an address
_TOLD_EVERY = timedelta(days=1)


class Bounces:
    def __init__(self, desk: Desk) -> None:
        self.store = desk.store
        self.notices = desk.notices
        self.masking = desk.masking

    def record(
        self, raw: bytes, reason: str, text: str, message_ids: Sequence[str], now: datetime
    ) -> None:
        """Record a bounce of our messages ``message_ids``; ``text`` is what it says."""
        reported = bounced_recipients(raw)
        for row in self.store.bounce_outbox(message_ids, reason):
            named = reported
            if row.ticket is not None:  # an anonymous requester is named by the pseudonym
                named = self.masking.named(reported, self.notices.ticket(row.ticket).queue)
            failed = who_failed(named, row.rcpt_to)
            detail = f"outbox row {row.row} to {', '.join(failed) or '?'}"
            self.store.add_event(row.ticket, "bounced", detail, now)
            people: set[str] = set()
            if row.ticket is not None:
                people = {a.lower() for a, _ in tickets.participants(self.store, row.ticket)}
            requesters = [a for a in failed if a.lower() in people]
            if requesters and row.ticket is not None:
                self.store.after_commit(
                    partial(
                        log.warning,
                        "outgoing mail bounced: outbox row %d ticket=%s",
                        row.row,
                        row.ticket,
                    )
                )
                ticket = self.notices.ticket(row.ticket)
                self.notices.notify(
                    ticket,
                    event="bounced",
                    sender=Address(", ".join(requesters)),
                    text=text[:4000],
                    attachments=(),
                    now=now,
                    leave_out=failed,
                )
            for address in (a for a in failed if a.lower() not in people):
                self._staff(row, address, failed, text, now)

    def _staff(
        self, row: Bounced, address: str, failed: Sequence[str], text: str, now: datetime
    ) -> None:
        """Mail to ``address``, not the ticket's requester, came back: log it, and tell the
        coordinators once a day."""
        self.store.after_commit(
            partial(
                log.warning,
                "outgoing %s to %s bounced: recorded, nothing is sent because of it"
                " outbox row %d ticket=%s",
                row.kind,
                address,
                row.row,
                row.ticket if row.ticket is not None else "-",
            )
        )
        if row.ticket is None or self.store.event_since(TOLD, address, now - _TOLD_EVERY):
            return
        ticket = self.notices.ticket(row.ticket)
        coordinators = [a for a in self.notices.coordinators(ticket) if a.address not in failed]
        if not coordinators:
            return
        self.notices.notify(
            ticket,
            event="undeliverable",
            sender=Address(address),
            text=text[:4000],
            attachments=(),
            now=now,
            to=coordinators,
        )
        self.store.add_event(ticket.number, TOLD, address, now)
