"""The working-hours calendar: tables of cases, then properties that must hold everywhere."""

from __future__ import annotations

import doctest
import itertools
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from maildesk.sla import calendar as calendar_module
from maildesk.sla.calendar import DAYS, WorkingCalendar, parse_holidays

SANTO_DOMINGO = ZoneInfo("America/Santo_Domingo")  # UTC-4 all year
BOGOTA = ZoneInfo("America/Bogota")  # UTC-5 all year
MADRID = ZoneInfo("Europe/Madrid")  # 2026: 03-29 02:00 -> 03:00, 10-25 03:00 -> 02:00
MEXICO = ZoneInfo("America/Mexico_City")  # 2022: 04-03 02:00 -> 03:00, 10-30 02:00 -> 01:00
SANTIAGO = ZoneInfo("America/Santiago")  # 2026: 04-05 00:00 -> 04-04 23:00, 09-06 00:00 -> 01:00
ALL_DAY = dict.fromkeys(DAYS, "00:00-24:00")
H = timedelta(hours=1)


def at(zone: ZoneInfo, y: int, m: int, d: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(y, m, d, hour, minute, tzinfo=zone)


def cal(
    zone: ZoneInfo,
    hours: Mapping[str, str] | None = None,
    holidays: Iterable[date] = (),
    closures: Iterable[tuple[datetime, datetime]] = (),
) -> WorkingCalendar:
    return WorkingCalendar.from_config(zone.key, hours or {}, holidays, closures)


def test_docstring_examples_are_true() -> None:
    assert doctest.testmod(calendar_module).failed == 0


# --- configuration ------------------------------------------------------------------------

DEFAULT_WEEK = (((480, 1200),),) * 5 + ((), ())


@pytest.mark.parametrize(
    ("hours", "week"),
    [
        ({}, DEFAULT_WEEK),
        ({"mon": "08:00-13:00,15:00-19:00"}, (((480, 780), (900, 1140)), *DEFAULT_WEEK[1:])),
        ({"mon": " 15:00-19:00 , 08:00-13:00 "}, (((480, 780), (900, 1140)), *DEFAULT_WEEK[1:])),
        ({"mon": "08:00-12:00,12:00-14:00"}, (((480, 840),), *DEFAULT_WEEK[1:])),
        ({"fri": "", "sat": "09:00-12:00"}, (*DEFAULT_WEEK[:4], (), ((540, 720),), ())),
        ({"sun": "00:00-24:00"}, (*DEFAULT_WEEK[:6], ((0, 1440),))),
    ],
)
def test_from_config_reads_hours(hours: dict[str, str], week: tuple[object, ...]) -> None:
    assert cal(BOGOTA, hours).week == week


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone: unknown time zone 'Mars/Olympus'"),
        ({"timezone": "America"}, "timezone: unknown time zone 'America'"),
        ({"timezone": ""}, "timezone: unknown time zone ''"),
        ({"hours": {"monday": "08:00-12:00"}}, "hours: unknown day 'monday'"),
        ({"hours": {"mon": "25:00-26:00"}}, "hours.mon: '25:00-26:00' is not HH:MM-HH:MM"),
        ({"hours": {"mon": "8:00-12:00"}}, "hours.mon: '8:00-12:00' is not HH:MM-HH:MM"),
        ({"hours": {"mon": "08:00-24:30"}}, "hours.mon: '08:00-24:30' is not HH:MM-HH:MM"),
        ({"hours": {"mon": "08:60-12:00"}}, "hours.mon: '08:60-12:00' is not HH:MM-HH:MM"),
        ({"hours": {"tue": "08:00-12:00,"}}, "hours.tue: '' is not HH:MM-HH:MM"),
        ({"hours": {"mon": "20:00-08:00"}}, "hours.mon: '20:00-08:00' does not end after"),
        ({"hours": {"mon": "08:00-08:00"}}, "hours.mon: '08:00-08:00' does not end after"),
        ({"hours": {"wed": "08:00-13:00,12:00-15:00"}}, "hours.wed: '08:00-13:00' overlaps"),
        ({"hours": {"mon": 8}}, "hours.mon: expected a string"),
        ({"holidays": [datetime(2026, 1, 1, tzinfo=UTC)]}, "holidays: .* is not a date"),
        ({"holidays": ["2026-01-01"]}, "holidays: '2026-01-01' is not a date"),
        (
            {"closures": [(datetime(2026, 1, 2), datetime(2026, 1, 3, tzinfo=UTC))]},  # noqa: DTZ001
            r"closures\[0\]: start must be timezone-aware",
        ),
        (
            {"closures": [(at(BOGOTA, 2026, 1, 3), at(BOGOTA, 2026, 1, 2))]},
            r"closures\[0\]: 2026-01-02T00:00:00-05:00 is not after",
        ),
    ],
)
def test_from_config_rejects(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"timezone": "America/Bogota", "hours": {}} | kwargs
    with pytest.raises(ValueError, match=message):
        WorkingCalendar.from_config(**arguments)  # type: ignore[arg-type]


