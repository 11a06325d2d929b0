"""What comes into the pipeline and what it answers: the envelope, the outcomes, and the
message row and dedupe key made from a parsed message. Plain data and pure functions."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from maildesk.config import QueueConfig
from maildesk.mail.parsed import Address, Attachment, ParsedMail
from maildesk.store.store import NewMessage
from maildesk.workflow import Action

# Trace headers differ between two deliveries of the same message; they are left out
# of the content hash so a retry or a second mailbox still counts as the same mail.
_BODY_SPLIT = re.compile(rb"\r?\n\r?\n")


@dataclass(frozen=True)
class Envelope:
    mail_from: str | None  # SMTP MAIL FROM ("" for the null sender); None when unknown
    recipients: Sequence[str]  # SMTP RCPT TO; empty for IMAP (the account names the queue)
    source: str  # "smtp", "lmtp", "imap:info"
    queue: str | None = None  # forced by the source (an IMAP account feeds one queue)


@dataclass(frozen=True)
class Stored:
    ticket: int | None
    action: Action
    message_id: str
    ref: str  # "INFO#42", or "" when the message joined no ticket
    acknowledged: bool


@dataclass(frozen=True)
class Duplicate:
    ticket: int | None
    message_id: str


@dataclass(frozen=True)
class Quarantined:
    quarantine_id: int
    reason: str


Outcome = Stored | Duplicate | Quarantined


def dedupe_key(raw: bytes, mail: ParsedMail) -> str:
    """Message-ID plus a hash of what the sender wrote (not of the trace headers)."""
    parts = _BODY_SPLIT.split(raw, maxsplit=1)
    body = parts[1] if len(parts) == 2 else b""
    digest = hashlib.sha256()
    if not mail.message_id:  # without an id, the visible headers tell two mails apart
        for name in ("from", "date", "subject", "to"):
            digest.update(mail.header(name).encode("utf-8", "replace") + b"\n")
    digest.update(body.replace(b"\r\n", b"\n").rstrip())
    return f"{mail.message_id}\n{digest.hexdigest()}"


def within_limits(
    attachments: Sequence[Attachment], max_count: int, max_bytes: int
) -> tuple[list[Attachment], list[Attachment]]:
    """(kept, refused): attachments in order until the count or total size would overflow."""
    kept: list[Attachment] = []
    refused: list[Attachment] = []
    total = 0
    for attachment in attachments:
        size = len(attachment.payload)
        if len(kept) < max_count and total + size <= max_bytes:
            kept.append(attachment)
            total += size
        else:
            refused.append(attachment)
    return kept, refused


def inbound_row(
    ticket: int | None,
    kind: str,
    mail: ParsedMail,
    sender: Address,
    envelope: Envelope,
    key: str,
    raw_sha: str,
    note: str = "",
) -> NewMessage:
    """The row of a message that came in."""
    return NewMessage(
        ticket=ticket,
        direction="in",
        kind=kind,
        message_id=mail.message_id,
        dedupe_key=key,
        from_addr=sender.email,
        from_name=sender.name,
        to_addrs=[a.email for a in mail.to],
        cc_addrs=[a.email for a in mail.cc],
        subject=mail.subject,
        body=mail.text,
        sent_at=mail.date,
        source=envelope.source,
        envelope_from=envelope.mail_from,
        raw_sha256=raw_sha,
        note=note,
    )


def envelope_address(mail_from: str | None) -> Address | None:
    if mail_from and "@" in mail_from:
        return Address(mail_from.strip("<>").lower())
    return None


def concrete_address(queue: QueueConfig) -> str:
    concrete = next((a for a in queue.addresses if not a.endswith("@*")), None)
    return (concrete or queue.addresses[0].replace("@*", "@localhost")).lower()
