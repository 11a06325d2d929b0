"""Every message of ../shared/corpus/ goes through the real pipeline without an unhandled error.

The test also prints, per corpus category, what the pipeline made of the messages:
tickets opened, messages threaded, machine mail recorded, quarantined.
"""

from __future__ import annotations

import collections
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from maildesk.clock import FakeClock
from maildesk.config import parse
from maildesk.ingest.envelope import Duplicate, Envelope, Quarantined, Stored
from maildesk.store.store import Store
from tests.support.corpus import CORPUS
from tests.support.desk import build_pipeline

pytestmark = pytest.mark.corpus

COLUMNS = ("open", "append", "record", "duplicate", "quarantined", "answered")
MACHINE = {"bounce", "autoreply"}


def corpus_index() -> list[tuple[str, str]]:
    index = CORPUS / "index.tsv"
    rows = [line.split("\t") for line in index.read_text(encoding="utf-8").splitlines() if line]
    return [(row[0], row[3]) for row in rows]


def report(outcomes: dict[str, collections.Counter[str]], kinds: collections.Counter[str]) -> str:
    lines = ["", "corpus category   " + " ".join(f"{c:>11}" for c in COLUMNS)]
    for category, counts in sorted(outcomes.items()):
        lines.append(f"{category:<17} " + " ".join(f"{counts[c]:>11}" for c in COLUMNS))
    lines.append("classified as: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    return "\n".join(lines) + "\n"


def test_every_corpus_message_is_stored_or_quarantined_with_a_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = parse("", path=None, base_dir=tmp_path)
    store = Store(config.database)
    pipeline = build_pipeline(config, store, FakeClock(datetime(2026, 11, 20, tzinfo=UTC)))
    outcomes: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    answered_machines = []
    try:
        entries = corpus_index()
        assert len(entries) >= 300
        for path, category in entries:
            raw = (CORPUS / path).read_bytes()
            try:
                outcome = pipeline.accept(raw, Envelope(None, ["info@uni.example"], "corpus"))
            except Exception as exc:  # the point of the test: report which file, then fail
                pytest.fail(f"{path}: {type(exc).__name__}: {exc}")
            if isinstance(outcome, Stored):
                outcomes[category][outcome.action.value] += 1
                outcomes[category]["answered"] += outcome.acknowledged
                if category in MACHINE and outcome.acknowledged:
                    answered_machines.append(path)
            elif isinstance(outcome, Duplicate):
                outcomes[category]["duplicate"] += 1
            else:
                assert isinstance(outcome, Quarantined)
                assert outcome.reason
                outcomes[category]["quarantined"] += 1
        kinds = collections.Counter(
            row[0] for row in store.conn.execute("SELECT kind FROM messages WHERE direction = 'in'")
        )
        with capsys.disabled():
            sys.stdout.write(report(outcomes, kinds))
        quarantined = sum(c["quarantined"] for c in outcomes.values())
        assert quarantined <= 5, report(outcomes, kinds)
        assert not answered_machines, f"robots answered: {answered_machines}"
        assert outcomes["plain"]["open"] > 0
        assert outcomes["reply"]["open"] + outcomes["reply"]["append"] > 0
        nameless = store.conn.execute(
            "SELECT count(*) FROM messages WHERE direction = 'in' AND kind = 'human'"
            " AND from_addr NOT LIKE '%_@_%'"
        ).fetchone()[0]
        assert nameless == 0  # every message a person wrote has a sender to answer
    finally:
        store.close()
