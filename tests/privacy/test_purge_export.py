"""Retention purge, export and erasure over a store filled through the real pipeline."""

from __future__ import annotations

import email
import email.policy
import json
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from maildesk.clock import FakeClock, SystemClock
from maildesk.config import Config, parse
from maildesk.ingest.envelope import Envelope, Quarantined, Stored
from maildesk.ingest.pipeline import Pipeline
from maildesk.model import State
from maildesk.privacy import export
from maildesk.privacy import purge as privacy
from maildesk.store.store import Store
from tests.support.daemon import mail
from tests.support.desk import build_pipeline

pytestmark = pytest.mark.stores("sqlite", "postgresql")

SHARED = b"%PDF-1.4 the same certificate form, sent by two people\n" * 20
ANA = "ana@alumnos.example"
ANA_BODY = "Soy Ana, mi cédula es 402-1234567-8"
OLD = datetime(2025, 1, 10, 10, 0, tzinfo=UTC)
NOW = datetime(2026, 6, 10, 10, 0, tzinfo=UTC)


def message(
    sender: str, subject: str, body: str, *, cc: str | None = None, attachment: bytes = b""
) -> bytes:
    made = mail(sender, "info@uni.example", subject, body, cc=cc, message_id=f"<{subject}@x>")
    if attachment:
        made.add_attachment(
            attachment, maintype="application", subtype="pdf", filename="formulario.pdf"
        )
    return made.as_bytes()


