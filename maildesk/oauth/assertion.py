"""The client assertion that stands for a secret when an app signs in with a certificate.

I/O (it reads the certificate file). Microsoft Entra accepts, instead of client_secret, a
JWT signed with the certificate's private key (RFC 7523, OpenID Connect's
private_key_jwt): header ``alg`` PS256 and ``x5t#S256`` (the certificate's SHA-256
thumbprint, base64url), claims ``aud`` (the token URL), ``iss`` and ``sub`` (the client
id), ``jti``, ``nbf``, ``iat`` and a short ``exp`` — as "Microsoft identity platform
certificate credentials" on learn.microsoft.com describes them.
"""

from __future__ import annotations

import base64
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import RSAKey

from maildesk.errors import PermanentError

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# Entra asks for a short-lived assertion: it is used once, right away.
_LIFETIME = timedelta(minutes=10)


def client_assertion(certificate_file: Path, client_id: str, audience: str, now: datetime) -> str:
    """A signed JWT for ``client_id`` at ``audience``, from a PEM file holding the
    certificate and its RSA private key (as Entra's "Certificates & secrets" wants)."""
    certificate, key = _load(certificate_file)
    thumbprint = certificate.fingerprint(hashes.SHA256())
    x5t = base64.urlsafe_b64encode(thumbprint).rstrip(b"=").decode("ascii")
    header = {"alg": "PS256", "typ": "JWT", "x5t#S256": x5t}
    issued = int(now.timestamp())
    claims = {
        "aud": audience,
        "iss": client_id,
        "sub": client_id,
        "jti": str(uuid.uuid4()),
        "nbf": issued,
        "iat": issued,
        "exp": issued + int(_LIFETIME.total_seconds()),
    }
    # PS256 is RSASSA-PSS with SHA-256 (RFC 7518 3.5); joserfc signs, as it does the
    # service account's assertion (service_account.py, through Authlib).
    return jwt.encode(header, claims, RSAKey.import_key(key), algorithms=["PS256"])


def _load(path: Path) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PermanentError(
            f"cannot read certificate_file {path}: {exc.strerror or exc}"
        ) from None
    try:
        certificate = x509.load_pem_x509_certificate(data)
        key = serialization.load_pem_private_key(data, password=None)
    except ValueError:
        # The file holds a private key: its parser's message is not repeated anywhere.
        raise PermanentError(
            f"certificate_file {path} must hold a PEM certificate and its unencrypted "
            "RSA private key"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise PermanentError(f"certificate_file {path}: the private key must be RSA")
    return certificate, key
