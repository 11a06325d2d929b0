"""Figure 8: one reminder/escalation sweep over a store of 1,000,000 tickets, 100,000 open.

    .venv/bin/python -m bench.sla_scan [--tickets 1000000] [--open 100000] [--due 100]
                                        [--catch-up 10000] [--keep FILE]

Creates the store with ``maildesk.store.store.Store`` (every migration runs), then fills
it with SQL (``executemany``, 200,000 rows per transaction, indexes dropped and rebuilt):
closed tickets with no clocks, and open tickets whose clocks run, each with its request
message. "Now" is Wednesday 11 March 2026, 15:00 in Santo Domingo (the default calendar,
Monday to Friday 08:00-20:00). Among the open tickets:

- ``--due`` breach their 24-hour first-response commitment within the last minute,
  ``--due`` reach 75 % of it (a warning), and ``--due`` are owed a progress notice:
  what a sweep once a minute finds on a busy desk;
- the others have their next look (``sla_next_at``, ``followup_at``) hours to weeks ahead.

Then, with the daemon's settings (WAL, ``synchronous=FULL``) and the real sweeps,
mailer, templates and outbox, it times:

1. ``Sweeps.run_sla``: the per-minute run (warnings in digests, escalation notices);
2. the same run again at once: nothing left, the cost of asking;
3. ``Sweeps.run_follow_ups``: the progress notices;
4. a catch-up: ``--catch-up`` more tickets made due, as after a weekend of downtime.

For each run: seconds (in parts of at most ``MAX_MAILS`` mails, each its own transaction,
as the scheduler runs them), tickets looked at and mail queued; then the peak of Python
memory allocated by one more catch-up of 1,000 tickets (traced apart: tracemalloc slows
Python down); and the EXPLAIN QUERY PLAN of the due-now queries.
"""

from __future__ import annotations

import argparse
import logging
import random
import shutil
import sqlite3
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench.mix import QUEUES, queues_toml
from maildesk.config import parse
from maildesk.desk import Desk
from maildesk.sla.sweeps import SweepReport, Sweeps
from maildesk.store.store import Store, iso
from maildesk.templates import Templates

_CHUNK = 200_000  # rows per transaction
_LOCAL = ZoneInfo("America/Santo_Domingo")
NOW = datetime(2026, 3, 11, 15, tzinfo=_LOCAL).astimezone(UTC)  # a Wednesday
# 24 working hours before NOW is Monday 15:00 local; 18 (75 %) is Tuesday 09:00.
_BREACH_START = datetime(2026, 3, 9, 15, tzinfo=_LOCAL).astimezone(UTC)
_WARN_START = datetime(2026, 3, 10, 9, tzinfo=_LOCAL).astimezone(UTC)
_CONFIG = """
[[escalations]]
level = 0
notify = ["equipo@uni.example"]

[[escalations]]
level = 1
notify = ["coordinacion@uni.example"]

[[escalations]]
level = 2
after_hours = 24
notify = ["direccion@uni.example"]
"""
_TICKET_COLUMNS = (
    "number, queue, queue_address, state, subject, requester, requester_name, language,"
    " created_at, updated_at, closed_at, response_kind, response_from, resolution_from,"
    " first_response_due, risk_at, sla_next_at, followup_at"
)
_MESSAGE_COLUMNS = (
    "id, ticket, direction, kind, message_id, dedupe_key, from_addr, from_name, to_addrs,"
    " cc_addrs, subject, body, received_at, source"
)