def test_closures_are_normalised_to_merged_utc_intervals() -> None:
    calendar = cal(
        BOGOTA,
        closures=[
            (at(BOGOTA, 2026, 3, 9, 12), at(BOGOTA, 2026, 3, 9, 14)),
            (at(BOGOTA, 2026, 3, 9, 10), at(BOGOTA, 2026, 3, 9, 12)),
            (at(BOGOTA, 2026, 3, 10, 10), at(BOGOTA, 2026, 3, 10, 11)),
        ],
    )
    assert calendar.closures == (
        (datetime(2026, 3, 9, 15, tzinfo=UTC), datetime(2026, 3, 9, 19, tzinfo=UTC)),
        (datetime(2026, 3, 10, 15, tzinfo=UTC), datetime(2026, 3, 10, 16, tzinfo=UTC)),
    )


# --- the working week: Santo Domingo, Monday-Friday 08:00-20:00 unless told otherwise -------

SD = cal(SANTO_DOMINGO)
SD_HOLIDAY = cal(SANTO_DOMINGO, holidays=[date(2026, 3, 9)])  # Monday 2026-03-09
SD_SPLIT = cal(SANTO_DOMINGO, dict.fromkeys(DAYS[:5], "08:00-13:00,15:00-19:00"))
SD_CLOSED = cal(
    SANTO_DOMINGO,
    closures=[(at(SANTO_DOMINGO, 2026, 3, 9, 10), at(SANTO_DOMINGO, 2026, 3, 9, 14))],
)
FRIDAY_1930 = at(SANTO_DOMINGO, 2026, 3, 6, 19, 30)


def test_friday_1930_plus_24_working_hours_is_tuesday_1930() -> None:
    # Friday 19:30-20:00 is half an hour, Monday 08:00-20:00 twelve, and the last eleven and
    # a half run Tuesday 08:00-19:30: due Tuesday 2026-03-10 19:30 -04:00, 23:30 UTC.
    due = SD.add(FRIDAY_1930, timedelta(hours=24))
    assert due == datetime(2026, 3, 10, 23, 30, tzinfo=UTC)
    assert due.astimezone(SANTO_DOMINGO).isoformat() == "2026-03-10T19:30:00-04:00"


@pytest.mark.parametrize(
    ("calendar", "start", "working", "expected"),
    [
        (SD, FRIDAY_1930, 24 * H, at(SANTO_DOMINGO, 2026, 3, 10, 19, 30)),
        (SD_HOLIDAY, FRIDAY_1930, 24 * H, at(SANTO_DOMINGO, 2026, 3, 11, 19, 30)),
        (SD, FRIDAY_1930, timedelta(minutes=30), at(SANTO_DOMINGO, 2026, 3, 6, 20)),
        (SD, FRIDAY_1930, timedelta(minutes=31), at(SANTO_DOMINGO, 2026, 3, 9, 8, 1)),
        (SD, FRIDAY_1930, timedelta(0), FRIDAY_1930),
        (SD, at(SANTO_DOMINGO, 2026, 3, 7, 10), 24 * H, at(SANTO_DOMINGO, 2026, 3, 10, 20)),
        (SD, at(SANTO_DOMINGO, 2026, 3, 7, 10), timedelta(0), at(SANTO_DOMINGO, 2026, 3, 7, 10)),
        (SD, at(SANTO_DOMINGO, 2026, 3, 9, 0), H, at(SANTO_DOMINGO, 2026, 3, 9, 9)),
        (SD, at(SANTO_DOMINGO, 2026, 3, 9, 23, 59), H, at(SANTO_DOMINGO, 2026, 3, 10, 9)),
        (SD, at(SANTO_DOMINGO, 2026, 1, 5, 8), 1000 * H, at(SANTO_DOMINGO, 2026, 4, 30, 12)),
        (SD_SPLIT, at(SANTO_DOMINGO, 2026, 3, 9, 12), 2 * H, at(SANTO_DOMINGO, 2026, 3, 9, 16)),
        (SD_SPLIT, at(SANTO_DOMINGO, 2026, 3, 6, 18), 2 * H, at(SANTO_DOMINGO, 2026, 3, 9, 9)),
        (SD_CLOSED, at(SANTO_DOMINGO, 2026, 3, 9, 9), 3 * H, at(SANTO_DOMINGO, 2026, 3, 9, 16)),
        (SD_CLOSED, at(SANTO_DOMINGO, 2026, 3, 9, 11), H, at(SANTO_DOMINGO, 2026, 3, 9, 15)),
        (SD, datetime(2026, 3, 6, 23, 30, tzinfo=UTC), H, at(SANTO_DOMINGO, 2026, 3, 9, 8, 30)),
    ],
)
def test_add(
    calendar: WorkingCalendar, start: datetime, working: timedelta, expected: datetime
) -> None:
    result = calendar.add(start, working)
    assert result == expected
    assert result.tzinfo is UTC
    assert calendar.between(start, result) == working


