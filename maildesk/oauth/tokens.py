"""Access tokens for one ``[[oauth]]`` credential, fetched and refreshed before they expire.

I/O. ``TokenSource.token()`` is what an IMAP account or the SMTP transport calls right
before each sign-in: it answers from its cache while the token has more than a margin
left (5 minutes, or a tenth of a short lifetime), and otherwise asks the token endpoint.
IMAP accounts run in threads, so one lock makes concurrent callers share one request.
A Google service account's token acts as one mailbox, so for it the cache holds a token
per username the callers sign in as (RFC 7523's JWT bearer grant, ``service_account``).

With ``grant = "refresh_token"`` the refresh token lives in a file of its own, mode 0600,
beside the secret (``refresh_token_path``); the device login writes it first, and every
refresh that returns a new one replaces it atomically (temp file, fsync, rename).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from maildesk.clock import Clock
from maildesk.errors import MaildeskError, PermanentError
from maildesk.oauth.assertion import ASSERTION_TYPE, client_assertion
from maildesk.oauth.endpoint import refusal, request_token
from maildesk.oauth.service_account import (
    JWT_BEARER_GRANT,
    bearer_assertion,
    refusal_hints,
    service_account_key,
)
from maildesk.oauth.settings import OAuthSettings

SecretReader = Callable[[OAuthSettings], str | None]
MAX_MARGIN = timedelta(minutes=5)
# When a provider leaves out expires_in (RFC 6749 only recommends it), assume an hour:
# Microsoft's and Google's tokens last about that long, and a token the server refuses
# earlier is dropped by invalidate() anyway.
DEFAULT_LIFETIME = timedelta(hours=1)
REFRESH_SUFFIX = ".refresh-token"


def read_client_secret(
    settings: OAuthSettings, environ: Mapping[str, str] = os.environ
) -> str | None:
    """The client secret from ``client_secret_env`` or ``client_secret_file``; None when
    the credential has neither (a certificate, or a public client)."""
    if settings.client_secret_env and environ.get(settings.client_secret_env):
        return environ[settings.client_secret_env].strip()
    if settings.client_secret_file:
        path = Path(settings.client_secret_file)
        try:
            secret = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise PermanentError(
                f"{_where(settings)}: cannot read client_secret_file {path}: {exc.strerror or exc}"
            ) from None
        if not secret:
            raise PermanentError(f"{_where(settings)}: client_secret_file {path} is empty")
        return secret
    if settings.client_secret_env:
        raise PermanentError(
            f"{_where(settings)}: environment variable {settings.client_secret_env} "
            "(client_secret_env) is not set"
        )
    return None


def refresh_token_path(settings: OAuthSettings, state_dir: Path) -> Path:
    """Where a ``grant = "refresh_token"`` credential keeps its refresh token: beside
    the secret or certificate file, else in the state folder.

    >>> refresh_token_path(OAuthSettings("m365", "microsoft",
    ...     client_secret_file="/etc/maildesk/m365.secret"), Path("/var/lib/maildesk"))
    PosixPath('/etc/maildesk/m365.secret.refresh-token')
    """
    beside = settings.client_secret_file or settings.certificate_file
    if beside:
        return Path(beside + REFRESH_SUFFIX)
    return state_dir / f"oauth-{settings.name}{REFRESH_SUFFIX}"


def store_refresh_token(path: Path, refresh_token: str) -> None:
    """Replace ``path`` with ``refresh_token``, readable by its owner only.

    The new file is complete and synced before the rename, so a crash leaves either the
    old token or the new one, never half of one (a rotated-away token no longer works).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(refresh_token + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


@dataclass(frozen=True)
class AccessToken:
    """A bearer token and when it stops working."""

    value: str = field(repr=False)
    expires: datetime
    refresh_at: datetime


class TokenSource:
    """The access tokens of one credential (see the module docstring). Thread-safe.

    Most credentials get one token that serves every mailbox using them. A Google service
    account with domain-wide delegation gets one per mailbox (``settings.per_mailbox``):
    its token acts as the mailbox named in the request. So every call names the user the
    caller signs in as, and the cache is keyed by it where that matters.
    """

    def __init__(
        self,
        settings: OAuthSettings,
        clock: Clock,
        read_secret: SecretReader = read_client_secret,
        *,
        refresh_token_file: Path | None = None,
        timeout: float = 20.0,
    ) -> None:
        if settings.grant == "refresh_token" and refresh_token_file is None:
            raise ValueError("grant refresh_token needs refresh_token_file")
        self.settings = settings
        self.refresh_token_file = refresh_token_file
        self._clock = clock
        self._read_secret = read_secret
        self._timeout = timeout
        self._lock = threading.Lock()
        self._current: dict[str, AccessToken] = {}
        self._errors: dict[str, MaildeskError] = {}

    def __repr__(self) -> str:
        return f"TokenSource({self.settings.name!r}, provider={self.settings.provider!r})"

    @property
    def last_error(self) -> MaildeskError | None:
        """Why the last request failed, until one succeeds (for /healthz and the log);
        with a token per mailbox, the failure of any of them."""
        with self._lock:
            return next(iter(self._errors.values()), None)

    def _key(self, user: str) -> str:
        if not self.settings.per_mailbox:
            return ""
        if not user:
            raise PermanentError(
                f"{_where(self.settings)}: a service account token is asked for one mailbox;"
                " none was named"
            )
        return user

    def token(self, user: str = "") -> str:
        """A bearer token for signing in as ``user``, with more than the margin left;
        asks the endpoint when needed.

        Raises ``PermanentError`` when the endpoint refuses (the next call asks again:
        the admin may have fixed the secret meanwhile) and ``TransientError`` when it
        cannot be reached and the cached token, if any, has expired.
        """
        key = self._key(user)
        with self._lock:
            now = self._clock.now()
            current = self._current.get(key)
            if current is not None and now < current.refresh_at:
                return current.value
            try:
                fresh = self._fetch(now, key)
            except PermanentError as exc:
                # A refused credential must fail now, not in an hour when the cached
                # token runs out: the admin reads the reason while it is fresh.
                self._current.pop(key, None)
                self._errors[key] = exc
                raise
            except MaildeskError as exc:
                self._errors[key] = exc
                if current is not None and now < current.expires:
                    return current.value  # still valid; the next call tries again
                raise
            self._current[key] = fresh
            self._errors.pop(key, None)
            return fresh.value

    def invalidate(self, token: str | None = None, user: str = "") -> None:
        """Forget the cached token (the server refused it); ``token`` guards against
        dropping a newer one that another thread fetched meanwhile."""
        key = self._key(user)
        with self._lock:
            current = self._current.get(key)
            if current is not None and token in (None, current.value):
                del self._current[key]

    def expires(self, user: str = "") -> datetime | None:
        """When the cached token expires, if there is one."""
        key = self._key(user)
        with self._lock:
            current = self._current.get(key)
            return current.expires if current is not None else None

    def seconds_left(self, user: str = "") -> float | None:
        """Seconds until the cached token is due for renewal (its expiry less the margin),
        or None without one: a long-lived connection signs in again by then."""
        key = self._key(user)
        with self._lock:
            current = self._current.get(key)
            if current is None:
                return None
            return (current.refresh_at - self._clock.now()).total_seconds()

    # -- the request -------------------------------------------------------------------

    def _fetch(self, now: datetime, user: str) -> AccessToken:
        settings = self.settings
        if settings.per_mailbox:
            return self._fetch_delegated(now, user)
        params = {"scope": " ".join(settings.effective_scopes)}
        refresh_token = ""
        if settings.grant == "refresh_token":
            refresh_token = self._read_refresh_token()
            params["refresh_token"] = refresh_token
        secret, hide = authenticate_client(settings, params, now, self._read_secret)
        url = settings.effective_token_url
        status, answer = request_token(
            url, client_id=settings.client_id, grant_type=settings.grant, params=params,
            secret=secret, timeout=self._timeout, where=_where(settings),
        )  # fmt: skip
        hide += [refresh_token, str(answer.get("access_token", ""))]
        hide.append(str(answer.get("refresh_token", "")))
        if status != 200:
            raise refusal(
                _where(settings), url, status, answer, name=settings.name,
                grant=settings.grant, hide=hide,
            )  # fmt: skip
        token = access_token(answer, now, _where(settings))
        new_refresh = answer.get("refresh_token")
        # Microsoft rotates the refresh token on every use; Google keeps the same one.
        rotated = isinstance(new_refresh, str) and new_refresh and new_refresh != refresh_token
        if self.refresh_token_file is not None and rotated:
            try:
                store_refresh_token(self.refresh_token_file, str(new_refresh))
            except OSError as exc:
                # The old refresh token is spent: only a new login can repair this.
                raise PermanentError(
                    f"{_where(settings)}: cannot write the refresh token file "
                    f"{self.refresh_token_file}: {exc.strerror or exc}; fix it, then run "
                    f"`maildesk oauth login {settings.name}`"
                ) from None
        return token

    def _fetch_delegated(self, now: datetime, user: str) -> AccessToken:
        """A Google service account's token acting as ``user`` (RFC 7523's JWT bearer
        grant): the signed assertion alone authenticates, so no client field is sent."""
        settings = self.settings
        where = f"{_where(settings)} (as {user})"
        key = service_account_key(self._read_secret(settings), settings)
        url = settings.effective_token_url
        assertion = bearer_assertion(key, user, url, settings.effective_scopes, now)
        status, answer = request_token(
            url, client_id=settings.client_id, grant_type=JWT_BEARER_GRANT,
            params={"assertion": assertion}, client_auth=False, timeout=self._timeout,
            where=where,
        )  # fmt: skip
        if status != 200:
            hide = [assertion, key.private_key, str(answer.get("access_token", ""))]
            raise refusal(
                where, url, status, answer, name=settings.name, grant=settings.grant,
                hide=hide, hints=refusal_hints(settings, user),
            )  # fmt: skip
        return access_token(answer, now, where)

    def _read_refresh_token(self) -> str:
        path = self.refresh_token_file
        if path is None:  # __init__ refuses this; the check keeps mypy and -O honest
            raise ValueError("grant refresh_token needs refresh_token_file")
        try:
            value = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            value = ""
        except OSError as exc:
            raise PermanentError(
                f"{_where(self.settings)}: cannot read the refresh token file {path}: "
                f"{exc.strerror or exc}"
            ) from None
        if not value:
            raise PermanentError(
                f"{_where(self.settings)}: no refresh token in {path} yet: run "
                f"`maildesk oauth login {self.settings.name}`"
            )
        return value


def authenticate_client(
    settings: OAuthSettings, params: dict[str, str], now: datetime, read_secret: SecretReader
) -> tuple[str | None, list[str]]:
    """How the client proves itself: the secret to send (client_secret_post; Microsoft and
    Google both take it), or, with a certificate, the assertion put into ``params``;
    and the list of what must never appear in a message."""
    if settings.certificate_file:
        assertion = client_assertion(
            Path(settings.certificate_file),
            settings.client_id,
            settings.effective_token_url,
            now,
        )
        params.update(client_assertion_type=ASSERTION_TYPE, client_assertion=assertion)
        return None, [assertion]
    secret = read_secret(settings)
    return secret or None, [secret] if secret else []


def access_token(answer: Mapping[str, Any], now: datetime, where: str) -> AccessToken:
    """The token in a successful answer, with when to refresh it."""
    value = answer.get("access_token")
    if not isinstance(value, str) or not value:
        raise PermanentError(f"{where}: the token endpoint answered without an access_token")
    try:
        lifetime = timedelta(seconds=int(answer.get("expires_in", 0)))
    except (TypeError, ValueError):
        lifetime = timedelta(0)
    if lifetime <= timedelta(0):
        lifetime = DEFAULT_LIFETIME
    margin = min(MAX_MARGIN, lifetime / 10)
    return AccessToken(value, now + lifetime, now + lifetime - margin)


def _where(settings: OAuthSettings) -> str:
    return f"[[oauth]] {settings.name}"
