"""The outbox rows' states: a bounce that came back while the row was in the sender's
hands is kept, whatever the sender then records (sent, or failed for good)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from maildesk.store.store import OutgoingMail, Store

pytestmark = pytest.mark.stores("sqlite", "postgresql")

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def _row(store: Store, message_id: str) -> int:
    mail = OutgoingMail(None, "ack", message_id, "info@uni.example", ["ana@example.com"], b"x")
    with store.transaction():
        return store.enqueue(mail, None, NOW)


def _state(store: Store, row_id: int) -> str:
    row = store.conn.execute("SELECT state FROM outbox WHERE id = ?", (row_id,)).fetchone()
    return str(row[0])


def test_a_bounce_recorded_meanwhile_stays_after_sent_or_failed(store: Store) -> None:
    sent, failed, plain = _row(store, "a@x"), _row(store, "b@x"), _row(store, "c@x")
    bounced = store.bounce_outbox(["a@x", "b@x"], "550 no such user")
    assert sorted(b.row for b in bounced) == [sent, failed]
    store.outbox_sent(sent, NOW)
    store.outbox_failed(failed, "554 refused")
    store.outbox_failed(plain, "554 refused")
    assert (_state(store, sent), _state(store, failed)) == ("bounced", "bounced")
    assert _state(store, plain) == "failed"  # a row nothing bounced is failed as before
