"""The plain data the store takes and gives: new tickets, messages and outgoing mail,
and the time format every table uses.

PURE: dataclasses and two conversions; no database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from maildesk.errors import TransientError


def iso(instant: datetime) -> str:
    """UTC ISO-8601 text with a fixed width, so text order is time order."""
    return instant.astimezone(UTC).isoformat(timespec="microseconds")


def from_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


@dataclass(frozen=True)
class NewTicket:
    queue: str
    queue_address: str
    subject: str
    requester: str
    requester_name: str
    language: str
    claimed_tag: str | None
    linked_to: int | None


@dataclass(frozen=True)
class NewMessage:
    ticket: int | None
    direction: str
    kind: str
    message_id: str
    dedupe_key: str | None
    from_addr: str
    from_name: str
    to_addrs: Sequence[str]
    cc_addrs: Sequence[str]
    subject: str
    body: str
    sent_at: datetime | None
    source: str
    envelope_from: str | None
    raw_sha256: str | None
    note: str = ""


@dataclass(frozen=True)
class OutgoingMail:
    ticket: int | None
    kind: str
    message_id: str
    mail_from: str
    rcpt_to: Sequence[str]
    raw: bytes


class AlreadyStored(TransientError):
    """Another daemon stored this message (its dedupe key) while we were at it.

    The transaction holding it is undone; the source tries again, and the message is
    then a known duplicate: one message, one ticket, one acknowledgement.
    """


@dataclass(frozen=True)
class Bounced:
    """An outbox row a bounce reported on."""

    row: int
    ticket: int | None
    kind: str
    rcpt_to: tuple[str, ...]
