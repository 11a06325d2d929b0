"""The mail the pipeline writes back to a sender by itself: the acknowledgement of a new
ticket and the notice of attachments over the limits, both under the loop guard's rate.

Written to the outbox inside the pipeline's transaction (ARCHITECTURE.md invariant 3).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from maildesk.desk import Desk
from maildesk.ingest.arrival import Arrival
from maildesk.mail.parsed import Attachment
from maildesk.mail.thread import base_subject, reply_subject, strip_tags
from maildesk.outbox.mailer import Mail

log = logging.getLogger("maildesk.ingest.pipeline")  # one logger name for the pipeline's lines


class AutoAnswers:
    """Automatic answers to an arrival's sender, threaded under its message (RFC 3834)."""

    def __init__(self, desk: Desk, tags: set[str]) -> None:
        self.config = desk.config
        self.store = desk.store
        self.mailer = desk.mailer
        self.deadlines = desk.deadlines
        self.tags = tags

    def acknowledge(self, arrival: Arrival, ticket: int, ref: str, template: str) -> bool:
        """Queue the acknowledgement unless the sender is over the loop guard's rate."""
        sender, now = arrival.sender, arrival.now
        if self._over_rate(sender.email, now):
            self.store.add_event(
                ticket, "rate-limited", f"no acknowledgement to {sender.email}", now
            )
            log.warning(
                "not answering %s: over %d automatic messages this hour (loop guard) ticket=%s",
                sender.email,
                self.config.limits.auto_replies_per_hour,
                ref,
            )
            return False
        subject = base_subject(strip_tags(arrival.mail.subject, self.tags))
        # What this ticket is owed, which a VIP segment or a queue's policy may shorten.
        hours = _hours(self.deadlines.first_response_hours(ticket))
        self._answer(
            arrival, "ack", template, {"subject": subject, "response_hours": hours}, ticket
        )
        return True

    def refused_attachments(
        self, arrival: Arrival, ticket: int, ref: str, refused: Sequence[Attachment]
    ) -> None:
        names = ", ".join(a.filename for a in refused)
        self.store.add_event(ticket, "attachments-over-limit", names, arrival.now)
        log.warning("attachments over the limit ticket=%s: %d not kept", ref, len(refused))
        if arrival.kind.may_answer and not self._over_rate(arrival.sender.email, arrival.now):
            limits = self.config.limits
            context = {
                "refused": [a.filename for a in refused],
                "max_attachments": limits.max_attachments,
                "max_megabytes": round(limits.max_attachment_bytes / 1048576, 1),
            }
            self._answer(arrival, "notice", "attachments_refused.txt.j2", context, ticket)

    def _over_rate(self, address: str, now: datetime) -> bool:
        sent = self.store.automatic_sent_since(address, now - timedelta(hours=1))
        return sent >= self.config.limits.auto_replies_per_hour

    def _answer(
        self,
        arrival: Arrival,
        kind: str,
        template: str,
        context: dict[str, Any],
        ticket: int,
    ) -> None:
        """Queue an automatic answer to the arrival's sender, threaded under it (RFC 3834)."""
        queue, mail, sender = arrival.queue, arrival.mail, arrival.sender
        self.mailer.queue(
            Mail(
                ticket=ticket,
                kind=kind,
                queue=queue,
                from_address=arrival.queue_address,
                to=[sender],
                subject=reply_subject(queue.tag, ticket, mail.subject, self.tags),
                template=template,
                language=queue.language,
                context={"requester_name": sender.name, **context},
                in_reply_to=mail.message_id,
                references=mail.references,
                auto_submitted="auto-replied",
            ),
            arrival.now,
        )


def _hours(value: float) -> int | float:
    """8.0 -> 8, 1.5 -> 1.5: as people write a number of hours."""
    return int(value) if value == int(value) else round(value, 1)
