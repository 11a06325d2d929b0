"""The SASL initial client responses that carry an OAuth2 bearer token.

PURE. Both return the raw bytes; IMAP and SMTP base64-encode them on the wire (imaplib's
``authenticate`` and smtplib's ``auth`` do that themselves). The token is part of the
result, so never log what these return.
"""

from __future__ import annotations


def xoauth2(username: str, token: str) -> bytes:
    """Google's and Microsoft's XOAUTH2 message: the mailbox and the bearer token.

    >>> xoauth2("info@uni.edu", "ya29.abc")
    b'user=info@uni.edu\\x01auth=Bearer ya29.abc\\x01\\x01'
    """
    _check(username, token)
    return f"user={username}\x01auth=Bearer {token}\x01\x01".encode()


def oauthbearer(username: str, token: str, host: str, port: int) -> bytes:
    """The OAUTHBEARER message of RFC 7628: a GS2 header naming the mailbox (its "," and
    "=" escaped as RFC 5801 asks), then host, port and the bearer token.

    >>> oauthbearer("info@uni.edu", "ya29.abc", "imap.uni.edu", 993)
    b'n,a=info@uni.edu,\\x01host=imap.uni.edu\\x01port=993\\x01auth=Bearer ya29.abc\\x01\\x01'
    """
    _check(username, token)
    if "\x01" in host:
        raise ValueError("a host name cannot contain \\x01")
    authzid = username.replace("=", "=3D").replace(",", "=2C")
    return f"n,a={authzid},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01".encode()


def _check(username: str, token: str) -> None:
    # \x01 separates the fields: one inside a value would let it forge another field.
    # The messages hold the token, so the error names neither value.
    if not username or "\x01" in username:
        raise ValueError("the user name is empty or contains \\x01")
    if not token or any(c in token for c in "\x01 \r\n"):
        raise ValueError("the access token is empty or contains \\x01, a space or a line break")