@pytest.mark.parametrize(
    ("calendar", "instant", "expected"),
    [
        (SD, at(SANTO_DOMINGO, 2026, 3, 6, 8), True),
        (SD, at(SANTO_DOMINGO, 2026, 3, 6, 7, 59), False),
        (SD, at(SANTO_DOMINGO, 2026, 3, 6, 19, 59) + timedelta(seconds=59.999999), True),
        (SD, at(SANTO_DOMINGO, 2026, 3, 6, 20), False),
        (SD, at(SANTO_DOMINGO, 2026, 3, 7, 12), False),
        (SD, at(SANTO_DOMINGO, 2026, 3, 8, 12), False),
        (SD, at(SANTO_DOMINGO, 2026, 3, 9, 0), False),
        (SD, datetime(2026, 3, 6, 12, tzinfo=UTC), True),  # 08:00 in Santo Domingo
        (SD, datetime(2026, 3, 6, 11, 59, tzinfo=UTC), False),
        (SD_HOLIDAY, at(SANTO_DOMINGO, 2026, 3, 9, 12), False),
        (SD_HOLIDAY, at(SANTO_DOMINGO, 2026, 3, 10, 12), True),
        (SD_SPLIT, at(SANTO_DOMINGO, 2026, 3, 9, 12, 59), True),
        (SD_SPLIT, at(SANTO_DOMINGO, 2026, 3, 9, 13), False),
        (SD_SPLIT, at(SANTO_DOMINGO, 2026, 3, 9, 15), True),
        (SD_SPLIT, at(SANTO_DOMINGO, 2026, 3, 9, 19, 30), False),
        (SD_CLOSED, at(SANTO_DOMINGO, 2026, 3, 9, 9, 59), True),
        (SD_CLOSED, at(SANTO_DOMINGO, 2026, 3, 9, 10), False),
        (SD_CLOSED, at(SANTO_DOMINGO, 2026, 3, 9, 14), True),
    ],
)
def test_is_open(calendar: WorkingCalendar, instant: datetime, expected: bool) -> None:
    assert calendar.is_open(instant) is expected


@pytest.mark.parametrize(
    ("calendar", "instant", "expected"),
    [
        (SD, at(SANTO_DOMINGO, 2026, 3, 6, 12), at(SANTO_DOMINGO, 2026, 3, 6, 12)),
        (SD, at(SANTO_DOMINGO, 2026, 3, 6, 20), at(SANTO_DOMINGO, 2026, 3, 9, 8)),
        (SD, at(SANTO_DOMINGO, 2026, 3, 8, 23, 59), at(SANTO_DOMINGO, 2026, 3, 9, 8)),
        (SD, at(SANTO_DOMINGO, 2026, 3, 9, 3), at(SANTO_DOMINGO, 2026, 3, 9, 8)),
        (SD_HOLIDAY, at(SANTO_DOMINGO, 2026, 3, 6, 20), at(SANTO_DOMINGO, 2026, 3, 10, 8)),
        (SD_SPLIT, at(SANTO_DOMINGO, 2026, 3, 9, 13, 30), at(SANTO_DOMINGO, 2026, 3, 9, 15)),
        (SD_CLOSED, at(SANTO_DOMINGO, 2026, 3, 9, 10), at(SANTO_DOMINGO, 2026, 3, 9, 14)),
    ],
)
def test_next_open(calendar: WorkingCalendar, instant: datetime, expected: datetime) -> None:
    assert calendar.next_open(instant) == expected


@pytest.mark.parametrize(
    ("calendar", "start", "end", "expected"),
    [
        (SD, at(SANTO_DOMINGO, 2026, 3, 6, 19), at(SANTO_DOMINGO, 2026, 3, 9, 9), 2 * H),
        (SD, at(SANTO_DOMINGO, 2026, 3, 9), at(SANTO_DOMINGO, 2026, 3, 16), 60 * H),
        (SD, at(SANTO_DOMINGO, 2026, 3, 9, 9), at(SANTO_DOMINGO, 2026, 3, 9, 9), timedelta(0)),
        (SD, at(SANTO_DOMINGO, 2026, 3, 9, 10), at(SANTO_DOMINGO, 2026, 3, 9, 9), timedelta(0)),
        (SD, at(SANTO_DOMINGO, 2026, 3, 7), at(SANTO_DOMINGO, 2026, 3, 9), timedelta(0)),
        (SD_HOLIDAY, at(SANTO_DOMINGO, 2026, 3, 9), at(SANTO_DOMINGO, 2026, 3, 16), 48 * H),
        (SD_SPLIT, at(SANTO_DOMINGO, 2026, 3, 9), at(SANTO_DOMINGO, 2026, 3, 16), 45 * H),
        (SD_CLOSED, at(SANTO_DOMINGO, 2026, 3, 9), at(SANTO_DOMINGO, 2026, 3, 10), 8 * H),
        (SD, datetime(2026, 3, 9, 12, tzinfo=UTC), at(BOGOTA, 2026, 3, 9, 8), H),
    ],
)
def test_between(
    calendar: WorkingCalendar, start: datetime, end: datetime, expected: timedelta
) -> None:
    assert calendar.between(start, end) == expected


