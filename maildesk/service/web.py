"""The daemon's HTTP listener (the standard library's ``http.server``), on its own threads.

Routes are plain functions ``Request -> Response``. The listener runs on a thread of
its own, so a slow or hostile client never holds up the event loop that answers SMTP;
each connection gets a worker thread with a read timeout, and at most ``_MAX_CLIENTS``
are served at once (more are refused with 503). Bodies are limited to ``MAX_BODY``.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from maildesk.config import HttpConfig

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
_MAX_CLIENTS = 32
_READ_TIMEOUT = 10.0


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    client: str


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = field(default=())

    @classmethod
    def text(cls, status: int, text: str) -> Response:
        return cls(status, text.encode("utf-8"))


Route = Callable[[Request], Response]


class WebServer:
    """``routes`` maps (method, path) to a function; other modules may add theirs."""

    def __init__(self, config: HttpConfig) -> None:
        self.config = config
        self.routes: dict[tuple[str, str], Route] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def route(self, method: str, path: str, func: Route) -> None:
        self.routes[method.upper(), path] = func

    @property
    def port(self) -> int:
        """The bound port (the configured one, or the one chosen for port 0)."""
        return self._server.server_address[1] if self._server else self.config.port

    def start(self) -> None:
        """Bind and serve; raises OSError when the address cannot be bound."""
        family = socket.AF_INET6 if ":" in self.config.host else socket.AF_INET
        server_class = type("_Bound", (_Server,), {"address_family": family})
        self._server = server_class((self.config.host, self.config.port), _Handler)
        self._server.web = self
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="maildesk-http",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server = None

    def dispatch(self, request: Request) -> Response:
        func = self.routes.get((request.method, request.path))
        if func is None:
            allowed = [m for (m, p) in self.routes if p == request.path]
            if allowed:
                return Response(
                    HTTPStatus.METHOD_NOT_ALLOWED,
                    b"method not allowed\n",
                    headers=(("Allow", ", ".join(sorted(allowed))),),
                )
            return Response.text(HTTPStatus.NOT_FOUND, "not found\n")
        try:
            return func(request)
        except Exception:
            log.exception("http: %s %s failed", request.method, request.path)
            return Response.text(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error\n")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    web: WebServer

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self._slots = threading.BoundedSemaphore(_MAX_CLIENTS)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            with contextlib.suppress(OSError):
                request.sendall(
                    b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\n"
                    b"Connection: close\r\n\r\n"
                )
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = _READ_TIMEOUT
    server_version = "maildesk"
    sys_version = ""

    def do_GET(self) -> None:
        self._serve(b"")

    def do_HEAD(self) -> None:
        self._serve(b"", head=True)

    def do_POST(self) -> None:
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self._send(Response.text(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body too large\n"))
            return
        self._serve(self.rfile.read(length))

    def _serve(self, body: bytes, *, head: bool = False) -> None:
        parts = urlsplit(self.path)
        request = Request(
            method="GET" if head else self.command,
            path=parts.path,
            query=parse_qs(parts.query),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            client=self.client_address[0],
        )
        self._send(self.server.web.dispatch(request), head=head)

    def _send(self, response: Response, *, head: bool = False) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in response.headers:
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(response.body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # Query strings may hold tokens: the access log (debug only) names the path alone.
        log.debug("http: %s %s %s", self.command, urlsplit(self.path).path, code)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http: " + format, *args)
