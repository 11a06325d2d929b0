"""Outbox rows claimed for sending, so that several daemons on one database send each once.

On PostgreSQL a daemon claims due rows in a short transaction: ``FOR UPDATE SKIP LOCKED``
lets two daemons claiming at the same moment pass over each other's rows instead of
waiting, and the claim names the database session that took it. A claim counts only
while that session lives: a daemon that dies (killed, its machine gone) loses its
session, and its rows are due again for the others at once, with no lease to wait out.
Sending, retrying or failing a row ends its claim (store.py); a daemon that stops with
rows in hand gives them back (``release``), so another need not wait for its session to
close.

On SQLite one daemon is the only writer: the writer thread is the claim.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from maildesk.store.store import Store, from_iso, iso

# The session that claims, as PostgreSQL names it: a pid alone may be reused.
_SESSION = "CAST(a.pid AS TEXT) || '/' || CAST(a.backend_start AS TEXT)"
# A row no live session holds: free, or held by a session that is gone.
_UNHELD = (
    "(o.claimed_by IS NULL OR o.claimed_by NOT IN"  # noqa: S608 - fixed text
    f" (SELECT {_SESSION} FROM pg_stat_activity a WHERE a.backend_start IS NOT NULL))"
)


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
            f"  AND {_UNHELD}"
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


def next_due_at(store: Store) -> datetime | None:
    """When the next pending row this daemon may claim is due (None: none is pending).

    Rows another live daemon holds are left out: they are its to send, and counting
    them would make a daemon with nothing to claim look again at once, over and over.
    """
    if not store.dialect.is_postgres:
        return store.next_outbox_at()
    row = store.conn.execute(
        f"SELECT MIN(o.next_attempt_at) FROM outbox o WHERE o.state = 'pending' AND {_UNHELD}"  # noqa: S608 - fixed text
    ).fetchone()
    return from_iso(row[0]) if row and row[0] else None


def release(store: Store, row_ids: list[int]) -> int:
    """Give back rows this daemon holds unsent (it stops with them in hand), so another
    daemon may take them at once rather than when this one's session closes; how many."""
    if not row_ids or not store.dialect.is_postgres:
        return 0
    marks = ",".join("?" * len(row_ids))
    cursor = store.conn.execute(
        "UPDATE outbox SET claimed_by = NULL"  # noqa: S608 - only '?' marks
        f" WHERE id IN ({marks}) AND state = 'pending' AND claimed_by ="
        f" (SELECT {_SESSION} FROM pg_stat_activity a WHERE a.pid = pg_backend_pid())",
        row_ids,
    )
    return max(cursor.rowcount, 0)