def test_a_year_without_holidays_is_twelve_hours_per_weekday() -> None:
    days = (date(2026, 1, 1) + timedelta(days=n) for n in range(365))
    weekdays = sum(1 for day in days if day.weekday() < 5)
    start, end = at(SANTO_DOMINGO, 2026, 1, 1), at(SANTO_DOMINGO, 2027, 1, 1)
    assert weekdays == 261
    assert SD.between(start, end) == 12 * H * weekdays
    assert cal(BOGOTA).between(at(BOGOTA, 2026, 1, 1), at(BOGOTA, 2027, 1, 1)) == 12 * H * 261


def test_long_spans_are_counted_per_day_not_per_minute() -> None:
    start = at(SANTO_DOMINGO, 2026, 1, 5, 8)
    due = SD.add(start, 20_000 * H)  # 1,666 working days of 12 hours, then 8 hours
    day, working_days = date(2026, 1, 5), 1
    while working_days <= 1_666:
        day += timedelta(days=1)
        working_days += day.weekday() < 5
    assert due == at(SANTO_DOMINGO, day.year, day.month, day.day, 16)
    assert due == at(SANTO_DOMINGO, 2032, 5, 25, 16)
    assert SD.between(start, due) == 20_000 * H


# --- periods ------------------------------------------------------------------------------

MONDAY = date(2026, 3, 9)


def local_periods(calendar: WorkingCalendar, start: datetime, end: datetime) -> list[str]:
    zone = calendar.zone
    return [
        f"{s.astimezone(zone):%a %H:%M}-{e.astimezone(zone):%a %H:%M}"
        for s, e in calendar.periods(start, end)
    ]


@pytest.mark.parametrize(
    ("hours", "closures", "start_hour", "end_hour", "expected"),
    [
        (
            {"mon": "08:00-13:00,15:00-19:00"},
            [],
            0,
            24,
            ["Mon 08:00-Mon 13:00", "Mon 15:00-Mon 19:00"],
        ),
        (
            {"mon": "08:00-13:00,15:00-19:00"},
            [],
            10,
            16,
            ["Mon 10:00-Mon 13:00", "Mon 15:00-Mon 16:00"],
        ),
        ({"mon": "08:00-13:00,15:00-19:00"}, [], 13, 15, []),
        ({"mon": "16:00-24:00", "tue": "00:00-08:00"}, [], 0, 48, ["Mon 16:00-Tue 08:00"]),
        ({}, [(10, 11)], 0, 24, ["Mon 08:00-Mon 10:00", "Mon 11:00-Mon 20:00"]),
        ({}, [(7, 9), (19, 21)], 0, 24, ["Mon 09:00-Mon 19:00"]),
        ({}, [(6, 22)], 0, 24, []),
        ({}, [(6, 8 + 24)], 0, 48, ["Tue 08:00-Tue 20:00"]),
        ({}, [(-24 * 3, 9 + 24)], -24 * 3, 48, ["Tue 09:00-Tue 20:00"]),
    ],
)
def test_periods(
    hours: dict[str, str],
    closures: list[tuple[int, int]],
    start_hour: int,
    end_hour: int,
    expected: list[str],
) -> None:
    midnight = at(BOGOTA, MONDAY.year, MONDAY.month, MONDAY.day)
    calendar = cal(
        BOGOTA, hours, closures=[(midnight + a * H, midnight + b * H) for a, b in closures]
    )
    assert local_periods(calendar, midnight + start_hour * H, midnight + end_hour * H) == expected


def test_results_are_utc() -> None:
    start, end = at(BOGOTA, 2026, 3, 9), at(BOGOTA, 2026, 3, 10)
    [(opens, closes)] = cal(BOGOTA).periods(start, end)
    assert (opens.isoformat(), closes.isoformat()) == (
        "2026-03-09T13:00:00+00:00",
        "2026-03-10T01:00:00+00:00",
    )
    assert cal(BOGOTA).next_open(start).tzinfo is UTC
    assert cal(BOGOTA).add(start, timedelta(0)).tzinfo is UTC


# --- daylight saving time -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "day", "working"),
    [
        (MADRID, date(2026, 3, 29), 23 * H),
        (MADRID, date(2026, 10, 25), 25 * H),
        (MADRID, date(2026, 6, 1), 24 * H),
        (MEXICO, date(2022, 4, 3), 23 * H),
        (MEXICO, date(2022, 10, 30), 25 * H),
        (MEXICO, date(2023, 4, 2), 24 * H),  # Mexico dropped daylight saving time in 2023
        (MEXICO, date(2023, 10, 29), 24 * H),
        (SANTIAGO, date(2026, 9, 6), 23 * H),  # the clock skips Sunday 00:00-01:00
        (SANTIAGO, date(2026, 4, 4), 25 * H),  # and repeats Saturday 23:00-24:00
        (SANTO_DOMINGO, date(2026, 3, 8), 24 * H),
        (SANTO_DOMINGO, date(2026, 11, 1), 24 * H),
        (BOGOTA, date(2026, 3, 8), 24 * H),
        (BOGOTA, date(2026, 11, 1), 24 * H),
    ],
)
def test_a_whole_day_lasts_as_long_as_the_clock_says(
    zone: ZoneInfo, day: date, working: timedelta
) -> None:
    calendar = cal(zone, ALL_DAY)
    following = day + timedelta(days=1)
    start = at(zone, day.year, day.month, day.day)
    end = at(zone, following.year, following.month, following.day)
    assert end.astimezone(UTC) - start.astimezone(UTC) == working  # the table is right
    assert calendar.between(start, end) == working
    assert calendar.add(start, working) == end


