"""Figure 2: latency over SMTP, from the end of DATA to the acknowledgement in the outbox.

    .venv/bin/python -m bench.smtp_latency [--n 200] [--interval 0.25]

The daemon is idle between messages: new requests of the mix (bench/mix.py), one at a
time over one connection, ``--interval`` seconds apart. For each, the clock starts when
smtplib returns from DATA (the 250, sent after the commit) and stops when the
acknowledgement's .eml file appears in the outbox folder (polled with scandir). The 250
itself (MAIL to the end of DATA) is reported too.
"""

from __future__ import annotations

import argparse
import shutil
import smtplib
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from bench.daemon import Daemon
from bench.mix import Spool, plan
from bench.verify import check, summary

_POLL = 0.0002  # seconds between scans of the outbox folder
_GIVE_UP = 30.0  # an acknowledgement later than this counts as lost


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (``share`` in 0..1) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, round(share * len(ordered) + 0.5 - 1e-9))
    return ordered[min(len(ordered), rank) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="messages (default 200)")
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between messages")
    parser.add_argument("--seed", type=int, default=2, help="seed of the message mix")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="maildesk-bench-"))
    failures: list[str] = []
    to_ack: list[float] = []
    to_250: list[float] = []
    try:
        # Only new requests are acknowledged; take the first n of a longer mix.
        specs = [s for s in plan(args.n * 2 + 100, args.seed) if s.kind == "new"][: args.n]
        specs = [replace(s, index=i) for i, s in enumerate(specs)]
        spool = Spool(folder, specs)
        with (
            Daemon(folder / "daemon") as daemon,
            smtplib.SMTP("127.0.0.1", daemon.port, timeout=60) as client,
        ):
            client.ehlo()
            for index, spec in enumerate(specs):
                time.sleep(args.interval)
                raw = spool.raw(index)
                before = daemon.acks_written()
                started = time.monotonic()
                client.mail(spec.sender)
                client.rcpt(spec.queue.address)
                code, reply = client.data(raw)
                answered = time.monotonic()
                if code != 250:
                    failures.append(f"message {index}: {code} {reply!r}")
                    break
                while daemon.acks_written() == before:
                    if time.monotonic() - answered > _GIVE_UP:
                        failures.append(f"no acknowledgement for message {index} in {_GIVE_UP} s")
                        break
                    time.sleep(_POLL)
                to_ack.append(time.monotonic() - answered)
                to_250.append(answered - started)
                if failures:
                    break
            client.quit()
        spool.close()
        result = check(daemon.database, specs)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if not to_ack:
        print(f"smtp-latency: FAILED: {'; '.join(failures) or 'nothing measured'}")
        sys.exit(1)
    verdict = f"FAILED: {'; '.join(failures)}" if failures else summary(result)
    ms = 1000.0
    print(
        f"smtp-latency: {len(to_ack)} messages {args.interval:g} s apart; end of DATA to"
        f" acknowledgement in the outbox folder p50 {percentile(to_ack, 0.5) * ms:.1f} ms,"
        f" p99 {percentile(to_ack, 0.99) * ms:.1f} ms, max {max(to_ack) * ms:.1f} ms;"
        f" MAIL to 250 after DATA p50 {statistics.median(to_250) * ms:.1f} ms,"
        f" p99 {percentile(to_250, 0.99) * ms:.1f} ms; {verdict}"
    )
    sys.exit(1 if failures or not result.ok else 0)


if __name__ == "__main__":
    main()
