"""What the tests' token endpoint (oauth_server.py) does as Google would: check a service
account's JWT bearer assertion (RFC 7523), and the authorization code grant with PKCE
(RFC 7636) of an installed app.

    account = ServiceAccount("desk@proj.iam.gserviceaccount.com", "1234", public_key)
    claims = check_assertion(form["assertion"], {account.email: account}, token_url, now)

``check_assertion`` returns the claims when Google would hand out a token, else raises
``Refused`` with the error code and description Google gives in that case.
"""

from __future__ import annotations

import base64
import hashlib
import json
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


def pkce_matches(verifier: str, challenge: str) -> bool:
    """RFC 7636's S256: the challenge is the base64url SHA-256 of the verifier."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii") == challenge
