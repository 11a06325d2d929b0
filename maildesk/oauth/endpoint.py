"""One POST to a token endpoint, and what its refusals mean.

I/O. A network failure, a timeout or a 5xx answer is a ``TransientError`` (the next
attempt may work); a 4xx answer carrying an OAuth2 ``error`` is a ``PermanentError``
whose message holds the provider's own code (``invalid_client``, ``AADSTS7000215``) and
what to fix. No message ever holds the secret, an assertion or a token: the form is never
quoted, and ``hide`` strips any of them the provider might have echoed back.

Why the standard library's urllib and not msal or google-auth: a token request is one
form POST and one JSON answer (RFC 6749 section 4.4 and 6), the same for every provider;
the only provider-specific parts are the URLs, the scopes and Microsoft's certificate
assertion, which ``cryptography`` (already a dependency) signs. msal would add a
dependency tree and its own token cache and retry policy, which we would have to keep
from logging and sleeping in an IMAP thread; google-auth handles service-account JWTs
for Google APIs, not the XOAUTH2 flows here. One small client also tests the same way
for all three providers, through ``token_url`` against the tests' loopback server.
"""

from __future__ import annotations

import json
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from http.client import HTTPException
from typing import Any

from maildesk.errors import PermanentError, TransientError
from maildesk.oauth.settings import token_url_problem

_MAX_BODY = 64 * 1024
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


def post_form(
    url: str, form: Mapping[str, str], *, timeout: float, where: str
) -> tuple[int, dict[str, Any]]:
    """POST ``form`` and return the HTTP status and the JSON object answered.

    A 4xx answer is returned, not raised: the caller decides (the device flow expects
    ``authorization_pending``). A network failure, 5xx, 429 or a 408 raises
    ``TransientError``. ``where`` ("[[oauth]] m365") starts every message.
    """
    reason = token_url_problem(url)
    if reason:
        raise PermanentError(f"{where}: token_url {reason}")
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked just above
        url,
        data=urllib.parse.urlencode(form).encode("ascii"),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status, body = response.status, response.read(_MAX_BODY)
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read(_MAX_BODY)
        exc.close()
    except (urllib.error.URLError, HTTPException, OSError) as exc:
        # URLError's reason is the socket error ("Connection refused", a DNS failure);
        # it never holds the request's form.
        cause = getattr(exc, "reason", exc)
        if isinstance(cause, socket.timeout | TimeoutError):
            cause = f"no answer within {timeout:g} s"
        raise TransientError(
            f"{where}: token endpoint {_where(url)} unreachable: {cause}"
        ) from None
    if status >= 500 or status in (408, 429):
        raise TransientError(
            f"{where}: token endpoint {_where(url)} answered HTTP {status}; will retry"
        )
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        answer = {}
    return status, answer


def refusal(
    where: str,
    url: str,
    status: int,
    answer: Mapping[str, Any],
    *,
    name: str,
    grant: str,
    hide: Iterable[str] = (),
) -> PermanentError:
    """The error for a token endpoint's refusal: the provider's code, its first sentence,
    and what to fix. ``hide`` lists values (secret, tokens) that must not appear."""
    code = str(answer.get("error", "")) or "no error code"
    description = _first_line(str(answer.get("error_description", "")))
    aadsts = _AADSTS.search(description)
    hint = _HINTS.get(code, "")
    if aadsts and aadsts[1] in _AADSTS_HINTS:
        hint = _AADSTS_HINTS[aadsts[1]]
    elif not answer.get("error"):
        hint = "the answer is not an OAuth2 error: check token_url"
    hint = hint.format(name=name, grant=grant)
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
