"""The service-level side of ``config.toml``: the business calendar's holidays file and
closures, ``[sla]``, ``[[sla_policies]]`` and ``[[escalations]]``. ``config.py`` calls these
checks while it builds the configuration; each problem is reported with its key.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from maildesk.sla.calendar import DAYS, WorkingCalendar, parse_holidays
from maildesk.sla.followups import FollowUpRules
from maildesk.sla.rules import Commitments, Level, Policy, Rule

if TYPE_CHECKING:
    from maildesk.config import Config

Problem = Callable[[str, str, int | None], None]

_ADDRESS = re.compile(r"^[^@\s<>\"',;*]+@[A-Za-z0-9.-]+$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class SlaPolicyConfig:
    """One ``[[sla_policies]]`` table: matchers ("" any) and hours (0 keeps the default)."""

    queue: str = ""
    priority: str = ""
    segment: str = ""
    first_response_hours: int = 0
    next_response_hours: int = 0
    resolution_hours: int = 0


@dataclass(frozen=True)
class EscalationConfig:
    """One ``[[escalations]]`` table: who hears of a ticket at which level."""

    queue: str = ""  # "" every queue
    level: int = 1  # 0: reminders before the breach when no agent is assigned
    after_hours: int = 0  # working hours past the due instant
    notify: tuple[str, ...] = ()


@dataclass(frozen=True)
class SlaConfig:
    warn_share: float = 0.75
    next_response_hours: int = 24
    resolution_hours: int = 0
    pending_reminder_days: int = 3
    pending_close_days: int = 0
    resolved_close_days: int = 7
    progress_days: int = 7
    sweep_seconds: int = 60
    policies: tuple[SlaPolicyConfig, ...] = ()
    escalations: tuple[EscalationConfig, ...] = ()

    def follow_up_rules(self) -> FollowUpRules:
        return FollowUpRules(
            self.pending_reminder_days,
            self.pending_close_days,
            self.resolved_close_days,
            self.progress_days,
        )


def build(
    values: Mapping[str, Any],
    policies: Sequence[Mapping[str, Any]],
    escalations: Sequence[Mapping[str, Any]],
    queue_names: set[str],
    problem: Problem,
) -> SlaConfig:
    """``[sla]``, ``[[sla_policies]]`` and ``[[escalations]]``, checked."""
    if not 0 <= values["warn_share"] < 1:
        problem(
            "sla.warn_share", f"expected at least 0 and below 1, got {values['warn_share']}", None
        )
    remind, close = values["pending_reminder_days"], values["pending_close_days"]
    if remind and close and close <= remind:
        problem(
            "sla.pending_close_days",
            f"expected more than pending_reminder_days ({remind}), got {close}",
            None,
        )
    return SlaConfig(
        **values,
        policies=_policies(policies, queue_names, problem),
        escalations=_escalations(escalations, queue_names, problem),
    )


def _queue(where: str, name: str, queue_names: set[str], index: int, problem: Problem) -> None:
    if name and name not in queue_names:
        known = ", ".join(repr(q) for q in sorted(queue_names))
        problem(
            where, f"expected '' or the name of a [[queues]] table ({known}), got {name!r}", index
        )


def _policies(
    raw: Sequence[Mapping[str, Any]], queue_names: set[str], problem: Problem
) -> tuple[SlaPolicyConfig, ...]:
    for i, rule in enumerate(raw):
        _queue("sla_policies.queue", rule["queue"], queue_names, i, problem)
        if rule["segment"] and not _NAME.match(rule["segment"]):
            problem(
                "sla_policies.segment",
                f"expected lower-case letters, digits, - or _, got {rule['segment']!r}",
                i,
            )
        hours = ("first_response_hours", "next_response_hours", "resolution_hours")
        if not any(rule[k] for k in hours):
            problem("sla_policies.first_response_hours", "the policy changes no commitment", i)
    return tuple(SlaPolicyConfig(**rule) for rule in raw)


def _escalations(
    raw: Sequence[Mapping[str, Any]], queue_names: set[str], problem: Problem
) -> tuple[EscalationConfig, ...]:
    seen: dict[tuple[str, int], int] = {}
    for i, table in enumerate(raw):
        _queue("escalations.queue", table["queue"], queue_names, i, problem)
        key = (table["queue"], table["level"])
        if key in seen:
            problem(
                "escalations.level",
                f"level {table['level']} of queue {table['queue'] or '(every queue)'!r} is"
                f" already defined by table {seen[key] + 1}",
                i,
            )
        seen[key] = i
        if table["level"] == 0 and table["after_hours"]:
            problem("escalations.after_hours", "level 0 (reminders) has no after_hours", i)
        if not table["notify"]:
            problem("escalations.notify", "expected at least one address", i)
        for address in table["notify"]:
            if not _ADDRESS.match(address):
                problem("escalations.notify", f"not an address: {address!r}", i)
    found = tuple(
        EscalationConfig(t["queue"], t["level"], t["after_hours"], tuple(t["notify"])) for t in raw
    )
    policy = Policy(Commitments(_HOUR), escalations=_levels(found))
    for queue in sorted({t.queue for t in found} | {""}):
        levels = policy.levels(queue)
        for lower, higher in itertools.pairwise(levels):
            if higher.after < lower.after:
                where = seen.get((queue, higher.level), seen.get(("", higher.level)))
                problem(
                    "escalations.after_hours",
                    f"level {higher.level} of queue {queue or '(every queue)'!r} comes"
                    f" {higher.after / _HOUR:g} h past the due time, before level {lower.level}"
                    f" ({lower.after / _HOUR:g} h)",
                    where,
                )
    return found


def _levels(escalations: Sequence[EscalationConfig]) -> tuple[tuple[str, Level], ...]:
    return tuple(
        (e.queue, Level(e.level, e.after_hours * _HOUR, tuple(a.lower() for a in e.notify)))
        for e in escalations
    )


def closures(
    values: Sequence[str], timezone: str, problem: Problem
) -> tuple[tuple[datetime, datetime], ...]:
    """``calendar.closures``: 'START/END' in local time (a date alone is its midnight)."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return ()  # the time zone itself is reported by config.py
    found = []
    for value in values:
        start_text, slash, end_text = value.partition("/")
        try:
            if not slash:
                raise ValueError
            start, end = (
                _local(datetime.fromisoformat(part.strip()), zone)
                for part in (start_text, end_text)
            )
        except ValueError:
            problem(
                "calendar.closures",
                f"expected 'YYYY-MM-DD[ HH:MM]/YYYY-MM-DD[ HH:MM]', got {value!r}",
                None,
            )
            continue
        if end <= start:
            problem("calendar.closures", f"{value!r} does not end after it starts", None)
            continue
        found.append((start, end))
    return tuple(found)