@pytest.mark.parametrize(
    ("zone", "hours", "day", "expected"),
    [
        # A start inside the skipped hour opens when the clock jumps past it.
        (MEXICO, {"sun": "02:30-04:00"}, date(2022, 4, 3), [("03:00-0500", "04:00-0500")]),
        # A period entirely inside the skipped hour does not happen that day ...
        (MEXICO, {"sun": "02:00-02:30"}, date(2022, 4, 3), []),
        # ... and does on every other Sunday.
        (MEXICO, {"sun": "02:00-02:30"}, date(2022, 3, 27), [("02:00-0600", "02:30-0600")]),
        # A wall time of the repeated hour is its first occurrence: 01:30 CDT to 03:00 CST.
        (MEXICO, {"sun": "01:30-03:00"}, date(2022, 10, 30), [("01:30-0500", "03:00-0600")]),
        (MEXICO, {"sun": "01:00-02:00"}, date(2022, 10, 30), [("01:00-0500", "02:00-0600")]),
        (MADRID, {"sun": "01:00-04:00"}, date(2026, 3, 29), [("01:00+0100", "04:00+0200")]),
        (MADRID, {"sun": "01:00-04:00"}, date(2026, 10, 25), [("01:00+0200", "04:00+0100")]),
        # Santiago changes at midnight: Sunday 00:00 does not exist, the day opens at 01:00.
        (SANTIAGO, {"sun": "00:00-08:00"}, date(2026, 9, 6), [("01:00-0300", "08:00-0300")]),
        (SANTIAGO, {"sat": "20:00-24:00"}, date(2026, 4, 4), [("20:00-0300", "00:00-0400")]),
    ],
)
def test_nonexistent_and_repeated_wall_times(
    zone: ZoneInfo, hours: dict[str, str], day: date, expected: list[tuple[str, str]]
) -> None:
    calendar = cal(zone, hours | {d: "" for d in DAYS if d not in hours})
    midnight = at(zone, day.year, day.month, day.day)
    found = calendar.periods(midnight - 2 * H, midnight + 26 * H)
    local = [(s.astimezone(zone), e.astimezone(zone)) for s, e in found]
    assert [(f"{s:%H:%M%z}", f"{e:%H:%M%z}") for s, e in local] == expected


def test_madrid_a_working_day_after_the_clocks_go_forward() -> None:
    calendar = cal(MADRID, ALL_DAY)
    due = calendar.add(at(MADRID, 2026, 3, 28, 12), 24 * H)
    assert due.astimezone(MADRID).isoformat() == "2026-03-29T13:00:00+02:00"
    due = calendar.add(at(MADRID, 2026, 10, 24, 12), 24 * H)
    assert due.astimezone(MADRID).isoformat() == "2026-10-25T11:00:00+01:00"


def test_a_weekday_schedule_ignores_the_sunday_clock_change() -> None:
    mexico = cal(MEXICO)
    due = mexico.add(at(MEXICO, 2022, 4, 1, 19, 30), 24 * H)
    assert due.astimezone(MEXICO).isoformat() == "2022-04-05T19:30:00-05:00"
    assert mexico.between(at(MEXICO, 2022, 4, 1, 19, 30), due) == 24 * H


# --- holidays far ahead, calendars that never open, bad input ------------------------------


def test_a_year_of_holidays_is_waited_out() -> None:
    mondays = [date(2026, 1, 5) + timedelta(weeks=n) for n in range(52)]
    only_mondays = cal(BOGOTA, dict.fromkeys(DAYS[1:], ""), holidays=mondays)
    assert only_mondays.add(at(BOGOTA, 2026, 1, 1), H) == at(BOGOTA, 2027, 1, 4, 9)


def test_a_long_closure_is_waited_out() -> None:
    closed = [(at(BOGOTA, 2026, 1, 1), at(BOGOTA, 2126, 1, 1, 10))]  # a century
    calendar = cal(BOGOTA, closures=closed)
    assert calendar.next_open(at(BOGOTA, 2026, 1, 1)) == at(BOGOTA, 2126, 1, 1, 10)


def test_a_calendar_that_never_opens_raises_instead_of_looping() -> None:
    never = cal(BOGOTA, dict.fromkeys(DAYS, ""))
    start = at(BOGOTA, 2026, 1, 1)
    with pytest.raises(ValueError, match="no working hours"):
        never.add(start, H)
    with pytest.raises(ValueError, match="no working hours"):
        never.next_open(start)
    assert never.between(start, start + timedelta(days=3650)) == timedelta(0)
    assert list(never.periods(start, start + timedelta(days=30))) == []
    assert never.add(start, timedelta(0)) == start
    assert never.is_open(start) is False


