"""What the tests' token endpoint (oauth_server.py) does as Google would: check a service
account's JWT bearer assertion (RFC 7523), and the authorization code grant with PKCE
(RFC 7636) of an installed app; ``GoogleGrants`` holds both for one server.

    account = ServiceAccount("desk@proj.iam.gserviceaccount.com", "1234", public_key)
    claims = check_assertion(form["assertion"], {account.email: account}, token_url, now)

``check_assertion`` returns the claims when Google would hand out a token, else raises
``Refused`` with the error code and description Google gives in that case.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

GMAIL_SCOPE = "https://mail.google.com/"
# Google's own words for each refusal (its token endpoint's error_description).
UNAUTHORIZED = (
    "Client is unauthorized to retrieve access tokens using this method, or client not "
    "authorized for any of the scopes requested."
)
UNKNOWN_USER = "Invalid email or User ID"
BAD_SIGNATURE = "Invalid JWT Signature."
BAD_TIMES = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
    "timeframe. Check your iat and exp values in the JWT claim."
)


class Refused(Exception):
    """The endpoint's refusal: ``error`` and ``description`` as Google sends them."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error, self.description = error, description


@dataclass
class ServiceAccount:
    """A service account whose client ID the Workspace admin granted ``scopes`` in
    domain-wide delegation (none: delegation not granted), for ``mailboxes`` (the users
    of the domain; None: any)."""

    email: str
    client_id: str
    public_key: rsa.RSAPublicKey
    scopes: tuple[str, ...] = (GMAIL_SCOPE,)
    mailboxes: set[str] | None = None


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def split_assertion(assertion: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """Header, claims, signing input and signature of a compact JWS."""
    try:
        header, claims, signature = assertion.split(".")
        return (
            json.loads(_b64decode(header)),
            json.loads(_b64decode(claims)),
            f"{header}.{claims}".encode("ascii"),
            _b64decode(signature),
        )
    except ValueError:
        raise Refused("invalid_grant", "Invalid JWT: not a compact JWS") from None


def check_assertion(
    assertion: str, accounts: dict[str, ServiceAccount], audience: str, now: float
) -> dict[str, Any]:
    """The claims of a sound assertion for ``audience`` at ``now`` (seconds since the
    epoch); ``Refused`` as Google would refuse it otherwise."""
    header, claims, signed, signature = split_assertion(assertion)
    account = accounts.get(str(claims.get("iss", "")))
    if account is None:
        raise Refused("invalid_grant", "Invalid issuer: no such service account")
    if header.get("alg") != "RS256":
        raise Refused("invalid_grant", "Invalid JWT: alg must be RS256")
    try:
        account.public_key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise Refused("invalid_grant", BAD_SIGNATURE) from None
    if claims.get("aud") != audience:
        raise Refused("invalid_grant", f"Invalid JWT: aud must be {audience}")
    iat, exp = claims.get("iat"), claims.get("exp")
    if not isinstance(iat, int) or not isinstance(exp, int):
        raise Refused("invalid_grant", BAD_TIMES)
    if exp - iat > 3600 or exp <= now or iat > now + 60:
        raise Refused("invalid_grant", BAD_TIMES)
    scopes = str(claims.get("scope", "")).split()
    if not scopes or any(s not in account.scopes for s in scopes):
        raise Refused("unauthorized_client", UNAUTHORIZED)
    subject = claims.get("sub")
    if not isinstance(subject, str) or (
        account.mailboxes is not None and subject not in account.mailboxes
    ):
        raise Refused("invalid_grant", UNKNOWN_USER)
    return claims


@dataclass
class Authorization:
    """A code handed to the redirect URI, and what its exchange must show."""

    username: str
    client_id: str
    redirect_uri: str
    challenge: str
    scope: str
    used: bool = field(default=False)


# The server's way to hand out a token: (username, scope, with a refresh token?) -> body.
Issue = Callable[[str, str, bool], dict[str, object]]
Answer = tuple[int, dict[str, object]]


def pkce_matches(verifier: str, challenge: str) -> bool:
    """RFC 7636's S256: the challenge is the base64url SHA-256 of the verifier."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii") == challenge


class GoogleGrants:
    """One server's service accounts, authorization codes and what tests read of them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.service_accounts: dict[str, ServiceAccount] = {}
        self.authorize_as: str | None = "info"  # who signs in at /authorize; None: declines
        self._assertions: list[tuple[dict[str, object], dict[str, object]]] = []
        self._codes: dict[str, Authorization] = {}
        self._queries: list[dict[str, str]] = []

    @property
    def assertions(self) -> list[tuple[dict[str, object], dict[str, object]]]:
        with self.lock:
            return list(self._assertions)

    @property
    def authorize_queries(self) -> list[dict[str, str]]:
        with self.lock:
            return [dict(query) for query in self._queries]

    def jwt_bearer(self, assertion: str, audience: str, issue: Issue) -> Answer:
        """The JWT bearer grant: a token acting as the assertion's ``sub``."""
        try:
            header, claims, _, _ = split_assertion(assertion)
            with self.lock:
                self._assertions.append((header, claims))
            claims = check_assertion(assertion, self.service_accounts, audience, time.time())
        except Refused as exc:
            return 400, {"error": exc.error, "error_description": exc.description}
        return 200, issue(str(claims["sub"]), str(claims["scope"]), False)

    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, object], str]:
        """A GET to the authorization endpoint: (status, JSON error, redirect location)."""
        with self.lock:
            self._queries.append(dict(query))
        redirect = query.get("redirect_uri", "")
        if not redirect.startswith(("http://127.0.0.1:", "http://localhost:")):
            return 400, {"error": "invalid_request", "error_description": "redirect_uri"}, ""
        if query.get("response_type") != "code" or query.get("code_challenge_method") != "S256":
            return 400, {"error": "invalid_request", "error_description": "code with S256"}, ""
        answer: dict[str, str] = {"state": query.get("state", "")}
        if self.authorize_as is None:
            answer["error"] = "access_denied"
        else:
            code = "ac-" + secrets.token_urlsafe(24)
            with self.lock:
                self._codes[code] = Authorization(
                    self.authorize_as, query.get("client_id", ""), redirect,
                    query.get("code_challenge", ""), query.get("scope", ""),
                )  # fmt: skip
            answer["code"] = code
        return 302, {}, f"{redirect}?{urllib.parse.urlencode(answer)}"

    def exchange_code(self, form: dict[str, str], issue: Issue) -> Answer:
        """The authorization code grant: the code once, with its redirect_uri and PKCE."""
        with self.lock:
            found = self._codes.get(form.get("code", ""))
            sound = (
                found is not None
                and not found.used
                and found.client_id == form.get("client_id")
                and found.redirect_uri == form.get("redirect_uri")
                and pkce_matches(form.get("code_verifier", ""), found.challenge)
            )
            if found is not None:
                found.used = True  # a code is good once, even for a failed exchange
        if found is None or not sound:
            return 400, {"error": "invalid_grant", "error_description": "Bad Request"}
        return 200, issue(found.username, found.scope, True)
