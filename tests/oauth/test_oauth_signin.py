"""maildesk.oauth against real servers on loopback: the tests' token endpoint, and a private
Dovecot whose oauth2 passdb asks that endpoint (RFC 7662) about every token it is shown."""

from __future__ import annotations

import base64
import imaplib
import json
import stat
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from imapclient import IMAPClient  # type: ignore[import-untyped, unused-ignore]
from imapclient.exceptions import LoginError  # type: ignore[import-untyped, unused-ignore]

from maildesk.clock import FakeClock
from maildesk.errors import PermanentError, TransientError
from maildesk.oauth.device import finish_device_login, start_device_login
from maildesk.oauth.sasl import oauthbearer, xoauth2
from maildesk.oauth.settings import OAuthSettings
from maildesk.oauth.tokens import TokenSource, store_refresh_token
from tests.servers.dovecot_oauth import OAuthDovecot
from tests.servers.oauth_server import CLIENT_ID, CLIENT_SECRET, OAuthServer
from tests.support.oauth import oauth_dovecot

pytestmark = pytest.mark.server

START = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
SECRET_ENV = "MAILDESK_TEST_OAUTH_SECRET"
RAW = b"From: a@example.test\r\nSubject: hello\r\nMessage-ID: <1@example.test>\r\n\r\nhi\r\n"


@pytest.fixture
def tokens() -> Iterator[OAuthServer]:
    server = OAuthServer(users={CLIENT_ID: "info"})
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def dovecot(tmp_path: Path, tokens: OAuthServer) -> Iterator[OAuthDovecot]:
    """A started Dovecot with the oauth2 passdb; one that cannot start fails the test."""
    with oauth_dovecot(tmp_path / "dovecot", tokens) as server:
        yield server


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)


def _settings(tokens: OAuthServer, **changes: object) -> OAuthSettings:
    values: dict[str, object] = {
        "name": "test",
        "provider": "generic",
        "client_id": CLIENT_ID,
        "client_secret_env": SECRET_ENV,
        "token_url": tokens.token_url,
        "scopes": ("mail",),
    }
    values.update(changes)
    return OAuthSettings(**values)  # type: ignore[arg-type]


def _login(server: OAuthDovecot, user: str, token: str) -> None:
    with IMAPClient(server.host, port=server.port, ssl=False, timeout=10) as imap:
        imap.oauth2_login(user, token)
        imap.select_folder("INBOX", readonly=True)


def _refused(server: OAuthDovecot, user: str, token: str) -> bool:
    try:
        _login(server, user, token)
    except LoginError:
        return True
    return False


# -- signing in to Dovecot ----------------------------------------------------------------


@pytest.mark.usefixtures("secret_env")
def test_xoauth2_and_oauthbearer_sign_in_with_a_token_from_the_source(
    tokens: OAuthServer, dovecot: OAuthDovecot
) -> None:
    uid = dovecot.append("info", "INBOX", RAW)
    source = TokenSource(_settings(tokens), FakeClock(START))
    token = source.token()
    with IMAPClient(dovecot.host, port=dovecot.port, ssl=False, timeout=10) as imap:
        imap.oauth2_login("info", token)
        imap.select_folder("INBOX", readonly=True)
        assert imap.fetch([uid], ["RFC822"])[uid][b"RFC822"] == RAW
    with IMAPClient(dovecot.host, port=dovecot.port, ssl=False, timeout=10) as imap:
        imap.oauthbearer_login("info", token)
        imap.select_folder("INBOX", readonly=True)
    assert tokens.token_requests == 1
    assert tokens.introspections >= 2


@pytest.mark.usefixtures("secret_env")
@pytest.mark.parametrize("mechanism", ["XOAUTH2", "OAUTHBEARER"])
def test_our_sasl_messages_are_what_dovecot_accepts(
    tokens: OAuthServer, dovecot: OAuthDovecot, mechanism: str
) -> None:
    token = TokenSource(_settings(tokens), FakeClock(START)).token()
    message: Callable[[bytes], bytes]
    if mechanism == "XOAUTH2":
        message = lambda _challenge: xoauth2("info", token)  # noqa: E731
    else:
        message = lambda _challenge: oauthbearer("info", token, dovecot.host, dovecot.port)  # noqa: E731
    imap = imaplib.IMAP4(dovecot.host, dovecot.port, timeout=10)
    try:
        kind, _ = imap.authenticate(mechanism, message)
        assert kind == "OK"
        assert imap.select("INBOX", readonly=True)[0] == "OK"
    finally:
        imap.logout()


