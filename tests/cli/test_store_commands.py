"""The commands that open the store work on both stores; ``backup`` names pg_dump on
PostgreSQL; ``migrate`` upgrades a store, two at once taking turns; ``copy-store`` moves a
SQLite store filled by the real pipeline into PostgreSQL, and the copy reads the same."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from maildesk.clock import FakeClock
from maildesk.config import Config
from maildesk.ingest.envelope import Envelope, Stored
from maildesk.model import State
from maildesk.store.schema import migrations
from maildesk.store.store import Store
from tests.servers import Postgres
from tests.support.daemon import environment
from tests.support.desk import SECRET, build_pipeline

QUEUES = """
[[queues]]
name = "info"
addresses = ["info@uni.example"]
tag = "INFO"

[[agents]]
name = "Berta"
addresses = ["berta@uni.example"]
"""
CONFIG = QUEUES


def _config_file(folder: Path, database: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.toml"
    path.write_text(f'[maildesk]\ndatabase = "{database}"\n{QUEUES}', encoding="utf-8")
    return path


def _maildesk(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "maildesk", "--config", str(config), *args],
        capture_output=True,
        text=True,
        cwd=config.parent,
        env=environment(),
        timeout=120,
        check=False,
    )


def _ok(config: Path, *args: str) -> str:
    result = _maildesk(config, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _mail(
    subject: str, message_id: str, *, sender: str = "Ana <ana@example.com>", **headers: str
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "info@uni.example"
    message["Subject"] = subject
    message["Message-ID"] = message_id
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content("Hola, adjunto el documento.\n")
    message.add_attachment(
        b"%PDF-1.4 " + subject.encode() * 50,
        maintype="application",
        subtype="pdf",
        filename="documento.pdf",
    )
    return message.as_bytes()


def _fill(config: Config, clock: FakeClock) -> None:
    """A store as the daemon leaves it: tickets, replies, a closed one with its survey, an
    agent's answer, quarantined mail, IMAP state, a purged newest ticket."""
    store = Store(config.database)
    try:
        pipeline = build_pipeline(config, store, clock)
        smtp = Envelope("ana@example.com", ("info@uni.example",), "smtp", None)
        numbers = []
        for i in range(4):
            outcome = pipeline.accept(_mail(f"Consulta {i}", f"<m{i}@example.com>"), smtp)
            assert isinstance(outcome, Stored)
            assert outcome.ticket is not None
            numbers.append(outcome.ticket)
            clock.advance(timedelta(minutes=7))
        agent = Envelope("berta@uni.example", ("info@uni.example",), "smtp", None)
        reply = EmailMessage()
        reply["From"] = "Berta <berta@uni.example>"
        reply["To"] = "info@uni.example"
        reply["Subject"] = f"Re: [INFO#{numbers[0]}] Consulta 0"
        reply["Message-ID"] = "<r1@uni.example>"
        reply.set_content("#close\nResuelto: ya tiene su certificado.\n")
        assert isinstance(pipeline.accept(reply.as_bytes(), agent), Stored)
        pipeline.accept(b"\x00not a mail at all", smtp)  # quarantined, kept whole
        with store.transaction():  # closed (the agent resolved it): the survey goes out
            store.set_state(numbers[0], State.CLOSED, clock.now())
            assert pipeline.desk.surveyor.offer(numbers[0], clock.now())
        with store.transaction():
            store.set_imap_state("info", "INBOX", 1234567890, 42, clock.now())
            # The newest ticket goes (an erasure): its number must never come back.
            last = numbers[-1]
            store.conn.execute(
                "DELETE FROM outbox_recipients"
                " WHERE outbox IN (SELECT id FROM outbox WHERE ticket = ?)",
                (last,),
            )
            for table, column in (
                ("events", "ticket"),
                ("outbox", "ticket"),
                ("participants", "ticket"),
            ):
                store.conn.execute(f"DELETE FROM {table} WHERE {column} = ?", (last,))  # noqa: S608
            store.conn.execute(
                "DELETE FROM attachments WHERE message IN"
                " (SELECT id FROM messages WHERE ticket = ?)",
                (last,),
            )
            store.conn.execute("DELETE FROM messages WHERE ticket = ?", (last,))
            store.conn.execute("DELETE FROM tickets WHERE number = ?", (last,))
    finally:
        store.close()


def test_copy_store_moves_a_filled_store_and_the_copy_reads_the_same(
    config: Config, clock: FakeClock, postgres: Postgres, tmp_path: Path
) -> None:
    _fill(config, clock)
    target = postgres.create_database("copy_target")
    sqlite_config = _config_file(tmp_path / "single", str(config.database))
    pg_config = _config_file(tmp_path / "several", target)

    out = _ok(sqlite_config, "copy-store", "--from", str(config.database), "--to", target)

    rows = dict(line.split()[:2] for line in out.splitlines() if line.endswith("row(s)"))
    for table in (
        "tickets",
        "messages",
        "blobs",
        "attachments",
        "events",
        "outbox",
        "participants",
        "quarantine",
        "imap_state",
        "surveys",
    ):
        assert int(rows[table]) > 0, (table, out)
    assert "checked" in out
    assert _ok(pg_config, "tickets") == _ok(sqlite_config, "tickets")
    assert json.loads(_ok(pg_config, "tickets", "--json")) == json.loads(
        _ok(sqlite_config, "tickets", "--json")
    )
    for number in ("1", "2", "3"):
        assert _ok(pg_config, "show", number) == _ok(sqlite_config, "show", number)
        assert _ok(pg_config, "show", number, "--json") == _ok(
            sqlite_config, "show", number, "--json"
        )
    assert _ok(pg_config, "outbox") == _ok(sqlite_config, "outbox")
    assert _ok(pg_config, "quarantine") == _ok(sqlite_config, "quarantine")
    # The raw mail came along byte for byte.
    assert _ok(pg_config, "quarantine", "raw", "1") == _ok(sqlite_config, "quarantine", "raw", "1")

    copy = Store(target)
    try:
        assert copy.imap_state("info", "INBOX") == (1234567890, 42)
        with copy.transaction():  # the next ticket comes after the erased number 4
            new = copy.conn.execute(
                "INSERT INTO tickets (queue, queue_address, state, subject, requester,"
                " requester_name, language, created_at, updated_at) VALUES"
                " ('info', 'info@uni.example', 'new', 's', 'x@example.com', 'X', 'es', 't', 't')"
                " RETURNING number"
            ).fetchone()[0]
            message = copy.conn.execute(
                "INSERT INTO events (ticket, at, kind) VALUES (?, 't', 'k') RETURNING id", (new,)
            ).fetchone()[0]
        assert new == 5
        assert message > int(rows["events"])
    finally:
        copy.close()

    again = _maildesk(sqlite_config, "copy-store", "--from", str(config.database), "--to", target)
    assert again.returncode == 1
    assert "not empty" in again.stderr
    assert "tickets" in again.stderr


