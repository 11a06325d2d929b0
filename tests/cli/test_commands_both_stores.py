"""Every command that reads or writes the store says the same on SQLite and PostgreSQL.

The same mail goes through the real pipeline into a SQLite file and into a PostgreSQL
database, on the same fake clock; then each command runs against both desks and their
outputs are compared. What the commands stamp with today's time (replies, notes,
erasures) and the random part of our Message-IDs are masked before comparing; the rest
must match to the byte. The PostgreSQL URL carries a password (the test cluster trusts
loopback and ignores it), and no command may print it.
"""

from __future__ import annotations

import itertools
import json
import re
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

from maildesk.cli import cli
from maildesk.clock import FakeClock, SystemClock
from maildesk.config import parse
from maildesk.ingest.envelope import Envelope, Quarantined, Stored
from maildesk.model import State
from maildesk.store.queries import open_reader
from maildesk.store.store import Store
from tests.reports.test_monthly import CONFIG as MONTH_CONFIG
from tests.reports.test_monthly import make_store
from tests.servers import Postgres
from tests.support.desk import SECRET, build_pipeline

pytestmark = pytest.mark.server

PASSWORD = "Pw-never-shown-7731"
DESK = """
[privacy]
retention_days = 30

[[queues]]
name = "info"
addresses = ["info@uni.example"]
tag = "INFO"

[[queues]]
name = "soporte"
addresses = ["soporte@uni.example"]
tag = "SOP"

[[agents]]
name = "Berta"
addresses = ["berta@uni.example"]
"""
ANA = "ana@alumnos.example"
_databases = itertools.count(1)

# What legitimately differs between two runs: the random nonce and signature of our
# Message-IDs, and the times the commands themselves stamp from the real clock.
_SIGNED_ID = re.compile(r"md\.(\d+)\.(\w)\.[0-9a-f]+\.[0-9a-f]+@")
_UTC_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?\+00:00")
_LOCAL_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d [A-Z]{3}")


def _masked_ids(text: str) -> str:
    return _SIGNED_ID.sub(r"md.\1.\2.X@", text)


def _masked(text: str) -> str:
    return _LOCAL_TIME.sub("LOCAL", _UTC_TIME.sub("UTC", _masked_ids(text)))


