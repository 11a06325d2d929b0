"""The monthly report over a year of mail: 1,000,000 messages by default.

    .venv/bin/python -m bench.report_scale [--messages 1000000] [--keep FILE]

Creates the store with ``maildesk.store.store.Store`` (every migration runs, the report's
indexes included), then fills a year (2026) with SQL, ``executemany`` in transactions of
200,000 rows: tickets in two queues and four agents (one message in ten opens a ticket),
their messages in and out, an escalation event for one ticket in twenty and a reopening
for one in fifty, and a survey for each closed ticket when the store has a surveys table.
Then it times ``report_queries.monthly`` for October (about 1/12 of the rows) with the
default calendar, prints the total line, and the EXPLAIN QUERY PLAN of each query.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from maildesk.config import parse
from maildesk.reports import indicators as reports
from maildesk.reports.queries import monthly
from maildesk.store.store import Store, iso

_CHUNK = 200_000
_START = datetime(2026, 1, 1, 4, tzinfo=UTC)  # midnight in Santo Domingo
_YEAR = timedelta(days=365)
_CONFIG = """
[[queues]]
name = "info"
addresses = ["info@uni.example"]
tag = "INFO"

[[queues]]
name = "soporte"
addresses = ["soporte@uni.example"]
tag = "SOP"
"""
_AGENTS = [None, "ana@uni.example", "berta@uni.example", "carlos@uni.example", "dora@uni.example"]
_PER_TICKET = 10  # messages per ticket


def _chunks(rows: Iterator[tuple[Any, ...]]) -> Iterator[list[tuple[Any, ...]]]:
    chunk: list[tuple[Any, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == _CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def fill(path: Path, messages: int, seed: int = 7) -> dict[str, int]:
    store = Store(path)
    conn = store.conn
    has_surveys = bool(conn.execute("SELECT 1 FROM pragma_table_info('surveys')").fetchone())
    store.close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")  # filling only; the report reads as the CLI does
    rng = random.Random(seed)
    tickets = messages // _PER_TICKET
    step = _YEAR / tickets
    plan = []
    for number in range(1, tickets + 1):
        created = _START + step * (number - 1)
        answered = rng.random() < 0.9
        first = created + timedelta(minutes=rng.randint(5, 3000)) if answered else None
        closed = created + timedelta(hours=rng.randint(2, 200)) if rng.random() < 0.8 else None
        plan.append((number, created, first, closed))

    def ticket_rows() -> Iterator[tuple[Any, ...]]:
        for number, created, first, closed in plan:
            queue = "info" if number % 3 else "soporte"
            yield (
                number,
                queue,
                f"{queue}@uni.example",
                "closed" if closed else "open",
                "Solicitud",
                "req@example.org",
                "Req",
                "es",
                iso(created),
                iso(created),
                iso(closed) if closed else None,
                _AGENTS[number % len(_AGENTS)],
                iso(first) if first else None,
                iso(closed) if closed else None,
            )

    def message_rows() -> Iterator[tuple[Any, ...]]:
        for number, created, first, _closed in plan:
            for i in range(_PER_TICKET):
                when = created + timedelta(hours=6 * i)
                if i == 1 and first is not None:
                    when = first
                yield (
                    number,
                    "in" if i % 2 == 0 else "out",
                    "human" if i % 2 == 0 else "reply",
                    f"{number}.{i}@bench",
                    iso(when),
                )

    def event_rows() -> Iterator[tuple[Any, ...]]:
        for number, created, _first, _closed in plan:
            if number % 20 == 0:
                yield (number, iso(created + timedelta(days=2)), "escalated", "level 1")
            if number % 50 == 0:
                yield (number, iso(created + timedelta(days=3)), "reopen", "message")
            yield (number, iso(created), "open", "message")

    def survey_rows() -> Iterator[tuple[Any, ...]]:
        for number, _created, _first, closed in plan:
            if closed is not None:
                score = rng.randint(1, 5) if rng.random() < 0.4 else None
                yield (
                    number,
                    "req@example.org",
                    "es",
                    "1-5",
                    "00",
                    f"s{number}@bench",
                    iso(closed),
                    iso(closed + timedelta(days=30)),
                    score,
                )

    inserts = [
        (
            "INSERT INTO tickets (number, queue, queue_address, state, subject, requester,"
            " requester_name, language, created_at, updated_at, closed_at, assignee,"
            " first_response_at, resolved_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ticket_rows(),
        ),
        (
            "INSERT INTO messages (ticket, direction, kind, message_id, from_addr, from_name,"
            " to_addrs, cc_addrs, subject, body, received_at, source)"
            " VALUES (?, ?, ?, ?, '', '', '[]', '[]', '', '', ?, 'smtp')",
            message_rows(),
        ),
        ("INSERT INTO events (ticket, at, kind, detail) VALUES (?, ?, ?, ?)", event_rows()),
    ]
    if has_surveys:
        inserts.append(
            (
                "INSERT INTO surveys (ticket, requester, language, scale, nonce, message_id,"
                " sent_at, expires_at, score) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                survey_rows(),
            )
        )
    for sql, rows in inserts:
        for chunk in _chunks(rows):
            conn.execute("BEGIN")
            conn.executemany(sql, chunk)
            conn.execute("COMMIT")
    conn.execute("ANALYZE")
    counts = {
        table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
        for table in ("tickets", "messages", "events")
    }
    conn.close()
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="Keep the filled store in this file.")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="maildesk-report-"))
    try:
        path = folder / "maildesk.db"
        started = time.perf_counter()
        counts = fill(path, args.messages)
        print(f"filled {counts} in {time.perf_counter() - started:.1f} s")
        config = parse(_CONFIG, path=folder / "config.toml", base_dir=folder)
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        times = []
        for _ in range(3):
            started = time.perf_counter()
            report = monthly(conn, config, "2026-10")
            times.append(time.perf_counter() - started)
        total = reports.figures(report.lines[0], report)
        print(
            "report 2026-10: "
            + ", ".join(f"{k} {total[k]}" for k in ("messages_in", "messages_out", "opened"))
        )
        print(f"monthly report: {', '.join(f'{t * 1000:.0f} ms' for t in times)} (three runs)")
        started = time.perf_counter()
        monthly(conn, config, "2026-10", "soporte")
        print(f"one queue: {(time.perf_counter() - started) * 1000:.0f} ms")
        for what, sql in (
            (
                "tickets",
                "SELECT * FROM tickets AS t WHERE created_at >= '2026' AND created_at < '2027'",
            ),
            (
                "messages",
                "SELECT t.queue, count(*) FROM messages AS m JOIN tickets AS t"
                " ON t.number = m.ticket WHERE m.received_at >= '2026' AND m.received_at < '2027'"
                " AND m.direction = 'in' AND (m.direction = 'out' OR m.kind NOT IN"
                " ('agent', 'note', 'reply')) GROUP BY t.queue",
            ),
            (
                "events",
                "SELECT count(DISTINCT ticket) FROM events"
                " WHERE kind = 'escalated' AND at >= '2026'",
            ),
            (
                "closed",
                "SELECT count(*) FROM tickets WHERE closed_at >= '2026' AND closed_at < '2027'",
            ),
        ):
            plan = [r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql)]
            print(f"plan {what}: {'; '.join(plan)}")
        conn.close()
        if args.keep:
            shutil.copy(path, args.keep)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
