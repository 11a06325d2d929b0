"""The agent side of the ingest pipeline: what it asks about each message, called inside
its transaction.

- ``recognise``: is this an agent answering one of our mails (and, when the config asks,
  does the receiving MTA vouch for its From)?
- ``join_duplicate``: does an untagged new message repeat an open request?
- ``opened``: routing rules and the rota set up a new ticket; its acknowledgement template.
- ``arrived``: a requester's message is notified to the agents; an agent's reply is
  stripped of quotes, its commands checked and applied, and relayed to the requester.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from maildesk.agents.actions import Actions, Actor
from maildesk.agents.directory import assign, authenticated, marker, marker_in
from maildesk.agents.participants import brought_in
from maildesk.agents.routing import matter, route, same_matter
from maildesk.config import AgentConfig, Config, QueueConfig
from maildesk.mail.classify import Classification
from maildesk.mail.commands import CommandError, parse_commands
from maildesk.mail.parsed import Address, Attachment, ParsedMail
from maildesk.mail.quotes import strip_reply
from maildesk.mail.thread import ThreadChoice, Via, find_tag, reply_subject
from maildesk.model import State, Ticket
from maildesk.outbox.mailer import Mail
from maildesk.sla.calendar import DAYS
from maildesk.store import tickets
from maildesk.store.store import Store
from maildesk.workflow import Decision

log = logging.getLogger(__name__)

_ACK = "ack.txt.j2"


@dataclass(frozen=True)
class AgentCheck:
    """Mail from a configured agent's address about an existing ticket: a reply to one of
    our messages (trusted), or mail that failed the authentication the config asks for."""

    agent: AgentConfig
    trusted: bool  # False: held for the agents, as anyone may write an agent's From

    @property
    def held(self) -> bool:
        return not self.trusted


class Intake:
    def __init__(self, config: Config, store: Store, actions: Actions) -> None:
        self.config = config
        self.store = store
        self.templates = actions.templates
        self.mailer = actions.mailer
        self.actions = actions
        self.directory = self.actions.directory
        self.tags = self.actions.tags
        self.zone = ZoneInfo(config.timezone)
        self.open_days = frozenset(
            i for i, day in enumerate(DAYS) if config.calendar.hours.get(day, "").strip()
        )
        self.ack_templates = {c.name: c.ack_template for c in config.categories if c.ack_template}

    # -- before the decision --------------------------------------------------------------

    def recognise(
        self, mail: ParsedMail, sender: Address, choice: ThreadChoice, kind: Classification
    ) -> AgentCheck | None:
        """An agent's reply: From is an agent's address and the message answers one of our
        signed Message-IDs. Out-of-office mail from agents is not a reply.

        When the config asks for authentication, mail from an agent's address that fails it
        is held, whichever way it found its ticket: a forged From must neither act as the
        agent nor pass for the requester (reopening, answering a pending question).
        """
        agent = self.directory.agent(sender.email)
        if agent is None or choice.ticket is None or not kind.may_answer:
            return None
        auth = self.config.agent_auth
        if not auth.require or authenticated(mail.headers, auth.authserv_ids, sender.email):
            return AgentCheck(agent, trusted=True) if choice.via is Via.SIGNED_ID else None
        log.warning(
            "agent address %s without a passing Authentication-Results from %s:"
            " held for the agents message-id=<%s>",
            sender.email,
            ", ".join(auth.authserv_ids),
            mail.message_id,
        )
        return AgentCheck(agent, trusted=False)

    def brought_in(
        self, requester: str, mail: ParsedMail, sender: Address, check: AgentCheck | None
    ) -> list[str]:
        """Who this message makes participants of its ticket (``participants.brought_in``):
        an agent (not one whose mail is held) or the requester brings in their To/Cc."""
        if check is not None and check.held:
            return []  # whoever wrote it is not known to be the agent, nor the requester
        # An agent may also write by the tag alone, not in answer to one of our mails.
        agent = self.directory.agent(sender.email) is not None
        return brought_in(
            sender.email,
            [a.email for a in (*mail.to, *mail.cc)],
            requester=requester,
            agent=agent,
            ours=self.actions.ours,
        )

    def follow_merges(self, found: dict[int, Ticket]) -> dict[int, Ticket]:
        """Tickets found by threading, each merged one replaced by the one it went into."""
        # Each ticket found says whether it was merged: only those need the chain looked up.
        merged = [number for number, ticket in found.items() if ticket.merged_into is not None]
        targets = tickets.merged_into(self.store, merged)
        if not targets:
            return found
        into = self.store.tickets(sorted(set(targets.values())))
        return {n: into.get(targets[n], t) if n in targets else t for n, t in found.items()}

    def join_duplicate(
        self,
        choice: ThreadChoice,
        mail: ParsedMail,
        sender: Address,
        queue: QueueConfig,
        kind: Classification,
        now: datetime,
    ) -> ThreadChoice:
        """An untagged new message about the same matter as the requester's open ticket in
        this queue, active within ``duplicate_hours``, joins that ticket."""
        if (
            choice.ticket is not None
            or choice.claimed is not None
            or not (kind.may_open_ticket and kind.may_answer)
            or not queue.duplicate_hours
            or find_tag(mail.subject, self.tags) is not None
        ):
            return choice
        candidates = [
            (ticket.number, matter(ticket.subject, ()), active)
            for ticket, active in tickets.same_requester_open(self.store, sender.email, queue.name)
        ]
        since = now - timedelta(hours=queue.duplicate_hours)
        number = same_matter(candidates, matter(mail.subject, self.tags), since)
        if number is None:
            return choice
        log.info("same matter as open ticket %d: joins it message-id=<%s>", number, mail.message_id)
        return ThreadChoice(self.store.tickets([number])[number], None)

    # -- inside the transaction -----------------------------------------------------------

    def opened(
        self,
        number: int,
        queue: QueueConfig,
        mail: ParsedMail,
        sender: Address,
        recipients: Collection[str],
        now: datetime,
    ) -> str:
        """Route and assign a new ticket; returns the acknowledgement template to use."""
        routing = route(
            self.config.routes,
            queue=queue.name,
            recipients=[*recipients, *(a.email for a in (*mail.to, *mail.cc))],
            sender=sender.email,
            subject=mail.subject,
            body=mail.text,
        )
        assignment = assign(
            queue,
            self.directory,
            day=now.astimezone(self.zone).date(),
            number=number,
            open_days=self.open_days,
            routed_group=routing.group,
        )
        fields = {
            "assignee": assignment.assignee,
            "group_name": assignment.group,
            "priority": routing.priority or None,
            "category": routing.category or None,
            "segment": routing.segment or None,
        }
        tickets.set_fields(self.store, number, now, **{k: v for k, v in fields.items() if v})
        detail = ", ".join(f"{k} {v}" for k, v in fields.items() if v)
        if detail:
            self.store.add_event(number, "routed", detail, now)
        template = self.ack_templates.get(routing.category, _ACK)
        if template != _ACK and self.templates.check([template], [queue.language]):
            log.warning(
                "template %s/%s is missing: the usual acknowledgement goes",
                queue.language,
                template,
            )
            template = _ACK
        return template

    def arrived(
        self,
        number: int | None,
        message: int,
        attachments: Sequence[Attachment],
        mail: ParsedMail,
        sender: Address,
        check: AgentCheck | None,
        decision: Decision,
        human: bool,
        now: datetime,
    ) -> None:
        """After a message is stored on a ticket: act on an agent's reply, or tell agents.

        ``attachments`` are the message's as stored (within the limits): handed on rather
        than read back, which would cost a round trip per message on PostgreSQL."""
        if number is None:
            return
        ticket = self.actions.ticket(number)
        if check is not None and check.trusted:
            self._agent_reply(ticket, message, attachments, mail, sender, check.agent, now)
            return
        if check is not None:
            self._hold(ticket, message, attachments, mail, sender, check.agent, now)
            return
        if not human or ticket.state is State.CANCELLED:
            return
        self.actions.notify(
            ticket,
            event="new" if decision.opens_ticket else "follow-up",
            sender=sender,
            # A follow-up quotes what the agents already have; a new request is read whole.
            text=mail.text if decision.opens_ticket else strip_reply(mail.text),
            attachments=list(attachments),
            now=now,
            claimed=str(decision.claimed) if decision.claimed else "",
        )

    def _hold(
        self,
        ticket: Ticket,
        message: int,
        attachments: Sequence[Attachment],
        mail: ParsedMail,
        sender: Address,
        agent: AgentConfig,
        now: datetime,
    ) -> None:
        """Keep mail that claims an agent's From without proving it, for the agents to judge.

        The pipeline changed nothing for it (no state, no participant, no answer); here it is
        labelled 'held', so no clock takes it for the agent's answer nor the requester's mail.
        """
        detail = f"mail claiming to be from agent {agent.name} <{sender.email}>"
        tickets.relabel_message(
            self.store, message, "held", mail.text, "agent address failed authentication"
        )
        self.store.add_event(ticket.number, "held", f"{detail} failed authentication", now)
        self.actions.notify(
            ticket,
            event="held",
            sender=sender,
            text=strip_reply(mail.text),
            attachments=list(attachments),
            now=now,
            unverified_agent=agent.name,
        )

    def _agent_reply(
        self,
        ticket: Ticket,
        message: int,
        attachments: Sequence[Attachment],
        mail: ParsedMail,
        sender: Address,
        agent: AgentConfig,
        now: datetime,
    ) -> None:
        found = marker_in(mail.text)
        text = strip_reply(mail.text, marker=found)
        if found is not None and found in text:  # nothing was written above the marker
            text = ""
        parsed = parse_commands(text)
        actor = Actor.of(agent)
        errors = [*parsed.errors, *self.actions.check(ticket, actor, parsed.commands)]
        if errors:
            tickets.relabel_message(self.store, message, "agent", parsed.body, "commands refused")
            self.store.add_event(
                ticket.number, "commands-refused", "; ".join(e.line for e in errors), now
            )
            self._refuse(ticket, mail, sender, agent, errors, now)
            return
        self.actions.apply(
            ticket, actor, parsed.commands, parsed.body, list(attachments), now, message=message
        )

    def _refuse(
        self,
        ticket: Ticket,
        mail: ParsedMail,
        sender: Address,
        agent: AgentConfig,
        errors: list[CommandError],
        now: datetime,
    ) -> None:
        """Tell the agent, and only the agent, that nothing of the message was done."""
        queue = self.actions.queue_of(ticket)
        language = agent.language  # the refusal goes to the agent: every word in theirs
        self.mailer.queue(
            Mail(
                ticket=ticket.number,
                kind="error",
                queue=queue,
                from_address=ticket.queue_address,
                to=[Address(sender.email, agent.name)],
                subject=reply_subject(queue.tag, ticket.number, ticket.subject, self.tags),
                template="command_error.txt.j2",
                language=language,
                context={
                    "marker": marker(language),
                    "errors": [
                        {"line": e.line, "reason": self.actions.explain(e, language)}
                        for e in errors
                    ],
                    "agent_name": agent.name,
                },
                in_reply_to=mail.message_id,
                references=mail.references,
                reply_to=Address(ticket.queue_address, self.config.organization),
                auto_submitted="auto-replied",
            ),
            now,
        )
