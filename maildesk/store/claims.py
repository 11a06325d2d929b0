"""Outbox rows claimed for sending, so that several daemons on one database send each once.

On PostgreSQL a daemon claims due rows in a short transaction: ``FOR UPDATE SKIP LOCKED``
lets two daemons claiming at the same moment pass over each other's rows instead of
waiting, and the claim names the database session that took it. A claim counts only
while that session lives: a daemon that dies (killed, its machine gone) loses its
session, and its rows are due again for the others at once, with no lease to wait out.
Sending, retrying or failing a row ends its claim (store.py).

On SQLite one daemon is the only writer: the writer thread is the claim.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from maildesk.store.store import Store, iso

# The session that claims, as PostgreSQL names it: a pid alone may be reused.
_SESSION = "CAST(a.pid AS TEXT) || '/' || CAST(a.backend_start AS TEXT)"


def claim_due(store: Store, now: datetime, limit: int = 50) -> list[Any]:
    """Pending rows due by ``now`` that this store's session now holds (and may send),
    each with its ticket's queue; rows another live daemon holds are left to it."""
    if not store.dialect.is_postgres:
        return store.due_outbox(now, limit)
    with store.transaction():
        claimed = store.conn.execute(
            f"UPDATE outbox SET claimed_by = (SELECT {_SESSION} FROM pg_stat_activity a"  # noqa: S608 - fixed text
            "  WHERE a.pid = pg_backend_pid())"
            " WHERE id IN (SELECT o.id FROM outbox o"
            "  WHERE o.state = 'pending' AND o.next_attempt_at <= ?"
            "  AND (o.claimed_by IS NULL OR o.claimed_by NOT IN"
            f"   (SELECT {_SESSION} FROM pg_stat_activity a WHERE a.backend_start IS NOT NULL))"
            "  ORDER BY o.next_attempt_at, o.id LIMIT ? FOR UPDATE SKIP LOCKED)"
            " RETURNING id",
            (iso(now), limit),
        ).fetchall()
    if not claimed:
        return []
    ids = [int(row[0]) for row in claimed]
    marks = ",".join("?" * len(ids))
    return store.conn.execute(
        "SELECT o.*, t.queue AS ticket_queue FROM outbox o"  # noqa: S608 - only '?' marks
        f" LEFT JOIN tickets t ON t.number = o.ticket WHERE o.id IN ({marks})"
        " ORDER BY o.next_attempt_at, o.id",
        ids,
    ).fetchall()


def release(store: Store, row_ids: list[int]) -> None:
    """Give rows back unsent (a daemon stopping with rows in hand): others may take them."""
    if not row_ids or not store.dialect.is_postgres:
        return
    store.conn.executemany(
        "UPDATE outbox SET claimed_by = NULL WHERE id = ? AND state = 'pending'",
        [(row_id,) for row_id in row_ids],
    )
