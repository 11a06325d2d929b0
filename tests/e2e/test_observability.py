"""What a running daemon shows an admin: /healthz, /metrics, its log, backups, retention."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.servers import Dovecot
from tests.support.daemon import Maildesk, mail

PASSWORD = "Pw-7f3kQ9-unlikely"  # a test account's, to look for in the log
SMTP_BODY = "Texto privado enviado por SMTP 5521"
IMAP_BODY = "Texto privado llegado por IMAP 8834"


def get(desk: Maildesk, path: str, method: str = "GET") -> tuple[int, str, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{desk.http_port}{path}", method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text page, parsed by Prometheus's own client library."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def wait(predicate: Any, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_metrics_parse_and_healthz_reports_each_part(tmp_path: Path) -> None:
    desk = Maildesk(tmp_path / "desk")
    desk.start()
    try:
        # The SMTP port opens a moment before the daemon calls itself ready.
        wait(lambda: get(desk, "/healthz")[0] == 200, "the daemon to be ready")
        status, kind, body = get(desk, "/healthz")
        assert kind == "application/json"
        health = json.loads(body)
        assert health["status"] == "ok"
        assert health["ready"] is True
        assert health["listener"] == {
            "state": "listening",
            "address": f"smtp://127.0.0.1:{desk.port}",
        }
        assert health["imap"] == {}
        assert health["relay"]["transport"] == "file"
        assert health["database"]["state"] == "ok"
        jobs = health["scheduler"]["jobs"]
        assert set(jobs) == {"retention-purge", "sla", "follow-ups", "monthly-report"}

        # A job caught in the middle of its first run has no next run yet.
        def settled() -> dict[str, Any]:
            jobs: dict[str, Any] = json.loads(get(desk, "/healthz")[2])["scheduler"]["jobs"]
            return jobs if all(job["state"] != "running" for job in jobs.values()) else {}

        seen: list[dict[str, Any]] = [{}]

        def finished() -> bool:
            seen[0] = settled()
            return bool(seen[0])

        wait(finished, "the first sweeps to finish")
        jobs = seen[0]
        assert all(job["next_run"] > job["last_run"] for job in jobs.values()), jobs
        # The sweeps ran at start: an empty desk has nothing due.
        wait(
            lambda: '"last_result": "nothing due"' in get(desk, "/healthz")[2],
            "the first sweeps to report",
        )

        first = mail("ana@example.com", "info@uni.example", "Uno", message_id="<m1@x>")
        desk.send(first)
        desk.send(first)  # a duplicate
        desk.send(mail("luis@example.com", "crm@uni.example", "Two", message_id="<m2@x>"))
        desk.outbox_files(2)
        wait(lambda: get(desk, "/healthz")[2].count('"state": "ok"') >= 2, "the relay to be ok")

        status, kind, page = get(desk, "/metrics")
        assert status == 200
        assert kind.startswith("text/plain; version=0.0.4")
        found = samples(page)
        ingested = "maildesk_messages_ingested_total"
        assert found[ingested, (("outcome", "stored"), ("source", "smtp"))] == 2
        assert found[ingested, (("outcome", "duplicate"), ("source", "smtp"))] == 1
        assert found["maildesk_ingest_seconds_count", (("source", "smtp"),)] == 3
        assert found["maildesk_ingest_seconds_bucket", (("le", "+Inf"), ("source", "smtp"))] == 3
        assert found["maildesk_tickets", (("queue", "info"), ("state", "new"))] == 1
        assert found["maildesk_tickets", (("queue", "crm"), ("state", "new"))] == 1
        outbox = {
            dict(labels)["state"]: value
            for (name, labels), value in found.items()
            if name == "maildesk_outbox_messages"
        }
        assert outbox["pending"] + outbox["sent"] == 2
        assert outbox["failed"] == 0
        assert found["maildesk_ready", ()] == 1
        assert found["maildesk_relay_up", ()] == 1
        assert found["maildesk_store_up", ()] == 1

        assert get(desk, "/nowhere")[0] == 404
        assert get(desk, "/metrics", method="POST")[0] == 405
    finally:
        assert desk.stop() == 0, desk.log()


def test_the_log_has_one_line_per_event_and_no_password_nor_body(
    tmp_path: Path, dovecot: Dovecot
) -> None:
    """At debug level, under journald: SMTP and IMAP mail in, acknowledgements out."""
    dovecot.add_user("desk", PASSWORD)
    folder = tmp_path / "desk"
    folder.mkdir()
    (folder / "desk.password").write_text(PASSWORD + "\n", encoding="utf-8")
    desk = Maildesk(
        folder,
        extra_config=(
            f'[[imap]]\nname = "desk"\nhost = "{dovecot.host}"\nport = {dovecot.port}\n'
            'tls = "none"\nusername = "desk"\npassword_file = "desk.password"\n'
            'queue = "info"\n'
        ),
    )
    config = desk.config.read_text(encoding="utf-8")
    desk.config.write_text(config.replace("[maildesk]\n", '[maildesk]\nlog_level = "debug"\n'))
    desk.log_path.touch()
    found = os.stat(desk.log_path)
    desk.env = {"JOURNAL_STREAM": f"{found.st_dev}:{found.st_ino}"}
    desk.start()
    try:
        desk.send(
            mail("ana@example.com", "info@uni.example", "Por SMTP", SMTP_BODY, message_id="<s@x>")
        )
        dovecot.append(
            "desk",
            "INBOX",
            mail("eva@example.com", "info@uni.example", "Por IMAP", IMAP_BODY, message_id="<i@x>")
            .as_bytes()
            .replace(b"\n", b"\r\n"),
        )
        desk.outbox_files(2)
        wait(lambda: "message-id=<i@x>" in desk.log(), "the IMAP message to be logged")
    finally:
        assert desk.stop() == 0, desk.log()
    log = desk.log()
    assert PASSWORD not in log
    assert SMTP_BODY not in log
    assert IMAP_BODY not in log
    lines = log.splitlines()
    assert all(re.match(r"<[0-7]>", line) for line in lines), log  # journald priorities
    stored = [line for line in lines if "stored ticket=" in line]
    assert len(stored) == 2
    assert any(re.match(r"<6>.*ticket=INFO#1 .*message-id=<s@x>", line) for line in stored)
    assert any("ticket=INFO#2" in line and "message-id=<i@x>" in line for line in stored)
    sent = [line for line in lines if line.startswith("<6>maildesk.outbox.sender: sent ticket=")]
    assert len(sent) == 2
    assert all(re.search(r"message-id=<md\.\d\.a\.", line) for line in sent)
    assert any(line.startswith("<7>") for line in lines)  # debug is on, and it is quiet


def test_backup_while_mail_is_arriving_is_consistent(tmp_path: Path) -> None:
    desk = Maildesk(tmp_path / "desk")
    desk.start()
    stop = threading.Event()
    answered: list[int] = []

    def keep_sending() -> None:
        with desk.smtp() as client:
            n = 0
            while not stop.is_set():
                client.send_message(mail(f"p{n}@example.com", "info@uni.example", f"Caso {n}"))
                answered.append(n)
                n += 1

    sender = threading.Thread(target=keep_sending)
    sender.start()
    try:
        wait(lambda: len(answered) > 20, "mail to arrive")
        before = len(answered)
        copy = tmp_path / "backups" / "maildesk-copy.db"
        copy.parent.mkdir()
        result = desk.cli("backup", str(copy))
        during = len(answered)
    finally:
        stop.set()
        sender.join(30)
        assert desk.stop() == 0, desk.log()
    assert result.stdout.startswith(f"wrote {copy}: ")
    assert copy.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in copy.parent.iterdir()) == ["maildesk-copy.db"]
    conn = sqlite3.connect(copy)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        tickets = conn.execute("SELECT count(*) FROM tickets").fetchone()[0]
        # Every ticket in the copy is whole: its message and its acknowledgement together.
        assert conn.execute(
            "SELECT count(*) FROM tickets t WHERE (SELECT count(*) FROM messages m"
            " WHERE m.ticket = t.number) != 2"
        ).fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM outbox").fetchone()[0] == tickets
    finally:
        conn.close()
    assert before <= tickets <= during + 1


def test_the_daily_retention_job_runs_at_start(tmp_path: Path) -> None:
    desk = Maildesk(tmp_path / "desk", extra_config="")
    desk.start()
    try:
        desk.send(mail("ana@example.com", "info@uni.example", "Vieja", message_id="<old@x>"))
        desk.send(mail("luis@example.com", "info@uni.example", "Nueva", message_id="<new@x>"))
        desk.outbox_files(2)
    finally:
        assert desk.stop() == 0, desk.log()
    conn = sqlite3.connect(desk.folder / "maildesk.db")
    with conn:  # ticket 1 was closed two years ago
        conn.execute(
            "UPDATE tickets SET state = 'closed', closed_at = '2020-01-01T00:00:00.000000+00:00'"
            " WHERE number = 1"
        )
    conn.close()
    desk.start()
    try:
        wait(lambda: "retention purge: removed 1 ticket(s)" in desk.log(), "the purge")
        health = json.loads(get(desk, "/healthz")[2])
        job = health["scheduler"]["jobs"]["retention-purge"]
        assert job["last_result"].startswith("removed 1 ticket(s), 2 message(s)")
        assert job["next_run"] > job["last_run"]
        found = samples(get(desk, "/metrics")[2])
        assert found["maildesk_retention_purged_tickets_total", ()] == 1
        assert [t["number"] for t in desk.json("tickets")] == [2]
    finally:
        assert desk.stop() == 0, desk.log()
