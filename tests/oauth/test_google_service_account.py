"""A Google service account with domain-wide delegation (provider google, grant
client_credentials), against the tests' token endpoint acting as Google's and the Dovecot
whose oauth2 passdb asks it about each token: one token per mailbox, RFC 7523's form."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from imapclient import IMAPClient  # type: ignore[import-untyped, unused-ignore]
from imapclient.exceptions import LoginError  # type: ignore[import-untyped, unused-ignore]

from maildesk.clock import SystemClock
from maildesk.errors import PermanentError
from maildesk.oauth.settings import OAuthSettings
from maildesk.oauth.tokens import TokenSource
from tests.servers.oauth_server import OAuthServer
from tests.support.daemon import environment
from tests.support.oauth import (
    SERVICE_ACCOUNT,
    SERVICE_ACCOUNT_ID,
    oauth_dovecot,
    service_account_key,
)

pytestmark = pytest.mark.server

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@pytest.fixture
def tokens() -> Iterator[OAuthServer]:
    with OAuthServer(users={}) as server:
        yield server


@pytest.fixture
def key_file(tmp_path: Path, tokens: OAuthServer) -> Path:
    path = tmp_path / "google-key.json"
    service_account_key(path, tokens)
    return path


def _settings(tokens: OAuthServer, key_file: Path, **changes: str) -> OAuthSettings:
    values = {
        "name": "gws",
        "provider": "google",
        "client_id": SERVICE_ACCOUNT_ID,
        "client_secret_file": str(key_file),
        "token_url": tokens.token_url,
        **changes,
    }
    return OAuthSettings(**values)  # type: ignore[arg-type]


def test_the_token_request_is_a_jwt_bearer_grant_signed_for_the_mailbox(
    tokens: OAuthServer, key_file: Path
) -> None:
    source = TokenSource(_settings(tokens, key_file), SystemClock())
    source.token("info@uni.example")
    [form] = tokens.forms
    # RFC 7523 section 2.1: the assertion alone; no client_id or secret beside it.
    assert sorted(form) == ["assertion", "grant_type"]
    assert form["grant_type"] == JWT_BEARER_GRANT
    [(header, claims)] = tokens.assertions
    assert header["alg"] == "RS256"
    assert header["kid"] == "3f1c0ffee0ddba11"
    assert claims["iss"] == SERVICE_ACCOUNT
    assert claims["sub"] == "info@uni.example"
    assert claims["scope"] == "https://mail.google.com/"
    assert claims["aud"] == tokens.token_url
    assert isinstance(claims["iat"], int)
    assert isinstance(claims["exp"], int)
    assert claims["exp"] - claims["iat"] == 3600


def test_each_mailbox_gets_its_own_token_and_keeps_it(tokens: OAuthServer, key_file: Path) -> None:
    source = TokenSource(_settings(tokens, key_file), SystemClock())
    info, crm = source.token("info"), source.token("crm")
    assert info != crm
    assert source.token("info") == info  # from the cache
    assert source.token("crm") == crm
    assert tokens.token_requests == 2
    assert [claims["sub"] for _, claims in tokens.assertions] == ["info", "crm"]
    source.invalidate(info, "info")
    assert source.token("crm") == crm  # dropping one mailbox's token keeps the other's
    assert source.token("info") != info
    with pytest.raises(PermanentError, match="asked for one mailbox"):
        source.token()


def test_a_token_signs_in_to_its_own_mailbox_only(
    tmp_path: Path, tokens: OAuthServer, key_file: Path
) -> None:
    source = TokenSource(_settings(tokens, key_file), SystemClock())
    with oauth_dovecot(tmp_path / "dovecot", tokens, users=("info", "crm")) as dovecot:
        for user in ("info", "crm"):
            with IMAPClient(dovecot.host, port=dovecot.port, ssl=False, timeout=10) as imap:
                imap.oauth2_login(user, source.token(user))
                imap.select_folder("INBOX", readonly=True)
        with (
            IMAPClient(dovecot.host, port=dovecot.port, ssl=False, timeout=10) as imap,
            pytest.raises(LoginError),
        ):
            imap.oauth2_login("crm", source.token("info"))


def test_a_client_id_that_is_not_the_keys_is_reported_before_any_request(
    tokens: OAuthServer, key_file: Path
) -> None:
    source = TokenSource(_settings(tokens, key_file, client_id="999"), SystemClock())
    with pytest.raises(PermanentError) as mismatch:
        source.token("info")
    message = str(mismatch.value)
    assert "client_id 999 is not the client ID of the service account" in message
    assert f"{SERVICE_ACCOUNT} has {SERVICE_ACCOUNT_ID}" in message
    assert tokens.token_requests == 0


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("not json at all", "it is not JSON"),
        ('{"type": "authorized_user", "client_id": "1"}', '"type" is not "service_account"'),
        ('{"type": "service_account", "client_id": "1"}', "it lacks client_email, private_key"),
    ],
)
def test_a_file_that_is_not_a_service_account_key_says_what_it_must_hold(
    tmp_path: Path, tokens: OAuthServer, text: str, problem: str
) -> None:
    path = tmp_path / "key.json"
    path.write_text(text, encoding="utf-8")
    source = TokenSource(_settings(tokens, path), SystemClock())
    with pytest.raises(PermanentError, match="must hold the service account's JSON key") as bad:
        source.token("info")
    assert problem in str(bad.value)
    assert tokens.token_requests == 0


def test_refusals_name_googles_error_and_the_delegation_to_grant_then_recover(
    tmp_path: Path, tokens: OAuthServer
) -> None:
    private_key = service_account_key(tmp_path / "key.json", tokens)
    account = tokens.service_accounts[SERVICE_ACCOUNT]
    source = TokenSource(_settings(tokens, tmp_path / "key.json"), SystemClock())

    account.scopes = ()  # the admin has not granted the client ID the scope
    with pytest.raises(PermanentError) as refused:
        source.token("info")
    message = str(refused.value)
    assert "(as info)" in message
    assert "unauthorized_client: Client is unauthorized" in message
    assert f"domain-wide delegation is not granted to client ID {SERVICE_ACCOUNT_ID}" in message
    assert "https://mail.google.com/" in message
    assert isinstance(source.last_error, PermanentError)

    account.scopes = ("https://mail.google.com/",)
    account.mailboxes = {"info"}
    with pytest.raises(PermanentError) as unknown:
        source.token("nobody")
    assert "invalid_grant: Invalid email or User ID" in str(unknown.value)
    assert "nobody is no mailbox of the Workspace domain" in str(unknown.value)

    assert source.token("info")  # the delegation works again for a real mailbox
    for text in (message, str(unknown.value)):
        assert private_key.splitlines()[1] not in text
        for _, claims in tokens.assertions:
            assert str(claims["jti"]) not in text


def test_check_gets_a_token_for_each_mailbox_and_signs_in_to_each(
    tmp_path: Path, tokens: OAuthServer, key_file: Path
) -> None:
    with oauth_dovecot(tmp_path / "dovecot", tokens, users=("info", "crm")) as dovecot:
        accounts = "".join(
            f'[[imap]]\nname = "{user}"\nhost = "{dovecot.host}"\nport = {dovecot.port}\n'
            f'tls = "none"\nusername = "{user}"\nqueue = "{user}"\noauth = "gws"\n\n'
            f'[[queues]]\nname = "{user}"\naddresses = ["{user}@uni.example"]\n'
            f'tag = "{user.upper()}"\n\n'
            for user in ("info", "crm")
        )
        (tmp_path / "config.toml").write_text(
            f'[[oauth]]\nname = "gws"\nprovider = "google"\nclient_id = "{SERVICE_ACCOUNT_ID}"\n'
            f'client_secret_file = "{key_file}"\ntoken_url = "{tokens.token_url}"\n\n' + accounts,
            encoding="utf-8",
        )
        config = str(tmp_path / "config.toml")
        result = subprocess.run(
            [sys.executable, "-m", "maildesk", "--config", config, "check"],
            capture_output=True, text=True, timeout=60, env=environment(), check=False,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "oauth gws: got a token as crm from" in result.stdout
    assert "used by imap crm" in result.stdout
    assert "oauth gws: got a token as info from" in result.stdout
    assert "imap info: logged in to" in result.stdout
    assert "imap crm: logged in to" in result.stdout
    assert sorted(str(c["sub"]) for _, c in tokens.assertions) == ["crm", "info"]
    for form in tokens.forms:
        assert form["assertion"] not in result.stdout + result.stderr
