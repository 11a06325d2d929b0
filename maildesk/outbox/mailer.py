"""Queue a mail about a ticket: render its template, compose it, record it, put it in the
outbox. Called inside the transaction that causes the mail (ARCHITECTURE.md invariant 3),
by the pipeline (acknowledgements), agent replies and notifications, and timed jobs.

Every mail we send passes here, and here is the loop cap: at most
``[limits] mails_per_recipient_per_hour`` mails to one address per hour. A loop needs
a machine on each side; whatever the other machine is (an autoresponder, a mailbox that
bounces, a forwarding rule back to us), the mail of ours in the loop is automatic, so
capping every automatic kind ends every loop. Agents' replies are written by a person,
one at a time: they are neither counted nor held back, since counting them would let a
lively conversation silence the requester's survey, and holding one back would lose
what a person wrote.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from maildesk.config import Config, QueueConfig
from maildesk.mail.compose import Outgoing, compose
from maildesk.mail.parsed import Address, Attachment
from maildesk.mail.thread import format_tag, sign_message_id
from maildesk.sla.hours import schedule_rows, utc_offset, zone_place
from maildesk.store.store import NewMessage, OutgoingMail, Store
from maildesk.templates import Templates

log = logging.getLogger(__name__)

# Written by a person, one at a time: outside the loop cap (see above).
UNCAPPED = ("reply",)

# The letter a signed Message-ID carries, per kind of mail: a reply to it names the kind.
SIGN_KIND = {
    "ack": "a",
    "notify": "n",
    "reply": "r",
    "reminder": "m",
    "escalation": "e",
    "survey": "s",
    "notice": "p",
    "error": "x",
}


@dataclass(frozen=True)
class Mail:
    """One mail to queue. ``template`` is rendered with ``context`` plus ``base_context``."""

    ticket: int
    kind: str  # ack, notify, reply, reminder, escalation, survey, notice, error
    queue: QueueConfig
    from_address: str  # the queue address we answer from
    to: Sequence[Address]
    subject: str
    template: str
    language: str
    context: Mapping[str, Any] = field(default_factory=dict)
    in_reply_to: str = ""
    references: Sequence[str] = ()
    auto_submitted: str = ""  # "auto-replied" or "auto-generated" for robots' mail (RFC 3834)
    reply_to: Address | None = None
    attachments: Sequence[Attachment] = ()


class Mailer:
    def __init__(self, config: Config, store: Store, templates: Templates, secret: bytes) -> None:
        self.config = config
        self.store = store
        self.templates = templates
        self.secret = secret

    def base_context(self, queue: QueueConfig, ticket: int) -> dict[str, Any]:
        """What every template may use: the ticket's reference and the attention policy."""
        return {
            "ref": f"{queue.tag}#{ticket}",
            "tag": format_tag(queue.tag, ticket),
            "number": ticket,
            "organization": self.config.organization,
            "schedule": schedule_rows(self.config.calendar.hours),
            "response_hours": self.config.calendar.first_response_hours,
            "timezone": self.config.timezone,  # the IANA name, for site templates
            "timezone_place": zone_place(self.config.timezone),
            "controller": self.config.privacy.controller or self.config.organization,
            "anonymous": queue.anonymous,
        }

    def queue(self, mail: Mail, now: datetime) -> str | None:
        """Record and enqueue ``mail``; returns its signed Message-ID, or None when the loop
        cap left it no recipient. Needs a transaction."""
        kept = set(self.within_cap(mail.kind, mail.ticket, [a.email for a in mail.to], now))
        if not kept:
            return None
        if len(kept) < len(mail.to):
            mail = replace(mail, to=[a for a in mail.to if a.email in kept])
        domain = mail.from_address.rpartition("@")[2] or "localhost"
        sign = SIGN_KIND.get(mail.kind, "o")
        message_id = sign_message_id(self.secret, mail.ticket, sign, secrets.token_hex(6), domain)
        offset = now.astimezone(ZoneInfo(self.config.timezone)).utcoffset() or timedelta(0)
        context = {
            **self.base_context(mail.queue, mail.ticket),
            "timezone_offset": utc_offset(offset),  # as of sending: it moves with DST
            **mail.context,
        }
        body = self.templates.render(mail.template, mail.language, context)
        raw = compose(
            Outgoing(
                message_id=message_id,
                from_addr=Address(mail.from_address, self.config.organization),
                to=mail.to,
                subject=mail.subject,
                body=body,
                date=now,
                language=mail.language,
                in_reply_to=mail.in_reply_to,
                references=mail.references,
                auto_submitted=mail.auto_submitted,
                reply_to=mail.reply_to,
                attachments=mail.attachments,
            )
        )
        recipients = [a.email for a in mail.to]
        message = self.store.insert_message(
            NewMessage(
                ticket=mail.ticket,
                direction="out",
                kind=mail.kind,
                message_id=message_id,
                dedupe_key=None,
                from_addr=mail.from_address,
                from_name=self.config.organization,
                to_addrs=recipients,
                cc_addrs=[],
                subject=mail.subject,
                body=body,
                sent_at=now,
                source="maildesk",
                envelope_from=mail.from_address,
                raw_sha256=None,
            ),
            now,
        )
        for attachment in mail.attachments:
            self.store.add_attachment(
                message, attachment.filename, attachment.content_type, attachment.payload
            )
        self.store.enqueue(
            OutgoingMail(mail.ticket, mail.kind, message_id, mail.from_address, recipients, raw),
            message,
            now,
        )
        return message_id

    def enqueue(self, mail: OutgoingMail, now: datetime) -> int | None:
        """Put mail composed elsewhere (digests, reports: about no single ticket) in the
        outbox, under the same loop cap; its outbox row, or None if nobody is left."""
        kept = self.within_cap(mail.kind, mail.ticket, mail.rcpt_to, now)
        if not kept:
            return None
        # The To header still names everyone; only the envelope leaves the capped out.
        return self.store.enqueue(replace(mail, rcpt_to=kept), None, now)

    def within_cap(
        self, kind: str, ticket: int | None, recipients: Sequence[str], now: datetime
    ) -> list[str]:
        """``recipients`` who may get one more mail of ``kind`` now; the others are noted on
        the ticket and logged, once the transaction that skipped them commits."""
        if kind in UNCAPPED:
            return list(recipients)
        limit = self.config.limits.mails_per_recipient_per_hour
        since = now - timedelta(hours=1)
        kept = []
        for address in recipients:
            if self.store.mail_to_since(address, since, UNCAPPED) < limit:
                kept.append(address)
                continue
            self.store.add_event(ticket, "loop-capped", f"no {kind} to {address}", now)
            self.store.after_commit(
                partial(
                    log.warning,
                    "loop cap: not sending %s to %s (%d mails this hour,"
                    " limits.mails_per_recipient_per_hour) ticket=%s",
                    kind,
                    address,
                    limit,
                    ticket if ticket is not None else "-",
                )
            )
        return kept
