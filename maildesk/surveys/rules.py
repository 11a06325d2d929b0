"""Closing surveys, the pure part: the signed tokens that the survey links carry, and
what a requester's answer says. The ``[surveys]`` settings are ``config/surveys.py``.

Pure: no clock (``now`` comes in), no store, no network. The I/O side is
``service.py`` (sending, recording, reopening) and ``web.py`` (the pages).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from maildesk.mail.thread import verify_message_id

# The survey key is derived from the signing secret with its own context, so a token can
# never be mistaken for (or forged from) a signed Message-ID.
_CONTEXT = b"maildesk survey token v1"
_TOKEN = re.compile(r"^(\d{1,12})\.(\d{1,12})\.([0-9a-f]{8,32})\.([A-Za-z0-9_-]{22})$")

_YES = {
    "si",
    "yes",
    "y",
    "ok",
    "resuelto",
    "resuelta",
    "solucionado",
    "solved",
    "resolved",
    "si se resolvio",
    "si resuelto",
    "si, resuelto",
    "si, se resolvio",
    "yes, solved",
    "it was solved",
}
_NO = {
    "no",
    "n",
    "no resuelto",
    "no resuelta",
    "no solucionado",
    "no se resolvio",
    "no fue resuelto",
    "no se ha resuelto",
    "sin resolver",
    "not solved",
    "not resolved",
    "unsolved",
    "no, no se resolvio",
    "no, not solved",
    "it was not solved",
}
_SCORE = re.compile(r"^(\d{1,2})(?:\s*(?:/|de|of|out of)\s*\d{1,2})?(?:\s*[-:,.!]?\s*.*)?$")


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


# -- answers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    solved: bool | None = None
    score: int | None = None
    comment: str = ""
    recommend: bool | None = None

    @property
    def empty(self) -> bool:
        return self.solved is None and self.score is None and not self.comment

    def merged(self, earlier: Answer) -> Answer:
        """This answer over an earlier one: what it leaves out, the earlier one keeps."""
        return Answer(
            self.solved if self.solved is not None else earlier.solved,
            self.score if self.score is not None else earlier.score,
            self.comment or earlier.comment,
            self.recommend if self.recommend is not None else earlier.recommend,
        )


def _plain(text: str) -> str:
    """Lower case, accents and closing punctuation gone: what the reply words compare as."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.strip(" \t.!¡¿?;:\"'*_()").split())


def parse_yes_no(text: str) -> bool | None:
    """True, False or None (not a yes or a no).

    >>> parse_yes_no("Sí"), parse_yes_no("No se resolvió."), parse_yes_no("gracias")
    (True, False, None)
    """
    plain = _plain(text)
    if plain in _YES:
        return True
    if plain in _NO:
        return False
    return None


def parse_reply(lines: Sequence[str], scores: range) -> Answer | None:
    """The answer in a reply by mail: its first non-blank line is a score or a yes/no;
    the lines after it are the comment. None when the first line is neither.

    >>> parse_reply(["5", "", "Muy amables"], range(1, 6))
    Answer(solved=None, score=5, comment='Muy amables', recommend=None)
    >>> parse_reply(["no se resolvió"], range(1, 6)).solved
    False
    """
    rest = list(lines)
    while rest and not rest[0].strip():
        rest.pop(0)
    if not rest:
        return None
    first, comment = rest[0].strip(), "\n".join(rest[1:]).strip()
    solved = parse_yes_no(first)
    if solved is not None:
        return Answer(solved=solved, comment=comment)
    head, _, tail = first.partition(",")
    solved = parse_yes_no(head)
    score = _score(tail if solved is not None else first, scores)
    if score is None:
        return None
    return Answer(solved=solved, score=score, comment=comment)


def _score(text: str, scores: range) -> int | None:
    match = _SCORE.match(_plain(text))
    if match is None:
        return None
    value = int(match.group(1))
    return value if value in scores else None


def parse_score(text: str, scores: range) -> int | None:
    """A score given on a form: an integer on the scale, else None.

    >>> parse_score("4", range(1, 6)), parse_score("9", range(1, 6))
    (4, None)
    """
    text = text.strip()
    if not text.isdigit() or len(text) > 2:
        return None
    value = int(text)
    return value if value in scores else None


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
