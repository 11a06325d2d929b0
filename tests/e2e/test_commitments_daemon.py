"""Commitments through ``maildesk run``: a bare #pendiente is no answer, a breach reaches
someone without [[escalations]], and the monthly report judges answers as the clock does.

Real SMTP into the daemon's listener, the outbox folder out, the CLI to read. The daemon's
clock is moved as in ``test_sla_daemon.py``: the ticket's instants are set back in time.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from maildesk.clock import SystemClock
from tests.support.daemon import Maildesk, mail
from tests.support.desks import QUEUES
from tests.support.messages import parse_mail

ALL_WEEK = "".join(
    f'{day} = "00:00-24:00"\n' for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
)
BASE = f"""
[calendar]
{ALL_WEEK}first_response_hours = 1

[sla]
sweep_seconds = 1

[[agents]]
name = "Berta Gómez"
addresses = ["berta@uni.example"]
groups = ["secretaria"]

[[agents]]
name = "Carlos"
addresses = ["carlos@uni.example"]
groups = ["secretaria"]
coordinator = true
"""
CONTACTS = """
[[escalations]]
level = 1
notify = ["coord@uni.example"]
"""
ZONE = ZoneInfo("America/Santo_Domingo")  # the default [maildesk] timezone


def outbox(desk: Maildesk) -> list[EmailMessage]:
    files = sorted(desk.outbox.glob("*.eml")) if desk.outbox.exists() else []
    return [parse_mail(p.read_bytes()) for p in files]


def wait_for(what: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = what()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"still waiting after {timeout} s")


def escalations(desk: Maildesk) -> list[EmailMessage]:
    return [m for m in outbox(desk) if str(m["Subject"]).startswith("Escalado")]


def ago(hours: float) -> str:
    return (SystemClock().now() - timedelta(hours=hours)).isoformat(timespec="microseconds")


def set_columns(desk: Maildesk, **values: str) -> None:
    """Move ticket 1's instants: as if its mail, or its wait, began earlier."""
    assignments = ", ".join(f"{name} = ?" for name in values)
    with sqlite3.connect(desk.folder / "maildesk.db", timeout=30) as conn:
        conn.execute(
            f"UPDATE tickets SET {assignments} WHERE number = 1",  # noqa: S608 - our names
            tuple(values.values()),
        )


def state(desk: Maildesk) -> str:
    return str(desk.json("show", "1")["state"])


def agent_answer(notification: EmailMessage, body: str, n: int) -> EmailMessage:
    """Berta's answer to the notification, from her mail client (above the marker)."""
    message = EmailMessage()
    message["From"] = "Berta Gómez <berta@uni.example>"
    message["To"] = str(notification["Reply-To"])
    message["Subject"] = f"RE: {notification['Subject']}"
    message["Message-ID"] = f"<berta{n}@uni.example>"
    message["In-Reply-To"] = notification["Message-ID"]
    message["References"] = notification["Message-ID"]
    message.set_content(body)
    return message


def open_then_bare_pending(desk: Maildesk) -> None:
    """Ana's request; Berta answers the notification with a bare #pendiente, no text."""
    desk.send(
        mail(
            "Ana Pérez <ana@alumnos.example>",
            "info@uni.example",
            "Certificado de notas",
            message_id="<req1@alumnos.example>",
        )
    )
    found = wait_for(
        lambda: [m for m in outbox(desk) if m["To"] == "Berta Gómez <berta@uni.example>"]
    )
    desk.send(agent_answer(found[0], "#pendiente\n", 1))
    wait_for(lambda: state(desk) == "pending")


def requester_writes_back(desk: Maildesk) -> None:
    desk.send(
        mail(
            "Ana Pérez <ana@alumnos.example>",
            "info@uni.example",
            "Re: [INFO#1] Certificado de notas",
            "Adjunto lo que pidieron.",
            message_id="<req2@alumnos.example>",
        )
    )
    wait_for(lambda: state(desk) == "open")


def test_a_bare_pending_pauses_the_first_response_and_a_breach_escalates(tmp_path: Path) -> None:
    desk = Maildesk(tmp_path / "desk", BASE + CONTACTS, queues=QUEUES)
    desk.start()
    try:
        open_then_bare_pending(desk)
        # The mail came 3 h 30 ago and the ticket was pending for the last 3 h of it.
        set_columns(desk, response_from=ago(3.5), pending_since=ago(3))
        requester_writes_back(desk)
        # Still the first response, owed 30 min more: the 3 h pending were given back.
        [row] = desk.json("sla", "--all")
        assert (row["commitment"], row["status"]) == ("first response", "on time")
        assert 0.4 < row["working_hours_left"] < 0.55
        time.sleep(2.5)  # sweeps ran: nothing is breached
        assert not escalations(desk)
        # An hour later with no answer: the breach escalates.
        set_columns(desk, response_from=ago(4.6), sla_next_at=ago(0))
        [notice] = wait_for(lambda: escalations(desk))
        assert notice["To"] == "coord@uni.example"
        assert desk.json("show", "1")["escalation_level"] == 1
    finally:
        assert desk.stop() == 0, desk.log()
    assert "escalated ticket=INFO#1 level=1 (first_response due" in desk.log()


def test_without_escalations_a_breach_reaches_the_coordinator(tmp_path: Path) -> None:
    desk = Maildesk(tmp_path / "desk", BASE, queues=QUEUES)
    desk.start()
    try:
        checked = desk.cli("check").stdout
        assert "escalations info: level 1 -> carlos@uni.example (no [[escalations]]" in checked
        desk.send(
            mail("Ana Pérez <ana@alumnos.example>", "info@uni.example", "Certificado de notas")
        )
        wait_for(lambda: len(outbox(desk)) >= 2)  # the acknowledgement, Berta's notification
        set_columns(desk, response_from=ago(2), sla_next_at=ago(2))
        [notice] = wait_for(lambda: escalations(desk))
        assert notice["To"] == "carlos@uni.example"
        assert str(notice["Subject"]).startswith("Escalado, nivel 1: [INFO#1]")
    finally:
        assert desk.stop() == 0, desk.log()
    assert "notified carlos@uni.example" in desk.log()


def test_the_report_counts_time_pending_as_the_clock_does(tmp_path: Path) -> None:
    desk = Maildesk(tmp_path / "desk", BASE + CONTACTS, queues=QUEUES)
    desk.start()
    try:
        open_then_bare_pending(desk)
        opened = ago(5.5)  # 5 h 30 ago, then pending for 5 h: 30 min counted
        set_columns(desk, created_at=opened, response_from=opened, pending_since=ago(5))
        requester_writes_back(desk)
        notice = [m for m in outbox(desk) if m["To"] == "Berta Gómez <berta@uni.example>"][-1]
        desk.send(agent_answer(notice, "Adjunto el certificado.", 2))
        wait_for(lambda: desk.json("show", "1").get("first_response_at"))
        month = datetime.fromisoformat(opened).astimezone(ZONE).strftime("%Y-%m")
        report = json.loads(desk.cli("report", "--month", month, "--format", "json").stdout)
    finally:
        assert desk.stop() == 0, desk.log()
    total = report["lines"][0]
    assert (total["answered_on_time"], total["answered_late"]) == (1, 0)
    assert 0.45 < total["first_response_median_h"] < 0.6
    assert "escalated" not in desk.log()
