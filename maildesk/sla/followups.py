"""Follow-ups of a ticket: reminding a requester who owes an answer, closing what waits
too long, telling requesters of slow tickets how things stand. PURE.

Pending tickets count working days (``add_working_days``); resolved tickets and
progress notices count calendar days, as people do for "a week".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from maildesk.sla.calendar import WorkingCalendar
from maildesk.sla.rules import ACTIVE_STATES

_DAY = timedelta(days=1)
_SEARCH_DAYS = 3700  # about ten years: a calendar with no working day in them never opens


@dataclass(frozen=True)
class FollowUpRules:
    """Days of the follow-up jobs; 0 switches one off."""

    pending_reminder_days: int = 3  # working days
    pending_close_days: int = 0  # working days
    resolved_close_days: int = 7  # days
    progress_days: int = 7  # days


@dataclass(frozen=True)
class FollowUpFacts:
    state: str
    created_at: datetime
    pending_since: datetime | None = None
    resolved_at: datetime | None = None
    last_told: datetime | None = None  # the last mail anyone sent the requester
    reminded: bool = False  # the requester was reminded since the ticket went pending
    remind_at: datetime | None = None  # a reminder date set with the pending state, if any


@dataclass(frozen=True)
class FollowUp:
    action: str | None  # "remind", "close", "progress", or None
    next_at: datetime | None  # when to look again; None: not until the state changes


def follow_up(
    facts: FollowUpFacts, rules: FollowUpRules, calendar: WorkingCalendar, now: datetime
) -> FollowUp:
    """The follow-up due on a ticket at ``now``, and when the next one falls.

    Pending: remind the requester after ``pending_reminder_days`` working days (or at
    ``remind_at``), close after ``pending_close_days``, and never before a working day has
    passed since the reminder fell due. Resolved: close after ``resolved_close_days`` days.
    Active and older than ``progress_days`` days, with nobody having written to the requester for as
    long: a progress notice, sent in working hours.

    >>> from zoneinfo import ZoneInfo
    >>> cal = WorkingCalendar(ZoneInfo("America/Bogota"))
    >>> monday = datetime(2026, 3, 2, 10, tzinfo=cal.zone)
    >>> facts = FollowUpFacts("pending", monday, pending_since=monday)
    >>> later = follow_up(facts, FollowUpRules(), cal, monday)
    >>> later.action, later.next_at.astimezone(cal.zone).isoformat()
    (None, '2026-03-05T10:00:00-05:00')
    """
    if facts.state == "pending" and facts.pending_since is not None:
        since = facts.pending_since
        remind = facts.remind_at or (
            add_working_days(calendar, since, rules.pending_reminder_days)
            if rules.pending_reminder_days
            else None
        )
        close = (
            add_working_days(calendar, since, rules.pending_close_days)
            if rules.pending_close_days
            else None
        )
        if close is not None and remind is not None:
            close = max(close, add_working_days(calendar, remind, 1))
        if close is not None and close <= now:
            return FollowUp("close", None)
        if remind is not None and not facts.reminded:
            return FollowUp("remind", close) if remind <= now else FollowUp(None, remind)
        return FollowUp(None, close)
    if facts.state == "resolved" and facts.resolved_at is not None and rules.resolved_close_days:
        close = facts.resolved_at + rules.resolved_close_days * _DAY
        return FollowUp("close", None) if close <= now else FollowUp(None, close)
    if facts.state in ACTIVE_STATES and rules.progress_days:
        period = rules.progress_days * _DAY
        quiet_since = max(facts.created_at, facts.last_told or facts.created_at)
        due = calendar.next_open(quiet_since + period)
        if due <= now:
            return FollowUp("progress", calendar.next_open(now + period))
        return FollowUp(None, due)
    return FollowUp(None, None)


def working_days(calendar: WorkingCalendar, first: date, count: int) -> Iterable[date]:
    """The first ``count`` local dates from ``first`` on (inclusive) that have working hours."""
    day, found = first, 0
    for _ in range(_SEARCH_DAYS):
        if found >= count:
            return
        midnight = datetime.combine(day, time()).replace(tzinfo=calendar.zone)
        if next(iter(calendar.periods(midnight, midnight + _DAY)), None) is not None:
            found += 1
            yield day
        day += _DAY
    raise ValueError(f"the calendar has no working day in the {_SEARCH_DAYS} days after {first}")


def add_working_days(calendar: WorkingCalendar, instant: datetime, days: int) -> datetime:
    """The same local time ``days`` working days later, counted from the next working minute.

    A working day is a local date with any working hours (holidays and weekends are
    not). If that day is closed at that time of day, the next working minute after it.

    >>> from zoneinfo import ZoneInfo
    >>> cal = WorkingCalendar(ZoneInfo("America/Bogota"))
    >>> friday = datetime(2026, 3, 6, 10, tzinfo=cal.zone)
    >>> add_working_days(cal, friday, 2).astimezone(cal.zone).isoformat()
    '2026-03-10T10:00:00-05:00'
    """
    start = calendar.next_open(instant).astimezone(calendar.zone)
    if days <= 0:
        return calendar.next_open(instant)
    *_, last = working_days(calendar, start.date() + _DAY, days)
    wall = start.replace(year=last.year, month=last.month, day=last.day)  # same wall clock
    return calendar.next_open(wall)
