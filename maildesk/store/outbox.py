"""The outbox's rows: written inside the transaction that causes them, then sent,
retried, failed or bounced (ARCHITECTURE.md invariant 3); and how much went to one
recipient lately, which the loop guards count.

Part of ``Store`` (store.py), on its connection; claims among several daemons are in
claims.py.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from maildesk.store.database import Connection, Cursor
from maildesk.store.rows import Bounced, OutgoingMail, from_iso, iso


class OutboxRows:
    """The outbox half of ``Store``."""

    conn: Connection

    def enqueue(self, mail: OutgoingMail, message: int | None, now: datetime) -> int:
        cursor = self.conn.execute(
            "INSERT INTO outbox (ticket, message, kind, message_id, mail_from, rcpt_to, recipient,"
            " raw, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " RETURNING id",
            (
                mail.ticket,
                message,
                mail.kind,
                mail.message_id,
                mail.mail_from,
                json.dumps(list(mail.rcpt_to)),
                mail.rcpt_to[0].lower() if mail.rcpt_to else "",
                mail.raw,
                iso(now),
                iso(now),
            ),
        )
        row_id = returned(cursor)
        self.conn.executemany(
            "INSERT INTO outbox_recipients (outbox, address, kind, created_at) VALUES (?, ?, ?, ?)",
            [(row_id, a.lower(), mail.kind, iso(now)) for a in dict.fromkeys(mail.rcpt_to)],
        )
        return row_id

    def automatic_sent_since(self, recipient: str, since: datetime) -> int:
        """How many automatic messages we queued for ``recipient`` since ``since``."""
        row = self.conn.execute(
            "SELECT count(*) FROM outbox WHERE recipient = ? AND created_at >= ?"
            " AND kind IN ('ack', 'survey', 'reminder', 'notice')",
            (recipient.lower(), iso(since)),
        ).fetchone()
        return int(row[0])

    def mail_to_since(self, recipient: str, since: datetime, leave_out: Sequence[str]) -> int:
        """How many mails we queued for ``recipient`` since ``since``, of any kind but
        ``leave_out``, whoever else they also went to (the loop cap)."""
        marks = ", ".join("?" * len(leave_out)) or "''"
        row = self.conn.execute(
            "SELECT count(*) FROM outbox_recipients WHERE address = ? AND created_at >= ?"  # noqa: S608 - placeholders only
            f" AND kind NOT IN ({marks})",
            (recipient.lower(), iso(since), *leave_out),
        ).fetchone()
        return int(row[0])

    def bounce_outbox(self, message_ids: Sequence[str], detail: str) -> list[Bounced]:
        """Mark our outgoing messages ``message_ids`` bounced; what each row was."""
        found = []
        for message_id in message_ids:
            for row in self.conn.execute(
                "SELECT id, ticket, kind, rcpt_to FROM outbox WHERE message_id = ?",
                (message_id,),
            ).fetchall():
                self.conn.execute(
                    "UPDATE outbox SET state = 'bounced', last_error = ? WHERE id = ?",
                    (detail[:500], row["id"]),
                )
                rcpt = tuple(str(a) for a in json.loads(row["rcpt_to"]))
                found.append(Bounced(row["id"], row["ticket"], row["kind"], rcpt))
        return found

    def due_outbox(self, now: datetime, limit: int = 50) -> list[Any]:
        """Pending rows due by ``now``, each with its ticket's queue (for log lines)."""
        return self.conn.execute(
            "SELECT o.*, t.queue AS ticket_queue FROM outbox o"
            " LEFT JOIN tickets t ON t.number = o.ticket"
            " WHERE o.state = 'pending' AND o.next_attempt_at <= ?"
            " ORDER BY o.next_attempt_at, o.id LIMIT ?",
            (iso(now), limit),
        ).fetchall()

    def next_outbox_at(self) -> datetime | None:
        row = self.conn.execute(
            "SELECT MIN(next_attempt_at) FROM outbox WHERE state = 'pending'"
        ).fetchone()
        return from_iso(row[0]) if row and row[0] else None

    # Sending, retrying and failing a row each end its claim (claims.py): a row is
    # claimed only while a daemon has it in hand.

    def outbox_sent(self, row_id: int, now: datetime) -> None:
        # A bounce may come back before the sender records the delivery: it stays bounced.
        self.conn.execute(
            "UPDATE outbox SET state = 'sent', sent_at = ?, attempts = attempts + 1,"
            " last_error = '', claimed_by = NULL WHERE id = ? AND state = 'pending'",
            (iso(now), row_id),
        )

    def outbox_retry(self, row_id: int, error: str, next_at: datetime) -> None:
        self.conn.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?,"
            " claimed_by = NULL WHERE id = ?",
            (error[:500], iso(next_at), row_id),
        )

    def outbox_requeue(self, row_id: int, now: datetime) -> bool:
        """Make a pending or failed row due now (an admin's "retry"); False if there is none."""
        cursor = self.conn.execute(
            "UPDATE outbox SET state = 'pending', next_attempt_at = ?, claimed_by = NULL"
            " WHERE id = ? AND state != 'sent'",
            (iso(now), row_id),
        )
        return cursor.rowcount == 1

    def outbox_failed(self, row_id: int, error: str) -> None:
        # As for a delivery, a bounce recorded meanwhile stays: it says more than "failed".
        self.conn.execute(
            "UPDATE outbox SET state = 'failed', attempts = attempts + 1, last_error = ?,"
            " claimed_by = NULL WHERE id = ? AND state = 'pending'",
            (error[:500], row_id),
        )


def returned(cursor: Cursor) -> int:
    """The key an ``INSERT … RETURNING`` gave (both databases; lastrowid is SQLite's)."""
    row = cursor.fetchone()
    if row is None:  # cannot happen after a plain INSERT; keeps the type honest
        raise RuntimeError("INSERT returned no row")
    return int(row[0])
