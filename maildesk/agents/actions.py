"""What agents do to a ticket: reply, note, assign, change its state, priority or category,
merge it, insert a canned response. The notifications that tell agents are ``notices.py``.

Everything goes through the store and the Mailer inside the caller's transaction. Mail
commands (``agentmail.py``) and the command line (``cli_agents.py``) both come here with
the same parsed commands, so ``#close`` and ``maildesk close`` cannot drift apart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jinja2

from maildesk.agents.directory import refused
from maildesk.agents.notices import ActionError, Notices
from maildesk.agents.participants import receives
from maildesk.config import AgentConfig, QueueConfig
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
    Refusal,
)
from maildesk.mail.parsed import Address, Attachment
from maildesk.mail.thread import reply_subject
from maildesk.model import State, Ticket
from maildesk.outbox.mailer import Mail
from maildesk.privacy.anonymity import is_alias
from maildesk.store import tickets
from maildesk.store.store import NewMessage
from maildesk.templates import Templates

log = logging.getLogger(__name__)

_STATES = {
    CommandName.CLOSE: State.CLOSED,
    CommandName.RESOLVE: State.RESOLVED,
    CommandName.PENDING: State.PENDING,
    CommandName.CANCEL: State.CANCELLED,
}


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
    def __init__(self, notices: Notices, on_closed: Callable[[int, datetime], object]) -> None:
        config = notices.config
        self.config = config
        self.store = notices.store
        self.templates = notices.templates
        self.mailer = notices.mailer
        self.notices = notices
        self.notify = notices.notify
        self.directory = notices.directory
        self.tags = notices.tags
        self._on_closed = on_closed  # the closing survey (surveys.service.Surveyor.offer)
        self.categories = {c.name for c in config.categories}
        self._agent_addresses = config.agent_addresses()

    # -- reading (the notices' own) -----------------------------------------------------

    def ticket(self, number: int) -> Ticket:
        """The ticket, or the one it was merged into."""
        return self.notices.ticket(number)

    def queue_of(self, ticket: Ticket) -> QueueConfig:
        return self.notices.queue_of(ticket)

    def context(self, ticket: Ticket) -> dict[str, Any]:
        """The ticket's fields, for templates and canned responses."""
        return self.notices.context(ticket)

    def ours(self, address: str) -> bool:
        """Whether ``address`` is an agent's or one of our queues': never a participant."""
        address = address.lower()
        return address in self._agent_addresses or self.config.is_own(address)

    # -- commands -----------------------------------------------------------------------

    def check(
        self, ticket: Ticket, actor: Actor, commands: Sequence[Command]
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
                line = f"#{command.name} {_argument(args)}"
                errors.append(CommandError(line, exc.code, exc.values))
        return errors

    def explain(self, error: CommandError, language: str) -> str:
        return explain(self.templates, error, language)

    def apply(
        self,
        ticket: Ticket,
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
        ticket: Ticket,
        actor: Actor,
        text: str,
        attachments: Sequence[Attachment],
        now: datetime,
    ) -> str:
        """Send ``text`` to the requester and participants from the queue address, threaded
        under the requester's last mail; the first one counts as the first response."""
        queue = self.queue_of(ticket)
        people = [
            address
            for address, role in tickets.participants(self.store, ticket.number)
            if receives(address, role, self.ours)
        ]
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
        if message_id is None:  # never: a person's reply is outside the loop cap (mailer.py)
            raise RuntimeError(f"the reply on ticket {ticket.number} was not queued")
        tickets.first_response(self.store, ticket.number, now)
        if ticket.state in (State.NEW, State.REOPENED):
            tickets.change_state(self.store, ticket.number, State.OPEN, now)
        self.store.add_event(
            ticket.number, "reply", f"by {actor.label} to {', '.join(people)}", now
        )
        return message_id

    def assign(
        self, ticket: Ticket, target: AgentConfig | str, actor: Actor, now: datetime
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
            leave_out=(actor.agent.address,) if actor.agent else (),
        )

    def change_state(
        self,
        ticket: Ticket,
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
            self._on_closed(ticket.number, now)

    def merge(self, ticket: Ticket, into: Ticket, actor: Actor, now: datetime) -> None:
        if is_alias(ticket.requester) != is_alias(into.requester):
            # Merged, one requester's mail would reach the other: an anonymous complainant
            # would be written to under another ticket, or name themselves by writing to it.
            raise ActionError(
                f"ticket {ticket.number} and ticket {into.number} cannot be merged:"
                " one is an anonymous complaint and the other is not",
                Refusal.ANONYMOUS_MERGE,
                number=ticket.number,
                into=into.number,
            )
        tickets.merge(self.store, ticket.number, into.number, now)
        self.store.add_event(ticket.number, "merged", f"into {into.number} by {actor.label}", now)
        self.store.add_event(into.number, "merged", f"{ticket.number} by {actor.label}", now)

    def macro(self, ticket: Ticket, name: str) -> str:
        """The canned response ``macros/<name>.txt.j2`` rendered with the ticket's fields."""
        try:
            return self.templates.render(
                f"macros/{name}.txt.j2", ticket.language, self.context(ticket)
            )
        except jinja2.TemplateNotFound:
            raise ActionError(f"there is no macro {name!r}", Refusal.NO_MACRO, name=name) from None
        except jinja2.TemplateError as exc:
            raise ActionError(
                f"macro {name!r} cannot be rendered: {exc}",
                Refusal.MACRO_BROKEN,
                name=name,
                error=str(exc),
            ) from None

    def _set(self, ticket: Ticket, actor: Actor, now: datetime, field: str, value: str) -> None:
        tickets.set_fields(self.store, ticket.number, now, **{field: value})
        self.store.add_event(ticket.number, field, f"{value} by {actor.label}", now)

    def _merge_target(self, args: MergeArgs) -> Ticket:
        target = tickets.info(self.store, args.number)
        if target is None:
            raise ActionError(
                f"there is no ticket {args.number}", Refusal.NO_TICKET, number=args.number
            )
        if target.merged_into is not None:
            raise ActionError(
                f"ticket {args.number} was merged into {target.merged_into}",
                Refusal.MERGED_ELSEWHERE,
                number=args.number,
                into=target.merged_into,
            )
        tag = self.queue_of(target).tag
        if args.tag is not None and args.tag.upper() != tag:
            raise ActionError(
                f"ticket {args.number} is {tag}#{args.number}, not {args.tag}",
                Refusal.WRONG_TAG,
                number=args.number,
                tag=tag,
                given=args.tag,
            )
        return target

    def _record_note(self, ticket: Ticket, actor: Actor, text: str, now: datetime) -> None:
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


def explain(templates: Templates, error: CommandError, language: str) -> str:
    """Why ``error``'s command was refused, in ``language``, from ``refusal.txt.j2``."""
    context = {**error.values, "code": str(error.code)}
    return templates.render("refusal.txt.j2", language, context).strip()


def _argument(args: object) -> str:
    if isinstance(args, MacroArgs):
        return args.name
    if isinstance(args, MergeArgs):
        return f"{args.tag}#{args.number}" if args.tag else str(args.number)
    return ""
