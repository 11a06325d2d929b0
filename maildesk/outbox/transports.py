"""Deliver what the pipeline wrote to the outbox table: a folder of .eml files or a relay.

Rows are marked sent only after delivery; a crash in between delivers again on restart
(at-least-once), and the file transport names files by row id, so a repeat overwrites
rather than duplicates. A relay outage delays mail with backoff; it never loses it.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import random
import smtplib
import ssl
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from maildesk.config import OutgoingConfig
from maildesk.errors import PermanentError, TransientError
from maildesk.oauth.sasl import xoauth2
from maildesk.oauth.tokens import TokenSource

log = logging.getLogger(__name__)

_LONGEST_WAIT = 3600.0


class Transport(Protocol):
    def send(self, row_id: int, mail_from: str, rcpt_to: list[str], raw: bytes) -> None:
        """Deliver, or raise TransientError (retry later) or PermanentError (give up)."""
        ...


_PARTIAL = ".tmp-*.part"  # a message being written; renamed to its .eml when whole


class FileTransport:
    """The embedded default: every outgoing message becomes an .eml file in a folder."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def clear_partial(self) -> int:
        """Remove what a kill left half-written, which nothing would ever finish; how
        many. Only at start: while the daemon runs, a delivery may be writing one. Their
        rows were not marked sent, so those messages are written again, whole."""
        removed = 0
        try:
            for path in self.directory.glob(_PARTIAL) if self.directory.is_dir() else ():
                path.unlink(missing_ok=True)
                removed += 1
        except OSError as exc:  # the folder's own trouble shows at the first delivery
            log.warning("cannot clear unfinished files in the outbox folder: %s", exc)
        if removed:
            log.warning(
                "removed %d unfinished .part file(s) from the outbox folder %s, left by a"
                " crash; their messages are written again",
                removed,
                self.directory,
            )
        return removed

    def send(self, row_id: int, mail_from: str, rcpt_to: list[str], raw: bytes) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            final = self.directory / f"{row_id:08d}.eml"
            # Write then rename: a reader never sees half a message (names as _PARTIAL).
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".part")
            with os.fdopen(fd, "wb") as handle:
                handle.write(raw)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, final)
        except OSError as exc:
            raise TransientError(
                f"cannot write to {self.directory}: {exc.strerror or exc}"
            ) from exc


