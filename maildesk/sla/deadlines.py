"""The service-level clocks on ticket rows: the I/O side of ``sla.py``.

A ticket row holds the *facts* of its clocks (migration 0005: ``response_kind``,
``response_from``, ``response_paused``, ``response_warned``, ``response_level``, the same
for ``resolution_*``, ``pending_since``, ``escalation_level``, ``escalated_at``; and, from
migration 0012, ``first_response_paused``, the pending time the first answer is owed back,
kept after the answer for the monthly report) and the
*instants* derived from them: the due times (``first_response_due``, ``next_response_due``,
``resolution_due``), ``risk_at`` (the earliest warning instant), ``sla_next_at`` (when a
sweep must next look at the clocks) and ``followup_at`` (when the follow-up sweep must).
Every change recomputes the instants from the facts, so a new priority or calendar
applies at once and nothing depends on which sweeps ran.

Who calls what, always inside the caller's transaction:

- the pipeline: ``after_message`` for each message that opens or joins a ticket;
- every state change (``Store.set_state``, wherever it is called): ``state_changed``,
  through ``Store.on_state_change``, which the desk (``maildesk/desk.py``) wires;
- a new priority or segment (``store/tickets.set_fields``): ``reclassified``, through
  ``Store.on_reclassify``; code that moves a ticket to another queue calls it too;
- code that answers the requester may call ``answered`` (the sweeps also find answers in
  the messages: mail an agent wrote, or a reply we sent, after the clock started).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from maildesk.config import Config
from maildesk.config import sla as slaconfig
from maildesk.model import State, Ticket
from maildesk.sla.followups import FollowUp, FollowUpFacts, follow_up
from maildesk.sla.rules import ACTIVE_STATES, Facts, Review, plan
from maildesk.store.database import Connection
from maildesk.store.store import Store, from_iso, iso

# Columns that other work adds (agents, routing) are read when present, never required:
# assignee, group_name, priority, segment, pending_until (#pending's date), resolved_at.
# Outgoing kinds that tell the requester something (a progress notice is due after a quiet week).
_TOLD = ("ack", "reply", "notice", "reminder", "survey")
_FACTS = (
    "response_kind",
    "response_from",
    "response_paused",
    "response_warned",
    "response_level",
    "resolution_from",
    "resolution_paused",
    "resolution_warned",
    "resolution_level",
    "escalation_level",
    "escalated_at",
    "pending_since",
    "first_response_paused",
)
STOPPED_RESPONSE = {
    "response_kind": None,
    "response_from": None,
    "response_paused": 0.0,
    "response_warned": 0,
    "response_level": 0,
}
_STOPPED_RESOLUTION = {
    "resolution_from": None,
    "resolution_paused": 0.0,
    "resolution_warned": 0,
    "resolution_level": 0,
}


class Deadlines:
    def __init__(self, config: Config, store: Store) -> None:
        self.config = config
        self.store = store
        self.calendar = slaconfig.working_calendar(config)
        self.policy = slaconfig.policy(config)
        self.rules = config.sla.follow_up_rules()
        self.agents = tuple(sorted(config.agent_addresses()))
        self.contacts = frozenset(a.lower() for e in config.sla.escalations for a in e.notify)

    # -- reading ----------------------------------------------------------------------

    def row(self, number: int) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.store.conn.execute(
            "SELECT * FROM tickets WHERE number = ?", (number,)
        ).fetchone()
        return row

    def facts(self, values: Mapping[str, Any]) -> Facts:
        return Facts(
            state=values["state"],
            queue=values["queue"],
            priority=values.get("priority") or "",
            segment=values.get("segment") or "",
            response_kind=values["response_kind"],
            response_from=_instant(values["response_from"]),
            response_paused=timedelta(seconds=values["response_paused"]),
            response_warned=bool(values["response_warned"]),
            response_level=values["response_level"],
            resolution_from=_instant(values["resolution_from"]),
            resolution_paused=timedelta(seconds=values["resolution_paused"]),
            resolution_warned=bool(values["resolution_warned"]),
            resolution_level=values["resolution_level"],
        )

    def follow_up_facts(self, values: Mapping[str, Any]) -> FollowUpFacts:
        state = values["state"]
        number = values["number"]
        # A state set before these clocks existed: its last change is the best guess.
        since = _instant(values["pending_since"]) or from_iso(values["updated_at"])
        resolved = _instant(values.get("resolved_at")) or from_iso(values["updated_at"])
        return FollowUpFacts(
            state=state,
            created_at=from_iso(values["created_at"]),
            pending_since=since if state == State.PENDING else None,
            resolved_at=resolved if state == State.RESOLVED else None,
            last_told=self.last_told(number) if state in ACTIVE_STATES else None,
            reminded=state == State.PENDING and self.reminded_since(number, since),
            remind_at=_instant(values.get("pending_until")),
        )

    def first_response_hours(self, number: int) -> float:
        """The working hours ticket ``number`` is owed a first answer in, by its queue,
        priority and segment ([[sla_policies]]), for the acknowledgement to promise."""
        row = self.row(number) if self.policy.rules else None  # no rules: the default
        if row is None:
            return self.config.calendar.first_response_hours
        owed = self.policy.commitments(row["queue"], row["priority"] or "", row["segment"] or "")
        return owed.first_response / timedelta(hours=1)

    def answered_since(self, number: int, since: datetime) -> datetime | None:
        return answered_since(self.store.conn, self.agents, number, since)

    def last_told(self, number: int) -> datetime | None:
        """The last mail anyone sent the requester: ours, or an agent's."""
        marks = ",".join("?" * len(self.agents)) or "NULL"
        row = self.store.conn.execute(
            "SELECT max(received_at) FROM messages WHERE ticket = ? AND"  # noqa: S608 - '?' only
            f" ((direction = 'out' AND kind IN ({','.join('?' * len(_TOLD))}))"
            f" OR (direction = 'in' AND kind IN ('human', 'reply') AND from_addr IN ({marks})))",
            (number, *_TOLD, *self.agents),
        ).fetchone()
        return from_iso(row[0]) if row and row[0] else None

    def reminded_since(self, number: int, since: datetime) -> bool:
        row = self.store.conn.execute(
            "SELECT 1 FROM messages WHERE ticket = ? AND direction = 'out' AND kind = 'reminder'"
            " AND received_at >= ? LIMIT 1",
            (number, iso(since)),
        ).fetchone()
        return row is not None

    # -- what changes the clocks (inside the caller's transaction) ----------------------

    def after_message(
        self, number: int, before: Ticket | None, sender: str, human: bool, now: datetime
    ) -> None:
        """A message opened (``before`` is None) or joined ticket ``number``.

        A new ticket starts its clocks; a requester's follow-up, when nobody owes an answer,
        starts the next-response clock. Mail from agents and escalation contacts, and mail
        written by machines, start nothing. State changes arrive through ``state_changed``.
        """
        if before is None:
            self.opened(number, now)
        elif human and sender.lower() not in self.agents and sender.lower() not in self.contacts:
            self.requester_wrote(number, now)

    def opened(self, number: int, now: datetime) -> None:
        self._write(
            number,
            now,
            {
                **STOPPED_RESPONSE,
                **_STOPPED_RESOLUTION,
                "response_kind": "first_response",
                "response_from": iso(now),
                "resolution_from": iso(now),
            },
        )

    def requester_wrote(self, number: int, now: datetime) -> None:
        row = self.row(number)
        if row is None or row["state"] not in ACTIVE_STATES:
            return
        running = _instant(row["response_from"])
        if row["response_kind"] and running and self.answered_since(number, running) is None:
            return  # an answer is owed already: its clock keeps running
        # Only a new ticket owes a first response; any later clock follows an answer.
        self._write(
            number,
            now,
            {**STOPPED_RESPONSE, "response_kind": "next_response", "response_from": iso(now)},
        )

    def answered(self, number: int, now: datetime) -> None:
        """An agent answered the requester: no answer is owed until they write again."""
        self._write(number, now, STOPPED_RESPONSE)

    def reclassified(self, number: int, now: datetime) -> None:
        """The queue, priority or segment changed: due times follow the policy that now applies."""
        self._write(number, now, {})

    def state_changed(self, number: int, old: State, new: State, now: datetime) -> None:
        """Pause, restart or stop the clocks as ticket ``number`` moves from ``old`` to ``new``.

        Only an answer to the requester stops the response clock (leaving "new" for
        "pending" is no answer); waiting on the requester gives its working time back.
        """
        row = self.row(number)
        if row is None:
            return
        changes: dict[str, Any] = {}
        facts = self.facts(dict(row))
        answered = None
        if facts.response_kind and facts.response_from is not None:
            # The sweeps also find answers in the messages; a state change must not run a
            # clock past the answer that stopped it (a reply sent with #pending, say).
            answered = self.answered_since(number, facts.response_from)
        since = _instant(row["pending_since"])
        if old is State.PENDING and since is not None:
            # Waiting on the requester does not count: each clock owes that working time back.
            for kind, start, until in (
                ("response", facts.response_from, min(answered or now, now)),
                ("resolution", facts.resolution_from, now),
            ):
                if start is None or until <= max(since, start):
                    continue
                held = self.calendar.between(max(since, start), until).total_seconds()
                changes[f"{kind}_paused"] = row[f"{kind}_paused"] + held
                if kind == "response" and facts.response_kind == "first_response":
                    changes["first_response_paused"] = row["first_response_paused"] + held
            changes["pending_since"] = None
        if answered is not None:
            changes.update(STOPPED_RESPONSE)  # an answer no hook recorded: it stopped then
        if new is State.PENDING:
            changes["pending_since"] = iso(now)
        if new is State.RESOLVED or new.is_closed:
            changes.update(STOPPED_RESPONSE)
            changes.update(_STOPPED_RESOLUTION)
            changes["resolved_at"] = iso(now)  # read by the follow-up below, not written
        if new is State.REOPENED:
            changes.update(_STOPPED_RESOLUTION)
            changes["resolution_from"] = iso(now)
        self._write(number, now, changes, row=dict(row))

    # -- the sweeps' side -----------------------------------------------------------------

    def due_for_review(self, now: datetime, limit: int) -> list[sqlite3.Row]:
        """Tickets whose clocks need a look by ``now`` (through the partial index)."""
        return self.store.conn.execute(
            "SELECT * FROM tickets WHERE sla_next_at <= ? ORDER BY sla_next_at, number LIMIT ?",
            (iso(now), limit),
        ).fetchall()

    def due_for_follow_up(self, now: datetime, limit: int) -> list[sqlite3.Row]:
        return self.store.conn.execute(
            "SELECT * FROM tickets WHERE followup_at <= ? ORDER BY followup_at, number LIMIT ?",
            (iso(now), limit),
        ).fetchall()

    def save_review(self, values: Mapping[str, Any], verdict: Review, now: datetime) -> None:
        """Write what a sweep did (warned, levels reached) and the instants that follow."""
        values = dict(values)
        for step in verdict.steps:
            prefix = "resolution" if step.clock.kind == "resolution" else "response"
            values[f"{prefix}_warned"] = int(step.clock.warned)
            values[f"{prefix}_level"] = step.clock.level
        reached = max((lv.level for s in verdict.steps for lv in s.reached), default=0)
        if reached:
            values["escalation_level"] = max(values["escalation_level"], reached)
            values["escalated_at"] = iso(now)
        self._update(values["number"], values, verdict)

    def save_follow_up(self, number: int, next_at: datetime | None) -> None:
        self.store.conn.execute(
            "UPDATE tickets SET followup_at = ? WHERE number = ?",
            (iso(next_at) if next_at else None, number),
        )

    def follow_up(self, values: Mapping[str, Any], now: datetime) -> FollowUp:
        return follow_up(self.follow_up_facts(values), self.rules, self.calendar, now)

    def _write(
        self,
        number: int,
        now: datetime,
        changes: Mapping[str, Any],
        row: Mapping[str, Any] | None = None,
    ) -> None:
        if row is None:
            found = self.row(number)
            if found is None:
                return
            row = dict(found)
        values = {**row, **changes}
        verdict = plan(self.facts(values), self.policy, self.calendar)
        self._update(number, values, verdict, follow_up_at=self.follow_up(values, now).next_at)

    def _update(
        self,
        number: int,
        values: Mapping[str, Any],
        verdict: Review,
        *,
        follow_up_at: datetime | bool | None = False,  # False: leave followup_at as it is
    ) -> None:
        due = {kind: iso(at) for kind, at in verdict.due.items()}
        instants = {
            "first_response_due": due.get("first_response"),
            "next_response_due": due.get("next_response"),
            "resolution_due": due.get("resolution"),
            "risk_at": iso(verdict.risk_at) if verdict.risk_at else None,
            "sla_next_at": iso(verdict.next_at) if verdict.next_at else None,
        }
        columns = [*_FACTS, *instants]
        params = [*(values[c] for c in _FACTS), *instants.values()]
        if follow_up_at is not False:
            columns.append("followup_at")
            params.append(iso(follow_up_at) if isinstance(follow_up_at, datetime) else None)
        assignments = ", ".join(f"{c} = ?" for c in columns)  # fixed names above
        self.store.conn.execute(
            f"UPDATE tickets SET {assignments} WHERE number = ?",  # noqa: S608
            (*params, number),
        )


def answered_since(
    conn: Connection, agents: Sequence[str], number: int, since: datetime
) -> datetime | None:
    """When an agent first answered ticket ``number`` at or after ``since``, if one did.

    An answer is a reply we sent, or mail from an agent's address that is not an
    internal note (agent mail is kept as it came in, or relabelled 'reply').
    """
    marks = ",".join("?" * len(agents)) or "NULL"
    row = conn.execute(
        "SELECT min(received_at) FROM messages WHERE ticket = ? AND received_at >= ?"  # noqa: S608
        " AND ((direction = 'out' AND kind = 'reply')"
        f" OR (direction = 'in' AND kind IN ('human', 'reply') AND from_addr IN ({marks})))",
        (number, iso(since), *agents),
    ).fetchone()
    return from_iso(row[0]) if row and row[0] else None


def _instant(text: str | None) -> datetime | None:
    return from_iso(text) if text else None
