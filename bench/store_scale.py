"""Figure 5: the store at scale: ticket listings over a generated store, and their plans.

    .venv/bin/python -m bench.store_scale [--tickets 1000000] [--messages-per-ticket 3]

Creates the store with ``maildesk.store.store.Store`` (so every migration runs), then
fills it with SQL: tickets (states and queues in realistic shares, three years of
dates), one requester participant each, and about three messages per ticket (request,
acknowledgement, follow-ups; raw blobs are left out). Rows go in with ``executemany`` in
big transactions with the indexes dropped, and the schema's own indexes are rebuilt
afterwards, so the result is the real schema. Then it times:

- ``maildesk tickets --state open --json`` as a command (Python start-up included);
- the listing query (``maildesk.store.queries.list_tickets``) in process, with
  ``--state open``, without a filter, and with a queue filter;
- the threading look-ups the ingest hot path makes (dedupe key, Message-ID, loop guard);

and prints each statement's EXPLAIN QUERY PLAN verdict: index only, or a full scan or
a temporary sort, which grow with the store.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.mix import QUEUES, queues_toml
from maildesk.store import queries
from maildesk.store.store import Store

_STATES = (("closed", 74), ("resolved", 6), ("open", 8), ("new", 4), ("pending", 5),
           ("reopened", 1), ("cancelled", 2))  # fmt: skip
_CHUNK = 200_000  # rows per transaction
# Named, because later migrations add columns (with defaults) that these rows leave out.
_TICKET_COLUMNS = (
    "number, queue, queue_address, state, subject, requester, requester_name, language,"
    " claimed_tag, linked_to, created_at, updated_at, closed_at"
)
_START = datetime(2023, 11, 1, tzinfo=UTC)
_SPAN_SECONDS = 3 * 365 * 86_400
_BODIES = tuple(
    " ".join(["Buenos días, necesito ayuda con mi solicitud número {n}."] * k) for k in (3, 6, 9)
)


def _iso(seconds: float) -> str:
    return (_START + timedelta(seconds=seconds)).isoformat(timespec="microseconds")


def _ticket_rows(count: int, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    states = [s for s, _ in _STATES]
    weights = [w for _, w in _STATES]
    for number in range(1, count + 1):
        at = _SPAN_SECONDS * number / count
        state = rng.choices(states, weights)[0]
        queue = QUEUES[0] if rng.random() < 0.75 else QUEUES[1]
        closed = _iso(at + 86_400) if state in ("closed", "cancelled") else None
        yield (number, queue.name, queue.address, state, f"Solicitud {number}",
               f"persona{number}@alumnos.uni.example", "Persona", queue.language, None, None,
               _iso(at), _iso(at + 3_600), closed)  # fmt: skip


def _message_rows(tickets: int, per_ticket: float, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    ident = 0
    high = max(1, round(2 * per_ticket - 1))
    for number in range(1, tickets + 1):
        at = _SPAN_SECONDS * number / tickets
        requester = f"persona{number}@alumnos.uni.example"
        for k in range(rng.randint(1, high)):
            ident += 1
            inbound = k != 1  # the second message is our acknowledgement
            message_id = f"m{ident}@alumnos.uni.example" if inbound else f"md.{number}.a.{ident}@u"
            yield (ident, number, "in" if inbound else "out", "human" if inbound else "ack",
                   message_id, f"{message_id}\n{ident:064x}" if inbound else None,
                   requester if inbound else "info@uni.example", "Persona",
                   '["info@uni.example"]', "[]", f"Solicitud {number}",
                   _BODIES[ident % 3].format(n=number), _iso(at + k), _iso(at + k + 1),
                   "smtp" if inbound else "maildesk", requester, None, "")  # fmt: skip


def generate(path: Path, tickets: int, per_ticket: float, seed: int) -> tuple[int, float]:
    """Fill a new store at ``path``; (messages written, seconds taken)."""
    started = time.monotonic()
    Store(path).close()  # creates the schema through the migrations
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=DELETE")
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
    _insert(conn, f"tickets ({_TICKET_COLUMNS})", 13, _ticket_rows(tickets, rng))
    _insert(
        conn,
        "participants",
        3,
        ((n, f"persona{n}@alumnos.uni.example", "requester") for n in range(1, tickets + 1)),
    )
    messages = _insert(conn, "messages", 18, _message_rows(tickets, per_ticket, rng))
    for _, sql in indexes:
        conn.execute(sql)
    conn.execute("PRAGMA journal_mode=WAL")  # as the daemon leaves it
    conn.close()
    return messages, time.monotonic() - started


def _insert(
    conn: sqlite3.Connection, table: str, columns: int, rows: Iterator[tuple[Any, ...]]
) -> int:
    sql = f"INSERT INTO {table} VALUES ({', '.join('?' * columns)})"  # noqa: S608 - constants
    total = 0
    while True:
        chunk = [row for _, row in zip(range(_CHUNK), rows, strict=False)]
        if not chunk:
            return total
        conn.execute("BEGIN")
        conn.executemany(sql, chunk)
        conn.execute("COMMIT")
        total += len(chunk)


def best_of(function: Callable[[], object], rounds: int = 5) -> float:
    """Fastest of ``rounds`` calls, in seconds."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best