def _ticket_rows(
    total: int, opened: int, due: int, rng: random.Random
) -> Iterator[tuple[Any, ...]]:
    first_open = total - opened + 1
    for number in range(1, total + 1):
        queue = QUEUES[0] if rng.random() < 0.75 else QUEUES[1]
        person = f"persona{number}@alumnos.uni.example"
        if number < first_open:  # closed long ago: no clocks, outside every partial index
            created = NOW - timedelta(days=30 + (first_open - number) * 1000 / first_open)
            closed = iso(created + timedelta(days=2))
            yield (number, queue.name, queue.address, "closed", f"Solicitud {number}", person,
                   "Persona", queue.language, iso(created), closed, closed,
                   None, None, None, None, None, None, None)  # fmt: skip
            continue
        k = number - first_open  # 0 .. opened-1
        followup = NOW + timedelta(hours=rng.uniform(1, 24 * 7))
        if k < due:  # breaches now: its first response was due within the last minute
            start = _BREACH_START - timedelta(seconds=rng.uniform(0, 60))
            look = start  # stale on purpose: the sweep recomputes from the facts
        elif k < 2 * due:  # reaches 75 % now: a warning
            start = _WARN_START - timedelta(seconds=rng.uniform(0, 60))
            look = start
        else:  # ahead: warnings and breaches to come over the next weeks
            start = NOW - timedelta(hours=rng.uniform(0, 16))
            look = NOW + timedelta(hours=rng.uniform(1, 24 * 21))
            if k < 3 * due:  # owed a progress notice: opened weeks ago, never told since
                followup = NOW - timedelta(seconds=rng.uniform(0, 60))
        created = min(start, followup - timedelta(days=7))
        yield (number, queue.name, queue.address, "new", f"Solicitud {number}", person,
               "Persona", queue.language, iso(created), iso(start), None, "first_response",
               iso(start), iso(created), iso(look + timedelta(hours=6)), iso(look), iso(look),
               iso(followup))  # fmt: skip


def _message_rows(total: int, opened: int) -> Iterator[tuple[Any, ...]]:
    for ident, number in enumerate(range(total - opened + 1, total + 1), 1):
        person = f"persona{number}@alumnos.uni.example"
        yield (ident, number, "in", "human", f"m{ident}@alumnos.uni.example",
               f"m{ident}\n{ident:064x}", person, "Persona", '["info@uni.example"]', "[]",
               f"Solicitud {number}", "Buenos días, necesito ayuda con mi solicitud.",
               iso(NOW - timedelta(days=8)), "smtp")  # fmt: skip


def generate(path: Path, total: int, opened: int, due: int, seed: int) -> float:
    """Fill a new store at ``path``; seconds taken."""
    started = time.monotonic()
    Store(path).close()  # the schema, through the migrations
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-262144")
    indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        " AND tbl_name IN ('tickets', 'messages')"
    ).fetchall()
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    rng = random.Random(seed)
    _insert(conn, "tickets", _TICKET_COLUMNS, _ticket_rows(total, opened, due, rng))
    _insert(conn, "messages", _MESSAGE_COLUMNS, _message_rows(total, opened))
    for _, sql in indexes:
        conn.execute(sql)
    conn.execute("ANALYZE")
    conn.execute("PRAGMA journal_mode=WAL")  # as the daemon leaves it
    conn.close()
    return time.monotonic() - started


def _insert(
    conn: sqlite3.Connection, table: str, columns: str, rows: Iterator[tuple[Any, ...]]
) -> None:
    marks = ", ".join("?" * len(columns.split(",")))
    sql = f"INSERT INTO {table} ({columns}) VALUES ({marks})"  # noqa: S608 - constants
    while True:
        chunk = [row for _, row in zip(range(_CHUNK), rows, strict=False)]
        if not chunk:
            return
        conn.execute("BEGIN")
        conn.executemany(sql, chunk)
        conn.execute("COMMIT")


def timed(label: str, run: Callable[[], SweepReport], store: Store, memory: bool = False) -> None:
    """One run as the scheduler makes it: parts of at most MAX_MAILS mails, each committed.

    With ``memory`` the run is traced (tracemalloc, which slows Python down several times)
    and only its peak is reported.
    """
    mails_before = store.conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
    total = SweepReport()
    parts: list[float] = []
    if memory:
        tracemalloc.start()
    while True:
        started = time.perf_counter()
        report = run()
        parts.append(time.perf_counter() - started)
        for name, value in vars(report).items():
            if name != "more":
                setattr(total, name, getattr(total, name) + value)
        if not report.more:
            break
    mails = store.conn.execute("SELECT count(*) FROM outbox").fetchone()[0] - mails_before
    done = (
        f"{total.reviewed} ticket(s) looked at, {total.warned} warned in {total.digests}"
        f" digest(s), {total.escalated} escalated, {total.notices} progress notice(s);"
        f" {mails} mail(s) queued"
    )
    if memory:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"sla-memory: {label}: {done}; peak Python memory {peak / 2**20:.1f} MiB")
        return
    print(
        f"sla-sweep: {label}: {sum(parts) * 1000:.0f} ms in {len(parts)} transaction(s),"
        f" the longest {max(parts) * 1000:.0f} ms; {done}"
    )


