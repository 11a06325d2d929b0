"""The ingest pipeline alone, in one thread: what the single writer can do per second.

    .venv/bin/python -m bench.pipeline_floor [--n 3000] [--group 8]

No SMTP, no event loop, no outbox sender: ``Pipeline.accept`` over the mix (bench/mix.py,
in order, follow-ups with predicted ticket numbers) against a store in a temp folder,
three ways, each on a fresh store:

- ``per-message``: one transaction and one fsync per message, as the daemon does today;
- ``grouped``: ``--group`` messages per transaction (the pipeline's own transactions nest
  inside an outer one), the most group commit can give at that group size;
- ``no-fsync``: per-message transactions with ``PRAGMA synchronous=OFF``, the ceiling
  without durability (not an option for the daemon: it answers 250 after the commit).

The gaps between the lines are what the commit strategy costs; the ``no-fsync`` line
is what parsing, threading and composing cost.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.mix import Spool, plan, predicted_tickets, queues_toml
from maildesk.clock import SystemClock
from maildesk.config import load
from maildesk.config.secret import load_secret
from maildesk.desk import Desk
from maildesk.ingest.envelope import Envelope, Stored
from maildesk.ingest.pipeline import Pipeline
from maildesk.store.store import Store
from maildesk.templates import Templates


def run(folder: Path, raws: list[tuple[bytes, str, str]], group: int, fsync: bool) -> float:
    """Messages per second through ``Pipeline.accept`` on a fresh store in ``folder``."""
    folder.mkdir()
    config_path = folder / "config.toml"
    config_path.write_text(
        f'[maildesk]\norganization = "Universidad de Prueba"\n\n{queues_toml()}', encoding="utf-8"
    )
    config = load(config_path, cwd=folder)
    store = Store(config.database)
    if not fsync:
        store.conn.execute("PRAGMA synchronous=OFF")
    templates = Templates(config.templates_dir, config.language)
    desk = Desk(config, store, templates, load_secret(config, create=True))
    pipeline = Pipeline(desk, SystemClock())
    started = time.perf_counter()
    for first in range(0, len(raws), group):
        with store.transaction():
            for raw, sender, recipient in raws[first : first + group]:
                outcome = pipeline.accept(raw, Envelope(sender, [recipient], "smtp"))
                if not isinstance(outcome, Stored):
                    raise RuntimeError(f"not stored: {outcome}")
    seconds = time.perf_counter() - started
    store.close()
    return len(raws) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000, help="messages (default 3000)")
    parser.add_argument("--group", type=int, default=8, help="messages per grouped commit")
    parser.add_argument("--seed", type=int, default=1, help="seed of the message mix")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="maildesk-bench-"))
    try:
        specs = plan(args.n, args.seed)
        spool = Spool(folder, specs)
        tickets = predicted_tickets(specs)
        raws = [(spool.raw(s.index, tickets[s.index]), s.sender, s.queue.address) for s in specs]
        spool.close()
        rates = {
            "per-message": run(folder / "a", raws, 1, fsync=True),
            f"grouped by {args.group}": run(folder / "b", raws, args.group, fsync=True),
            "no-fsync": run(folder / "c", raws, 1, fsync=False),
        }
    except RuntimeError as exc:
        print(f"pipeline-floor: FAILED: {exc}")
        sys.exit(1)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(
        f"pipeline-floor: {args.n} messages through Pipeline.accept in one thread: "
        + "; ".join(f"{label} {rate:.0f} msg/s" for label, rate in rates.items())
    )


if __name__ == "__main__":
    main()