def test_copy_store_refuses_what_is_not_a_sqlite_store_or_a_url(tmp_path: Path) -> None:
    config = _config_file(tmp_path, "maildesk.db")
    missing = _maildesk(
        config, "copy-store", "--from", "nothing.db", "--to", "postgresql://x@127.0.0.1:1/y"
    )
    assert (missing.returncode, missing.stderr.strip()) == (
        1,
        "maildesk: no SQLite store at nothing.db",
    )
    Store(tmp_path / "maildesk.db").close()
    to_file = _maildesk(config, "copy-store", "--from", "maildesk.db", "--to", "other.db")
    assert to_file.returncode == 1
    assert "must be a postgresql:// URL" in to_file.stderr


def test_backup_of_a_postgresql_store_points_at_pg_dump(postgres: Postgres, tmp_path: Path) -> None:
    config = _config_file(tmp_path, postgres.create_database("backup_refused"))
    result = _maildesk(config, "backup", str(tmp_path / "copy.db"))
    assert result.returncode == 1
    assert "pg_dump" in result.stderr
    assert not (tmp_path / "copy.db").exists()


def test_two_migrate_commands_at_once_upgrade_a_new_database_once(
    postgres: Postgres, tmp_path: Path
) -> None:
    config = _config_file(tmp_path, postgres.create_database("migrate_twice"))
    command = [sys.executable, "-m", "maildesk", "--config", str(config), "migrate"]
    runs = [
        subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
            env=environment(),
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    said = sorted(out for out, _ in outputs)
    total = len(migrations.names)
    # One upgraded; the other waited for the lock and found it done.
    assert "applied 0001_initial" in said[0]
    assert f"({total} step(s) in all)" in said[0]
    assert said[1].endswith(f"up to date ({total} step(s))\n")
    with postgres.connect("migrate_twice") as conn:
        recorded = conn.execute("SELECT count(*), count(DISTINCT name) FROM maildesk_migrations")
        assert recorded.fetchone() == (total, total)
    assert _ok(config, "tickets") == ""  # the commands read the new store


@pytest.mark.stores("sqlite", "postgresql")
def test_migrate_brings_an_older_store_up_to_date(
    store_location: Path | str, tmp_path: Path
) -> None:
    config = _config_file(tmp_path / "desk", str(store_location))
    store = Store(store_location)
    try:  # as a store of the version before: the last step not applied yet
        last = migrations.names[-1]
        with store.transaction():
            assert last == "0014_outbox_recipients"  # what the next line undoes
            store.conn.execute("DROP TABLE outbox_recipients")
            store.conn.execute(
                f"DELETE FROM {store.dialect.migrations_table} WHERE name = ?",  # noqa: S608
                (last,),
            )
    finally:
        store.close()
    assert _ok(config, "migrate").endswith(
        f"applied {last} ({len(migrations.names)} step(s) in all)\n"
    )
    assert _ok(config, "migrate").endswith(f"up to date ({len(migrations.names)} step(s))\n")
    assert _ok(config, "outbox") == ""


@pytest.mark.stores("sqlite", "postgresql")
def test_commands_that_read_or_write_open_either_store(
    config: Config, store_location: Path | str, clock: FakeClock, tmp_path: Path
) -> None:
    store = Store(store_location)
    try:
        pipeline = build_pipeline(config, store, clock)
        smtp = Envelope("ana@example.com", ("info@uni.example",), "smtp", None)
        assert isinstance(pipeline.accept(_mail("Certificado", "<c1@example.com>"), smtp), Stored)
    finally:
        store.close()
    desk = _config_file(tmp_path / "desk", str(store_location))
    (desk.parent / "maildesk.secret").write_bytes(SECRET)
    [ticket] = json.loads(_ok(desk, "tickets", "--json"))
    assert (ticket["ref"], ticket["subject"], ticket["state"]) == ("INFO#1", "Certificado", "new")
    assert "attachment: documento.pdf" in _ok(desk, "show", "1")
    ack = next(r for r in json.loads(_ok(desk, "outbox", "--json")) if r["kind"] == "ack")
    assert _ok(desk, "outbox", "retry", str(ack["id"])).startswith(f"outbox row {ack['id']} will")
    _ok(desk, "note", "1", "Llamó por teléfono", "--as", "Berta")
    assert "Llamó por teléfono" in _ok(desk, "show", "1")