def test_a_closure_that_never_ends_raises() -> None:
    forever = [(at(BOGOTA, 2026, 1, 1), datetime.max.replace(tzinfo=UTC))]
    with pytest.raises(ValueError, match="no working hours"):
        cal(BOGOTA, closures=forever).add(at(BOGOTA, 2026, 1, 1), H)


NAIVE = datetime(2026, 3, 9, 9)  # noqa: DTZ001 - the point of the test


@pytest.mark.parametrize(
    "call",
    [
        lambda: SD.is_open(NAIVE),
        lambda: SD.next_open(NAIVE),
        lambda: SD.add(NAIVE, H),
        lambda: SD.between(NAIVE, FRIDAY_1930),
        lambda: SD.between(FRIDAY_1930, NAIVE),
        lambda: SD.periods(FRIDAY_1930, NAIVE),
    ],
)
def test_naive_datetimes_are_refused(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match="must be timezone-aware"):
        call()


def test_negative_working_time_is_refused() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        SD.add(FRIDAY_1930, -H)


# --- parse_holidays -----------------------------------------------------------------------

PLAIN = """\ufeff# Festivos 2026
2026-01-01 Año Nuevo
2026-01-06\tReyes   # moved to Monday some years

   2026-12-25  # Navidad
2026-01-01 again, deduplicated
2026-05-01,Día del Trabajo\r
"""

ICS = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//maildesk//test//ES\r
BEGIN:VTIMEZONE\r
TZID:America/Bogota\r
BEGIN:STANDARD\r
DTSTART:19700101T000000\r
TZOFFSETFROM:-0500\r
TZOFFSETTO:-0500\r
END:STANDARD\r
END:VTIMEZONE\r
BEGIN:VEVENT\r
UID:navidad\r
DTSTART;VALUE=DATE:20261225\r
DTEND;VALUE=DATE:20261226\r
SUMMARY:Navidad\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:fin-de-ano\r
DTSTART;VALUE=DATE:20261231\r
DTEND;VALUE=DATE:20270102\r
SUMMARY:Fin de año\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:independencia\r
DTSTART;TZID=America/Bogota:20260720T080000\r
DTEND;TZID=America/Bogota:20260720T170000\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:trabajo\r
DTSTART:20260501T000000Z\r
SUMMARY:Día del Trabajo, a long summary that a calendar folds over\r
  two lines\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:folded\r
DTSTART;VALUE=DA\r
 TE:20261208\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:semana-santa\r
DTSTART:20260402T000000\r
DTEND:20260404T000000\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:afternoon\r
DTSTART:20260615T120000\r
DTEND:20260616T120000\r
END:VEVENT\r
END:VCALENDAR\r
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (PLAIN, ["2026-01-01", "2026-01-06", "2026-05-01", "2026-12-25"]),
        ("", []),
        ("# nothing yet\n\n", []),
        (
            ICS,
            [
                "2026-04-02",
                "2026-04-03",
                "2026-05-01",
                "2026-06-15",
                "2026-06-16",
                "2026-07-20",
                "2026-12-08",
                "2026-12-25",
                "2026-12-31",
                "2027-01-01",
            ],
        ),
        ("BEGIN:VCALENDAR\nEND:VCALENDAR\n", []),
        ("begin:vevent\ndtstart;value=date:20260101\nend:vevent\n", ["2026-01-01"]),
    ],
)
def test_parse_holidays(text: str, expected: list[str]) -> None:
    assert parse_holidays(text) == [date.fromisoformat(d) for d in expected]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-01-01\nNavidad 2026-12-25\n", "line 2: 'Navidad 2026-12-25' does not start with"),
        ("2026-02-30 no such day\n", "line 1: '2026-02-30' is not a date"),
        ("2026-1-5\n", "line 1: '2026-1-5' does not start with YYYY-MM-DD"),
        ("20260105\n", "line 1: '20260105' does not start with YYYY-MM-DD"),
        (
            "BEGIN:VEVENT\nDTSTART;VALUE=DATE:20261332\nEND:VEVENT\n",
            "line 2: '20261332' is not a date",
        ),
        ("BEGIN:VEVENT\nDTSTART:tomorrow\nEND:VEVENT\n", "line 2: 'tomorrow' is not a date"),
        ("BEGIN:VEVENT\nSUMMARY:x\nEND:VEVENT\n", "line 3: VEVENT without DTSTART"),
        (
            "BEGIN:VEVENT\nDTSTART;VALUE=DATE:20261225\nRRULE:FREQ=YEARLY\nEND:VEVENT\n",
            r"line 3: recurring events \(RRULE\) are not supported",
        ),
        (
            "BEGIN:VEVENT\nDTSTART;VALUE=DATE:20261225\nDTEND;VALUE=DATE:20261224\nEND:VEVENT\n",
            "line 4: the event ends before it starts",
        ),
    ],
)
def test_parse_holidays_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_holidays(text)


def test_parsed_holidays_close_the_calendar() -> None:
    calendar = cal(SANTO_DOMINGO, holidays=parse_holidays("2026-03-09 Lunes festivo\n"))
    assert calendar.add(FRIDAY_1930, 24 * H) == at(SANTO_DOMINGO, 2026, 3, 11, 19, 30)


