"""Figure 4: the parse floor, and SMTP ingest as a ratio to it.

    .venv/bin/python -m bench.parse_floor [--n 5000] [--ingest-rate 127]

Parses the same mix as figure 1 (same ``--seed``) in one process, timing only the
parsing: ``mailparser.parse_from_bytes`` alone, then maildesk's own ``parse`` (mail-parser
without its header diagnostics, with a faster boundary matcher in the email package, plus
header decoding and HTML to text), in messages per second. maildesk's parse is now the
faster of the two; ingest can approach it, never pass it. Then runs figure 1 with the
same messages (or takes its rate from ``--ingest-rate``) and prints ingest as a share of
both.
"""

from __future__ import annotations

import argparse
import gc
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from email import feedparser
from pathlib import Path

import mailparser

from bench.mix import Spool, plan, predicted_tickets
from bench.smtp_ingest import ingest
from maildesk.mail.parse import parse


def rate(raws: list[bytes], function: Callable[[bytes], object], rounds: int) -> float:
    """Best of ``rounds`` passes over ``raws``, in messages per second."""
    best = float("inf")
    for _ in range(rounds):
        gc.collect()
        started = time.perf_counter()
        for raw in raws:
            function(raw)
        best = min(best, time.perf_counter() - started)
    return len(raws) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="messages (default 5000)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the message mix")
    parser.add_argument("--rounds", type=int, default=3, help="passes; the best one counts")
    parser.add_argument("--connections", type=int, default=8, help="for the ingest run")
    parser.add_argument(
        "--ingest-rate", type=float, help="SMTP ingest msg/s from figure 1 instead of a new run"
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="maildesk-bench-"))
    try:
        specs = plan(args.n, args.seed)
        spool = Spool(folder, specs)
        tickets = predicted_tickets(specs)
        raws = [spool.raw(i, tickets[i]) for i in range(len(specs))]
        spool.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    # The floor is mail-parser on the email package as it ships: without the boundary
    # matcher maildesk's parse installs in the feed parser (maildesk/mail/boundaries.py).
    ours_re = vars(feedparser)["re"]
    vars(feedparser)["re"] = re
    floor = rate(raws, mailparser.parse_from_bytes, args.rounds)
    vars(feedparser)["re"] = ours_re
    ours = rate(raws, parse, args.rounds)
    print(
        f"parse-floor: {len(raws)} messages, best of {args.rounds}: mailparser.parse_from_bytes"
        f" {floor:.0f} msg/s; maildesk.mail.parse.parse {ours:.0f} msg/s"
    )
    ok = True
    if args.ingest_rate is not None:
        ingest_rate, source = args.ingest_rate, "given"
    else:
        result = ingest(args.n, connections=args.connections, seed=args.seed)
        ingest_rate, source, ok = result.rate, "measured now", result.ok
        print(result.line())
    print(
        f"ingest-vs-floor: SMTP ingest {ingest_rate:.0f} msg/s ({source}) is"
        f" {100 * ingest_rate / floor:.1f} % of the mail-parser floor and"
        f" {100 * ingest_rate / ours:.1f} % of maildesk's parse alone"
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
