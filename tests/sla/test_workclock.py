"""``WorkingClock.span`` is ``WorkingCalendar.between``, only faster: checked on random
pairs of instants over calendars with split shifts, holidays, closures and clock changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from maildesk.sla.calendar import WorkingCalendar
from maildesk.sla.workclock import WorkingClock

CALENDARS = [
    WorkingCalendar.from_config("America/Santo_Domingo", {}),
    WorkingCalendar.from_config(
        "America/Bogota",
        {"mon": "08:00-13:00,15:00-19:00", "sat": "09:00-12:00"},
        [date(2026, 10, 12), date(2026, 11, 2)],
        [(datetime(2026, 10, 20, 18, tzinfo=UTC), datetime(2026, 10, 22, 15, tzinfo=UTC))],
    ),
    # Clock changes on 1 November 2026 and at midnight-adjacent hours.
    WorkingCalendar.from_config("America/New_York", {"sun": "00:00-03:00"}),
]
ORIGIN = date(2026, 10, 1)
SHARED = [WorkingClock(c, ORIGIN) for c in CALENDARS]  # tables grown by earlier examples
_START = datetime(2026, 10, 1, 4, tzinfo=UTC)
instants = st.integers(min_value=0, max_value=70 * 24 * 60).map(
    lambda minutes: _START + timedelta(minutes=minutes)
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(range(len(CALENDARS))), instants, instants)
def test_span_is_between(which: int, a: datetime, b: datetime) -> None:
    calendar = CALENDARS[which]
    clock = WorkingClock(calendar, ORIGIN)
    assert clock.span(a, b) == calendar.between(a, b)
    assert SHARED[which].span(a, b) == calendar.between(a, b)


def test_instants_before_the_origin_or_far_after_ask_the_calendar() -> None:
    calendar = CALENDARS[0]
    clock = WorkingClock(calendar, ORIGIN)
    early = datetime(2026, 9, 1, 12, tzinfo=UTC)
    late = datetime(2046, 9, 1, 12, tzinfo=UTC)
    assert clock.span(early, _START + timedelta(days=3)) == calendar.between(
        early, _START + timedelta(days=3)
    )
    assert clock.span(_START, late) == calendar.between(_START, late)
    assert clock.span(late, _START) == timedelta(0)