class SmtpTransport:
    """Delivery through the institution's relay. TLS is never downgraded."""

    def __init__(
        self,
        config: OutgoingConfig,
        local_hostname: str | None = None,
        tokens: TokenSource | None = None,
    ) -> None:
        self.config = config
        self.local_hostname = local_hostname
        self.tokens = tokens  # with [outgoing] oauth: AUTH XOAUTH2 instead of a password

    def _context(self) -> ssl.SSLContext:
        cafile = str(self.config.ca_file) if self.config.ca_file else None
        return ssl.create_default_context(cafile=cafile)  # verifies the certificate and name

    def _connect(self) -> smtplib.SMTP:
        cfg = self.config
        if cfg.tls == "tls":
            return smtplib.SMTP_SSL(
                cfg.host,
                cfg.port,
                timeout=cfg.timeout_seconds,
                context=self._context(),
                local_hostname=self.local_hostname,
            )
        return smtplib.SMTP(
            cfg.host, cfg.port, timeout=cfg.timeout_seconds, local_hostname=self.local_hostname
        )

    def sign_in(self) -> str:
        """EHLO, STARTTLS or TLS as configured, AUTH XOAUTH2, QUIT without sending: what
        ``maildesk check`` tries. Returns the relay's answer to AUTH; raises the same
        errors as a delivery would (smtplib's, PermanentError from the token endpoint)."""
        with self._connect() as client:
            if self.config.tls == "starttls":
                client.starttls(context=self._context())
            code, text = self._token_login(client)
            client.quit()
        return f"{code} {_text(text)}"

    def send(self, row_id: int, mail_from: str, rcpt_to: list[str], raw: bytes) -> None:
        cfg = self.config
        try:
            with self._connect() as client:
                if cfg.tls == "starttls":
                    # Raises when the relay offers no STARTTLS: never fall back to plain text.
                    client.starttls(context=self._context())
                if cfg.oauth:
                    self._token_login(client)
                elif cfg.username:
                    client.login(cfg.username, cfg.password())
                refused = client.sendmail(mail_from, rcpt_to, raw)
        except smtplib.SMTPAuthenticationError as exc:
            # A wrong relay password is ours to fix; the mail waits for the fix.
            raise TransientError(
                f"relay {cfg.host}:{cfg.port} refused our login: {exc.smtp_code}"
            ) from exc
        except PermanentError as exc:
            # Only the token endpoint raises this here (a refused credential): ours to fix
            # too, so the mail waits, as for a wrong password. The message names the
            # provider's error code, never the secret or a token.
            raise TransientError(f"relay {cfg.host}:{cfg.port}: {exc}") from exc
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise _by_code(min(codes), str(exc.recipients)) from exc
        except smtplib.SMTPResponseException as exc:
            raise _by_code(exc.smtp_code, _text(exc.smtp_error)) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise TransientError(f"relay {cfg.host}:{cfg.port}: {exc}") from exc
        if refused:  # codes only: a recipient may be an anonymous requester's real address
            log.warning(
                "relay refused %d of %d recipients of outbox row %d (%s)",
                len(refused),
                len(rcpt_to),
                row_id,
                ", ".join(sorted({str(code) for code, _ in refused.values()})),
            )

    def _token_login(self, client: smtplib.SMTP) -> tuple[int, bytes]:
        """AUTH XOAUTH2, the one OAuth2 mechanism Exchange Online and Gmail relays take.
        A refused token is dropped and a new one tried once: it may have been revoked or
        expired early. A token endpoint that refuses raises PermanentError, which the
        caller turns into a wait: the mail stays in the outbox until the admin fixes it."""
        if self.tokens is None:
            raise TransientError(f"[[oauth]] {self.config.oauth}: no token source for the relay")
        username = self.config.username
        client.ehlo_or_helo_if_needed()  # auth() does not, unlike login()
        offered = client.esmtp_features.get("auth", "").upper().split()
        if "XOAUTH2" not in offered:
            raise TransientError(
                f"relay {self.config.host}:{self.config.port} does not offer AUTH XOAUTH2"
                f" (it offers {' '.join(offered) or 'no AUTH'}); [outgoing] oauth needs it"
            )
        for attempt in (1, 2):
            # One token per credential, or per mailbox for a Google service account.
            token = self.tokens.token(username)
            try:
                # initial_response_ok: the message goes with AUTH itself, as RFC 4954 allows;
                # on an error challenge smtplib answers with an empty line (the SASL abort).
                return client.auth(
                    "XOAUTH2", functools.partial(_first, username=username, token=token)
                )
            except smtplib.SMTPAuthenticationError:
                self.tokens.invalidate(token, username)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable: the second attempt returns or raises")


def _first(challenge: bytes | None = None, *, username: str, token: str) -> str:
    """XOAUTH2's only client message; any later challenge (the server's JSON error) gets
    the empty answer that ends the exchange."""
    return xoauth2(username, token).decode("ascii") if challenge is None else ""


def _by_code(code: int, text: str) -> TransientError | PermanentError:
    message = f"{code} {text}"[:300]
    return PermanentError(message) if 500 <= code < 600 else TransientError(message)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def make_transport(config: OutgoingConfig, tokens: TokenSource | None = None) -> Transport:
    if config.transport == "smtp":
        return SmtpTransport(config, tokens=tokens)
    return FileTransport(config.directory)


def next_attempt(
    now: datetime, attempts: int, first: float, rng: random.Random | None = None
) -> datetime:
    """When to try again after ``attempts`` failures: exponential from ``first`` seconds,
    capped at an hour, with jitter so a queue of retries does not hit the relay at once.

    >>> from datetime import UTC
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> 24 <= (next_attempt(t, 2, 15, random.Random(0)) - t).total_seconds() <= 36
    True
    """
    base = min(first * 2 ** max(attempts - 1, 0), _LONGEST_WAIT)
    jitter = (rng or random).uniform(0.8, 1.2)
    return now + timedelta(seconds=base * jitter)


def recipients(row_rcpt: str) -> list[str]:
    value = json.loads(row_rcpt)
    return [str(v) for v in value]
