"""Outgoing mail through a real SMTP relay on loopback: outage, recovery, permanent failure."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers import SmtpSink
from tests.support.daemon import Maildesk, mail


@pytest.fixture
def relayed(tmp_path: Path, smtp_sink: SmtpSink) -> Iterator[Maildesk]:
    daemon = Maildesk(
        tmp_path / "desk",
        extra_config=(
            f'[outgoing]\ntransport = "smtp"\nhost = "127.0.0.1"\nport = {smtp_sink.port}\n'
            'tls = "none"\nretry_seconds = 1\n'
        ),
    )
    daemon.start()
    try:
        yield daemon
    finally:
        assert daemon.stop() == 0, daemon.log()


def wait_outbox(desk: Maildesk, predicate: Any, timeout: float = 20.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    rows: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        rows = desk.json("outbox")
        if predicate(rows):
            return rows
        time.sleep(0.2)
    raise AssertionError(f"outbox never reached the expected state: {rows}\n{desk.log()}")


def test_acknowledgements_go_through_the_relay(relayed: Maildesk, smtp_sink: SmtpSink) -> None:
    relayed.send(mail("ana@example.com", "info@uni.example", "Hola", message_id="<r1@example.com>"))
    [received] = smtp_sink.wait_for(1, timeout=15)
    assert received.mail_from == "info@uni.example"
    assert received.rcpt_tos == ("ana@example.com",)
    assert b"Subject: [INFO#1] Hola" in received.data
    rows = wait_outbox(relayed, lambda rows: rows and rows[0]["state"] == "sent")
    assert rows[0]["attempts"] == 1


def test_a_relay_outage_delays_mail_and_loses_none(relayed: Maildesk, smtp_sink: SmtpSink) -> None:
    smtp_sink.stop()
    for n in range(3):
        relayed.send(
            mail(f"p{n}@example.com", "info@uni.example", f"Caso {n}", message_id=f"<o{n}@x>")
        )
    # Ingest goes on while the relay is down; the acknowledgements wait with their error.
    assert len(relayed.json("tickets")) == 3
    rows = wait_outbox(
        relayed, lambda rows: len(rows) == 3 and all(r["attempts"] >= 1 for r in rows)
    )
    assert all(r["state"] == "pending" and r["last_error"] for r in rows)
    smtp_sink.start()
    received = smtp_sink.wait_for(3, timeout=30)
    wait_outbox(relayed, lambda rows: all(r["state"] == "sent" for r in rows))
    time.sleep(1.5)  # a further pass must not send anything twice
    assert len(smtp_sink.messages) == 3
    assert sorted(m.rcpt_tos[0] for m in received) == [f"p{n}@example.com" for n in range(3)]


def test_a_permanent_refusal_is_recorded_and_can_be_retried(
    relayed: Maildesk, smtp_sink: SmtpSink
) -> None:
    smtp_sink.fail_with = "550 5.1.1 no such user"
    relayed.send(mail("gone@example.com", "info@uni.example", "Hola"))
    rows = wait_outbox(relayed, lambda rows: rows and rows[0]["state"] == "failed")
    assert rows[0]["last_error"].startswith("550")
    assert "failed permanently" in relayed.log()
    smtp_sink.fail_with = None
    relayed.cli("outbox", "retry", str(rows[0]["id"]))
    smtp_sink.wait_for(1, timeout=15)
    wait_outbox(relayed, lambda rows: rows[0]["state"] == "sent")
