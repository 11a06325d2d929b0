"""A relay that accepts every recipient and then bounces one agent's mail with a DSN sent
back to the daemon's listener, as a real MTA does when a mailbox is full downstream: the
bounce is recorded, the coordinators hear of it once, and no mail loop starts."""

from __future__ import annotations

import smtplib
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.support.daemon import Maildesk, free_port, mail
from tests.support.desks import AGENTS, QUEUES
from tests.support.messages import parse_mail, text_of

FULL = "berta@uni.example"


def dsn(original: bytes, queue_address: str, failed: str, n: int) -> bytes:
    """A Postfix-like RFC 3464 report that ``failed`` did not get ``original``."""
    headers = original.split(b"\r\n\r\n", 1)[0].replace(b"\r\n", b"\n")
    return (
        (
            f"From: Mail Delivery System <MAILER-DAEMON@relay.example>\n"
            f"To: {queue_address}\nSubject: Undelivered Mail Returned to Sender\n"
            f"Message-ID: <dsn{n}@relay.example>\nAuto-Submitted: auto-replied\n"
            "MIME-Version: 1.0\n"
            'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
            "--b\nContent-Type: text/plain\n\n"
            f"<{failed}>: host mx.uni.example said: 552 5.2.2 mailbox full\n\n"
            "--b\nContent-Type: message/delivery-status\n\n"
            "Reporting-MTA: dns; relay.example\n\n"
            f"Final-Recipient: rfc822; {failed}\nAction: failed\nStatus: 5.2.2\n\n"
            "--b\nContent-Type: text/rfc822-headers\n\n"
        ).encode()
        + headers
        + b"\n\n--b--\n"
    )


class BouncingRelay:
    """Accepts everything at RCPT, records it, and sends a DSN for ``FULL``'s copy back to
    the daemon (envelope sender <>), from its own thread as an MTA's bounce queue does."""

    def __init__(self, reply_port: int) -> None:
        self.reply_port = reply_port
        self.port = free_port()
        self.received: list[tuple[tuple[str, ...], bytes]] = []
        self.bounced = 0
        self._pending: list[bytes] = []
        self._lock = threading.Condition()
        self._stop = False
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._thread = threading.Thread(target=self._bounce_loop, daemon=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = bytes(envelope.original_content)
        rcpt = tuple(str(r).lower() for r in envelope.rcpt_tos)
        with self._lock:
            self.received.append((rcpt, raw))
            if FULL in rcpt:
                self._pending.append(dsn(raw, str(envelope.mail_from), FULL, len(self.received)))
                self._lock.notify()
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [parse_mail(raw) for rcpt, raw in self.received if address in rcpt]

    def _bounce_loop(self) -> None:
        while True:
            with self._lock:
                while not self._pending and not self._stop:
                    self._lock.wait()
                if self._stop:
                    return
                report = self._pending.pop(0)
            with smtplib.SMTP("127.0.0.1", self.reply_port, timeout=30) as client:
                client.sendmail("", ["info@uni.example"], report)
            self.bounced += 1

    def moves(self) -> tuple[int, int]:
        with self._lock:
            return len(self.received), self.bounced

    def start(self) -> None:
        self._controller.start()
        self._thread.start()

    def stop(self) -> None:
        with self._lock:
            self._stop = True
            self._lock.notify()
        self._thread.join(timeout=10)
        self._controller.stop()


def settle(relay: BouncingRelay, quiet: float = 3.0, limit: float = 30.0) -> None:
    """Wait until nothing has moved for ``quiet`` seconds; fail after ``limit``."""
    deadline = time.monotonic() + limit
    last, still_since = (-1, -1), time.monotonic()
    while time.monotonic() < deadline:
        now = relay.moves()
        if now != last:
            last, still_since = now, time.monotonic()
        elif time.monotonic() - still_since >= quiet:
            return
        time.sleep(0.1)
    raise AssertionError(f"the bounces never died out: {last} (messages, bounces)")


@pytest.fixture
def bouncing(tmp_path: Path) -> Iterator[tuple[Maildesk, BouncingRelay]]:
    desk = Maildesk(tmp_path / "desk", extra_config=AGENTS, queues=QUEUES)
    relay = BouncingRelay(desk.port)
    desk.config.write_text(
        desk.config.read_text(encoding="utf-8")
        + f'\n[outgoing]\ntransport = "smtp"\nhost = "127.0.0.1"\nport = {relay.port}\n'
        'tls = "none"\nretry_seconds = 1\n',
        encoding="utf-8",
    )
    relay.start()
    desk.start()
    try:
        yield desk, relay
    finally:
        relay.stop()
        assert desk.stop() == 0, desk.log()


def test_a_bounced_agent_notification_starts_no_loop(
    bouncing: tuple[Maildesk, BouncingRelay],
) -> None:
    desk, relay = bouncing
    for n in (1, 2):
        desk.send(mail("ana@example.com", "info@uni.example", f"Beca {n}", message_id=f"<b{n}@x>"))
    settle(relay)
    # One notification per request, each bounced once: the bounce causes no more mail to her.
    assert len(relay.to(FULL)) == 2, desk.log()
    assert relay.bounced == 2
    assert len(relay.to("ana@example.com")) == 2  # the two acknowledgements
    # The coordinator hears of the full mailbox once a day, not once per bounce.
    [told] = relay.to("carlos@uni.example")
    assert FULL in text_of(told)
    assert "devuelto" in text_of(told)
    assert desk.log().count(f"outgoing notify to {FULL} bounced: recorded") == 2
    rows = desk.json("outbox")
    assert sum(r["state"] == "bounced" for r in rows) == 2
    events = [e["kind"] for e in desk.json("show", "1")["events"]]
    assert "bounced" in events


def test_every_kind_of_mail_falls_under_the_loop_cap(tmp_path: Path) -> None:
    desk = Maildesk(
        tmp_path / "desk",
        extra_config=AGENTS + "[limits]\nmails_per_recipient_per_hour = 3\n",
        queues=QUEUES,
    )
    desk.start()
    try:
        for n in range(5):
            desk.send(mail(f"p{n}@example.com", "info@uni.example", f"Caso {n}"))
        files = desk.outbox_files(8)
        time.sleep(1.0)  # nothing more comes
        sent = [parse_mail(f.read_bytes()) for f in sorted(desk.outbox.glob("*.eml"))]
        to_agent = [m for m in sent if m["To"].addresses[0].addr_spec == FULL]
        assert len(files) == len(sent) == 8  # five acknowledgements, three notifications
        assert len(to_agent) == 3
        log = desk.log()
        assert log.count(f"loop cap: not sending notify to {FULL}") == 2
        events = [(e["kind"], e["detail"]) for e in desk.json("show", "5")["events"]]
        assert ("loop-capped", f"no notify to {FULL}") in events
        assert len(desk.json("tickets")) == 5  # every request is still registered
    finally:
        assert desk.stop() == 0, desk.log()
