"""The monthly indicators (MISSION.md item 14) as plain data: roll-ups, working-hour times,
percentiles, ratios, and the table, CSV, JSON and chart data the report is shown with.

PURE: the SQL lives in ``report_queries.py``; this module receives its rows. Ticket
figures come from one row per ticket opened in the month (their times need the
working-hours calendar); message, escalation, reopening, closing and survey figures
come as counts per (queue, agent) cell, summed here into lines per queue, per agent and
for the whole month.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from typing import Any

from maildesk.sla.calendar import WorkingCalendar
from maildesk.sla.rules import Policy, counted
from maildesk.sla.workclock import WorkingClock

_HOUR = timedelta(hours=1)
# Buckets of the response-time chart, in working hours: [low, high).
BUCKETS: tuple[tuple[float, float], ...] = (
    (0, 1),
    (1, 4),
    (4, 8),
    (8, 24),
    (24, 48),
    (48, math.inf),
)


@dataclass(frozen=True)
class TicketRow:
    """A ticket opened in the month, as the report needs it."""

    number: int
    queue: str
    agent: str  # the assignee's address, '' when nobody is assigned
    created_at: datetime
    first_response_at: datetime | None
    solved_at: datetime | None  # resolved, else closed (cancelled tickets: None)
    priority: str = ""
    segment: str = ""
    presented: bool = True  # False: cancelled or merged into another ticket
    # Working time it spent pending before its first answer: the SLA clock gives it back.
    first_response_paused: timedelta = timedelta(0)


@dataclass
class Tally:
    """Counts of one (queue, agent) cell, or of a line once cells are summed."""

    messages_in: int = 0
    messages_out: int = 0
    escalated: int = 0
    reopened: int = 0
    closed: int = 0
    surveys_sent: int = 0
    surveys_answered: int = 0  # any answer: solved or not, a score, a comment
    surveys_scored: int = 0  # answers with a score: the base of the satisfaction figures
    score_sum: int = 0
    satisfied: int = 0  # scores at or above the threshold
    promoters: int = 0  # 9 and 10 on a 0-10 scale
    detractors: int = 0  # 0 to 6 on a 0-10 scale

    def add(self, other: Tally) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


@dataclass
class Line:
    """One line of the report: the whole month, a queue or an agent."""

    scope: str  # total | queue | agent
    name: str
    tally: Tally = field(default_factory=Tally)
    opened: int = 0
    presented: int = 0
    on_time: int = 0
    late: int = 0
    not_answered: int = 0
    first_response_hours: list[float] = field(default_factory=list)
    resolution_hours: list[float] = field(default_factory=list)

    @property
    def answered(self) -> int:
        return self.on_time + self.late


@dataclass(frozen=True)
class Report:
    month: str  # YYYY-MM
    queue: str | None  # the --queue filter
    lines: tuple[Line, ...]
    per_day: tuple[tuple[date, int], ...]  # tickets opened per local day
    surveys: bool  # survey tables exist
    scale: int  # 5 or 10
    threshold: int


def percentile(values: Sequence[float], share: float) -> float | None:
    """The ``share`` quantile, interpolated linearly between the two nearest ranks.

    >>> percentile([1, 2, 3, 4], 0.5), percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9)
    (2.5, 9.1)
    """
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * share
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return round(ordered[low] + (ordered[high] - ordered[low]) * (position - low), 6)


def ratio(part: float, whole: float) -> float | None:
    """``part / whole`` rounded to 4 places; None when ``whole`` is 0.

    >>> ratio(3, 4), ratio(1, 0)
    (0.75, None)
    """
    return round(part / whole, 4) if whole else None


def build(
    month: str,
    queue: str | None,
    tickets: Iterable[TicketRow],
    cells: Mapping[tuple[str, str], Tally],
    calendar: WorkingCalendar,
    policy: Policy,
    *,
    surveys: bool = False,
    scale: int = 5,
    threshold: int = 3,
) -> Report:
    """Sum the cells and the tickets into lines: total, then each queue, then each agent.

    >>> from zoneinfo import ZoneInfo
    >>> from maildesk.sla.rules import Commitments
    >>> cal, pol = WorkingCalendar(ZoneInfo("UTC")), Policy(Commitments(timedelta(hours=24)))
    >>> build("2026-10", None, [], {("info", ""): Tally(messages_in=2)}, cal, pol).lines[0].tally
    Tally(messages_in=2, messages_out=0, escalated=0, reopened=0, closed=0, surveys_sent=0, surveys_answered=0, surveys_scored=0, score_sum=0, satisfied=0, promoters=0, detractors=0)
    """  # noqa: E501
    total = Line("total", "")
    queues: dict[str, Line] = {}
    agents: dict[str, Line] = {}

    def targets(q: str, agent: str) -> tuple[Line, ...]:
        return (
            total,
            queues.setdefault(q, Line("queue", q)),
            agents.setdefault(agent, Line("agent", agent)),
        )

    for (q, agent), tally in sorted(cells.items()):
        for line in targets(q, agent):
            line.tally.add(tally)
    per_day: dict[date, int] = {}
    first_day = date.fromisoformat(month + "-01")
    clock = WorkingClock(calendar, first_day - timedelta(days=1))
    for ticket in tickets:
        day = ticket.created_at.astimezone(calendar.zone).date()
        per_day[day] = per_day.get(day, 0) + 1
        lines = targets(ticket.queue, ticket.agent)
        for line in lines:
            line.opened += 1
        if not ticket.presented:
            continue
        promised = policy.commitments(ticket.queue, ticket.priority, ticket.segment).first_response
        first = (
            counted(
                clock.span(ticket.created_at, ticket.first_response_at),
                ticket.first_response_paused,
            )
            if ticket.first_response_at is not None
            else None
        )
        solved = (
            clock.span(ticket.created_at, ticket.solved_at)
            if ticket.solved_at is not None
            else None
        )
        for line in lines:
            line.presented += 1
            if first is None:
                line.not_answered += 1
            else:
                line.first_response_hours.append(first / _HOUR)
                if first <= promised:
                    line.on_time += 1
                else:
                    line.late += 1
            if solved is not None:
                line.resolution_hours.append(solved / _HOUR)
    days = []
    day = first_day
    while day.month == first_day.month:
        days.append((day, per_day.get(day, 0)))
        day += timedelta(days=1)
    return Report(
        month,
        queue,
        (total, *(queues[k] for k in sorted(queues)), *(agents[k] for k in sorted(agents))),
        tuple(days),
        surveys,
        scale,
        threshold,
    )


# The columns of the table, CSV and JSON output, in order.
COLUMNS = (
    "scope",
    "name",
    "messages_in",
    "messages_out",
    "opened",
    "presented",
    "answered",
    "answered_on_time",
    "answered_late",
    "not_answered",
    "escalated",
    "reopened",
    "closed",
    "first_response_median_h",
    "first_response_p90_h",
    "resolution_median_h",
    "resolution_p90_h",
    "answered_ratio",
    "not_answered_ratio",
    "net_answered_ratio",
)
SURVEY_COLUMNS = (
    "surveys_sent",
    "surveys_answered",
    "survey_response_rate",
    "satisfaction",
    "dissatisfaction",
    "mean_score",
)


def columns(report: Report) -> tuple[str, ...]:
    """The columns this report has: survey figures only when surveys exist, NPS on 0-10."""
    if not report.surveys:
        return COLUMNS
    return (*COLUMNS, *SURVEY_COLUMNS, *(("nps",) if report.scale == 10 else ()))


def figures(line: Line, report: Report) -> dict[str, Any]:
    """Every figure of ``line`` by column name (None where it cannot be computed)."""
    t = line.tally
    answered = line.answered
    values: dict[str, Any] = {
        "scope": line.scope,
        "name": line.name,
        "messages_in": t.messages_in,
        "messages_out": t.messages_out,
        "opened": line.opened,
        "presented": line.presented,
        "answered": answered,
        "answered_on_time": line.on_time,
        "answered_late": line.late,
        "not_answered": line.not_answered,
        "escalated": t.escalated,
        "reopened": t.reopened,
        "closed": t.closed,
        "first_response_median_h": percentile(line.first_response_hours, 0.5),
        "first_response_p90_h": percentile(line.first_response_hours, 0.9),
        "resolution_median_h": percentile(line.resolution_hours, 0.5),
        "resolution_p90_h": percentile(line.resolution_hours, 0.9),
        "answered_ratio": ratio(answered, line.presented),
        "not_answered_ratio": ratio(line.not_answered, line.presented),
        "net_answered_ratio": ratio(answered - line.not_answered, answered),
    }
    if report.surveys:
        values |= {
            "surveys_sent": t.surveys_sent,
            "surveys_answered": t.surveys_answered,
            "survey_response_rate": ratio(t.surveys_answered, t.surveys_sent),
            "satisfaction": ratio(t.satisfied, t.surveys_scored),
            "dissatisfaction": ratio(t.surveys_scored - t.satisfied, t.surveys_scored),
            "mean_score": ratio(t.score_sum, t.surveys_scored),
        }
        if report.scale == 10:
            nps = ratio(100 * (t.promoters - t.detractors), t.surveys_scored)
            values["nps"] = None if nps is None else round(nps, 1)
    return values


def rows(report: Report) -> list[dict[str, Any]]:
    return [figures(line, report) for line in report.lines]


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value) or "(none)"


def is_empty(report: Report) -> bool:
    """Nothing happened in the month: no mail in or out, no ticket opened, closed or
    escalated (say, the month before the first mail)."""
    return all(line.opened == 0 and not any(vars(line.tally).values()) for line in report.lines)


def to_table(report: Report) -> str:
    """One block per line: figure names on the left, values on the right."""
    out = [f"maildesk report {report.month}" + (f" (queue {report.queue})" if report.queue else "")]
    if is_empty(report):
        out.append(f"nothing in {report.month}: no mail in or out, no ticket opened or closed")
    for values in rows(report):
        name = values["name"] or "(unassigned)"
        title = "all queues" if values["scope"] == "total" else f"{values['scope']} {name}"
        out.append("")
        out.append(f"== {title}")
        width = max(len(c) for c in values)
        out.extend(
            f"  {name.ljust(width)}  {_cell(value)}"
            for name, value in values.items()
            if name not in ("scope", "name")
        )
    return "\n".join(out) + "\n"


def to_csv(report: Report) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    names = columns(report)
    writer.writerow(names)
    for values in rows(report):
        writer.writerow(["" if values[c] is None else values[c] for c in names])
    return buffer.getvalue()


def to_json(report: Report) -> str:
    return json.dumps(
        {
            "month": report.month,
            "queue": report.queue,
            "survey_scale": report.scale if report.surveys else None,
            "lines": rows(report),
            "tickets_per_day": {d.isoformat(): n for d, n in report.per_day},
        },
        indent=2,
        ensure_ascii=False,
    )


def summary(report: Report) -> dict[str, Any]:
    """The month's total line, for the body of the report mail."""
    return figures(report.lines[0], report)


