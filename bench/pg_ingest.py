"""Figure 11: SMTP ingest on PostgreSQL against SQLite; two daemons on one database.

    .venv/bin/python -m bench.pg_ingest [--n 3000] [--rounds 3] [--connections 8] [--fsync-off]
                                        [--before DIR]

Renders the mix (bench/mix.py) once, then in each round, in an order that turns from one
round to the next, sends it to real ``maildesk run`` daemons over real SMTP connections:

- ``sqlite``: one daemon on its SQLite file (figure 1's setting);
- ``pg``: one daemon on a private PostgreSQL cluster (tests/servers/postgres.py) with
  ``fsync`` and ``full_page_writes`` on, as an admin runs it; a fresh database each run;
- ``pg x2``: two daemons on one such database, the SMTP connections dealt out between
  them (the MTA delivering to whichever answers);
- with ``--fsync-off``, the same two on a second cluster without fsync: the ceiling
  when the disk's wait is taken away (not a setting for production);
- with ``--before DIR`` (an export of another commit, as in bench/README.md), each
  PostgreSQL case once more with that commit's daemons, in the same rounds.

Each run is timed from the first MAIL command to the last 250 (a 250 comes after the
commit that holds the message), then waits for every acknowledgement in the daemons'
outbox folders and checks the store (nothing lost, nothing twice, follow-ups in their
request's ticket; bench/verify.py) and prints the daemons' peak RSS and CPU time, the
cluster's CPU time, and what the daemons' database sessions were doing.

What the sessions were doing is sampled from ``pg_stat_activity`` every 20 ms (one
query from this process): a session ``active`` with ``wait_event_type = 'Lock'`` waits
for another transaction (a row, a unique key another daemon is inserting); ``IO`` is
mostly the commit's WAL flush; ``idle in transaction`` is the server waiting for the
daemon's next statement (round trips). Sampling is chosen over ``log_lock_waits``,
which reports only waits longer than ``deadlock_timeout`` (at least a millisecond, and
lowering it makes the server run its deadlock check that often), and over ``pg_locks``,
which shows who waits now but not for how long: the share of samples in a state, times
the run's length, estimates the time spent in it, however short each wait.

The database, the daemons and the SMTP client share the machine's cores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from bench.daemon import Daemon
from bench.mix import Spec, Spool, plan
from bench.sender import SmtpLoad
from bench.verify import Check, check, check_connection, summary
from tests.servers.postgres import Postgres

SAMPLE_SECONDS = 0.02


@dataclass
class Run:
    case: str
    round: int
    n: int
    seconds: float  # first MAIL to last 250
    acks_seconds: float
    peak_rss_kb: list[int]  # per daemon
    daemon_cpu: float  # all daemons, first send to last ack
    server_cpu: float  # the PostgreSQL cluster's processes, same span
    waits: Counter[str] = field(default_factory=Counter)  # session-seconds per state
    check: Check = field(default_factory=Check)
    failures: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.n / self.seconds if self.seconds > 0 else 0.0

    @property
    def ok(self) -> bool:
        return self.check.ok and not self.failures

    def line(self) -> str:
        rss = ", ".join(f"{kb / 1024:.1f}" for kb in self.peak_rss_kb)
        waits = ", ".join(f"{k} {v:.2f}" for k, v in sorted(self.waits.items())) or "-"
        verdict = (
            summary(self.check) if not self.failures else "FAILED: " + "; ".join(self.failures)
        )
        return (
            f"{self.case}: {self.n} messages in {self.seconds:.2f} s = {self.rate:.0f} msg/s"
            f" to last commit; acks after {self.acks_seconds:.2f} s; peak RSS {rss} MiB;"
            f" CPU daemons {self.daemon_cpu:.1f} s, PostgreSQL {self.server_cpu:.1f} s;"
            f" sessions (s): {waits}; {verdict}"
        )


class Sampler:
    """Samples what the daemons' database sessions are doing (see the module docstring)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.samples: Counter[str] = Counter()
        self.rounds = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def seconds(self, span: float) -> Counter[str]:
        """Session-seconds per state over ``span`` seconds of wall time."""
        if not self.rounds:
            return Counter()
        return Counter({k: v * span / self.rounds for k, v in self.samples.items()})

    def _run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self._stop.wait(SAMPLE_SECONDS):
                rows = conn.execute(
                    "SELECT state, wait_event_type, wait_event FROM pg_stat_activity"
                    " WHERE datname = current_database() AND application_name = 'maildesk'"
                ).fetchall()
                self.rounds += 1
                for state, kind, event in rows:
                    if state == "idle in transaction" or kind == "Client":
                        self.samples["client"] += 1  # the server waits for the daemon
                    elif state == "active":
                        label = f"{kind}:{event}" if kind in ("IO", "LWLock") else kind or "CPU"
                        self.samples[label] += 1


def cluster_cpu(server: Postgres | None) -> float:
    """CPU seconds used so far by ``server``: the postmaster, its children, and the
    children it has reaped (each backend is its own process group, so the group alone
    would miss them)."""
    if server is None:
        return 0.0
    leader = (server.data / "postmaster.pid").read_text().split()[0]
    ticks = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = Path(entry.path, "stat").read_text().rpartition(")")[2].split()
        except OSError:  # gone meanwhile
            continue
        if entry.name == leader:
            ticks += sum(int(f) for f in fields[11:15])  # its own time and its reaped children's
        elif fields[1] == leader:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def on_database(daemon: Daemon, url: str, node: str) -> None:
    text = daemon.config.read_text(encoding="utf-8")
    general = f'[maildesk]\ndatabase = "{url}"\nnode = "{node}"\n'
    daemon.config.write_text(text.replace("[maildesk]\n", general, 1), encoding="utf-8")


