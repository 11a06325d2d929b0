"""Working time between many pairs of instants, fast: a running total by local day.

PURE. ``WorkingCalendar.between`` walks the calendar from one instant to the other, which
is right for one question and slow for thousands (the monthly report asks two per ticket:
first response and resolution, each often spanning days). Here each local day's open
periods are asked for once, with the working time before the day since an origin; then
``span(a, b)`` is ``at(b) - at(a)``, exact because working time adds up over [a, b).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from maildesk.sla.calendar import WorkingCalendar

_ZERO = timedelta(0)
_HORIZON = 3660  # days after the origin kept in the table; later instants walk the calendar


class WorkingClock:
    """``span`` agrees with ``calendar.between`` for any two instants.

    >>> from zoneinfo import ZoneInfo
    >>> cal = WorkingCalendar(ZoneInfo("America/Santo_Domingo"))
    >>> clock = WorkingClock(cal, date(2026, 3, 1))
    >>> friday_7pm = datetime(2026, 3, 6, 19, tzinfo=cal.zone)
    >>> clock.span(friday_7pm, friday_7pm + timedelta(days=3)) == timedelta(hours=12)
    True
    """

    def __init__(self, calendar: WorkingCalendar, origin: date) -> None:
        self.calendar = calendar
        self.origin = origin
        # For day origin + i: (working time from the origin to the day's start, its periods).
        self._days: list[tuple[timedelta, tuple[tuple[datetime, datetime], ...]]] = []

    def span(self, start: datetime, end: datetime) -> timedelta:
        """Working time in [start, end); zero if ``end`` <= ``start``."""
        if end <= start:
            return _ZERO
        a, b = self._at(start), self._at(end)
        if a is None or b is None:  # outside the table: ask the calendar
            return self.calendar.between(start, end)
        return b - a

    def _midnight(self, day: date) -> datetime:
        return datetime.combine(day, time(), tzinfo=self.calendar.zone)

    def _at(self, instant: datetime) -> timedelta | None:
        """Working time from the origin's midnight to ``instant``."""
        day = instant.astimezone(self.calendar.zone).date()
        index = (day - self.origin).days
        if not 0 <= index < _HORIZON:
            return None
        while len(self._days) <= index:
            if self._days:
                before, periods = self._days[-1]
                before += sum((e - s for s, e in periods), _ZERO)
            else:
                before = _ZERO
            current = self.origin + timedelta(days=len(self._days))
            following = current + timedelta(days=1)
            periods = tuple(
                self.calendar.periods(self._midnight(current), self._midnight(following))
            )
            self._days.append((before, periods))
        before, periods = self._days[index]
        return before + sum((min(e, instant) - s for s, e in periods if s < instant), _ZERO)
