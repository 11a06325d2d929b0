"""Figure 1: SMTP ingest throughput and the daemon's peak memory.

    .venv/bin/python -m bench.smtp_ingest [--n 5000] [--connections 8] [--profile out.txt [--gil]]

Renders the mix (bench/mix.py) before the clock starts, starts ``maildesk run`` in a temp
folder (free port, file outbox), sends every message over several concurrent SMTP
connections and measures from the first MAIL command to the last 250 reply. A 250 comes
only after the commit that holds the message, its ticket change and its acknowledgement's
outbox row, so that is "first send to last commit, acknowledgements queued". The time
until the last acknowledgement lands in the outbox folder is printed as well, then the
store is checked (nothing lost, nothing twice, every follow-up in its request's ticket).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.daemon import Daemon
from bench.mix import Spool, plan
from bench.sender import SmtpLoad
from bench.verify import Check, check, summary


@dataclass
class Ingest:
    n: int
    connections: int
    seconds: float  # first send to last commit
    acks_seconds: float  # first send to the last acknowledgement written to the outbox folder
    peak_rss_kb: int
    cpu_seconds: float  # the daemon's CPU time from the first send to the last ack written
    client_cpu_seconds: float  # this process's CPU time while sending (the SMTP client)
    mean_bytes: int
    check: Check
    failures: list[str]
    exit_code: int

    @property
    def rate(self) -> float:
        return self.n / self.seconds if self.seconds > 0 else 0.0

    @property
    def ok(self) -> bool:
        return self.check.ok and not self.failures and self.exit_code == 0

    def line(self, label: str = "smtp-ingest") -> str:
        problems = "; ".join(self.failures) or (
            f"daemon exit code {self.exit_code}" if self.exit_code else ""
        )
        verdict = summary(self.check) if not problems else f"FAILED: {problems}"
        return (
            f"{label}: {self.n} messages (mean {self.mean_bytes / 1024:.1f} KiB) over"
            f" {self.connections} connections in {self.seconds:.2f} s = {self.rate:.0f} msg/s"
            f" to last commit; {self.check.tickets} tickets, {self.check.acks_queued} acks queued;"
            f" all acks in the outbox folder after {self.acks_seconds:.2f} s;"
            f" daemon CPU {self.cpu_seconds:.1f} s ({self.cpu_seconds / max(1, self.n) * 1000:.2f}"
            f" ms a message); client CPU {self.client_cpu_seconds:.1f} s;"
            f" daemon peak RSS {self.peak_rss_kb / 1024:.1f} MiB; {verdict}"
        )


def ingest(
    n: int,
    *,
    connections: int = 8,
    seed: int = 1,
    keep: Path | None = None,
    profile: Path | None = None,
    gil: bool = False,
    env: dict[str, str] | None = None,
    on_start: Callable[[Daemon], None] | None = None,
    on_answer: Callable[[int], None] | None = None,
) -> Ingest:
    """Run the figure; ``on_start`` and ``on_answer`` let the memory figure sample."""
    folder = Path(tempfile.mkdtemp(prefix="maildesk-bench-"))
    try:
        specs = plan(n, seed)
        spool = Spool(folder, specs)
        new = sum(1 for s in specs if s.kind == "new")
        daemon = Daemon(folder / "daemon", env=env)
        daemon.start()
        spy = _py_spy(daemon.pid, profile, gil) if profile else None
        try:
            if on_start is not None:
                on_start(daemon)
            cpu_before = daemon.cpu_seconds()
            client_before = _own_cpu_seconds()
            sent = SmtpLoad(daemon.port, spool, connections, on_answer).run()
            client_cpu = _own_cpu_seconds() - client_before
            deadline = time.monotonic() + 60 + n / 50
            while not sent.failures and daemon.acks_written() < new and time.monotonic() < deadline:
                if not daemon.alive():
                    break
                time.sleep(0.005)
            acks_at = time.monotonic()
            cpu = daemon.cpu_seconds() - cpu_before
            peak = daemon.status_kb("VmHWM")
        finally:
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(timeout=60)
            code = daemon.stop()
        spool.close()
        result = Ingest(
            n=n,
            connections=connections,
            seconds=sent.seconds,
            acks_seconds=acks_at - sent.started,
            peak_rss_kb=peak,
            cpu_seconds=cpu,
            client_cpu_seconds=client_cpu,
            mean_bytes=spool.total_bytes // max(1, n),
            check=check(daemon.database, specs),
            failures=sent.failures,
            exit_code=code,
        )
        if not result.ok:
            print(daemon.log_tail(10), file=sys.stderr)
        return result
    finally:
        if keep is not None:
            shutil.copytree(folder, keep, dirs_exist_ok=True)
        shutil.rmtree(folder, ignore_errors=True)


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _py_spy(pid: int, output: Path, gil: bool = False) -> subprocess.Popen[bytes]:
    """py-spy recording the daemon as collapsed stacks (see bench/profile_top.py); with
    ``gil``, only the thread holding the GIL each time, so shares are of Python's one core."""
    binary = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    process = subprocess.Popen(
        [
            binary,
            "record",
            "--pid",
            str(pid),
            "--rate",
            "250",
            "--format",
            "raw",
            "--threads",
            "--output",
            str(output),
            *(["--gil"] if gil else []),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)  # py-spy attaches before the first message is sent
    return process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="messages to send (default 5000)")
    parser.add_argument("--connections", type=int, default=8, help="concurrent SMTP sessions")
    parser.add_argument("--seed", type=int, default=1, help="seed of the message mix")
    parser.add_argument("--keep", type=Path, help="copy the run's folder here before cleanup")
    parser.add_argument(
        "--profile", type=Path, help="record the daemon with py-spy into this file (raw)"
    )
    parser.add_argument(
        "--gil", action="store_true", help="with --profile: sample only the thread holding the GIL"
    )
    args = parser.parse_args()
    result = ingest(
        args.n,
        connections=args.connections,
        seed=args.seed,
        keep=args.keep,
        profile=args.profile,
        gil=args.gil,
    )
    print(result.line())
    sys.exit(0 if result.ok else 1)


if __name__ == "__main__":
    main()
