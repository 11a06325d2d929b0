"""Figure 10: how often strip_reply leaves old history, and whether it ever loses new text.

    .venv/bin/python -m bench.quotes_history [--module PATH] [--show]

Runs ``strip_reply`` over every case of the unit tables (tests/mail/test_quotes*.py: one
table per client family and language, the precision table, the real replies of the
corpus) and compares each result with what its author wrote:

- *history left*: the result holds a line that is not in the new text;
- *new text lost*: a line of the new text is missing from the result (must be 0).

``--module PATH`` measures another quotes.py instead (for instance the previous one,
``git show REV:maildesk/mail/quotes.py > /tmp/quotes_old.py``), so that figures before and
after a change come from the same cases. Exits non-zero when new text is lost.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from collections import Counter
from collections.abc import Callable

from maildesk.mail.quotes import strip_reply
from tests.mail import (
    test_quotes,
    test_quotes_clients,
    test_quotes_forms,
    test_quotes_outlook,
    test_quotes_precision,
)

Strip = Callable[[str], str]


def cases() -> list[tuple[str, str, str]]:
    """Every (name, text, expected) of the tables, the corpus replies included."""
    found = [(f"basic/{n}", t, e) for n, t, e in test_quotes.CASES]
    found += [(f"outlook/{n}", t, e) for n, t, e in test_quotes_outlook.OUTLOOK]
    for tables in (test_quotes_clients.TABLES, test_quotes_forms.TABLES):
        for table, rows in tables.items():
            found += [(f"{table}/{n}", t, e) for n, t, e in rows]
    for name, text in test_quotes_precision.PRECISION:
        expected = "\n".join(line.rstrip() for line in text.split("\n")).strip("\n")
        found.append((f"precision/{name}", text, expected))
    if test_quotes.TALON.is_dir():
        for name, expected in sorted(test_quotes.CORPUS_EXPECTED.items()):
            text = test_quotes._plain_text(test_quotes.TALON / name)
            found.append((f"corpus/{name}", text, expected))
    return found


def _lines(text: str) -> Counter[str]:
    return Counter(" ".join(line.split()) for line in text.splitlines() if line.strip())


def judge(result: str, expected: str) -> tuple[bool, bool]:
    """(history left, new text lost) for one result."""
    got, wanted = _lines(result), _lines(expected)
    return bool(got - wanted), bool(wanted - got)


def load(path: str | None) -> Strip:
    if path is None:
        return strip_reply
    spec = importlib.util.spec_from_file_location("quotes_measured", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    function: Strip = module.strip_reply
    return function


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--module", help="a quotes.py to measure instead of maildesk's")
    parser.add_argument("--show", action="store_true", help="name every case that misses")
    args = parser.parse_args(argv)
    strip = load(args.module)

    all_cases = cases()
    left: list[str] = []
    lost: list[str] = []
    started = time.perf_counter()
    for name, text, expected in all_cases:
        history, missing = judge(strip(text), expected)
        if history:
            left.append(name)
        if missing:
            lost.append(name)
    elapsed = time.perf_counter() - started

    n = len(all_cases)
    print(f"cases: {n} ({args.module or 'maildesk.mail.quotes'})")
    print(f"history left: {len(left)} ({100 * len(left) / n:.1f} %)")
    print(f"new text lost: {len(lost)} ({100 * len(lost) / n:.1f} %)")
    print(f"time: {1e6 * elapsed / n:.0f} µs a reply")
    if args.show:
        for name in left:
            print(f"  history left: {name}")
        for name in lost:
            print(f"  new text lost: {name}")
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
