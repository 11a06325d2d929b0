"""Figure 3: the daemon's memory over a long SMTP ingest run, and whether it grows.

    .venv/bin/python -m bench.memory [--n 50000] [--sample 0.5] [--trace DIR]

Runs figure 1 (bench/smtp_ingest.py) with more messages while a thread samples the
daemon's resident memory (VmRSS) and the number of tickets every ``--sample`` seconds.
Prints the peak (VmHWM), the RSS when 10 %, 50 % and 100 % of the tickets existed, and
the least-squares slope of RSS over tickets in the second half of the run: "flat" when
it is under 1 MiB per 10,000 tickets, else "grows". The same slope is printed for the
kinds of resident memory (anonymous: the heaps; file: mapped files such as the SQLite
WAL index; shared), which tells the Python heap from SQLite's mappings.

``--trace DIR`` runs the daemon under ``tracemalloc`` (a ``sitecustomize`` that only the
daemon's environment turns on; slower, so its rates are not figures) with a snapshot
every ``--trace-every`` seconds, and prints where Python memory grew between the
snapshot in the middle of the run and the last one.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import threading
import time
import tracemalloc
from pathlib import Path

from bench.daemon import Daemon
from bench.smtp_ingest import ingest

FLAT_MIB_PER_10K = 1.0
KINDS = ("VmRSS", "RssAnon", "RssFile", "RssShmem")

_SITECUSTOMIZE = """
import os, threading, time, tracemalloc

_folder = os.environ.get("BENCH_TRACEMALLOC_DIR")
if _folder:
    tracemalloc.start(12)

    def _snapshots(every=float(os.environ["BENCH_TRACEMALLOC_EVERY"])):
        number = 0
        while True:
            time.sleep(every)
            tracemalloc.take_snapshot().dump(os.path.join(_folder, f"snap-{number:04d}.tm"))
            number += 1

    threading.Thread(target=_snapshots, name="bench-tracemalloc", daemon=True).start()
"""


class Sampler:
    def __init__(self, every: float) -> None:
        self.every = every
        self.samples: list[tuple[int, int]] = []  # (tickets, VmRSS KiB)
        self.kinds: dict[str, list[tuple[int, int]]] = {kind: [] for kind in KINDS}
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
                tickets = int(row[0])
                for kind, points in self.kinds.items():
                    points.append((tickets, daemon.status_kb(kind)))
                self.samples.append(self.kinds["VmRSS"][-1])
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


def tracing(folder: Path, every: float) -> dict[str, str]:
    """The daemon's environment for ``--trace``: our sitecustomize first on its path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(_SITECUSTOMIZE, encoding="utf-8")
    path = os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH", "")]))
    return {
        "PYTHONPATH": path,
        "BENCH_TRACEMALLOC_DIR": str(folder),
        "BENCH_TRACEMALLOC_EVERY": str(every),
    }


def growth(folder: Path, top: int = 15) -> list[str]:
    """Where traced memory grew from the middle snapshot to the last, biggest first."""
    snapshots = sorted(folder.glob("snap-*.tm"))
    if len(snapshots) < 2:
        return [f"trace: {len(snapshots)} snapshot(s) in {folder}; too few to compare"]
    first = tracemalloc.Snapshot.load(str(snapshots[len(snapshots) // 2]))
    last = tracemalloc.Snapshot.load(str(snapshots[-1]))
    lines = [
        f"trace: {snapshots[len(snapshots) // 2].name} -> {snapshots[-1].name}: traced"
        f" {sum(s.size for s in first.statistics('filename')) / 1048576:.1f} ->"
        f" {sum(s.size for s in last.statistics('filename')) / 1048576:.1f} MiB"
    ]
    for stat in last.compare_to(first, "traceback")[:top]:
        lines.append(
            f"trace: {stat.size_diff / 1024:+.0f} KiB in {stat.count_diff:+d} blocks at"
            f" {stat.traceback.format(limit=3, most_recent_first=True)}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000, help="messages (default 50000)")
    parser.add_argument("--connections", type=int, default=8, help="concurrent SMTP sessions")
    parser.add_argument("--sample", type=float, default=0.5, help="seconds between samples")
    parser.add_argument("--seed", type=int, default=3, help="seed of the message mix")
    parser.add_argument("--trace", type=Path, help="tracemalloc snapshots of the daemon here")
    parser.add_argument("--trace-every", type=float, default=20.0, help="seconds between them")
    args = parser.parse_args()
    sampler = Sampler(args.sample)
    started = time.monotonic()
    env = tracing(args.trace, args.trace_every) if args.trace else None
    result = ingest(
        args.n, connections=args.connections, seed=args.seed, env=env, on_start=sampler.start
    )
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
    kinds = []
    for kind, kind_points in sampler.kinds.items():
        kind_half = [p for p in kind_points if p[0] >= final / 2]
        kinds.append(
            f"{kind} {rss_at(kind_points, final):.1f} MiB, {slope_mib_per_10k(kind_half):+.2f}"
        )
    print(f"memory: at the end, and second-half slope per 10,000 tickets: {'; '.join(kinds)}")
    if args.trace:
        for line in growth(args.trace):
            print(line)
    sys.exit(0 if result.ok and points else 1)


if __name__ == "__main__":
    main()
