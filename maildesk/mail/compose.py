"""Build the mail we send. Pure: plain data in, RFC 5322 bytes out.

Requester text reaches our headers only after parse.py cleaned it to one line, and it is
written here only through RFC 2047 encoding (``email.header.Header``) or address quoting
(``formataddr``); a value that still holds CR or LF is refused. Bodies come from
templates, where requester text is only a variable.

The headers are written directly rather than through ``email.message.EmailMessage``:
its header registry parses every value we set back into objects, which made composing
an acknowledgement cost more than parsing the message it answers.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email import quoprimime
from email.header import Header
from email.utils import format_datetime, formataddr
from urllib.parse import quote

from maildesk.mail.parsed import Address, Attachment

_MAX_REFERENCES = 20  # enough to thread; long chains make headers some servers refuse
_CRLF = "\r\n"


@dataclass(frozen=True)
class Outgoing:
    message_id: str  # without angle brackets
    from_addr: Address
    to: Sequence[Address]
    subject: str
    body: str
    date: datetime
    language: str
    in_reply_to: str = ""  # the message we answer, without brackets
    references: Sequence[str] = ()  # its References, oldest first, without brackets
    auto_submitted: str = ""  # RFC 3834: "auto-replied" for acknowledgements
    reply_to: Address | None = None
    attachments: Sequence[Attachment] = ()
    extra_headers: Sequence[tuple[str, str]] = field(default=())


def compose(out: Outgoing) -> bytes:
    """The message as bytes with CRLF line ends, ready for a relay or an .eml file."""
    headers = [
        ("From", _address(out.from_addr)),
        ("To", ", ".join(_address(a) for a in out.to)),
    ]
    if out.reply_to is not None:
        headers.append(("Reply-To", _address(out.reply_to)))
    headers += [
        ("Subject", _text(out.subject, "Subject")),
        ("Date", format_datetime(out.date)),
        ("Message-ID", f"<{out.message_id}>"),
    ]
    if out.in_reply_to:
        chain = [*out.references, out.in_reply_to]
        headers.append(("In-Reply-To", f"<{out.in_reply_to}>"))
        ids = list(dict.fromkeys(chain[-_MAX_REFERENCES:]))
        headers.append(("References", (_CRLF + " ").join(f"<{i}>" for i in ids)))
    if out.auto_submitted:
        headers.append(("Auto-Submitted", out.auto_submitted))
        # Exchange and Outlook honour this and send no out-of-office back to us.
        headers.append(("X-Auto-Response-Suppress", "All"))
    headers.append(("Content-Language", out.language))
    headers += [(name, _text(value, name)) for name, value in out.extra_headers]
    headers.append(("MIME-Version", "1.0"))

    text_headers, text = _text_part(out.body)
    if out.attachments:
        # "=_" never occurs in quoted-printable or base64 text, so no part can contain it.
        boundary = "=_md_" + hashlib.sha256(out.message_id.encode()).hexdigest()[:24]
        headers.append(("Content-Type", f'multipart/mixed; boundary="{boundary}"'))
        parts = [_part(text_headers, text)]
        parts += [_part(*_attachment_part(a)) for a in out.attachments]
        body = "".join(f"--{boundary}{_CRLF}{part}{_CRLF}" for part in parts)
        body += f"--{boundary}--{_CRLF}"
    else:
        headers += text_headers
        body = text
    for name, value in headers:
        if "\r" in value.replace(_CRLF + " ", "") or "\n" in value.replace(_CRLF + " ", ""):
            raise ValueError(f"header {name} holds a line break")
    head = "".join(f"{name}: {value}{_CRLF}" for name, value in headers)
    return (head + _CRLF + body).encode("ascii")


def _address(address: Address) -> str:
    if any(c in address.email for c in '\r\n<>" ,;'):
        raise ValueError(f"not an address: {address.email!r}")
    name = " ".join(address.name.split())  # no line breaks, ever
    return formataddr((name, address.email), charset="utf-8")


def _text(value: str, name: str) -> str:
    """A header value: ASCII folded as is, anything else as RFC 2047 UTF-8 words."""
    words = value.split()
    # Leading ASCII words (our "[INFO#42]" tag) stay readable in the raw header.
    plain = 0
    while plain < len(words) and words[plain].isascii():
        plain += 1
    if plain == len(words):
        header = Header(" ".join(words), "us-ascii", header_name=name)
    elif plain == 0:
        header = Header(" ".join(words), "utf-8", header_name=name)
    else:  # Header puts the space between the two chunks itself
        header = Header(" ".join(words[:plain]), "us-ascii", header_name=name)
        header.append(" ".join(words[plain:]), "utf-8")
    return header.encode(linesep=_CRLF, maxlinelen=78)


Headers = list[tuple[str, str]]


def _part(headers: Headers, body: str) -> str:
    return "".join(f"{name}: {value}{_CRLF}" for name, value in headers) + _CRLF + body


def _text_part(body: str) -> tuple[Headers, str]:
    lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    # quoprimime works on one character per octet: give it the UTF-8 bytes as Latin-1.
    octets = "\n".join(lines).encode("utf-8").decode("latin-1")
    encoded = quoprimime.body_encode(octets, maxlinelen=76, eol=_CRLF)
    if not encoded.endswith(_CRLF):
        encoded += _CRLF
    return [
        ("Content-Type", 'text/plain; charset="utf-8"'),
        ("Content-Transfer-Encoding", "quoted-printable"),
    ], encoded


def _attachment_part(attachment: Attachment) -> tuple[Headers, str]:
    maintype, _, subtype = attachment.content_type.partition("/")
    if (
        not maintype
        or not subtype
        or maintype == "multipart"
        or not attachment.content_type.isascii()
    ):
        maintype, subtype = "application", "octet-stream"
    content_type = f"{maintype}/{subtype}".replace('"', "").replace(";", "")
    filename = _parameter(attachment.filename)
    encoded = base64.encodebytes(attachment.payload).decode("ascii").replace("\n", _CRLF)
    return [
        ("Content-Type", content_type),
        ("Content-Transfer-Encoding", "base64"),
        ("Content-Disposition", f"attachment; {filename}"),
    ], encoded


def _parameter(filename: str) -> str:
    """filename="…", or RFC 2231 filename*=utf-8''… for names that are not plain ASCII."""
    filename = " ".join(filename.split())
    if filename.isascii() and '"' not in filename and "\\" not in filename:
        return f'filename="{filename}"'
    return f"filename*=utf-8''{quote(filename, safe='')}"
