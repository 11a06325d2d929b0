"""Reminders, escalations and follow-ups with a fake clock, through the real store, the
pipeline (real mail in), the mailer and the outbox."""

from __future__ import annotations

import email
import email.policy
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from maildesk.clock import FakeClock
from maildesk.config import Config, parse
from maildesk.ingest.envelope import Envelope, Stored
from maildesk.model import State
from maildesk.sla.sweeps import SweepReport, Sweeps
from maildesk.store import tickets
from maildesk.store.store import Store
from tests.support.desk import build_pipeline

pytestmark = pytest.mark.stores("sqlite", "postgresql")

LOCAL = ZoneInfo("America/Santo_Domingo")  # UTC-4 all year
SLA_CONFIG = """
[sla]
resolution_hours = {resolution}
pending_close_days = {close}

[[queues]]
name = "info"
addresses = ["info@uni.example"]
tag = "INFO"

[[agents]]
name = "Berta"
addresses = ["berta@uni.example"]

[[escalations]]
queue = "info"
level = 0
notify = ["equipo@uni.example"]

[[escalations]]
queue = "info"
level = 1
notify = ["coord@uni.example"]

[[escalations]]
level = 2
after_hours = 24
notify = ["director@uni.example"]
"""
H = timedelta(hours=1)
POLICIES = """
[[sla_policies]]
priority = "urgent"
first_response_hours = 2

[[sla_policies]]
segment = "vip"
first_response_hours = 8
"""


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """March 2026 in Santo Domingo (the 6th is a Friday), as the UTC instant."""
    return datetime(2026, 3, day, hour, minute, tzinfo=LOCAL).astimezone(UTC)


FRIDAY_1930 = local(6, 19, 30)
WARN = local(10, 13, 30)  # 75 % of 24 working hours: 30 min Fri, 12 h Mon, 5 h 30 Tue
DUE = local(10, 19, 30)  # Tuesday 19:30 local, 23:30 UTC
SECOND = local(12, 19, 30)  # 24 working hours past the due time: level 2


class Desk:
    """A store file with the pipeline and the sweeps over it; ``restart`` reopens them all."""

    def __init__(
        self,
        folder: Path,
        location: Path | str,
        resolution: int = 0,
        close: int = 0,
        policies: str = "",
    ) -> None:
        text = SLA_CONFIG.format(resolution=resolution, close=close) + policies
        self.config: Config = parse(text, path=None, base_dir=folder)
        self.location = location
        self.clock = FakeClock(FRIDAY_1930)
        self._open()

    def _open(self) -> None:
        self.store = Store(self.location)
        self.pipeline = build_pipeline(self.config, self.store, self.clock)
        self.sweeps = Sweeps(self.pipeline.desk)

    def restart(self) -> None:
        self.store.close()
        self._open()

    def close(self) -> None:
        self.store.close()

    def mail(
        self, subject: str = "Consulta", sender: str = "Ana <ana@example.com>", n: int = 1
    ) -> Stored:
        message = EmailMessage()
        message["From"] = sender
        message["To"] = "info@uni.example"
        message["Subject"] = subject
        message["Message-ID"] = f"<m{n}.{self.clock.now().timestamp()}@example.com>"
        message.set_content(f"Mensaje {n}")
        outcome = self.pipeline.accept(
            message.as_bytes(), Envelope(sender, ["info@uni.example"], "smtp")
        )
        assert isinstance(outcome, Stored), outcome
        return outcome

    def sla(self, at: datetime) -> SweepReport:
        self.clock.set(at)
        return self.sweeps.run_sla(at)

    def follow_ups(self, at: datetime) -> SweepReport:
        self.clock.set(at)
        return self.sweeps.run_follow_ups(at)

    def ticket(self, number: int = 1) -> dict[str, Any]:
        row = self.store.conn.execute("SELECT * FROM tickets WHERE number = ?", (number,))
        return dict(row.fetchone())

    def outbox(self, *kinds: str) -> list[sqlite3.Row]:
        marks = ",".join("?" * len(kinds))
        return self.store.conn.execute(
            f"SELECT * FROM outbox WHERE kind IN ({marks}) ORDER BY id",  # noqa: S608
            kinds,
        ).fetchall()

    def events(self, kind: str) -> list[str]:
        rows = self.store.conn.execute(
            "SELECT detail FROM events WHERE kind = ? ORDER BY id", (kind,)
        )
        return [r[0] for r in rows]

    def set_state(self, state: State, at: datetime, number: int = 1) -> None:
        self.clock.set(at)
        with self.store.transaction():
            self.store.set_state(number, state, at)


@pytest.fixture
def desk(tmp_path: Path, store_location: Path | str) -> Iterator[Desk]:
    opened = Desk(tmp_path, store_location)
    yield opened
    opened.close()