@pytest.mark.usefixtures("secret_env")
def test_a_token_signs_in_only_its_own_mailbox_and_only_while_active(
    tokens: OAuthServer, dovecot: OAuthDovecot
) -> None:
    dovecot.add_user("other", "password-for-append")
    token = TokenSource(_settings(tokens), FakeClock(START)).token()
    assert _refused(dovecot, "other", token)  # introspection says the token is info's
    assert _refused(dovecot, "info", "at-made-up")
    tokens.expire_access_tokens()
    assert _refused(dovecot, "info", token)


# -- refresh before expiry ----------------------------------------------------------------


@pytest.mark.usefixtures("secret_env")
def test_a_token_is_refreshed_before_it_expires(tokens: OAuthServer, dovecot: OAuthDovecot) -> None:
    tokens.lifetime = 600  # the margin is then a tenth: one minute
    clock = FakeClock(START)
    source = TokenSource(_settings(tokens), clock)
    first = source.token()
    clock.advance(timedelta(seconds=539))
    assert source.token() == first
    assert tokens.token_requests == 1
    assert source.expires() == START + timedelta(seconds=600)

    clock.advance(timedelta(seconds=2))  # inside the last minute: time for a new one
    tokens.expire_access_tokens()  # and the server agrees the old one is done
    assert _refused(dovecot, "info", first)
    second = source.token()
    assert second != first
    assert tokens.token_requests == 2
    _login(dovecot, "info", second)


