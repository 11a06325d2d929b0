"""An SMTP relay for tests that takes only SASL XOAUTH2, as Exchange Online and Gmail do.

It is `SmtpSink` (tests/servers/smtp_sink.py) with AUTH required for DATA, PLAIN and
LOGIN withdrawn, and an XOAUTH2 mechanism that asks the tests' OAuth server whether the
bearer token is active and whose it is (RFC 7662 introspection, as Dovecot does):

    tokens = OAuthServer(users={"app": "info@uni.example"})
    tokens.start()
    relay = OAuthRelay(tokens.introspection_url)
    relay.start()
    ...  # the code under test signs in as info@uni.example with a token and sends
    assert relay.logins == ["info@uni.example"]

A refused token is answered the way Gmail does: a 334 challenge holding a JSON error,
which the client must answer with an empty line, then 535.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import threading
import urllib.parse
import urllib.request
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult

from tests.servers.smtp_sink import SmtpSink, _Recorder

_REFUSED = json.dumps({"status": "401", "schemes": "Bearer", "scope": "https://mail.google.com/"})


class _OAuthRecorder(_Recorder):
    def __init__(self, introspection_url: str) -> None:
        super().__init__(None)
        self.introspection_url = introspection_url
        self.logins: list[str] = []
        self.refusals = 0
        self.answers_to_errors: list[bytes] = []  # what clients said to the error challenge
        # Not named auth_…: aiosmtpd offers each handler attribute so named as a mechanism.
        self.logins_lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if not session.authenticated:
            return "530 5.7.0 Authentication required"
        return await super().handle_DATA(server, session, envelope)

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        """aiosmtpd calls this for ``AUTH XOAUTH2 [initial-response]``."""
        if len(args) == 2:
            try:
                blob = base64.b64decode(args[1], validate=True)
            except binascii.Error:
                return AuthResult(success=False, handled=False, message="501 5.5.2 not base64")
        else:
            answer = await server.challenge_auth("")
            if not isinstance(answer, bytes):
                return AuthResult(success=False)  # aborted; aiosmtpd has answered
            blob = answer
        fields = dict(
            part.split("=", 1)
            for part in blob.decode("utf-8", "replace").split("\x01")
            if "=" in part
        )
        user, auth = fields.get("user", ""), fields.get("auth", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else ""
        owner = await asyncio.to_thread(self._introspect, token) if token else None
        if owner is not None and owner == user:
            with self.logins_lock:
                self.logins.append(user)
            return AuthResult(success=True, auth_data=user)
        with self.logins_lock:
            self.refusals += 1
        reply = await server.challenge_auth(_REFUSED)
        with self.logins_lock:
            self.answers_to_errors.append(reply if isinstance(reply, bytes) else b"*")
        if not isinstance(reply, bytes):
            return AuthResult(success=False)
        return AuthResult(
            success=False, handled=False, message="535 5.7.8 Username and token not accepted"
        )

    def _introspect(self, token: str) -> str | None:
        data = urllib.parse.urlencode({"token": token}).encode()
        request = urllib.request.Request(  # noqa: S310 - the tests' loopback endpoint
            self.introspection_url, data=data, method="POST"
        )
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback
            answer: dict[str, Any] = json.loads(response.read())
        return str(answer.get("username")) if answer.get("active") else None


class OAuthRelay(SmtpSink):
    """A recording relay on 127.0.0.1 that requires AUTH XOAUTH2 (see the module docstring)."""

    def __init__(self, introspection_url: str) -> None:
        super().__init__()
        self._recorder: _OAuthRecorder = _OAuthRecorder(introspection_url)

    def __enter__(self) -> OAuthRelay:
        self.start()
        return self

    @property
    def logins(self) -> list[str]:
        """The user of every accepted AUTH, in order."""
        with self._recorder.logins_lock:
            return list(self._recorder.logins)

    @property
    def refusals(self) -> int:
        with self._recorder.logins_lock:
            return self._recorder.refusals

    @property
    def answers_to_errors(self) -> list[bytes]:
        with self._recorder.logins_lock:
            return list(self._recorder.answers_to_errors)

    def _start_controller(self) -> None:
        controller = Controller(
            self._recorder,
            hostname=self.host,
            port=self.port,
            server_hostname="relay.test",
            # auth_required=True would warn about plain text (pytest makes that an error);
            # handle_DATA refuses unauthenticated mail instead. Loopback only: tokens cross
            # no network. The daemon's own rule (tls none only to a loopback relay) is what
            # keeps them off the wire elsewhere.
            auth_require_tls=False,
            auth_exclude_mechanism=["LOGIN", "PLAIN"],
        )
        try:
            controller.start()
        except BaseException:
            if not controller.loop.is_closed():
                controller.stop(no_assert=True)
            if not controller.loop.is_closed():
                controller.loop.close()
            raise
        self._controller = controller
