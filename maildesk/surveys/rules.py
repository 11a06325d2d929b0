"""Closing surveys, the pure part: the signed tokens that the survey links carry, and
which ticket's survey a mail answers. What the answer says is read in ``replies.py``;
the ``[surveys]`` settings are ``config/surveys.py``.

Pure: no clock (``now`` comes in), no store, no network. The I/O side is
``service.py`` (sending, recording, reopening) and ``web.py`` (the pages).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from maildesk.mail.thread import verify_message_id

# The survey key is derived from the signing secret with its own context, so a token can
# never be mistaken for (or forged from) a signed Message-ID.
_CONTEXT = b"maildesk survey token v1"
_TOKEN = re.compile(r"^(\d{1,12})\.(\d{1,12})\.([0-9a-f]{8,32})\.([A-Za-z0-9_-]{22})$")

# -- tokens ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    ticket: int
    expires: datetime
    nonce: str  # the survey's own random value, kept on its row


def sign_token(secret: bytes, ticket: int, expires: datetime, nonce: str) -> str:
    """The token a survey link carries: ticket, expiry and nonce, with their HMAC.

    >>> at = datetime(2026, 12, 1, tzinfo=UTC)
    >>> sign_token(b"s" * 16, 42, at, "0123abcd").startswith("42.1796083200.0123abcd.")
    True
    """
    body = f"{ticket}.{int(expires.timestamp())}.{nonce}"
    return f"{body}.{_mac(secret, body)}"


def verify_token(secret: bytes, token: str, now: datetime) -> Token | str:
    """The token's contents, or why it is refused: "malformed", "forged" or "expired".

    >>> at = datetime(2026, 12, 1, tzinfo=UTC)
    >>> token = sign_token(b"s" * 16, 42, at, "0123abcd")
    >>> verify_token(b"s" * 16, token, at.replace(day=2))
    'expired'
    """
    match = _TOKEN.match(token.strip())
    if match is None:
        return "malformed"
    number, expires, nonce, mac = match.groups()
    body = f"{number}.{expires}.{nonce}"
    if not hmac.compare_digest(_mac(secret, body), mac):
        return "forged"
    until = datetime.fromtimestamp(int(expires), UTC)
    if now >= until:
        return "expired"
    return Token(int(number), until, nonce)


def _mac(secret: bytes, body: str) -> str:
    key = hmac.new(secret, _CONTEXT, hashlib.sha256).digest()
    digest = hmac.new(key, body.encode("ascii"), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def survey_replied(
    secret: bytes, in_reply_to: Sequence[str], references: Sequence[str]
) -> int | None:
    """The ticket whose survey this mail answers: it replies to our signed survey mail.

    >>> survey_replied(b"s" * 16, [], ["<someone@else>"]) is None
    True
    """
    ids = list(in_reply_to) or list(references)[-1:]
    for message_id in ids:
        verified = verify_message_id(secret, message_id.strip("<>"))
        if verified is not None and verified[1] == "s":
            return verified[0]
    return None