# --- properties ---------------------------------------------------------------------------

CALENDARS = [
    SD,
    cal(
        BOGOTA,
        {"mon": "08:00-13:00,15:00-19:00", "sat": "09:00-12:00"},
        holidays=[date(2026, 1, 1), date(2026, 3, 23), date(2026, 12, 25), date(2027, 1, 11)],
    ),
    # Night shifts straddle every clock change of Madrid (02:00/03:00 local).
    cal(MADRID, dict.fromkeys(DAYS, "00:00-03:00,22:00-24:00")),
    cal(MEXICO, {"sun": "01:00-03:30", "sat": "23:00-24:00"}, holidays=[date(2022, 4, 4)]),
    cal(
        SANTIAGO,
        {"sat": "20:00-24:00", "sun": "00:00-02:00"},
        closures=[(at(SANTIAGO, 2026, 9, 1), at(SANTIAGO, 2026, 9, 6, 0, 30))],
    ),
    cal(MADRID, ALL_DAY, closures=[(at(MADRID, 2026, 3, 29, 1), at(MADRID, 2026, 3, 30, 9))]),
]
TRANSITIONS = [
    datetime(2026, 3, 29, 1, tzinfo=UTC),
    datetime(2026, 10, 25, 1, tzinfo=UTC),
    datetime(2022, 4, 3, 8, tzinfo=UTC),
    datetime(2022, 10, 30, 7, tzinfo=UTC),
    datetime(2026, 4, 5, 3, tzinfo=UTC),
    datetime(2026, 9, 6, 4, tzinfo=UTC),
]
instants = st.one_of(
    st.datetimes(datetime(2021, 1, 1), datetime(2028, 12, 31), timezones=st.just(UTC)),  # noqa: DTZ001
    st.builds(
        lambda t, d: t + d,
        st.sampled_from(TRANSITIONS),
        st.timedeltas(-timedelta(days=3), timedelta(days=3)),
    ),
)
# Period boundaries around the hours at which clocks change, and anywhere on the quarter hour.
MINUTES = st.one_of(
    st.sampled_from([0, 60, 90, 120, 150, 180, 1380, 1440]),
    st.integers(0, 96).map(lambda quarter: quarter * 15),
)


