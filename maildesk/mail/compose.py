"""Build the mail we send. Pure: plain data in, RFC 5322 bytes out.

Requester text reaches our headers only through the ``email`` package's header
machinery, which encodes non-ASCII and refuses CR/LF, and only after parse.py cleaned
it to one line; bodies come from templates, where requester text is only a variable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from maildesk.mail.parsed import Address, Attachment

_MAX_REFERENCES = 20  # enough to thread; long chains make headers some servers refuse


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
    msg = EmailMessage(policy=SMTP)
    msg["From"] = _header_address(out.from_addr)
    msg["To"] = [_header_address(a) for a in out.to]
    if out.reply_to is not None:
        msg["Reply-To"] = _header_address(out.reply_to)
    msg["Subject"] = out.subject
    msg["Date"] = format_datetime(out.date)
    msg["Message-ID"] = f"<{out.message_id}>"
    if out.in_reply_to:
        msg["In-Reply-To"] = f"<{out.in_reply_to}>"
        chain = [*out.references, out.in_reply_to]
        msg["References"] = " ".join(f"<{i}>" for i in dict.fromkeys(chain[-_MAX_REFERENCES:]))
    if out.auto_submitted:
        msg["Auto-Submitted"] = out.auto_submitted
        # Exchange and Outlook honour this and send no out-of-office back to us.
        msg["X-Auto-Response-Suppress"] = "All"
    msg["Content-Language"] = out.language
    for name, value in out.extra_headers:
        msg[name] = value
    msg.set_content(out.body, charset="utf-8", cte="quoted-printable")
    for attachment in out.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        if not maintype or not subtype or maintype == "multipart":
            maintype, subtype = "application", "octet-stream"
        msg.add_attachment(
            attachment.payload, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
    return msg.as_bytes()


def _header_address(address: Address) -> HeaderAddress:
    local, _, domain = address.email.rpartition("@")
    return HeaderAddress(display_name=address.name, username=local, domain=domain)
