"""Reading the mail maildesk sends, in tests: parsed, its plain text, its recipients."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage


def parse_mail(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def text_of(message: EmailMessage) -> str:
    """The text/plain body with LF line ends."""
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


def to_of(message: EmailMessage) -> list[str]:
    return [a.addr_spec for a in message["To"].addresses]
