"""What agents do to a ticket: reply, note, assign, change its state, priority or category,
merge it, insert a canned response; and the notifications that tell agents about it.

Everything goes through the store and the Mailer inside the caller's transaction. Mail
commands (``agentmail.py``) and the command line (``cli_agents.py``) both come here with
the same parsed commands, so ``#close`` and ``maildesk close`` cannot drift apart.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any

import jinja2

from maildesk.agents import Directory, audience, marker, refused
from maildesk.anonymity import is_alias
from maildesk.config import AgentConfig, Config, QueueConfig
from maildesk.errors import MaildeskError
from maildesk.mail.commands import (
    AssignArgs,
    CategoryArgs,
    Command,
    CommandError,
    CommandName,
    MacroArgs,
    MergeArgs,
    PendingArgs,
    PriorityArgs,
)
from maildesk.mail.parsed import Address, Attachment
from maildesk.mail.thread import reply_subject
from maildesk.mailer import Mail, Mailer
from maildesk.model import State
from maildesk.store import tickets
from maildesk.store.store import NewMessage, Store
from maildesk.store.tickets import TicketInfo
from maildesk.survey_store import Surveyor
from maildesk.templates import Templates

log = logging.getLogger(__name__)

_STATES = {
    CommandName.CLOSE: State.CLOSED,
    CommandName.RESOLVE: State.RESOLVED,
    CommandName.PENDING: State.PENDING,
    CommandName.CANCEL: State.CANCELLED,
}


class ActionError(MaildeskError):
    """An action that cannot be done as asked; the message says why."""


@dataclass(frozen=True)
class Actor:
    """Who acts: a configured agent, or a supervisor at the command line (agent None)."""

    agent: AgentConfig | None
    label: str

    @classmethod
    def of(cls, agent: AgentConfig | None) -> Actor:
        if agent is None:
            return cls(None, "command line")
        return cls(agent, f"{agent.name} <{agent.address}>")


class Actions:
    def __init__(self, config: Config, store: Store, templates: Templates, mailer: Mailer) -> None:
        self.config = config
        self.store = store
        self.templates = templates
        self.mailer = mailer
        self.directory = Directory(config.agents)
        self.tags = {q.tag for q in config.queues}
        self.categories = {c.name for c in config.categories}
        agent_addresses = config.agent_addresses()
        own = {a.lower() for q in config.queues for a in q.addresses if not a.endswith("@*")}
        self._never_copied = frozenset(agent_addresses | own)  # in Cc of a reply

    # -- reading ------------------------------------------------------------------------

    def ticket(self, number: int) -> TicketInfo:
        """The ticket, or the one it was merged into."""
        target = tickets.merged_into(self.store, [number]).get(number, number)
        found = tickets.info(self.store, target)
        if found is None:
            raise ActionError(f"no ticket {number}")
        return found

    def queue_of(self, ticket: TicketInfo) -> QueueConfig:
        # A queue removed from the config keeps its tickets: answer as it did.
        configured = next((q for q in self.config.queues if q.name == ticket.queue), None)
        return configured or QueueConfig(
            ticket.queue, (ticket.queue_address,), ticket.queue.upper(), ticket.language
        )

    def context(self, ticket: TicketInfo) -> dict[str, Any]:
        """The ticket's fields, for templates and canned responses."""
        assignee = self.directory.agent(ticket.assignee) if ticket.assignee else None
        return {
            **self.mailer.base_context(self.queue_of(ticket), ticket.number),
            "requester_name": ticket.requester_name,
            "requester": ticket.requester,
            "subject": ticket.subject,
            "state": ticket.state.value,
            "priority": ticket.priority,
            "category": ticket.category or "",
            "segment": ticket.segment or "",
            "group": ticket.group or "",
            "assignee": assignee.name if assignee else (ticket.assignee or ""),
            "queue_address": ticket.queue_address,
        }

    # -- commands -----------------------------------------------------------------------

    def check(
        self, ticket: TicketInfo, actor: Actor, commands: Sequence[Command]
    ) -> list[CommandError]:
        """Every reason ``commands`` cannot run; nothing is changed."""
        errors = refused(
            commands, actor.agent, self.directory, categories=self.categories, ticket=ticket.number
        )
        for command in commands:
            args = command.args
            try:
                if isinstance(args, MacroArgs):
                    self.macro(ticket, args.name)
                elif isinstance(args, MergeArgs) and args.number != ticket.number:
                    self._merge_target(args)
            except ActionError as exc:
                errors.append(CommandError(f"#{command.name} {_argument(args)}", str(exc)))
        return errors

    def apply(
        self,
        ticket: TicketInfo,
        actor: Actor,
        commands: Sequence[Command],
        text: str,
        attachments: Sequence[Attachment],
        now: datetime,
        message: int | None = None,
    ) -> None:
        """Run checked ``commands`` with ``text``: the reply (or internal note when #note
        is among them) goes first, then field changes, the state change, and a merge last.

        ``message`` is the agent's stored mail, relabelled as what it turned out to be;
        from the command line there is none, and a note is recorded as its own message.
        """
        names = [c.name for c in commands]
        macro = next((c.args for c in commands if isinstance(c.args, MacroArgs)), None)
        text = text.strip()
        if macro is not None:
            canned = self.macro(ticket, macro.name).strip()
            text = f"{canned}\n\n{text}" if text else canned
        is_note = CommandName.NOTE in names
        if message is not None:
            summary = ", ".join(f"#{n}" for n in names)
            tickets.relabel_message(
                self.store, message, "note" if is_note else "agent", text, summary
            )
        if is_note:
            if message is None:
                self._record_note(ticket, actor, text, now)
            self.store.add_event(ticket.number, "note", f"by {actor.label}", now)
        elif text:
            self.reply(ticket, actor, text, attachments, now)
        for command in commands:
            args = command.args
            if isinstance(args, AssignArgs):
                target = self.directory.resolve(args.target)
                if target is not None:
                    self.assign(ticket, target, actor, now)
            elif isinstance(args, PriorityArgs):
                self._set(ticket, actor, now, "priority", args.priority.value)
            elif isinstance(args, CategoryArgs):
                self._set(ticket, actor, now, "category", args.name)
        merging = any(isinstance(c.args, MergeArgs) for c in commands)  # no survey then
        for command in commands:
            if command.name in _STATES:
                days = command.args.days if isinstance(command.args, PendingArgs) else None
                self.change_state(ticket, _STATES[command.name], actor, now, days, not merging)
        for command in commands:
            if isinstance(command.args, MergeArgs):
                self.merge(ticket, self._merge_target(command.args), actor, now)

    # -- single actions -----------------------------------------------------------------

    def reply(
        self,
        ticket: TicketInfo,
        actor: Actor,
        text: str,
        attachments: Sequence[Attachment],
        now: datetime,
    ) -> str:
        """Send ``text`` to the requester and participants from the queue address, threaded
        under the requester's last mail; the first one counts as the first response."""
        queue = self.queue_of(ticket)
        people = tickets.recipients(self.store, ticket.number, self._never_copied)
        to = [Address(a, ticket.requester_name if a == ticket.requester else "") for a in people]
        in_reply_to, references = tickets.thread(self.store, ticket.number)
        message_id = self.mailer.queue(
            Mail(
                ticket=ticket.number,
                kind="reply",
                queue=queue,
                from_address=ticket.queue_address,
                to=to,
                subject=reply_subject(queue.tag, ticket.number, ticket.subject, self.tags),
                template="reply.txt.j2",
                language=ticket.language,
                context={"body": text, "agent_name": actor.agent.name if actor.agent else ""},
                in_reply_to=in_reply_to,
                references=references,
                attachments=attachments,
            ),
            now,
        )
        tickets.first_response(self.store, ticket.number, now)
        if ticket.state in (State.NEW, State.REOPENED):
            tickets.change_state(self.store, ticket.number, State.OPEN, now)
        self.store.add_event(
            ticket.number, "reply", f"by {actor.label} to {', '.join(people)}", now
        )
        return message_id

    def assign(
        self, ticket: TicketInfo, target: AgentConfig | str, actor: Actor, now: datetime
    ) -> None:
        """Give the ticket to an agent or a group (unassigned within it) and tell them."""
        if isinstance(target, AgentConfig):
            tickets.set_fields(self.store, ticket.number, now, assignee=target.address)
            label = f"{target.name} <{target.address}>"
        else:
            tickets.set_fields(self.store, ticket.number, now, assignee=None, group_name=target)
            label = f"group {target}"
        self.store.add_event(ticket.number, "assigned", f"to {label} by {actor.label}", now)
        fresh = tickets.info(self.store, ticket.number)
        if fresh is None:
            return
        sender, text, message = tickets.last_request(self.store, ticket.number)
        self.notify(
            fresh,
            event="assigned",
            sender=sender,
            text=text,
            attachments=tickets.attachments(self.store, message) if message else [],
            now=now,
            assigned_by=actor.label,
            leave_out=actor.agent.address if actor.agent else "",
        )

    def change_state(
        self,
        ticket: TicketInfo,
        state: State,
        actor: Actor,
        now: datetime,
        days: int | None = None,
        survey: bool = True,
    ) -> None:
        until = None
        detail = f"{state.value} by {actor.label}"
        if state is State.PENDING:
            days = days or self.queue_of(ticket).pending_days
            # Without days, the reminder follows [sla] pending_reminder_days (working days).
            until = now + timedelta(days=days) if days else None
            if until is not None:
                detail += f", reminder due {until.isoformat(timespec='minutes')}"
        tickets.change_state(self.store, ticket.number, state, now, until)
        self.store.add_event(ticket.number, "state", detail, now)
        if state is State.CLOSED and survey:  # the requester is asked whether it was solved
            Surveyor(self.config, self.store, self.mailer).offer(ticket.number, now)

    def merge(self, ticket: TicketInfo, into: TicketInfo, actor: Actor, now: datetime) -> None:
        if is_alias(ticket.requester) != is_alias(into.requester):
            # Merged, one requester's mail would reach the other: an anonymous complainant
            # would be written to under another ticket, or name themselves by writing to it.
            raise ActionError(
                f"ticket {ticket.number} and ticket {into.number} cannot be merged:"
                " one is an anonymous complaint and the other is not"
            )
        tickets.merge(self.store, ticket.number, into.number, now)
        self.store.add_event(ticket.number, "merged", f"into {into.number} by {actor.label}", now)
        self.store.add_event(into.number, "merged", f"{ticket.number} by {actor.label}", now)

    def macro(self, ticket: TicketInfo, name: str) -> str:
        """The canned response ``macros/<name>.txt.j2`` rendered with the ticket's fields."""
        try:
            return self.templates.render(
                f"macros/{name}.txt.j2", ticket.language, self.context(ticket)
            )
        except jinja2.TemplateNotFound:
            raise ActionError(f"there is no macro {name!r}") from None
        except jinja2.TemplateError as exc:
            raise ActionError(f"macro {name!r} cannot be rendered: {exc}") from None

    def _set(self, ticket: TicketInfo, actor: Actor, now: datetime, field: str, value: str) -> None:
        tickets.set_fields(self.store, ticket.number, now, **{field: value})
        self.store.add_event(ticket.number, field, f"{value} by {actor.label}", now)

    def _merge_target(self, args: MergeArgs) -> TicketInfo:
        target = tickets.info(self.store, args.number)
        if target is None:
            raise ActionError(f"there is no ticket {args.number}")
        if target.merged_into is not None:
            raise ActionError(f"ticket {args.number} was merged into {target.merged_into}")
        tag = self.queue_of(target).tag
        if args.tag is not None and args.tag.upper() != tag:
            raise ActionError(f"ticket {args.number} is {tag}#{args.number}, not {args.tag}")
        return target

    def _record_note(self, ticket: TicketInfo, actor: Actor, text: str, now: datetime) -> None:
        self.store.insert_message(
            NewMessage(
                ticket=ticket.number,
                direction="in",
                kind="note",
                message_id="",
                dedupe_key=None,
                from_addr=actor.agent.address if actor.agent else "",
                from_name=actor.label,
                to_addrs=[],
                cc_addrs=[],
                subject=ticket.subject,
                body=text,
                sent_at=now,
                source="cli",
                envelope_from=None,
                raw_sha256=None,
            ),
            now,
        )

    # -- telling agents -----------------------------------------------------------------

    def notify(
        self,
        ticket: TicketInfo,
        *,
        event: str,
        sender: Address,
        text: str,
        attachments: Sequence[Attachment],
        now: datetime,
        unverified_agent: str = "",
        claimed: str = "",
        assigned_by: str = "",
        leave_out: str = "",
    ) -> None:
        """Tell the ticket's agent (else its group) what arrived, from the queue address and
        with Reply-To it, so that answering the notification answers the requester."""
        queue = self.queue_of(ticket)
        people = [
            a
            for a in audience(self.directory, queue, ticket.assignee, ticket.group)
            if a.address != leave_out
        ]
        if not people:
            return
        attach = queue.notify_attachments == "attach"
        context = {
            **self.context(ticket),
            "event": event,
            "sender": sender.email,
            "sender_name": sender.name,
            "text": text,
            "attachments": [
                {"name": a.filename, "size": _size(len(a.payload))} for a in attachments
            ],
            "attached": attach,
            "unverified_agent": unverified_agent,
            "claimed": claimed,
            "assigned_by": assigned_by,
        }
        for language, group in groupby(
            sorted(people, key=lambda a: a.language), lambda a: a.language
        ):
            self.mailer.queue(
                Mail(
                    ticket=ticket.number,
                    kind="notify",
                    queue=queue,
                    from_address=ticket.queue_address,
                    to=[Address(a.address, a.name) for a in group],
                    subject=reply_subject(queue.tag, ticket.number, ticket.subject, self.tags),
                    template="notify.txt.j2",
                    language=language,
                    context={**context, "marker": marker(language)},
                    reply_to=Address(ticket.queue_address, self.config.organization),
                    attachments=attachments if attach else (),
                    auto_submitted="auto-generated",
                ),
                now,
            )
        self.store.add_event(ticket.number, "notified", ", ".join(a.address for a in people), now)


def _argument(args: object) -> str:
    if isinstance(args, MacroArgs):
        return args.name
    if isinstance(args, MergeArgs):
        return f"{args.tag}#{args.number}" if args.tag else str(args.number)
    return ""


def _size(size: int) -> str:
    """A size for people to read.

    >>> _size(512), _size(20480), _size(3 * 1048576)
    ('512 B', '20 KB', '3.0 MB')
    """
    if size < 1024:
        return f"{size} B"
    if size < 1048576:
        return f"{size // 1024} KB"
    return f"{size / 1048576:.1f} MB"
