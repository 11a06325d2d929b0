"""``maildesk sla`` and ``maildesk calendar``: service commitments as an admin checks them.

Both read only: ``sla`` the ticket rows (the due times the daemon keeps on them),
``calendar`` the configuration alone.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import click

from maildesk.cli._common import (
    TEMPLATES_USED,
    Context,
    emit,
    exit_on_error,
    readonly,
)
from maildesk.clock import SystemClock
from maildesk.config import Config
from maildesk.config.sla import working_calendar
from maildesk.errors import MaildeskError
from maildesk.sla.calendar import DAYS, WorkingCalendar
from maildesk.sla.deadlines import answered_since
from maildesk.sla.rules import ACTIVE_STATES, working_time_left
from maildesk.sla.sweeps import TEMPLATES, format_working
from maildesk.store.database import Connection, columns
from maildesk.store.store import from_iso

# The daemon and ``maildesk check`` verify these templates like the others.
TEMPLATES_USED.extend(t for t in TEMPLATES if t not in TEMPLATES_USED)

_KINDS = (
    ("first_response", "first response"),
    ("next_response", "next response"),
    ("resolution", "resolution"),
)
_HOUR = timedelta(hours=1)


@click.command()
@click.option("--queue", help="Only tickets of this queue.")
@click.option(
    "--all",
    "everything",
    is_flag=True,
    help="Every ticket with a running commitment, not only those at risk or breached.",
)
@click.option("--limit", default=200, show_default=True, help="At most this many tickets.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def sla(obj: Context, queue: str | None, everything: bool, limit: int, as_json: bool) -> None:
    """List tickets at risk of missing a commitment and those past it (breached).

    Due times are shown in the calendar's time zone; the time left, or overdue, is
    working time. A ticket is at risk once [sla] warn_share of its commitment has gone.
    Tickets waiting on the requester (pending) are not listed: their clocks stand still.
    """
    with exit_on_error():
        config = obj.config()
        calendar = working_calendar(config)
        now = SystemClock().now()
        with readonly(config) as conn:
            rows = _commitments(conn, config, calendar, now, queue, everything, limit)
        if as_json:
            emit(rows)
            return
        if not rows:
            click.echo("no open commitment" if everything else "nothing at risk or breached")
            return
        click.echo(f"times in {config.timezone}; time left and overdue in working hours")
        for row in rows:
            left = row["working_hours_left"] * _HOUR
            when = (
                f"overdue {format_working(left)}"
                if row["status"] == "breached"
                else f"{format_working(left)} left"
            )
            level = f"level {row['escalation_level']}" if row["escalation_level"] else ""
            click.echo(
                f"{row['ref']:<12} {row['status']:<8} {row['commitment']:<15}"
                f" due {row['due_local'][:16].replace('T', ' ')} ({when})"
                f" {level:<8} {row['requester']:<28} {row['subject'][:40]}"
            )


def _commitments(
    conn: Connection,
    config: Config,
    calendar: WorkingCalendar,
    now: datetime,
    queue: str | None,
    everything: bool,
    limit: int,
) -> list[dict[str, Any]]:
    states = sorted(ACTIVE_STATES)
    where = [f"state IN ({','.join('?' * len(states))})", "risk_at IS NOT NULL"]
    args: list[Any] = [*states]
    if not everything:
        where.append("risk_at <= ?")
        args.append(now.isoformat(timespec="microseconds"))
    if queue:
        where.append("queue = ?")
        args.append(queue)
    if "risk_at" not in columns(conn, "tickets"):  # a store from before migration 0005
        raise MaildeskError("the database has no due times yet; run maildesk migrate")
    found = conn.execute(
        "SELECT * FROM tickets WHERE "  # noqa: S608 - fixed clauses and '?' marks
        + " AND ".join(where)
        + " ORDER BY risk_at LIMIT ?",
        [*args, limit],
    ).fetchall()
    agents = tuple(sorted(config.agent_addresses()))
    rows = []
    for ticket in found:
        number = ticket["number"]
        at_risk = from_iso(ticket["risk_at"]) <= now
        started = ticket["response_from"]
        # An answer the daemon has not looked at yet (it will at its next sweep).
        answered = bool(started) and answered_since(
            conn, agents, ticket["number"], from_iso(started)
        )
        for kind, label in _KINDS:
            text = ticket[f"{kind}_due"]
            if not text or (answered and kind != "resolution"):
                continue
            due = from_iso(text)
            status = "breached" if due <= now else "at risk" if at_risk else "on time"
            if status == "on time" and not everything:
                continue
            rows.append(
                {
                    "number": number,
                    "ref": f"{config.tag_of(ticket['queue'])}#{number}",
                    "queue": ticket["queue"],
                    "state": ticket["state"],
                    "subject": ticket["subject"],
                    "requester": ticket["requester"],
                    "assignee": ticket["assignee"] if "assignee" in ticket.keys() else None,  # noqa: SIM118
                    "commitment": label,
                    "status": status,
                    "due": text,
                    "due_local": due.astimezone(calendar.zone).isoformat(timespec="minutes"),
                    "working_hours_left": round(working_time_left(calendar, due, now) / _HOUR, 2),
                    "escalation_level": ticket["escalation_level"],
                    "escalated_at": ticket["escalated_at"],
                }
            )
    rows.sort(key=lambda r: (r["working_hours_left"], r["number"]))
    return rows


@click.command("calendar")
@click.option("--days", default=14, show_default=True, help="How many days to show.")
@click.option("--from", "first", metavar="YYYY-MM-DD", help="First day to show (default: today).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def calendar_command(obj: Context, days: int, first: str | None, as_json: bool) -> None:
    """Show the business calendar: working periods day by day, holidays and closures.

    Also when mail arriving now starts its clock and when its first answer would be due,
    so an admin can check [calendar] before the daemon applies it.
    """
    with exit_on_error():
        config = obj.config()
        calendar = working_calendar(config)
        now = SystemClock().now()
        try:
            start = date.fromisoformat(first) if first else now.astimezone(calendar.zone).date()
        except ValueError:
            raise MaildeskError(f"--from: expected YYYY-MM-DD, got {first!r}") from None
        report = _calendar(config, calendar, now, start, max(1, min(days, 3660)))
        if as_json:
            emit(report)
            return
        click.echo(f"time zone {report['timezone']}")
        click.echo(f"now {report['now'][:16].replace('T', ' ')}")
        click.echo(
            f"mail arriving now starts its clock {report['next_open'][:16].replace('T', ' ')};"
            f" its first answer is due {report['first_response_due'][:16].replace('T', ' ')}"
            f" ({config.calendar.first_response_hours} working hours)"
        )
        click.echo("")
        for day in report["days"]:
            periods = ", ".join(f"{a}-{b}" for a, b in day["periods"]) or "closed"
            note = "  (holiday)" if day["holiday"] else ""
            click.echo(f"{day['weekday']} {day['date']}  {periods}{note}")
        click.echo("")
        click.echo("holidays ahead: " + (", ".join(report["holidays"]) or "none"))
        closures = [f"{a.replace('T', ' ')} - {b.replace('T', ' ')}" for a, b in report["closures"]]
        click.echo("closures ahead: " + ("; ".join(closures) or "none"))


def _calendar(
    config: Config, calendar: WorkingCalendar, now: datetime, start: date, days: int
) -> dict[str, Any]:
    zone = calendar.zone

    def local(instant: datetime) -> str:
        return instant.astimezone(zone).isoformat(timespec="minutes")

    shown = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        midnight = datetime.combine(day, time()).replace(tzinfo=zone)
        periods = []
        for a, b in calendar.periods(midnight, midnight + timedelta(days=1)):
            a_local, b_local = a.astimezone(zone), b.astimezone(zone)
            end = "24:00" if b_local.date() > day else b_local.strftime("%H:%M")
            periods.append((a_local.strftime("%H:%M"), end))
        shown.append(
            {
                "date": day.isoformat(),
                "weekday": DAYS[day.weekday()],
                "holiday": day in calendar.holidays,
                "periods": periods,
            }
        )
    opens = calendar.next_open(now)
    due = calendar.add(now, config.calendar.first_response_hours * _HOUR)
    return {
        "timezone": config.timezone,
        "now": local(now),
        "next_open": local(opens),
        "first_response_due": local(due),
        "days": shown,
        "holidays": [d.isoformat() for d in sorted(calendar.holidays) if d >= start],
        "closures": [[local(a), local(b)] for a, b in calendar.closures if b > now],
    }


COMMANDS = [sla, calendar_command]
