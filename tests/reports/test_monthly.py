"""The monthly report over a fixture month whose every figure is computed by hand below.

October 2026 in Santo Domingo (UTC-4 all year), the default calendar: Monday to Friday
08:00-20:00 (12 working hours a day), first-response commitment 24 working hours. The 1st
is a Thursday; the 3rd-4th and 10th-11th are weekends.

Tickets (local times; "FR" first response and "RES" resolution, in working hours):

  T1 info    berta   Thu 1 10:00  FR Thu 1 12:30 = 2.5     resolved Fri 2 10:00: 10 + 2 = 12
  T2 info    berta   Fri 2 19:00  FR Mon 5 09:00 = 1 + 1 = 2  closed Mon 5 18:00: 1 + 10 = 11
  T3 info    carlos  Mon 5 08:00  FR Thu 8 10:00 = 12+12+12+2 = 38 (late: over 24); open;
                                  escalated on the 7th
  T4 info    -       Tue 6 09:00  no answer, still new                       (not answered)
  T5 info    carlos  Wed 7 10:00  no answer, closed Wed 7 11:00: RES 1        (not answered)
  T6 soporte berta   Sat 10 10:00 FR Mon 12 08:30 = 0.5; reopened on the 14th (not solved)
  T7 soporte -       Tue 13 09:00 cancelled: opened, not presented
  T8 soporte berta   opened Sep 30, closed Thu Oct 1 09:00: closed in October, not opened

Messages received / sent in October: T1 1/2, T2 1/2, T3 2/2, T4 1/1, T5 1/1, T6 2/2, T7 1/0,
T8 0/1 (its first message came in September); a message of November 1st on T1 is outside,
and so is Carlos's own mail on T3 (it came in, and counts once, as the reply sent out).
Surveys (scale 1-5, satisfied at 3 or more), sent in October: T1 5, T2 2, T5 unanswered,
T6 4.
"""

from __future__ import annotations

import csv
import email
import email.policy
import io
import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from maildesk.clock import FakeClock
from maildesk.config import Config, parse
from maildesk.outbox.mailer import Mailer
from maildesk.reports import indicators as reports
from maildesk.reports.monthly import MonthlyReport
from maildesk.reports.queries import monthly
from maildesk.service.scheduler import Scheduler
from maildesk.service.writer import Writer
from maildesk.sla.calendar import WorkingCalendar
from maildesk.sla.rules import Commitments, Policy
from maildesk.sla.sweeps import Sweeps
from maildesk.store.database import Connection, columns
from maildesk.store.store import Store, iso
from maildesk.templates import Templates
from tests.support.desk import build_pipeline

pytestmark = pytest.mark.stores("sqlite", "postgresql")

LOCAL = ZoneInfo("America/Santo_Domingo")
CONFIG = """
[maildesk]
database = "maildesk.db"

[[queues]]
name = "info"
addresses = ["info@uni.example"]
tag = "INFO"

[[queues]]
name = "soporte"
addresses = ["soporte@uni.example"]
tag = "SOP"

[[agents]]
name = "Berta"
addresses = ["berta@uni.example"]

[[agents]]
name = "Carlos"
addresses = ["carlos@uni.example"]
"""
BERTA, CARLOS = "berta@uni.example", "carlos@uni.example"


def when(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=LOCAL).astimezone(UTC)


def at(month: int, day: int, hour: int, minute: int = 0) -> str:
    return iso(when(month, day, hour, minute))


def oct_(day: int, hour: int, minute: int = 0) -> str:
    return at(10, day, hour, minute)


