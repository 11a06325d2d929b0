"""``maildesk run`` signing in with OAuth2: an [[imap]] account on the Dovecot with the
oauth2 passdb and a relay that takes only XOAUTH2, both checking each token with the
tests' token endpoint; two accounts through one Google service account; a secret replaced
under a running daemon. Tokens live 12 s, so the daemon renews them as it runs."""

from __future__ import annotations

import json
import os
import signal
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from maildesk.oauth.tokens import store_refresh_token
from tests.e2e.test_imap_daemon import ImapDesk
from tests.ingest.test_imap import message, wait_until
from tests.servers.dovecot_oauth import OAuthDovecot
from tests.servers.oauth_google import GMAIL_SCOPE
from tests.servers.oauth_relay import OAuthRelay
from tests.servers.oauth_server import CLIENT_ID, CLIENT_SECRET, OAuthServer
from tests.support.oauth import SERVICE_ACCOUNT, SERVICE_ACCOUNT_ID, oauth_dovecot
from tests.support.oauth import service_account_key as write_service_account_key

pytestmark = pytest.mark.server

LIFETIME = 12  # seconds; renewed a tenth before: every 10.8 s


@pytest.fixture
def tokens() -> Iterator[OAuthServer]:
    server = OAuthServer(users={CLIENT_ID: "info"}, lifetime=LIFETIME)
    with server:
        yield server


@pytest.fixture
def dovecot(tmp_path: Path, tokens: OAuthServer) -> Iterator[OAuthDovecot]:
    with oauth_dovecot(tmp_path / "dovecot", tokens) as server:
        yield server


@pytest.fixture
def relay(tokens: OAuthServer) -> Iterator[OAuthRelay]:
    with OAuthRelay(tokens.introspection_url) as server:
        yield server


class OAuthDesk(ImapDesk):
    """The daemon with account info on ``dovecot`` and the relay, both through [[oauth]]."""

    def __init__(
        self, folder: Path, dovecot: OAuthDovecot, tokens: OAuthServer, relay: OAuthRelay,
        grant: str = "client_credentials",
    ) -> None:  # fmt: skip
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "app.secret").write_text(CLIENT_SECRET + "\n", encoding="utf-8")
        if grant == "refresh_token":
            store_refresh_token(
                folder / "app.secret.refresh-token", tokens.issue_refresh_token("info")
            )
        super().__init__(folder, dovecot, {"info": {"oauth": "app", "password_file": ""}})
        text = self.config.read_text(encoding="utf-8").replace('password_file = ""\n', "")
        self.config.write_text(
            text + f'\n[[oauth]]\nname = "app"\nprovider = "generic"\nclient_id = "{CLIENT_ID}"\n'
            f'client_secret_file = "app.secret"\ntoken_url = "{tokens.token_url}"\n'
            f'scopes = ["mail"]\ngrant = "{grant}"\n\n'
            f'[outgoing]\ntransport = "smtp"\nhost = "{relay.host}"\nport = {relay.port}\n'
            'tls = "none"\nusername = "info"\noauth = "app"\nretry_seconds = 1\n',
            encoding="utf-8",
        )

    def http(self, path: str) -> str:
        url = f"http://127.0.0.1:{self.http_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return str(response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            return str(exc.read().decode("utf-8"))

    def health(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.http("/healthz"))
        return found

    def pending(self) -> int:
        return self.count("SELECT count(*) FROM outbox WHERE state = 'pending'")


@pytest.fixture
def desk(
    tmp_path: Path, dovecot: OAuthDovecot, tokens: OAuthServer, relay: OAuthRelay
) -> Iterator[OAuthDesk]:
    daemon = OAuthDesk(tmp_path / "desk", dovecot, tokens, relay)
    try:
        yield daemon
    finally:
        daemon.stop()


def test_mail_comes_in_over_xoauth2_through_token_expiry_and_acks_go_out(
    desk: OAuthDesk, dovecot: OAuthDovecot, tokens: OAuthServer, relay: OAuthRelay
) -> None:
    desk.start()
    desk.ready("info")
    dovecot.append("info", "INBOX", message(1))
    wait_until(lambda: desk.inbound() == 1, timeout=15, what="the first message")
    [ack] = relay.wait_for(1, timeout=15)
    assert ack.rcpt_tos == ("p1@alumnos.example",)
    assert relay.logins[0] == "info"
    first = tokens.token_requests

    # The token runs out while the account sits in IDLE: it signs in again before that.
    wait_until(
        lambda: (
            tokens.token_requests > first and bool(desk.lines("due for renewal; signing in again"))
        ),
        timeout=LIFETIME + 10,
        what="the account to renew its session with a new token",
    )
    tokens.expire_access_tokens()  # the first token is dead for sure now
    wait_until(lambda: len(desk.lines("due for renewal")) >= 2, timeout=LIFETIME + 10)
    dovecot.append("info", "INBOX", message(2))
    wait_until(lambda: desk.inbound() == 2, timeout=15, what="the message after the expiry")
    assert len(relay.wait_for(2, timeout=15)) == 2
    assert desk.folder_flags("info", "INBOX") == {}
    health = desk.health()
    assert health["imap"]["info"]["state"] == "connected"
    assert health["oauth"] == {"app": {"state": "ok"}}
    assert desk.alive()


