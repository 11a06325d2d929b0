"""Raw bytes -> ParsedMail. The only module that imports mail-parser.

mail-parser copes with the structural damage real mail carries (bad charsets, broken
epilogues, RFC 2231 names, deep nesting); what it cannot read raises MalformedMail
with a reason, and the pipeline quarantines the raw bytes.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import unicodedata
from datetime import UTC, datetime
from email.header import decode_header
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any

import mailparser

from maildesk.errors import MalformedMail
from maildesk.mail import boundaries
from maildesk.mail.htmltext import html_to_text
from maildesk.mail.parsed import Address, Attachment, ParsedMail

# mail-parser logs every part it does not render at WARNING; that is noise for a daemon.
logging.getLogger("mailparser").setLevel(logging.ERROR)
boundaries.install()

_MSGID = re.compile(r"<([^<>\s]{1,500})>")
_MAX_FILENAME = 150
_SURROGATE = re.compile("[\udc80-\udcff]")
_WORD = r'[^\s"(),.:;<>@\[\]\\]+'
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_ADDRESS = rf"{_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
# One mailbox as nearly every client writes it: "Ana Pérez <ana@example.com>" or a bare
# address. For these, getaddresses gives the same pair (words joined by one space);
# anything else (quotes, comments, groups, several addresses) goes to it.
_PLAIN_MAILBOX = re.compile(
    rf"[ \t]*(?:((?:{_WORD}[ \t]+)*{_WORD})?[ \t]*<({_PLAIN_ADDRESS})>|({_PLAIN_ADDRESS}))[ \t]*"
)
_ADDR_SPEC = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*"
)


class _MailParser(mailparser.MailParser):  # type: ignore[misc]
    """mail-parser for its walk over the MIME parts only.

    Skipped: the two summaries it builds after each parse (``mail`` and
    ``mail_partial``: every header decoded again), and the reading of every address,
    Date and Received header it does first, for its header diagnostics. Nothing here
    reads either; the headers are read once, below. Together they were 40 % of its
    time per message. The MIME defects (the structural ones) are still found; of the
    header ones, ``parse`` notes a Date or From it cannot read itself.
    """

    def _reset(self) -> None:
        # The part state mail-parser's own _reset sets, without the header reading.
        # tests/mail/test_parse.py checks that the two set the same attributes.
        self._attachments: list[dict[str, Any]] = []
        self._text_plain: list[str] = []
        self._text_html: list[str] = []
        self._text_not_managed: list[str] = []
        self._defects: list[Any] = []
        self._defects_categories: set[str] = set()
        self._has_defects = False
        self._mail: dict[str, Any] = {}
        self._mail_partial: dict[str, Any] = {}
        self._header_index: dict[str, list[Any]] = {}
        self._address_header_defects: list[Any] = []
        self._address_headers: dict[str, Any] = {}
        self._date = None
        self._timezone = 0
        self._date_header_defects: list[Any] = []
        self._received_header_defects: list[Any] = []
        self._received: list[Any] = []

    def _make_mail(self, complete: bool = True) -> dict[str, Any]:
        return {}


def parse(raw: bytes) -> ParsedMail:
    """Parse one RFC 5322 message; raises MalformedMail when it cannot be read."""
    if not raw.strip():
        raise MalformedMail("empty message")
    try:
        mp = _MailParser.from_bytes(raw)
    except RecursionError as exc:
        raise MalformedMail("broken MIME structure: nested too deeply") from exc
    except Exception as exc:  # mail-parser raises many types; each means "unreadable"
        if "nest" in str(exc).lower():
            raise MalformedMail("broken MIME structure: nested too deeply") from exc
        raise MalformedMail(f"cannot parse: {type(exc).__name__}: {exc}") from exc
    message: Message = mp.message
    if message is None or len(message.keys()) == 0:
        raise MalformedMail("no header section")
    headers = tuple((name.lower(), _decode(value)) for name, value in message.items())
    html = "\n".join(_text(p) for p in mp.text_html)
    plain = "\n".join(_text(p) for p in mp.text_plain).strip()
    # A multipart whose boundary never appears keeps its body as one unmanaged part:
    # still the requester's words, so it becomes the text rather than being dropped.
    unmanaged = "\n".join(_text(p) for p in mp.text_not_managed).strip()
    text = plain or (html_to_text(html) if html else "") or unmanaged
    date_header = _header(message, "date")
    date = _date(date_header)
    sender = _sender(message)
    defects = set(mp.defects_categories)
    if date_header and date is None:
        defects.add("DateHeaderDefect")
    if sender is None and "from" in message:
        defects.add("AddressHeaderDefect")
    return ParsedMail(
        message_id=_first_id(_header(message, "message-id")),
        subject=_clean_line(_header(message, "subject")),
        sender=sender,
        to=_addresses(message, "to"),
        cc=_addresses(message, "cc"),
        reply_to=_addresses(message, "reply-to"),
        in_reply_to=tuple(_MSGID.findall(_header(message, "in-reply-to"))),
        references=tuple(_MSGID.findall(_header(message, "references"))),
        date=date,
        text=text,
        html=html,
        attachments=tuple(_attachments(mp.attachments)),
        headers=headers,
        content_type=message.get_content_type(),
        defects=tuple(sorted(defects)),
    )


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _decode(value: Any) -> str:
    """A header value as text: RFC 2047 words decoded chunk by chunk, bad bytes replaced."""
    if not isinstance(value, str):  # email.header.Header when 8-bit bytes were present
        value = str(value)
    if "=?" not in value:  # no encoded word: decode_header would hand it back whole
        return _undo_surrogates(value)
    try:
        chunks = decode_header(value)
    except (LookupError, UnicodeError, ValueError, binascii.Error):
        return _undo_surrogates(value)
    text = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            text.append(chunk)
        else:
            text.append(_bytes_to_text(chunk, charset))
    return _undo_surrogates("".join(text))


def _raw_text(value: Any) -> str:
    """A header value as text with its RFC 2047 words still encoded; 8-bit bytes decoded."""
    if isinstance(value, str):
        return _undo_surrogates(value)
    # email.header.Header: the parser met raw 8-bit bytes, kept as "unknown-8bit" chunks.
    return "".join(
        _bytes_to_text(chunk, charset) if isinstance(chunk, bytes) else chunk
        for chunk, charset in decode_header(value)
    )


def _bytes_to_text(data: bytes, charset: str | None) -> str:
    name = (charset or "us-ascii").lower()
    # Mail clients label GBK and GB18030 text as gb2312; the superset reads all three.
    name = {
        "gb2312": "gb18030",
        "gbk": "gb18030",
        "unknown-8bit": "utf-8",
        "x-unknown": "utf-8",
    }.get(name, name)
    try:
        return data.decode(name)
    except LookupError:
        name = "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode(name if name != "utf-8" else "latin-1", "replace")


def _undo_surrogates(decoded: str) -> str:
    # Surrogates stand for undecodable 8-bit bytes; most such headers are UTF-8 or Latin-1.
    if not decoded.isascii() and _SURROGATE.search(decoded):
        data = decoded.encode("utf-8", "surrogateescape")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode("latin-1")
    return decoded


def _header(message: Message, name: str) -> str:
    value = message.get(name)
    return "" if value is None else _decode(value)


def _clean_line(value: str) -> str:
    """One line of printable text: folded whitespace collapsed, control characters gone."""
    if not value.isprintable():  # printable text has no character of category C
        value = "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in value)
    return " ".join(value.split())


def _first_id(value: str) -> str:
    found = _MSGID.search(value)
    if found:
        return found.group(1)
    bare = value.strip()
    return bare if bare and " " not in bare and len(bare) <= 500 else ""


def _addresses(message: Message, name: str) -> tuple[Address, ...]:
    # Split the addresses before decoding RFC 2047 words: decoded first, a display name
    # like "=?utf-8?q?Ana=0D=0ABcc:_x@evil?=" would turn into an address of its own.
    values = [_raw_text(v) for v in message.get_all(name, [])]
    plain = _PLAIN_MAILBOX.fullmatch(values[0]) if len(values) == 1 else None
    if plain:
        pairs = [(" ".join((plain[1] or "").split()), plain[2] or plain[3])]
    else:
        pairs = getaddresses(values)
    found = []
    for display, email in pairs:
        email = email.strip().lower()
        if _ADDR_SPEC.fullmatch(email):
            found.append(Address(email, _clean_line(_decode(display))))
    if not found:  # "From: Big Bug bb@bug.com": no brackets, yet the address is plain to see
        found = [Address(m.lower()) for m in _ADDR_SPEC.findall(" ".join(values))[:1]]
    return tuple(found)


def _sender(message: Message) -> Address | None:
    for name in ("from", "sender", "reply-to"):
        found = _addresses(message, name)
        if found:
            return found[0]
    return None


def _date(value: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:  # "-0000" means unknown zone: RFC 5322 says read it as UTC
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _attachments(items: list[dict[str, Any]]) -> list[Attachment]:
    found = []
    for item in items:
        payload = item.get("payload") or ""
        if item.get("binary"):
            try:
                data = base64.b64decode(payload)
            except (binascii.Error, ValueError):
                data = payload.encode("utf-8", "replace")
        else:
            data = (
                payload.encode("utf-8", "replace") if isinstance(payload, str) else bytes(payload)
            )
        found.append(
            Attachment(
                filename=safe_filename(_text(item.get("filename") or "attachment")),
                content_type=_clean_line(_text(item.get("mail_content_type") or ""))[:100]
                or "application/octet-stream",
                payload=data,
            )
        )
    return found


def safe_filename(name: str) -> str:
    """A file name that cannot name a path or carry control characters.

    >>> safe_filename("../../etc/passwd")
    'passwd'
    """
    name = _clean_line(name).replace("\\", "/").rsplit("/", 1)[-1].strip(" .")
    if len(name) > _MAX_FILENAME:
        stem, dot, ext = name.rpartition(".")
        name = (
            (stem[: _MAX_FILENAME - len(ext) - 1] + dot + ext)
            if dot and len(ext) < 10
            else name[:_MAX_FILENAME]
        )
    return name or "attachment"