# number, queue, assignee, state, created, first response, resolved, closed
TICKETS = [
    (1, "info", BERTA, "resolved", oct_(1, 10), oct_(1, 12, 30), oct_(2, 10), None),
    (2, "info", BERTA, "closed", oct_(2, 19), oct_(5, 9), oct_(5, 18), oct_(5, 18)),
    (3, "info", CARLOS, "open", oct_(5, 8), oct_(8, 10), None, None),
    (4, "info", None, "new", oct_(6, 9), None, None, None),
    (5, "info", CARLOS, "closed", oct_(7, 10), None, None, oct_(7, 11)),
    (6, "soporte", BERTA, "reopened", oct_(10, 10), oct_(12, 8, 30), oct_(13, 9), None),
    (7, "soporte", None, "cancelled", oct_(13, 9), None, None, oct_(13, 10)),
    (8, "soporte", BERTA, "closed", at(9, 30, 15), at(9, 30, 16), oct_(1, 9), oct_(1, 9)),
]
# ticket, direction, received
MESSAGES = [
    (1, "in", oct_(1, 10)),
    (1, "out", oct_(1, 10)),
    (1, "out", oct_(1, 12, 30)),
    (1, "in", at(11, 1, 9)),  # November: not counted
    (2, "in", oct_(2, 19)),
    (2, "out", oct_(2, 19)),
    (2, "out", oct_(5, 9)),
    (3, "in", oct_(5, 8)),
    (3, "out", oct_(5, 8)),
    (3, "in", oct_(6, 11)),
    (3, "agent", oct_(8, 10)),  # Carlos's mail that became the reply below: not counted in
    (3, "out", oct_(8, 10)),
    (4, "in", oct_(6, 9)),
    (4, "out", oct_(6, 9)),
    (5, "in", oct_(7, 10)),
    (5, "out", oct_(7, 10)),
    (6, "in", oct_(10, 10)),
    (6, "out", oct_(10, 10)),
    (6, "out", oct_(12, 8, 30)),
    (6, "in", oct_(14, 10)),
    (7, "in", oct_(13, 9)),
    (8, "in", at(9, 30, 15)),  # September
    (8, "out", oct_(1, 8, 30)),
]
EVENTS = [
    (3, oct_(7, 8), "escalated", "level 1: first_response"),
    (3, oct_(8, 9), "escalated", "level 2: first_response"),  # the same ticket: counted once
    (6, oct_(14, 10), "reopen", "message <x@y>"),
    (1, oct_(2, 10), "state", "resolved by berta"),
]
# ticket, sent, score (None: not answered)
SURVEYS = [(1, oct_(2, 10), 5), (2, oct_(5, 18), 2), (5, oct_(7, 11), None), (6, oct_(13, 9), 4)]


def _config(tmp_path: Path) -> Config:
    return parse(CONFIG, path=tmp_path / "config.toml", base_dir=tmp_path)


def _insert_surveys(conn: Connection) -> None:
    """Survey rows, into the surveys table when the schema has one, else into a minimal one."""
    names = columns(conn, "surveys")
    if not names:
        conn.execute(
            "CREATE TABLE surveys (ticket BIGINT PRIMARY KEY, scale TEXT NOT NULL,"
            " sent_at TEXT NOT NULL, score BIGINT)"
        )
        names = {"ticket", "scale", "sent_at", "score"}
    filler = {
        "requester": "ana@example.org",
        "language": "es",
        "scale": "1-5",
        "nonce": "00ff",
        "message_id": "s@uni.example",
        "expires_at": oct_(31, 23),
    }
    for ticket, sent, score in SURVEYS:
        values = {"ticket": ticket, "sent_at": sent, "score": score}
        values |= {k: v for k, v in filler.items() if k in names}
        if score is not None and "answered_at" in names:
            values["answered_at"] = sent
        names_list = ", ".join(values)
        marks = ", ".join("?" * len(values))
        conn.execute(f"INSERT INTO surveys ({names_list}) VALUES ({marks})", list(values.values()))  # noqa: S608


def make_store(location: Path | str, *, surveys: bool = True) -> Path | str:
    """The fixture month in a fresh store (all migrations applied) at ``location``."""
    store = Store(location)
    conn = store.conn
    for number, queue, assignee, state, created, first, resolved, closed in TICKETS:
        conn.execute(
            "INSERT INTO tickets (number, queue, queue_address, state, subject, requester,"
            " requester_name, language, created_at, updated_at, closed_at, assignee,"
            " first_response_at, resolved_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                number,
                queue,
                f"{queue}@uni.example",
                state,
                f"Solicitud {number}",
                "ana@example.org",
                "Ana",
                "es",
                created,
                created,
                closed,
                assignee,
                first,
                resolved,
            ),
        )
    for i, (ticket, direction, received) in enumerate(MESSAGES):
        conn.execute(
            "INSERT INTO messages (ticket, direction, kind, message_id, from_addr, from_name,"
            " to_addrs, cc_addrs, subject, body, received_at, source)"
            " VALUES (?, ?, ?, ?, '', '', '[]', '[]', '', '', ?, 'smtp')",
            (
                ticket,
                "in" if direction == "agent" else direction,
                {"in": "human", "out": "reply", "agent": "agent"}[direction],
                f"m{i}@x",
                received,
            ),
        )
    conn.executemany("INSERT INTO events (ticket, at, kind, detail) VALUES (?, ?, ?, ?)", EVENTS)
    if surveys:
        _insert_surveys(conn)
    store.close()
    return location


def _report(
    tmp_path: Path, location: Path | str, queue: str | None = None, surveys: bool = True
) -> reports.Report:
    store = Store(make_store(location, surveys=surveys))
    try:
        return monthly(store.conn, _config(tmp_path), "2026-10", queue)
    finally:
        store.close()


