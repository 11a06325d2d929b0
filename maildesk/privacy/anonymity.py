"""Anonymous queues: the sender's address kept sealed, a pseudonym everywhere else.

A complaint to a queue with ``anonymous = true`` is stored under a pseudonym,
``anon-k7q2m4xt3c@anonymous.invalid`` shown as "Anónimo K7Q2-M4XT". The real address is
kept only encrypted (Fernet: AES-128-CBC and HMAC-SHA256), with a key that lives outside
the database ([privacy] seal_key_file or seal_key_env), so a copied database or backup
does not name the complainant. The outbox sender opens it at the moment of delivery.

The pseudonym is an HMAC of the address under a key derived from the same secret: the
same person writing again gets the same pseudonym, so their replies thread, the loop
guard counts them, and ``maildesk export/erase --requester`` finds their tickets from
the real address.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import replace

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from maildesk.mail.parsed import Address, ParsedMail

# RFC 2606: .invalid never resolves, so a pseudonym given to a mail server by mistake
# bounces instead of reaching someone.
DOMAIN = "anonymous.invalid"
_ALIAS = re.compile(rf"^anon-[a-z2-7]{{10}}@{re.escape(DOMAIN)}$")
_LABEL = {"es": "Anónimo", "en": "Anonymous"}
# Sealed raw mail starts with this line; anything else in the blobs table is plain mail.
_SEALED_RAW = b"maildesk-sealed-v1\n"
# Headers of an anonymous message that stay readable: none of them names the sender or
# the machines on the way (From, Sender, Return-Path, Received, DKIM signatures all go).
_KEPT_HEADERS = frozenset(
    {
        "subject",
        "date",
        "message-id",
        "in-reply-to",
        "references",
        "to",
        "mime-version",
        "content-type",
        "content-language",
        "auto-submitted",
        "precedence",
    }
)


class SealError(Exception):
    """A sealed value that this key cannot open (another key, or damaged)."""


def is_alias(address: str) -> bool:
    """Whether ``address`` is a pseudonym of an anonymous queue.

    >>> is_alias("anon-k7q2m4xt3c@anonymous.invalid"), is_alias("ana@uni.example")
    (True, False)
    """
    return bool(_ALIAS.match(address))


def _derive(secret: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(secret)


class Sealer:
    """Seals and opens addresses and raw mail, and names pseudonyms, with one key."""

    def __init__(self, secret: bytes) -> None:
        self._fernet = Fernet(base64.urlsafe_b64encode(_derive(secret, b"maildesk seal v1")))
        self._alias_key = _derive(secret, b"maildesk alias v1")

    def alias(self, email: str) -> str:
        """The stable pseudonymous address of ``email``."""
        digest = hmac.new(self._alias_key, email.strip().lower().encode(), hashlib.sha256)
        code = base64.b32encode(digest.digest()).decode("ascii")[:10].lower()
        return f"anon-{code}@{DOMAIN}"

    def pseudonym(self, email: str, language: str) -> Address:
        """How the sender of ``email`` appears to agents: "Anónimo K7Q2-M4XT"."""
        alias = self.alias(email)
        code = alias[5:15].upper()
        return Address(alias, f"{_LABEL.get(language, _LABEL['en'])} {code[:4]}-{code[4:8]}")

    def seal(self, email: str) -> bytes:
        return self._fernet.encrypt(email.strip().lower().encode("utf-8"))

    def open(self, token: bytes) -> str:
        try:
            return self._fernet.decrypt(token).decode("utf-8")
        except InvalidToken as exc:
            raise SealError("sealed address does not open with this key") from exc

    def seal_raw(self, raw: bytes) -> bytes:
        return _SEALED_RAW + self._fernet.encrypt(raw)

    def open_raw(self, blob: bytes) -> bytes:
        """``blob`` as received: opened when sealed, as it is otherwise."""
        if not is_sealed_raw(blob):
            return blob
        try:
            return self._fernet.decrypt(blob[len(_SEALED_RAW) :])
        except InvalidToken as exc:
            raise SealError("sealed mail does not open with this key") from exc


def is_sealed_raw(blob: bytes) -> bool:
    return blob.startswith(_SEALED_RAW)


def redact(text: str, email: str, name: str, replacement: str) -> str:
    """``text`` without the sender's address, its local part or their full name, written
    with or without accents, in any case.

    Only these: a first name alone may well be the person the complaint is about.

    >>> redact("Soy Ana Ruiz (ana.ruiz@uni.edu).", "ana.ruiz@uni.edu", "Ana Ruíz", "[X]")
    'Soy [X] ([X]).'
    """
    local = email.partition("@")[0]
    words = [email] if "@" in email else []
    if len(local) >= 4:
        words.append(local)
    if len(name.strip()) >= 3 and name.strip().lower() != email.lower():
        words.append(name.strip())
    for word in sorted(words, key=len, reverse=True):
        # Any run of spaces between the parts of a name, as a signature may wrap it.
        pattern = r"\s+".join(re.escape(part) for part in _fold(word).split())
        found = re.finditer(rf"(?<![\w.+-]){pattern}(?![\w-])", _fold(text), re.IGNORECASE)
        for match in reversed(list(found)):  # the folded text has the same offsets
            text = text[: match.start()] + replacement + text[match.end() :]
    return text


def _fold(text: str) -> str:
    """``text`` without accents, one character for one: "Domínguez" -> "Dominguez"."""
    return "".join(_fold_char(c) for c in text)


def _fold_char(char: str) -> str:
    base = "".join(c for c in unicodedata.normalize("NFD", char) if not unicodedata.combining(c))
    return base if len(base) == 1 else char


def mask(
    mail: ParsedMail, real: Address, alias: Address, also: Mapping[str, str] | None = None
) -> ParsedMail:
    """``mail`` as the desk keeps it in an anonymous queue: from ``alias``, no Cc, and
    without the sender's address and name in the subject, the body or the headers; nor
    the addresses in ``also`` (address -> what stands in its place)."""

    def clean(text: str) -> str:
        text = redact(text, real.email, real.name, alias.name)
        for address, replacement in (also or {}).items():
            text = redact(text, address, "", replacement)
        return text

    headers = tuple((name, clean(value)) for name, value in mail.headers if name in _KEPT_HEADERS)
    return replace(
        mail,
        subject=clean(mail.subject),
        sender=alias,
        cc=(),
        reply_to=(),
        text=clean(mail.text),
        html=clean(mail.html),
        # A file's content stays as sent; its name is often the sender's ("CV Ana Ruiz.pdf").
        attachments=tuple(replace(a, filename=clean(a.filename)) for a in mail.attachments),
        headers=(("from", f"{alias.name} <{alias.email}>"), *headers),
    )
