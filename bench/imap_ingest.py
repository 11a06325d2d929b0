"""Figure 6: IMAP ingest throughput, and latency over IMAP IDLE.

    .venv/bin/python -m bench.imap_ingest [--n 5000] [--latency-n 200] [--interval 0.5]

Starts a private Dovecot (tests/servers/dovecot.py: own config, loopback port, Maildir
under a temp folder), APPENDs the mix (bench/mix.py, every message to the info queue,
since one account feeds one queue) to INBOX, then starts ``maildesk run`` with one
``[[imap]]`` account (IDLE on, processed mail moved to "Processed") and times from the
daemon being up to the last message committed; then to the last acknowledgement in the
outbox folder. Follow-ups carry the ticket numbers a fresh store gives when messages
are taken in UID order. The store is checked as in figure 1, and the server too: INBOX
empty, every message in Processed.

Then, with the daemon idle in IDLE, ``--latency-n`` new requests are APPENDed one at a
time, ``--interval`` seconds apart: time from APPEND's reply to the acknowledgement's
.eml in the outbox folder, p50 and p99.

Needs the IMAP adapter (maildesk/ingest/imap.py) and the Debian package dovecot-imapd.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from bench.daemon import Daemon
from bench.mix import QUEUES, Spec, Spool, plan, predicted_tickets
from bench.smtp_latency import percentile
from bench.verify import check, summary
from tests.servers.dovecot import Dovecot

_USER = "info"
_PASSWORD = "bench-secret"  # noqa: S105 - a throwaway account on a private loopback server


def imap_config(server: Dovecot, batch_size: int, user: str = _USER) -> str:
    """An [[imap]] account feeding the info queue from ``user``'s INBOX."""
    return (
        f'[[imap]]\nname = "info"\nhost = "127.0.0.1"\nport = {server.port}\ntls = "none"\n'
        f'username = "{user}"\npassword_env = "BENCH_IMAP_PASSWORD"\nfolder = "INBOX"\n'
        'processed_folder = "Processed"\nquarantine_folder = "Quarantine"\nqueue = "info"\n'
        f"idle = true\npoll_seconds = 60\nbatch_size = {batch_size}\n\n"
    )


def append_all(server: Dovecot, user: str, raws: Iterable[bytes]) -> float:
    """APPEND every message to ``user``'s INBOX over one connection; messages per second."""
    started = time.monotonic()
    count = 0
    with server.client(user, timeout=60) as imap:
        for raw in raws:
            imap.append("INBOX", raw)
            count += 1
    return count / (time.monotonic() - started)


def wait_stored(daemon: Daemon, count: int, timeout: float) -> int:
    """Poll the store until ``count`` inbound messages are in; how many there are."""
    deadline = time.monotonic() + timeout
    while (stored := stored_count(daemon.database)) < count:
        if time.monotonic() > deadline or not daemon.alive():
            break
        time.sleep(0.01)
    return stored


def stored_count(database: Path) -> int:
    if not database.exists():
        return 0
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    try:
        row = conn.execute("SELECT count(*) FROM messages WHERE direction = 'in'").fetchone()
        return int(row[0])
    except sqlite3.OperationalError:  # the daemon is still creating the schema
        return 0
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="messages (default 5000)")
    parser.add_argument("--latency-n", type=int, default=200, help="IDLE latency messages")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between them")
    parser.add_argument("--batch-size", type=int, default=200, help="[[imap]] batch_size")
    parser.add_argument("--seed", type=int, default=1, help="seed of the message mix")
    args = parser.parse_args()
    if importlib.util.find_spec("maildesk.ingest.imap") is None:
        print("imap-ingest: not run: this maildesk has no IMAP adapter (maildesk/ingest/imap.py)")
        sys.exit(2)
    folder = Path(tempfile.mkdtemp(prefix="maildesk-bench-"))
    server = Dovecot(folder / "dovecot")
    try:
        server.add_user(_USER, _PASSWORD)
        server.start()
        ok = _run(args, folder, server)
    finally:
        server.close()
        shutil.rmtree(folder, ignore_errors=True)
    sys.exit(0 if ok else 1)