def _lines(report: reports.Report) -> dict[tuple[str, str], dict[str, object]]:
    return {(r["scope"], r["name"]): r for r in reports.rows(report)}


TOTAL = {
    "messages_in": 9,  # 1+1+2+1+1+2+1
    "messages_out": 11,  # 2+2+2+1+1+2+0+1
    "opened": 7,  # T1-T7
    "presented": 6,  # less T7, cancelled
    "answered": 4,  # T1, T2, T3, T6
    "answered_on_time": 3,  # T1 2.5 h, T2 2 h, T6 0.5 h: within 24 working hours
    "answered_late": 1,  # T3, 38 h
    "not_answered": 2,  # T4 (open), T5 (closed)
    "escalated": 1,  # T3, escalated twice
    "reopened": 1,  # T6
    "closed": 3,  # T2, T5, T8
    "first_response_median_h": 2.25,  # [0.5, 2, 2.5, 38]: (2 + 2.5) / 2
    "first_response_p90_h": 27.35,  # rank 0.9 * 3 = 2.7: 2.5 + 0.7 * (38 - 2.5)
    "resolution_median_h": 11.0,  # [1, 11, 12]
    "resolution_p90_h": 11.8,  # rank 1.8: 11 + 0.8 * 1
    "answered_ratio": 0.6667,  # 4 / 6
    "not_answered_ratio": 0.3333,  # 2 / 6
    "net_answered_ratio": 0.5,  # (4 - 2) / 4
    "surveys_sent": 4,
    "surveys_answered": 3,
    "survey_response_rate": 0.75,
    "satisfaction": 0.6667,  # 5 and 4 of 5, 2, 4
    "dissatisfaction": 0.3333,  # 2
    "mean_score": 3.6667,  # 11 / 3
}
INFO = {
    "messages_in": 6,
    "messages_out": 8,
    "opened": 5,
    "presented": 5,
    "answered": 3,
    "answered_on_time": 2,
    "answered_late": 1,
    "not_answered": 2,
    "escalated": 1,
    "reopened": 0,
    "closed": 2,  # T2, T5
    "first_response_median_h": 2.5,  # [2, 2.5, 38]
    "first_response_p90_h": 30.9,  # rank 1.8: 2.5 + 0.8 * 35.5
    "resolution_median_h": 11.0,
    "resolution_p90_h": 11.8,
    "answered_ratio": 0.6,  # 3 / 5
    "not_answered_ratio": 0.4,
    "net_answered_ratio": 0.3333,  # (3 - 2) / 3
    "surveys_sent": 3,
    "surveys_answered": 2,
    "survey_response_rate": 0.6667,
    "satisfaction": 0.5,  # 5 yes, 2 no
    "dissatisfaction": 0.5,
    "mean_score": 3.5,
}
SOPORTE = {
    "messages_in": 3,  # T6 2, T7 1
    "messages_out": 3,  # T6 2, T8 1
    "opened": 2,
    "presented": 1,
    "answered": 1,
    "answered_on_time": 1,
    "answered_late": 0,
    "not_answered": 0,
    "escalated": 0,
    "reopened": 1,
    "closed": 1,  # T8
    "first_response_median_h": 0.5,
    "first_response_p90_h": 0.5,
    "resolution_median_h": None,  # T6 was reopened: not solved
    "resolution_p90_h": None,
    "answered_ratio": 1.0,
    "not_answered_ratio": 0.0,
    "net_answered_ratio": 1.0,
    "surveys_sent": 1,
    "survey_response_rate": 1.0,
    "satisfaction": 1.0,
    "mean_score": 4.0,
}
AGENTS: dict[str, dict[str, object]] = {
    BERTA: {
        "opened": 3,  # T1, T2, T6
        "answered_on_time": 3,
        "not_answered": 0,
        "messages_in": 4,  # T1 1, T2 1, T6 2
        "messages_out": 7,  # T1 2, T2 2, T6 2, T8 1
        "closed": 2,  # T2, T8
        "reopened": 1,
        "first_response_median_h": 2.0,  # [0.5, 2, 2.5]
        "first_response_p90_h": 2.4,  # rank 1.8: 2 + 0.8 * 0.5
        "resolution_median_h": 11.5,  # [11, 12]
        "resolution_p90_h": 11.9,  # rank 0.9: 11 + 0.9
        "mean_score": 3.6667,  # 5, 2, 4
    },
    CARLOS: {
        "opened": 2,  # T3, T5
        "answered_late": 1,
        "not_answered": 1,
        "escalated": 1,
        "messages_in": 3,
        "messages_out": 3,
        "closed": 1,
        "first_response_median_h": 38.0,
        "resolution_median_h": 1.0,  # T5, closed after 1 h
        "net_answered_ratio": 0.0,  # (1 - 1) / 1
        "surveys_sent": 1,
        "surveys_answered": 0,
        "satisfaction": None,
    },
    "": {"opened": 2, "presented": 1, "not_answered": 1, "messages_in": 2, "messages_out": 1},
}


