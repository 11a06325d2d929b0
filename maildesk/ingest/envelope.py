"""What a source hands to the pipeline and what the pipeline answers: the envelope and
the outcomes. Plain data: the adapters (SMTP, LMTP, IMAP) and the writer depend on this
module, never on the pipeline itself."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from maildesk.mail.parsed import Address
from maildesk.workflow import Action


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


def envelope_address(mail_from: str | None) -> Address | None:
    """The envelope sender as an address; None for the null sender or an unknown one.

    >>> envelope_address("<Ana@Example.org>")
    Address(email='ana@example.org', name='')
    """
    if mail_from and "@" in mail_from:
        return Address(mail_from.strip("<>").lower())
    return None
