"""The relay transport signs in with AUTH XOAUTH2 when [outgoing] oauth is set, against a
real relay that takes nothing else and checks each token with the tests' OAuth server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from maildesk.clock import SystemClock
from maildesk.config import OutgoingConfig
from maildesk.errors import TransientError
from maildesk.oauth.settings import OAuthSettings
from maildesk.oauth.tokens import TokenSource
from maildesk.outbox.transports import SmtpTransport
from tests.servers.oauth_relay import OAuthRelay
from tests.servers.oauth_server import CLIENT_ID, CLIENT_SECRET, OAuthServer

pytestmark = pytest.mark.server

MESSAGE = b"From: info@uni.example\r\nTo: ana@example.com\r\nSubject: hola\r\n\r\nHola\r\n"
MAILBOX = "info@uni.example"


@pytest.fixture
def tokens() -> Iterator[OAuthServer]:
    with OAuthServer(users={CLIENT_ID: MAILBOX}) as server:
        yield server


@pytest.fixture
def relay(tokens: OAuthServer) -> Iterator[OAuthRelay]:
    with OAuthRelay(tokens.introspection_url) as server:
        yield server


def _transport(relay: OAuthRelay, tokens: OAuthServer) -> SmtpTransport:
    config = OutgoingConfig(
        transport="smtp", host=relay.host, port=relay.port, tls="none",
        username=MAILBOX, password_env="", oauth="m365", timeout_seconds=10,
    )  # fmt: skip
    settings = OAuthSettings(
        "m365", "generic", client_id=CLIENT_ID, client_secret_env="S",
        token_url=tokens.token_url, scopes=("mail",),
    )  # fmt: skip
    source = TokenSource(settings, SystemClock(), lambda _settings: CLIENT_SECRET)
    return SmtpTransport(config, tokens=source)


def test_mail_goes_out_through_a_relay_that_takes_only_xoauth2(
    relay: OAuthRelay, tokens: OAuthServer
) -> None:
    transport = _transport(relay, tokens)
    transport.send(1, MAILBOX, ["ana@example.com"], MESSAGE)
    transport.send(2, MAILBOX, ["ana@example.com"], MESSAGE)
    assert [m.data for m in relay.wait_for(2)] == [MESSAGE, MESSAGE]
    assert relay.logins == [MAILBOX, MAILBOX]
    assert tokens.token_requests == 1  # the second delivery reused the token


def test_a_token_the_relay_refuses_is_replaced_once(relay: OAuthRelay, tokens: OAuthServer) -> None:
    transport = _transport(relay, tokens)
    transport.send(1, MAILBOX, ["ana@example.com"], MESSAGE)
    tokens.expire_access_tokens()  # revoked early: the cached one no longer works
    transport.send(2, MAILBOX, ["ana@example.com"], MESSAGE)
    assert len(relay.wait_for(2)) == 2
    assert relay.refusals == 1
    assert relay.answers_to_errors == [b""]  # the SASL way to end after an error challenge
    assert tokens.token_requests == 2


def test_a_refused_credential_is_transient_names_the_code_and_hides_the_secret(
    relay: OAuthRelay, tokens: OAuthServer
) -> None:
    transport = _transport(relay, tokens)
    tokens.refuse = True
    with pytest.raises(TransientError) as refused:
        transport.send(1, MAILBOX, ["ana@example.com"], MESSAGE)
    assert "invalid_client" in str(refused.value)
    assert "AADSTS7000215" in str(refused.value)
    assert CLIENT_SECRET not in str(refused.value)
    assert relay.messages == []
    tokens.refuse = False  # the admin fixed it: the next attempt goes out
    transport.send(1, MAILBOX, ["ana@example.com"], MESSAGE)
    assert len(relay.wait_for(1)) == 1