def _local(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=zone)


def holidays_file(path: Path | None, problem: Problem) -> tuple[date, ...]:
    """The dates of ``calendar.holidays_file`` (plain dates or ICS); () when there is none."""
    if path is None:
        return ()
    try:
        return tuple(parse_holidays(path.read_text(encoding="utf-8")))
    except OSError as exc:
        problem("calendar.holidays_file", f"cannot read {path}: {exc.strerror or exc}", None)
    except UnicodeDecodeError as exc:
        problem("calendar.holidays_file", f"{path} is not UTF-8 text: {exc.reason}", None)
    except ValueError as exc:
        problem("calendar.holidays_file", f"{path}: {exc}", None)
    return ()


def check_calendar(
    timezone: str,
    hours: Mapping[str, str],
    holidays: Sequence[date],
    closed: Sequence[tuple[datetime, datetime]],
    problem: Problem,
) -> None:
    """What the calendar itself refuses (overlapping periods …), and a week with no hours."""
    try:
        calendar = WorkingCalendar.from_config(timezone, hours, holidays, closed)
    except ValueError as exc:
        if str(exc).startswith("timezone:"):
            return  # config.py reports the time zone itself
        day = str(exc).partition(":")[0].removeprefix("hours.")
        problem(f"calendar.{day}" if day in DAYS else "calendar.mon", str(exc), None)
        return
    if not any(calendar.week):
        problem("calendar.mon", "no working hours on any day of the week", None)


def working_calendar(config: Config) -> WorkingCalendar:
    """The business calendar of ``config`` (holidays from the file included)."""
    cal = config.calendar
    return WorkingCalendar.from_config(config.timezone, cal.hours, cal.holidays, cal.closures)


def policy(config: Config) -> Policy:
    """The service policy of ``config``: [calendar] first response, [sla], its tables."""
    sla = config.sla
    return Policy(
        Commitments(
            config.calendar.first_response_hours * _HOUR,
            sla.next_response_hours * _HOUR or None,
            sla.resolution_hours * _HOUR or None,
        ),
        rules=tuple(
            Rule(
                p.queue,
                p.priority,
                p.segment,
                p.first_response_hours * _HOUR or None,
                p.next_response_hours * _HOUR or None,
                p.resolution_hours * _HOUR or None,
            )
            for p in sla.policies
        ),
        warn_share=sla.warn_share,
        escalations=_levels(sla.escalations),
    )
