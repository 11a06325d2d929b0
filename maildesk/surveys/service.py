"""Closing surveys, the I/O side: send one when a ticket closes, record the answers, and
act on them (a "not solved" reopens the ticket; a low score asks why and tells the
queue's supervisors). Everything runs inside the caller's transaction, on the writer.

The pure parts are ``rules.py`` (tokens) and ``replies.py`` (reading answers).
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from maildesk.agents.directory import supervisors
from maildesk.agents.notices import Notices
from maildesk.config import Config, QueueConfig
from maildesk.mail.parsed import Address, ParsedMail
from maildesk.mail.quotes import strip_reply
from maildesk.mail.thread import reply_subject
from maildesk.model import State, Ticket
from maildesk.outbox.mailer import Mail, Mailer
from maildesk.sla.deadlines import Deadlines
from maildesk.store import tickets
from maildesk.store.store import Store, from_iso, iso
from maildesk.surveys.replies import Answer, parse_reply
from maildesk.surveys.rules import Token, sign_token, survey_replied

log = logging.getLogger(__name__)

TEMPLATES = ["survey.txt.j2", "survey_why.txt.j2", "survey_low.txt.j2"]
# Mail that opened a ticket without a person behind it: such tickets get no survey.
_AUTOMATIC = ("auto_reply", "out_of_office", "bounce", "complaint", "loop")
_SUBJECTS = {
    "es": {"survey": "Encuesta", "why": "¿Qué podemos mejorar?", "low": "Valoración baja"},
    "en": {"survey": "Survey", "why": "What could we do better?", "low": "Low rating"},
}


@dataclass(frozen=True)
class Recorded:
    ticket: int
    language: str
    ref: str
    answer: Answer
    reopened: bool


class Surveyor:
    def __init__(
        self, config: Config, store: Store, mailer: Mailer, deadlines: Deadlines, notices: Notices
    ) -> None:
        self.config = config
        self.deadlines = deadlines
        self.notices = notices  # tells the agents of a reopening
        self.settings = config.surveys
        self.store = store
        self.mailer = mailer
        self.tags = {q.tag for q in config.queues}

    # -- sending --------------------------------------------------------------------------

    def offer(self, number: int, now: datetime) -> bool:
        """Queue the survey of a ticket that just closed, unless it must not have one."""
        ticket = tickets.info(self.store, number)
        if ticket is None:
            return False
        why = self._refusal(ticket)
        if why:
            log.debug("no survey for ticket %d: %s", number, why)
            return False
        queue = self._queue(ticket)
        language = ticket.language if ticket.language in _SUBJECTS else "es"
        nonce = secrets.token_hex(8)
        expires = now + timedelta(days=self.settings.token_days)
        token = sign_token(self.mailer.secret, number, expires, nonce)
        in_reply_to, references = tickets.thread(self.store, number)
        title = _SUBJECTS[language]["survey"]
        message_id = self.mailer.queue(
            Mail(
                ticket=number,
                kind="survey",
                queue=queue,
                from_address=ticket.queue_address,
                to=[Address(ticket.requester, ticket.requester_name)],
                subject=f"{reply_subject(queue.tag, number, ticket.subject, self.tags)} — {title}",
                template="survey.txt.j2",
                language=language,
                context={
                    "requester_name": ticket.requester_name,
                    "subject": ticket.subject,
                    "links": self.links(token),
                    "scores": list(self.settings.scores),
                    "expires": expires.astimezone(self._zone()).strftime("%Y-%m-%d"),
                },
                in_reply_to=in_reply_to,
                references=references,
                auto_submitted="auto-generated",
            ),
            now,
        )
        if message_id is None:  # held back by the loop cap, which noted it on the ticket
            return False
        self.store.conn.execute(
            "INSERT INTO surveys (ticket, requester, language, scale, nonce, message_id,"
            " sent_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                number,
                ticket.requester,
                language,
                self.settings.scale,
                nonce,
                message_id,
                iso(now),
                iso(expires),
            ),
        )
        self.store.add_event(number, "survey", f"sent to {ticket.requester}", now)
        return True

    def _refusal(self, ticket: Ticket) -> str:
        """Why ``ticket`` gets no survey, or ""."""
        conn = self.store.conn
        if ticket.state is not State.CLOSED or ticket.merged_into is not None:
            return f"{ticket.state.value}{', merged' if ticket.merged_into else ''}"
        if not self.settings.sends_for(ticket.queue):
            return "surveys are off for its queue"
        if not ticket.requester or ticket.requester in self.config.agent_addresses():
            return "no requester to ask"
        if conn.execute("SELECT 1 FROM surveys WHERE ticket = ?", (ticket.number,)).fetchone():
            return "it had one"
        if self.opted_out(ticket.requester):
            return "the requester asked for no surveys"
        bounced = conn.execute(
            "SELECT 1 FROM outbox WHERE recipient = ? AND state = 'bounced' LIMIT 1",
            (ticket.requester,),
        ).fetchone()
        if bounced:
            return "mail to the requester bounced"
        first = conn.execute(
            "SELECT kind FROM messages WHERE ticket = ? AND direction = 'in' ORDER BY id LIMIT 1",
            (ticket.number,),
        ).fetchone()
        if first is not None and first[0] in _AUTOMATIC:
            return f"opened by automatic mail ({first[0]})"
        return ""

    def links(self, token: str) -> dict[str, Any]:
        """The survey's addresses; empty when there is no HTTP listener to serve them."""
        if not self.config.http.enabled:
            return {}
        page = f"{self.config.http.base_url}survey?t={token}"
        return {
            "page": page,
            "yes": f"{page}&solved=yes",
            "no": f"{page}&solved=no",
            "scores": {s: f"{page}&score={s}" for s in self.settings.scores},
            "optout": f"{self.config.http.base_url}survey/optout?t={token}",
        }

    # -- reading ----------------------------------------------------------------------------

    def find(self, token: Token) -> sqlite3.Row | None:
        """The survey a verified token names (None when it is gone or was replaced)."""
        row: sqlite3.Row | None = self.store.conn.execute(
            "SELECT s.*, t.queue, t.subject FROM surveys s JOIN tickets t ON t.number = s.ticket"
            " WHERE s.ticket = ?",
            (token.ticket,),
        ).fetchone()
        if row is None or not secrets.compare_digest(row["nonce"], token.nonce):
            return None
        return row

    def opted_out(self, address: str) -> bool:
        row = self.store.conn.execute(
            "SELECT 1 FROM survey_optouts WHERE address = ?", (address.lower(),)
        ).fetchone()
        return row is not None

    def opt_out(self, address: str, now: datetime) -> None:
        self.store.conn.execute(
            "INSERT INTO survey_optouts (address, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (address.lower(), iso(now)),
        )

    def ref(self, number: int, queue: str) -> str:
        return f"{self.config.tag_of(queue)}#{number}"

    # -- answers --------------------------------------------------------------------------

    def mail_answer(
        self, mail: ParsedMail, sender: Address, now: datetime
    ) -> tuple[int, Answer] | None:
        """A reply to a survey mail, from its requester, in time, whose first line answers."""
        number = survey_replied(self.mailer.secret, mail.in_reply_to, mail.references)
        if number is None:
            return None
        row = self.store.conn.execute(
            "SELECT requester, scale, expires_at FROM surveys WHERE ticket = ?", (number,)
        ).fetchone()
        if row is None or row["requester"] != sender.email.lower():
            return None
        if now >= from_iso(row["expires_at"]):
            return None
        first, last = (int(x) for x in row["scale"].split("-"))
        lines = strip_reply(mail.text).splitlines()
        answer = parse_reply(lines, range(first, last + 1), sender.name)
        return None if answer is None else (number, answer)

    def record(self, number: int, answer: Answer, via: str, now: datetime) -> Recorded:
        """Keep ``answer`` (over any earlier one) and act on it."""
        row = self.store.conn.execute(
            "SELECT * FROM surveys WHERE ticket = ?", (number,)
        ).fetchone()
        earlier = Answer(
            _bool(row["solved"]), row["score"], row["comment"], _bool(row["recommend"])
        )
        merged = answer.merged(earlier)
        self.store.conn.execute(
            "UPDATE surveys SET solved = ?, score = ?, comment = ?, recommend = ?,"
            " answered_at = ?, answered_via = ?, answers = answers + 1 WHERE ticket = ?",
            (
                _int(merged.solved),
                merged.score,
                merged.comment,
                _int(merged.recommend),
                iso(now),
                via,
                number,
            ),
        )
        summary = ", ".join(
            part
            for part in (
                {True: "solved", False: "not solved", None: ""}[merged.solved],
                f"score {merged.score}" if merged.score is not None else "",
                {True: "would recommend", False: "would not recommend", None: ""}[merged.recommend],
                "with a comment" if merged.comment else "",
            )
            if part
        )
        self.store.add_event(number, "survey-answer", f"{summary or 'empty'} (by {via})", now)
        ticket = tickets.info(self.store, number)
        if ticket is None:  # a survey row goes with its ticket (ON DELETE CASCADE)
            raise LookupError(f"no ticket {number}")
        reopened = False
        if answer.solved is False and ticket.state in (State.CLOSED, State.RESOLVED):
            reopened = self._reopen(ticket, merged, now)
        if merged.score is not None and merged.score < self.settings.low:
            self._low(ticket, row, merged, now)
        return Recorded(number, row["language"], self.ref(number, ticket.queue), merged, reopened)

    def _reopen(self, ticket: Ticket, answer: Answer, now: datetime) -> bool:
        if ticket.merged_into is not None:
            return False
        self.store.set_state(ticket.number, State.REOPENED, now)  # restarts resolution
        self.store.add_event(ticket.number, "reopened", "survey: not solved", now)
        self.deadlines.requester_wrote(ticket.number, now)  # owes an answer
        fresh = tickets.info(self.store, ticket.number)
        if fresh is not None:
            self.notices.notify(
                fresh,
                event="survey-not-solved",
                sender=Address(ticket.requester, ticket.requester_name),
                text=answer.comment,
                attachments=(),
                now=now,
            )
        log.info(
            "ticket %d reopened: the requester answered the survey 'not solved'", ticket.number
        )
        return True

    def _low(self, ticket: Ticket, row: sqlite3.Row, answer: Answer, now: datetime) -> None:
        queue = self._queue(ticket)
        subject = reply_subject(queue.tag, ticket.number, ticket.subject, self.tags)
        context = {
            "requester_name": ticket.requester_name,
            "requester": ticket.requester,
            "subject": ticket.subject,
            "score": answer.score,
            "scale": self.settings.scale,
            "solved": answer.solved,
            "comment": answer.comment,
            "assignee": ticket.assignee or "",
            "group": ticket.group or "",
        }
        if not answer.comment and row["asked_why_at"] is None:
            language = row["language"]
            self.mailer.queue(
                Mail(
                    ticket=ticket.number,
                    kind="survey",
                    queue=queue,
                    from_address=ticket.queue_address,
                    to=[Address(ticket.requester, ticket.requester_name)],
                    subject=f"{subject} — {_SUBJECTS[language]['why']}",
                    template="survey_why.txt.j2",
                    language=language,
                    context=context,
                    in_reply_to=row["message_id"],
                    references=[row["message_id"]],
                    auto_submitted="auto-generated",
                ),
                now,
            )
            self._mark(ticket.number, "asked_why_at", now)
        if row["low_told_at"] is None:
            people = self.supervisors(ticket, queue)
            if people:
                language = self._language_of(people[0])
                self.mailer.queue(
                    Mail(
                        ticket=ticket.number,
                        kind="notify",
                        queue=queue,
                        from_address=ticket.queue_address,
                        to=[Address(a) for a in people],
                        subject=f"{_SUBJECTS[language]['low']}: {subject}",
                        template="survey_low.txt.j2",
                        language=language,
                        context=context,
                        reply_to=Address(ticket.queue_address, self.config.organization),
                        auto_submitted="auto-generated",
                    ),
                    now,
                )
            told = ", ".join(people) or "nobody"
            self.store.add_event(
                ticket.number, "survey-low", f"score {answer.score}; told {told}", now
            )
            self._mark(ticket.number, "low_told_at", now)

    def supervisors(self, ticket: Ticket, queue: QueueConfig) -> list[str]:
        """The queue's [[escalations]] contacts (its own tables, else the general ones),
        else its coordinators or agents, as for a breach (``directory.supervisors``)."""
        escalations = [e for e in self.config.sla.escalations if e.level >= 1]
        own = [e for e in escalations if e.queue == ticket.queue]
        chosen = own or [e for e in escalations if not e.queue]
        contacts = [a for e in chosen for a in e.notify]
        return list(supervisors(self.notices.directory, queue, ticket.group, contacts))

    # -- helpers --------------------------------------------------------------------------

    def _mark(self, number: int, column: str, now: datetime) -> None:
        if column not in ("asked_why_at", "low_told_at"):
            raise ValueError(column)
        self.store.conn.execute(
            f"UPDATE surveys SET {column} = ? WHERE ticket = ?",  # noqa: S608 - checked above
            (iso(now), number),
        )

    def _queue(self, ticket: Ticket) -> QueueConfig:
        return self.config.queue_of_ticket(ticket.queue, ticket.queue_address, ticket.language)

    def _language_of(self, address: str) -> str:
        agent = next((a for a in self.config.agents if address in a.addresses), None)
        language = agent.language if agent else self.config.language
        return language if language in _SUBJECTS else "es"

    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.config.timezone)


def _bool(value: int | None) -> bool | None:
    return None if value is None else bool(value)


def _int(value: bool | None) -> int | None:
    return None if value is None else int(value)