def read(row: sqlite3.Row) -> EmailMessage:
    message = email.message_from_bytes(row["raw"], policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def body(row: sqlite3.Row) -> str:
    part = read(row).get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def test_a_request_on_friday_at_1930_is_due_tuesday_at_1930(desk: Desk) -> None:
    desk.mail()
    ticket = desk.ticket()
    # 30 min on Friday, 12 h on Monday, 11 h 30 on Tuesday: Tuesday 10 March 2026, 19:30
    # in Santo Domingo (UTC-4), which is 23:30 UTC.
    assert ticket["first_response_due"] == "2026-03-10T23:30:00.000000+00:00"
    assert ticket["risk_at"] == "2026-03-10T17:30:00.000000+00:00"  # Tuesday 13:30 local
    assert ticket["sla_next_at"] == ticket["risk_at"]
    assert ticket["response_kind"] == "first_response"
    assert ticket["next_response_due"] is None
    assert ticket["resolution_due"] is None  # no resolution commitment by default


def test_mail_received_at_the_weekend_starts_its_clock_on_monday(desk: Desk) -> None:
    desk.clock.set(local(7, 11))  # Saturday
    desk.mail()
    # Monday 08:00 + 24 h: Tuesday 20:00 local.
    assert desk.ticket()["first_response_due"] == "2026-03-11T00:00:00.000000+00:00"


def test_a_reminder_at_75_percent_then_escalation_at_breach_then_a_second_level(
    desk: Desk,
) -> None:
    desk.mail()
    assert not desk.sla(WARN - timedelta(minutes=1))
    warned = desk.sla(WARN)
    assert (warned.warned, warned.digests, warned.escalated) == (1, 1, 0)
    [digest] = desk.outbox("digest")
    assert read(digest)["To"] == "equipo@uni.example"  # no agent assigned: the queue's level 0
    assert read(digest)["Subject"] == "Recordatorio: 1 solicitud(es) cerca de su plazo"
    text = body(digest)
    assert "[INFO#1] Consulta" in text
    assert "vence el 2026-03-10 19:30 (quedan 6 h 00 min)" in text
    assert desk.events("sla-warning") == [
        "first_response due 2026-03-10T23:30:00+00:00; reminded equipo@uni.example"
    ]
    assert not desk.sla(WARN + H)  # warned once

    first = desk.sla(DUE)
    assert (first.warned, first.escalated) == (0, 1)
    [notice] = desk.outbox("escalation")
    assert read(notice)["To"] == "coord@uni.example"
    assert read(notice)["Subject"] == "Escalado, nivel 1: [INFO#1] Consulta"
    assert read(notice)["Message-ID"].startswith("<md.1.e.")  # a reply joins the ticket
    assert "se escala al nivel 1" in body(notice)
    assert "primera respuesta: vencía el 2026-03-10 19:30\r\n" in body(notice)  # just now
    ticket = desk.ticket()
    assert (ticket["escalation_level"], ticket["escalated_at"]) == (
        1,
        DUE.isoformat(timespec="microseconds"),
    )
    assert ticket["sla_next_at"] == "2026-03-12T23:30:00.000000+00:00"

    assert not desk.sla(SECOND - timedelta(seconds=1))
    second = desk.sla(SECOND)
    assert second.escalated == 1
    notices = desk.outbox("escalation")
    assert [read(n)["To"] for n in notices] == ["coord@uni.example", "director@uni.example"]
    assert read(notices[1])["Subject"] == "Escalado, nivel 2: [INFO#1] Consulta"
    assert desk.ticket()["escalation_level"] == 2
    assert desk.ticket()["sla_next_at"] is None  # nothing more to come
    assert not desk.sla(SECOND + 1000 * H)
    assert len(desk.events("escalated")) == 2


def test_nothing_repeats_after_a_restart(desk: Desk) -> None:
    desk.mail()
    desk.sla(WARN)
    desk.sla(DUE)
    desk.restart()  # a new Store on the same file, new pipeline and sweeps
    for at in (DUE, DUE + H, SECOND - H):
        assert not desk.sla(at)
    desk.restart()
    assert desk.sla(SECOND).escalated == 1
    desk.restart()
    assert not desk.sla(SECOND + H)
    assert len(desk.outbox("digest")) == 1
    assert len(desk.outbox("escalation")) == 2


def test_after_a_weekend_of_downtime_the_first_sweep_escalates_once(desk: Desk) -> None:
    desk.clock.set(local(5, 10))  # Thursday 10:00: due Monday 10:00, warned Friday 16:00
    desk.mail()
    assert not desk.sla(local(6, 12))  # the last sweep before the daemon stops, Friday noon
    desk.restart()  # the daemon comes back on Monday at noon
    caught_up = desk.sla(local(9, 12))
    assert (caught_up.warned, caught_up.escalated) == (0, 1)  # breached: no late warning
    assert desk.outbox("digest") == []
    assert [read(n)["To"] for n in desk.outbox("escalation")] == ["coord@uni.example"]
    assert not desk.sla(local(9, 12, 1))
    assert not desk.sla(local(9, 13))


def test_a_sweep_after_a_long_stop_reaches_every_level_due_in_one_notice(desk: Desk) -> None:
    desk.mail()
    desk.restart()
    report = desk.sla(local(13, 12))  # a week later: both levels are due
    assert report.escalated == 1
    [notice] = desk.outbox("escalation")
    assert read(notice)["To"] == "coord@uni.example, director@uni.example"
    assert read(notice)["Subject"] == "Escalado, nivel 2: [INFO#1] Consulta"
    assert "vencía el 2026-03-10 19:30, con 28 h 30 min hábiles de retraso" in body(notice)
    assert desk.ticket()["escalation_level"] == 2


def test_one_digest_per_person_lists_all_their_tickets_at_risk(desk: Desk) -> None:
    for n, subject in enumerate(("Certificado", "Beca", "Horario"), 1):
        desk.clock.set(FRIDAY_1930 + n * timedelta(minutes=1))
        desk.mail(subject, sender=f"p{n} <p{n}@example.com>", n=n)
    desk.store.conn.execute("UPDATE tickets SET assignee = 'berta@uni.example' WHERE number < 3")
    report = desk.sla(DUE - timedelta(minutes=30))
    assert (report.warned, report.digests) == (3, 2)
    to_berta, to_team = desk.outbox("digest")
    assert read(to_berta)["To"] == "Berta <berta@uni.example>"
    assert "Hola, Berta:" in body(to_berta)
    assert "[INFO#1] Certificado" in body(to_berta)
    assert "[INFO#2] Beca" in body(to_berta)
    assert "INFO#3" not in body(to_berta)
    assert read(to_team)["To"] == "equipo@uni.example"
    assert "[INFO#3] Horario" in body(to_team)


def test_an_agents_answer_stops_the_clock_and_a_follow_up_starts_the_next(desk: Desk) -> None:
    desk.mail()
    desk.clock.set(local(9, 9))  # Monday 09:00: Berta answers from her mail client
    desk.mail("Re: [INFO#1] Consulta", sender="Berta <berta@uni.example>", n=2)
    assert not desk.sla(DUE)  # the agent wrote: no escalation
    assert desk.outbox("escalation") == []
    assert desk.ticket()["first_response_due"] is None
    desk.clock.set(local(10, 10))  # the requester writes back on Tuesday at 10:00
    desk.mail("Re: [INFO#1] Consulta", n=3)
    ticket = desk.ticket()
    assert ticket["response_kind"] == "next_response"
    # Tuesday 10 h, Wednesday 12 h, Thursday 2 h: Thursday 10:00 local.
    assert ticket["next_response_due"] == local(12, 10).isoformat(timespec="microseconds")
    desk.clock.set(local(10, 11))  # a second follow-up does not move the clock
    desk.mail("Re: [INFO#1] Consulta", n=4)
    assert desk.ticket()["next_response_due"] == ticket["next_response_due"]
    assert desk.sla(local(12, 10)).escalated == 1
    assert "respuesta a un seguimiento" in body(desk.outbox("escalation")[0])


def test_time_waiting_on_the_requester_does_not_count(
    tmp_path: Path, store_location: Path | str
) -> None:
    desk = Desk(tmp_path, store_location, resolution=40)
    try:
        desk.clock.set(local(9, 8))  # Monday 08:00: resolution due Thursday 12:00 (40 h)
        desk.mail()
        assert desk.ticket()["resolution_due"] == local(12, 12).isoformat(timespec="microseconds")
        desk.set_state(State.PENDING, local(9, 10))  # an agent asks the requester something
        assert desk.ticket()["sla_next_at"] is None  # the clocks stand still
        assert not desk.sla(local(13, 12))
        desk.clock.set(local(10, 10))  # the requester answers on Tuesday at 10:00
        desk.mail("Re: [INFO#1] Consulta", n=2)
        ticket = desk.ticket()
        assert ticket["state"] == "open"
        assert ticket["pending_since"] is None
        # Pending Monday 10:00 to Tuesday 10:00 held 12 working hours: Friday 12:00.
        assert ticket["resolution_due"] == local(13, 12).isoformat(timespec="microseconds")
        # Nobody answered yet: the first response is still owed, its 12 h given back too
        # (due Tuesday 20:00 before, Wednesday 20:00 now), and kept for the monthly report.
        assert ticket["first_response_due"] == local(11, 20).isoformat(timespec="microseconds")
        assert ticket["next_response_due"] is None
        assert ticket["first_response_paused"] == 12 * 3600
    finally:
        desk.close()


def test_resolving_stops_the_clocks_and_closes_a_week_later(desk: Desk) -> None:
    desk.mail()
    desk.set_state(State.RESOLVED, local(9, 9))
    ticket = desk.ticket()
    assert (ticket["first_response_due"], ticket["sla_next_at"], ticket["risk_at"]) == (None,) * 3
    assert ticket["followup_at"] == local(16, 9).isoformat(timespec="microseconds")
    assert not desk.sla(DUE)
    assert not desk.follow_ups(local(16, 8))
    assert desk.follow_ups(local(16, 9)).closed == 1
    assert desk.ticket()["state"] == "closed"
    assert desk.events("auto-closed") == ["resolved"]
    assert not desk.follow_ups(local(30, 9))


def test_a_requester_writing_back_reopens_and_restarts_the_clocks(desk: Desk) -> None:
    desk.mail()
    desk.set_state(State.RESOLVED, local(9, 9))
    desk.clock.set(local(10, 9))
    desk.mail("Re: [INFO#1] Consulta", n=2)
    ticket = desk.ticket()
    assert ticket["state"] == "reopened"
    assert ticket["next_response_due"] == local(12, 9).isoformat(timespec="microseconds")
    assert ticket["followup_at"] is not None


def test_a_pending_ticket_reminds_the_requester_then_closes(
    tmp_path: Path, store_location: Path | str
) -> None:
    desk = Desk(tmp_path, store_location, close=5)
    try:
        desk.clock.set(local(9, 10))  # Monday 10:00
        desk.mail()
        desk.set_state(State.PENDING, local(9, 11))
        assert desk.ticket()["followup_at"] == local(12, 11).isoformat(timespec="microseconds")
        assert not desk.follow_ups(local(12, 10, 59))
        assert desk.follow_ups(local(12, 11)).reminded == 1  # after 3 working days
        [reminder] = desk.outbox("reminder")
        assert read(reminder)["To"] == "Ana <ana@example.com>"
        assert read(reminder)["Subject"] == "[INFO#1] Consulta"
        assert "2026-03-16 11:00" in body(reminder)  # when it will be closed
        assert not desk.follow_ups(local(12, 12))  # once
        desk.restart()
        assert not desk.follow_ups(local(13, 12))
        assert desk.follow_ups(local(16, 11)).closed == 1  # after 5 working days
        assert desk.ticket()["state"] == "closed"
        assert desk.events("auto-closed") == ["pending, no answer"]
    finally:
        desk.close()


def test_a_quiet_week_brings_the_requester_a_progress_notice(desk: Desk) -> None:
    desk.clock.set(local(7, 10))  # Saturday: acknowledged at once
    desk.mail()
    # A week later is a Saturday again: the notice waits for Monday 08:00.
    assert desk.ticket()["followup_at"] == local(16, 8).isoformat(timespec="microseconds")
    assert not desk.follow_ups(local(16, 7, 59))
    assert desk.follow_ups(local(16, 8)).notices == 1
    [notice] = desk.outbox("notice")
    assert read(notice)["To"] == "Ana <ana@example.com>"
    assert read(notice)["Subject"] == "[INFO#1] Consulta"
    assert "sigue en curso" in body(notice)
    assert not desk.follow_ups(local(16, 9))
    assert desk.ticket()["followup_at"] == local(23, 8).isoformat(timespec="microseconds")
    desk.clock.set(local(18, 10))  # Berta writes to the requester: the quiet week restarts
    desk.mail("Re: [INFO#1] Consulta", sender="Berta <berta@uni.example>", n=2)
    assert not desk.follow_ups(local(23, 8))
    assert desk.follow_ups(local(25, 10)).notices == 1


def test_a_new_priority_or_segment_moves_the_due_time(
    tmp_path: Path, store_location: Path | str
) -> None:
    desk = Desk(tmp_path, store_location, policies=POLICIES)
    try:
        desk.mail()
        assert desk.ticket()["first_response_due"] == DUE.isoformat(timespec="microseconds")
        with desk.store.transaction():  # what #priority and the routing rules do
            tickets.set_fields(desk.store, 1, FRIDAY_1930, segment="vip")
        # 30 min Friday, 7 h 30 Monday: Monday 15:30 local.
        assert desk.ticket()["first_response_due"] == local(9, 15, 30).isoformat(
            timespec="microseconds"
        )
        with desk.store.transaction():
            tickets.set_fields(desk.store, 1, FRIDAY_1930, priority="urgent")
        assert desk.ticket()["first_response_due"] == local(9, 9, 30).isoformat(
            timespec="microseconds"
        )
    finally:
        desk.close()
