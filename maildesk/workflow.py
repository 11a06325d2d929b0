"""What an inbound message does to the ticket it threads into. Pure: data in, a Decision out.

Like a salmon handler, ``decide`` reads as the process: a new matter opens a ticket and is
acknowledged; a follow-up joins its ticket quietly; writing back after a ticket was solved
reopens it, unless it was closed long ago, when a new ticket linked to the old one opens.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from maildesk.mail.thread import Tag, ThreadChoice
from maildesk.model import State, Ticket


class Action(StrEnum):
    OPEN = "open"  # a new ticket
    APPEND = "append"  # joins its ticket
    REOPEN = "reopen"  # joins its ticket and reopens it
    OPEN_LINKED = "open-linked"  # a new ticket linked to an old closed one
    RECORD = "record"  # kept, but belongs to no ticket (an untagged out-of-office, say)


@dataclass(frozen=True)
class Decision:
    action: Action
    ticket: Ticket | None  # the existing ticket involved, if any
    state: State | None  # the ticket's state afterwards (None for RECORD)
    acknowledge: bool
    linked_to: int | None = None
    claimed: Tag | None = None

    @property
    def opens_ticket(self) -> bool:
        return self.action in (Action.OPEN, Action.OPEN_LINKED)


def decide(
    choice: ThreadChoice,
    *,
    now: datetime,
    may_answer: bool,
    may_open_ticket: bool,
    reopen_window: timedelta,
    outsider: bool = False,
) -> Decision:
    """Decide what a message does, given where threading put it and what kind of mail it is.

    ``may_answer`` is False for mail written by machines (auto-replies, bounces, lists):
    they are recorded, never answered, and never change a ticket's state. ``outsider``
    is True for a person who is neither the ticket's requester nor one of its
    participants (a stranger answering a forwarded notification): the agents read what
    they wrote, but it reopens nothing and answers no question the desk asked.

    >>> from datetime import UTC
    >>> now = datetime(2026, 11, 20, tzinfo=UTC)
    >>> window = timedelta(days=14)
    >>> choice = ThreadChoice(None, None)
    >>> decide(choice, now=now, may_answer=True, may_open_ticket=True, reopen_window=window).action
    <Action.OPEN: 'open'>
    """
    ticket = choice.ticket
    if ticket is None:
        if not may_open_ticket:
            return Decision(Action.RECORD, None, None, acknowledge=False)
        return Decision(
            Action.OPEN, None, State.NEW, acknowledge=may_answer, claimed=choice.claimed
        )
    if not may_answer or outsider or ticket.state is State.CANCELLED:
        return Decision(Action.APPEND, ticket, ticket.state, acknowledge=False)
    if ticket.state is State.RESOLVED:
        return Decision(Action.REOPEN, ticket, State.REOPENED, acknowledge=False)
    if ticket.state is State.CLOSED:
        closed_at = ticket.closed_at or ticket.created_at
        if now - closed_at <= reopen_window:
            return Decision(Action.REOPEN, ticket, State.REOPENED, acknowledge=False)
        return Decision(
            Action.OPEN_LINKED, ticket, State.NEW, acknowledge=True, linked_to=ticket.number
        )
    if ticket.state is State.PENDING:  # the requester answered what we asked
        return Decision(Action.APPEND, ticket, State.OPEN, acknowledge=False)
    return Decision(Action.APPEND, ticket, ticket.state, acknowledge=False)
