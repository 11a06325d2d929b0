"""When an IMAP session signed in with an OAuth2 token must sign in again.

I/O (it reads the monotonic clock). Exchange Online ends an IMAP session whose token has
expired; a new session started before that, between two IDLEs, loses nothing (nothing is
held across sessions). ``Renewal`` remembers when the token the session signed in with
is due, asked of the credential for the account's own user name (a Google service
account's token acts as one mailbox, so each has its own).
"""

from __future__ import annotations

import time

from maildesk.oauth.tokens import TokenSource


class TokenDue(Exception):
    """The session's token is about to expire: sign in again with a new one, now."""


class Renewal:
    """The due time of one session's token; none for a password sign-in."""

    def __init__(self) -> None:
        self._at: float | None = None  # time.monotonic() when the token is due

    def start(self, tokens: TokenSource | None, username: str) -> None:
        """A session has just signed in as ``username`` with a token from ``tokens``."""
        left = tokens.seconds_left(username) if tokens is not None else None
        # At least a second: a token that lives for less would have the account spin.
        self._at = None if left is None else time.monotonic() + max(1.0, left)

    def seconds_left(self) -> float:
        """How long the session may wait (in IDLE, between checks) before signing in."""
        if self._at is None:
            return float("inf")
        return max(0.0, self._at - time.monotonic())

    def check(self) -> None:
        """Raise ``TokenDue`` once the token is due."""
        if self._at is not None and time.monotonic() >= self._at:
            raise TokenDue
