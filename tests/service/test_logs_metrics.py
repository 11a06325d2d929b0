"""Log lines (journald priorities, one line per event) and the Prometheus text format."""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from maildesk.service import logs
from maildesk.service.metrics import Family, Metrics, render


def _record(level: int, message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("maildesk.test", level, __file__, 1, message, args, None)


def test_under_journald_each_line_starts_with_its_priority(tmp_path: Path) -> None:
    path = tmp_path / "stderr"
    with path.open("w", encoding="utf-8") as stream:
        found = os.fstat(stream.fileno())
        environ = {"JOURNAL_STREAM": f"{found.st_dev}:{found.st_ino}"}
        assert logs.to_journal(stream, environ)
        formatter = logs._OneLine(journal=True)
        assert formatter.format(_record(logging.INFO, "stored")) == "<6>maildesk.test: stored"
        assert formatter.format(_record(logging.WARNING, "x")).startswith("<4>")
        assert formatter.format(_record(logging.ERROR, "x")).startswith("<3>")
        assert formatter.format(_record(logging.DEBUG, "x")).startswith("<7>")
    other = {"JOURNAL_STREAM": f"{found.st_dev}:{found.st_ino + 1}"}
    with path.open("a", encoding="utf-8") as stream:
        assert logs.to_journal(stream, environ)  # the same file again
        assert not logs.to_journal(stream, other)  # a stream inherited from elsewhere
        assert not logs.to_journal(stream, {})


def test_text_from_outside_cannot_forge_a_log_line() -> None:
    subject = "Hola\r\nERROR maildesk: forged"
    for journal in (True, False):
        line = logs._OneLine(journal).format(_record(logging.INFO, "subject %s", subject))
        assert "\n" not in line
        assert line.endswith("subject Hola\\r\\nERROR maildesk: forged")


def test_a_traceback_keeps_the_priority_on_every_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord(
            "maildesk.test", logging.ERROR, __file__, 1, "failed", (), __import__("sys").exc_info()
        )
    lines = logs._OneLine(journal=True).format(record).splitlines()
    assert lines[0] == "<3>maildesk.test: failed"
    assert len(lines) > 2
    assert all(line.startswith("<3>  ") for line in lines[1:])
    assert lines[-1] == "<3>  ValueError: boom"


def test_plain_lines_carry_the_level() -> None:
    line = logs._OneLine(journal=False).format(_record(logging.WARNING, "delayed"))
    assert line == "WARNING maildesk.test: delayed"


def test_protocol_transcripts_stay_out_even_at_debug() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logs.setup("debug", stream, {})
        logging.getLogger("mail.log").debug("DATA readline: b'the body'")
        logging.getLogger("imapclient.imaplib").debug("> LOGIN info s3cret")
        logging.getLogger("maildesk.test").debug("visible")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    text = stream.getvalue()
    assert "visible" in text
    assert "the body" not in text
    assert "s3cret" not in text


def test_metrics_render_in_the_text_format_prometheus_reads() -> None:
    metrics = Metrics()
    for seconds in (0.004, 0.02, 0.3, 12.0):
        metrics.ingested("smtp", "stored", seconds)
    metrics.ingested("imap:info", "duplicate", 0.01)
    metrics.delivery("sent")
    extra = Family(
        "maildesk_tickets",
        "gauge",
        "Tickets.",
        [("", (("queue", 'a"b\\c\n'), ("state", "new")), 2)],
    )
    text = render([*metrics.families(), extra])
    families = {f.name: f for f in text_string_to_metric_families(text)}
    ingested = {
        (s.labels["source"], s.labels["outcome"]): s.value
        for s in families["maildesk_messages_ingested"].samples
    }
    assert ingested == {("smtp", "stored"): 4, ("imap:info", "duplicate"): 1}
    histogram = families["maildesk_ingest_seconds"]
    assert histogram.type == "histogram"
    smtp = {
        s.labels["le"]: s.value
        for s in histogram.samples
        if s.name.endswith("_bucket") and s.labels["source"] == "smtp"
    }
    assert smtp["0.005"] == 1
    assert smtp["0.5"] == 3
    assert smtp["10"] == 3
    assert smtp["+Inf"] == 4
    count = [s for s in histogram.samples if s.name == "maildesk_ingest_seconds_count"]
    assert {s.labels["source"]: s.value for s in count} == {"smtp": 4, "imap": 1}
    [tickets] = families["maildesk_tickets"].samples
    assert tickets.labels["queue"] == 'a"b\\c\n'
    assert tickets.value == 2


@pytest.mark.parametrize("level", ["debug", "info", "warning", "error"])
def test_the_level_is_the_configured_one(level: str) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logs.setup(level, io.StringIO(), {})
        assert root.level == getattr(logging, level.upper())
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
