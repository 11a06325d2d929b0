"""``maildesk run`` escalates a breached ticket from its own timed sweep, once, across restarts."""

from __future__ import annotations

import email
import email.policy
import sqlite3
import time
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

from maildesk.clock import SystemClock
from tests.support.daemon import Maildesk, mail

ALL_WEEK = "".join(
    f'{day} = "00:00-24:00"\n' for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
)
CONFIG = f"""
[calendar]
{ALL_WEEK}first_response_hours = 1

[sla]
sweep_seconds = 1

[[escalations]]
level = 1
notify = ["coord@uni.example"]
"""


def read_eml(path: Path) -> EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def escalations(desk: Maildesk) -> list[EmailMessage]:
    found = [read_eml(p) for p in sorted(desk.outbox.glob("*.eml"))]
    return [m for m in found if str(m["Subject"]).startswith("Escalado")]


def test_the_daemon_escalates_a_breached_ticket_once(tmp_path: Path) -> None:
    desk = Maildesk(tmp_path / "desk", CONFIG)
    desk.start()
    try:
        desk.send(
            mail(
                "Ana Pérez <ana@alumnos.example>",
                "info@uni.example",
                "Certificado de notas",
                message_id="<m1@alumnos.example>",
            )
        )
        desk.outbox_files(1)  # the acknowledgement
        [ticket] = desk.json("sla", "--all")
        assert (ticket["ref"], ticket["status"], ticket["commitment"]) == (
            "INFO#1",
            "on time",
            "first response",
        )
        # Make two hours pass for this ticket: its mail arrived two hours ago.
        earlier = (SystemClock().now() - timedelta(hours=2)).isoformat(timespec="microseconds")
        with sqlite3.connect(desk.folder / "maildesk.db", timeout=30) as conn:
            conn.execute(
                "UPDATE tickets SET response_from = ?, sla_next_at = ? WHERE number = 1",
                (earlier, earlier),
            )
        deadline = time.monotonic() + 20
        while not escalations(desk) and time.monotonic() < deadline:
            time.sleep(0.1)
        [notice] = escalations(desk)
        assert notice["Subject"] == "Escalado, nivel 1: [INFO#1] Certificado de notas"
        assert notice["To"] == "coord@uni.example"
        assert notice["Auto-Submitted"] == "auto-generated"
        [row] = desk.json("sla")
        assert (row["status"], row["escalation_level"]) == ("breached", 1)
        assert row["working_hours_left"] < -0.9
    finally:
        assert desk.stop() == 0, desk.log()
    assert "escalated ticket=INFO#1 level=1" in desk.log()

    desk.start()  # the first sweeps after a restart find nothing left to do
    try:
        time.sleep(3)
        assert len(escalations(desk)) == 1
        assert desk.json("show", "1")["escalation_level"] == 1
    finally:
        assert desk.stop() == 0, desk.log()
