"""Working hours: when an institution is open and how much working time lies between instants.

PURE: no clock, no I/O. Every instant in and out is timezone-aware, and every instant out is
in UTC, like the clock and the store. Local datetimes are a trap for arithmetic: Python
subtracts two datetimes that share a tzinfo by wall clock (miscounting every day on which
the clocks change), and compares a datetime in a repeated hour as unequal to the same
instant in another zone (PEP 495). Convert with ``astimezone(calendar.zone)`` to display.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_HOURS: Mapping[str, str] = MappingProxyType(
    {**dict.fromkeys(DAYS[:5], "08:00-20:00"), "sat": "", "sun": ""}
)

Period = tuple[int, int]
"""A working period of one weekday: minutes after local midnight, [start, end), end <= 1440."""

_DAY = timedelta(days=1)
_TICK = timedelta(microseconds=1)
_ZERO = timedelta(0)
_QUIET_DAYS = 14  # past the last holiday and closure, the weekly pattern repeats within 7 days
_PERIOD_RE = re.compile(r"(\d\d):(\d\d)-(\d\d):(\d\d)")
_KNOWN_DAYS = 4096  # days whose open intervals a calendar keeps worked out (a decade or so)


def _parse_day(day: str, text: str) -> tuple[Period, ...]:
    periods: list[Period] = []
    for item in (part.strip() for part in text.split(",")) if text.strip() else ():
        match = _PERIOD_RE.fullmatch(item)
        h1, m1, h2, m2 = (int(g) for g in match.groups()) if match else (99, 0, 99, 0)
        if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2):
            raise ValueError(f"hours.{day}: {item!r} is not HH:MM-HH:MM")
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if end <= start:
            raise ValueError(
                f"hours.{day}: {item!r} does not end after it starts"
                " (a period cannot cross midnight: end it at 24:00 and go on the next day)"
            )
        periods.append((start, end))
    return _merged_periods(day, sorted(periods))


def _merged_periods(day: str, periods: list[Period]) -> tuple[Period, ...]:
    merged: list[Period] = []
    for start, end in periods:
        if not 0 <= start < end <= 1440:
            raise ValueError(f"hours.{day}: {(start, end)} is not a period of minutes in a day")
        if merged and start < merged[-1][1]:
            raise ValueError(f"hours.{day}: {_fmt(merged[-1])!r} overlaps {_fmt((start, end))!r}")
        if merged and start == merged[-1][1]:  # touching periods are one period
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return tuple(merged)


def _fmt(period: Period) -> str:
    (h1, m1), (h2, m2) = divmod(period[0], 60), divmod(period[1], 60)
    return f"{h1:02d}:{m1:02d}-{h2:02d}:{m2:02d}"


def _utc(instant: datetime, what: str) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {instant.isoformat()}")
    return instant.astimezone(UTC)


_DEFAULT_WEEK = tuple(_parse_day(day, DEFAULT_HOURS[day]) for day in DAYS)


@dataclass(frozen=True)
class WorkingCalendar:
    """Working hours in one time zone, with holidays and one-off closures.

    ``week`` holds the periods of Monday..Sunday (see ``Period``); ``holidays`` are local
    dates on which nothing is open; ``closures`` are aware [start, end) intervals during
    which nothing is open (normalised to sorted, merged UTC intervals). Results are UTC.

    >>> cal = WorkingCalendar(ZoneInfo("America/Bogota"))
    >>> friday_noon = datetime(2026, 3, 6, 12, tzinfo=cal.zone)
    >>> cal.between(friday_noon, friday_noon + timedelta(days=3)) == timedelta(hours=12)
    True
    """

    zone: ZoneInfo
    week: tuple[tuple[Period, ...], ...] = _DEFAULT_WEEK
    holidays: frozenset[date] = frozenset()
    closures: tuple[tuple[datetime, datetime], ...] = ()
    _closure_ends: tuple[datetime, ...] = field(init=False, repr=False, compare=False)
    _horizon: date = field(init=False, repr=False, compare=False)
    # Each day's open intervals and the next day worth a look, worked out once: every new
    # ticket's due times walk the same few days, and each day costs time-zone arithmetic.
    _known: dict[date, tuple[tuple[tuple[datetime, datetime], ...], date]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if not isinstance(self.zone, ZoneInfo):
            raise ValueError(f"timezone: expected a zoneinfo.ZoneInfo, got {self.zone!r}")
        if len(self.week) != 7:
            raise ValueError(f"hours: expected 7 weekdays, got {len(self.week)}")
        week = tuple(
            _merged_periods(day, sorted(p)) for day, p in zip(DAYS, self.week, strict=True)
        )
        for holiday in self.holidays:
            if isinstance(holiday, datetime) or not isinstance(holiday, date):
                raise ValueError(f"holidays: {holiday!r} is not a date")
        checked = []
        for i, (start, end) in enumerate(self.closures):
            s, e = _utc(start, f"closures[{i}]: start"), _utc(end, f"closures[{i}]: end")
            if e <= s:
                raise ValueError(
                    f"closures[{i}]: {end.isoformat()} is not after {start.isoformat()}"
                )
            checked.append((s, e))
        closures: list[tuple[datetime, datetime]] = []
        for s, e in sorted(checked):
            if closures and s <= closures[-1][1]:  # overlapping or touching closures are one
                closures[-1] = (closures[-1][0], max(closures[-1][1], e))
            else:
                closures.append((s, e))
        # The UTC date is at most a day off the local one: close enough for a two-week margin.
        last_closure = closures[-1][1].date() if closures else date.min
        object.__setattr__(self, "week", week)
        object.__setattr__(self, "holidays", frozenset(self.holidays))
        object.__setattr__(self, "closures", tuple(closures))
        object.__setattr__(self, "_closure_ends", tuple(e for _, e in closures))
        object.__setattr__(
            self, "_horizon", max(max(self.holidays, default=date.min), last_closure)
        )

    @classmethod
    def from_config(
        cls,
        timezone: str,
        hours: Mapping[str, str],
        holidays: Iterable[date] = (),
        closures: Iterable[tuple[datetime, datetime]] = (),
    ) -> WorkingCalendar:
        """Build a calendar from configuration values; ValueError names what is wrong.

        Keys of ``hours`` are mon..sun; a missing key takes ``DEFAULT_HOURS``; "" is closed.

        >>> WorkingCalendar.from_config("America/Bogota", {"sat": "08:00-12:00"}).week[5]
        ((480, 720),)
        """
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError, OSError, TypeError):
            raise ValueError(f"timezone: unknown time zone {timezone!r}") from None
        unknown = sorted(set(hours) - set(DAYS))
        if unknown:
            raise ValueError(
                f"hours: unknown day {unknown[0]!r} (expected one of {', '.join(DAYS)})"
            )
        week = []
        for day in DAYS:
            text = hours.get(day, DEFAULT_HOURS[day])
            if not isinstance(text, str):
                raise ValueError(f"hours.{day}: expected a string like '08:00-20:00', got {text!r}")
            week.append(_parse_day(day, text))
        return cls(zone, tuple(week), frozenset(holidays), tuple(closures))

    def is_open(self, instant: datetime) -> bool:
        """Whether ``instant`` falls in a working period (periods are half-open: [start, end)).

        >>> cal = WorkingCalendar(ZoneInfo("America/Bogota"))
        >>> cal.is_open(datetime(2026, 3, 6, 19, 59, tzinfo=cal.zone))
        True
        """
        at = _utc(instant, "instant")
        return next(self._walk(at, at + _TICK), None) is not None

    def next_open(self, instant: datetime) -> datetime:
        """``instant`` itself if open, else the start of the next working period.

        >>> cal = WorkingCalendar(ZoneInfo("America/Bogota"))
        >>> cal.next_open(datetime(2026, 3, 6, 20, tzinfo=cal.zone)).isoformat()
        '2026-03-09T13:00:00+00:00'
        """
        start, _ = next(self._walk(_utc(instant, "instant"), None))
        return start

    def add(self, instant: datetime, working: timedelta) -> datetime:
        """The instant at which ``working`` working time has elapsed since ``instant``.

        A result that uses up a period exactly is that period's end (Friday 20:00, not
        Monday 08:00); adding zero returns ``instant`` itself. So add(add(t, a), b) equals
        add(t, a + b) and between(t, add(t, w)) equals w.

        >>> cal = WorkingCalendar(ZoneInfo("America/Santo_Domingo"))
        >>> due = cal.add(datetime(2026, 3, 6, 19, 30, tzinfo=cal.zone), timedelta(hours=24))
        >>> due.isoformat(), due.astimezone(cal.zone).isoformat()
        ('2026-03-10T23:30:00+00:00', '2026-03-10T19:30:00-04:00')
        """
        start = _utc(instant, "instant")
        if working < _ZERO:
            raise ValueError(f"working time must not be negative, got {working}")
        if working == _ZERO:
            return start
        remaining = working
        for period_start, period_end in self._walk(start, None):
            if remaining <= period_end - period_start:
                return period_start + remaining
            remaining -= period_end - period_start
        raise AssertionError("unreachable: the walk without a stop never ends")  # pragma: no cover

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Working time in [start, end); zero if ``end`` <= ``start``.

        >>> cal = WorkingCalendar(ZoneInfo("America/Santo_Domingo"))
        >>> friday_7pm = datetime(2026, 3, 6, 19, tzinfo=cal.zone)
        >>> cal.between(friday_7pm, friday_7pm + timedelta(days=2, hours=14)) == timedelta(hours=2)
        True
        """
        a, b = _utc(start, "start"), _utc(end, "end")
        return sum((e - s for s, e in self._walk(a, b)), _ZERO) if a < b else _ZERO

    def periods(self, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The open periods in [start, end), clipped to it; touching periods come out merged.

        >>> cal = WorkingCalendar.from_config("America/Bogota", {"mon": "08:00-13:00,15:00-19:00"})
        >>> monday = datetime(2026, 3, 9, tzinfo=cal.zone)
        >>> [(s.hour, e.hour) for s, e in cal.periods(monday, monday + timedelta(days=1))]  # UTC
        [(13, 18), (20, 0)]
        """
        a, b = _utc(start, "start"), _utc(end, "end")
        return _merged(self._walk(a, b))

    def _boundary(self, day: date, minute: int) -> datetime:
        """The first instant (UTC) at which the local clock reads ``minute`` of ``day`` or later.

        This one rule settles the days the clocks change: a wall time in the repeated hour of
        a fall-back is its first occurrence (fold=0), and a wall time that does not exist
        (the gap of a spring-forward) is the instant the clock jumps over it. So a period
        02:30-04:00 on a day whose 02:00-03:00 is skipped runs 03:00-04:00, and a period that
        lies entirely inside the gap is empty that day.
        """
        hour, minute = divmod(minute, 60)
        wall = datetime.combine(day + timedelta(days=hour // 24), time(hour % 24, minute))
        wall = wall.replace(tzinfo=self.zone)  # fold=0: the first of two readings
        utc = wall.astimezone(UTC)
        if utc.astimezone(self.zone).replace(tzinfo=None) == wall.replace(tzinfo=None):
            return utc
        # In a gap fold=1 reads the wall time with the offset after the jump, which lands
        # before the jump, and fold=0 with the offset before it, which lands after: bisect.
        low, high = wall.replace(fold=1).astimezone(UTC), utc
        before = low.astimezone(self.zone).utcoffset()
        while high - low > _TICK:
            middle = low + (high - low) // 2
            low, high = (
                (middle, high)
                if middle.astimezone(self.zone).utcoffset() == before
                else (low, middle)
            )
        return high

    def _day(self, day: date) -> Iterator[tuple[datetime, datetime]]:
        """The open UTC intervals of one local day, closures cut out, in order."""
        if day in self.holidays:
            return
        for first, last in self.week[day.weekday()]:
            start, end = self._boundary(day, first), self._boundary(day, last)
            i = bisect.bisect_right(self._closure_ends, start)
            while start < end and i < len(self.closures):
                closed_from, closed_until = self.closures[i]
                if closed_from >= end:
                    break
                if closed_from > start:
                    yield start, closed_from
                start, i = max(start, closed_until), i + 1
            if start < end:
                yield start, end

    def _walk(self, start: datetime, stop: datetime | None) -> Iterator[tuple[datetime, datetime]]:
        """Open UTC intervals clipped to [start, stop), in order, day by day (not merged).

        Without ``stop`` the walk goes on for as long as it is consumed; it raises ValueError
        once two weeks past the last holiday, the last closure and the last open period have
        gone by with nothing open, because from then on nothing ever will be.
        """
        if stop is None and not any(self.week):
            raise ValueError("the calendar has no working hours on any weekday")
        day = start.astimezone(self.zone).date()
        # A fall-back across midnight can put an instant of the previous date after the next
        # day's first minute, so the walk goes one day past the date of ``stop``.
        last_day = (
            min(stop.astimezone(self.zone).date(), date.max - _DAY) + _DAY
            if stop is not None
            else date.max
        )
        quiet_since = day
        while day <= last_day:
            try:
                intervals, following = self._open(day)
            except OverflowError:  # a closure or a search that runs into year 9999
                raise ValueError("the calendar has no working hours before year 9999") from None
            for s, e in intervals:
                s, e = max(s, start), e if stop is None else min(e, stop)
                if s < e:
                    quiet_since = day
                    yield s, e
            if stop is None and (day - max(quiet_since, self._horizon)).days > _QUIET_DAYS:
                raise ValueError(f"the calendar has no working hours after {quiet_since}")
            day = following

    def _open(self, day: date) -> tuple[tuple[tuple[datetime, datetime], ...], date]:
        """``_day`` and ``_skip_closure`` of ``day``, remembered (the calendar never changes)."""
        known = self._known.get(day)
        if known is None:
            if len(self._known) >= _KNOWN_DAYS:
                self._known.clear()
            known = (tuple(self._day(day)), self._skip_closure(day))
            self._known[day] = known
        return known

    def _skip_closure(self, day: date) -> date:
        """The next day worth looking at: days inside one long closure are skipped at once."""
        day += _DAY
        morning = self._boundary(day, 0)
        i = bisect.bisect_right(self._closure_ends, morning)
        if i < len(self.closures) and self.closures[i][0] <= morning:
            day = max(day, self.closures[i][1].astimezone(self.zone).date())
        return day


def _merged(intervals: Iterator[tuple[datetime, datetime]]) -> Iterator[tuple[datetime, datetime]]:
    """Ordered intervals with touching ones joined (a shift that runs past midnight, say)."""
    pending: tuple[datetime, datetime] | None = None
    for start, end in intervals:
        if pending is not None and start <= pending[1]:
            pending = (pending[0], max(pending[1], end))
            continue
        if pending is not None:
            yield pending
        pending = (start, end)
    if pending is not None:
        yield pending


_PLAIN_RE = re.compile(r"(\d{4}-\d{2}-\d{2})(?!\d)")
_ICS_DATE_RE = re.compile(r"(\d{8})(T\d{6}Z?)?")


def parse_holidays(text: str) -> list[date]:
    """Holiday dates, sorted and unique, from a plain list or an iCalendar (ICS) file.

    Plain: one ISO date per line, optionally followed by text; '#' starts a comment. ICS:
    every VEVENT's DTSTART date (a date-time gives its date), through its DTEND when that is
    later (a DTEND date is exclusive, as RFC 5545 says). ValueError names the bad line.

    >>> parse_holidays("2026-12-25 Navidad  # fixed\\n# comment\\n2026-01-01")
    [datetime.date(2026, 1, 1), datetime.date(2026, 12, 25)]
    """
    text = text.removeprefix("\ufeff")
    if "BEGIN:VCALENDAR" in text.upper() or "BEGIN:VEVENT" in text.upper():
        return sorted(set(_parse_ics(text)))
    dates: set[date] = set()
    for number, line in enumerate(text.splitlines(), 1):
        content = line.split("#", 1)[0].strip()
        if not content:
            continue
        match = _PLAIN_RE.match(content)
        if not match:
            raise ValueError(f"holidays line {number}: {content!r} does not start with YYYY-MM-DD")
        try:
            dates.add(date.fromisoformat(match.group(1)))
        except ValueError:
            raise ValueError(f"holidays line {number}: {match.group(1)!r} is not a date") from None
    return sorted(dates)


def _parse_ics(text: str) -> Iterator[date]:
    # RFC 5545 folds long lines: a line starting with a space or tab continues the previous.
    lines: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if line[:1] in (" ", "\t") and lines:
            lines[-1] = (lines[-1][0], lines[-1][1] + line[1:])
        else:
            lines.append((number, line))
    event: dict[str, tuple[date, bool]] | None = None
    for number, line in lines:
        head, _, value = line.partition(":")
        name, *params = head.strip().upper().split(";")
        value = value.strip()
        if name in ("BEGIN", "END") and value.upper() == "VEVENT":
            if name == "END" and event is not None:
                yield from _event_days(number, event)
            event = {} if name == "BEGIN" else None
        elif event is not None and name == "RRULE":
            raise ValueError(f"holidays line {number}: recurring events (RRULE) are not supported")
        elif event is not None and name in ("DTSTART", "DTEND"):
            match = _ICS_DATE_RE.fullmatch(value)
            try:
                digits = match.group(1) if match else ""
                day = date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
            except ValueError:
                raise ValueError(f"holidays line {number}: {value!r} is not a date") from None
            clock = match.group(2) if match else None
            # A date (or a date-time at midnight) as DTEND is exclusive: the day is not included.
            event[name] = (day, clock is None or "VALUE=DATE" in params or clock[1:7] == "000000")


def _event_days(number: int, event: dict[str, tuple[date, bool]]) -> Iterator[date]:
    if "DTSTART" not in event:
        raise ValueError(f"holidays line {number}: VEVENT without DTSTART")
    first, _ = event["DTSTART"]
    end, exclusive = event.get("DTEND", (first, False))
    if end < first:
        raise ValueError(f"holidays line {number}: the event ends before it starts")
    last = max(first, end - _DAY if exclusive else end)
    return (first + timedelta(days=n) for n in range((last - first).days + 1))