def _check(found: Mapping[str, object], expected: Mapping[str, object]) -> None:
    for name, value in expected.items():
        assert found[name] == (pytest.approx(value) if value is not None else None), name


def test_every_figure_of_the_fixture_month(tmp_path: Path, store_location: Path | str) -> None:
    report = _report(tmp_path, store_location)
    lines = _lines(report)
    assert list(lines) == [
        ("total", ""),
        ("queue", "info"),
        ("queue", "soporte"),
        ("agent", ""),
        ("agent", BERTA),
        ("agent", CARLOS),
    ]
    _check(lines["total", ""], TOTAL)
    _check(lines["queue", "info"], INFO)
    _check(lines["queue", "soporte"], SOPORTE)
    for agent, expected in AGENTS.items():
        _check(lines["agent", agent], expected)
    per_day = dict(report.per_day)
    assert len(per_day) == 31
    assert sum(per_day.values()) == 7
    assert [d.day for d, n in report.per_day if n] == [1, 2, 5, 6, 7, 10, 13]


def test_one_queue(tmp_path: Path, store_location: Path | str) -> None:
    lines = _lines(_report(tmp_path, store_location, queue="soporte"))
    _check(lines["total", ""], SOPORTE)
    assert ("queue", "info") not in lines


def test_without_surveys_the_survey_figures_are_absent(
    tmp_path: Path, store_location: Path | str
) -> None:
    store = Store(make_store(store_location, surveys=False))
    try:
        store.conn.execute("DROP TABLE IF EXISTS surveys")
        report = monthly(store.conn, _config(tmp_path), "2026-10")
    finally:
        store.close()
    assert not report.surveys
    total = _lines(report)["total", ""]
    assert "satisfaction" not in total
    assert "nps" not in total
    _check(
        total,
        {k: v for k, v in TOTAL.items() if not k.startswith(("survey", "sat", "dis", "mean"))},
    )


def test_csv_json_and_table(tmp_path: Path, store_location: Path | str) -> None:
    report = _report(tmp_path, store_location)
    parsed = list(csv.DictReader(io.StringIO(reports.to_csv(report))))
    assert [(r["scope"], r["name"]) for r in parsed][:3] == [
        ("total", ""),
        ("queue", "info"),
        ("queue", "soporte"),
    ]
    assert parsed[0]["first_response_p90_h"] == "27.35"
    assert parsed[2]["resolution_median_h"] == ""  # none solved: empty, not 0
    data = json.loads(reports.to_json(report))
    assert data["month"] == "2026-10"
    assert data["lines"][0]["answered_ratio"] == 0.6667
    assert data["tickets_per_day"]["2026-10-05"] == 1
    table = reports.to_table(report)
    assert "== all queues" in table
    assert "== queue soporte" in table
    assert "== agent (unassigned)" in table
    assert "first_response_median_h  2.25" in table


def test_nps_on_a_ten_point_scale() -> None:
    # 10 answers: 9, 10, 10 promoters; 7, 8 passive; 0, 3, 5, 6, 6 detractors -> (3 - 5) / 10
    tally = reports.Tally(
        surveys_sent=12,
        surveys_answered=10,
        surveys_scored=10,
        score_sum=64,
        satisfied=5,
        promoters=3,
        detractors=5,
    )
    line = reports.Line("total", "", tally)
    report = reports.Report("2026-10", None, (line,), (), True, 10, 7)
    found = reports.figures(line, report)
    assert found["nps"] == -20.0
    assert found["mean_score"] == 6.4
    assert found["satisfaction"] == 0.5
    assert found["survey_response_rate"] == 0.8333


