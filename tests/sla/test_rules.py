"""Service-level clocks (``maildesk.sla.rules``): tables of cases, then properties of the sweeps."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from maildesk.sla.calendar import DAYS, WorkingCalendar
from maildesk.sla.followups import FollowUpFacts, FollowUpRules, add_working_days, follow_up
from maildesk.sla.rules import (
    Clock,
    Commitments,
    Facts,
    Level,
    Policy,
    Rule,
    plan,
    review,
    step,
    working_time_left,
)

H = timedelta(hours=1)
SANTO_DOMINGO = ZoneInfo("America/Santo_Domingo")  # UTC-4, no DST
BOGOTA = ZoneInfo("America/Bogota")  # UTC-5, no DST
MADRID = ZoneInfo("Europe/Madrid")  # 2026: 03-29 02:00 -> 03:00, 10-25 03:00 -> 02:00
MEXICO = ZoneInfo("America/Mexico_City")  # 2022: 04-03 and 10-30


def cal(
    zone: ZoneInfo, hours: dict[str, str] | None = None, holidays: tuple[date, ...] = ()
) -> WorkingCalendar:
    return WorkingCalendar.from_config(zone.key, hours or {}, holidays)


SD = cal(SANTO_DOMINGO)
LEVELS = (Level(1, notify=("coord@x",)), Level(2, 24 * H, ("director@x",)))


def local(zone: ZoneInfo, y: int, m: int, d: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(y, m, d, hour, minute, tzinfo=zone)


# --- due instants ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arrival", "due"),
    [
        # The institutions' example: Friday 19:30 + 24 working hours (08:00-20:00, Mon-Fri)
        # = 30 min Friday + 12 h Monday + 11 h 30 Tuesday: Tuesday 2026-03-10 19:30 local.
        (local(SANTO_DOMINGO, 2026, 3, 6, 19, 30), local(SANTO_DOMINGO, 2026, 3, 10, 19, 30)),
        # Outside hours: the clock starts at the next working minute (Monday 08:00).
        (local(SANTO_DOMINGO, 2026, 3, 7, 11, 0), local(SANTO_DOMINGO, 2026, 3, 10, 20, 0)),
        (local(SANTO_DOMINGO, 2026, 3, 9, 3, 0), local(SANTO_DOMINGO, 2026, 3, 10, 20, 0)),
        (local(SANTO_DOMINGO, 2026, 3, 9, 20, 0), local(SANTO_DOMINGO, 2026, 3, 11, 20, 0)),
        (local(SANTO_DOMINGO, 2026, 3, 9, 8, 0), local(SANTO_DOMINGO, 2026, 3, 10, 20, 0)),
    ],
)
def test_first_response_due(arrival: datetime, due: datetime) -> None:
    assert Clock("first_response", arrival, 24 * H).due(SD) == due
    assert Clock("first_response", arrival, 24 * H).due(SD).tzinfo is UTC


def test_friday_1930_is_due_tuesday_1930_local_2330_utc() -> None:
    friday = datetime(2026, 3, 6, 23, 30, tzinfo=UTC)  # 19:30 in Santo Domingo
    due = Clock("first_response", friday, 24 * H).due(SD)
    assert due.isoformat() == "2026-03-10T23:30:00+00:00"
    assert due.astimezone(SANTO_DOMINGO).isoformat() == "2026-03-10T19:30:00-04:00"


def test_holidays_and_split_shifts_push_the_due_time() -> None:
    calendar = cal(BOGOTA, {"mon": "08:00-13:00,15:00-19:00"}, (date(2026, 3, 23),))
    arrival = local(BOGOTA, 2026, 3, 20, 18)  # Friday 18:00; Monday 23 is a holiday
    # 2 h Friday, 12 h Tuesday the 24th, 10 h Wednesday: Wednesday 18:00.
    assert Clock("first_response", arrival, 24 * H).due(calendar) == local(BOGOTA, 2026, 3, 25, 18)


def test_pending_time_is_owed_back() -> None:
    start = local(SANTO_DOMINGO, 2026, 3, 9, 8)  # Monday 08:00: due Tuesday 20:00
    clock = Clock("first_response", start, 24 * H)
    held = clock.paused_for(
        SD, local(SANTO_DOMINGO, 2026, 3, 9, 10), local(SANTO_DOMINGO, 2026, 3, 9, 16)
    )
    assert held.paused == 6 * H
    assert held.due(SD) == local(SANTO_DOMINGO, 2026, 3, 11, 14)
    # Pending from before the clock started owes only what came after its start.
    early = clock.paused_for(
        SD, local(SANTO_DOMINGO, 2026, 3, 6, 10), local(SANTO_DOMINGO, 2026, 3, 9, 9)
    )
    assert early.paused == H


# --- warnings and escalation ------------------------------------------------------------------


FRIDAY = datetime(2026, 3, 6, 23, 30, tzinfo=UTC)  # 19:30 local
WARN = datetime(2026, 3, 10, 17, 30, tzinfo=UTC)  # 75 % of 24 h: Tuesday 13:30 local
DUE = datetime(2026, 3, 10, 23, 30, tzinfo=UTC)
SECOND = datetime(2026, 3, 12, 23, 30, tzinfo=UTC)  # 24 working hours past the due time


@pytest.mark.parametrize(
    ("now", "warn", "levels", "next_at"),
    [
        (FRIDAY, False, [], WARN),
        (WARN - timedelta(seconds=1), False, [], WARN),
        (WARN, True, [], DUE),
        (DUE - timedelta(seconds=1), True, [], DUE),
        (DUE, False, [1], SECOND),  # breached before any sweep warned: no warning, level 1
        (SECOND, False, [1, 2], None),  # a late sweep reaches both levels at once
    ],
)
def test_one_step_from_a_fresh_clock(
    now: datetime, warn: bool, levels: list[int], next_at: datetime | None
) -> None:
    done = step(Clock("first_response", FRIDAY, 24 * H), SD, 0.75, LEVELS, now)
    assert (done.warn, [lv.level for lv in done.reached], done.next_at) == (warn, levels, next_at)
    assert done.due == DUE
    assert done.risk_at == WARN


def test_a_sweep_at_each_point_warns_then_escalates_each_level_once() -> None:
    clock = Clock("first_response", FRIDAY, 24 * H)
    seen = []
    for now in (WARN, WARN, DUE, DUE + H, SECOND, SECOND, SECOND + 100 * H):
        done = step(clock, SD, 0.75, LEVELS, now)
        clock = done.clock
        seen.append((done.warn, [lv.level for lv in done.reached]))
    assert seen == [
        (True, []),
        (False, []),
        (False, [1]),
        (False, []),
        (False, [2]),
        (False, []),
        (False, []),
    ]
    assert (clock.warned, clock.level) == (True, 2)


def test_no_warning_when_warn_share_is_zero() -> None:
    done = step(Clock("first_response", FRIDAY, 24 * H), SD, 0, LEVELS, WARN)
    assert not done.warn
    assert done.next_at == DUE


def test_policy_rules_and_levels() -> None:
    policy = Policy(
        Commitments(24 * H, 24 * H, None),
        rules=(
            Rule(queue="crm", priority="urgent", first_response=2 * H, resolution=8 * H),
            Rule(segment="vip", first_response=8 * H),
        ),
        escalations=(
            ("", Level(1, notify=("all@x",))),
            ("crm", Level(1, notify=("crm-boss@x",))),
            ("", Level(2, 24 * H, ("director@x",))),
            ("info", Level(0, notify=("info-team@x",))),
        ),
    )
    assert policy.commitments("info") == Commitments(24 * H, 24 * H, None)
    assert policy.commitments("info", "urgent", "vip") == Commitments(8 * H, 24 * H, None)
    assert policy.commitments("crm", "urgent", "vip") == Commitments(2 * H, 24 * H, 8 * H)
    assert [lv.notify for lv in policy.levels("crm")] == [("crm-boss@x",), ("director@x",)]
    assert [lv.notify for lv in policy.levels("info")] == [("all@x",), ("director@x",)]
    assert policy.reminder_contacts("info") == ("info-team@x",)
    assert policy.reminder_contacts("crm") == ("crm-boss@x",)
    assert Policy(Commitments(H)).levels("info") == (Level(1),)  # the breach is still marked
    with pytest.raises(ValueError, match="warn_share"):
        Policy(Commitments(H), warn_share=1.0)


def test_review_of_a_ticket_with_both_clocks() -> None:
    policy = Policy(Commitments(24 * H, 24 * H, 60 * H), escalations=(("", LEVELS[0]),))
    facts = Facts(
        "open",
        "info",
        response_kind="next_response",
        response_from=FRIDAY,
        resolution_from=FRIDAY - 100 * H,
    )
    verdict = review(facts, policy, SD, DUE)
    assert set(verdict.due) == {"next_response", "resolution"}
    assert [s.clock.kind for s in verdict.escalations] == ["next_response", "resolution"]
    assert (
        review(
            Facts("pending", "info", response_kind="first_response", response_from=FRIDAY),
            policy,
            SD,
            DUE,
        ).steps
        == ()
    )
    planned = plan(facts, policy, SD)  # what a change writes: it acts on nothing
    assert not planned.warnings
    assert not planned.escalations
    assert planned.next_at == min(s.risk_at for s in planned.steps)


def test_working_time_left() -> None:
    assert working_time_left(SD, DUE, WARN) == 6 * H
    assert working_time_left(SD, WARN, DUE) == -6 * H


# --- follow-ups ---------------------------------------------------------------------------------


MONDAY = local(BOGOTA, 2026, 3, 2, 10)
BOG = cal(BOGOTA)
DEFAULTS, CLOSING, NO_CLOSE = (
    FollowUpRules(),
    FollowUpRules(pending_close_days=5),
    FollowUpRules(0, 0, 0, 0),
)


def bog(day: int, hour: int = 10) -> datetime:
    """March 2026 in Bogotá (the 2nd is a Monday)."""
    return local(BOGOTA, 2026, 3, day, hour)


def pending(**kwargs: object) -> FollowUpFacts:
    return FollowUpFacts("pending", MONDAY, MONDAY, **kwargs)  # type: ignore[arg-type]


def resolved() -> FollowUpFacts:
    return FollowUpFacts("resolved", MONDAY, resolved_at=MONDAY)


@pytest.mark.parametrize(
    ("facts", "rules", "now", "action", "next_at"),
    [
        # Pending: a reminder after 3 working days (Thursday); then nothing until it changes.
        (pending(), DEFAULTS, MONDAY, None, bog(5)),
        (pending(), DEFAULTS, bog(5), "remind", None),
        (pending(reminded=True), DEFAULTS, bog(6), None, None),
        # With auto-close after 5 working days: closed the next Monday.
        (pending(), CLOSING, bog(5), "remind", bog(9)),
        (pending(reminded=True), CLOSING, bog(9), "close", None),
        # A date set with #pending replaces the default; closing waits a working day past it.
        (pending(remind_at=bog(20, 9)), CLOSING, MONDAY, None, bog(20, 9)),
        (pending(reminded=True, remind_at=bog(20, 9)), CLOSING, bog(21), None, bog(23, 9)),
        # Resolved: closed 7 days later.
        (resolved(), DEFAULTS, MONDAY, None, MONDAY + timedelta(days=7)),
        (resolved(), DEFAULTS, MONDAY + timedelta(days=7), "close", None),
        (resolved(), NO_CLOSE, MONDAY + timedelta(days=70), None, None),
        # Active: a progress notice after a quiet week, in working hours.
        (FollowUpFacts("open", MONDAY, last_told=MONDAY), DEFAULTS, MONDAY, None, bog(9)),
        (FollowUpFacts("open", MONDAY, last_told=bog(7)), DEFAULTS, bog(9), None, bog(16, 8)),
        (FollowUpFacts("new", MONDAY), DEFAULTS, bog(10), "progress", bog(17)),
        (FollowUpFacts("new", MONDAY), NO_CLOSE, bog(30), None, None),
        (FollowUpFacts("closed", MONDAY), DEFAULTS, bog(10), None, None),
    ],
)
def test_follow_up(
    facts: FollowUpFacts,
    rules: FollowUpRules,
    now: datetime,
    action: str | None,
    next_at: datetime | None,
) -> None:
    due = follow_up(facts, rules, BOG, now)
    assert (due.action, due.next_at) == (action, next_at)


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (bog(6), 1, bog(9)),  # Friday -> Monday
        (bog(7), 1, bog(10, 8)),  # Saturday: counted from Monday 08:00
        (local(BOGOTA, 2026, 3, 6, 19, 59), 1, local(BOGOTA, 2026, 3, 9, 19, 59)),
        (bog(6, 21), 0, bog(9, 8)),
        (bog(20), 1, bog(24)),  # Monday the 23rd is a holiday
    ],
)
def test_add_working_days(start: datetime, days: int, expected: datetime) -> None:
    calendar = cal(BOGOTA, holidays=(date(2026, 3, 23),))
    assert add_working_days(calendar, start, days) == expected


# --- properties ---------------------------------------------------------------------------------

HOLIDAYS = (date(2026, 1, 1), date(2026, 3, 23), date(2026, 12, 25))
CALENDARS = [
    SD,
    cal(BOGOTA, {"mon": "08:00-13:00,15:00-19:00", "sat": "09:00-12:00"}, HOLIDAYS),
    cal(MADRID, {"sun": "00:00-03:00,22:00-24:00"}),  # night shifts across the clock changes
    cal(MEXICO, dict.fromkeys(DAYS, "01:00-03:30")),
]
calendars = st.sampled_from(CALENDARS)
CLOCK_CHANGES = [
    datetime(2026, 3, 29, 1, tzinfo=UTC),
    datetime(2026, 10, 25, 1, tzinfo=UTC),
    datetime(2022, 4, 3, 8, tzinfo=UTC),
    datetime(2022, 10, 30, 7, tzinfo=UTC),
]
instants = st.one_of(
    st.datetimes(datetime(2021, 1, 1), datetime(2027, 12, 31), timezones=st.just(UTC)),  # noqa: DTZ001
    st.builds(
        lambda t, d: t + d,
        st.sampled_from(CLOCK_CHANGES),
        st.timedeltas(-timedelta(days=3), timedelta(days=3)),
    ),
)
lengths = st.integers(1, 200).map(lambda h: h * H / 4)
shares = st.sampled_from([0, 0.5, 0.75, 0.9])
level_sets = st.lists(st.integers(0, 60), min_size=1, max_size=4, unique=True).map(
    lambda hours: tuple(Level(n + 1, h * H) for n, h in enumerate(sorted(hours)))
)
PROPERTY = settings(max_examples=80, deadline=None)


@PROPERTY
@given(calendars, instants, lengths)
def test_the_clock_owes_exactly_its_commitment(
    calendar: WorkingCalendar, start: datetime, length: timedelta
) -> None:
    clock = Clock("first_response", start, length)
    assert calendar.between(start, clock.due(calendar)) == length
    # mail that arrives while closed is due as if it had arrived at the next working minute
    assert clock.due(calendar) == Clock("first_response", calendar.next_open(start), length).due(
        calendar
    )


@PROPERTY
@given(calendars, instants, lengths, st.floats(0, 0.99), st.floats(0, 0.99))
def test_the_warning_never_comes_after_the_due_time(
    calendar: WorkingCalendar, start: datetime, length: timedelta, a: float, b: float
) -> None:
    clock = Clock("first_response", start, length)
    low, high = sorted((a, b))
    assert clock.warn_at(calendar, low) <= clock.warn_at(calendar, high) <= clock.due(calendar)


@PROPERTY
@given(
    calendars,
    instants,
    lengths,
    st.timedeltas(timedelta(0), timedelta(days=20)),
    st.timedeltas(timedelta(0), timedelta(days=20)),
)
def test_pending_time_does_not_count(
    calendar: WorkingCalendar, start: datetime, length: timedelta, wait: timedelta, held: timedelta
) -> None:
    pending, resumed = start + wait, start + wait + held
    clock = Clock("first_response", start, length)
    assume(pending < clock.due(calendar))  # the ticket went pending before its breach
    due = clock.paused_for(calendar, pending, resumed).due(calendar)
    counted = calendar.between(start, due) - calendar.between(pending, min(resumed, due))
    assert counted == length


@PROPERTY
@given(
    calendars,
    instants,
    lengths,
    shares,
    level_sets,
    st.lists(st.timedeltas(timedelta(0), timedelta(days=40)), min_size=1, max_size=8),
)
def test_sweeps_warn_once_and_escalate_each_level_once_however_they_fall(
    calendar: WorkingCalendar,
    start: datetime,
    length: timedelta,
    share: float,
    levels: tuple[Level, ...],
    offsets: list[timedelta],
) -> None:
    clock = Clock("first_response", start, length)
    sweeps = sorted(start + o for o in offsets)
    warnings, reached = 0, []
    for now in [*sweeps, sweeps[-1]]:  # the last sweep twice: a restart at the same instant
        done = step(clock, calendar, share, levels, now)
        clock = done.clock
        warnings += done.warn
        reached += [lv.level for lv in done.reached]
        assert done.next_at is None or done.next_at > now
    # each level once, in order, and exactly those due by the last sweep
    due = Clock("first_response", start, length).due(calendar)
    expected = [lv.level for lv in levels if calendar.add(due, lv.after) <= sweeps[-1]]
    assert reached == expected
    assert warnings <= 1
    # a single late sweep (the daemon was down) reaches the same levels in one step
    late = step(Clock("first_response", start, length), calendar, share, levels, sweeps[-1])
    assert [lv.level for lv in late.reached] == expected


@PROPERTY
@given(calendars, instants, st.integers(0, 15), st.integers(0, 15))
def test_add_working_days_lands_in_working_hours_and_is_monotonic(
    calendar: WorkingCalendar, start: datetime, a: int, b: int
) -> None:
    low, high = sorted((a, b))
    first, second = add_working_days(calendar, start, low), add_working_days(calendar, start, high)
    assert calendar.is_open(first)
    assert start <= first <= second


@PROPERTY
@given(
    calendars,
    instants,
    st.lists(st.timedeltas(timedelta(0), timedelta(days=60)), min_size=1, max_size=10),
)
def test_progress_notices_are_at_least_a_week_apart(
    calendar: WorkingCalendar, created: datetime, offsets: list[timedelta]
) -> None:
    rules = FollowUpRules(progress_days=7)
    told = created
    sent = []
    for now in sorted(created + o for o in offsets):
        due = follow_up(FollowUpFacts("open", created, last_told=told), rules, calendar, now)
        if due.action == "progress":
            sent.append(now)
            told = now
        assert due.next_at is not None
        assert due.next_at > now
    assert all(b - a >= timedelta(days=7) for a, b in itertools.pairwise(sent))
    assert not sent or sent[0] - created >= timedelta(days=7)
