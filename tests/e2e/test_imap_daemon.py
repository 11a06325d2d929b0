"""``maildesk run`` collecting from a real Dovecot: every message exactly once, across
crashes, server restarts and a refused login."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ingest.test_imap import append_all, folder_flags, message, wait_until
from tests.servers import Dovecot
from tests.support.daemon import Maildesk

pytestmark = pytest.mark.server

QUEUES = (
    '[[queues]]\nname = "info"\naddresses = ["info@uni.example"]\ntag = "INFO"\n\n'
    '[[queues]]\nname = "crm"\naddresses = ["crm@uni.example"]\ntag = "CRM"\nlanguage = "en"\n'
)


class ImapDesk(Maildesk):
    """The daemon with ``[[imap]]`` accounts on the test Dovecot (passwords in files)."""

    def __init__(
        self,
        folder: Path,
        dovecot: Dovecot,
        accounts: dict[str, dict[str, Any]],
        *,
        listener: bool = True,
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        tables = []
        for name, overrides in accounts.items():
            password = overrides.pop("password", dovecot.password(name))
            (folder / f"{name}.password").write_text(password + "\n", encoding="utf-8")
            values = {
                "name": name,
                "host": dovecot.host,
                "port": dovecot.port,
                "tls": "none",
                "username": name,
                "password_file": f"{name}.password",
                "queue": name,
                **overrides,
            }
            tables.append("[[imap]]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in values.items()))
        # The text lands right after [listener]'s keys, so a first bare key belongs there.
        head = "" if listener else "enabled = false\n"
        super().__init__(folder, head + "\n" + "\n".join(tables), queues=QUEUES)
        self.listener = listener
        self.dovecot = dovecot

    def start(self) -> None:
        if self.listener:
            super().start()
        else:  # nothing listens: wait for the daemon to say it is ready
            log = self.log_path.open("ab")
            self.process = subprocess.Popen(
                [sys.executable, "-m", "maildesk", "--config", str(self.config), "run"],
                cwd=self.folder,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={k: v for k, v in os.environ.items() if not k.startswith("MAILDESK_")},
            )
            log.close()
            wait_until(lambda: "maildesk ready" in self.log(), what="the daemon to start")

    def ready(self, *names: str) -> None:
        for name in names:
            wait_until(
                lambda n=name: any("collecting from" in x for x in self.lines(f"imap:{n}: ")),  # type: ignore[misc]
                what=f"account {name} to be ready",
            )

    def kill(self) -> None:
        """SIGKILL: no clean-up, no last words."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()
        self.process = None

    def db(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        path = self.folder / "maildesk.db"
        if not path.exists():
            return []
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            return [tuple(r) for r in conn.execute(sql, args).fetchall()]
        except sqlite3.OperationalError:  # the schema is not there yet
            return []
        finally:
            conn.close()

    def count(self, sql: str, *args: object) -> int:
        rows = self.db(sql, *args)
        return int(rows[0][0]) if rows else 0

    def inbound(self) -> int:
        return self.count("SELECT count(*) FROM messages WHERE direction = 'in'")

    def folder_flags(self, user: str, folder: str) -> dict[int, tuple[bytes, ...]]:
        return folder_flags(self.dovecot, folder, user)

    def lines(self, text: str) -> list[str]:
        return [line for line in self.log().splitlines() if text in line]


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


@pytest.fixture
def server(dovecot: Dovecot) -> Dovecot:
    dovecot.add_user("crm", "crm-secret")
    return dovecot


@pytest.fixture
def desks() -> Iterator[list[ImapDesk]]:
    """Daemons to stop (before Dovecot stops) whatever a test does."""
    started: list[ImapDesk] = []
    yield started
    for desk in started:
        desk.stop()


def test_two_accounts_feed_two_queues_within_seconds(
    tmp_path: Path, server: Dovecot, desks: list[ImapDesk]
) -> None:
    desk = ImapDesk(tmp_path / "desk", server, {"info": {}, "crm": {}})
    desks.append(desk)
    desk.start()
    desk.ready("info", "crm")

    server.append("info", "INBOX", message(1))
    server.append("crm", "INBOX", message(2, to="crm@uni.example"))
    # IDLE, not the 60 s poll, brings both in (how fast is bench/imap_ingest.py's figure).
    wait_until(lambda: desk.count("SELECT count(*) FROM tickets") == 2, timeout=30)
    assert sorted(desk.db("SELECT queue, subject FROM tickets")) == [
        ("crm", "Solicitud 2"),
        ("info", "Solicitud 1"),
    ]
    assert sorted(desk.db("SELECT DISTINCT source FROM messages WHERE direction = 'in'")) == [
        ("imap:crm",),
        ("imap:info",),
    ]
    acks = sorted(path.read_bytes() for path in desk.outbox_files(2))
    assert any(b"[CRM#" in ack for ack in acks)
    assert any(b"[INFO#" in ack for ack in acks)
    for user in ("info", "crm"):
        wait_until(lambda u=user: len(desk.folder_flags(u, "Processed")) == 1)  # type: ignore[misc]
        assert desk.folder_flags(user, "INBOX") == {}

    report = desk.cli("check").stdout
    assert "imap info: logged in to 127.0.0.1" in report
    assert "  folder 'INBOX': exists, 0 message(s)" in report
    assert "  processed_folder 'Processed': exists" in report
    assert "  IDLE: supported; MOVE: supported" in report

    assert desk.stop() == 0
    assert server.log_path.read_text().count("Disconnected: Logged out") >= 2


def test_sigkill_at_random_moments_loses_nothing_and_stores_nothing_twice(
    tmp_path: Path, server: Dovecot, desks: list[ImapDesk]
) -> None:
    total = 300
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    append_all(server, [message(n) for n in range(1, total + 1)])
    desk = ImapDesk(tmp_path / "desk", server, {"info": {"batch_size": 25}})
    desks.append(desk)

    kills = []
    for threshold in sorted(rng.sample(range(10, total - 30), 4)):
        desk.start()
        wait_until(
            lambda t=threshold: desk.inbound() >= t,  # type: ignore[misc]
            timeout=30,
            what=f"{threshold} messages (seed {seed})",
        )
        time.sleep(rng.uniform(0, 0.05))
        desk.kill()
        kills.append(desk.inbound())

    desk.start()
    wait_until(lambda: desk.inbound() == total, timeout=30, what=f"every message (seed {seed})")
    wait_until(lambda: desk.folder_flags("info", "INBOX") == {}, what="an empty INBOX")
    # The UID is recorded just after the move that empties the folder: wait for it too.
    recorded: list[Any] = []

    def last_uid_recorded() -> bool:
        recorded[:] = desk.db("SELECT folder, uidvalidity, last_uid FROM imap_state")
        return [row[2] for row in recorded] == [total]

    deadline = time.monotonic() + 20
    while not last_uid_recorded():
        assert time.monotonic() < deadline, f"last UID not {total} (seed {seed}): {recorded}"
        time.sleep(0.05)
    assert desk.stop() == 0

    assert kills[0] < total, f"the first kill came after the work was done (seed {seed})"
    ids = [r[0] for r in desk.db("SELECT message_id FROM messages WHERE direction = 'in'")]
    assert len(ids) == len(set(ids)) == total, f"seed {seed}"
    tickets = desk.count("SELECT count(*) FROM tickets")
    assert tickets == total
    assert desk.count("SELECT count(*) FROM outbox WHERE kind = 'ack'") == tickets
    assert desk.count("SELECT count(*) FROM quarantine") == 0
    processed = desk.folder_flags("info", "Processed")
    assert len(processed) == total, f"seed {seed}"
    assert all(b"\\Seen" in flags for flags in processed.values())
    [(last_uid,)] = desk.db("SELECT last_uid FROM imap_state")
    assert last_uid == total


def test_a_dovecot_restart_is_survived_and_nothing_is_lost(
    tmp_path: Path, server: Dovecot, desks: list[ImapDesk]
) -> None:
    desk = ImapDesk(tmp_path / "desk", server, {"info": {}})
    desks.append(desk)
    desk.start()
    desk.ready("info")
    append_all(server, [message(n) for n in range(1, 41)])

    server.stop()  # while the daemon may still be working through the 40
    time.sleep(1)
    server.start()
    append_all(server, [message(n) for n in range(41, 51)])

    wait_until(lambda: desk.inbound() == 50, timeout=30, what=f"50 messages\n{desk.log()}")
    wait_until(lambda: len(desk.folder_flags("info", "Processed")) == 50)
    assert desk.alive()
    assert (
        desk.count("SELECT count(DISTINCT message_id) FROM messages WHERE direction = 'in'") == 50
    )
    assert len(desk.lines("reconnecting with backoff")) == 1, desk.log()
    assert len(desk.lines("reconnected after")) == 1, desk.log()
    assert desk.stop() == 0


def test_a_refused_login_is_one_clear_line_and_the_other_account_keeps_working(
    tmp_path: Path, server: Dovecot, desks: list[ImapDesk]
) -> None:
    desk = ImapDesk(tmp_path / "desk", server, {"info": {}, "crm": {"password": "Bad-Pass-7"}})
    desks.append(desk)
    desk.start()
    desk.ready("info")
    wait_until(lambda: bool(desk.lines("imap:crm:")), what="the refused login")

    for number in range(1, 4):
        server.append("info", "INBOX", message(number))
    wait_until(lambda: desk.count("SELECT count(*) FROM tickets") == 3)
    time.sleep(2)  # a crash loop or a tight retry would show by now

    assert desk.alive()
    [refused] = desk.lines("imap:crm:")
    assert refused.startswith("ERROR maildesk.ingest.imap: imap:crm: login to 127.0.0.1:")
    assert "as crm (password from " in refused
    assert "refused: [AUTHENTICATIONFAILED]" in refused
    assert "retrying with backoff" in refused
    assert "Bad-Pass-7" not in desk.log()
    assert server.log_path.read_text().count("user=<crm>") <= 2  # it backs off

    check = desk.cli("check", check=False)
    assert check.returncode == 1
    assert "imap info: logged in" in check.stdout
    assert "maildesk: imap crm: login to" in check.stderr
    assert "IMAP account(s) not ready: crm" in check.stderr

    started = time.monotonic()
    assert desk.stop() == 0
    assert time.monotonic() - started < 15  # within systemd's stop bound, not after a backoff


def test_with_the_listener_disabled_imap_alone_runs_and_stops_cleanly(
    tmp_path: Path, server: Dovecot, desks: list[ImapDesk]
) -> None:
    desk = ImapDesk(tmp_path / "desk", server, {"info": {}}, listener=False)
    desks.append(desk)
    desk.start()
    desk.ready("info")
    assert "listener disabled" in desk.log()
    server.append("info", "INBOX", message(1))
    wait_until(lambda: desk.count("SELECT count(*) FROM tickets") == 1, timeout=30)

    assert desk.process is not None
    started = time.monotonic()
    desk.process.send_signal(signal.SIGTERM)
    assert desk.process.wait(timeout=10) == 0
    assert time.monotonic() - started < 15
    desk.process = None
    assert "imap:info: stopped" in desk.log()
    wait_until(lambda: "Disconnected: Logged out" in server.log_path.read_text())
