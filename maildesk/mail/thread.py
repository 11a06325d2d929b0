"""Which ticket does a message belong to? Subject tags, signed Message-IDs, reply prefixes.

Pure: strings and plain data in, decisions out. The order of evidence follows the
trackers whose users complain least: our own signed Message-IDs first (they survive
subject rewriting by Outlook and truncating gateways), then Message-IDs of earlier
inbound mail, then the subject tag, which only the ticket's own people may use.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from enum import Enum

from maildesk.model import Ticket

# [INFO#42], [ info # 42 ], [info#42]: tolerant of case and spacing.
_TAG = re.compile(r"\[\s*([A-Za-z][A-Za-z0-9]{0,15})\s*#\s*(\d{1,12})\s*\]")
# Reply and forward prefixes in the languages our requesters write in, as clients emit them.
_PREFIX = re.compile(
    r"^\s*(?:(?:re|aw|sv|vs|rv|r|res|ref|antw|odp|wg|fw|fwd|tr|enc|rif)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]"
    r"|\[[^\]#]{1,40}\])\s*",
    re.IGNORECASE,
)
_SIGNED = re.compile(r"^md\.(\d{1,12})\.([a-z])\.([0-9a-z]{6,32})\.([0-9a-f]{20})@", re.IGNORECASE)


@dataclass(frozen=True)
class Tag:
    prefix: str  # upper-case, as configured
    number: int

    def __str__(self) -> str:
        return format_tag(self.prefix, self.number)


def format_tag(prefix: str, number: int) -> str:
    """The subject tag of a ticket.

    >>> format_tag("INFO", 42)
    '[INFO#42]'
    """
    return f"[{prefix.upper()}#{number}]"


def find_tag(subject: str, prefixes: Collection[str]) -> Tag | None:
    """The first tag in ``subject`` whose prefix is one of ours (any case), or None.

    >>> find_tag("RE: [info # 42] Matrícula", {"INFO"})
    Tag(prefix='INFO', number=42)
    """
    wanted = {p.upper() for p in prefixes}
    for match in _TAG.finditer(subject):
        prefix = match.group(1).upper()
        if prefix in wanted:
            return Tag(prefix, int(match.group(2)))
    return None


def strip_tags(subject: str, prefixes: Collection[str]) -> str:
    """``subject`` without our tags, for storing a clean ticket subject.

    >>> strip_tags("[INFO#7] Beca", {"INFO"})
    'Beca'
    """
    wanted = {p.upper() for p in prefixes}

    def drop(match: re.Match[str]) -> str:
        return "" if match.group(1).upper() in wanted else match.group(0)

    return " ".join(_TAG.sub(drop, subject).split())


def base_subject(subject: str) -> str:
    """``subject`` without leading reply/forward prefixes and list tags, for comparison.

    >>> base_subject("RE: RV: [alumnos] Fwd: Horario")
    'Horario'
    """
    previous = None
    while previous != subject:
        previous = subject
        subject = _PREFIX.sub("", subject, count=1)
    return " ".join(subject.split())


def reply_subject(prefix: str, number: int, subject: str, prefixes: Collection[str]) -> str:
    """The subject of mail we send about a ticket: its tag, then the requester's subject.

    >>> reply_subject("INFO", 42, "Re: [INFO#42] Certificado", {"INFO"})
    '[INFO#42] Certificado'
    """
    clean = base_subject(strip_tags(subject, prefixes))
    tag = format_tag(prefix, number)
    return f"{tag} {clean}" if clean else tag


def sign_message_id(secret: bytes, number: int, kind: str, nonce: str, domain: str) -> str:
    """A Message-ID (without brackets) that proves it was ours and names its ticket.

    ``kind`` is one letter: a = acknowledgement, n = agent notification, r = reply…
    """
    body = f"md.{number}.{kind}.{nonce}"
    return f"{body}.{_signature(secret, body)}@{domain}"


def verify_message_id(secret: bytes, message_id: str) -> tuple[int, str] | None:
    """(ticket number, kind) if ``message_id`` was signed with ``secret``, else None."""
    match = _SIGNED.match(message_id)
    if not match:
        return None
    number, kind, nonce, signature = match.groups()
    body = f"md.{number}.{kind.lower()}.{nonce.lower()}"
    if not hmac.compare_digest(_signature(secret, body), signature.lower()):
        return None
    return int(number), kind.lower()


def _signature(secret: bytes, body: str) -> str:
    return hmac.new(secret, body.encode("ascii"), hashlib.sha256).hexdigest()[:20]


def signed_tickets(secret: bytes, ids: Iterable[str]) -> list[int]:
    """Ticket numbers named by our signed ids among ``ids``, most recent reference first."""
    found: list[int] = []
    for message_id in reversed(list(ids)):
        verified = verify_message_id(secret, message_id)
        if verified and verified[0] not in found:
            found.append(verified[0])
    return found


class Via(Enum):
    SIGNED_ID = "signed-id"
    STORED_ID = "stored-id"
    TAG = "tag"


@dataclass(frozen=True)
class Hit:
    ticket: Ticket
    via: Via


@dataclass(frozen=True)
class ThreadChoice:
    ticket: Ticket | None  # the ticket the message joins; None: it opens a new one
    via: Via | None
    claimed: Tag | None = None  # a tag a stranger used: recorded on the new ticket


def may_use_tag(ticket: Ticket, sender: str, agents: Collection[str]) -> bool:
    """Only the ticket's requester, its participants and agents may thread by tag alone."""
    sender = sender.lower()
    return sender == ticket.requester or sender in ticket.participants or sender in agents


def choose(
    hits: Sequence[Hit], sender: str, agents: Collection[str], tag_prefix: str
) -> ThreadChoice:
    """Pick the ticket from evidence given in order of strength (signed, stored, tag).

    A tag from a stranger does not thread: the message opens a new ticket that records
    the tag it claimed, so nobody can write into someone else's ticket by guessing a number.
    """
    claimed: Tag | None = None
    for hit in hits:
        if hit.via is not Via.TAG or may_use_tag(hit.ticket, sender, agents):
            return ThreadChoice(hit.ticket, hit.via)
        claimed = claimed or Tag(tag_prefix, hit.ticket.number)
    return ThreadChoice(None, None, claimed)
