"""``maildesk oauth login`` and ``maildesk check`` as subprocesses, against the tests'
token endpoint, the Dovecot with the oauth2 passdb and the relay that takes only XOAUTH2."""

from __future__ import annotations

import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.dovecot_oauth import OAuthDovecot
from tests.servers.oauth_relay import OAuthRelay
from tests.servers.oauth_server import CLIENT_ID, CLIENT_SECRET, OAuthServer
from tests.support.daemon import environment
from tests.support.oauth import oauth_dovecot

pytestmark = pytest.mark.server

QUEUE = '[[queues]]\nname = "info"\naddresses = ["info@uni.example"]\ntag = "INFO"\n'


@pytest.fixture
def tokens() -> Iterator[OAuthServer]:
    with OAuthServer(users={CLIENT_ID: "info"}) as server:
        yield server


def _maildesk(folder: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "maildesk", "--config", str(folder / "config.toml"), *args],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(),
    )


def test_oauth_login_prints_the_code_waits_and_stores_the_refresh_token_0600(
    tmp_path: Path, tokens: OAuthServer
) -> None:
    (tmp_path / "config.toml").write_text(
        '[[oauth]]\nname = "m365"\nprovider = "microsoft"\ntenant = "uni.onmicrosoft.com"\n'
        f'client_id = "{CLIENT_ID}"\ntoken_url = "{tokens.token_url}"\n'
        'grant = "refresh_token"\n\n' + QUEUE,
        encoding="utf-8",
    )
    process = _maildesk(tmp_path, "oauth", "login", "m365")
    deadline = time.monotonic() + 20
    while not tokens.pending_user_codes() and time.monotonic() < deadline:
        time.sleep(0.05)
    [code] = tokens.pending_user_codes()
    time.sleep(1.5)  # the CLI polls at least once before the user signs in
    tokens.approve(code, "info")
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert code in out
    assert f"{tokens.base_url}/device" in out
    path = tmp_path / "oauth-m365.refresh-token"  # no secret file: beside the database
    assert f"stored in {path} (mode 0600)" in out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    refresh_token = path.read_text().strip()
    assert tokens.is_refresh_token_valid(refresh_token)
    assert refresh_token not in out + err
    grants = [form["grant_type"] for form in tokens.forms]
    assert grants[0] == grants[-1] == "urn:ietf:params:oauth:grant-type:device_code"
    assert len(grants) >= 2  # authorization_pending first, then the token


def test_oauth_login_refuses_an_app_only_credential(tmp_path: Path, tokens: OAuthServer) -> None:
    (tmp_path / "config.toml").write_text(
        f'[[oauth]]\nname = "app"\nprovider = "generic"\nclient_id = "{CLIENT_ID}"\n'
        f'client_secret_env = "S"\ntoken_url = "{tokens.token_url}"\n\n' + QUEUE,
        encoding="utf-8",
    )
    process = _maildesk(tmp_path, "oauth", "login", "app")
    _, err = process.communicate(timeout=30)
    assert process.returncode == 2
    assert "grant client_credentials: the app signs in as itself" in err
    assert tokens.token_requests == 0


def _check_config(folder: Path, tokens: OAuthServer, dovecot: OAuthDovecot) -> None:
    (folder / "m365.secret").write_text(CLIENT_SECRET + "\n", encoding="utf-8")
    (folder / "config.toml").write_text(
        f'[[oauth]]\nname = "m365"\nprovider = "microsoft"\ntenant = "uni.onmicrosoft.com"\n'
        f'client_id = "{CLIENT_ID}"\nclient_secret_file = "m365.secret"\n'
        f'token_url = "{tokens.token_url}"\n\n'
        f'[[imap]]\nname = "info"\nhost = "{dovecot.host}"\nport = {dovecot.port}\n'
        'tls = "none"\nusername = "info"\nqueue = "info"\noauth = "m365"\n\n' + QUEUE,
        encoding="utf-8",
    )


@pytest.fixture
def dovecot(tmp_path: Path, tokens: OAuthServer) -> Iterator[OAuthDovecot]:
    with oauth_dovecot(tmp_path / "dovecot", tokens) as server:
        yield server


