"""The message row and dedupe key made from a parsed message, and the attachment limits.
Pure functions over plain data; the envelope and the outcomes are ``envelope.py``."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from maildesk.config import QueueConfig
from maildesk.ingest.envelope import Envelope
from maildesk.mail.parsed import Address, Attachment, ParsedMail
from maildesk.store.store import NewMessage

# Trace headers differ between two deliveries of the same message; they are left out
# of the content hash so a retry or a second mailbox still counts as the same mail.
_BODY_SPLIT = re.compile(rb"\r?\n\r?\n")


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


def concrete_address(queue: QueueConfig) -> str:
    concrete = next((a for a in queue.addresses if not a.endswith("@*")), None)
    return (concrete or queue.addresses[0].replace("@*", "@localhost")).lower()
