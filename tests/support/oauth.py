"""The Dovecot with its oauth2 passdb, as the OAuth2 tests start it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.servers.dovecot_oauth import OAuthDovecot
from tests.servers.oauth_server import OAuthServer


@contextmanager
def oauth_dovecot(folder: Path, tokens: OAuthServer) -> Iterator[OAuthDovecot]:
    """A started Dovecot with the oauth2 passdb, checking tokens with ``tokens``; one that
    cannot start fails the test with its own words, never skips it."""
    problem: RuntimeError | None = None
    try:
        server = OAuthDovecot(folder, tokens.introspection_url)
        server.add_user("info", "password-for-append")
        server.start()
    except RuntimeError as exc:
        problem = exc
    if problem is not None:
        pytest.fail(f"the test Dovecot with OAuth2 cannot run: {problem}", pytrace=False)
    try:
        yield server
    finally:
        server.close()