def test_a_revoked_credential_fails_the_account_keeps_the_mail_and_recovers(
    desk: OAuthDesk, dovecot: OAuthDovecot, tokens: OAuthServer, relay: OAuthRelay
) -> None:
    desk.start()
    desk.ready("info")
    tokens.refuse = True  # the secret is revoked, and with it every token
    tokens.expire_access_tokens()
    wait_until(
        lambda: desk.health()["imap"]["info"]["state"] == "refused", timeout=LIFETIME + 10,
        what="the account to fail",
    )  # fmt: skip
    health = desk.health()
    assert health["status"] == "degraded"
    assert health["oauth"]["app"]["state"] == "failing"
    assert "invalid_client" in health["oauth"]["app"]["error"]
    assert "invalid_client" in health["imap"]["info"]["error"]
    [line] = [x for x in desk.lines("imap:info: ") if "invalid_client" in x]
    assert "AADSTS7000215" in line

    dovecot.append("info", "INBOX", message(3))  # waits on the server
    desk.send(message(4), sender="p4@alumnos.example", to=["info@uni.example"])  # by SMTP
    wait_until(lambda: desk.pending() == 1, timeout=15, what="the acknowledgement to wait")
    assert relay.messages == []
    assert desk.inbound() == 1  # the one that came by SMTP; the IMAP one is on the server
    assert len(desk.folder_flags("info", "INBOX")) == 1
    assert desk.alive()

    tokens.refuse = False  # a working secret again: both recover by themselves
    wait_until(lambda: desk.inbound() == 2, timeout=45, what="the account to recover")
    wait_until(lambda: desk.pending() == 0, timeout=30, what="the acknowledgements to go out")
    assert sorted(m.rcpt_tos[0] for m in relay.wait_for(2)) == [
        "p3@alumnos.example",
        "p4@alumnos.example",
    ]
    health = desk.health()
    assert health["imap"]["info"]["state"] == "connected"
    assert "error" not in health["imap"]["info"]
    assert health["oauth"] == {"app": {"state": "ok"}}


def test_no_token_or_secret_appears_in_the_log_check_healthz_or_metrics(
    tmp_path: Path, dovecot: OAuthDovecot, tokens: OAuthServer, relay: OAuthRelay
) -> None:
    desk = OAuthDesk(tmp_path / "desk", dovecot, tokens, relay, grant="refresh_token")
    try:
        desk.start()
        desk.ready("info")
        dovecot.append("info", "INBOX", message(5))
        relay.wait_for(1, timeout=15)
        wait_until(lambda: bool(desk.lines("due for renewal")), timeout=LIFETIME + 10)  # rotated
        tokens.refuse = True
        wait_until(
            lambda: desk.health()["oauth"]["app"]["state"] == "failing", timeout=LIFETIME + 10
        )
        seen = [desk.http("/healthz"), desk.http("/metrics")]
        check = desk.cli("check", check=False)
        tokens.refuse = False
        seen += [check.stdout, check.stderr, desk.cli("check").stdout]
    finally:
        desk.stop()
    seen.append(desk.log())
    assert "invalid_client" in check.stderr  # the refusal was there to leak a secret
    secrets = [CLIENT_SECRET, *tokens.issued()]
    assert len(secrets) >= 4  # the secret, refresh tokens and access tokens
    for text in seen:
        for secret in secrets:
            assert secret not in text


class GoogleDesk(OAuthDesk):
    """The daemon reading info and crm through one Google service account ([[oauth]] gws,
    provider google, grant client_credentials); outgoing mail goes to the outbox folder."""

    def __init__(self, folder: Path, dovecot: OAuthDovecot, tokens: OAuthServer) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.private_key = write_service_account_key(folder / "gws.json", tokens)
        accounts = {n: {"oauth": "gws", "password_file": ""} for n in ("info", "crm")}
        ImapDesk.__init__(self, folder, dovecot, accounts)
        text = self.config.read_text(encoding="utf-8").replace('password_file = ""\n', "")
        self.config.write_text(
            text + f'\n[[oauth]]\nname = "gws"\nprovider = "google"\n'
            f'client_id = "{SERVICE_ACCOUNT_ID}"\nclient_secret_file = "gws.json"\n'
            f'token_url = "{tokens.token_url}"\ngrant = "client_credentials"\n',
            encoding="utf-8",
        )


