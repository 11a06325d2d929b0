"""The nouns of maildesk as plain data: no I/O, no behaviour beyond small derivations."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class State(StrEnum):
    NEW = "new"  # registered, nobody has answered yet
    OPEN = "open"  # an agent has answered; work goes on
    PENDING = "pending"  # waiting on the requester
    RESOLVED = "resolved"  # solved; closes by itself unless the requester writes back
    CLOSED = "closed"
    CANCELLED = "cancelled"  # withdrawn by a coordinator (spam, duplicate, mistake)
    REOPENED = "reopened"  # the requester wrote back after it was resolved or closed

    @property
    def is_closed(self) -> bool:
        return self in (State.CLOSED, State.CANCELLED)


@dataclass(frozen=True)
class Ticket:
    """A ticket: what threading, the workflow, agents' actions and surveys read of it.

    The store fills every field; pure code and tests may leave the agent-side fields
    (from ``queue_address`` on) at their defaults when they do not read them.
    """

    number: int
    queue: str
    state: State
    subject: str
    requester: str  # lower-case address
    created_at: datetime
    closed_at: datetime | None = None
    participants: frozenset[str] = field(default_factory=frozenset)  # lower-case addresses
    queue_address: str = ""  # the address of ours it was opened at, and answers from
    requester_name: str = ""
    language: str = "es"
    assignee: str | None = None
    group: str | None = None
    priority: str = "normal"
    category: str | None = None
    segment: str | None = None
    first_response_at: datetime | None = None
    merged_into: int | None = None
