"""Survey figures of the monthly report: what counts as an answer, what makes the
satisfaction figures, and how a queue without scores is drawn."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from maildesk.reports import indicators as reports
from maildesk.reports.queries import cells
from maildesk.store.store import Store


def _report(*lines: reports.Line) -> reports.Report:
    return reports.Report("2026-10", None, lines, (), True, 5, 3)


@pytest.mark.parametrize(
    ("tally", "expected"),
    [
        # sent 4: a "not solved" without a score, two scores (5 and 2), one unanswered
        (
            reports.Tally(
                surveys_sent=4, surveys_answered=3, surveys_scored=2, score_sum=7, satisfied=1
            ),
            {
                "surveys_answered": 3,
                "survey_response_rate": 0.75,
                "satisfaction": 0.5,
                "dissatisfaction": 0.5,
                "mean_score": 3.5,
            },
        ),
        # answers without any score: a response rate, no satisfaction at all
        (
            reports.Tally(surveys_sent=2, surveys_answered=2),
            {
                "survey_response_rate": 1.0,
                "satisfaction": None,
                "dissatisfaction": None,
                "mean_score": None,
            },
        ),
        # nothing answered
        (
            reports.Tally(surveys_sent=3),
            {"survey_response_rate": 0.0, "satisfaction": None, "mean_score": None},
        ),
        # no survey sent
        (reports.Tally(), {"survey_response_rate": None, "satisfaction": None}),
    ],
)
def test_survey_figures(tally: reports.Tally, expected: dict[str, Any]) -> None:
    line = reports.Line("total", "", tally)
    found = reports.figures(line, _report(line))
    assert {k: found[k] for k in expected} == expected


@pytest.mark.parametrize(
    ("tally", "value", "width"),
    [
        (
            reports.Tally(surveys_sent=2, surveys_answered=2, surveys_scored=2, satisfied=1),
            50.0,
            220,
        ),
        (reports.Tally(surveys_sent=2, surveys_answered=2, surveys_scored=2), 0.0, 0),
        (reports.Tally(surveys_sent=2, surveys_answered=1), None, 0),  # no data, not 0 %
        (reports.Tally(surveys_sent=2), None, 0),
    ],
)
def test_the_satisfaction_chart(tally: reports.Tally, value: float | None, width: float) -> None:
    total = reports.Line("total", "", tally)
    queue = reports.Line("queue", "info", tally)
    [bar] = reports.chart_context(_report(total, queue))["satisfaction"]
    assert (bar["label"], bar["value"], bar["width"]) == ("info", value, width)


def test_survey_answers_and_reopenings_in_the_store(tmp_path: Path) -> None:
    store = Store(tmp_path / "maildesk.db")
    at = "2026-10-05T10:00:00+00:00"
    # (ticket, solved, score, comment): not solved without a score, a comment alone, a
    # score, and a survey never answered
    answers = [(1, 0, None, ""), (2, None, None, "Lento"), (3, 1, 4, ""), (4, None, None, "")]
    for number, solved, score, comment in answers:
        store.conn.execute(
            "INSERT INTO tickets (number, queue, queue_address, state, subject, requester,"
            " requester_name, language, created_at, updated_at)"
            " VALUES (?, 'info', 'info@uni.example', 'reopened', 's', 'ana@example.org',"
            " 'Ana', 'es', ?, ?)",
            (number, at, at),
        )
        store.conn.execute(
            "INSERT INTO surveys (ticket, requester, language, scale, nonce, message_id,"
            " sent_at, expires_at, solved, score, comment)"
            " VALUES (?, 'ana@example.org', 'es', '1-5', '00', 'm', ?, ?, ?, ?, ?)",
            (number, at, "2026-11-05T10:00:00+00:00", solved, score, comment),
        )
    # Reopened by the survey, by the requester's mail, by an agent: three tickets.
    store.conn.executemany(
        "INSERT INTO events (ticket, at, kind, detail) VALUES (?, ?, ?, ?)",
        [
            (1, at, "reopened", "survey: not solved"),
            (2, at, "reopen", "message <x@y>"),
            (3, at, "state", "reopened by Berta"),
            (4, at, "survey", "sent to ana@example.org"),
        ],
    )
    found = cells(
        store.conn,
        datetime(2026, 10, 1, tzinfo=UTC),
        datetime(2026, 11, 1, tzinfo=UTC),
        None,
    )
    tally = found[("info", "")]
    assert (tally.surveys_sent, tally.surveys_answered, tally.surveys_scored) == (4, 3, 1)
    assert tally.reopened == 3
    store.close()
