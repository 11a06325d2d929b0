"""Token requests, through Authlib's OAuth2 client, and what their refusals mean.

I/O. A network failure, a timeout or a 5xx, 408 or 429 answer is a ``TransientError``
(the next attempt may work); an answer carrying an OAuth2 ``error`` is returned to the
caller, which turns it into a ``PermanentError`` with ``refusal``: the provider's own
code (``invalid_client``, ``AADSTS7000215``) and what to fix. No message ever holds the
secret, an assertion or a token: the form is never quoted, and ``hide`` strips any of
them the provider might have echoed back.

Why Authlib (its requests client) for all three providers, and not msal and google-auth:
every token request here is RFC 6749's (client credentials, refresh token, authorization
code), RFC 8628's (device code) or RFC 7523's (a Google service account's JWT bearer
grant), and Authlib builds and parses them, authenticates the client (client_secret_post,
or none for a public client) and reports the provider's error code, for Microsoft, Google
and any other server alike. msal only accepts an https authority and discovers it over
the network, and keeps its own token cache; google-auth signs a service account's
assertion for Google's fixed token URL with its own clock and retries. One client also
tests the same way for every provider, through ``token_url`` against the tests' loopback
endpoint (docs/design.md says more). Authlib has no call for the device authorization
request itself (RFC 8628 section 3.1), so that one is a plain form POST through the same
session; Microsoft's certificate assertion is signed in ``assertion.py``.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

import requests

# Authlib ships no type information.
from authlib.integrations.requests_client import (  # type: ignore[import-untyped, unused-ignore]
    OAuth2Session,
    OAuthError,
)

from maildesk.errors import PermanentError, TransientError
from maildesk.oauth.settings import token_url_problem

# What each standard error code (RFC 6749 section 5.2, RFC 8628 section 3.5) most often
# means for a mail credential, and what the admin should do about it.
_HINTS = {
    "invalid_client": (
        "the client secret or certificate is wrong, expired or revoked, or client_id is "
        "wrong: create a new secret in the app registration, update the file or variable, "
        "then reload"
    ),
    "unauthorized_client": (
        "this app may not use this grant: check its API permissions and admin consent "
        "(Microsoft app-only: IMAP.AccessAsApp/SMTP.SendAsApp and the Exchange service "
        "principal)"
    ),
    "invalid_grant": (
        "the refresh token has expired or was revoked, or consent was withdrawn: run "
        "`maildesk oauth login {name}` again"
    ),
    "invalid_scope": "the provider does not grant these scopes to this app: check scopes",
    "invalid_request": "check client_id, tenant and token_url",
    "unsupported_grant_type": "this endpoint does not offer grant {grant}: check grant",
    "access_denied": "the sign-in was declined: run `maildesk oauth login {name}` again",
    "expired_token": "the code expired before sign-in: run `maildesk oauth login {name}` again",
}
# Microsoft Entra's own codes (in error_description, "AADSTS7000215: …") say more than
# the standard code they come with.
_AADSTS_HINTS = {
    "7000215": "the client secret is wrong: use the secret's Value, not its Secret ID",
    "7000222": "the client secret has expired: create a new one in the app registration",
    "700016": "no app with this client_id in this tenant: check client_id and tenant",
    "90002": "the tenant does not exist: check tenant",
    "65001": "admin consent is missing: grant it to the app in Entra ID",
    "700082": "the refresh token expired from disuse: run `maildesk oauth login {name}`",
}
_AADSTS = re.compile(r"\bAADSTS(\d+)\b")
# The socket error at the bottom of a requests exception: "[Errno 111] Connection refused".
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")


def request_token(
    url: str,
    *,
    client_id: str,
    grant_type: str,
    params: Mapping[str, str],
    secret: str | None = None,
    client_auth: bool = True,
    timeout: float,
    where: str,
) -> tuple[int, dict[str, Any]]:
    """Ask the token endpoint at ``url`` for a token; return the HTTP status and the answer.

    ``params`` are the grant's own fields (``scope``, ``refresh_token``, ``device_code``,
    ``client_assertion`` …). With ``secret`` the client authenticates with it in the form
    (client_secret_post, which Microsoft, Google and most servers take), else it sends
    its client_id only; with ``client_auth`` False, not even that (the JWT bearer grant:
    the assertion alone says who asks). An OAuth2 error answer comes back as ``(status, {"error": …,
    "error_description": …})``, not raised: the device flow expects
    ``authorization_pending``. ``where`` ("[[oauth]] m365") starts every message.
    """
    reason = token_url_problem(url)
    if reason:
        raise PermanentError(f"{where}: token_url {reason}")
    session = OAuth2Session(
        client_id,
        secret,
        token_endpoint_auth_method="client_secret_post" if secret else "none",
    )
    statuses: list[int] = []

    def status_of(response: requests.Response) -> requests.Response:
        statuses.append(response.status_code)
        if response.status_code in (408, 429):
            raise TransientError(
                f"{where}: token endpoint {_where(url)} answered HTTP "
                f"{response.status_code}; will retry"
            )
        return response

    for hook in ("access_token_response", "refresh_token_response"):
        session.register_compliance_hook(hook, status_of)
    # A requests auth hook that adds nothing: Authlib's own would add the client_id.
    auth = None if client_auth else _no_client_auth
    try:
        if grant_type == "refresh_token":
            token = session.refresh_token(url, timeout=timeout, **params)
        else:
            token = session.fetch_token(
                url, grant_type=grant_type, timeout=timeout, auth=auth, **params
            )
    except OAuthError as exc:
        answer = {"error": str(exc.error), "error_description": str(exc.description or "")}
        return (statuses[-1] if statuses else 400), answer
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else 0
        if status >= 500 or not status:
            raise TransientError(
                f"{where}: token endpoint {_where(url)} answered HTTP {status}; will retry"
            ) from None
        return status, {}  # a 4xx without an OAuth2 error: the wrong URL, say
    except ValueError:  # a 2xx answer that is not a JSON object
        return (statuses[-1] if statuses else 200), {"error": ""}
    except requests.RequestException as exc:
        raise TransientError(
            f"{where}: token endpoint {_where(url)} unreachable: {_cause(exc, timeout)}"
        ) from None
    finally:
        session.close()
    return 200, dict(token)


def _no_client_auth(request: requests.PreparedRequest) -> requests.PreparedRequest:
    return request


def request_device_code(
    url: str, form: Mapping[str, str], *, timeout: float, where: str
) -> tuple[int, dict[str, Any]]:
    """The device authorization request (RFC 8628 section 3.1): one form POST, its
    status and JSON answer ({} when the answer is not a JSON object)."""
    reason = token_url_problem(url)
    if reason:
        raise PermanentError(f"{where}: device authorization URL {reason}")
    try:
        with requests.Session() as session:
            response = session.post(
                url, data=dict(form), headers={"Accept": "application/json"}, timeout=timeout
            )
    except requests.RequestException as exc:
        raise TransientError(
            f"{where}: device authorization endpoint {_where(url)} unreachable: "
            f"{_cause(exc, timeout)}"
        ) from None
    if response.status_code >= 500 or response.status_code in (408, 429):
        raise TransientError(
            f"{where}: device authorization endpoint {_where(url)} answered HTTP "
            f"{response.status_code}; will retry"
        )
    try:
        answer = response.json()
    except ValueError:
        answer = None
    return response.status_code, answer if isinstance(answer, dict) else {}


def _cause(exc: requests.RequestException, timeout: float) -> str:
    # Only the kind of failure: requests' messages repeat the URL, and a proxy's could
    # repeat more; the form never appears in them, but there is no need to find out.
    if isinstance(exc, requests.Timeout):
        return f"no answer within {timeout:g} s"
    errno = _ERRNO.search(str(exc))
    if errno:
        return errno[1]
    if isinstance(exc, requests.ConnectionError):
        return "connection failed"
    return type(exc).__name__


def refusal(
    where: str,
    url: str,
    status: int,
    answer: Mapping[str, Any],
    *,
    name: str,
    grant: str,
    hide: Iterable[str] = (),
    hints: Mapping[str, str] | None = None,
) -> PermanentError:
    """The error for a token endpoint's refusal: the provider's code, its first sentence,
    and what to fix. ``hide`` lists values (secret, tokens) that must not appear;
    ``hints`` (code -> what to fix) take the place of the general ones for a grant whose
    refusals mean something else (a Google service account's)."""
    code = str(answer.get("error", "")) or "no error code"
    description = _first_line(str(answer.get("error_description", "")))
    aadsts = _AADSTS.search(description)
    hint = _HINTS.get(code, "").format(name=name, grant=grant)
    if hints is not None and code in hints:
        hint = hints[code]
    elif aadsts and aadsts[1] in _AADSTS_HINTS:
        hint = _AADSTS_HINTS[aadsts[1]].format(name=name, grant=grant)
    elif not answer.get("error"):
        hint = "the answer is not an OAuth2 error: check token_url"
    text = f"{where}: token endpoint {_where(url)} refused (HTTP {status}, {code}"
    text += f": {description})" if description else ")"
    text += f"; {hint}" if hint else ""
    return PermanentError(_scrub(text, hide))


def _first_line(description: str) -> str:
    # Entra appends "Trace ID: … Correlation ID: … Timestamp: …" on new lines; the
    # first sentence is what an admin needs, and it keeps the log line short.
    line = description.strip().splitlines()[0] if description.strip() else ""
    return line if len(line) <= 240 else line[:237] + "..."


def _where(url: str) -> str:
    # Scheme, host and path only: a query string or user info could carry a credential.
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _scrub(text: str, hide: Iterable[str]) -> str:
    for value in sorted((v for v in hide if v and len(v) >= 4), key=len, reverse=True):
        text = text.replace(value, "[hidden]")
    return text
