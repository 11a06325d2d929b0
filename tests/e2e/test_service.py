"""``maildesk run`` as a service: sd_notify, SIGHUP reload, SIGTERM mid-batch, the unit file."""

from __future__ import annotations

import re
import shutil
import signal
import smtplib
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.daemon import Maildesk, mail

ROOT = Path(__file__).resolve().parents[2]


class NotifySocket:
    """Where systemd listens for sd_notify datagrams: a Unix datagram socket."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="md-notify-"))  # short: sun_path limit
        self.path = str(self.folder / "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.received: list[str] = []

    def wait_for(self, text: str, after: int = 0, timeout: float = 15.0) -> int:
        """Index of the first datagram from ``after`` on that contains ``text``."""
        deadline = time.monotonic() + timeout
        while True:
            for index in range(after, len(self.received)):
                if text in self.received[index]:
                    return index
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {text!r} in {self.received}")
            self.sock.settimeout(remaining)
            try:
                self.received.append(self.sock.recv(4096).decode())
            except TimeoutError:
                continue

    def close(self) -> None:
        self.sock.close()
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture
def notify() -> Iterator[NotifySocket]:
    listener = NotifySocket()
    try:
        yield listener
    finally:
        listener.close()


def wait_log(desk: Maildesk, text: str, count: int = 1, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while desk.log().count(text) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} not logged {count} time(s)\n{desk.log()}")
        time.sleep(0.05)


def test_systemd_hears_ready_status_watchdog_reload_and_stopping(
    tmp_path: Path, notify: NotifySocket
) -> None:
    desk = Maildesk(tmp_path / "desk")
    desk.env = {"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "1000000"}
    desk.start()
    try:
        ready = notify.wait_for("READY=1")
        assert (
            notify.received[ready] == "READY=1\nSTATUS=0 message(s) taken since start; relay idle"
        )
        ping = notify.wait_for("WATCHDOG=1", after=ready)
        notify.wait_for("WATCHDOG=1", after=ping + 1)  # every half period, not once
        desk.send(mail("ana@example.com", "info@uni.example", "Hola"))
        notify.wait_for("STATUS=1 message(s) taken since start; relay ok")
        assert desk.process is not None
        desk.process.send_signal(signal.SIGHUP)
        reloading = notify.wait_for("RELOADING=1")
        assert "MONOTONIC_USEC=" in notify.received[reloading]
        notify.wait_for("READY=1", after=reloading)
    finally:
        code = desk.stop()
    assert code == 0, desk.log()
    assert notify.received[notify.wait_for("STOPPING=1")] == "STOPPING=1\nSTATUS=stopping"


def test_sighup_applies_a_good_config_and_keeps_the_old_one_over_a_bad_one(
    tmp_path: Path,
) -> None:
    desk = Maildesk(tmp_path / "desk")
    desk.start()
    good = desk.config.read_text(encoding="utf-8")
    assert desk.process is not None
    try:
        with desk.smtp() as kept:  # a connection open across reloads stays usable
            kept.noop()
            # A new queue and a new organization name; the port change must wait.
            desk.config.write_text(
                good.replace("Universidad de Prueba", "Universidad Renovada").replace(
                    f"port = {desk.port}", "port = 2525"
                )
                + '\n[[queues]]\nname = "ventas"\naddresses = ["ventas@uni.example"]\n'
                'tag = "VEN"\n',
                encoding="utf-8",
            )
            desk.process.send_signal(signal.SIGHUP)
            wait_log(desk, "configuration reloaded")
            assert "the change to [listener] takes effect at the next restart" in desk.log()
            kept.send_message(mail("eva@example.com", "ventas@uni.example", "Precios"))
            [ack] = desk.outbox_files(1)
            assert b"[VEN#1] Precios" in ack.read_bytes()
            assert b"Universidad Renovada" in ack.read_bytes()

            # A bad file: every problem is logged with its key; nothing changes.
            desk.config.write_text(
                good.replace("[listener]\n", '[listener]\nprotocl = "smtp"\n')
                + '\n[[queues]]\nname = "Ventas!"\naddresses = []\ntag = "VEN"\n',
                encoding="utf-8",
            )
            desk.process.send_signal(signal.SIGHUP)
            wait_log(desk, "reload rejected: the running configuration stays in force")
            assert "key 'listener.protocl': unknown key" in desk.log()
            # A bad site template is refused the same way.
            site = desk.folder / "site" / "es"
            site.mkdir(parents=True)
            (site / "ack.txt.j2").write_text("Hola {% if %}\n", encoding="utf-8")
            desk.config.write_text(
                good.replace("[maildesk]\n", '[maildesk]\ntemplates_dir = "site"\n'),
                encoding="utf-8",
            )
            desk.process.send_signal(signal.SIGHUP)
            wait_log(desk, "reload rejected: the running configuration stays in force", 2)
            assert "site/es/ack.txt.j2:1: Expected an expression" in desk.log()

            kept.send_message(mail("eva@example.com", "ventas@uni.example", "Plazos"))
            with pytest.raises(smtplib.SMTPRecipientsRefused):
                kept.send_message(mail("eva@example.com", "nadie@uni.example", "Hola"))
        acks = [p.read_bytes() for p in desk.outbox_files(2)]
        assert b"[VEN#2] Plazos" in acks[1]
        assert b"Universidad Renovada" in acks[1]  # the good config is still in force
        assert desk.alive()
    finally:
        assert desk.stop() == 0, desk.log()


def _sender(desk: Maildesk, worker: int, answered: list[str], stop: threading.Event) -> None:
    """Send until the daemon stops answering; record the Message-IDs answered 250."""
    try:
        with desk.smtp() as client:
            for n in range(10_000):
                if stop.is_set():
                    return
                message_id = f"<w{worker}.{n}@load.example>"
                client.send_message(
                    mail(
                        f"p{worker}.{n}@load.example",
                        "info@uni.example",
                        f"Carga {worker}.{n}",
                        "x" * 2000,
                        message_id=message_id,
                    )
                )
                answered.append(message_id.strip("<>"))  # send_message returned: a 250
    except (smtplib.SMTPException, OSError):
        return  # 421, 451 or a closed connection: the sender keeps the mail


def test_sigterm_mid_batch_loses_nothing_that_got_a_250(tmp_path: Path) -> None:
    desk = Maildesk(tmp_path / "desk")
    desk.start()
    answered: list[str] = []
    stop = threading.Event()
    workers = [threading.Thread(target=_sender, args=(desk, w, answered, stop)) for w in range(8)]
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + 30
    while len(answered) < 100 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert desk.process is not None
    # One more sender is halfway through its message when SIGTERM comes.
    in_hand = desk.smtp()
    in_hand.ehlo()
    in_hand.mail("slow@load.example")
    in_hand.rcpt("info@uni.example")
    assert in_hand.docmd("DATA")[0] == 354
    body = mail("slow@load.example", "info@uni.example", "Lenta", message_id="<slow@load>")
    head, tail = body.as_bytes().replace(b"\n", b"\r\n").split(b"\r\n\r\n", 1)
    in_hand.send(head + b"\r\n\r\n")
    sent_sigterm = time.monotonic()
    desk.process.send_signal(signal.SIGTERM)
    try:
        wait_log(desk, "no new mail accepted")
        in_hand.send(tail + b"\r\n.\r\n")
        assert in_hand.getreply()[0] == 250  # the message in hand is finished
        in_hand.close()
        code = desk.process.wait(timeout=30)
    finally:
        stop.set()
        for worker in workers:
            worker.join(30)
    took = time.monotonic() - sent_sigterm
    assert code == 0, desk.log()
    assert took < 22, f"stopping took {took:.1f} s"
    conn = sqlite3.connect(desk.folder / "maildesk.db")
    try:
        stored = {
            r[0] for r in conn.execute("SELECT message_id FROM messages WHERE direction = 'in'")
        }
        tickets = conn.execute("SELECT count(*) FROM tickets").fetchone()[0]
        acks = conn.execute("SELECT count(*), sum(state = 'sent') FROM outbox").fetchone()
    finally:
        conn.close()
    assert len(answered) >= 100
    assert set(answered) <= stored, f"answered 250 but not stored: {set(answered) - stored}"
    assert "slow@load" in stored
    assert acks[0] == tickets == len(stored)  # every request has its acknowledgement queued
    assert acks[1] == len(list(desk.outbox.glob("*.eml")))  # and those marked sent exist
    assert "no new mail accepted" in desk.log()
    # Started again, it sends whatever acknowledgement the stop left pending.
    desk.start()
    try:
        desk.outbox_files(tickets, timeout=30)
    finally:
        assert desk.stop() == 0, desk.log()


def test_the_unit_file_verifies_and_scores_well_in_systemd_analyze(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze is missing: install the Debian package systemd")
    unit = tmp_path / "maildesk.service"
    text = (ROOT / "systemd" / "maildesk.service").read_text(encoding="utf-8")
    assert "/opt/maildesk/.venv/bin/maildesk run" in text
    # verify checks that ExecStart exists: point it at this checkout's maildesk.
    local = Path(sys.executable).parent / "maildesk"  # the virtualenv running the tests
    unit.write_text(text.replace("/opt/maildesk/.venv/bin/maildesk", str(local)), "utf-8")
    verify = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    assert verify.returncode == 0, verify.stderr
    assert verify.stderr == ""
    security = subprocess.run(
        [analyze, "security", "--offline=yes", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert security.returncode == 0, security.stderr
    score = re.search(
        r"Overall exposure level for maildesk.service: ([\d.]+) (\w+)", security.stdout
    )
    assert score is not None, security.stdout
    assert float(score[1]) <= 2.0, security.stdout
    for directive in ("Type=notify", "WatchdogSec=", "ExecReload=", "StateDirectory=maildesk"):
        assert directive in text
