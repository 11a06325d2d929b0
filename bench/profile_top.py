"""Summarise a py-spy "raw" profile (collapsed stacks) as its top functions.

    .venv/bin/python -m bench.profile_top out.txt [--top 25] [--thread maildesk-writer]

``bench.smtp_ingest --profile out.txt`` records the daemon with py-spy. This prints, per
function (file and name, lines merged), the share of samples spent anywhere below it
(inclusive) and in it (self), one line each, biggest first, after a line per thread.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<name>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def _function(frame: str) -> str:
    match = _FRAME.match(frame)
    if match is None:
        return frame
    return f"{match['name']} ({match['file']})"


def summarise(
    path: Path, thread_filter: str = ""
) -> tuple[int, Counter[str], Counter[str], Counter[str]]:
    total = 0
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = stack.split(";")
        thread = frames[0]
        if thread_filter not in thread:
            continue
        count = int(count_text)
        total += count
        threads[thread] += count
        functions = [_function(f) for f in frames[1:]]
        for function in set(functions):
            inclusive[function] += count
        if functions:
            own[functions[-1]] += count
    return total, threads, inclusive, own


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path, help="py-spy record --format raw output")
    parser.add_argument("--top", type=int, default=25, help="functions to list (default 25)")
    parser.add_argument("--thread", default="", help="only threads whose label contains this")
    parser.add_argument("--self", dest="by_self", action="store_true", help="sort by self time")
    args = parser.parse_args()
    total, threads, inclusive, own = summarise(args.profile, args.thread)
    if not total:
        parser.error(f"no samples in {args.profile}")
    for thread, count in threads.most_common():
        print(f"thread {100 * count / total:5.1f}%  {thread}")
    ranking = own if args.by_self else inclusive
    for function, _ in ranking.most_common(args.top):
        print(
            f"{100 * inclusive[function] / total:5.1f}% incl {100 * own[function] / total:5.1f}%"
            f" self  {function}"
        )


if __name__ == "__main__":
    main()
