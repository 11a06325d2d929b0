"""A Google service account with domain-wide delegation: its JSON key, and the signed
assertion (RFC 7523's JWT bearer grant) that asks for one mailbox's token.

I/O (it signs with the key's private key). The admin downloads the service account's
JSON key and gives it as ``client_secret_file`` (or its text in ``client_secret_env``);
``client_id`` is the service account's client ID, the number the Admin console's
domain-wide delegation is granted to, and must match the key's. Each token request
carries an assertion signed RS256 with ``iss`` the service account's address, ``sub`` the
mailbox it acts as, ``scope`` https://mail.google.com/, ``aud`` the token URL, and
``iat``/``exp`` an hour apart, as "Using OAuth 2.0 for Server to Server Applications"
(developers.google.com) describes; Authlib's RFC 7523 support signs it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

# Authlib ships no type information.
from authlib.oauth2.rfc7523 import JWTBearerGrant  # type: ignore[import-untyped, unused-ignore]
from joserfc.jwk import RSAKey

from maildesk.errors import PermanentError
from maildesk.oauth.settings import OAuthSettings

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# Google refuses an assertion whose exp lies more than an hour after its iat.
LIFETIME = timedelta(hours=1)
_FIELDS = ("client_email", "client_id", "private_key")


@dataclass(frozen=True)
class ServiceAccountKey:
    """The parts of a service account's JSON key that a token request needs."""

    client_email: str
    client_id: str
    private_key_id: str
    private_key: str = field(repr=False)


def service_account_key(text: str | None, settings: OAuthSettings) -> ServiceAccountKey:
    """The JSON key read from ``client_secret_file`` or ``client_secret_env``, checked
    against ``client_id``. Messages never quote the file: it holds the private key."""
    where = f"[[oauth]] {settings.name}"
    source = (
        f"client_secret_file {settings.client_secret_file}"
        if settings.client_secret_file
        else f"client_secret_env {settings.client_secret_env}"
    )
    what = (
        f"{where}: {source} must hold the service account's JSON key (Google Cloud console:"
        " IAM & Admin > Service accounts > Keys > Add key > JSON)"
    )
    try:
        found = json.loads(text or "")
    except ValueError:
        raise PermanentError(f"{what}; it is not JSON") from None
    if not isinstance(found, dict) or found.get("type") != "service_account":
        raise PermanentError(f'{what}; its "type" is not "service_account"')
    missing = [name for name in _FIELDS if not isinstance(found.get(name), str) or not found[name]]
    if missing:
        raise PermanentError(f"{what}; it lacks {', '.join(missing)}")
    key = ServiceAccountKey(
        client_email=found["client_email"],
        client_id=found["client_id"],
        private_key_id=str(found.get("private_key_id") or ""),
        private_key=found["private_key"],
    )
    if key.client_id != settings.client_id:
        raise PermanentError(
            f"{where}: client_id {settings.client_id} is not the client ID of the service "
            f"account in {source} ({key.client_email} has {key.client_id}): set client_id to "
            "the one domain-wide delegation was granted to, or use that account's key"
        )
    return key


def bearer_assertion(
    key: ServiceAccountKey, subject: str, audience: str, scopes: Sequence[str], now: datetime
) -> str:
    """The signed JWT that asks ``audience`` (the token URL) for a token acting as the
    mailbox ``subject``; it is a credential for an hour, so never log it."""
    issued = int(now.timestamp())
    header = {"alg": "RS256", "typ": "JWT"}
    if key.private_key_id:
        header["kid"] = key.private_key_id  # which of the account's keys signed it
    try:
        # A key object, not the PEM text: Authlib deprecates importing keys itself.
        signed = JWTBearerGrant.sign(
            RSAKey.import_key(key.private_key),
            issuer=key.client_email,
            audience=audience,
            subject=subject,
            issued_at=issued,
            expires_at=issued + int(LIFETIME.total_seconds()),
            claims={"scope": " ".join(scopes)},
            header=header,
        )
    except Exception:  # the library's error may quote the key: say only what is wrong
        raise PermanentError(
            f"the private_key of service account {key.client_email} is not a PEM RSA key:"
            " download a new JSON key"
        ) from None
    return signed.decode("ascii") if isinstance(signed, bytes) else str(signed)


def refusal_hints(settings: OAuthSettings, subject: str) -> dict[str, str]:
    """What Google's refusals of a delegated assertion most often mean, and the fix."""
    scopes = " ".join(settings.effective_scopes)
    delegation = (
        f"domain-wide delegation is not granted to client ID {settings.client_id} for "
        f"{scopes}: in the Google Admin console (Security > Access and data control > API "
        "controls > Domain-wide delegation) add that client ID with that scope"
    )
    return {
        "unauthorized_client": delegation,
        "invalid_grant": (
            f"Google will not let the service account act as {subject}: {delegation}; or"
            f" {subject} is no mailbox of the Workspace domain (check username), the key was"
            " deleted (download a new JSON key into client_secret_file, then reload), or"
            " this machine's clock is off"
        ),
        "invalid_client": (
            "the service account or its key was deleted or disabled: download a new JSON key"
            " into client_secret_file, then reload"
        ),
    }
