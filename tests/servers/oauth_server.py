"""An OAuth2 authorization server for tests: a real token endpoint over HTTP on loopback.

It speaks just enough of RFC 6749 (client_credentials, refresh_token and authorization_code
grants, the last with RFC 7636's PKCE), RFC 8628 (the device authorization grant), RFC
7523 (a Google service account's JWT bearer grant, checked in oauth_google.py) and RFC 7662
(token introspection, which Dovecot's oauth2 passdb calls) for maildesk's token client and
a private Dovecot to talk to it:

    server = OAuthServer(users={"maildesk-app": "info"})
    server.start()
    ...  # the code under test posts to server.token_url; Dovecot posts to
    ...  # server.introspection_url
    server.refuse = True  # the secret is revoked: every token request gets 401 invalid_client
    server.stop()

Paths are matched on their last segments, so the same server answers the token URL a
provider would use (".../oauth2/v2.0/token", ".../token") and the device endpoints
(".../devicecode", ".../device/code") and authorization endpoints (".../auth",
".../authorize": a GET that signs ``google.authorize_as`` in at once and redirects, as a browser
whose user clicks "Allow" would see). Tokens are random and live in memory only.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from tests.servers.oauth_google import GoogleGrants, ServiceAccount

HOST = "127.0.0.1"
CLIENT_ID = "maildesk-test-client"
CLIENT_SECRET = "s3cret-Of-The-Test-Client-0123456789"
# What Microsoft Entra says for a revoked or wrong client secret; the test server copies
# its shape so the client's error message is checked against something realistic.
REVOKED_DESCRIPTION = (
    "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the "
    "request is the client secret value, not the client secret ID."
)
# Checks a client assertion (a signed JWT); set by the tests that sign in with a certificate.
CertificateChecker = Callable[[str], bool]
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@dataclass
class _Access:
    username: str
    expires: float  # time.monotonic() seconds
    scope: str


@dataclass
class _Device:
    user_code: str
    scope: str
    approved_for: str | None = None
    denied: bool = False
    polls: int = 0


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    access: dict[str, _Access] = field(default_factory=dict)
    refresh: dict[str, str] = field(default_factory=dict)  # refresh token -> username
    devices: dict[str, _Device] = field(default_factory=dict)  # device code -> pending login
    token_requests: int = 0
    introspections: int = 0
    forms: list[dict[str, str]] = field(default_factory=list)  # every token request's form
    device_forms: list[dict[str, str]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)


class OAuthServer:
    """A token, device and introspection endpoint on 127.0.0.1 (see the module docstring).

    ``users`` maps a client id to the mailbox its app-only tokens are for (the
    ``username`` introspection returns); ``lifetime`` is every token's ``expires_in``.
    """

    def __init__(
        self,
        *,
        users: dict[str, str] | None = None,
        client_secret: str = CLIENT_SECRET,
        lifetime: int = 3600,
    ) -> None:
        self.users = dict(users or {CLIENT_ID: "info"})
        self.client_secret = client_secret
        self.lifetime = lifetime
        # Switches a test may flip at any time; the handler threads read them on each request.
        self.refuse = False  # 401 invalid_client, as for a revoked secret
        self.fail_with_status: int | None = None  # answer token requests with e.g. 503
        self.rotate_refresh_tokens = True
        self.certificate_checker: CertificateChecker | None = None
        self.google = GoogleGrants()  # the JWT bearer and authorization code grants
        self._state = _State()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- addresses ---------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the OAuth server is not started")
        return f"http://{HOST}:{self._server.server_address[1]}"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/tenant/oauth2/v2.0/token"

    @property
    def device_url(self) -> str:
        return f"{self.base_url}/tenant/oauth2/v2.0/devicecode"

    @property
    def introspection_url(self) -> str:
        return f"{self.base_url}/introspect"

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        """Listen on a free loopback port and serve from a daemon thread."""
        if self._server is not None:
            raise RuntimeError("the OAuth server is already running")
        server = ThreadingHTTPServer((HOST, 0), _Handler)
        server.daemon_threads = True
        server.oauth = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="oauth-server")
        self._thread.daemon = True
        self._thread.start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> OAuthServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what tests look at or change -----------------------------------------------

    @property
    def token_requests(self) -> int:
        with self._state.lock:
            return self._state.token_requests

    @property
    def introspections(self) -> int:
        with self._state.lock:
            return self._state.introspections

    @property
    def forms(self) -> list[dict[str, str]]:
        """The form of every token request so far, in order (secrets included: tests only)."""
        with self._state.lock:
            return [dict(form) for form in self._state.forms]

    @property
    def device_forms(self) -> list[dict[str, str]]:
        """The form of every device authorization request so far."""
        with self._state.lock:
            return [dict(form) for form in self._state.device_forms]

    @property
    def paths(self) -> list[str]:
        with self._state.lock:
            return list(self._state.paths)

    @property
    def service_accounts(self) -> dict[str, ServiceAccount]:
        """Google service accounts by address; a test revokes delegation by emptying one's
        scopes."""
        return self.google.service_accounts

    @property
    def assertions(self) -> list[tuple[dict[str, object], dict[str, object]]]:
        """Header and claims of every JWT bearer assertion received, sound or not."""
        return self.google.assertions

    @property
    def authorize_queries(self) -> list[dict[str, str]]:
        """The query of every request to the authorization endpoint."""
        return self.google.authorize_queries

    def issue_refresh_token(self, username: str) -> str:
        """A refresh token for ``username``, as a past device login would have left."""
        token = "rt-" + secrets.token_urlsafe(24)
        with self._state.lock:
            self._state.refresh[token] = username
            self._state.issued.append(token)
        return token

    def issued(self) -> list[str]:
        """Every access and refresh token handed out so far, spent ones included (tests
        look for them where they must never appear)."""
        with self._state.lock:
            return [*self._state.issued]

    def is_refresh_token_valid(self, token: str) -> bool:
        with self._state.lock:
            return token in self._state.refresh

    def expire_access_tokens(self) -> None:
        """Every access token issued so far is now expired (introspection says inactive)."""
        with self._state.lock:
            for access in self._state.access.values():
                access.expires = 0.0

    def pending_user_codes(self) -> list[str]:
        with self._state.lock:
            return [d.user_code for d in self._state.devices.values() if d.approved_for is None]

    def approve(self, user_code: str, username: str) -> None:
        """The user signs in on another device and approves ``user_code``."""
        self._decide(user_code, username)

    def deny(self, user_code: str) -> None:
        """The user declines the sign-in of ``user_code``."""
        self._decide(user_code, None)

    def _decide(self, user_code: str, username: str | None) -> None:
        with self._state.lock:
            for device in self._state.devices.values():
                if device.user_code == user_code:
                    device.approved_for, device.denied = username, username is None
                    return
        raise KeyError(f"no pending device login with user code {user_code!r}")

    # -- the endpoints (called from the handler threads) ----------------------------

    def _token(self, form: dict[str, str], url: str) -> tuple[int, dict[str, object]]:
        with self._state.lock:
            self._state.token_requests += 1
            self._state.forms.append(dict(form))
        if self.fail_with_status is not None:
            return self.fail_with_status, {"error": "temporarily_unavailable"}
        client_id = form.get("client_id", "")
        if self.refuse or not self._client_authenticated(form):
            return 401, {
                "error": "invalid_client",
                "error_description": REVOKED_DESCRIPTION,
                "error_codes": [7000215],
            }
        grant = form.get("grant_type", "")
        scope = form.get("scope", "")
        if grant == "client_credentials":
            if client_id not in self.users:
                return 400, {"error": "unauthorized_client", "error_description": "unknown app"}
            return 200, self._issue(self.users[client_id], scope, refresh=False)
        if grant == "refresh_token":
            with self._state.lock:
                username = self._state.refresh.get(form.get("refresh_token", ""))
                if username is not None and self.rotate_refresh_tokens:
                    del self._state.refresh[form["refresh_token"]]
            if username is None:
                return 400, {
                    "error": "invalid_grant",
                    "error_description": "AADSTS70000: The refresh token is invalid or expired.",
                }
            return 200, self._issue(username, scope, refresh=self.rotate_refresh_tokens)
        if grant == DEVICE_GRANT:
            return self._device_poll(form.get("device_code", ""))
        if grant == JWT_BEARER_GRANT:
            return self.google.jwt_bearer(form.get("assertion", ""), url, self._issued_for)
        if grant == "authorization_code":
            return self.google.exchange_code(form, self._issued_for)
        return 400, {"error": "unsupported_grant_type", "error_description": grant}

    def _client_authenticated(self, form: dict[str, str]) -> bool:
        if form.get("client_assertion_type") == JWT_BEARER:
            checker = self.certificate_checker
            return checker is not None and checker(form.get("client_assertion", ""))
        # A device login of a public client sends no secret; a confidential one does.
        secret = form.get("client_secret")
        return secret is None or secrets.compare_digest(secret, self.client_secret)

    def _issued_for(self, username: str, scope: str, refresh: bool) -> dict[str, object]:
        return self._issue(username, scope, refresh=refresh)

    def _issue(self, username: str, scope: str, *, refresh: bool) -> dict[str, object]:
        token = "at-" + secrets.token_urlsafe(24)
        body: dict[str, object] = {
            "token_type": "Bearer",
            "access_token": token,
            "expires_in": self.lifetime,
            "scope": scope,
        }
        with self._state.lock:
            self._state.access[token] = _Access(username, time.monotonic() + self.lifetime, scope)
            self._state.issued.append(token)
            if refresh:
                new_refresh = "rt-" + secrets.token_urlsafe(24)
                self._state.refresh[new_refresh] = username
                self._state.issued.append(new_refresh)
                body["refresh_token"] = new_refresh
        return body

    def _device_start(self, form: dict[str, str]) -> tuple[int, dict[str, object]]:
        if not form.get("client_id"):
            return 400, {"error": "invalid_request", "error_description": "client_id missing"}
        with self._state.lock:
            self._state.device_forms.append(dict(form))
        device_code = "dc-" + secrets.token_urlsafe(24)
        user_code = secrets.token_hex(4).upper()
        with self._state.lock:
            self._state.devices[device_code] = _Device(user_code, form.get("scope", ""))
        return 200, {
            "device_code": device_code,
            "user_code": user_code,
            "verification_uri": f"{self.base_url}/device",
            "expires_in": 900,
            "interval": 1,
            "message": f"To sign in, open {self.base_url}/device and enter {user_code}.",
        }

    def _device_poll(self, device_code: str) -> tuple[int, dict[str, object]]:
        with self._state.lock:
            device = self._state.devices.get(device_code)
            if device is not None:
                device.polls += 1
        if device is None:
            return 400, {"error": "expired_token", "error_description": "unknown device code"}
        if device.denied:
            return 400, {"error": "access_denied", "error_description": "the user said no"}
        if device.approved_for is None:
            return 400, {"error": "authorization_pending", "error_description": "waiting"}
        with self._state.lock:
            del self._state.devices[device_code]
        return 200, self._issue(device.approved_for, device.scope, refresh=True)

    def _introspect(self, form: dict[str, str]) -> tuple[int, dict[str, object]]:
        with self._state.lock:
            self._state.introspections += 1
            access = self._state.access.get(form.get("token", ""))
            if access is None or access.expires <= time.monotonic():
                return 200, {"active": False}
            return 200, {
                "active": True,
                "username": access.username,
                "scope": access.scope,
                "token_type": "Bearer",
                "exp": int(time.time() + access.expires - time.monotonic()),
            }


class _Handler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer
    protocol_version = "HTTP/1.1"  # keep-alive: Dovecot's HTTP client pipelines requests

    def do_POST(self) -> None:
        oauth: OAuthServer = self.server.oauth  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length).decode("utf-8", "replace")
        form = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
        path = urllib.parse.urlsplit(self.path).path.rstrip("/")
        with oauth._state.lock:
            oauth._state.paths.append(path)
        if path.endswith("/token"):
            status, answer = oauth._token(form, oauth.base_url + path)
        elif path.endswith(("/devicecode", "/device/code")):
            status, answer = oauth._device_start(form)
        elif path.endswith("/introspect"):
            status, answer = oauth._introspect(form)
        else:
            status, answer = 404, {"error": "not_found"}
        self._answer(status, answer)

    def do_GET(self) -> None:
        oauth: OAuthServer = self.server.oauth  # type: ignore[attr-defined]
        parts = urllib.parse.urlsplit(self.path)
        path = parts.path.rstrip("/")
        with oauth._state.lock:
            oauth._state.paths.append(path)
        if not path.endswith(("/auth", "/authorize")):
            self._answer(404, {"error": "not_found"})
            return
        query = dict(urllib.parse.parse_qsl(parts.query))
        status, answer, location = oauth.google.authorize(query)
        if status != 302:
            self._answer(status, answer)
            return
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _answer(self, status: int, answer: dict[str, object]) -> None:
        payload = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: pytest would show every request; the tests read ``paths`` instead."""
