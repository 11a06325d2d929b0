"""The device authorization grant (RFC 8628): how ``maildesk oauth login NAME`` gets a
refresh token for a ``grant = "refresh_token"`` credential without a browser on the server.

I/O. Two steps, so the CLI can print between them:

    login = start_device_login(settings)
    print(login.message)  # "open https://microsoft.com/devicelogin and enter ABCD-1234"
    finish_device_login(settings, login, refresh_token_path(settings, state_dir), clock)

``finish_device_login`` polls the token endpoint at the interval the provider asked for
(``sleep`` is injected, so tests do not wait) until the user has signed in, declined, or
the code expired; then it writes the refresh token to its 0600 file.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from maildesk.clock import Clock
from maildesk.errors import PermanentError, TransientError
from maildesk.oauth.endpoint import refusal, request_device_code, request_token
from maildesk.oauth.settings import OAuthSettings
from maildesk.oauth.tokens import (
    AccessToken,
    SecretReader,
    access_token,
    authenticate_client,
    read_client_secret,
    store_refresh_token,
)

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
# RFC 8628 section 3.5: without an interval, poll every 5 s; slow_down adds 5 s.
DEFAULT_INTERVAL = 5
SLOW_DOWN = 5


@dataclass(frozen=True)
class DeviceLogin:
    """What the user must do (``message``, or ``verification_uri`` and ``user_code``)
    and what the poller needs; ``device_code`` proves the login and stays out of repr."""

    user_code: str
    verification_uri: str
    message: str
    expires_in: int
    interval: int
    device_code: str = field(repr=False)


def start_device_login(
    settings: OAuthSettings,
    read_secret: SecretReader = read_client_secret,
    *,
    device_url: str = "",
    timeout: float = 20.0,
) -> DeviceLogin:
    """Ask the provider for a user code; ``device_url`` overrides the provider's endpoint
    (a generic provider must give it)."""
    where = f"[[oauth]] {settings.name}"
    url = device_url or settings.device_url
    if settings.grant != "refresh_token":
        raise PermanentError(f"{where}: the device login is for grant refresh_token only")
    if not url:
        raise PermanentError(
            f"{where}: provider {settings.provider} has no known device authorization URL"
        )
    form = {"client_id": settings.client_id, "scope": " ".join(settings.effective_scopes)}
    # Google's device endpoint wants the client secret too; Microsoft's takes none.
    secret = read_secret(settings) if settings.provider == "google" else None
    if secret:
        form["client_secret"] = secret
    status, answer = request_device_code(url, form, timeout=timeout, where=where)
    if status != 200:
        raise refusal(
            where, url, status, answer, name=settings.name, grant=settings.grant,
            hide=[secret or ""],
        )  # fmt: skip
    try:
        # RFC 8628 names it verification_uri; Google's older answer verification_url.
        uri = str(answer.get("verification_uri") or answer["verification_url"])
        user_code = str(answer["user_code"])
        login = DeviceLogin(
            user_code=user_code,
            verification_uri=uri,
            message=str(answer.get("message") or f"Open {uri} and enter the code {user_code}."),
            expires_in=int(answer.get("expires_in", 900)),
            interval=int(answer.get("interval", DEFAULT_INTERVAL)),
            device_code=str(answer["device_code"]),
        )
    except (KeyError, TypeError, ValueError):
        raise PermanentError(
            f"{where}: the device authorization answer lacks device_code, user_code or "
            "verification_uri"
        ) from None
    return login


def finish_device_login(
    settings: OAuthSettings,
    login: DeviceLogin,
    refresh_token_file: Path,
    clock: Clock,
    *,
    read_secret: SecretReader = read_client_secret,
    sleep: Callable[[float], None] = time.sleep,
    timeout: float = 20.0,
) -> AccessToken:
    """Poll until the user signs in; store the refresh token and return the access token.

    Raises ``PermanentError`` when the user declines, the code expires or the endpoint
    refuses the client. Network trouble while polling is waited out until the code
    expires.
    """
    where = f"[[oauth]] {settings.name}"
    url = settings.effective_token_url
    deadline = clock.now() + timedelta(seconds=login.expires_in)
    interval = max(1, login.interval)
    while True:
        sleep(interval)
        now = clock.now()
        if now >= deadline:
            raise PermanentError(
                f"{where}: nobody signed in with code {login.user_code} in time: run "
                f"`maildesk oauth login {settings.name}` again"
            )
        params = {"device_code": login.device_code}
        secret, hide = authenticate_client(settings, params, now, read_secret)
        hide.append(login.device_code)
        try:
            status, answer = request_token(
                url, client_id=settings.client_id, grant_type=DEVICE_GRANT, params=params,
                secret=secret, timeout=timeout, where=where,
            )  # fmt: skip
        except TransientError:
            continue
        error = answer.get("error")
        if status == 200:
            break
        if error == "authorization_pending":
            continue
        if error == "slow_down":
            interval += SLOW_DOWN
            continue
        hide += [str(answer.get("access_token", "")), str(answer.get("refresh_token", ""))]
        raise refusal(
            where, url, status, answer, name=settings.name, grant=settings.grant, hide=hide
        )
    token = access_token(answer, now, where)
    refresh_token = answer.get("refresh_token")
    if not isinstance(refresh_token, str) or not refresh_token:
        hint = " (Microsoft: include offline_access in scopes)"
        raise PermanentError(
            f"{where}: the sign-in worked but no refresh token came back"
            f"{hint if settings.provider == 'microsoft' else ''}"
        )
    store_refresh_token(refresh_token_file, refresh_token)
    return token
