"""The outbox sender's rate through an SMTP relay on loopback, this tree against another.

    .venv/bin/python -m bench.outbox_rate [--n 2000] [--rounds 3] [--before DIR]

A store is filled with ``--n`` acknowledgements, pending, by the pipeline in this process
(no daemon runs, nothing is sent). Then ``maildesk run`` starts with the relay pointing
at an aiosmtpd sink in this process, and the clock runs from the first message the sink
receives to the last. ``--before DIR`` names a folder holding another version's
``maildesk`` package (e.g. ``git archive REV maildesk | tar -x -C DIR``): each round then
measures it and this tree in turn, so that the ratio compares runs of the same minutes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parent.parent


class _Sink:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.times: list[float] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.times.append(time.monotonic())
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def prefill(folder: Path, n: int) -> None:
    """Run in a subprocess, with the version under test first on the path."""
    from datetime import UTC, datetime  # here: the version PYTHONPATH chose

    from maildesk.clock import FakeClock
    from maildesk.config import load
    from maildesk.desk import Desk
    from maildesk.ingest.envelope import Envelope
    from maildesk.ingest.pipeline import Pipeline
    from maildesk.store.store import Store
    from maildesk.templates import Templates

    config = load(folder / "config.toml", cwd=folder)
    store = Store(config.database)
    desk = Desk(config, store, Templates(None, "es"), b"bench-secret-0123456789abcdef")
    pipeline = Pipeline(desk, FakeClock(datetime(2026, 11, 20, 14, tzinfo=UTC)))
    with store.transaction():
        for i in range(n):
            raw = (
                f"From: p{i}@example.com\r\nTo: info@uni.example\r\nSubject: Caso {i}\r\n"
                f"Message-ID: <rate{i}@example.com>\r\n\r\nHola {i}\r\n"
            ).encode()
            pipeline.accept(raw, Envelope(f"p{i}@example.com", ["info@uni.example"], "smtp"))
    store.close()


def one_run(tree: Path | None, n: int) -> float:
    """Seconds from the first delivery to the last, for the ``maildesk`` in ``tree``."""
    folder = Path(tempfile.mkdtemp(prefix="outbox-rate-"))
    sink = _Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=_free_port())
    controller.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILDESK_")}
    env["PYTHONPATH"] = os.pathsep.join([*([str(tree)] if tree else []), str(ROOT)])
    (folder / "config.toml").write_text(
        f"[listener]\nport = {_free_port()}\n\n[http]\nenabled = false\n\n"
        f'[outgoing]\ntransport = "smtp"\nhost = "127.0.0.1"\nport = {controller.port}\n'
        'tls = "none"\n\n[limits]\nauto_replies_per_hour = 1000\n',
        encoding="utf-8",
    )
    try:
        subprocess.run(
            [sys.executable, "-m", "bench.outbox_rate", "--prefill", str(folder), str(n)],
            env=env,
            check=True,
            cwd=folder,
        )
        with (folder / "daemon.log").open("ab") as log:
            daemon = subprocess.Popen(
                [sys.executable, "-m", "maildesk", "--config", "config.toml", "run"],
                env=env,
                cwd=folder,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 600
        while len(sink.times) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        daemon.terminate()
        daemon.wait(60)
        if len(sink.times) < n:
            raise SystemExit(f"only {len(sink.times)} of {n} delivered; see {folder}")
        return sink.times[-1] - sink.times[0]
    finally:
        controller.stop()
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", type=Path, help="a folder holding another maildesk")
    parser.add_argument("--prefill", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prefill:
        prefill(Path(args.prefill[0]), int(args.prefill[1]))
        return
    ratios = []
    for r in range(args.rounds):
        before = one_run(args.before, args.n) if args.before else None
        after = one_run(None, args.n)
        line = f"round {r + 1}: this tree {args.n / after:,.0f} msg/s ({after:.2f} s)"
        if before is not None:
            ratios.append(before / after)
            line += f"; before {args.n / before:,.0f} msg/s ({before:.2f} s); x{before / after:.2f}"
        print(line, flush=True)
    if ratios:
        print(f"median ratio (this tree / before, in rate): x{statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