@st.composite
def random_calendars(draw: st.DrawFn) -> WorkingCalendar:
    zone = draw(st.sampled_from([MADRID, MEXICO, SANTIAGO, SANTO_DOMINGO, BOGOTA]))
    hours = {}
    for day in DAYS:
        drawn = draw(st.lists(MINUTES, max_size=4))
        points = sorted(set(drawn))[: len(set(drawn)) // 2 * 2]
        periods = zip(points[::2], points[1::2], strict=True)
        hours[day] = ",".join(
            f"{a // 60:02d}:{a % 60:02d}-{b // 60:02d}:{b % 60:02d}" for a, b in periods
        )
    if not any(hours.values()):
        hours["wed"] = "09:00-17:00"
    holidays = draw(st.lists(st.dates(date(2021, 1, 1), date(2028, 12, 31)), max_size=6))
    closures = draw(
        st.lists(st.tuples(instants, st.timedeltas(H / 60, timedelta(days=10))), max_size=3)
    )
    return cal(zone, hours, holidays, [(t, t + d) for t, d in closures])


calendars = st.one_of(st.sampled_from(CALENDARS), random_calendars())
workings = st.timedeltas(timedelta(0), timedelta(hours=400))
PROPERTY = settings(max_examples=60, deadline=None)


@PROPERTY
@given(calendars, instants, workings)
def test_between_gives_back_what_add_added(
    calendar: WorkingCalendar, t: datetime, w: timedelta
) -> None:
    due = calendar.add(t, w)
    assert due >= t
    assert calendar.between(t, due) == w
    if w:
        assert calendar.is_open(due - timedelta(microseconds=1))


@PROPERTY
@given(calendars, instants, workings, workings)
def test_add_is_monotonic_in_working_time(
    calendar: WorkingCalendar, t: datetime, w1: timedelta, w2: timedelta
) -> None:
    w1, w2 = sorted((w1, w2))
    assert calendar.add(t, w1) <= calendar.add(t, w2)


@PROPERTY
@given(calendars, instants, instants, workings)
def test_add_is_monotonic_in_the_start(
    calendar: WorkingCalendar, t1: datetime, t2: datetime, w: timedelta
) -> None:
    t1, t2 = sorted((t1, t2))
    assert calendar.add(t1, w) <= calendar.add(t2, w)


@PROPERTY
@given(calendars, instants, workings, workings)
def test_add_composes(calendar: WorkingCalendar, t: datetime, a: timedelta, b: timedelta) -> None:
    assert calendar.add(calendar.add(t, a), b) == calendar.add(t, a + b)


gaps = st.timedeltas(timedelta(0), timedelta(days=60))


@PROPERTY
@given(calendars, instants, gaps, gaps)
def test_between_is_additive_over_a_split_point(
    calendar: WorkingCalendar, a: datetime, ab: timedelta, bc: timedelta
) -> None:
    b, c = a + ab, a + ab + bc
    assert calendar.between(a, c) == calendar.between(a, b) + calendar.between(b, c)
    assert calendar.between(c, a) == timedelta(0)


@PROPERTY
@given(calendars, instants, st.timedeltas(timedelta(0), timedelta(days=20)))
def test_periods_partition_the_working_time(
    calendar: WorkingCalendar, t: datetime, span: timedelta
) -> None:
    found = list(calendar.periods(t, t + span))
    assert sum((e - s for s, e in found), timedelta(0)) == calendar.between(t, t + span)
    for s, e in found:
        assert t <= s < e <= t + span
        assert calendar.is_open(s)
        assert calendar.is_open(e - timedelta(microseconds=1))
    for (_, previous_end), (next_start, _) in itertools.pairwise(found):
        assert previous_end < next_start  # touching periods would have been merged
        assert not calendar.is_open(previous_end)


@PROPERTY
@given(calendars, instants)
def test_next_open_is_open_and_nothing_before_it_is(calendar: WorkingCalendar, t: datetime) -> None:
    opens = calendar.next_open(t)
    assert opens >= t
    assert calendar.is_open(opens)
    assert calendar.between(t, opens) == timedelta(0)
    assert (opens == t) is calendar.is_open(t)


def open_by_wall_clock(calendar: WorkingCalendar, instant: datetime) -> bool:
    """The plain reading of a calendar, true where no clock ever changes."""
    local = instant.astimezone(calendar.zone)
    minute = local.hour * 60 + local.minute
    in_period = any(s <= minute < e for s, e in calendar.week[local.weekday()])
    closed = any(s <= instant < e for s, e in calendar.closures)
    return in_period and local.date() not in calendar.holidays and not closed


NO_DST = [
    cal(SANTO_DOMINGO, {"mon": "08:00-13:00,15:00-19:00"}, holidays=[date(2026, 3, 10)]),
    cal(
        BOGOTA,
        {"sat": "09:00-12:30", "sun": "22:00-24:00"},
        closures=[(at(BOGOTA, 2026, 3, 11, 9, 15), at(BOGOTA, 2026, 3, 12, 10, 45))],
    ),
]


@settings(max_examples=30, deadline=None)
@given(
    st.sampled_from(NO_DST),
    st.integers(0, 14 * 24 * 60),
    st.integers(0, 2 * 24 * 60),
)
def test_between_matches_a_minute_by_minute_count(
    calendar: WorkingCalendar, offset: int, length: int
) -> None:
    start = at(calendar.zone, 2026, 3, 2) + timedelta(minutes=offset)
    minutes = (start + timedelta(minutes=n) for n in range(length))
    counted = sum(1 for m in minutes if open_by_wall_clock(calendar, m))
    assert calendar.between(start, start + timedelta(minutes=length)) == timedelta(minutes=counted)


def first_minute_showing(zone: ZoneInfo, wall: datetime) -> datetime:
    """Brute force: the first whole UTC minute at which the local clock shows ``wall`` or later."""
    minute = wall.replace(tzinfo=UTC) - timedelta(days=1)
    while minute.astimezone(zone).replace(tzinfo=None) < wall:
        minute += timedelta(minutes=1)
    return minute


CLOCK_CHANGES = [
    (MADRID, date(2026, 3, 29)),
    (MADRID, date(2026, 10, 25)),
    (MEXICO, date(2022, 4, 3)),
    (MEXICO, date(2022, 10, 30)),
    (SANTIAGO, date(2026, 4, 4)),
    (SANTIAGO, date(2026, 4, 5)),
    (SANTIAGO, date(2026, 9, 5)),
    (SANTIAGO, date(2026, 9, 6)),
    (ZoneInfo("America/Havana"), date(2026, 3, 8)),  # changes at midnight too
    (ZoneInfo("America/Havana"), date(2026, 11, 1)),
    (ZoneInfo("Australia/Lord_Howe"), date(2026, 4, 5)),  # a half-hour change
    (ZoneInfo("Australia/Lord_Howe"), date(2026, 10, 4)),
]


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(CLOCK_CHANGES), MINUTES, MINUTES)
def test_a_period_runs_from_the_first_minute_the_clock_shows_its_start_to_that_of_its_end(
    zone_day: tuple[ZoneInfo, date], a: int, b: int
) -> None:
    zone, day = zone_day
    assume(a != b)
    (a, b), midnight = sorted((a, b)), datetime.combine(day, time())
    hours = dict.fromkeys(DAYS, "") | {DAYS[day.weekday()]: f"{_hhmm(a)}-{_hhmm(b)}"}
    around = midnight.replace(
        tzinfo=UTC
    )  # only this weekday opens: 3 days either side hold one period
    found = list(cal(zone, hours).periods(around - timedelta(days=3), around + timedelta(days=3)))
    opens = first_minute_showing(zone, midnight + timedelta(minutes=a))
    closes = first_minute_showing(zone, midnight + timedelta(minutes=b))
    assert found == ([(opens, closes)] if opens < closes else [])


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"
