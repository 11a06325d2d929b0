"""The SQL behind the monthly report: rows and counts for one month, read from the store.

Every query is bounded by the month through an index (migration 0007): tickets by
``created_at`` and ``closed_at``, messages by ``received_at``, events by ``(kind, at)``.
Counts come grouped by (queue, agent) cell; ``reports.build`` sums them into lines.

Survey figures are read when a ``surveys`` table exists (one row per survey sent, with
the ticket, when it was sent, and the answer: solved, score and comment, NULL until
given); otherwise they are absent from the report.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from maildesk.config import Config
from maildesk.config.sla import policy, working_calendar
from maildesk.reports.indicators import Report, Tally, TicketRow, build
from maildesk.sla.calendar import WorkingCalendar
from maildesk.store.database import Connection, columns
from maildesk.store.store import from_iso, iso


def month_bounds(month: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants where local ``month`` (YYYY-MM) starts and the next one starts."""
    first = date.fromisoformat(month + "-01")
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return (
        datetime(first.year, first.month, 1, tzinfo=zone).astimezone(UTC),
        datetime(following.year, following.month, 1, tzinfo=zone).astimezone(UTC),
    )


def previous_month(today: date) -> str:
    """'2026-10' for any day of November 2026."""
    year, month = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
    return f"{year:04d}-{month:02d}"


# Every query takes the --queue filter as two parameters: ('', '') for all queues.


def _queue_params(queue: str | None) -> list[Any]:
    return [queue or "", queue or ""]


def ticket_rows(
    conn: Connection, start: datetime, end: datetime, queue: str | None
) -> list[TicketRow]:
    """One row per ticket opened in [start, end)."""
    rows = conn.execute(
        "SELECT number, queue, coalesce(assignee, '') AS agent, created_at, first_response_at,"
        # Solved means solved now: a reopened ticket keeps its old resolved_at meanwhile.
        " CASE WHEN state IN ('resolved', 'closed') THEN coalesce(resolved_at, closed_at) END,"
        " priority, coalesce(segment, '') AS segment,"
        " state != 'cancelled' AND merged_into IS NULL AS presented, first_response_paused"
        " FROM tickets AS t WHERE created_at >= ? AND created_at < ?"
        " AND (? = '' OR t.queue = ?)",
        (iso(start), iso(end), *_queue_params(queue)),
    ).fetchall()
    return [
        TicketRow(
            number=r[0],
            queue=r[1],
            agent=r[2].lower(),
            created_at=from_iso(r[3]),
            first_response_at=from_iso(r[4]) if r[4] else None,
            solved_at=from_iso(r[5]) if r[5] else None,
            priority=r[6] or "",
            segment=r[7],
            presented=bool(r[8]),
            first_response_paused=timedelta(seconds=r[9]),
        )
        for r in rows
    ]


def _count(
    conn: Connection,
    cells: dict[tuple[str, str], Tally],
    attribute: str,
    sql: str,
    params: list[Any],
) -> None:
    for q, agent, n in conn.execute(sql, params):
        tally = cells.setdefault((q, (agent or "").lower()), Tally())
        setattr(tally, attribute, getattr(tally, attribute) + n)


def cells(
    conn: Connection,
    start: datetime,
    end: datetime,
    queue: str | None,
    threshold: int = 3,
) -> dict[tuple[str, str], Tally]:
    """Message, escalation, reopening and closing counts per (queue, agent) in [start, end).

    A message counts in the cell of its ticket's queue and agent; mail that joined no
    ticket (quarantine aside, kept as a record) is in no queue and not counted.
    """
    extra = _queue_params(queue)
    span = [iso(start), iso(end)]
    found: dict[tuple[str, str], Tally] = {}
    for direction, attribute in (("in", "messages_in"), ("out", "messages_out")):
        _count(
            conn,
            found,
            attribute,
            "SELECT t.queue, t.assignee, count(*) FROM messages AS m"
            " JOIN tickets AS t ON t.number = m.ticket"
            " WHERE m.received_at >= ? AND m.received_at < ? AND m.direction = ?"
            # Agents' own mail comes in too, then goes out as the reply: counted once, out.
            " AND (m.direction = 'out' OR m.kind NOT IN ('agent', 'note', 'reply'))"
            " AND (? = '' OR t.queue = ?)"
            " GROUP BY t.queue, t.assignee",
            [*span, direction, *extra],
        )
    # Tickets (not events) count: escalated twice in a month is one escalated ticket.
    for attribute, condition in (
        ("escalated", "e.kind = 'escalated'"),
        ("reopened", _REOPENED),
    ):
        _count(
            conn,
            found,
            attribute,
            "SELECT t.queue, t.assignee, count(DISTINCT e.ticket) FROM events AS e"  # noqa: S608
            " JOIN tickets AS t ON t.number = e.ticket"
            f" WHERE {condition} AND e.at >= ? AND e.at < ?"
            " AND (? = '' OR t.queue = ?)"
            " GROUP BY t.queue, t.assignee",
            [*span, *extra],
        )
    _count(
        conn,
        found,
        "closed",
        "SELECT t.queue, t.assignee, count(*) FROM tickets AS t"
        " WHERE t.closed_at >= ? AND t.closed_at < ? AND t.state = 'closed'"
        " AND (? = '' OR t.queue = ?)"
        " GROUP BY t.queue, t.assignee",
        [*span, *extra],
    )
    if has_surveys(conn):
        _surveys(conn, found, span, extra, threshold)
    return found