def test_one_google_service_account_reads_two_mailboxes_with_a_token_each(
    tmp_path: Path, tokens: OAuthServer
) -> None:
    with oauth_dovecot(tmp_path / "dovecot", tokens, users=("info", "crm")) as dovecot:
        desk = GoogleDesk(tmp_path / "desk", dovecot, tokens)
        try:
            desk.start()
            desk.ready("info", "crm")
            dovecot.append("info", "INBOX", message(1))
            dovecot.append("crm", "INBOX", message(2, to="crm@uni.example"))
            wait_until(lambda: desk.inbound() == 2, timeout=15, what="both mailboxes' mail")
            # Each account asked for a token acting as its own mailbox.
            assert {str(c["sub"]) for _, c in tokens.assertions} == {"info", "crm"}
            assert all(c["iss"] == SERVICE_ACCOUNT for _, c in tokens.assertions)

            account = tokens.service_accounts[SERVICE_ACCOUNT]
            account.scopes = ()  # the Workspace admin removed the domain-wide delegation
            tokens.expire_access_tokens()
            wait_until(
                lambda: desk.health()["imap"]["info"]["state"] == "refused",
                timeout=LIFETIME + 10, what="the account to fail",
            )  # fmt: skip
            health = desk.health()
            assert health["status"] == "degraded"
            error = health["imap"]["info"]["error"]
            assert "unauthorized_client: Client is unauthorized" in error
            assert f"domain-wide delegation is not granted to client ID {SERVICE_ACCOUNT_ID}" in (
                error
            )
            assert health["oauth"]["gws"]["state"] == "failing"
            check = desk.cli("check", check=False)  # it asks for info's and crm's tokens
            assert "(as crm)" in check.stderr
            assert "unauthorized_client" in check.stderr
            dovecot.append("info", "INBOX", message(3))  # waits on the server meanwhile

            account.scopes = (GMAIL_SCOPE,)  # granted again: the accounts recover by themselves
            wait_until(lambda: desk.inbound() == 3, timeout=60, what="the account to recover")
            wait_until(
                lambda: desk.health()["status"] == "ok", timeout=60, what="both accounts back"
            )
            health = desk.health()
            assert health["oauth"] == {"gws": {"state": "ok"}}
            assert health["imap"]["crm"]["state"] == "connected"
            seen = [desk.http("/healthz"), desk.http("/metrics"), check.stdout, check.stderr]
        finally:
            desk.stop()
    seen.append(desk.log())
    # The key, each signed assertion (a credential for an hour) and each token.
    secrets = [desk.private_key.splitlines()[1], *tokens.issued()]
    secrets += [form["assertion"] for form in tokens.forms]
    assert len(secrets) >= 5
    for text in seen:
        for secret in secrets:
            assert secret not in text


def test_a_new_secret_and_sighup_recover_a_revoked_credential_without_a_restart(
    desk: OAuthDesk, dovecot: OAuthDovecot, tokens: OAuthServer, relay: OAuthRelay
) -> None:
    desk.start()
    desk.ready("info")
    assert desk.process is not None
    pid = desk.process.pid
    tokens.client_secret = "the-new-Secret-after-rotation-42"  # the old one is revoked
    tokens.expire_access_tokens()
    wait_until(
        lambda: desk.health()["imap"]["info"]["state"] == "refused", timeout=LIFETIME + 10,
        what="the account to fail",
    )  # fmt: skip
    assert "invalid_client" in desk.health()["imap"]["info"]["error"]
    dovecot.append("info", "INBOX", message(6))

    (desk.folder / "app.secret").write_text(tokens.client_secret + "\n", encoding="utf-8")
    os.kill(pid, signal.SIGHUP)
    wait_until(lambda: desk.inbound() == 1, timeout=20, what="the mail after the reload")
    wait_until(lambda: len(relay.messages) == 1, timeout=20, what="the acknowledgement")
    health = desk.health()
    assert health["imap"]["info"]["state"] == "connected"
    assert health["oauth"] == {"app": {"state": "ok"}}
    assert desk.lines("configuration reloaded")
    assert desk.alive()
    assert desk.process is not None
    assert desk.process.pid == pid  # the same process: no restart
    for text in (desk.log(), desk.http("/healthz")):
        assert tokens.client_secret not in text
        assert CLIENT_SECRET not in text