def test_check_gets_a_token_and_logs_in_with_it(
    tmp_path: Path, tokens: OAuthServer, dovecot: OAuthDovecot
) -> None:
    _check_config(tmp_path, tokens, dovecot)
    process = _maildesk(tmp_path, "check")
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert f"oauth m365: got a token from {tokens.token_url}" in out
    assert "used by imap info" in out
    assert "imap info: logged in to" in out
    assert "with [[oauth]] m365" in out
    assert tokens.token_requests == 1
    assert CLIENT_SECRET not in out + err


def test_check_prints_the_providers_refusal_and_what_to_fix(
    tmp_path: Path, tokens: OAuthServer, dovecot: OAuthDovecot
) -> None:
    _check_config(tmp_path, tokens, dovecot)
    tokens.refuse = True
    process = _maildesk(tmp_path, "check")
    out, err = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "maildesk: oauth m365: [[oauth]] m365: token endpoint" in err
    assert "invalid_client: AADSTS7000215" in err
    assert "use the secret's Value, not its Secret ID" in err
    assert "imap info: not tried: [[oauth]] m365 refused" in err
    assert "OAuth2 credential(s) refused: m365" in err
    assert CLIENT_SECRET not in out + err


def _relay_config(folder: Path, tokens: OAuthServer, relay: OAuthRelay, username: str) -> None:
    (folder / "m365.secret").write_text(CLIENT_SECRET + "\n", encoding="utf-8")
    (folder / "config.toml").write_text(
        f'[[oauth]]\nname = "m365"\nprovider = "microsoft"\ntenant = "uni.onmicrosoft.com"\n'
        f'client_id = "{CLIENT_ID}"\nclient_secret_file = "m365.secret"\n'
        f'token_url = "{tokens.token_url}"\n\n'
        f'[outgoing]\ntransport = "smtp"\nhost = "{relay.host}"\nport = {relay.port}\n'
        f'tls = "none"\nusername = "{username}"\noauth = "m365"\n\n' + QUEUE,
        encoding="utf-8",
    )


@pytest.fixture
def relay(tokens: OAuthServer) -> Iterator[OAuthRelay]:
    with OAuthRelay(tokens.introspection_url) as server:
        yield server


def test_check_signs_in_to_the_relay_with_the_token_and_sends_nothing(
    tmp_path: Path, tokens: OAuthServer, relay: OAuthRelay
) -> None:
    _relay_config(tmp_path, tokens, relay, "info")
    process = _maildesk(tmp_path, "check")
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "used by the relay" in out
    assert f"relay: signed in to {relay.host}:{relay.port} (none) as info" in out
    assert "235" in out  # the relay's own answer
    assert relay.logins == ["info"]
    assert relay.messages == []
    for secret in (CLIENT_SECRET, *tokens.issued()):
        assert secret not in out + err


def test_check_prints_the_relays_refusal_and_what_to_fix(
    tmp_path: Path, tokens: OAuthServer, relay: OAuthRelay
) -> None:
    _relay_config(tmp_path, tokens, relay, "crm")  # the app's token is for info only
    process = _maildesk(tmp_path, "check")
    out, err = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "AUTH XOAUTH2 refused: 535 5.7.8 Username and token not accepted" in err
    assert "not for sending as crm: check outgoing.username" in err
    assert "the relay refused the OAuth2 sign-in" in err
    assert relay.refusals == 2  # a refused token is replaced once, as a delivery does
    for secret in (CLIENT_SECRET, *tokens.issued()):
        assert secret not in out + err


def test_check_does_not_try_the_relay_when_the_credential_is_refused(
    tmp_path: Path, tokens: OAuthServer, relay: OAuthRelay
) -> None:
    _relay_config(tmp_path, tokens, relay, "info")
    tokens.refuse = True
    process = _maildesk(tmp_path, "check")
    _, err = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "relay: not tried: [[oauth]] m365 refused" in err
    assert relay.logins == []
    assert relay.refusals == 0
