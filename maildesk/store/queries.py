"""Read-only views of the store for the CLI (and later reports): plain dicts, JSON-ready."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from maildesk.errors import MaildeskError
from maildesk.store.database import Connection, columns, is_url


def open_readonly(path: Path) -> sqlite3.Connection:
    """Open an existing SQLite store for reading; the daemon may be writing meanwhile (WAL)."""
    if not path.exists():
        raise MaildeskError(f"no database at {path} (has maildesk run yet?)")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    conn.row_factory = sqlite3.Row
    return conn


def open_reader(location: Path | str, password_env: str = "") -> Connection:
    """Open an existing store, SQLite or PostgreSQL, for reading."""
    if not is_url(location):
        return open_readonly(Path(location))
    from maildesk.store.postgres import connect_postgres  # psycopg is an optional extra

    conn = connect_postgres(str(location), password_env)
    conn.execute("SET default_transaction_read_only = on")
    return conn


def _tag_sql(tags: dict[str, str]) -> tuple[str, list[str]]:
    # The tag is configuration, not data: map queue -> tag in SQL with a CASE.
    if not tags:
        return "upper(t.queue)", []
    cases = " ".join("WHEN ? THEN ?" for _ in tags)
    params = [v for pair in tags.items() for v in pair]
    return f"CASE t.queue {cases} ELSE upper(t.queue) END", params


def list_tickets(
    conn: Connection,
    tags: dict[str, str],
    *,
    state: str | None = None,
    queue: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    tag_sql, params = _tag_sql(tags)
    where, args = [], []
    if state:
        where.append("t.state = ?")
        args.append(state)
    if queue:
        where.append("t.queue = ?")
        args.append(queue)
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    sql = (
        f"SELECT t.number, {tag_sql} || '#' || t.number AS ref, t.queue, t.state, t.subject,"  # noqa: S608
        " t.requester, t.requester_name, t.created_at, t.updated_at, t.closed_at, t.linked_to,"
        " t.claimed_tag,"
        " (SELECT count(*) FROM messages m WHERE m.ticket = t.number) AS message_count"
        f" FROM tickets t {clause} ORDER BY t.number DESC LIMIT ?"
    )
    return [dict(r) for r in conn.execute(sql, [*params, *args, limit])]


def ticket_detail(conn: Connection, tags: dict[str, str], number: int) -> dict[str, Any] | None:
    tag_sql, params = _tag_sql(tags)
    row = conn.execute(
        f"SELECT t.*, {tag_sql} || '#' || t.number AS ref FROM tickets t WHERE t.number = ?",  # noqa: S608
        [*params, number],
    ).fetchone()
    if row is None:
        return None
    ticket = dict(row)
    ticket["participants"] = [
        dict(r)
        for r in conn.execute(
            "SELECT address, role FROM participants WHERE ticket = ? ORDER BY address", (number,)
        )
    ]
    messages = []
    for m in conn.execute(
        "SELECT id, direction, kind, message_id, from_addr, from_name, to_addrs, cc_addrs, subject,"
        " body, sent_at, received_at, source, note FROM messages WHERE ticket = ? ORDER BY id",
        (number,),
    ):
        message = dict(m)
        message["to_addrs"] = json.loads(message["to_addrs"])
        message["cc_addrs"] = json.loads(message["cc_addrs"])
        message["attachments"] = [
            dict(a)
            for a in conn.execute(
                "SELECT filename, content_type, size, sha256 FROM attachments WHERE message = ?"
                " ORDER BY id",
                (m["id"],),
            )
        ]
        messages.append(message)
    ticket["messages"] = messages
    ticket["message_count"] = len(messages)
    ticket["events"] = [
        dict(e)
        for e in conn.execute(
            "SELECT at, kind, detail FROM events WHERE ticket = ? ORDER BY id", (number,)
        )
    ]
    return ticket


def list_quarantine(conn: Connection, limit: int = 100) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT id, received_at, source, reason, envelope_from, recipients, size, raw_sha256"
        " FROM quarantine ORDER BY id DESC LIMIT ?",
        (limit,),
    )
    return [{**dict(r), "recipients": json.loads(r["recipients"])} for r in rows]


def quarantined_raw(conn: Connection, item: int) -> bytes | None:
    row = conn.execute(
        "SELECT b.data FROM quarantine q JOIN blobs b ON b.sha256 = q.raw_sha256 WHERE q.id = ?",
        (item,),
    ).fetchone()
    return None if row is None else bytes(row[0])


def list_outbox(
    conn: Connection, state: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    where = "WHERE state = ?" if state else ""
    args: list[Any] = [state] if state else []
    rows = conn.execute(
        "SELECT id, ticket, kind, message_id, mail_from, rcpt_to, state, attempts,"  # noqa: S608
        f" next_attempt_at, last_error, created_at, sent_at FROM outbox {where}"
        " ORDER BY id DESC LIMIT ?",
        [*args, limit],
    )
    return [{**dict(r), "rcpt_to": json.loads(r["rcpt_to"])} for r in rows]


def ticket_counts(conn: Connection) -> dict[tuple[str, str], int]:
    """Tickets by (queue, state)."""
    return {
        (row[0], row[1]): int(row[2])
        for row in conn.execute("SELECT queue, state, count(*) FROM tickets GROUP BY queue, state")
    }


def outbox_counts(conn: Connection) -> dict[str, int]:
    """Outbox rows by state (pending, sent, failed, bounced)."""
    return {
        row[0]: int(row[1]) for row in conn.execute("SELECT state, count(*) FROM outbox GROUP BY 1")
    }


# Columns that, where a later schema has one, mark a ticket as escalated.
_ESCALATION_COLUMNS = ("escalation_level", "escalated_at")


def escalated_counts(conn: Connection) -> dict[str, int] | None:
    """Escalated tickets by queue; None while the schema records no escalations."""
    present = columns(conn, "tickets")
    column = next((c for c in _ESCALATION_COLUMNS if c in present), None)
    if column is None:
        return None
    return {
        row[0]: int(row[1])
        for row in conn.execute(
            f"SELECT queue, count(*) FROM tickets WHERE coalesce({column}, 0) != 0"  # noqa: S608 - a fixed name
            " GROUP BY queue"
        )
    }
