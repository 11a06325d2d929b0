"""What the daemon counts, and the Prometheus text format (version 0.0.4) it is read in.

Counters and the latency histogram live in memory and restart from zero with the
daemon, as Prometheus expects of counters. Figures that the store already knows
(tickets by state, the outbox) are read from it at each scrape instead of being kept
twice. The format is a few lines of text; writing it here costs less than a dependency.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

# Seconds from a message's arrival at the writer to its commit; most take milliseconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

Labels = tuple[tuple[str, str], ...]


def _escape(value: str) -> str:
    r"""A label value as the text format wants it.

    >>> _escape('imap:"info"\n')
    'imap:\\"info\\"\\n'
    """
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    """
    >>> _number(3.0), _number(0.25), _number(math.inf)
    ('3', '0.25', '+Inf')
    """
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def sample(name: str, labels: Labels, value: float) -> str:
    inside = ",".join(f'{key}="{_escape(val)}"' for key, val in labels)
    return f"{name}{{{inside}}} {_number(value)}" if inside else f"{name} {_number(value)}"


@dataclass(frozen=True)
class Family:
    """One metric: its name, type, help and samples ``(suffix, labels, value)``."""

    name: str
    kind: str  # counter | gauge | histogram
    help: str
    samples: Sequence[tuple[str, Labels, float]] = ()

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]
        lines += [
            sample(self.name + suffix, labels, value) for suffix, labels, value in self.samples
        ]
        return lines


def render(families: Iterable[Family]) -> str:
    return "\n".join(line for family in families for line in family.render()) + "\n"


@dataclass
class Histogram:
    buckets: Sequence[float] = LATENCY_BUCKETS
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * len(self.buckets)

    def observe(self, value: float) -> None:
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[i] += 1
        self.total += value
        self.count += 1

    def samples(self, labels: Labels) -> list[tuple[str, Labels, float]]:
        found: list[tuple[str, Labels, float]] = [
            ("_bucket", (*labels, ("le", _number(bound))), n)
            for bound, n in zip(self.buckets, self.counts, strict=True)
        ]
        found.append(("_bucket", (*labels, ("le", "+Inf")), self.count))
        found.append(("_sum", labels, self.total))
        found.append(("_count", labels, self.count))
        return found


class Metrics:
    """The daemon's counters; safe to update from any thread and to read while updated."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ingested: dict[tuple[str, str], int] = {}
        self._latency: dict[str, Histogram] = {}
        self._delivered: dict[str, int] = {}
        self._reloads: dict[str, int] = {}
        self._purged = 0

    def ingested(self, source: str, outcome: str, seconds: float) -> None:
        """One message from ``source`` ended as ``outcome`` after ``seconds``."""
        kind = source.partition(":")[0]  # smtp, lmtp, imap
        with self._lock:
            self._ingested[source, outcome] = self._ingested.get((source, outcome), 0) + 1
            self._latency.setdefault(kind, Histogram()).observe(seconds)

    def total_ingested(self) -> int:
        with self._lock:
            return sum(self._ingested.values())

    def delivery(self, result: str) -> None:
        """An outbox delivery attempt ended as ``result`` (sent, retry, failed)."""
        with self._lock:
            self._delivered[result] = self._delivered.get(result, 0) + 1

    def reload(self, result: str) -> None:
        with self._lock:
            self._reloads[result] = self._reloads.get(result, 0) + 1

    def purged(self, tickets: int) -> None:
        with self._lock:
            self._purged += tickets

    def families(self) -> list[Family]:
        with self._lock:
            return [
                Family(
                    "maildesk_messages_ingested_total",
                    "counter",
                    "Inbound messages handled since start, by source and outcome.",
                    [
                        ("", (("source", source), ("outcome", outcome)), n)
                        for (source, outcome), n in sorted(self._ingested.items())
                    ],
                ),
                Family(
                    "maildesk_ingest_seconds",
                    "histogram",
                    "Time from a message reaching the writer to the commit that holds it.",
                    [
                        s
                        for kind, hist in sorted(self._latency.items())
                        for s in hist.samples((("source", kind),))
                    ],
                ),
                Family(
                    "maildesk_outbox_deliveries_total",
                    "counter",
                    "Outbox delivery attempts since start, by result (sent, retry, failed).",
                    [("", (("result", r),), n) for r, n in sorted(self._delivered.items())],
                ),
                Family(
                    "maildesk_config_reloads_total",
                    "counter",
                    "Configuration reloads (SIGHUP) since start, by result (applied, rejected).",
                    [("", (("result", r),), n) for r, n in sorted(self._reloads.items())],
                ),
                Family(
                    "maildesk_retention_purged_tickets_total",
                    "counter",
                    "Tickets purged by the retention job since start.",
                    [("", (), self._purged)],
                ),
            ]


def gauge(name: str, help_text: str, values: Mapping[Labels, float]) -> Family:
    return Family(name, "gauge", help_text, [("", labels, v) for labels, v in values.items()])
