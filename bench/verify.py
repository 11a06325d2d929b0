"""Did the store get every message of the mix exactly once, in the right ticket?

Read through the database (read-only, as ``maildesk tickets`` does) after a run. Lost,
duplicated, quarantined or misthreaded messages, or a missing acknowledgement, are
problems, and a benchmark with problems exits non-zero whatever its speed.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.mix import Spec


@dataclass
class Check:
    messages_in: int = 0  # inbound messages of the mix found in the store
    tickets: int = 0
    acks_queued: int = 0  # acknowledgement rows in the outbox table
    acks_sent: int = 0  # … of which delivered (written to the outbox folder)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def connect(database: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)


# Read through either store's connection (SQLite's own, or psycopg's with %s-free text).
STORED = "SELECT message_id, ticket FROM messages WHERE direction = 'in'"
TICKETS = "SELECT count(*) FROM tickets"
QUARANTINED = "SELECT count(*) FROM quarantine"
ACKS = (
    "SELECT count(*), coalesce(sum(CASE WHEN state = 'sent' THEN 1 ELSE 0 END), 0)"
    " FROM outbox WHERE kind = 'ack'"
)


def check(database: Path, specs: Sequence[Spec]) -> Check:
    with connect(database) as conn:
        result = check_connection(conn, specs)
    conn.close()
    return result


def check_connection(conn: Any, specs: Sequence[Spec]) -> Check:
    """``check`` over an open connection to either store (a DB-API connection)."""
    result = Check()
    stored = [(str(m), t) for m, t in conn.execute(STORED).fetchall()]
    result.tickets = int(conn.execute(TICKETS).fetchone()[0])
    quarantined = int(conn.execute(QUARANTINED).fetchone()[0])
    queued, sent = conn.execute(ACKS).fetchone()
    result.acks_queued, result.acks_sent = int(queued), int(sent)
    counts = Counter(message_id for message_id, _ in stored)
    ticket_of = dict(stored)
    wanted = {s.message_id for s in specs}
    result.messages_in = sum(1 for s in specs if s.message_id in counts)
    lost = [s.message_id for s in specs if s.message_id not in counts]
    doubled = [m for m, c in counts.items() if c > 1]
    stray = [m for m in counts if m not in wanted]
    misthreaded = [
        s.message_id
        for s in specs
        if s.original is not None
        and ticket_of.get(s.message_id) != ticket_of.get(specs[s.original].message_id)
    ]
    new = sum(1 for s in specs if s.kind == "new")
    problems = result.problems
    for label, items in (
        ("lost", lost),
        ("stored twice", doubled),
        ("not sent by the benchmark", stray),
        ("in the wrong ticket", misthreaded),
    ):
        if items:
            problems.append(f"{len(items)} message(s) {label}, e.g. <{items[0]}>")
    if quarantined:
        problems.append(f"{quarantined} message(s) quarantined")
    if result.tickets != new:
        problems.append(f"{result.tickets} tickets for {new} new requests")
    if result.acks_queued != new:
        problems.append(f"{result.acks_queued} acknowledgements queued for {new} new requests")
    return result


def summary(result: Check) -> str:
    if result.ok:
        return "ok"
    return "FAILED: " + "; ".join(result.problems)
