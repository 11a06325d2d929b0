"""The figures /metrics reads from the store, escalations included once the schema has them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from maildesk.model import State
from maildesk.store import queries
from maildesk.store.database import columns
from maildesk.store.store import NewTicket, Store

pytestmark = pytest.mark.stores("sqlite", "postgresql")

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _ticket(store: Store, queue: str) -> int:
    return store.insert_ticket(
        NewTicket(queue, f"{queue}@uni.example", "Asunto", "a@example.com", "A", "es", None, None),
        NOW,
    )


def test_tickets_outbox_and_escalations_are_counted(store: Store) -> None:
    with store.transaction():
        first, _, third = _ticket(store, "info"), _ticket(store, "info"), _ticket(store, "crm")
        store.set_state(third, State.CLOSED, NOW)
    conn = store.conn
    assert queries.ticket_counts(conn) == {("info", "new"): 2, ("crm", "closed"): 1}
    assert queries.outbox_counts(conn) == {}
    if "escalation_level" not in columns(conn, "tickets"):  # before the SLA migration
        assert queries.escalated_counts(conn) is None
        conn.execute("ALTER TABLE tickets ADD COLUMN escalation_level INTEGER DEFAULT 0")
    assert queries.escalated_counts(conn) == {}
    conn.execute("UPDATE tickets SET escalation_level = 2 WHERE number = ?", (first,))
    assert queries.escalated_counts(conn) == {"info": 1}
