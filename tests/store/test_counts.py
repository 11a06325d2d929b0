"""The figures /metrics reads from the store, escalations included once the schema has them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from maildesk.model import State
from maildesk.store import queries
from maildesk.store.store import NewTicket, Store

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _ticket(store: Store, queue: str) -> int:
    return store.insert_ticket(
        NewTicket(queue, f"{queue}@uni.example", "Asunto", "a@example.com", "A", "es", None, None),
        NOW,
    )


def test_tickets_outbox_and_escalations_are_counted(tmp_path: Path) -> None:
    store = Store(tmp_path / "desk.db")
    try:
        with store.transaction():
            first, _, third = _ticket(store, "info"), _ticket(store, "info"), _ticket(store, "crm")
            store.set_state(third, State.CLOSED, NOW)
        conn = store.conn
        assert queries.ticket_counts(conn) == {("info", "new"): 2, ("crm", "closed"): 1}
        assert queries.outbox_counts(conn) == {}
        columns = {row[1] for row in conn.execute("PRAGMA table_info(tickets)")}
        if "escalation_level" not in columns:  # before the SLA migration: nothing to report
            assert queries.escalated_counts(conn) is None
            conn.execute("ALTER TABLE tickets ADD COLUMN escalation_level INTEGER DEFAULT 0")
        assert queries.escalated_counts(conn) == {}
        conn.execute("UPDATE tickets SET escalation_level = 2 WHERE number = ?", (first,))
        assert queries.escalated_counts(conn) == {"info": 1}
    finally:
        store.close()
