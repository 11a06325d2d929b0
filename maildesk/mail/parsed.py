"""The parsed form of one inbound message: plain data, no I/O, no parsing library."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property


@dataclass(frozen=True)
class Address:
    email: str  # lower-cased, as used for matching
    name: str = ""  # display name, decoded; may be empty


@dataclass(frozen=True)
class Attachment:
    filename: str  # sanitised: no path, no control characters, bounded length
    content_type: str
    payload: bytes


@dataclass(frozen=True)
class ParsedMail:
    """What the pipeline needs to know about a message.

    ``headers`` keeps every top-level header as (lower-case name, decoded value), in order,
    so classifiers can look at anything without another parse.
    """

    message_id: str  # without angle brackets; "" when the message has none
    subject: str
    sender: Address | None  # From, else Sender, else Reply-To; None when none is usable
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    reply_to: tuple[Address, ...]
    in_reply_to: tuple[str, ...]  # message ids without angle brackets
    references: tuple[str, ...]
    date: datetime | None
    text: str  # readable body: text/plain, or HTML turned into text
    html: str  # the HTML body as received ("" when none)
    attachments: tuple[Attachment, ...]
    headers: tuple[tuple[str, str], ...]
    content_type: str  # top-level, lower-case, e.g. "multipart/report"
    defects: tuple[str, ...] = field(default=())  # names of parser defects, for the record

    def header(self, name: str) -> str:
        """The first value of header ``name`` (any case), or ""."""
        values = self._by_name.get(name.lower())
        return values[0] if values else ""

    def header_all(self, name: str) -> list[str]:
        return list(self._by_name.get(name.lower(), ()))

    @cached_property
    def _by_name(self) -> dict[str, list[str]]:
        # Classification asks for a dozen headers by name; one pass instead of one each.
        found: dict[str, list[str]] = {}
        for key, value in self.headers:
            found.setdefault(key, []).append(value)
        return found
