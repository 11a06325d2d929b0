"""Figure 3: the daemon's memory over a long SMTP ingest run, and whether it grows.

    .venv/bin/python -m bench.memory [--n 50000] [--sample 0.5]

Runs figure 1 (bench/smtp_ingest.py) with more messages while a thread samples the
daemon's resident memory (VmRSS) and the number of tickets every ``--sample`` seconds.
Prints the peak (VmHWM), the RSS when 10 %, 50 % and 100 % of the tickets existed, and
the least-squares slope of RSS over tickets in the second half of the run: "flat" when
it is under 1 MiB per 10,000 tickets, else "grows".
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import threading
import time

from bench.daemon import Daemon
from bench.smtp_ingest import ingest

FLAT_MIB_PER_10K = 1.0


class Sampler:
    def __init__(self, every: float) -> None:
        self.every = every
        self.samples: list[tuple[int, int]] = []  # (tickets, VmRSS KiB)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, daemon: Daemon) -> None:
        self._thread = threading.Thread(target=self._run, args=(daemon,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self, daemon: Daemon) -> None:
        conn = sqlite3.connect(f"file:{daemon.database}?mode=ro", uri=True, timeout=30)
        try:
            while not self._stop.wait(self.every) and daemon.alive():
                row = conn.execute("SELECT coalesce(max(number), 0) FROM tickets").fetchone()
                self.samples.append((int(row[0]), daemon.status_kb("VmRSS")))
        except (OSError, sqlite3.Error, RuntimeError):
            pass  # the daemon stopped between two samples
        finally:
            conn.close()


def slope_mib_per_10k(points: list[tuple[int, int]]) -> float:
    """Least-squares slope of RSS (KiB) over tickets, as MiB per 10,000 tickets."""
    if len(points) < 2:
        return 0.0
    xs = [float(x) for x, _ in points]
    ys = [float(y) for _, y in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    if var == 0:
        return 0.0
    cov = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    return cov / var * 10_000 / 1024


def rss_at(points: list[tuple[int, int]], tickets: float) -> float:
    """RSS in MiB of the first sample with at least ``tickets`` tickets."""
    for count, rss in points:
        if count >= tickets:
            return rss / 1024
    return points[-1][1] / 1024 if points else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000, help="messages (default 50000)")
    parser.add_argument("--connections", type=int, default=8, help="concurrent SMTP sessions")
    parser.add_argument("--sample", type=float, default=0.5, help="seconds between samples")
    parser.add_argument("--seed", type=int, default=3, help="seed of the message mix")
    args = parser.parse_args()
    sampler = Sampler(args.sample)
    started = time.monotonic()
    result = ingest(args.n, connections=args.connections, seed=args.seed, on_start=sampler.start)
    sampler.stop()
    points = sampler.samples
    final = points[-1][0] if points else 0
    half = [p for p in points if p[0] >= final / 2]
    slope = slope_mib_per_10k(half)
    verdict = "flat" if slope < FLAT_MIB_PER_10K else "grows"
    print(result.line("memory-ingest"))
    print(
        f"memory: {args.n} messages, {result.check.tickets} tickets in"
        f" {time.monotonic() - started:.0f} s; daemon peak RSS {result.peak_rss_kb / 1024:.1f}"
        f" MiB; RSS at 10/50/100 % of tickets {rss_at(points, final * 0.1):.1f} /"
        f" {rss_at(points, final * 0.5):.1f} / {rss_at(points, final):.1f} MiB; second-half"
        f" slope {slope:+.2f} MiB per 10,000 tickets ({len(half)} samples): {verdict}"
    )
    sys.exit(0 if result.ok and points else 1)


if __name__ == "__main__":
    main()