def _run(args: argparse.Namespace, folder: Path, server: Dovecot) -> bool:
    bulk = [replace(s, queue=QUEUES[0]) for s in plan(args.n, args.seed)]
    fresh = [s for s in plan(args.latency_n * 2 + 100, args.seed + 100) if s.kind == "new"]
    late = [
        replace(s, index=args.n + i, queue=QUEUES[0]) for i, s in enumerate(fresh[: args.latency_n])
    ]
    specs: list[Spec] = bulk + late
    spool = Spool(folder, specs)
    tickets = predicted_tickets(bulk)
    append_rate = append_all(server, _USER, (spool.raw(s.index, tickets[s.index]) for s in bulk))
    daemon = Daemon(
        folder / "daemon",
        imap_config(server, args.batch_size),
        env={"BENCH_IMAP_PASSWORD": _PASSWORD},
    )
    failures: list[str] = []
    latencies: list[float] = []
    daemon.start()
    try:
        deadline = time.monotonic() + 120 + args.n / 20
        count = wait_stored(daemon, len(bulk), deadline - time.monotonic())
        committed = time.monotonic()
        if count < len(bulk):
            failures.append(f"only {count} of {len(bulk)} messages stored")
        new = sum(1 for s in bulk if s.kind == "new")
        while not failures and daemon.acks_written() < new and time.monotonic() < deadline:
            time.sleep(0.005)
        acked = time.monotonic()
        with server.client(_USER, timeout=60) as imap:
            for spec in late if not failures else []:
                time.sleep(args.interval)
                before = daemon.acks_written()
                imap.append("INBOX", spool.raw(spec.index))
                appended = time.monotonic()
                while daemon.acks_written() == before:
                    if time.monotonic() - appended > 30:
                        failures.append(f"no acknowledgement 30 s after APPEND {spec.index}")
                        break
                    time.sleep(0.0005)
                latencies.append(time.monotonic() - appended)
                if failures:
                    break
            time.sleep(1.0)  # the last move after commit
            left = imap.select_folder("INBOX", readonly=True)[b"EXISTS"]
            moved = imap.select_folder("Processed", readonly=True)[b"EXISTS"]
        peak = daemon.status_kb("VmHWM")
    finally:
        code = daemon.stop()
    spool.close()
    result = check(daemon.database, specs)
    if left or moved != len(specs):
        failures.append(f"{left} message(s) left in INBOX, {moved} in Processed")
    if code:
        failures.append(f"daemon exit code {code}")
    if failures or not result.ok:
        print(daemon.log_tail(10), file=sys.stderr)
    verdict = f"FAILED: {'; '.join(failures)}" if failures else summary(result)
    seconds = committed - daemon.started_at
    print(
        f"imap-ingest: {len(bulk)} messages APPENDed at {append_rate:.0f} msg/s, then taken in"
        f" {seconds:.2f} s = {len(bulk) / seconds:.0f} msg/s from daemon start to last commit;"
        f" all acks in the outbox folder after {acked - daemon.started_at:.2f} s;"
        f" daemon peak RSS {peak / 1024:.1f} MiB; {verdict}"
    )
    if latencies:
        ms = 1000.0
        print(
            f"imap-idle-latency: {len(latencies)} messages {args.interval:g} s apart; APPEND"
            f" to acknowledgement in the outbox folder p50 {percentile(latencies, 0.5) * ms:.0f}"
            f" ms, p99 {percentile(latencies, 0.99) * ms:.0f} ms, max {max(latencies) * ms:.0f}"
            f" ms; {verdict}"
        )
    return not failures and result.ok


if __name__ == "__main__":
    main()
