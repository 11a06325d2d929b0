"""The SMTP/LMTP listener (aiosmtpd): 250 only after the commit, 451 on any fault of ours.

aiosmtpd answers 500 when a hook raises, which makes the sending server bounce the mail
to its author; a fault on our side must instead say "try again later" (451), so the
sender keeps the message and nothing is lost.
"""

from __future__ import annotations

import asyncio
import logging
import re
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import MISSING, SMTP

from maildesk.config import ListenerConfig
from maildesk.errors import TransientError
from maildesk.ingest.envelope import Envelope, Outcome, Quarantined, Stored
from maildesk.ingest.smtp_data import read_data

log = logging.getLogger(__name__)

Accept = Callable[[bytes, Envelope], Awaitable[Outcome]]
Route = Callable[[str], bool]

TEMPORARY_FAILURE = "451 4.3.0 Temporary local problem, please try again later"

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM = rf"{_ATEXT}(?:\.{_ATEXT})*"
# "<local@domain>" as nearly every client writes it in MAIL FROM and RCPT TO.
_PLAIN_PATH = re.compile(rf"<({_DOT_ATOM}@{_DOT_ATOM})>")


class Handler:
    def __init__(self, accept: Accept, serves: Route, protocol: str) -> None:
        self.accept = accept
        self.serves = serves
        self.protocol = protocol
        self.accepting = True
        self.sessions: weakref.WeakSet[Any] = weakref.WeakSet()  # live connections

    def in_transaction(self) -> int:
        """Open connections between MAIL FROM and our answer to their DATA."""
        return sum(
            1
            for s in list(self.sessions)
            if s.transport is not None and s.envelope.mail_from is not None
        )

    def close_connections(self) -> None:
        """Close every connection; what we already answered is still flushed to the peer."""
        for session in list(self.sessions):
            if session.transport is not None:
                session.transport.close()

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if not self.accepting:
            return "421 4.3.2 Service shutting down, please try again later"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if not self.serves(address):
            log.info("refused recipient %s: no queue serves it", _printable(address))
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        recipients = list(envelope.rcpt_tos)
        try:
            outcome = await self.accept(
                bytes(envelope.original_content),
                Envelope(envelope.mail_from, recipients, self.protocol),
            )
        except TransientError as exc:  # said once where it arose (a lost database, a stop)
            log.debug("answered 451 to %s: %s", _printable(envelope.mail_from), exc)
            return self._each(recipients, TEMPORARY_FAILURE)
        except Exception:
            log.exception(
                "cannot store a message from %s; answered 451", _printable(envelope.mail_from)
            )
            return self._each(recipients, TEMPORARY_FAILURE)
        return self._each(recipients, _accepted(outcome))

    async def handle_exception(self, error: Exception) -> str:
        log.error("listener error: %s: %s", type(error).__name__, error)
        return "451 4.3.0 Temporary local problem"

    def _each(self, recipients: list[str], status: str) -> str:
        # LMTP answers DATA once per recipient (RFC 2033); SMTP once.
        if self.protocol == "lmtp":
            return "\r\n".join([status] * max(1, len(recipients)))
        return status


def _accepted(outcome: Outcome) -> str:
    if isinstance(outcome, Stored):
        return f"250 2.0.0 OK {outcome.ref or 'recorded'}"
    if isinstance(outcome, Quarantined):
        return f"250 2.0.0 OK held for review ({outcome.quarantine_id})"
    return "250 2.0.0 OK already received"


def _printable(value: object) -> str:
    return "".join(c if c.isprintable() else "?" for c in str(value))[:200]


class _Session:
    """aiosmtpd's session with three changes: the handler sees its connections (a
    shutdown waits for their transactions), DATA is read in large pieces, and a refusal
    over the size limit is logged as one clear line."""

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        handler = getattr(self, "event_handler", None)
        if isinstance(handler, Handler):
            handler.sessions.add(self)

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        # aiosmtpd reads every address with the email package's RFC 5322 parser and
        # defines a class on each call: a tenth of the event loop's time under load. A
        # plain "<local@domain>" gets the same answer from a regex; the rest goes there.
        match = _PLAIN_PATH.match(arg)
        if match is None:
            return super()._getaddr(arg)  # type: ignore[misc,no-any-return]
        rest = arg[match.end() :].lstrip(" \t")
        if rest.startswith("("):  # a comment after the address: the full parser reads it
            return super()._getaddr(arg)  # type: ignore[misc,no-any-return]
        address: str = match[1]
        limit = getattr(self, "local_part_limit", 0)
        if limit and len(address.rpartition("@")[0]) > limit:
            return None, None
        return address, rest

    async def smtp_DATA(self, arg: str) -> None:
        # aiosmtpd's own, but for how the data is read (see smtp_data.py). Lines over
        # 998 octets break RFC 5322, yet real mailers send them: they are not refused.
        session: Any = self
        if await session.check_helo_needed() or await session.check_auth_needed("DATA"):
            return
        if not session.envelope.rcpt_tos:
            await session.push("503 Error: need RCPT command")
            return
        if arg:
            await session.push("501 Syntax: DATA")
            return
        await session.push("354 End data with <CR><LF>.<CR><LF>")
        try:
            content = await read_data(session._reader, session.data_size_limit)
        except asyncio.CancelledError:
            log.info("connection lost during DATA")
            session._writer.close()
            raise
        if content is None:
            await session.push("552 Error: Too much mail data")
            session._set_post_data_state()
            return
        session.envelope.content = session.envelope.original_content = content
        status = await session._call_handler_hook("DATA")
        session._set_post_data_state()
        await session.push("250 OK" if status is MISSING else status)

    async def push(self, status: str) -> None:
        if status.startswith("552"):
            log.warning("refused a message over the size limit: %s", status)
        await super().push(status)  # type: ignore[misc]


class _SMTP(_Session, SMTP):  # type: ignore[misc]
    # aiosmtpd sizes the reader's buffer by this: DATA is read in pieces of up to 1 MiB.
    line_length_limit = 1 << 20


class _LMTP(_Session, LMTP):  # type: ignore[misc]
    line_length_limit = 1 << 20


async def serve(config: ListenerConfig, handler: Handler, hostname: str) -> asyncio.Server:
    """Start listening; raises OSError when the address cannot be bound."""
    factory = _LMTP if config.protocol == "lmtp" else _SMTP
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: factory(
            handler,
            data_size_limit=config.max_message_bytes,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=hostname,
            ident="maildesk",
            timeout=300,
        ),
        host=config.host,
        port=config.port,
    )