def _bars(values: Sequence[tuple[str, float]], width: int, height: int) -> list[dict[str, Any]]:
    """Vertical bars filling ``width`` x ``height`` (SVG units), tallest bar full height."""
    top = max((v for _, v in values), default=0) or 1
    step = width / max(len(values), 1)
    bars = []
    for i, (label, value) in enumerate(values):
        h = round(height * value / top, 2)
        bars.append(
            {
                "x": round(i * step + step * 0.1, 2),
                "y": round(height - h, 2),
                "width": round(step * 0.8, 2),
                "height": h,
                "label": label,
                "value": value,
                "cx": round(i * step + step / 2, 2),
            }
        )
    return bars


def chart_context(report: Report) -> dict[str, Any]:
    """What the HTML template draws: the summary, the lines and the three charts."""
    total = report.lines[0]
    buckets = []
    for low, high in BUCKETS:
        count = sum(1 for h in total.first_response_hours if low <= h < high)
        label = f"{low:g}+ h" if math.isinf(high) else f"{low:g}-{high:g} h"
        buckets.append((label, count))
    # A queue without scored answers has no satisfaction (the table's "-"), not 0 %.
    shares = {
        line.name: ratio(line.tally.satisfied, line.tally.surveys_scored)
        for line in report.lines
        if line.scope == "queue"
    }
    satisfaction = [(n, None if s is None else round(100 * s, 1)) for n, s in shares.items()]
    return {
        "month": report.month,
        "queue": report.queue,
        "columns": columns(report),
        "rows": [
            {k: v if k in ("scope", "name") else _cell(v) for k, v in r.items()}
            for r in rows(report)
        ],
        "summary": {k: _cell(v) for k, v in summary(report).items()},
        "surveys": report.surveys,
        "per_day": _bars([(str(d.day), n) for d, n in report.per_day], 620, 160),
        "response": _bars(buckets, 620, 160),
        "satisfaction": [
            {**bar, "y": i * 26, "width": round(4.4 * (pct or 0), 2)}
            for i, bar, pct in zip(
                range(len(satisfaction)),
                ({"label": n, "value": p} for n, p in satisfaction),
                (p for _, p in satisfaction),
                strict=True,
            )
        ],
    }