def run_case(
    case: str,
    round_: int,
    folder: Path,
    spool: Spool,
    specs: Sequence[Spec],
    connections: int,
    server: Postgres | None,
    daemons: int,
    *,
    database: str,
    tree: str | None = None,
) -> Run:
    url = server.create_database(database) if server is not None else ""
    started: list[Daemon] = []
    sampler = Sampler(url) if url else None
    new = sum(1 for s in specs if s.kind == "new")
    try:
        for i in range(daemons):
            daemon = Daemon(folder / f"{database}-{i}", env={"PYTHONPATH": tree} if tree else None)
            if url:
                on_database(daemon, url, f"node{i}")
            daemon.start()  # one after the other: the first migrates the database
            started.append(daemon)
        if sampler is not None:
            sampler.start()
        cpu_before = sum(d.cpu_seconds() for d in started)
        server_before = cluster_cpu(server)
        sent = SmtpLoad([d.port for d in started], spool, connections).run()
        deadline = time.monotonic() + 60 + len(specs) / 50
        while not sent.failures and time.monotonic() < deadline:
            if sum(d.acks_written() for d in started) >= new or not all(d.alive() for d in started):
                break
            time.sleep(0.005)
        acks_at = time.monotonic()
        result = Run(
            case=case,
            round=round_,
            n=len(specs),
            seconds=sent.seconds,
            acks_seconds=acks_at - sent.started,
            peak_rss_kb=[d.status_kb("VmHWM") for d in started],
            daemon_cpu=sum(d.cpu_seconds() for d in started) - cpu_before,
            server_cpu=cluster_cpu(server) - server_before,
            failures=list(sent.failures),
        )
        if sampler is not None:
            sampler.stop()
            result.waits = sampler.seconds(sent.seconds)
            sampler = None
    finally:
        if sampler is not None:
            sampler.stop()
        codes = [d.stop() for d in started]
    result.failures += [f"daemon exit code {c}" for c in codes if c]
    if url:
        with psycopg.connect(url, autocommit=True) as conn:
            result.check = check_connection(conn, specs)
    else:
        result.check = check(started[0].database, specs)
    if not result.ok:
        for daemon in started:
            print(daemon.log_tail(10), file=sys.stderr)
    return result


def ratios(runs: list[Run], top: str, bottom: str) -> str:
    """The ratio of two cases' rates in each round (the same minutes), and their median."""
    by_round: dict[int, dict[str, float]] = {}
    for run in runs:
        by_round.setdefault(run.round, {})[run.case] = run.rate
    values = [r[top] / r[bottom] for r in by_round.values() if top in r and bottom in r]
    if not values:
        return ""
    spread = ", ".join(f"x{v:.2f}" for v in values)
    return f"{top} / {bottom}: median x{statistics.median(values):.2f} ({spread})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000, help="messages per run (default 3000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every case")
    parser.add_argument("--connections", type=int, default=8, help="concurrent SMTP sessions")
    parser.add_argument("--seed", type=int, default=1, help="seed of the message mix")
    parser.add_argument(
        "--fsync-off", action="store_true", help="also a cluster without fsync (a ceiling)"
    )
    parser.add_argument(
        "--before", type=Path, help="also run the PostgreSQL cases with the code in this folder"
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="maildesk-bench-"))
    servers: list[Postgres] = []
    runs: list[Run] = []
    try:
        durable = Postgres(folder / "pg", durable=True)
        durable.start()
        servers.append(durable)
        cases: list[tuple[str, Postgres | None, int, str | None]] = [
            ("sqlite", None, 1, None),
            ("pg", durable, 1, None),
            ("pg x2", durable, 2, None),
        ]
        if args.fsync_off:
            fast = Postgres(folder / "pg-nofsync", durable=False)
            fast.start()
            servers.append(fast)
            cases += [("pg fsync off", fast, 1, None), ("pg fsync off x2", fast, 2, None)]
        if args.before:
            before = str(args.before.resolve())
            cases += [(f"{c} (before)", s, d, before) for c, s, d, _ in cases if s is not None]
        specs = plan(args.n, args.seed)
        spool = Spool(folder, specs)
        for round_ in range(args.rounds):
            turn = round_ % len(cases)  # each case takes each place in turn
            for number, (case, server, daemons, tree) in enumerate(cases[turn:] + cases[:turn]):
                run = run_case(
                    case,
                    round_,
                    folder,
                    spool,
                    specs,
                    args.connections,
                    server,
                    daemons,
                    database=f"r{round_}n{number}",
                    tree=tree,
                )
                print(f"round {round_ + 1}: {run.line()}", flush=True)
                runs.append(run)
        spool.close()
    finally:
        for server in servers:
            server.close()
        shutil.rmtree(folder, ignore_errors=True)
    for top, bottom in (
        ("sqlite", "pg"),
        ("pg x2", "pg"),
        ("sqlite", "pg fsync off"),
        ("pg fsync off x2", "pg fsync off"),
        ("pg", "pg (before)"),
        ("pg x2", "pg x2 (before)"),
        ("pg fsync off", "pg fsync off (before)"),
        ("sqlite", "pg (before)"),
    ):
        line = ratios(runs, top, bottom)
        if line:
            print(line)
    sys.exit(0 if all(r.ok for r in runs) else 1)


if __name__ == "__main__":
    main()
