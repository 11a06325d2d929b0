"""accept(raw bytes) -> Stored | Duplicate | Quarantined, in one transaction.

Every source (SMTP, LMTP, IMAP) calls ``accept`` and acknowledges the message to its
sender only after it returns: by then the message, its ticket change, its event and the
mail it causes are committed together (ARCHITECTURE.md invariants 1-3).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial

from maildesk.clock import Clock
from maildesk.config import QueueConfig, address_matches, queue_for
from maildesk.desk import Desk
from maildesk.errors import MalformedMail
from maildesk.ingest.answers import AutoAnswers
from maildesk.ingest.arrival import Arrival
from maildesk.ingest.bounced import Bounces
from maildesk.ingest.envelope import (
    Duplicate,
    Envelope,
    Outcome,
    Quarantined,
    Stored,
    envelope_address,
)
from maildesk.ingest.inbound import concrete_address, dedupe_key, inbound_row, within_limits
from maildesk.mail.bounces import bounced_message_ids
from maildesk.mail.classify import Classification, MailKind, classify
from maildesk.mail.parse import parse
from maildesk.mail.parsed import Address, Attachment, ParsedMail
from maildesk.mail.thread import (
    Hit,
    Via,
    base_subject,
    choose,
    find_tag,
    signed_tickets,
    strip_tags,
)
from maildesk.model import Ticket
from maildesk.store.store import AlreadyStored, NewTicket
from maildesk.surveys.replies import Answer
from maildesk.workflow import Action, Decision, decide

log = logging.getLogger(__name__)


class Pipeline:
    """``accept``: one message in, one transaction, one outcome."""

    def __init__(self, desk: Desk, clock: Clock) -> None:
        self.desk = desk
        self.config = desk.config
        self.store = desk.store
        self.clock = clock
        self.secret = desk.secret
        self.deadlines = desk.deadlines
        self.intake = desk.intake
        self.surveys = desk.surveyor
        self.masking = desk.masking
        self.bounces = Bounces(desk)
        self.tags = {q.tag for q in desk.config.queues}
        self.answers = AutoAnswers(desk, self.tags)
        self.agents = desk.config.agent_addresses()
        self.own = list(desk.config.own_addresses)

    def route(self, recipients: Sequence[str]) -> tuple[QueueConfig, str] | None:
        return queue_for(self.config, list(recipients))

    def accept(self, raw: bytes, envelope: Envelope) -> Outcome:
        now = self.clock.now()
        try:
            mail = parse(raw)
        except MalformedMail as exc:
            return self._quarantine(raw, envelope, str(exc), now)
        kind = classify(mail, envelope_sender=envelope.mail_from, own_addresses=self.own)
        sender = mail.sender or envelope_address(envelope.mail_from)
        if sender is None:
            if kind.may_open_ticket:
                return self._quarantine(
                    raw, envelope, "no sender address (From, Sender, Reply-To)", now
                )
            sender = Address("")  # a bounce from nobody: recorded, never answered
        key = dedupe_key(raw, mail)
        duplicate = self.store.find_duplicate(key)
        if duplicate is not None:
            log.info("duplicate message-id=<%s> already stored", mail.message_id)
            return Duplicate(duplicate[1], mail.message_id)
        try:
            return self._take(raw, envelope, mail, sender, kind, key, now)
        except AlreadyStored:
            # Another daemon on the same database stored it between the look-up above and
            # our insert; its commit holds it now (the unique key waited for it). Our work
            # is undone: a duplicate, answered at once rather than tried again later.
            stored = self.store.find_duplicate(key)
            if stored is None:  # stored and already purged: let the source try again
                raise
            log.info("duplicate message-id=<%s> stored meanwhile elsewhere", mail.message_id)
            return Duplicate(stored[1], mail.message_id)

    def _take(
        self,
        raw: bytes,
        envelope: Envelope,
        mail: ParsedMail,
        sender: Address,
        kind: Classification,
        key: str,
        now: datetime,
    ) -> Outcome:
        """``accept`` for mail not stored yet; AlreadyStored when it is stored meanwhile."""
        queue, queue_address = self._queue(mail, envelope)
        arrival = Arrival(raw, envelope, mail, sender, kind, key, now, queue, queue_address)
        if queue.anonymous and sender.email not in self.agents:
            arrival = self._mask(arrival, queue)
        # A bounce names our message only inside the returned copy; that finds its ticket.
        bounced = bounced_message_ids(raw) if kind.kind is MailKind.BOUNCE else []
        mail, sender = arrival.mail, arrival.sender
        choice = choose(self._hits(mail, bounced), sender.email, self.agents, queue.tag)
        agent = self.intake.recognise(mail, sender, choice, kind)
        arrival = replace(arrival, agent=agent)
        if kind.may_answer and agent is None:
            answered = self.surveys.mail_answer(mail, sender, now)
            if answered is not None:  # "5", "no se resolvió": recorded, the ticket stays
                with self.store.transaction():
                    return self._survey_answer(self._kept(arrival), answered)
        choice = self.intake.join_duplicate(choice, mail, sender, queue, kind, now)
        joined = choice.ticket.queue if choice.ticket else None
        if not arrival.masked and joined and self.masking.anonymous(joined) and agent is None:
            # Mail that reached an anonymous ticket by our Message-ID, written to another
            # address or a bounce of our answer: masked all the same.
            arrival = self._mask(arrival, self.config.queue(joined))
        arrival = replace(arrival, choice=choice)
        decision = decide(
            choice,
            now=now,
            # An agent's reply changes its ticket by its commands, not as a requester's mail;
            # mail held for failing the agents' authentication changes nothing.
            may_answer=kind.may_answer and agent is None,
            may_open_ticket=kind.may_open_ticket,
            reopen_window=timedelta(days=self.config.reopen_days),
            outsider=agent is None and _outsider(choice.ticket, sender.email),
        )
        with self.store.transaction():
            arrival = self._kept(arrival)
            outcome = self._store(arrival, decision)
            if bounced:
                self.bounces.record(raw, kind.reason, arrival.mail.text, bounced, now)
            # Said once it is true: in a group committed together, at the group's commit.
            self.store.after_commit(
                partial(
                    log.info,
                    "stored ticket=%s action=%s kind=%s message-id=<%s>%s",
                    outcome.ref or "-",
                    outcome.action.value,
                    kind.kind.value,
                    arrival.mail.message_id,
                    " acknowledged" if outcome.acknowledged else "",
                )
            )
        return outcome

    # -- steps -----------------------------------------------------------------------

    def _mask(self, arrival: Arrival, queue: QueueConfig) -> Arrival:
        """The arrival as an anonymous queue keeps it: its sender behind a pseudonym. A
        message is masked at most once, by the first step that finds it anonymous."""
        masked = self.masking.mask(arrival.raw, arrival.mail, arrival.sender, queue, arrival.kind)
        return replace(arrival, masked=masked, sender=masked.sender, mail=masked.mail)

    def _kept(self, arrival: Arrival) -> Arrival:
        """The raw mail and envelope as the store keeps them: sealed in anonymous queues."""
        masked = arrival.masked
        if masked is None:
            return replace(arrival, kept=arrival.raw)
        kept, mail_from = self.masking.seal(
            arrival.raw, arrival.envelope.mail_from, masked.real, masked.sender, arrival.now
        )
        return replace(arrival, kept=kept, envelope=replace(arrival.envelope, mail_from=mail_from))

    def _queue(self, mail: ParsedMail, envelope: Envelope) -> tuple[QueueConfig, str]:
        headers = [a.email for a in (*mail.to, *mail.cc)]
        if envelope.queue is not None:
            queue = self.config.queue(envelope.queue)
            matched = next(
                (h for h in headers if any(address_matches(p, h) for p in queue.addresses)), None
            )
            return queue, matched or concrete_address(queue)
        routed = self.route(envelope.recipients) or self.route(headers)
        if routed is None:  # the listener refuses such recipients; be safe anyway
            queue = self.config.queues[0]
            return queue, concrete_address(queue)
        return routed

    def _hits(self, mail: ParsedMail, bounced: Sequence[str] = ()) -> list[Hit]:
        ids = [*mail.references, *mail.in_reply_to, *bounced]
        signed = signed_tickets(self.secret, ids)
        stored = [
            n for n in self.store.tickets_of_message_ids(list(reversed(ids))) if n not in signed
        ]
        tag = find_tag(mail.subject, self.tags)
        tagged = [tag.number] if tag and tag.number not in signed + stored else []
        tickets = self.intake.follow_merges(self.store.tickets(signed + stored + tagged))
        hits = [Hit(tickets[n], Via.SIGNED_ID) for n in signed if n in tickets]
        hits += [Hit(tickets[n], Via.STORED_ID) for n in stored if n in tickets]
        if tag:
            for n in tagged:
                if n in tickets and self.config.tag_of(tickets[n].queue) == tag.prefix:
                    hits.append(Hit(tickets[n], Via.TAG))
        return hits

    def _store(self, arrival: Arrival, decision: Decision) -> Stored:
        """The message, its ticket change, its attachments and the mail it causes."""
        mail, sender, kind, now = arrival.mail, arrival.sender, arrival.kind, arrival.now
        ticket, ack_template = self._open_or_append(arrival, decision)
        message = self._record_message(arrival, ticket)
        kept, refused = self._attachments(arrival, message)
        existing = None if decision.opens_ticket else decision.ticket
        ref = ""
        if ticket is not None:
            ref = (
                f"{self.config.tag_of(existing.queue if existing else arrival.queue.name)}#{ticket}"
            )
            if kind.may_answer:
                # An anonymous sender's mail was masked: its To and Cc hold only our addresses.
                requester = existing.requester if existing else sender.email
                people = self.intake.brought_in(requester, mail, sender, arrival.agent)
                self.store.add_participants(ticket, people, "cc")
            self.store.add_event(ticket, decision.action.value, f"message <{mail.message_id}>", now)
            # Only the requester's and participants' mail is owed an answer.
            owed = kind.may_answer and not _outsider(existing, sender.email)
            self.deadlines.after_message(ticket, existing, sender.email, owed, now)
        acknowledged = decision.acknowledge and ticket is not None
        if acknowledged and ticket is not None:
            acknowledged = self.answers.acknowledge(arrival, ticket, ref, ack_template)
        if refused and ticket is not None:
            self.answers.refused_attachments(arrival, ticket, ref, refused)
        self.intake.arrived(
            ticket, message, kept, mail, sender, arrival.agent, decision, kind.may_answer, now
        )
        return Stored(ticket, decision.action, mail.message_id, ref, acknowledged)

    def _open_or_append(self, arrival: Arrival, decision: Decision) -> tuple[int | None, str]:
        """The ticket the message belongs to, opened or moved as decided; and the template
        of its acknowledgement (a category may have its own)."""
        mail, now, queue = arrival.mail, arrival.now, arrival.queue
        existing = None if decision.opens_ticket else decision.ticket
        if decision.opens_ticket:
            ticket = self.store.insert_ticket(
                NewTicket(
                    queue=queue.name,
                    queue_address=arrival.queue_address,
                    subject=base_subject(strip_tags(mail.subject, self.tags)),
                    requester=arrival.sender.email,
                    requester_name=arrival.sender.name,
                    language=queue.language,
                    claimed_tag=str(decision.claimed) if decision.claimed else None,
                    linked_to=decision.linked_to,
                ),
                now,
            )
            template = self.intake.opened(
                ticket, queue, mail, arrival.sender, arrival.envelope.recipients, now
            )
            return ticket, template
        if existing is not None and decision.state is not None:
            if decision.state is not existing.state:
                self.store.set_state(existing.number, decision.state, now)
            else:
                self.store.touch(existing.number, now)
        return (existing.number if existing else None), "ack.txt.j2"

    def _record_message(self, arrival: Arrival, ticket: int | None) -> int:
        mail = arrival.mail
        raw_sha = self.store.put_blob(arrival.kept)
        note = "; ".join(filter(None, [arrival.kind.reason, ", ".join(mail.defects)]))
        row = inbound_row(
            ticket,
            arrival.kind.kind.value,
            mail,
            arrival.sender,
            arrival.envelope,
            arrival.key,
            raw_sha,
            note,
        )
        return self.store.insert_message(row, arrival.now)

    def _attachments(
        self, arrival: Arrival, message: int
    ) -> tuple[list[Attachment], list[Attachment]]:
        """Keep the attachments within the limits; return those kept and those refused."""
        limits = self.config.limits
        kept, refused = within_limits(
            arrival.mail.attachments, limits.max_attachments, limits.max_attachment_bytes
        )
        for attachment in kept:
            self.store.add_attachment(
                message, attachment.filename, attachment.content_type, attachment.payload
            )
        return kept, refused

    def _survey_answer(self, arrival: Arrival, answered: tuple[int, Answer]) -> Stored:
        number, answer = answered
        mail = arrival.mail
        raw_sha = self.store.put_blob(arrival.kept)
        self.store.insert_message(
            inbound_row(
                number, "survey", mail, arrival.sender, arrival.envelope, arrival.key, raw_sha
            ),
            arrival.now,
        )
        recorded = self.surveys.record(number, answer, "mail", arrival.now)
        self.store.after_commit(
            partial(
                log.info,
                "stored ticket=%s survey answer message-id=<%s>",
                recorded.ref,
                mail.message_id,
            )
        )
        return Stored(number, Action.APPEND, mail.message_id, recorded.ref, False)

    def _quarantine(
        self, raw: bytes, envelope: Envelope, reason: str, now: datetime
    ) -> Quarantined:
        queue = self.config.queue(envelope.queue) if envelope.queue else None
        queue = queue or (self.route(envelope.recipients) or (None, ""))[0]
        with self.store.transaction():
            if queue is not None and queue.anonymous:
                raw, mail_from = self.masking.held(raw, envelope.mail_from, queue, now)
                envelope = replace(envelope, mail_from=mail_from)
            number = self.store.quarantine(
                raw,
                reason=reason,
                source=envelope.source,
                envelope_from=envelope.mail_from,
                recipients=envelope.recipients,
                now=now,
            )
            self.store.after_commit(
                partial(
                    log.warning,
                    "quarantined id=%d source=%s reason=%s",
                    number,
                    envelope.source,
                    reason,
                )
            )
        return Quarantined(number, reason)


def _outsider(ticket: Ticket | None, address: str) -> bool:
    """Whether ``address`` writes to ``ticket`` as neither its requester nor a participant.

    >>> from datetime import UTC, datetime
    >>> from maildesk.model import State
    >>> t = Ticket(1, "info", State.OPEN, "Beca", "ana@x.org", datetime(2026, 1, 1, tzinfo=UTC),
    ...            participants=frozenset({"ana@x.org", "luis@x.org"}))
    >>> _outsider(t, "Luis@x.org"), _outsider(t, "eve@y.org"), _outsider(None, "eve@y.org")
    (False, True, False)
    """
    if ticket is None:
        return False
    address = address.lower()
    return address != ticket.requester and address not in ticket.participants
