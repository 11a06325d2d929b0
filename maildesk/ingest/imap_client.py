"""An IMAP connection as maildesk opens it: TLS never downgraded, library errors turned
into TransientError or PermanentError, a LOGOUT that never hangs; and the look at an
account that ``maildesk check`` takes."""

from __future__ import annotations

import contextlib
import imaplib
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# imapclient ships no type information.
from imapclient import IMAPClient  # type: ignore[import-untyped, unused-ignore]
from imapclient.exceptions import LoginError  # type: ignore[import-untyped, unused-ignore]

from maildesk.config import ImapConfig
from maildesk.errors import ConfigError, PermanentError, TransientError
from maildesk.oauth.tokens import TokenSource

TIMEOUT = 60.0  # socket connect and read timeout
CLOSE_TIMEOUT = 5.0  # DONE and LOGOUT on the way out: a dead server must not hold us


@contextlib.contextmanager
def mapped(action: str) -> Iterator[None]:
    """Turn imapclient and socket errors into TransientError or PermanentError."""
    try:
        yield
    except (TransientError, PermanentError):
        raise
    except ConfigError as exc:  # no password: only the admin can help
        raise PermanentError("; ".join(exc.problems)) from exc
    except LoginError as exc:
        raise PermanentError(f"{action}: refused: {_text(exc)}") from exc
    except ssl.SSLCertVerificationError as exc:
        reason = exc.verify_message or str(exc)
        raise PermanentError(f"{action}: TLS certificate not accepted: {reason}") from exc
    except imaplib.IMAP4.abort as exc:  # dropped connection, BYE, a broken response
        raise TransientError(f"{action}: connection lost: {_text(exc)}") from exc
    except imaplib.IMAP4.error as exc:  # the server answered NO or BAD
        raise PermanentError(f"{action}: {_text(exc)}") from exc
    except (OSError, EOFError) as exc:  # refused, reset, timed out, TLS handshake failed
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise TransientError(f"{action}: {reason}") from exc


def _text(exc: BaseException) -> str:
    text = str(exc)
    return text.removeprefix("b'").removesuffix("'") if text.startswith("b'") else text


def connect(
    config: ImapConfig, *, timeout: float = TIMEOUT, tokens: TokenSource | None = None
) -> Any:
    """A logged-in IMAPClient. TLS is never downgraded: a failed STARTTLS sends no login.

    With ``config.oauth`` it signs in with a token from ``tokens`` (the credential's one
    ``TokenSource``, shared by every account that uses it) instead of a password.
    """
    where = f"{config.host}:{config.port}"
    if config.oauth and tokens is None:
        raise PermanentError(f"[[oauth]] {config.oauth}: no token source for account {config.name}")
    with mapped(f"connect to {where}"):
        password = "" if config.oauth else config.password()
        context = ssl.create_default_context() if config.tls != "none" else None
        client = IMAPClient(
            config.host,
            port=config.port,
            ssl=config.tls == "tls",
            ssl_context=context,
            timeout=timeout,
        )
    try:
        if config.tls == "starttls":
            with mapped(f"STARTTLS with {where}"):
                if not client.has_capability("STARTTLS"):
                    raise PermanentError(
                        f"{where} does not offer STARTTLS; the password is not sent in clear text"
                    )
                client.starttls(context)
        with mapped(f"login to {where} as {config.username} ({config.password_source()})"):
            if tokens is not None and config.oauth:
                _token_login(client, config.username, tokens)
            else:
                client.login(config.username, password)
    except BaseException:
        close(client)
        raise
    return client


def _token_login(client: Any, username: str, tokens: TokenSource) -> None:
    """SASL OAUTHBEARER where the server offers it (RFC 7628, the standard), else XOAUTH2
    (what Microsoft and Google speak). A refused token may have been revoked or expired
    early: it is dropped and a new one tried, once; a second refusal is the server's word."""
    bearer = client.has_capability("AUTH=OAUTHBEARER")
    for attempt in (1, 2):
        # One token per credential, or per mailbox for a Google service account.
        token = tokens.token(username)  # PermanentError/TransientError: the endpoint's answer
        try:
            if bearer:
                client.oauthbearer_login(username, token)
            else:
                client.oauth2_login(username, token)
            return
        except LoginError:
            tokens.invalidate(token, username)
            if attempt == 2:
                raise


def close(client: Any) -> None:
    """LOGOUT if the server still answers, then close the socket; never raises."""
    with contextlib.suppress(Exception):
        client.socket().settimeout(CLOSE_TIMEOUT)
    try:
        client.logout()
    except Exception:  # already closed, or the server went away: just drop the socket
        with contextlib.suppress(Exception):
            client.shutdown()


# -- maildesk check --------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """What ``maildesk check`` learns about one account."""

    folders: dict[str, bool]  # folder name -> exists
    messages: int  # in the watched folder
    idle: bool
    move: bool


def probe(config: ImapConfig, *, timeout: float = 15.0, tokens: TokenSource | None = None) -> Probe:
    """Log in, look at the folders and the server's capabilities, log out."""
    client = connect(config, timeout=timeout, tokens=tokens)
    try:
        with mapped("check"):
            capabilities = set(client.capabilities())
            names = [config.folder, config.processed_folder, config.quarantine_folder]
            folders = {name: bool(client.folder_exists(name)) for name in names if name}
            messages = 0
            if folders[config.folder]:
                status = client.folder_status(config.folder, [b"MESSAGES"])
                messages = int(status[b"MESSAGES"])
    finally:
        close(client)
    return Probe(folders, messages, b"IDLE" in capabilities, b"MOVE" in capabilities)


# -- reading what the server says ------------------------------------------------------


def idle_event(response: tuple[Any, ...]) -> bool:
    """Whether an IDLE response is news (EXISTS, EXPUNGE …) rather than a keep-alive."""
    return not (len(response) > 0 and response[0] == b"OK")


def announced(client: Any) -> bool:
    """Whether the server announced new mail (EXISTS) during the commands since last asked.

    A message that arrives while a SEARCH runs is announced in that command's untagged
    responses and never again; missing it would leave it waiting until the next check.
    imapclient keeps no record of them, imaplib does.
    """
    pending = client._imap.untagged_responses
    return any(pending.pop(key, None) for key in ("EXISTS", b"EXISTS"))


def trouble(response: tuple[Any, ...]) -> bool:
    """BYE, or a NO or BAD outside any command: the session cannot be trusted any more.

    Dovecot answers an IDLE whose folder was deleted and recreated with "* NO Internal
    error" and then keeps showing the old folder; only a new login sees the new one.
    """
    return len(response) > 0 and response[0] in (b"NO", b"BAD", b"BYE")


def words(response: tuple[Any, ...]) -> str:
    return " ".join(
        p.decode("ascii", "replace") if isinstance(p, bytes) else str(p) for p in response
    )
