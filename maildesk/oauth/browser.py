"""The installed-app sign-in: how ``maildesk oauth login NAME`` gets a refresh token from
Google, whose device flow does not grant https://mail.google.com/.

I/O. The authorization code grant with PKCE (RFC 7636, S256) and a loopback redirect
(RFC 8252): maildesk listens on a free port of 127.0.0.1, prints the address to open, and
takes the code from whichever comes first, the browser's redirect to that port, or the
redirected address pasted into the terminal (on a headless server the browser runs
elsewhere, where the page does not load but its address bar holds the code):

    with start_browser_login(settings) as login:
        print(login.url)
        redirected = wait_for_redirect(login, sys.stdin, timeout=600)
        finish_browser_login(settings, login, redirected, path, clock)

``state`` is checked before the code is used: an address from another login is refused.
"""

from __future__ import annotations

import secrets
import select
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import TracebackType
from typing import TextIO

# Authlib ships no type information.
from authlib.integrations.requests_client import (  # type: ignore[import-untyped, unused-ignore]
    OAuth2Session,
)

from maildesk.clock import Clock
from maildesk.errors import PermanentError
from maildesk.oauth.endpoint import refusal, request_token
from maildesk.oauth.settings import OAuthSettings
from maildesk.oauth.tokens import (
    AccessToken,
    SecretReader,
    access_token,
    read_client_secret,
    store_refresh_token,
)

_PAGE = (
    b"<!doctype html><title>maildesk</title><p>maildesk has the answer of this sign-in."
    b" You may close this page and go back to the terminal.</p>"
)


class _Listener(HTTPServer):
    redirected = ""  # the address the browser was sent back to, once it came


class _Handler(BaseHTTPRequestHandler):
    server: _Listener

    def do_GET(self) -> None:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        if "code" not in query and "error" not in query:
            self.send_error(404)  # a favicon, or something else that is not the answer
            return
        host, port = self.server.server_address[:2]
        self.server.redirected = f"http://{host!s}:{port}{self.path}"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(_PAGE)))
        self.end_headers()
        self.wfile.write(_PAGE)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the request line holds the code."""


@dataclass
class BrowserLogin:
    """An address to open, and what the exchange needs; close it to stop listening."""

    url: str
    redirect_uri: str
    state: str = field(repr=False)
    verifier: str = field(repr=False)
    listener: _Listener = field(repr=False)

    def close(self) -> None:
        self.listener.server_close()

    def __enter__(self) -> BrowserLogin:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def start_browser_login(settings: OAuthSettings, *, port: int = 0) -> BrowserLogin:
    """Listen on 127.0.0.1 (a free port unless given) and build the address to open."""
    where = f"[[oauth]] {settings.name}"
    if settings.grant != "refresh_token" or not settings.authorize_url:
        raise PermanentError(f"{where}: the browser login is for Google's grant refresh_token")
    listener = _Listener(("127.0.0.1", port), _Handler)
    redirect_uri = f"http://127.0.0.1:{listener.server_address[1]}/"
    state, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(64)
    session = OAuth2Session(
        settings.client_id,
        scope=" ".join(settings.effective_scopes),
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
    )
    # access_type=offline is what makes Google hand out a refresh token; prompt=consent
    # makes it do so again for an account that had allowed maildesk before.
    url, _ = session.create_authorization_url(
        settings.authorize_url,
        state=state,
        code_verifier=verifier,
        access_type="offline",
        prompt="consent",
    )
    session.close()
    return BrowserLogin(str(url), redirect_uri, state, verifier, listener)


def wait_for_redirect(login: BrowserLogin, pasted: TextIO | None, *, timeout: float) -> str:
    """The redirected address: caught by the listener, or a line pasted into ``pasted``.

    At the end of ``pasted`` (no terminal) only the listener is waited for.
    """
    deadline = time.monotonic() + timeout
    sources: list[_Listener | TextIO] = [login.listener]
    if pasted is not None:
        sources.append(pasted)
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select(sources, [], [], min(left, 1.0))
        if login.listener in ready:
            login.listener.handle_request()
            if login.listener.redirected:
                return login.listener.redirected
        if pasted is not None and pasted in ready:
            line = pasted.readline()
            if not line:
                sources.remove(pasted)
            elif line.strip():
                return line.strip()
    raise PermanentError("nobody signed in in time: run `maildesk oauth login` again")


def finish_browser_login(
    settings: OAuthSettings,
    login: BrowserLogin,
    redirected: str,
    refresh_token_file: Path,
    clock: Clock,
    *,
    read_secret: SecretReader = read_client_secret,
    timeout: float = 20.0,
) -> AccessToken:
    """Check ``state``, exchange the code, store the refresh token; the access token."""
    where = f"[[oauth]] {settings.name}"
    again = f"run `maildesk oauth login {settings.name}` again"
    text = redirected.strip()
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(text).query))
    if not query:  # only the part after "?" was pasted
        query = dict(urllib.parse.parse_qsl(text.lstrip("?")))
    if not secrets.compare_digest(query.get("state", ""), login.state):
        raise PermanentError(
            f"{where}: the address's state is not the one this login sent (an address from"
            f" another or an older login, or forged): refused; {again}"
        )
    if "error" in query:
        raise refusal(
            where, settings.authorize_url, 400, query, name=settings.name, grant=settings.grant
        )
    code = query.get("code", "")
    if not code:
        raise PermanentError(f"{where}: the address holds no code: {again}")
    params = {"code": code, "redirect_uri": login.redirect_uri, "code_verifier": login.verifier}
    secret = read_secret(settings)
    url = settings.effective_token_url
    status, answer = request_token(
        url, client_id=settings.client_id, grant_type="authorization_code", params=params,
        secret=secret, timeout=timeout, where=where,
    )  # fmt: skip
    hide = [secret or "", code, login.verifier, str(answer.get("access_token", ""))]
    if status != 200:
        hide.append(str(answer.get("refresh_token", "")))
        raise refusal(
            where, url, status, answer, name=settings.name, grant=settings.grant, hide=hide
        )
    token = access_token(answer, clock.now(), where)
    refresh_token = answer.get("refresh_token")
    if not isinstance(refresh_token, str) or not refresh_token:
        raise PermanentError(
            f"{where}: the sign-in worked but no refresh token came back: remove maildesk's"
            f" access in the Google account's security settings, then {again}"
        )
    store_refresh_token(refresh_token_file, refresh_token)
    return token
