"""The periodic sweeps: reminders before a commitment is breached, escalations at and after
the breach, and the follow-ups (pending reminders, progress notices, closing).

Each sweep asks the store only for the tickets due by now (``sla_next_at`` and
``followup_at``, both behind partial indexes), acts on them and writes the mail through
the outbox, all in one transaction; then marks on each ticket what it did and when the
ticket next needs a look. A sweep repeated at the same instant, or after a restart, finds
nothing left to do; a sweep after a long stop does what fell due meanwhile, once.
Sweeps run on the single writer (``scheduler.py``); tests call them with a fake clock.
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from maildesk.config import QueueConfig
from maildesk.desk import Desk
from maildesk.mail.compose import Outgoing, compose
from maildesk.mail.parsed import Address
from maildesk.mail.thread import reply_subject
from maildesk.model import State
from maildesk.outbox.mailer import Mail
from maildesk.sla.deadlines import STOPPED_RESPONSE
from maildesk.sla.rules import Review, review, working_time_left
from maildesk.store.store import OutgoingMail, from_iso

log = logging.getLogger(__name__)

TEMPLATES = [
    "reminder.txt.j2",
    "escalation.txt.j2",
    "pending_reminder.txt.j2",
    "progress.txt.j2",
]
_BATCH = 500  # rows read at a time
# Mail composed per transaction, at most: each takes a few milliseconds on the single writer,
# and ingest waits meanwhile. A run that finds more (a catch-up) says so and goes on in a
# new transaction, after the mail that arrived in between.
MAX_MAILS = 100
_SUBJECTS = {
    "es": {
        "reminder": "Recordatorio: {count} solicitud(es) cerca de su plazo",
        "escalation": "Escalado, nivel {level}: {subject}",
    },
    "en": {
        "reminder": "Reminder: {count} request(s) close to their deadline",
        "escalation": "Escalated, level {level}: {subject}",
    },
}


@dataclass
class SweepReport:
    """What one run did (for the log, the tests and the benchmark)."""

    reviewed: int = 0  # tickets looked at
    warned: int = 0  # tickets at risk, put in a digest
    digests: int = 0  # reminder digests queued
    escalated: int = 0  # tickets escalated
    reminded: int = 0  # requesters reminded of a pending ticket
    notices: int = 0  # progress notices
    closed: int = 0  # tickets closed
    more: bool = False  # stopped at MAX_MAILS: run again for the rest

    def __bool__(self) -> bool:
        """Whether the run did anything (looking at a ticket is not doing)."""
        return any(v for k, v in vars(self).items() if k != "reviewed")


def format_working(span: timedelta) -> str:
    """Working time for people: '5 h 07 min', '45 min'; the sign is left to the text.

    >>> format_working(timedelta(hours=-5, minutes=-7)), format_working(timedelta(minutes=45))
    ('5 h 07 min', '45 min')
    """
    minutes = round(abs(span).total_seconds() / 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


class Sweeps:
    def __init__(self, desk: Desk) -> None:
        config = desk.config
        self.config = config
        self.store = desk.store
        self.mailer = desk.mailer
        self.deadlines = desk.deadlines
        self.surveyor = desk.surveyor
        self.notices = desk.notices
        self.calendar = self.deadlines.calendar
        self.tags = {q.tag for q in config.queues}
        self.agents = {a: agent for agent in config.agents for a in agent.addresses}

    # -- reminders and escalations ----------------------------------------------------------

    def run_sla(self, now: datetime, max_mails: int = MAX_MAILS) -> SweepReport:
        """Warn of tickets at risk (one digest per person) and escalate breached ones."""
        report = SweepReport()
        digests: dict[str, list[dict[str, Any]]] = {}
        with self.store.transaction():
            for row in self._due(self.deadlines.due_for_review, now):
                if report.escalated >= max_mails:
                    report.more = True
                    break
                report.reviewed += 1
                self._review(dict(row), now, report, digests)
            for recipient, items in digests.items():
                self._digest(recipient, items, now)
                report.digests += 1
        if report.warned or report.escalated:
            log.info(
                "sla sweep: %d ticket(s) at risk in %d digest(s), %d escalated",
                report.warned,
                report.digests,
                report.escalated,
            )
        return report

    def _due(
        self, query: Callable[[datetime, int], list[sqlite3.Row]], now: datetime
    ) -> Iterator[sqlite3.Row]:
        """Rows due by ``now``, a batch at a time; a row handled leaves the set it was in."""
        seen: set[int] = set()
        while True:
            rows = [r for r in query(now, _BATCH) if r["number"] not in seen]
            if not rows:
                return
            for row in rows:
                seen.add(row["number"])
                yield row

    def _review(
        self,
        values: dict[str, Any],
        now: datetime,
        report: SweepReport,
        digests: dict[str, list[dict[str, Any]]],
    ) -> None:
        number = values["number"]
        started = values["response_from"]
        if values["response_kind"] and started:
            answered = self.deadlines.answered_since(number, from_iso(started))
            if answered is not None:  # an answer no hook recorded: the clock stopped then
                values.update(STOPPED_RESPONSE)
        verdict = review(self.deadlines.facts(values), self.deadlines.policy, self.calendar, now)
        self.deadlines.save_review(values, verdict, now)
        if verdict.warnings:
            report.warned += 1
            recipients = self._reminder_recipients(values)
            for step in verdict.warnings:
                item = self._item(values, step.clock.kind, step.due, now)
                for recipient in recipients:
                    digests.setdefault(recipient, []).append(item)
                self.store.add_event(
                    number,
                    "sla-warning",
                    f"{step.clock.kind} due {step.due.isoformat()};"
                    f" reminded {', '.join(recipients) or 'nobody (no agent, group or contact)'}",
                    now,
                )
        if verdict.escalations:
            report.escalated += 1
            self._escalate(values, verdict, now)

    def _reminder_recipients(self, values: Mapping[str, Any]) -> tuple[str, ...]:
        """The ticket's agent, else its group's agents, else the queue's contacts, else its
        coordinators or agents (as for a breach)."""
        assignee = values.get("assignee")
        if assignee:
            return (str(assignee).lower(),)
        group = values.get("group_name")
        if group:
            members = tuple(
                agent.addresses[0]
                for agent in self.config.agents
                if group in getattr(agent, "groups", ())
            )
            if members:
                return members
        contacts = self.deadlines.policy.reminder_contacts(values["queue"])
        return self.notices.supervisors(self._queue(values), group, contacts)

    def _item(
        self, values: Mapping[str, Any], kind: str, due: datetime, now: datetime
    ) -> dict[str, Any]:
        left = working_time_left(self.calendar, due, now)
        return {
            "ref": f"{self._queue(values).tag}#{values['number']}",
            "number": values["number"],
            "subject": values["subject"],
            "requester": values["requester"],
            "requester_name": values["requester_name"],
            "state": values["state"],
            "kind": kind,
            "due": due,
            "due_local": self._local(due),
            "left": format_working(left),
            "breached": due <= now,
            "late": left < timedelta(0),  # breached, and by some working time already
            "queue_address": values["queue_address"],
        }

    def _escalate(self, values: Mapping[str, Any], verdict: Review, now: datetime) -> None:
        number = values["number"]
        steps = verdict.escalations
        level = max(lv.level for s in steps for lv in s.reached)
        queue = self._queue(values)
        contacts = [a for s in steps for lv in s.reached for a in lv.notify]
        # A breach always reaches someone: without [[escalations]] contacts, the people a
        # low survey score would reach (the queue's coordinators, else its agents).
        notify = list(self.notices.supervisors(queue, values.get("group_name"), contacts))
        items = [self._item(values, s.clock.kind, s.due, now) for s in steps]
        if notify:
            language = self._language_of(notify[0])
            subject = reply_subject(queue.tag, number, values["subject"], self.tags)
            self.mailer.queue(
                Mail(
                    ticket=number,
                    kind="escalation",
                    queue=queue,
                    from_address=values["queue_address"],
                    to=[Address(a) for a in notify],
                    subject=_SUBJECTS[language]["escalation"].format(level=level, subject=subject),
                    template="escalation.txt.j2",
                    language=language,
                    context={
                        "level": level,
                        "commitments": items,
                        "subject": values["subject"],
                        "requester": values["requester"],
                        "requester_name": values["requester_name"],
                        "state": values["state"],
                        "opened_local": self._local(from_iso(values["created_at"])),
                        "assignee": values.get("assignee") or "",
                        "group": values.get("group_name") or "",
                    },
                    auto_submitted="auto-generated",
                ),
                now,
            )
        kinds = ", ".join(f"{i['kind']} due {i['due'].isoformat()}" for i in items)
        told = ", ".join(notify) or "nobody (no [[escalations]] contact and no agent)"
        if notify and not contacts:
            told += " (no [[escalations]] contact: the queue's coordinators or agents)"
        self.store.add_event(number, "escalated", f"level {level}: {kinds}; notified {told}", now)
        log.warning(
            "escalated ticket=%s level=%d (%s); notified %s",
            items[0]["ref"],
            level,
            kinds,
            told,
        )

    def _digest(self, recipient: str, items: Sequence[dict[str, Any]], now: datetime) -> None:
        """One mail listing every ticket at risk for ``recipient`` (about no single ticket)."""
        language = self._language_of(recipient)
        agent = self.agents.get(recipient)
        ordered = sorted(items, key=lambda i: (i["due"], i["number"]))
        body = self.mailer.templates.render(
            "reminder.txt.j2",
            language,
            {
                "name": agent.name if agent else "",
                "tickets": ordered,
                "organization": self.config.organization,
                "timezone": self.config.timezone,
            },
        )
        sender = ordered[0]["queue_address"]
        domain = sender.rpartition("@")[2] or "localhost"
        message_id = f"digest.{secrets.token_hex(8)}@{domain}"
        raw = compose(
            Outgoing(
                message_id=message_id,
                from_addr=Address(sender, self.config.organization),
                to=[Address(recipient, agent.name if agent else "")],
                subject=_SUBJECTS[language]["reminder"].format(count=len(ordered)),
                body=body,
                date=now,
                language=language,
                auto_submitted="auto-generated",
            )
        )
        self.mailer.enqueue(OutgoingMail(None, "digest", message_id, sender, [recipient], raw), now)

    # -- follow-ups --------------------------------------------------------------------------

    def run_follow_ups(self, now: datetime, max_mails: int = MAX_MAILS) -> SweepReport:
        """Remind requesters of pending tickets, send progress notices, close what is due."""
        report = SweepReport()
        with self.store.transaction():
            for row in self._due(self.deadlines.due_for_follow_up, now):
                if report.reminded + report.notices >= max_mails:
                    report.more = True
                    break
                report.reviewed += 1
                self._follow_up(dict(row), now, report)
        if report.reminded or report.notices or report.closed:
            log.info(
                "follow-up sweep: %d requester(s) reminded, %d progress notice(s), %d closed",
                report.reminded,
                report.notices,
                report.closed,
            )
        return report

    def _follow_up(self, values: dict[str, Any], now: datetime, report: SweepReport) -> None:
        number = values["number"]
        due = self.deadlines.follow_up(values, now)
        if due.action == "close":
            why = "resolved" if values["state"] == State.RESOLVED else "pending, no answer"
            self.store.set_state(number, State.CLOSED, now)  # the clocks stop through the hook
            self.store.add_event(number, "auto-closed", why, now)
            self.surveyor.offer(number, now)
            report.closed += 1
            return
        if due.action == "remind":
            self._tell_requester(
                values,
                "reminder",
                "pending_reminder.txt.j2",
                {"close_local": self._local(due.next_at) if due.next_at else ""},
                now,
            )
            self.store.add_event(number, "pending-reminder", values["requester"], now)
            report.reminded += 1
        elif due.action == "progress":
            opened = from_iso(values["created_at"])
            self._tell_requester(
                values, "notice", "progress.txt.j2", {"opened_local": self._local(opened)}, now
            )
            self.store.add_event(number, "progress-notice", values["requester"], now)
            report.notices += 1
        self.deadlines.save_follow_up(number, due.next_at)

    def _tell_requester(
        self,
        values: Mapping[str, Any],
        kind: str,
        template: str,
        context: Mapping[str, Any],
        now: datetime,
    ) -> None:
        queue = self._queue(values)
        self.mailer.queue(
            Mail(
                ticket=values["number"],
                kind=kind,
                queue=queue,
                from_address=values["queue_address"],
                to=[Address(values["requester"], values["requester_name"])],
                subject=reply_subject(queue.tag, values["number"], values["subject"], self.tags),
                template=template,
                language=values["language"],
                context={
                    "requester_name": values["requester_name"],
                    "subject": values["subject"],
                    **context,
                },
                auto_submitted="auto-generated",
            ),
            now,
        )

    # -- helpers -------------------------------------------------------------------------------

    def _queue(self, values: Mapping[str, Any]) -> QueueConfig:
        return self.config.queue_of_ticket(
            values["queue"], values["queue_address"], self.config.language
        )

    def _language_of(self, address: str) -> str:
        agent = self.agents.get(address.lower())
        language = agent.language if agent else self.config.language
        return language if language in _SUBJECTS else "es"

    def _local(self, instant: datetime) -> str:
        return instant.astimezone(self.calendar.zone).strftime("%Y-%m-%d %H:%M")
