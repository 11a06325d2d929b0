"""``maildesk oauth login`` for Google: the installed-app flow (authorization code with
PKCE and a loopback redirect) through the CLI, against the tests' authorization and token
endpoints; a test "browser" (requests) follows the redirect, or the admin pastes it."""

from __future__ import annotations

import base64
import hashlib
import stat
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from maildesk.clock import SystemClock
from maildesk.oauth.settings import OAuthSettings
from maildesk.oauth.tokens import TokenSource
from tests.servers.oauth_server import CLIENT_ID, CLIENT_SECRET, OAuthServer
from tests.support.daemon import environment

pytestmark = pytest.mark.server

QUEUE = '[[queues]]\nname = "info"\naddresses = ["info@uni.example"]\ntag = "INFO"\n'


@pytest.fixture
def tokens() -> Iterator[OAuthServer]:
    with OAuthServer(users={}) as server:
        yield server


def _start(folder: Path, tokens: OAuthServer) -> tuple[subprocess.Popen[str], str]:
    """``maildesk oauth login gws`` started, and the address it asks to open; read up to
    the line that asks for the pasted address, so nothing else is buffered yet."""
    (folder / "desktop.secret").write_text(CLIENT_SECRET + "\n", encoding="utf-8")
    (folder / "config.toml").write_text(
        f'[[oauth]]\nname = "gws"\nprovider = "google"\nclient_id = "{CLIENT_ID}"\n'
        f'client_secret_file = "desktop.secret"\ntoken_url = "{tokens.token_url}"\n'
        'grant = "refresh_token"\n\n' + QUEUE,
        encoding="utf-8",
    )
    command = [sys.executable, "-m", "maildesk", "--config", str(folder / "config.toml")]
    process = subprocess.Popen(
        [*command, "oauth", "login", "gws"],
        cwd=folder, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=environment(),
    )  # fmt: skip
    assert process.stdout is not None
    url = ""
    while line := process.stdout.readline():
        if line.strip().startswith("http"):
            url = line.strip()
        if "paste it here" in line and url:
            return process, url
    raise AssertionError(f"no address printed: {process.communicate(timeout=10)}")


def _refresh_file(folder: Path) -> Path:
    return folder / "desktop.secret.refresh-token"


def _assert_signed_in(folder: Path, tokens: OAuthServer, out: str, err: str) -> None:
    path = _refresh_file(folder)
    assert f"stored in {path} (mode 0600)" in out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    refresh_token = path.read_text().strip()
    assert tokens.is_refresh_token_valid(refresh_token)
    for secret in (refresh_token, CLIENT_SECRET, *tokens.issued()):
        assert secret not in out + err
    [form] = tokens.forms
    assert form["grant_type"] == "authorization_code"
    [query] = tokens.authorize_queries
    assert form["redirect_uri"] == query["redirect_uri"]
    digest = hashlib.sha256(form["code_verifier"].encode()).digest()
    assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == query["code_challenge"]
    # The daemon's refreshes then work with what the login stored.
    settings = OAuthSettings(
        "gws", "google", client_id=CLIENT_ID, client_secret_file=str(folder / "desktop.secret"),
        token_url=tokens.token_url, grant="refresh_token",
    )  # fmt: skip
    assert TokenSource(settings, SystemClock(), refresh_token_file=path).token()


def test_the_browsers_return_to_the_loopback_listener_completes_the_login(
    tmp_path: Path, tokens: OAuthServer
) -> None:
    process, url = _start(tmp_path, tokens)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    assert url.startswith(f"{tokens.base_url}/o/oauth2/v2/auth?")
    assert query["response_type"] == "code"
    assert query["client_id"] == CLIENT_ID
    assert query["scope"] == "https://mail.google.com/"
    assert query["code_challenge_method"] == "S256"
    assert query["access_type"] == "offline"
    assert query["redirect_uri"].startswith("http://127.0.0.1:")
    assert "code_verifier" not in query

    page = requests.get(url, timeout=10)  # the browser follows the redirect to maildesk
    assert page.status_code == 200
    assert "go back to the terminal" in page.text
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    _assert_signed_in(tmp_path, tokens, out, err)


def test_the_address_pasted_from_another_machines_browser_completes_the_login(
    tmp_path: Path, tokens: OAuthServer
) -> None:
    process, url = _start(tmp_path, tokens)
    answer = requests.get(url, timeout=10, allow_redirects=False)  # the page would not load
    assert answer.status_code == 302
    out, err = process.communicate(answer.headers["Location"] + "\n", timeout=30)
    assert process.returncode == 0, err
    assert "got the answer" in out
    _assert_signed_in(tmp_path, tokens, out, err)


def test_an_address_with_another_state_is_refused_and_the_code_not_used(
    tmp_path: Path, tokens: OAuthServer
) -> None:
    process, url = _start(tmp_path, tokens)
    location = requests.get(url, timeout=10, allow_redirects=False).headers["Location"]
    parts = urllib.parse.urlsplit(location)
    query = dict(urllib.parse.parse_qsl(parts.query))
    forged = parts._replace(query=urllib.parse.urlencode({**query, "state": "forged"}))
    out, err = process.communicate(urllib.parse.urlunsplit(forged) + "\n", timeout=30)
    assert process.returncode == 1
    assert "state is not the one this login sent" in err
    assert "run `maildesk oauth login gws` again" in err
    assert tokens.token_requests == 0
    assert not _refresh_file(tmp_path).exists()
    assert query["code"] not in out + err
