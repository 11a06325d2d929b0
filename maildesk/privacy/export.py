"""``maildesk export``: everything held about a requester, as JSON and .eml files (a
subject access request)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from maildesk.privacy.purge import mentions
from maildesk.store import queries
from maildesk.store.database import Connection, dialect_of


def export(
    conn: Connection,
    tags: dict[str, str],
    address: str,
    folder: Path,
    *,
    pseudonym: str | None = None,
    open_raw: Callable[[bytes], bytes] = lambda raw: raw,
) -> dict[str, int]:
    """Write everything held about ``address`` into ``folder``: ``requester.json`` and each
    message as ``messages/<id>.eml`` (quarantined mail as ``quarantine/<id>.eml``).

    That is its tickets with all their messages and events, the messages it wrote to,
    received from or was copied on in other tickets, and its quarantined mail; and the
    same under ``pseudonym``, its name in anonymous queues (``open_raw`` opens that mail).
    """
    address = address.strip().lower()
    names = [address, *([pseudonym] if pseudonym else [])]
    numbers = sorted(
        row[0]
        for name in names
        for row in conn.execute("SELECT number FROM tickets WHERE lower(requester) = ?", (name,))
    )
    tickets = [t for t in (queries.ticket_detail(conn, tags, n) for n in numbers) if t]
    dialect = dialect_of(conn)
    others = [
        {**dict(row), "to_addrs": json.loads(row[7]), "cc_addrs": json.loads(row[8])}
        for name in names
        for row in conn.execute(
            "SELECT id, ticket, direction, kind, message_id, from_addr, from_name, to_addrs,"  # noqa: S608
            " cc_addrs, subject, body, sent_at, received_at FROM messages"
            f" WHERE (lower(from_addr) = ? OR {mentions(dialect, 'to_addrs')}"
            f" OR {mentions(dialect, 'cc_addrs')})"
            " AND (ticket IS NULL OR ticket NOT IN"
            "  (SELECT number FROM tickets WHERE lower(requester) = ?))"
            " ORDER BY id",
            (name, name, name, name),
        )
    ]
    held = [
        dict(row)
        for name in names
        for row in conn.execute(
            "SELECT id, received_at, source, reason, envelope_from, size FROM quarantine"
            " WHERE lower(envelope_from) = ? ORDER BY id",
            (name,),
        )
    ]
    folder.mkdir(parents=True, exist_ok=True)
    files = 0
    for message in [m for t in tickets for m in t["messages"]] + others:
        raw = _raw_message(conn, message["id"])
        if raw is not None:
            message["eml"] = _write(folder, "messages", message["id"], open_raw(raw))
            files += 1
    for item in held:
        raw = open_raw(_raw_quarantined(conn, item["id"]))
        item["eml"] = _write(folder, "quarantine", item["id"], raw)
        files += 1
    surveys = [
        dict(row)
        for name in names
        for row in conn.execute(
            "SELECT ticket, sent_at, expires_at, solved, score, comment, recommend,"
            " answered_at, answered_via FROM surveys WHERE requester = ? ORDER BY ticket",
            (name,),
        )
    ]
    opted_out = [
        row[0]
        for name in names
        for row in conn.execute("SELECT created_at FROM survey_optouts WHERE address = ?", (name,))
    ]
    document = {
        "requester": address,
        **({"pseudonym": pseudonym} if pseudonym else {}),
        "tickets": tickets,
        "surveys": surveys,
        "surveys_opted_out_at": opted_out[0] if opted_out else None,
        "messages_in_other_tickets": others,
        "quarantined": held,
    }
    (folder / "requester.json").write_text(
        json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return {
        "tickets": len(tickets),
        "messages": sum(len(t["messages"]) for t in tickets) + len(others),
        "files": files,
    }


def _write(folder: Path, kind: str, number: int, raw: bytes) -> str:
    path = folder / kind / f"{number:08d}.eml"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(raw)
    return f"{kind}/{path.name}"


def _raw_message(conn: Connection, message: int) -> bytes | None:
    """The message as it was received, or, for ours, as it was sent."""
    row = conn.execute(
        "SELECT b.data FROM messages m JOIN blobs b ON b.sha256 = m.raw_sha256 WHERE m.id = ?",
        (message,),
    ).fetchone()
    if row is None:
        row = conn.execute(
            "SELECT raw FROM outbox WHERE message = ? ORDER BY id LIMIT 1", (message,)
        ).fetchone()
    return None if row is None else bytes(row[0])


def _raw_quarantined(conn: Connection, item: int) -> bytes:
    return queries.quarantined_raw(conn, item) or b""