# Every way a ticket is reopened leaves one of these events: a requester's mail
# ('reopen'), an agent's or the CLI's state change ('state' 'reopened by …'), a survey
# answered "not solved" ('reopened').
_REOPENED = "(e.kind IN ('reopen', 'reopened') OR (e.kind = 'state' AND e.detail LIKE 'reopened%'))"


def has_surveys(conn: Connection) -> bool:
    """Whether the store holds survey rows the report can read."""
    names = columns(conn, "surveys")
    return {"ticket", "score"} <= names and bool(names & {"sent_at", "created_at"})


def survey_scale(conn: Connection, default: int) -> int:
    """The scale the surveys were answered on: a ``scale`` column when there is one."""
    names = columns(conn, "surveys")
    if "scale" in names:
        # '1-5' or '0-10' (or a bare maximum): the widest scale any survey was sent on.
        found = [str(r[0]) for r in conn.execute("SELECT DISTINCT scale FROM surveys")]
        tops = [int(s.rpartition("-")[2]) for s in found if s.rpartition("-")[2].isdigit()]
        if tops:
            return max(tops)
    return default


def _surveys(
    conn: Connection,
    found: dict[tuple[str, str], Tally],
    span: list[str],
    extra: list[Any],
    threshold: int,
) -> None:
    names = columns(conn, "surveys")
    sent = "sent_at" if "sent_at" in names else "created_at"
    # An answer is whatever the requester said: a "not solved" or a comment without a
    # score answers the survey too. Scores alone make the satisfaction figures.
    said = [f"s.{c} IS NOT NULL" for c in ("solved", "score") if c in names]
    if "comment" in names:
        said.append("coalesce(s.comment, '') != ''")
    answered = " OR ".join(said)
    rows = conn.execute(
        # count(*) FILTER, not sum() of a comparison: PostgreSQL sums no booleans.
        f"SELECT t.queue, t.assignee, count(*), count(*) FILTER (WHERE {answered}),"  # noqa: S608
        " count(s.score), coalesce(sum(s.score), 0),"
        " count(*) FILTER (WHERE s.score >= ?), count(*) FILTER (WHERE s.score >= 9),"
        " count(*) FILTER (WHERE s.score <= 6)"
        " FROM surveys AS s JOIN tickets AS t ON t.number = s.ticket"
        f" WHERE s.{sent} >= ? AND s.{sent} < ? AND (? = '' OR t.queue = ?)"
        " GROUP BY t.queue, t.assignee",
        [threshold, *span, *extra],
    ).fetchall()
    for q, agent, n, replies, scored, total, satisfied, promoters, detractors in rows:
        tally = found.setdefault((q, (agent or "").lower()), Tally())
        tally.surveys_sent += n
        tally.surveys_answered += replies
        tally.surveys_scored += scored
        tally.score_sum += int(total)  # PostgreSQL's sum of integers is a Decimal
        tally.satisfied += satisfied
        tally.promoters += promoters
        tally.detractors += detractors


def survey_settings(config: Config) -> tuple[int, int]:
    """(top of the scale, low-score threshold) from the ``[surveys]`` settings, if any.

    Scores at or above the threshold count as satisfied; by default 3 of 5 and 7 of 10.
    """
    surveys: Any = getattr(config, "surveys", None)  # absent before surveys existed
    scale_text = str(getattr(surveys, "scale", "1-5"))
    scale = int(scale_text.rpartition("-")[2]) if scale_text[-1:].isdigit() else 5
    threshold = int(getattr(surveys, "threshold", 0) or 0)
    return scale, threshold or (7 if scale == 10 else 3)


def monthly(
    conn: Connection,
    config: Config,
    month: str,
    queue: str | None = None,
    calendar: WorkingCalendar | None = None,
) -> Report:
    """The report of ``month`` (YYYY-MM, in the calendar's time zone)."""
    calendar = calendar or working_calendar(config)
    start, end = month_bounds(month, calendar.zone)
    scale, threshold = survey_settings(config)
    surveys = has_surveys(conn)
    if surveys:
        scale = survey_scale(conn, scale)
        if scale == 10 and threshold <= 5:
            threshold = 7
    return build(
        month,
        queue,
        ticket_rows(conn, start, end, queue),
        cells(conn, start, end, queue, threshold),
        calendar,
        policy(config),
        surveys=surveys,
        scale=scale,
        threshold=threshold,
    )
