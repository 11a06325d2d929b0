"""PURE: what a bounce says, read from its raw bytes: which of our messages came back
(``bounced_message_ids``) and for whom (``bounced_recipients``). RFC 3464 delivery
status notifications first, then what non-standard bounces write in their text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from email import message_from_bytes
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32
from email.utils import getaddresses

# A returned original, whole or headers only; text/rfc822-headers is RFC 6522's name.
_ORIGINAL_TYPES = frozenset(
    {
        "message/rfc822",
        "message/global",
        "message/rfc822-headers",
        "message/global-headers",
        "text/rfc822-headers",
    }
)
_DSN_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status"})
_BODY_MSGID = re.compile(
    r"^[ \t>]*Message-ID[ \t]*:[ \t]*(?:<([^<>\s]+)>|([^<>\s]+@[^<>\s]+))",
    re.IGNORECASE | re.MULTILINE,
)
_DSN_RECIPIENT = re.compile(
    r"^[ \t]*(?:Final|Original)-Recipient[ \t]*:[ \t]*(?:([\w.-]+)[ \t]*;)?[ \t]*(\S[^\r\n]*)",
    re.IGNORECASE | re.MULTILINE,
)


def bounced_message_ids(raw: bytes) -> list[str]:
    """Message-IDs (no angle brackets) of the message(s) a bounce reports on; [] if none.

    They come from ``message/rfc822`` or ``text/rfc822-headers`` parts, else from
    "Message-ID: <...>" lines in the body of a non-standard bounce. Never raises.

    >>> bounced_message_ids(b"From: MAILER-DAEMON\\n\\nMessage-ID: <a1@example.org>\\n")
    ['a1@example.org']
    """
    try:
        message = message_from_bytes(raw, policy=compat32)
        parts = list(_parts(message))
        found = [
            mid
            for part in parts
            if part.get_content_type() in _ORIGINAL_TYPES
            for mid in _ids(part)
        ]
        if not found:
            for part in parts:
                if part.get_content_type() == "text/plain":
                    for bracketed, bare in _BODY_MSGID.findall(_text(part)):
                        found.append(bracketed or bare)
        return _unique(mid.strip() for mid in found)
    except Exception:  # garbage in, nothing out: a bounce we cannot read reports nothing
        return []


def bounced_recipients(raw: bytes) -> list[str]:
    """Lower-case addresses a bounce reports as failed; [] if none.

    They come from the Final-Recipient/Original-Recipient fields of
    ``message/delivery-status`` parts, else from an ``X-Failed-Recipients`` header
    (Exim, Gmail). Never raises.

    >>> bounced_recipients(b"Content-Type: message/delivery-status\\n\\n"
    ...     b"Reporting-MTA: dns; mx.example.org\\n\\nFinal-Recipient: rfc822; Ana@Example.org\\n")
    ['ana@example.org']
    """
    try:
        message = message_from_bytes(raw, policy=compat32)
        found: list[str] = []
        for part in (p for p in _parts(message) if p.get_content_type() in _DSN_TYPES):
            for kind, address in _DSN_RECIPIENT.findall(_dsn_text(part)):
                address = _bare((address.split() or [""])[0])
                if kind.lower() in {"", "rfc822", "utf-8"} and _plausible(address):
                    found.append(address)
        if not found:
            values = [str(v) for v in message.get_all("x-failed-recipients", [])]
            found = [a.lower() for _, a in getaddresses(values) if _plausible(a.lower())]
        return _unique(found)
    except Exception:  # garbage in, nothing out
        return []


def who_failed(reported: Sequence[str], recipients: Sequence[str]) -> list[str]:
    """Which of a bounced mail's ``recipients`` did not get it: those the bounce reports,
    else (it names nobody we wrote to: a forward downstream, a bounce that says nothing)
    every recipient, since one of them failed and we cannot tell which.

    >>> who_failed(["b@x"], ["a@x", "B@x"]), who_failed(["b@fwd.example"], ["a@x"])
    (['B@x'], ['a@x'])
    """
    named = {a.lower() for a in reported}
    return [a for a in recipients if a.lower() in named] or list(recipients)


def _parts(message: Message) -> Iterator[Message]:
    """Every part in document order, not looking inside a returned original message.

    An original may itself carry forwarded mail or even bounces; those are not what
    this report is about. Iterative, so hostile nesting cannot exhaust the stack.
    """
    stack = [message]
    while stack:
        part = stack.pop()
        yield part
        content_type = part.get_content_type()
        payload = part.get_payload()
        if content_type not in _ORIGINAL_TYPES | _DSN_TYPES and isinstance(payload, list):
            stack.extend(reversed([p for p in payload if isinstance(p, Message)]))


def _ids(part: Message) -> list[str]:
    if part.get_content_type().startswith("text/"):
        text = _text(part).lstrip("\r\n")
        headers = HeaderParser(policy=compat32).parsestr(text, headersonly=True)
    else:
        payload = part.get_payload()
        if not (isinstance(payload, list) and payload and isinstance(payload[0], Message)):
            return []
        headers = payload[0]
    value = str(headers.get("message-id", ""))
    match = re.search(r"<([^<>\s]+)>", value)
    bare = value.strip()
    if match:
        return [match.group(1)]
    return [bare] if bare and not any(c.isspace() for c in bare) else []


def _dsn_text(part: Message) -> str:
    """The fields of a delivery-status part as text, however the parser split it."""
    payload = part.get_payload()
    if not isinstance(payload, list):
        return _text(part)
    # compat32 keeps 8-bit bytes as surrogates; undo that, since RFC 6533 fields are UTF-8.
    chunks = []
    for block in payload:
        if isinstance(block, Message):
            for name, value in block.raw_items():
                chunks.append(f"{name}: {value}\n".encode("utf-8", "surrogateescape"))
            inner = None if block.is_multipart() else block.get_payload(decode=True)
            if isinstance(inner, bytes):
                chunks.append(inner)
    return b"".join(chunks).decode("utf-8", "replace")


def _text(part: Message) -> str:
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return data.decode(charset, "replace")
    except LookupError:  # an unknown charset name
        return data.decode("latin-1")


def _plausible(address: str) -> bool:
    local, _, domain = address.rpartition("@")
    return bool(local and domain) and not any(c.isspace() or ord(c) < 32 for c in address)


def _unique(values: Iterator[str] | list[str]) -> list[str]:
    return [v for v in dict.fromkeys(values) if v]


def _bare(address: str) -> str:
    return address.strip().strip("<>").strip().lower()
