"""The Dovecot with its oauth2 passdb, as the OAuth2 tests start it; a Google service
account's JSON key, as the admin downloads it."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.servers.dovecot_oauth import OAuthDovecot
from tests.servers.oauth_google import ServiceAccount
from tests.servers.oauth_server import OAuthServer

SERVICE_ACCOUNT = "maildesk@uni-desk.iam.gserviceaccount.com"
SERVICE_ACCOUNT_ID = "104830127455512345678"
# One key for the whole run: generating RSA keys is the slow part of these tests.
_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def service_account_key(
    path: Path, tokens: OAuthServer, *, client_id: str = SERVICE_ACCOUNT_ID
) -> str:
    """Write the JSON key of a service account to ``path`` (as the Cloud console's
    download holds it), register the account with ``tokens`` (delegation granted for
    https://mail.google.com/) and return the key's private_key (a secret to grep for)."""
    private = _KEY.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    key = {
        "type": "service_account",
        "project_id": "uni-desk",
        "private_key_id": "3f1c0ffee0ddba11",
        "private_key": private,
        "client_email": SERVICE_ACCOUNT,
        "client_id": client_id,
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    path.write_text(json.dumps(key, indent=2), encoding="utf-8")
    tokens.service_accounts[SERVICE_ACCOUNT] = ServiceAccount(
        SERVICE_ACCOUNT, client_id, _KEY.public_key()
    )
    return private


@contextmanager
def oauth_dovecot(
    folder: Path, tokens: OAuthServer, users: Sequence[str] = ("info",)
) -> Iterator[OAuthDovecot]:
    """A started Dovecot with the oauth2 passdb, checking tokens with ``tokens``; one that
    cannot start fails the test with its own words, never skips it."""
    problem: RuntimeError | None = None
    try:
        server = OAuthDovecot(folder, tokens.introspection_url)
        for user in users:
            server.add_user(user, f"password-for-append-{user}")
        server.start()
    except RuntimeError as exc:
        problem = exc
    if problem is not None:
        pytest.fail(f"the test Dovecot with OAuth2 cannot run: {problem}", pytrace=False)
    try:
        yield server
    finally:
        server.close()