@pytest.mark.usefixtures("secret_env")
def test_threads_share_one_token_request(tokens: OAuthServer) -> None:
    source = TokenSource(_settings(tokens), FakeClock(START))
    results: list[str] = []
    barrier = threading.Barrier(8)

    def fetch() -> None:
        barrier.wait()
        results.append(source.token())

    threads = [threading.Thread(target=fetch) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(results) == 8
    assert len(set(results)) == 1
    assert tokens.token_requests == 1


@pytest.mark.usefixtures("secret_env")
def test_invalidate_makes_the_next_call_fetch_a_new_token(tokens: OAuthServer) -> None:
    source = TokenSource(_settings(tokens), FakeClock(START))
    first = source.token()
    source.invalidate("not the current one")
    assert source.token() == first
    source.invalidate(first)
    assert source.token() != first
    assert tokens.token_requests == 2


# -- refusals and outages -----------------------------------------------------------------


@pytest.mark.usefixtures("secret_env")
def test_a_refused_secret_is_permanent_names_the_code_and_recovers(
    tokens: OAuthServer, dovecot: OAuthDovecot
) -> None:
    clock = FakeClock(START)
    source = TokenSource(_settings(tokens), clock)
    source.token()
    tokens.refuse = True
    clock.advance(timedelta(minutes=56))  # inside the margin: it must ask again
    with pytest.raises(PermanentError) as refused:
        source.token()
    message = str(refused.value)
    assert "invalid_client" in message
    assert "AADSTS7000215" in message
    assert "use the secret's Value, not its Secret ID" in message
    assert CLIENT_SECRET not in message
    assert CLIENT_SECRET not in repr(refused.value.args)
    assert source.last_error is refused.value
    assert CLIENT_SECRET not in repr(source)
    with pytest.raises(PermanentError):  # it stays failing, asking each time
        source.token()
    assert tokens.token_requests == 3

    tokens.refuse = False  # the admin put a working secret in place
    token = source.token()
    assert source.last_error is None
    _login(dovecot, "info", token)


def test_a_missing_secret_is_permanent_and_asks_nothing(tokens: OAuthServer) -> None:
    source = TokenSource(_settings(tokens), FakeClock(START))
    with pytest.raises(PermanentError, match=f"{SECRET_ENV} \\(client_secret_env\\) is not set"):
        source.token()
    assert tokens.token_requests == 0


@pytest.mark.usefixtures("secret_env")
def test_an_unreachable_or_failing_endpoint_is_transient(tokens: OAuthServer) -> None:
    clock = FakeClock(START)
    source = TokenSource(_settings(tokens), clock, timeout=5)
    cached = source.token()
    tokens.fail_with_status = 503
    clock.advance(timedelta(minutes=57))  # due for a refresh, but still valid
    assert source.token() == cached  # the old one is used while it lasts
    assert isinstance(source.last_error, TransientError)
    clock.advance(timedelta(minutes=4))  # now expired
    with pytest.raises(TransientError, match="HTTP 503"):
        source.token()
    tokens.stop()
    with pytest.raises(TransientError, match="unreachable") as unreachable:
        source.token()
    assert CLIENT_SECRET not in str(unreachable.value)


def test_plain_http_to_another_host_is_refused_before_any_request() -> None:
    settings = OAuthSettings(
        "x", "generic", client_id="c", client_secret_env=SECRET_ENV,
        token_url="http://login.example.org/token",
    )  # fmt: skip
    source = TokenSource(settings, FakeClock(START), lambda _settings: "s3cret-value")
    with pytest.raises(PermanentError, match="must use https"):
        source.token()


# -- providers' requests, checked through token_url ---------------------------------------


@pytest.mark.usefixtures("secret_env")
@pytest.mark.parametrize(
    ("provider", "tenant", "scope"),
    [
        ("microsoft", "uni.onmicrosoft.com", "https://outlook.office365.com/.default"),
        # Google's app-only access is a service account's: test_google_service_account.py
    ],
)
def test_provider_token_requests(
    tokens: OAuthServer, provider: str, tenant: str, scope: str
) -> None:
    settings = _settings(tokens, provider=provider, tenant=tenant, scopes=())
    TokenSource(settings, FakeClock(START)).token()
    assert tokens.forms == [
        {
            "client_id": CLIENT_ID,
            "scope": scope,
            "grant_type": "client_credentials",
            "client_secret": CLIENT_SECRET,
        }
    ]


def _certificate(path: Path) -> x509.Certificate:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "maildesk test app")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(START - timedelta(days=1))
        .not_valid_after(START + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(
        certificate.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certificate


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_microsoft_certificate_assertion(
    tmp_path: Path, tokens: OAuthServer, dovecot: OAuthDovecot
) -> None:
    certificate = _certificate(tmp_path / "app.pem")
    seen: list[tuple[dict[str, object], dict[str, object]]] = []

    def check(assertion: str) -> bool:
        header, claims, signature = assertion.split(".")
        public_key = certificate.public_key()
        assert isinstance(public_key, rsa.RSAPublicKey)
        public_key.verify(  # raises InvalidSignature, which fails the request
            _b64decode(signature),
            f"{header}.{claims}".encode(),
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
            hashes.SHA256(),
        )
        seen.append((json.loads(_b64decode(header)), json.loads(_b64decode(claims))))
        return True

    tokens.certificate_checker = check
    settings = _settings(
        tokens, provider="microsoft", tenant="uni.onmicrosoft.com", client_secret_env="",
        certificate_file=str(tmp_path / "app.pem"), scopes=(),
    )  # fmt: skip
    _login(dovecot, "info", TokenSource(settings, FakeClock(START)).token())
    [(header, claims)] = seen
    thumbprint = base64.urlsafe_b64encode(certificate.fingerprint(hashes.SHA256())).rstrip(b"=")
    assert header == {"alg": "PS256", "typ": "JWT", "x5t#S256": thumbprint.decode()}
    assert claims["aud"] == tokens.token_url
    assert claims["iss"] == claims["sub"] == CLIENT_ID
    assert claims["exp"] == int(START.timestamp()) + 600
    assert "client_secret" not in tokens.forms[0]


# -- refresh tokens -----------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_refresh_tokens_rotate_into_a_0600_file(
    tmp_path: Path, tokens: OAuthServer, dovecot: OAuthDovecot
) -> None:
    path = tmp_path / "secrets" / "m365.secret.refresh-token"
    first = tokens.issue_refresh_token("info")
    store_refresh_token(path, first)
    assert _mode(path) == 0o600
    clock = FakeClock(START)
    settings = _settings(tokens, client_secret_env="", grant="refresh_token")
    source = TokenSource(settings, clock, refresh_token_file=path)
    _login(dovecot, "info", source.token())
    second = path.read_text().strip()
    assert second != first
    assert _mode(path) == 0o600
    assert not tokens.is_refresh_token_valid(first)
    assert tokens.forms[-1]["refresh_token"] == first
    assert "client_secret" not in tokens.forms[-1]  # a public client sends none

    clock.advance(timedelta(hours=1))
    _login(dovecot, "info", source.token())
    assert path.read_text().strip() not in (first, second)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


def test_a_revoked_refresh_token_says_to_log_in_again(tmp_path: Path, tokens: OAuthServer) -> None:
    path = tmp_path / "refresh"
    settings = _settings(tokens, client_secret_env="", grant="refresh_token")
    source = TokenSource(settings, FakeClock(START), refresh_token_file=path)
    with pytest.raises(PermanentError, match="run `maildesk oauth login test`"):
        source.token()  # no file yet
    store_refresh_token(path, "rt-revoked-long-ago")
    with pytest.raises(PermanentError) as refused:
        source.token()
    assert "invalid_grant" in str(refused.value)
    assert "maildesk oauth login test" in str(refused.value)
    assert "rt-revoked-long-ago" not in str(refused.value)


# -- the device login ---------------------------------------------------------------------


def _device_settings(tokens: OAuthServer) -> OAuthSettings:
    # provider microsoft with token_url on loopback: the device URL moves beside it.
    return _settings(
        tokens, provider="microsoft", tenant="uni.onmicrosoft.com", client_secret_env="",
        grant="refresh_token", scopes=(),
    )  # fmt: skip


def test_device_login_stores_a_refresh_token_the_daemon_then_uses(
    tmp_path: Path, tokens: OAuthServer, dovecot: OAuthDovecot
) -> None:
    settings = _device_settings(tokens)
    clock = FakeClock(START)
    login = start_device_login(settings)
    assert tokens.pending_user_codes() == [login.user_code]
    assert login.user_code in login.message
    assert login.verification_uri.startswith(tokens.base_url)
    assert tokens.paths == ["/tenant/oauth2/v2.0/devicecode"]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(timedelta(seconds=seconds))
        if len(slept) == 3:  # the user signs in while the CLI waits
            tokens.approve(login.user_code, "info")

    path = tmp_path / "refresh"
    token = finish_device_login(settings, login, path, clock, sleep=sleep)
    assert slept == [1, 1, 1]
    assert tokens.token_requests == 3  # twice authorization_pending, then the token
    assert _mode(path) == 0o600
    assert tokens.is_refresh_token_valid(path.read_text().strip())
    assert tokens.device_forms == [
        {
            "client_id": CLIENT_ID,
            "scope": "https://outlook.office.com/IMAP.AccessAsUser.All "
            "https://outlook.office.com/SMTP.Send offline_access",
        }
    ]
    assert tokens.forms[-1]["grant_type"] == "urn:ietf:params:oauth:grant-type:device_code"
    _login(dovecot, "info", token.value)

    source = TokenSource(settings, clock, refresh_token_file=path)
    _login(dovecot, "info", source.token())


@pytest.mark.parametrize("outcome", ["declined", "expired"])
def test_device_login_that_does_not_happen(
    tmp_path: Path, tokens: OAuthServer, outcome: str
) -> None:
    settings = _device_settings(tokens)
    clock = FakeClock(START)
    login = start_device_login(settings)

    def sleep(seconds: float) -> None:
        clock.advance(timedelta(seconds=seconds if outcome == "declined" else 600))
        if outcome == "declined":
            tokens.deny(login.user_code)

    with pytest.raises(PermanentError, match=r"access_denied|in time") as failed:
        finish_device_login(settings, login, tmp_path / "refresh", clock, sleep=sleep)
    assert "maildesk oauth login test" in str(failed.value)
    assert login.device_code not in str(failed.value)
    assert not (tmp_path / "refresh").exists()