def plan_verdict(conn: sqlite3.Connection, sql: str) -> str:
    """How SQLite runs ``sql``: through indexes only, or with work that grows with the store.

    A SCAN without a temporary sort in a statement with LIMIT walks the table in key order
    and stops after LIMIT matching rows: bounded unless the filter is rare.
    """
    details = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}")]
    scans = [d for d in details if d.startswith("SCAN") and "INDEX" not in d]
    sorts = [d for d in details if "TEMP B-TREE" in d]
    used = sorted({d.split(" USING ")[-1] for d in details if " USING " in d})
    if sorts:
        return "NOT INDEXED: " + "; ".join(scans + sorts + used)
    if scans and "LIMIT" in sql.upper():
        return "key-order scan to the LIMIT: " + "; ".join(scans + used)
    if scans:
        return "NOT INDEXED: " + "; ".join(scans)
    return "index (" + "; ".join(used) + ")"


def _traced(conn: sqlite3.Connection, call: Callable[[], object]) -> list[str]:
    """The statements ``call`` runs, with their parameters filled in."""
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    call()
    conn.set_trace_callback(None)
    return list(dict.fromkeys(seen))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=1_000_000, help="default 1,000,000")
    parser.add_argument("--messages-per-ticket", type=float, default=3.0, help="mean, default 3")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="keep the generated store at this path")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="maildesk-bench-"))
    try:
        database = folder / "maildesk.db"
        messages, seconds = generate(database, args.tickets, args.messages_per_ticket, args.seed)
        size = database.stat().st_size
        print(
            f"store-generate: {args.tickets} tickets, {messages} messages in {seconds:.1f} s;"
            f" {size / 2**20:.0f} MiB"
        )
        config = folder / "config.toml"
        config.write_text(f"[maildesk]\ndatabase = {json.dumps(str(database))}\n\n{queues_toml()}")
        command = [sys.executable, "-m", "maildesk", "--config", str(config)]
        cli: dict[str, Any] = {}

        def run_cli() -> None:
            done = subprocess.run(
                [*command, "tickets", "--state", "open", "--json"],
                capture_output=True,
                check=True,
                timeout=600,
            )
            cli["rows"] = len(json.loads(done.stdout))

        cli_seconds = best_of(run_cli, 3)
        start_only = best_of(
            lambda: subprocess.run([*command, "--version"], capture_output=True, check=True), 3
        )
        print(
            f"store-cli: maildesk tickets --state open --json ({cli['rows']} rows)"
            f" {cli_seconds * 1000:.0f} ms, of which Python start-up"
            f" (maildesk --version) {start_only * 1000:.0f} ms"
        )
        _time_queries(database)
    finally:
        if args.keep is not None:
            shutil.copyfile(folder / "maildesk.db", args.keep)
        shutil.rmtree(folder, ignore_errors=True)


def _time_queries(database: Path) -> None:
    conn = queries.open_readonly(database)
    tags = {q.name: q.tag for q in QUEUES}
    newest = conn.execute("SELECT max(number) FROM tickets").fetchone()[0]
    last_in = conn.execute(
        "SELECT message_id, dedupe_key FROM messages WHERE direction = 'in' ORDER BY id DESC"
    ).fetchone()
    since = datetime(2026, 1, 1, tzinfo=UTC).isoformat()
    cases: list[tuple[str, Callable[[], object]]] = [
        ("list --state open", lambda: queries.list_tickets(conn, tags, state="open")),
        ("list (all)", lambda: queries.list_tickets(conn, tags)),
        ("list --queue crm", lambda: queries.list_tickets(conn, tags, queue="crm")),
        ("list --state new --queue crm",
         lambda: queries.list_tickets(conn, tags, state="new", queue="crm")),
        ("show newest", lambda: queries.ticket_detail(conn, tags, newest)),
        ("dedupe lookup", lambda: conn.execute(
            "SELECT id, ticket FROM messages WHERE dedupe_key = ?", (last_in[1],)).fetchone()),
        ("message-id lookup", lambda: conn.execute(
            "SELECT ticket FROM messages WHERE message_id = ? AND ticket IS NOT NULL"
            " ORDER BY id DESC LIMIT 1", (last_in[0],)).fetchone()),
        ("loop guard count", lambda: conn.execute(
            "SELECT count(*) FROM outbox WHERE recipient = ? AND created_at >= ?"
            " AND kind IN ('ack', 'survey', 'reminder', 'notice')",
            ("persona1@alumnos.uni.example", since)).fetchone()),
    ]  # fmt: skip
    for label, call in cases:
        verdicts = [plan_verdict(conn, sql) for sql in _traced(conn, call)]
        bad = [v for v in verdicts if not v.startswith("index")]
        seconds = best_of(call)
        plan = "; ".join(bad) if bad else "; ".join(dict.fromkeys(verdicts))
        print(f"store-query: {label}: {seconds * 1000:.2f} ms; plan {plan}")
    conn.close()


if __name__ == "__main__":
    main()