def test_the_monthly_mail_goes_once_on_the_first_working_day(
    tmp_path: Path, store_location: Path | str
) -> None:
    make_store(store_location)
    config = parse(
        CONFIG + '\n[reports]\nrecipients = ["coord@uni.example"]\n',
        path=tmp_path / "config.toml",
        base_dir=tmp_path,
    )
    store = Store(store_location)
    job = _monthly_job(config, store)
    try:
        # November 2026 begins on a Sunday: the first working minute is Monday 2nd, 08:00.
        assert job.run(when(11, 1, 12)) is None
        assert job.run(when(11, 2, 7, 59)) is None
        assert job.run(when(11, 2, 8)) == "2026-10"
        assert job.run(when(11, 2, 9)) is None  # recorded: a restart does not send it again
        assert job.run(when(11, 20, 9)) is None
        rows = store.conn.execute("SELECT kind, rcpt_to, raw FROM outbox").fetchall()
    finally:
        store.close()
    assert len(rows) == 1
    kind, rcpt_to, raw = rows[0]
    assert kind == "report"
    assert json.loads(rcpt_to) == ["coord@uni.example"]
    mail = email.message_from_bytes(raw, policy=email.policy.default)
    assert mail["Subject"] == "Informe mensual 2026-10"
    assert mail["Auto-Submitted"] == "auto-generated"
    body = mail.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "Solicitudes abiertas:            7" in text
    assert "No atendidas (abandonadas):      2" in text
    (page,) = list(mail.iter_attachments())
    assert page.get_filename() == "report-2026-10.html"
    assert page.get_content_type() == "text/html"
    assert 'id="chart-per-day"' in page.get_content()


@pytest.mark.parametrize(
    "settings", ["", "\n[reports]\nenabled = false\nrecipients = ['c@x.org']\n"]
)
def test_no_monthly_mail_without_recipients_or_when_disabled(
    tmp_path: Path, store_location: Path | str, settings: str
) -> None:
    make_store(store_location)
    config = parse(CONFIG + settings, path=tmp_path / "config.toml", base_dir=tmp_path)
    store = Store(store_location)
    try:
        assert _monthly_job(config, store).run(when(11, 2, 9)) is None
        assert store.conn.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0
    finally:
        store.close()


def test_the_scheduler_runs_the_monthly_report_at_start_on_the_writer(
    tmp_path: Path, store_location: Path | str
) -> None:
    make_store(store_location)
    config = parse(
        CONFIG + '\n[reports]\nrecipients = ["coord@uni.example"]\n',
        path=tmp_path / "config.toml",
        base_dir=tmp_path,
    )
    clock = FakeClock(when(11, 2, 10))  # the first working day of November
    store = Store(store_location)
    pipeline = build_pipeline(config, store, clock, secret=b"report-test-secret-0123456789")
    writer = Writer(store, pipeline)
    job = _monthly_job(config, store)
    scheduler = Scheduler(
        lambda: Sweeps(pipeline.desk),
        writer.submit,
        clock,
        interval=3600,
        monthly=job.run,
    )

    def reports_queued() -> int:
        count = "SELECT count(*) FROM outbox WHERE kind = 'report'"
        return int(writer.submit(lambda: store.conn.execute(count).fetchone()[0]).result())

    scheduler.start()
    try:
        deadline = time.monotonic() + 10
        while reports_queued() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert reports_queued() == 1
        assert writer.submit(store.meta, "report-sent:2026-10").result() is not None
    finally:
        scheduler.shutdown()
        writer.close()


@pytest.mark.parametrize(
    ("answered_hour", "paused_hours", "figures"),
    [
        # Opened Monday 08:00 (UTC calendar, 08:00-20:00), owed an answer in 24 working hours.
        (19, 0, (1, 0, 11.0)),  # Monday 19:00: 11 h
        (10 + 24 * 2, 0, (0, 1, 26.0)),  # Wednesday 10:00: 26 h, late
        (10 + 24 * 2, 2, (1, 0, 24.0)),  # ... 2 h of them pending: 24 h, on time
        (10 + 24 * 7, 50, (1, 0, 12.0)),  # a week later, pending for 50 of its 62 h
    ],
)
def test_answers_are_judged_net_of_time_pending(
    answered_hour: int, paused_hours: int, figures: tuple[int, int, float]
) -> None:
    opened = datetime(2026, 10, 5, 8, tzinfo=UTC)  # a Monday
    row = reports.TicketRow(
        1,
        "info",
        "",
        opened,
        opened.replace(hour=0) + timedelta(hours=answered_hour),
        None,
        first_response_paused=timedelta(hours=paused_hours),
    )
    calendar = WorkingCalendar.from_config("UTC", {}, ())
    policy = Policy(Commitments(timedelta(hours=24)))
    total = reports.build("2026-10", None, [row], {}, calendar, policy).lines[0]
    assert (total.on_time, total.late, total.first_response_hours[0]) == figures


def _monthly_job(config: Config, store: Store) -> MonthlyReport:
    templates = Templates(None, "es")
    return MonthlyReport(config, store, templates, Mailer(config, store, templates, b"k" * 32))
