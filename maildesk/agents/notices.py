"""The notifications that tell a ticket's agents what happened, and the reading of a
ticket that they, the actions and the surveys share.

Everything goes through the store and the Mailer inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from itertools import groupby
from typing import Any

from maildesk.agents.directory import Directory, audience, marker, supervisors
from maildesk.config import AgentConfig, Config, QueueConfig
from maildesk.errors import MaildeskError
from maildesk.mail.commands import Refusal
from maildesk.mail.parsed import Address, Attachment
from maildesk.mail.thread import reply_subject
from maildesk.model import Ticket
from maildesk.outbox.mailer import Mail, Mailer
from maildesk.store import tickets
from maildesk.store.store import Store
from maildesk.templates import Templates


class ActionError(MaildeskError):
    """An action that cannot be done as asked; the message says why (to the log and the
    CLI), and ``code`` with ``values`` say it as data, for the agent's own language."""

    def __init__(self, message: str, code: Refusal, **values: object) -> None:
        super().__init__(message)
        self.code = code
        self.values = values


class Notices:
    def __init__(self, config: Config, store: Store, templates: Templates, mailer: Mailer) -> None:
        self.config = config
        self.store = store
        self.templates = templates
        self.mailer = mailer
        self.directory = Directory(config.agents)
        self.tags = {q.tag for q in config.queues}

    # -- reading ------------------------------------------------------------------------

    def ticket(self, number: int) -> Ticket:
        """The ticket, or the one it was merged into."""
        found = tickets.info(self.store, number)
        if found is not None and found.merged_into is not None:  # rare: follow the chain
            target = tickets.merged_into(self.store, [number]).get(number, number)
            found = tickets.info(self.store, target)
        if found is None:
            raise ActionError(f"no ticket {number}", Refusal.NO_TICKET, number=number)
        return found

    def queue_of(self, ticket: Ticket) -> QueueConfig:
        return self.config.queue_of_ticket(ticket.queue, ticket.queue_address, ticket.language)

    def context(self, ticket: Ticket) -> dict[str, Any]:
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

    def supervisors(
        self, queue: QueueConfig, group: str | None, contacts: Sequence[str] = ()
    ) -> tuple[str, ...]:
        """``contacts``, else the coordinators or agents of the group or queue (the rule of
        ``directory.supervisors``, for code that may not import the agents' modules)."""
        return supervisors(self.directory, queue, group, contacts)

    # -- telling agents -----------------------------------------------------------------

    def notify(
        self,
        ticket: Ticket,
        *,
        event: str,
        sender: Address,
        text: str,
        attachments: Sequence[Attachment],
        now: datetime,
        unverified_agent: str = "",
        claimed: str = "",
        assigned_by: str = "",
        leave_out: Collection[str] = (),
        to: Sequence[AgentConfig] | None = None,
    ) -> None:
        """Tell the ticket's agent (else its group; or ``to``) what arrived, from the queue
        address and with Reply-To it, so that answering the notification answers the
        requester. Nobody in ``leave_out`` is told."""
        queue = self.queue_of(ticket)
        chosen = (
            audience(self.directory, queue, ticket.assignee, ticket.group) if to is None else to
        )
        people = [a for a in chosen if a.address not in leave_out]
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

    def coordinators(self, ticket: Ticket) -> list[AgentConfig]:
        """The coordinators among those told about ``ticket``."""
        group = audience(self.directory, self.queue_of(ticket), None, ticket.group)
        return [a for a in group if a.coordinator]


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
