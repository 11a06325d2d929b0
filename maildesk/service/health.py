"""GET /healthz and GET /metrics: what the running daemon reports about itself.

Both are served on the HTTP listener's threads. They read the daemon's in-memory state
(plain attributes, each replaced whole) and open their own read-only connection to the
store, so a scrape never waits behind the writer nor holds it up.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from http import HTTPStatus
from typing import Any, Protocol

from maildesk import __version__
from maildesk.config import Config
from maildesk.errors import MaildeskError
from maildesk.outbox.sender import RelayState
from maildesk.service.metrics import Family, Metrics, gauge, render
from maildesk.service.web import Request, Response, WebServer
from maildesk.store import queries
from maildesk.store.database import Connection

METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True)
class JobState:
    state: str = "scheduled"  # scheduled, running, standby (another node sweeps)
    last_run: str = ""
    last_result: str = ""
    next_run: str = ""


class ImapAccount(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def state(self) -> str: ...

    @property
    def logins(self) -> int: ...

    @property
    def last_error(self) -> str: ...


class Credential(Protocol):
    """An [[oauth]] credential's token source: only why its last request failed shows."""

    @property
    def last_error(self) -> MaildeskError | None: ...


@dataclass(frozen=True)
class Holdings:
    """What this daemon holds among several on one database (store/locks.py)."""

    node: str
    sweeps: bool = False  # the sweep lock: this daemon sweeps
    imap: tuple[str, ...] = ()  # the IMAP accounts this daemon reads


@dataclass(frozen=True)
class DatabaseState:
    """The daemon's own connection (the writer's), which a check on a new one cannot see:
    cut by a restart of the database, it is down until the writer connects again."""

    up: bool = True
    error: str = ""
    reconnects: int = 0  # sessions opened again since start


class Observed(Protocol):
    """What the daemon shows to the HTTP threads."""

    @property
    def config(self) -> Config: ...

    @property
    def metrics(self) -> Metrics: ...

    @property
    def ready(self) -> bool: ...

    @property
    def stopping(self) -> bool: ...

    @property
    def accounts(self) -> Sequence[ImapAccount]: ...

    @property
    def relay(self) -> RelayState: ...

    @property
    def jobs(self) -> Mapping[str, JobState]: ...

    @property
    def tokens(self) -> Mapping[str, Credential]: ...

    @property
    def started_at(self) -> float: ...  # time.time() at start

    @property
    def holdings(self) -> Holdings: ...

    @property
    def database(self) -> DatabaseState: ...


def install(web: WebServer, daemon: Observed) -> None:
    web.route("GET", "/healthz", lambda request: healthz(daemon, request))
    web.route("GET", "/metrics", lambda request: metrics(daemon, request))


def _database(daemon: Observed) -> tuple[dict[str, Any], Connection | None]:
    config = daemon.config
    own = daemon.database
    conn = None
    try:
        conn = queries.open_reader(config.store_location, config.database_password_env)
        conn.execute("SELECT 1 FROM tickets LIMIT 1").fetchall()
    except Exception as exc:  # any failure to read is what this check is for
        if conn is not None:
            conn.close()
        return {"state": "failing", "error": str(exc), "reconnects": own.reconnects}, None
    if not own.up:  # the database answers a new connection; the writer's is not back yet
        return {
            "state": "failing",
            "error": f"the daemon's connection is lost, reconnecting: {own.error}",
            "reconnects": own.reconnects,
        }, conn
    return {"state": "ok", "reconnects": own.reconnects}, conn


