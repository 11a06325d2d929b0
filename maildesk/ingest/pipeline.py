"""accept(raw bytes) -> Stored | Duplicate | Quarantined, in one SQLite transaction.

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
from typing import Any

from maildesk.agentmail import AgentCheck, AgentDesk
from maildesk.anonymity import Sealer
from maildesk.clock import Clock
from maildesk.config import Config, QueueConfig, address_matches, queue_for
from maildesk.deadlines import Deadlines
from maildesk.errors import MalformedMail
from maildesk.ingest.inbound import (
    Duplicate,
    Envelope,
    Outcome,
    Quarantined,
    Stored,
    concrete_address,
    dedupe_key,
    envelope_address,
    inbound_row,
    within_limits,
)
from maildesk.ingest.masking import Masked, Masking
from maildesk.mail.bounces import bounced_message_ids, bounced_recipients
from maildesk.mail.classify import Classification, MailKind, classify
from maildesk.mail.parse import parse
from maildesk.mail.parsed import Address, ParsedMail
from maildesk.mail.thread import (
    Hit,
    Via,
    base_subject,
    choose,
    find_tag,
    reply_subject,
    signed_tickets,
    strip_tags,
)
from maildesk.mailer import Mail, Mailer
from maildesk.store.store import NewTicket, Store
from maildesk.survey_store import Surveyor
from maildesk.surveys import Answer
from maildesk.templates import Templates
from maildesk.workflow import Action, Decision, decide

# The sources and the writer take the envelope and the outcomes from here, with accept.
__all__ = ["Duplicate", "Envelope", "Outcome", "Pipeline", "Quarantined", "Stored"]

log = logging.getLogger(__name__)


class Pipeline:
    def __init__(
        self,
        config: Config,
        store: Store,
        templates: Templates,
        clock: Clock,
        secret: bytes,
        sealer: Sealer | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.templates = templates
        self.clock = clock
        self.secret = secret
        self.mailer = Mailer(config, store, templates, secret)
        self.tags = {q.tag for q in config.queues}
        self.agents = config.agent_addresses()
        self.own = [a for q in config.queues for a in q.addresses]
        self.deadlines = Deadlines(config, store)  # the service-level clocks of each ticket
        self.desk = AgentDesk(config, store, templates, self.mailer)
        self.surveys = Surveyor(config, store, self.mailer)
        self.masking = Masking(config, store, sealer, self._is_own)

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
        queue, queue_address = self._queue(mail, envelope)
        masked: Masked | None = None  # in anonymous queues
        if queue.anonymous and sender.email not in self.agents:
            masked = self.masking.mask(raw, mail, sender, queue, kind)
            sender, mail = masked.sender, masked.mail
        # A bounce names our message only inside the returned copy; that finds its ticket.
        bounced = bounced_message_ids(raw) if kind.kind is MailKind.BOUNCE else []
        choice = choose(self._hits(mail, bounced), sender.email, self.agents, queue.tag)
        agent = self.desk.recognise(mail, sender, choice, kind)
        if kind.may_answer and agent is None:
            answered = self.surveys.mail_answer(mail, sender, now)
            if answered is not None:  # "5", "no se resolvió": recorded, the ticket stays
                with self.store.transaction():
                    kept, envelope = self._kept(raw, envelope, masked, now)
                    return self._survey_answer(kept, mail, sender, envelope, key, answered, now)
        choice = self.desk.join_duplicate(choice, mail, sender, queue, kind, now)
        joined = choice.ticket.queue if choice.ticket else None
        if not masked and joined and self.masking.anonymous(joined) and agent is None:
            # Mail that reached an anonymous ticket by our Message-ID, written to another
            # address or a bounce of our answer: masked all the same.
            masked = self.masking.mask(raw, mail, sender, self.config.queue(joined), kind)
            sender, mail = masked.sender, masked.mail
        decision = decide(
            choice,
            now=now,
            # An agent's reply changes its ticket by its commands, not as a requester's mail.
            may_answer=kind.may_answer and not (agent and agent.trusted),
            may_open_ticket=kind.may_open_ticket,
            reopen_window=timedelta(days=self.config.reopen_days),
        )
        with self.store.transaction():
            kept, envelope = self._kept(raw, envelope, masked, now)
            outcome = self._store(
                kept, mail, sender, envelope, key, kind, queue, queue_address, decision, agent, now
            )
            if bounced:
                self._record_bounce(raw, mail, bounced, kind, now)
            # Said once it is true: in a group committed together, at the group's commit.
            self.store.after_commit(
                partial(
                    log.info,
                    "stored ticket=%s action=%s kind=%s message-id=<%s>%s",
                    outcome.ref or "-",
                    outcome.action.value,
                    kind.kind.value,
                    mail.message_id,
                    " acknowledged" if outcome.acknowledged else "",
                )
            )
        return outcome

    # -- steps -----------------------------------------------------------------------

    def _kept(
        self, raw: bytes, envelope: Envelope, masked: Masked | None, now: datetime
    ) -> tuple[bytes, Envelope]:
        """The raw mail and envelope as the store keeps them: sealed in anonymous queues."""
        if masked is None:
            return raw, envelope
        kept, mail_from = self.masking.seal(
            raw, envelope.mail_from, masked.real, masked.sender, now
        )
        return kept, replace(envelope, mail_from=mail_from)

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
        tickets = self.desk.follow_merges(self.store.tickets(signed + stored + tagged))
        hits = [Hit(tickets[n], Via.SIGNED_ID) for n in signed if n in tickets]
        hits += [Hit(tickets[n], Via.STORED_ID) for n in stored if n in tickets]
        if tag:
            for n in tagged:
                if n in tickets and self._tag_of(tickets[n].queue) == tag.prefix:
                    hits.append(Hit(tickets[n], Via.TAG))
        return hits

    def _store(
        self,
        raw: bytes,
        mail: ParsedMail,
        sender: Address,
        envelope: Envelope,
        key: str,
        kind: Classification,
        queue: QueueConfig,
        queue_address: str,
        decision: Decision,
        agent: AgentCheck | None,
        now: datetime,
    ) -> Stored:
        raw_sha = self.store.put_blob(raw)
        ack_template = "ack.txt.j2"
        existing = None if decision.opens_ticket else decision.ticket
        ticket: int | None = existing.number if existing else None
        if decision.opens_ticket:
            ticket = self.store.insert_ticket(
                NewTicket(
                    queue=queue.name,
                    queue_address=queue_address,
                    subject=base_subject(strip_tags(mail.subject, self.tags)),
                    requester=sender.email,
                    requester_name=sender.name,
                    language=queue.language,
                    claimed_tag=str(decision.claimed) if decision.claimed else None,
                    linked_to=decision.linked_to,
                ),
                now,
            )
            ack_template = self.desk.opened(ticket, queue, mail, sender, envelope.recipients, now)
        elif existing is not None and decision.state is not None:
            if decision.state is not existing.state:
                self.store.set_state(existing.number, decision.state, now)
            else:
                self.store.touch(existing.number, now)
        note = "; ".join(filter(None, [kind.reason, ", ".join(mail.defects)]))
        message = self.store.insert_message(
            inbound_row(ticket, kind.kind.value, mail, sender, envelope, key, raw_sha, note), now
        )
        kept, refused = within_limits(
            mail.attachments,
            self.config.limits.max_attachments,
            self.config.limits.max_attachment_bytes,
        )
        for attachment in kept:
            self.store.add_attachment(
                message, attachment.filename, attachment.content_type, attachment.payload
            )
        ref = ""
        if ticket is not None:
            ref = f"{self._tag_of(existing.queue if existing else queue.name)}#{ticket}"
            if kind.may_answer:
                # An anonymous sender's mail was masked: its To and Cc hold only our addresses.
                others = [a.email for a in (*mail.to, *mail.cc) if not self._is_own(a.email)]
                people = [a for a in (sender.email, *others) if a not in self.agents]
                self.store.add_participants(ticket, people, "cc")
            self.store.add_event(ticket, decision.action.value, f"message <{mail.message_id}>", now)
            self.deadlines.after_message(ticket, existing, sender.email, kind.may_answer, now)
        acknowledged = decision.acknowledge and ticket is not None
        if acknowledged and self._over_rate(sender.email, now):
            acknowledged = False
            self.store.add_event(
                ticket, "rate-limited", f"no acknowledgement to {sender.email}", now
            )
            log.warning(
                "not answering %s: over %d automatic messages this hour (loop guard) ticket=%s",
                sender.email,
                self.config.limits.auto_replies_per_hour,
                ref,
            )
        if acknowledged and ticket is not None:
            subject = base_subject(strip_tags(mail.subject, self.tags))
            self._answer(
                "ack",
                ack_template,
                # What this ticket is owed, which a VIP segment or a queue's policy may shorten.
                {
                    "subject": subject,
                    "response_hours": _hours(self.deadlines.first_response_hours(ticket)),
                },
                ticket,
                mail,
                sender,
                queue,
                queue_address,
                now,
            )
        if refused and ticket is not None:
            names = ", ".join(a.filename for a in refused)
            self.store.add_event(ticket, "attachments-over-limit", names, now)
            log.warning("attachments over the limit ticket=%s: %d not kept", ref, len(refused))
            if kind.may_answer and not self._over_rate(sender.email, now):
                limits = self.config.limits
                context = {
                    "refused": [a.filename for a in refused],
                    "max_attachments": limits.max_attachments,
                    "max_megabytes": round(limits.max_attachment_bytes / 1048576, 1),
                }
                self._answer(
                    "notice",
                    "attachments_refused.txt.j2",
                    context,
                    ticket,
                    mail,
                    sender,
                    queue,
                    queue_address,
                    now,
                )
        self.desk.arrived(ticket, message, mail, sender, agent, decision, kind.may_answer, now)
        return Stored(ticket, decision.action, mail.message_id, ref, acknowledged)

    def _survey_answer(
        self,
        raw: bytes,
        mail: ParsedMail,
        sender: Address,
        envelope: Envelope,
        key: str,
        answered: tuple[int, Answer],
        now: datetime,
    ) -> Stored:
        number, answer = answered
        raw_sha = self.store.put_blob(raw)
        self.store.insert_message(
            inbound_row(number, "survey", mail, sender, envelope, key, raw_sha), now
        )
        recorded = self.surveys.record(number, answer, "mail", now)
        self.store.after_commit(
            partial(
                log.info,
                "stored ticket=%s survey answer message-id=<%s>",
                recorded.ref,
                mail.message_id,
            )
        )
        return Stored(number, Action.APPEND, mail.message_id, recorded.ref, False)

    def _over_rate(self, address: str, now: datetime) -> bool:
        sent = self.store.automatic_sent_since(address, now - timedelta(hours=1))
        return sent >= self.config.limits.auto_replies_per_hour

    def _record_bounce(
        self,
        raw: bytes,
        mail: ParsedMail,
        bounced: Sequence[str],
        kind: Classification,
        now: datetime,
    ) -> None:
        addresses = bounced_recipients(raw)
        for row_id, ticket in self.store.bounce_outbox(bounced, kind.reason):
            named = addresses
            if ticket is not None:
                named = self.masking.named(addresses, self.desk.actions.ticket(ticket).queue)
            failed = ", ".join(named) or "?"
            self.store.add_event(ticket, "bounced", f"outbox row {row_id} to {failed}", now)
            log.warning("outgoing mail bounced: outbox row %d ticket=%s", row_id, ticket)
            if ticket is not None:  # the agents must know the requester did not get it
                self.desk.actions.notify(
                    self.desk.actions.ticket(ticket),
                    event="bounced",
                    sender=Address(failed),
                    text=mail.text[:4000],
                    attachments=(),
                    now=now,
                )

    def _answer(
        self,
        kind: str,
        template: str,
        context: dict[str, Any],
        ticket: int,
        mail: ParsedMail,
        sender: Address,
        queue: QueueConfig,
        queue_address: str,
        now: datetime,
    ) -> None:
        """Queue an automatic answer to ``mail``'s sender, threaded under it (RFC 3834)."""
        self.mailer.queue(
            Mail(
                ticket=ticket,
                kind=kind,
                queue=queue,
                from_address=queue_address,
                to=[sender],
                subject=reply_subject(queue.tag, ticket, mail.subject, self.tags),
                template=template,
                language=queue.language,
                context={"requester_name": sender.name, **context},
                in_reply_to=mail.message_id,
                references=mail.references,
                auto_submitted="auto-replied",
            ),
            now,
        )

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

    def _is_own(self, address: str) -> bool:
        return any(address_matches(p, address) for p in self.own)

    def _tag_of(self, queue_name: str) -> str:
        # A queue removed from the config keeps its tickets; their tag falls back to the name.
        return next((q.tag for q in self.config.queues if q.name == queue_name), queue_name.upper())


def _hours(value: float) -> int | float:
    """8.0 -> 8, 1.5 -> 1.5: as people write a number of hours."""
    return int(value) if value == int(value) else round(value, 1)