@dataclass
class Desk:
    """One configuration over one store, and the commands run against it."""

    kind: str
    folder: Path
    location: str

    @property
    def config(self) -> Path:
        return self.folder / "config.toml"

    def run(self, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
        result = CliRunner().invoke(cli, ["--config", str(self.config), *args], input=stdin)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        for text in (result.stdout, result.stderr):
            assert PASSWORD not in text, (self.kind, args, text)
        return result.exit_code, result.stdout, result.stderr

    def ok(self, *args: str) -> str:
        code, out, err = self.run(*args)
        assert code == 0, (self.kind, args, err)
        return out


def _mail(sender: str, to: str, subject: str, body: str, message_id: str, **headers: str) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = message_id
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message.as_bytes()


def _seed(desk: Desk, start: datetime) -> None:
    """The same mail, at the same fake times, into ``desk``'s store."""
    config = parse(DESK, path=None, base_dir=desk.folder)
    clock = FakeClock(start)
    store = Store(desk.location)
    try:
        pipeline = build_pipeline(config, store, clock)
        smtp = Envelope("x@example.com", ("info@uni.example",), "smtp", None)

        def take(raw: bytes, queue: str = "info") -> int:
            to = Envelope("x@example.com", (f"{queue}@uni.example",), "smtp", None)
            outcome = pipeline.accept(raw, to)
            assert isinstance(outcome, Stored), outcome
            assert outcome.ticket is not None
            clock.advance(timedelta(minutes=9))
            return outcome.ticket

        first = _mail(f"Ana <{ANA}>", "info@uni.example", "Certificado", "Hola", "<a1@x>")
        attached = EmailMessage()
        attached.set_content("Adjunto el formulario.")
        attached.add_attachment(
            b"%PDF-1.4 formulario\n" * 40,
            maintype="application",
            subtype="pdf",
            filename="formulario.pdf",
        )
        attached.set_boundary("formulario")  # the same bytes into both stores
        for name, value in (
            ("From", "Luis <luis@alumnos.example>"),
            ("To", "soporte@uni.example"),
            ("Cc", ANA),
            ("Subject", "Clave olvidada"),
            ("Message-ID", "<l1@x>"),
        ):
            attached[name] = value
        assert take(first) == 1
        assert take(attached.as_bytes(), "soporte") == 2
        assert take(_mail(f"Ana <{ANA}>", "info@uni.example", "Beca", "Otra", "<a2@x>")) == 3
        with store.transaction():  # the agent solved it; it closed sixty days ago
            store.set_state(1, State.CLOSED, clock.now())
        clock.advance(timedelta(minutes=9))
        assert isinstance(pipeline.accept(b"\x00no mail at all", smtp), Quarantined)
    finally:
        store.close()


@pytest.fixture
def desks(tmp_path: Path, postgres: Postgres) -> tuple[Desk, Desk]:
    """A SQLite desk and a PostgreSQL desk holding the same mail from sixty days ago."""
    url = postgres.create_database(f"cli_{next(_databases)}").replace(
        "maildesk@", f"maildesk:{PASSWORD}@", 1
    )
    made = (
        Desk("sqlite", tmp_path / "sqlite", "maildesk.db"),
        Desk("postgresql", tmp_path / "postgresql", url),
    )
    # Sixty days back, so the tickets are overdue and the closed one due for the purge.
    start = (SystemClock().now() - timedelta(days=60)).replace(hour=14, minute=0, microsecond=0)
    for desk in made:
        desk.folder.mkdir()
        desk.config.write_text(
            f'[maildesk]\ndatabase = "{desk.location}"\n{DESK}', encoding="utf-8"
        )
        (desk.folder / "maildesk.secret").write_bytes(SECRET)
        location = desk.folder / desk.location if desk.kind == "sqlite" else desk.location
        _seed(Desk(desk.kind, desk.folder, str(location)), start)
    return made


def _same(desks: tuple[Desk, Desk], *args: str, mask: bool = False) -> str:
    """Run ``args`` on both desks; both succeed and print the same. Returns the output."""
    sqlite, postgresql = (desk.ok(*args) for desk in desks)
    clean = _masked if mask else _masked_ids
    assert clean(postgresql) == clean(sqlite), args
    return sqlite


def _json(text: str) -> Any:
    return json.loads(_masked_ids(text))


def test_the_reading_commands_print_the_same_on_both_stores(desks: tuple[Desk, Desk]) -> None:
    listing = _same(desks, "tickets")
    assert [line.split()[0] for line in listing.splitlines()] == ["INFO#3", "SOP#2", "INFO#1"]
    assert "closed" in listing.splitlines()[-1]
    rows = json.loads(_same(desks, "tickets", "--json"))
    assert [r["ref"] for r in rows] == ["INFO#3", "SOP#2", "INFO#1"]
    assert [r["ref"] for r in json.loads(_same(desks, "tickets", "--json", "--state", "new"))] == [
        "INFO#3",
        "SOP#2",
    ]
    assert _same(desks, "tickets", "--queue", "soporte").startswith("SOP#2 ")
    assert len(_same(desks, "tickets", "--limit", "1").splitlines()) == 1

    for number in ("1", "2", "3"):
        _same(desks, "show", number)
        detail = _json(_same(desks, "show", number, "--json"))
        assert detail["number"] == int(number)
    assert "attachment: formulario.pdf (" in _same(desks, "show", "2")
    for desk in desks:
        code, _, err = desk.run("show", "99")
        assert (code, err) == (1, "maildesk: no ticket 99\n")

    outbox = _same(desks, "outbox")
    assert len(outbox.splitlines()) >= 4  # three acknowledgements and the agent's answer
    _same(desks, "outbox", "--json")
    assert _same(desks, "outbox", "--state", "sent") == ""

    [held] = json.loads(_same(desks, "quarantine", "--json"))
    assert held["reason"]
    assert _same(desks, "quarantine").split()[0] == str(held["id"])
    raws = [desk.run("quarantine", "raw", str(held["id"])) for desk in desks]
    assert raws[0] == raws[1]
    assert raws[0][0] == 0


def test_sla_and_report_print_the_same_on_both_stores(desks: tuple[Desk, Desk]) -> None:
    # The time overdue is working time up to this minute: it moves while the test runs.
    def timeless(text: str) -> str:
        return re.sub(r"\(overdue [^)]*\)", "(overdue …)", text)

    outputs = [desk.ok("sla") for desk in desks]
    assert timeless(outputs[0]) == timeless(outputs[1])
    assert "INFO#3" in outputs[0]
    assert "breached" in outputs[0]
    assert timeless(desks[0].ok("sla", "--all")) == timeless(desks[1].ok("sla", "--all"))
    found = [json.loads(desk.ok("sla", "--json", "--queue", "soporte")) for desk in desks]
    for rows in found:
        for row in rows:
            row.pop("working_hours_left")
    assert found[0] == found[1]
    assert {row["ref"] for row in found[0]} == {"SOP#2"}

    month = json.loads(desks[0].ok("tickets", "--json"))[-1]["created_at"][:7]
    table = _same(desks, "report", "--month", month)
    assert f"{month}" in table.splitlines()[0]
    _same(desks, "report", "--month", month, "--format", "csv")
    _same(desks, "report", "--month", month, "--format", "html", "--language", "en")
    _same(desks, "report", "--month", month, "--queue", "soporte")
    figures = json.loads(_same(desks, "report", "--month", month, "--format", "json"))
    total = figures["lines"][0]
    assert (total["scope"], total["opened"], total["messages_in"]) == ("total", 3, 3)


def test_the_writing_commands_do_the_same_on_both_stores(
    desks: tuple[Desk, Desk], tmp_path: Path
) -> None:
    assert (
        _same(desks, "note", "3", "Llamó por teléfono", "--as", "Berta") == "INFO#3: note added\n"
    )
    assert _same(desks, "reply", "3", "-m", "Ya está la beca.") == "INFO#3: reply queued\n"
    assert _same(desks, "assign", "2", "berta@uni.example") == (
        "SOP#2: assigned to berta@uni.example\n"
    )
    assert _same(desks, "close", "2", "--resolve") == "SOP#2: resolved\n"
    for desk in desks:
        code, _, err = desk.run("close", "99")
        assert code == 1
        assert "99" in err
    shown = _same(desks, "show", "3", mask=True)
    assert "Llamó por teléfono" in shown
    assert "Ya está la beca." in shown
    _same(desks, "show", "2", "--json", mask=True)
    ack = json.loads(desks[0].ok("outbox", "--json"))[-1]
    assert _same(desks, "outbox", "retry", str(ack["id"])) == (
        f"outbox row {ack['id']} will be sent on the next pass\n"
    )
    _same(desks, "outbox", "--json", mask=True)

    # A subject access request: the same files with the same contents.
    exported = []
    for desk in desks:
        folder = tmp_path / f"export-{desk.kind}"
        said = desk.ok("export", "--requester", ANA, str(folder))
        assert said.startswith("wrote 2 ticket(s), 9 message(s) (8 .eml file(s))")
        assert said.endswith(f" about {ANA} to {folder}\n")
        exported.append(
            {
                str(path.relative_to(folder)): _masked(path.read_text(encoding="utf-8"))
                for path in sorted(folder.rglob("*"))
                if path.is_file()
            }
        )
    assert exported[0] == exported[1]
    assert "requester.json" in exported[0]

    dry = _same(desks, "purge", "--dry-run")
    assert dry.startswith("would remove 1 ticket(s)")  # the one closed sixty days ago

    erased = [desk.run("erase", "--requester", ANA, "--yes") for desk in desks]
    assert [code for code, _, _ in erased] == [0, 0]
    first, *rest = erased[1][1].splitlines()
    assert erased[0][1] == first + "\n"  # the same count on both
    assert first.startswith(f"erased {ANA}: 2 ticket(s)")
    # PostgreSQL keeps deleted rows until VACUUM: one line says so, and where to read more.
    assert len(rest) == 1
    assert "VACUUM" in rest[0]
    assert "docs/admin.md" in rest[0]
    after = _same(desks, "tickets", "--json", mask=True)
    assert ANA not in after
    assert [r["requester"] for r in json.loads(after)] == [
        "erased",
        "luis@alumnos.example",
        "erased",
    ]

    purged = _same(desks, "purge")
    assert purged.startswith("removed 1 ticket(s)")
    assert [r["ref"] for r in json.loads(_same(desks, "tickets", "--json", mask=True))] == [
        "INFO#3",
        "SOP#2",
    ]


def test_backup_copies_sqlite_and_points_postgresql_at_pg_dump(
    desks: tuple[Desk, Desk], tmp_path: Path
) -> None:
    sqlite, postgresql = desks
    copy = tmp_path / "copy.db"
    assert re.fullmatch(
        rf"wrote {copy}: 3 ticket\(s\), \d+\.\d MiB\n", sqlite.ok("backup", str(copy))
    )
    assert copy.exists()
    code, out, err = postgresql.run("backup", str(tmp_path / "pg-copy.db"))
    assert (code, out) == (1, "")
    assert len(err.splitlines()) == 1  # one line, naming the tool to use
    assert "pg_dump" in err
    assert postgresql.location.replace(PASSWORD, "***") in err  # named, its password hidden
    assert not (tmp_path / "pg-copy.db").exists()


def test_report_of_the_hand_computed_month_is_the_same_on_both_stores(
    tmp_path: Path, postgres: Postgres
) -> None:
    # tests/reports/test_monthly.py works out every figure of this month by hand.
    made = []
    for kind in ("sqlite", "postgresql"):
        folder = tmp_path / kind
        folder.mkdir()
        if kind == "sqlite":
            location = "maildesk.db"
            make_store(folder / location)
        else:
            location = str(make_store(postgres.create_database(f"cli_{next(_databases)}")))
        (folder / "config.toml").write_text(
            MONTH_CONFIG.replace('database = "maildesk.db"', f'database = "{location}"'),
            encoding="utf-8",
        )
        made.append(Desk(kind, folder, location))
    desks = (made[0], made[1])
    for fmt in ("table", "csv", "html"):
        _same(desks, "report", "--month", "2026-10", "--format", fmt)
    _same(desks, "report", "--month", "2026-10", "--queue", "soporte", "--format", "csv")
    total = json.loads(_same(desks, "report", "--month", "2026-10", "--format", "json"))
    figures = total["lines"][0]
    assert (figures["scope"], figures["opened"], figures["answered_on_time"]) == ("total", 7, 3)
    assert (figures["first_response_median_h"], figures["first_response_p90_h"]) == (2.25, 27.35)
    assert (figures["surveys_sent"], figures["satisfaction"]) == (4, 0.6667)


def test_the_reading_commands_connection_cannot_write(desks: tuple[Desk, Desk]) -> None:
    # tickets, show, sla, report … read beside the daemon: their connection must not write.
    for desk in desks:
        location = desk.folder / desk.location if desk.kind == "sqlite" else desk.location
        conn = open_reader(location)
        try:
            with pytest.raises((sqlite3.OperationalError, psycopg.errors.ReadOnlySqlTransaction)):
                conn.execute("DELETE FROM outbox")
            assert conn.execute("SELECT count(*) FROM tickets").fetchone()[0] == 3
        finally:
            conn.close()
