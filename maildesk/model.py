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
    """A ticket as the threading and workflow logic sees it."""

    number: int
    queue: str
    state: State
    subject: str
    requester: str  # lower-case address
    created_at: datetime
    closed_at: datetime | None = None
    participants: frozenset[str] = field(default_factory=frozenset)  # lower-case addresses
