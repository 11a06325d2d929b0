"""The relay transport against real aiosmtpd servers with TLS and AUTH: no downgrade, ever."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from maildesk.config import OutgoingConfig
from maildesk.errors import TransientError
from maildesk.outbox.transports import SmtpTransport
from tests.support.daemon import free_port

MESSAGE = b"From: info@uni.example\r\nTo: ana@example.com\r\nSubject: hola\r\n\r\nHola\r\n"


class Relay:
    """Records what it accepts; accepts the login relay/s3cret only."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.logins: list[str] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.received.append(bytes(envelope.original_content))
        return "250 OK"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            b"relay",
            b"s3cret",
        )
        self.logins.append(data.login.decode() if isinstance(data, LoginPassword) else "?")
        return AuthResult(success=ok, handled=False)  # False: aiosmtpd answers 535 itself


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context


def start(relay: Relay, **kwargs: Any) -> Controller:
    kwargs.setdefault("auth_require_tls", True)
    controller = Controller(
        relay,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=relay.authenticate,
        auth_exclude_mechanism=["LOGIN"],
        **kwargs,
    )
    controller.start()
    return controller


@pytest.fixture
def starttls_relay(ca: trustme.CA) -> Iterator[tuple[Relay, int]]:
    relay = Relay()
    controller = start(relay, tls_context=server_context(ca), require_starttls=True)
    yield relay, controller.port
    controller.stop()


def transport(port: int, tls: str, ca_file: Path | None) -> SmtpTransport:
    return SmtpTransport(
        OutgoingConfig(
            transport="smtp",
            host="127.0.0.1",
            port=port,
            tls=tls,  # type: ignore[arg-type]
            username="relay",
            password_env="MAILDESK_TEST_RELAY_PASSWORD",
            ca_file=ca_file,
            timeout_seconds=10,
        )
    )


def test_starttls_and_login_deliver(
    starttls_relay: tuple[Relay, int], ca_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    relay, port = starttls_relay
    monkeypatch.setenv("MAILDESK_TEST_RELAY_PASSWORD", "s3cret")
    transport(port, "starttls", ca_file).send(1, "info@uni.example", ["ana@example.com"], MESSAGE)
    assert relay.received == [MESSAGE]
    assert relay.logins == ["relay"]


def test_a_wrong_password_waits_for_a_fix_instead_of_failing_the_mail(
    starttls_relay: tuple[Relay, int], ca_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    relay, port = starttls_relay
    monkeypatch.setenv("MAILDESK_TEST_RELAY_PASSWORD", "wrong")
    with pytest.raises(TransientError, match="refused our login"):
        transport(port, "starttls", ca_file).send(1, "info@uni.example", ["a@example.com"], MESSAGE)
    assert relay.received == []


def test_an_untrusted_certificate_is_refused(
    starttls_relay: tuple[Relay, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    relay, port = starttls_relay
    monkeypatch.setenv("MAILDESK_TEST_RELAY_PASSWORD", "s3cret")
    with pytest.raises(TransientError, match="CERTIFICATE_VERIFY_FAILED"):
        transport(port, "starttls", None).send(1, "info@uni.example", ["a@example.com"], MESSAGE)
    assert relay.received == []
    assert relay.logins == []  # the password never crossed an unverified channel


def test_a_relay_without_starttls_is_never_used_in_plain_text(
    ca_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    relay = Relay()
    controller = Controller(relay, hostname="127.0.0.1", port=free_port())
    controller.start()
    monkeypatch.setenv("MAILDESK_TEST_RELAY_PASSWORD", "s3cret")
    try:
        with pytest.raises(TransientError, match="STARTTLS"):
            transport(controller.port, "starttls", ca_file).send(
                1, "info@uni.example", ["a@example.com"], MESSAGE
            )
    finally:
        controller.stop()
    assert relay.received == []


def test_implicit_tls_delivers(
    ca: trustme.CA, ca_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    relay = Relay()
    # The whole connection is TLS; aiosmtpd only knows STARTTLS as "TLS" for AUTH.
    controller = start(relay, ssl_context=server_context(ca), auth_require_tls=False)
    monkeypatch.setenv("MAILDESK_TEST_RELAY_PASSWORD", "s3cret")
    try:
        transport(controller.port, "tls", ca_file).send(
            1, "info@uni.example", ["ana@example.com"], MESSAGE
        )
    finally:
        controller.stop()
    assert relay.received == [MESSAGE]