def healthz(daemon: Observed, request: Request) -> Response:
    """200 while the daemon takes mail ("ok", or "degraded" when a mailbox or the relay is
    in trouble); 503 while starting, stopping, or when the store cannot be read."""
    database, conn = _database(daemon)
    if conn is not None:
        try:
            outbox = queries.outbox_counts(conn)
        finally:
            conn.close()
        database["outbox_pending"] = outbox.get("pending", 0)
        database["outbox_failed"] = outbox.get("failed", 0)
    listener = daemon.config.listener
    imap = {a.name: _account(a) for a in daemon.accounts}
    # The token endpoint's last refusal, as its error code and what to fix: the messages
    # are written without the secret or any token (maildesk.oauth.endpoint.refusal).
    oauth = {
        name: {"state": "failing", "error": str(source.last_error)}
        if source.last_error is not None
        else {"state": "ok"}
        for name, source in daemon.tokens.items()
    }
    relay = {"transport": daemon.config.outgoing.transport, **asdict(daemon.relay)}
    jobs = {name: asdict(job) for name, job in daemon.jobs.items()}
    # An account another daemon reads is in good hands: standing by is no trouble.
    troubled = (
        any(a["state"] not in ("connected", "standby") for a in imap.values())
        or daemon.relay.state == "failing"
        or any(o["state"] == "failing" for o in oauth.values())
    )
    held = daemon.holdings
    if daemon.stopping:
        status = "stopping"
    elif not daemon.ready:
        status = "starting"
    elif database["state"] != "ok":
        status = "failing"
    else:
        status = "degraded" if troubled else "ok"
    body = {
        "status": status,
        "ready": daemon.ready and not daemon.stopping,
        "version": __version__,
        "uptime_seconds": round(time.time() - daemon.started_at, 1),
        "node": {"name": held.node, "sweeps": held.sweeps, "imap": list(held.imap)},
        "listener": {
            "state": "listening" if listener.enabled else "disabled",
            "address": f"{listener.protocol}://{listener.host}:{listener.port}",
        },
        "imap": imap,
        "oauth": oauth,
        "relay": relay,
        "scheduler": {"state": "stopped" if daemon.stopping else "running", "jobs": jobs},
        "database": database,
    }
    code = HTTPStatus.OK if status in ("ok", "degraded") else HTTPStatus.SERVICE_UNAVAILABLE
    return Response(
        code,
        (json.dumps(body, indent=2) + "\n").encode("utf-8"),
        "application/json",
    )


def _account(account: ImapAccount) -> dict[str, Any]:
    entry: dict[str, Any] = {"state": account.state, "reconnects": max(0, account.logins - 1)}
    if account.state != "connected" and account.last_error:
        entry["error"] = account.last_error
    return entry


def metrics(daemon: Observed, request: Request) -> Response:
    families = daemon.metrics.families()
    families += _state_families(daemon)
    database, conn = _database(daemon)
    if conn is not None:
        try:
            families += _store_families(conn)
        finally:
            conn.close()
    families.append(
        gauge(
            "maildesk_store_up",
            "1 when the store can be read and the daemon's own connection to it is up.",
            {(): database["state"] == "ok"},
        )
    )
    families.append(
        Family(
            "maildesk_store_reconnects_total",
            "counter",
            "Times the daemon connected to its database again after losing the connection.",
            [("", (), daemon.database.reconnects)],
        )
    )
    return Response(HTTPStatus.OK, render(families).encode("utf-8"), METRICS_TYPE)


def _state_families(daemon: Observed) -> list[Family]:
    held = daemon.holdings
    return [
        gauge("maildesk_node_info", "This daemon's node name.", {(("node", held.node),): 1}),
        gauge(
            "maildesk_sweep_lock_held",
            "1 while this daemon holds the sweep lock (it sweeps; others stand by).",
            {(("node", held.node),): held.sweeps},
        ),
        gauge(
            "maildesk_imap_account_held",
            "1 while this daemon reads the IMAP account; 0 while another daemon does.",
            {
                (("account", a.name), ("node", held.node)): a.name in held.imap
                for a in daemon.accounts
            },
        ),
        gauge(
            "maildesk_ready",
            "1 while the daemon takes mail (started, not stopping).",
            {(): daemon.ready and not daemon.stopping},
        ),
        gauge("maildesk_start_time_seconds", "Start time, Unix seconds.", {(): daemon.started_at}),
        gauge(
            "maildesk_imap_connected",
            "1 while the IMAP account is logged in and collecting.",
            {(("account", a.name),): a.state == "connected" for a in daemon.accounts},
        ),
        Family(
            "maildesk_imap_reconnects_total",
            "counter",
            "Sessions an IMAP account opened again after losing one, since start.",
            [("", (("account", a.name),), max(0, a.logins - 1)) for a in daemon.accounts],
        ),
        gauge(
            "maildesk_relay_up",
            "0 while deliveries to the relay fail; 1 otherwise.",
            {(): daemon.relay.state != "failing"},
        ),
    ]


def _store_families(conn: Connection) -> list[Family]:
    tickets = queries.ticket_counts(conn)
    outbox = queries.outbox_counts(conn)
    families = [
        gauge(
            "maildesk_tickets",
            "Tickets by queue and state.",
            {(("queue", q), ("state", s)): n for (q, s), n in sorted(tickets.items())},
        ),
        gauge(
            "maildesk_outbox_messages",
            "Outgoing mail by state (pending, failed, bounced, sent).",
            {
                (("state", s),): outbox.get(s, 0)
                for s in sorted({"pending", "failed", "bounced", "sent", *outbox})
            },
        ),
    ]
    escalated = queries.escalated_counts(conn)
    if escalated is not None:
        families.append(
            gauge(
                "maildesk_tickets_escalated",
                "Tickets escalated, by queue.",
                {(("queue", q),): n for q, n in sorted(escalated.items())},
            )
        )
    return families