@dataclass
class Desk:
    config: Config
    store: Store
    clock: FakeClock
    pipeline: Pipeline

    def take(self, raw: bytes, at: datetime) -> int:
        self.clock.set(at)
        outcome = self.pipeline.accept(raw, Envelope("x@example", ["info@uni.example"], "smtp"))
        assert isinstance(outcome, Stored)
        assert outcome.ticket is not None
        return outcome.ticket

    def close_ticket(self, number: int, at: datetime) -> None:
        with self.store.transaction():
            self.store.set_state(number, State.CLOSED, at)

    def count(self, table: str) -> int:
        return int(self.store.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608

    def counts(self) -> dict[str, int]:
        tables = ("tickets", "messages", "attachments", "blobs", "outbox", "quarantine", "events")
        return {t: self.count(t) for t in tables}


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return parse("[privacy]\nretention_days = 365\n", path=None, base_dir=tmp_path)


@pytest.fixture
def desk(config: Config, store: Store) -> Desk:
    """Ana's old closed ticket 1 (with a form also in Luis's ticket 2, where she is in Cc),
    her recent open ticket 3, ticket 4 linked to ticket 1, and old quarantined mail."""
    clock = FakeClock(OLD)
    pipeline = build_pipeline(config, store, clock)
    desk = Desk(config, store, clock, pipeline)
    one = desk.take(message(f"Ana Pérez <{ANA}>", "Certificado", ANA_BODY, attachment=SHARED), OLD)
    two = desk.take(
        message("luis@example.com", "Horario", "Hola, adjunto.", cc=ANA, attachment=SHARED), OLD
    )
    desk.take(message(ANA, "Beca", f"{ANA_BODY}. Quiero una beca."), NOW - timedelta(days=2))
    four = desk.take(message("eva@example.com", "Otra", "Sigo con lo de ayer."), NOW)
    with store.transaction():
        store.conn.execute("UPDATE tickets SET linked_to = ? WHERE number = ?", (one, four))
    clock.set(OLD)
    garbage = pipeline.accept(b"\x00 no header at all\r\n\r\n", Envelope(ANA, ["info@x"], "smtp"))
    assert isinstance(garbage, Quarantined)
    desk.close_ticket(one, OLD + timedelta(days=10))
    desk.close_ticket(two, NOW - timedelta(days=30))  # closed recently: kept
    clock.set(NOW)
    return desk


def test_purge_removes_old_closed_tickets_with_everything_they_hold(desk: Desk) -> None:
    before = desk.counts()
    cutoff = NOW - timedelta(days=365)
    dry = privacy.purge(desk.store, cutoff, dry_run=True)
    assert desk.counts() == before  # a dry run changes nothing
    removed = privacy.purge(desk.store, cutoff)
    assert removed == dry  # and counted exactly what the real run removed
    assert removed.tickets == 1
    assert removed.messages == 2  # Ana's request and its acknowledgement
    assert removed.attachments == 1
    assert removed.quarantined == 1
    assert removed.outbox == 1
    assert removed.blobs == 2  # her raw mail and the quarantined bytes; the form is shared
    after = desk.counts()
    assert after["tickets"] == before["tickets"] - 1
    conn = desk.store.conn
    assert [r[0] for r in conn.execute("SELECT number FROM tickets ORDER BY number")] == [2, 3, 4]
    assert conn.execute("SELECT linked_to FROM tickets WHERE number = 4").fetchone()[0] is None
    assert conn.execute("SELECT count(*) FROM events WHERE ticket = 1").fetchone()[0] == 0
    # The form Luis sent too stays, once; every attachment still has its bytes.
    assert (
        conn.execute(
            "SELECT count(*) FROM attachments a LEFT JOIN blobs b ON b.sha256 = a.sha256"
            " WHERE b.sha256 IS NULL"
        ).fetchone()[0]
        == 0
    )
    if not desk.store.dialect.is_postgres:  # PostgreSQL checks every key as it goes
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    assert privacy.purge(desk.store, cutoff) == privacy.Removed()  # nothing left to do


def test_purge_reaches_rows_of_tables_added_later(desk: Desk) -> None:
    with desk.store.transaction():
        desk.store.conn.execute(
            "CREATE TABLE survey_answers (ticket INTEGER NOT NULL REFERENCES tickets(number),"
            " score INTEGER)"
        )
        desk.store.conn.execute("INSERT INTO survey_answers VALUES (1, 5), (2, 4)")
    privacy.purge(desk.store, NOW - timedelta(days=365))
    rows = desk.store.conn.execute("SELECT ticket FROM survey_answers").fetchall()
    assert [tuple(r) for r in rows] == [(2,)]


def test_export_writes_json_and_every_message_as_eml(desk: Desk, tmp_path: Path) -> None:
    folder = tmp_path / "export"
    found = export.export(desk.store.conn, {"info": "INFO"}, "ANA@alumnos.example", folder)
    document = json.loads((folder / "requester.json").read_text(encoding="utf-8"))
    assert document["requester"] == ANA
    assert [t["ref"] for t in document["tickets"]] == ["INFO#1", "INFO#3"]
    kinds = [[m["kind"] for m in t["messages"]] for t in document["tickets"]]
    assert kinds == [["human", "ack"], ["human", "ack"]]
    assert ANA_BODY in document["tickets"][0]["messages"][0]["body"]
    # Luis's mail, where she was in Cc, is hers to see too; his acknowledgement is not.
    [other] = document["messages_in_other_tickets"]
    assert (other["ticket"], other["from_addr"], other["cc_addrs"]) == (
        2,
        "luis@example.com",
        [ANA],
    )
    [held] = document["quarantined"]
    assert (folder / held["eml"]).read_bytes().startswith(b"\x00 no header")
    emls = sorted(folder.glob("messages/*.eml"))
    assert len(emls) == 5 == found["messages"]
    first = email.message_from_bytes(
        (folder / document["tickets"][0]["messages"][0]["eml"]).read_bytes(),
        policy=email.policy.default,
    )
    assert first["Subject"] == "Certificado"
    ack = email.message_from_bytes(
        (folder / document["tickets"][0]["messages"][1]["eml"]).read_bytes(),
        policy=email.policy.default,
    )
    assert ack["Subject"] == "[INFO#1] Certificado"
    assert found == {"tickets": 2, "messages": 5, "files": 6}


def test_erase_leaves_nothing_about_the_person_but_the_fact(desk: Desk) -> None:
    before = desk.counts()
    removed = privacy.erase(desk.store, ANA, NOW)
    assert removed.tickets == 2  # her two tickets are empty shells now
    assert removed.messages == 4  # her two requests and their acknowledgements
    assert removed.quarantined == 1
    conn = desk.store.conn
    shells = conn.execute(
        "SELECT number, queue, state, requester, requester_name, subject FROM tickets"
        " WHERE number IN (1, 3) ORDER BY number"
    ).fetchall()
    assert [tuple(r) for r in shells] == [
        (1, "info", "closed", "erased", "", ""),
        (3, "info", "new", "erased", "", ""),
    ]
    assert conn.execute("SELECT count(*) FROM messages WHERE ticket IN (1, 3)").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM events WHERE ticket IN (1, 3)").fetchone()[0] > 0
    assert (
        conn.execute("SELECT detail FROM events WHERE ticket IN (1, 3) AND detail != ''").fetchall()
        == []
    )
    # Luis's ticket keeps his message, without her address in its recipients.
    [cc] = conn.execute(
        "SELECT cc_addrs FROM messages WHERE ticket = 2 AND direction = 'in'"
    ).fetchone()
    assert json.loads(cc) == ["erased"]
    assert conn.execute("SELECT count(*) FROM attachments").fetchone()[0] == 1  # his form
    [record] = conn.execute(
        "SELECT ticket, kind, detail FROM events WHERE kind = 'erasure'"
    ).fetchall()
    assert record["ticket"] is None
    assert "ana" not in record["detail"].lower()
    assert desk.count("events") == before["events"] + 1
    # Nowhere in the database's rows (only inside Luis's raw mail, which names his Cc).
    for table in ("tickets", "messages", "participants", "outbox", "quarantine", "events"):
        for row in conn.execute(f"SELECT * FROM {table}"):  # noqa: S608
            assert ANA not in json.dumps([str(v) for v in row]).lower(), (table, tuple(row))
    if desk.store.dialect.is_postgres:
        return  # its dead rows stay in the table's files until VACUUM reuses their space
    desk.store.close()
    # Her words are gone from the file itself, free pages included.
    files = [desk.config.database, desk.config.database.with_name("maildesk.db-wal")]
    data = b"".join(path.read_bytes() for path in files if path.exists())
    assert ANA_BODY.encode() not in data
    assert b"402-1234567-8" not in data


def test_the_commands_purge_export_and_erase(
    desk: Desk, store_location: Path | str, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[maildesk]\ndatabase = "{store_location}"\n[privacy]\nretention_days = 30\n',
        encoding="utf-8",
    )

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "maildesk", "--config", str(config), *args],
            capture_output=True,
            text=True,
            input=stdin,
            timeout=60,
            check=False,
        )

    # The commands count from today, not from the fixture's clock.
    cutoff = SystemClock().now() - timedelta(days=30)
    expected = privacy.purge(desk.store, cutoff, dry_run=True)
    dry = run("purge", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith(f"would remove {expected.tickets} ticket(s)")
    assert desk.count("tickets") == 4
    out = tmp_path / "ana"
    exported = run("export", "--requester", ANA, str(out))
    assert exported.returncode == 0, exported.stderr
    assert "2 ticket(s), 5 message(s)" in exported.stdout
    assert run("export", "--requester", ANA, str(out)).returncode == 1  # never over a folder
    refused = run("erase", "--requester", ANA, stdin="n\n")
    assert refused.returncode == 1
    assert desk.count("messages") > 4
    erased = run("erase", "--requester", ANA, "--yes")
    assert erased.returncode == 0, erased.stderr
    said = erased.stdout.splitlines()
    assert said[0].startswith(f"erased {ANA}: 2 ticket(s), 4 message(s)")
    if desk.store.dialect.is_postgres:  # what stays behind, and where to read what to do
        assert said[1:] == [
            "PostgreSQL keeps the deleted rows until VACUUM, and WAL archives and base"
            " backups keep them until they rotate: see docs/admin.md, Personal data"
        ]
    else:  # SQLite overwrote the pages
        assert said[1:] == []
    expected = privacy.purge(desk.store, cutoff, dry_run=True)
    purged = run("purge")
    assert purged.returncode == 0, purged.stderr
    assert purged.stdout.startswith(f"removed {expected.tickets} ticket(s)")
    assert desk.count("tickets") == 4 - expected.tickets


def test_purge_goes_in_batches_and_leaves_stray_mail_to_the_last(desk: Desk) -> None:
    cutoff = NOW - timedelta(days=365)
    first = privacy.purge_batch(desk.store, cutoff, limit=1)
    assert (first.tickets, first.quarantined) == (1, 0)  # a full batch: more may follow
    last = privacy.purge_batch(desk.store, cutoff, limit=1)
    assert (last.tickets, last.quarantined) == (0, 1)