def make_due(store: Store, first: int, count: int) -> None:
    """Tickets ``first`` … that breached while the daemon was stopped."""
    with store.transaction():
        store.conn.execute(
            "UPDATE tickets SET response_from = ?, sla_next_at = ? WHERE number BETWEEN ? AND ?",
            (iso(_BREACH_START - timedelta(hours=30)), iso(NOW - timedelta(days=2)),
             first, first + count - 1),
        )  # fmt: skip


def plans(store: Store) -> None:
    """How SQLite finds what is due: through the partial indexes, never a scan."""
    queries = {
        "sla due": "SELECT * FROM tickets WHERE sla_next_at <= ?"
        " ORDER BY sla_next_at, number LIMIT 500",
        "follow-up due": "SELECT * FROM tickets WHERE followup_at <= ?"
        " ORDER BY followup_at, number LIMIT 500",
        "maildesk sla": "SELECT * FROM tickets WHERE state IN ('new', 'open', 'reopened')"
        " AND risk_at IS NOT NULL AND risk_at <= ? ORDER BY risk_at LIMIT 200",
    }
    for label, sql in queries.items():
        details = [r[3] for r in store.conn.execute(f"EXPLAIN QUERY PLAN {sql}", (iso(NOW),))]
        print(f"sla-plan: {label}: {'; '.join(details)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=1_000_000, help="default 1,000,000")
    parser.add_argument("--open", type=int, default=100_000, help="open tickets, default 100,000")
    parser.add_argument("--due", type=int, default=100, help="breaches, warnings, notices each")
    parser.add_argument("--catch-up", type=int, default=10_000, help="due after a long stop")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--keep", type=Path, help="keep the generated store at this path")
    args = parser.parse_args()
    logging.getLogger("maildesk").setLevel(logging.ERROR)  # one line per escalation otherwise
    if not 3 * args.due + args.catch_up + 1000 <= args.open <= args.tickets:
        parser.error("need 3 * --due + --catch-up + 1000 <= --open <= --tickets")
    folder = Path(tempfile.mkdtemp(prefix="maildesk-bench-"))
    try:
        database = folder / "maildesk.db"
        seconds = generate(database, args.tickets, args.open, args.due, args.seed)
        size = database.stat().st_size
        print(
            f"sla-generate: {args.tickets} tickets ({args.open} open) in {seconds:.1f} s;"
            f" {size / 2**20:.0f} MiB"
        )
        config = parse(
            f'[maildesk]\ndatabase = "{database}"\n{_CONFIG}\n{queues_toml()}',
            path=None,
            base_dir=folder,
        )
        store = Store(config.database)
        desk = Desk(config, store, Templates(None, "es"), b"bench-secret-0123456789abcdef")
        sweeps = Sweeps(desk)
        plans(store)
        timed("per-minute run", lambda: sweeps.run_sla(NOW), store)
        timed("again at once (nothing due)", lambda: sweeps.run_sla(NOW), store)
        timed("follow-ups", lambda: sweeps.run_follow_ups(NOW), store)
        # A weekend of downtime: the next --catch-up open tickets breached while stopped.
        first = args.tickets - args.open + 3 * args.due + 1
        make_due(store, first, args.catch_up)
        timed(f"catch-up ({args.catch_up} due)", lambda: sweeps.run_sla(NOW), store)
        # The memory of a run: 1,000 more due, traced.
        make_due(store, first + args.catch_up, 1000)
        timed("catch-up (1000 due)", lambda: sweeps.run_sla(NOW), store, memory=True)
        store.close()
    finally:
        if args.keep is not None:
            shutil.copyfile(folder / "maildesk.db", args.keep)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
