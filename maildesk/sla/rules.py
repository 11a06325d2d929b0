"""Service commitments: when a ticket's answer is due, when to warn, when to escalate. PURE.

A ticket runs up to two clocks. The *response* clock starts when the requester's mail
arrives (the first response, then the next response after each follow-up that finds
nobody owing an answer) and stops when an agent answers; the *resolution* clock starts
when the ticket opens (or reopens) and stops when it is resolved. Each clock owes its
commitment in working time, so mail that arrives at night starts counting at the next
working minute (``WorkingCalendar.add`` walks only open periods). Time spent waiting on
the requester (pending) is working time the clock does not count: it is added to the
clock as ``paused``, so ``due = add(started, length + paused)``.

A clock warns once, at ``warn_share`` of its commitment, and escalates once per level:
level 1 at the due instant, further levels ``after`` more working time. ``step`` says
what a sweep must do now and when the clock next needs a look; applying its result and
stepping again at the same instant does nothing, which is what makes a sweep safe to
repeat and a restart harmless.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from maildesk.sla.calendar import WorkingCalendar

ACTIVE_STATES = frozenset({"new", "open", "reopened"})  # states in which the clocks run
_ZERO = timedelta(0)
_DAY = timedelta(days=1)
_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Commitments:
    """What a ticket is owed, in working time; None: no such commitment."""

    first_response: timedelta
    next_response: timedelta | None = None
    resolution: timedelta | None = None


@dataclass(frozen=True)
class Rule:
    """Commitments for the tickets a rule matches ("" matches anything); None keeps the default."""

    queue: str = ""
    priority: str = ""
    segment: str = ""
    first_response: timedelta | None = None
    next_response: timedelta | None = None
    resolution: timedelta | None = None

    def matches(self, queue: str, priority: str, segment: str) -> bool:
        return all(
            not want or want == have
            for want, have in (
                (self.queue, queue),
                (self.priority, priority),
                (self.segment, segment),
            )
        )


@dataclass(frozen=True)
class Level:
    """An escalation level: reached ``after`` working time past the due instant.

    Level 0 is not an escalation: it names who is reminded of tickets at risk when no
    agent is assigned.
    """

    level: int
    after: timedelta = _ZERO
    notify: tuple[str, ...] = ()


@dataclass(frozen=True)
class Policy:
    """The whole service policy: default commitments, rules, the warning share, escalations.

    >>> policy = Policy(Commitments(timedelta(hours=24)), rules=(
    ...     Rule(segment="vip", first_response=timedelta(hours=8)),))
    >>> policy.commitments("info", segment="vip").first_response
    datetime.timedelta(seconds=28800)
    """

    default: Commitments
    rules: tuple[Rule, ...] = ()
    warn_share: float = 0.75
    escalations: tuple[tuple[str, Level], ...] = ()  # (queue or "" for every queue, level)

    def __post_init__(self) -> None:
        if not 0 <= self.warn_share < 1:
            raise ValueError(f"warn_share: expected at least 0 and below 1, got {self.warn_share}")

    def commitments(self, queue: str, priority: str = "", segment: str = "") -> Commitments:
        """The default commitments, overridden by the first rule that matches."""
        rule = next((r for r in self.rules if r.matches(queue, priority, segment)), None)
        if rule is None:
            return self.default
        return Commitments(
            rule.first_response or self.default.first_response,
            rule.next_response or self.default.next_response,
            rule.resolution or self.default.resolution,
        )

    def levels(self, queue: str) -> tuple[Level, ...]:
        """Escalation levels (1 and up) of ``queue``, in order; at least level 1 at the breach.

        A queue's own table for a level replaces the table of that level for every queue.
        Without any, the breach is still level 1: marked on the ticket, with nobody to tell.
        """
        chosen: dict[int, Level] = {}
        for owner, level in self.escalations:
            # a queue's own table wins over the one for every queue, whatever their order
            if level.level >= 1 and (owner == queue or (not owner and level.level not in chosen)):
                chosen[level.level] = level
        if 1 not in chosen:
            chosen[1] = Level(1)
        return tuple(chosen[n] for n in sorted(chosen))

    def reminder_contacts(self, queue: str) -> tuple[str, ...]:
        """Who hears of a ticket at risk that has no assignee: level 0, else level 1."""
        for wanted in (0, 1):
            found = [lv for owner, lv in self.escalations if lv.level == wanted and owner == queue]
            found = found or [
                lv for owner, lv in self.escalations if lv.level == wanted and not owner
            ]
            if found and found[0].notify:
                return found[0].notify
        return ()


@dataclass(frozen=True)
class Clock:
    """One running commitment (kind: first_response, next_response or resolution)."""

    kind: str
    started: datetime  # when the mail arrived (or the ticket reopened): not moved to opening time
    length: timedelta
    paused: timedelta = _ZERO  # working time spent pending since ``started``
    warned: bool = False
    level: int = 0

    def due(self, calendar: WorkingCalendar) -> datetime:
        """The instant the commitment is breached, pending time excluded.

        >>> from zoneinfo import ZoneInfo
        >>> cal = WorkingCalendar(ZoneInfo("America/Santo_Domingo"))
        >>> friday = datetime(2026, 3, 6, 19, 30, tzinfo=cal.zone)
        >>> Clock("first_response", friday, timedelta(hours=24)).due(cal).isoformat()
        '2026-03-10T23:30:00+00:00'
        """
        return calendar.add(self.started, self.length + self.paused)

    def warn_at(self, calendar: WorkingCalendar, share: float) -> datetime:
        """The instant ``share`` of the commitment has elapsed (pending time excluded)."""
        return calendar.add(self.started, self.length * share + self.paused)

    def paused_for(self, calendar: WorkingCalendar, since: datetime, until: datetime) -> Clock:
        """The clock after waiting on the requester from ``since`` to ``until``.

        Only working time after the clock started counts: a clock started while pending
        owes nothing for the time before it.
        """
        held = calendar.between(max(since, self.started), until)
        return replace(self, paused=self.paused + held)


def counted(worked: timedelta, paused: timedelta) -> timedelta:
    """The working time a clock counted: ``worked`` since it started, less its pending time.

    An answer met its commitment when ``counted(...) <= length``, which is exactly
    ``answered_at <= Clock(...).due(calendar)``: the due instant is ``length + paused`` of
    working time after the start. The monthly report judges answers with this, so it and
    the escalations never disagree.

    >>> counted(timedelta(hours=30), timedelta(hours=8)) / timedelta(hours=1)
    22.0
    """
    return max(worked - paused, _ZERO)


@dataclass(frozen=True)
class Step:
    """What a sweep does about one clock at ``now``, and the clock afterwards."""

    clock: Clock  # warned and level updated
    due: datetime
    risk_at: datetime  # from this instant on the ticket is at risk (the warning instant)
    warn: bool  # send the at-risk reminder now
    reached: tuple[Level, ...]  # levels reached now, in order (one notice covers them all)
    next_at: datetime | None  # when this clock next needs a look; None: never again


def step(
    clock: Clock,
    calendar: WorkingCalendar,
    share: float,
    levels: Sequence[Level],
    now: datetime,
) -> Step:
    """Warn and escalate what is due at ``now``, once each; the clock is returned updated.

    A clock found already breached is not warned (the escalation says more); a sweep that
    comes late (the daemon was stopped over a weekend) reaches every level due by now in
    one step.

    >>> from datetime import UTC
    >>> from zoneinfo import ZoneInfo
    >>> cal = WorkingCalendar(ZoneInfo("UTC"), week=(((0, 1440),),) * 7)
    >>> start = datetime(2026, 3, 2, tzinfo=UTC)
    >>> clock = Clock("first_response", start, timedelta(hours=24))
    >>> late = step(clock, cal, 0.75, [Level(1), Level(2, timedelta(hours=24))], start + 3 * _DAY)
    >>> late.warn, [lv.level for lv in late.reached], late.clock.level, late.next_at
    (False, [1, 2], 2, None)
    """
    due = clock.due(calendar)
    warn_instant = clock.warn_at(calendar, share) if share > 0 else due
    warn = False
    warned = clock.warned
    if not warned and warn_instant <= now:
        warn, warned = due > now and share > 0, True
    pending = [lv for lv in levels if lv.level > clock.level]
    instants = [(calendar.add(due, lv.after) if lv.after else due, lv) for lv in pending]
    reached = tuple(lv for at, lv in instants if at <= now)
    level = max((lv.level for lv in reached), default=clock.level)
    upcoming = [at for at, lv in instants if lv.level > level]
    if not warned:
        upcoming.append(warn_instant)
    return Step(
        clock=replace(clock, warned=warned, level=level),
        due=due,
        risk_at=warn_instant,
        warn=warn,
        reached=reached,
        next_at=min(upcoming, default=None),
    )


@dataclass(frozen=True)
class Facts:
    """What a ticket row says about its clocks (see ``deadlines.py`` for the columns)."""

    state: str
    queue: str
    priority: str = ""
    segment: str = ""
    response_kind: str | None = None  # first_response, next_response; None: nobody owes an answer
    response_from: datetime | None = None
    response_paused: timedelta = _ZERO
    response_warned: bool = False
    response_level: int = 0
    resolution_from: datetime | None = None  # None: resolved, or no clock
    resolution_paused: timedelta = _ZERO
    resolution_warned: bool = False
    resolution_level: int = 0


def clocks(facts: Facts, policy: Policy) -> list[Clock]:
    """The clocks running on a ticket under ``policy`` (empty when it owes nothing)."""
    owed = policy.commitments(facts.queue, facts.priority, facts.segment)
    found: list[Clock] = []
    if facts.response_kind is not None and facts.response_from is not None:
        length = (
            owed.first_response if facts.response_kind == "first_response" else owed.next_response
        )
        if length:
            found.append(
                Clock(
                    facts.response_kind,
                    facts.response_from,
                    length,
                    facts.response_paused,
                    facts.response_warned,
                    facts.response_level,
                )
            )
    if facts.resolution_from is not None and owed.resolution:
        found.append(
            Clock(
                "resolution",
                facts.resolution_from,
                owed.resolution,
                facts.resolution_paused,
                facts.resolution_warned,
                facts.resolution_level,
            )
        )
    return found


@dataclass(frozen=True)
class Review:
    """A sweep's verdict on one ticket: what to send, and the row's new clock columns."""

    steps: tuple[Step, ...]
    due: dict[str, datetime] = field(default_factory=dict)  # kind -> due instant
    risk_at: datetime | None = None
    next_at: datetime | None = None

    @property
    def warnings(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.warn)

    @property
    def escalations(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.reached)

    def clock(self, kind: str) -> Clock | None:
        return next((s.clock for s in self.steps if s.clock.kind == kind), None)


def review(facts: Facts, policy: Policy, calendar: WorkingCalendar, now: datetime) -> Review:
    """Step every clock of a ticket at ``now``; a ticket that is not active has none running.

    >>> from datetime import UTC
    >>> from zoneinfo import ZoneInfo
    >>> cal = WorkingCalendar(ZoneInfo("America/Santo_Domingo"))
    >>> friday = datetime(2026, 3, 6, 23, 30, tzinfo=UTC)  # 19:30 local
    >>> facts = Facts("new", "info", response_kind="first_response", response_from=friday)
    >>> verdict = review(facts, Policy(Commitments(timedelta(hours=24))), cal, friday)
    >>> verdict.due["first_response"].isoformat(), verdict.next_at.isoformat()
    ('2026-03-10T23:30:00+00:00', '2026-03-10T17:30:00+00:00')
    """
    if facts.state not in ACTIVE_STATES:
        return Review(())
    levels = policy.levels(facts.queue)
    steps = tuple(
        step(clock, calendar, policy.warn_share, levels, now) for clock in clocks(facts, policy)
    )
    return Review(
        steps,
        due={s.clock.kind: s.due for s in steps},
        risk_at=min((s.risk_at for s in steps), default=None),
        next_at=min((s.next_at for s in steps if s.next_at is not None), default=None),
    )


def plan(facts: Facts, policy: Policy, calendar: WorkingCalendar) -> Review:
    """Due instants and the next instant a sweep must look, acting on nothing.

    What a change (a new ticket, a follow-up, a new priority) writes on the row: anything
    already due is left for the sweep, which sends what it must and marks it.
    """
    return review(facts, policy, calendar, _NEVER)


def working_time_left(calendar: WorkingCalendar, due: datetime, now: datetime) -> timedelta:
    """Working time from ``now`` to ``due``; negative once breached (by the working time since).

    >>> from zoneinfo import ZoneInfo
    >>> cal = WorkingCalendar(ZoneInfo("America/Bogota"))
    >>> friday_6pm = datetime(2026, 3, 6, 18, tzinfo=cal.zone)
    >>> working_time_left(cal, friday_6pm, friday_6pm + timedelta(days=3)) / timedelta(hours=1)
    -12.0
    """
    if due >= now:
        return calendar.between(now, due)
    return -calendar.between(due, now)
