"""A real second autoresponder on loopback, wired to the daemon: every loop dies out by itself."""

from __future__ import annotations

import email
import email.policy
import itertools
import smtplib
import threading
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.support.daemon import Maildesk, free_port, mail


class Autoresponder:
    """Answers every message it receives with an out-of-office, sent back over SMTP.

    ``style`` decides how well-behaved it is: "rfc3834" marks its replies as RFC 3834
    asks, "bare" only says so in the subject, "hostile" sends a fresh, unmarked,
    unthreaded mail each time (the worst case: only the rate limit can stop it).
    """

    def __init__(self, style: str, reply_port: int) -> None:
        self.style = style
        self.reply_port = reply_port
        self.port = free_port()
        self.received: list[bytes] = []
        self.sent = 0
        self._counter = itertools.count(1)
        self._outgoing: list[EmailMessage] = []
        self._lock = threading.Condition()
        self._stop = False
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._sender = threading.Thread(target=self._send_loop, daemon=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = bytes(envelope.original_content)
        incoming = email.message_from_bytes(raw, policy=email.policy.default)
        with self._lock:
            self.received.append(raw)
            self._outgoing.append(self._reply_to(incoming))
            self._lock.notify()
        return "250 OK"

    def _reply_to(self, incoming: Any) -> EmailMessage:
        n = next(self._counter)
        reply = EmailMessage()
        reply["From"] = "Robot <robot@partner.example>"
        reply["To"] = str(incoming["From"].addresses[0].addr_spec)
        reply["Message-ID"] = f"<auto{n}@partner.example>"
        if self.style == "hostile":
            reply["Subject"] = f"Mensaje recibido número {n}"
        else:
            reply["In-Reply-To"] = str(incoming["Message-ID"])
            reply["Subject"] = f"Out of office: {incoming['Subject']}"
            if self.style == "rfc3834":
                reply["Auto-Submitted"] = "auto-replied"
        reply.set_content("I am away until Monday.")
        return reply

    def _send_loop(self) -> None:
        while True:
            with self._lock:
                while not self._outgoing and not self._stop:
                    self._lock.wait()
                if self._stop:
                    return
                message = self._outgoing.pop(0)
            with smtplib.SMTP("127.0.0.1", self.reply_port, timeout=30) as client:
                client.send_message(message, from_addr="robot@partner.example")
            self.sent += 1

    def start(self) -> None:
        self._controller.start()
        self._sender.start()

    def stop(self) -> None:
        with self._lock:
            self._stop = True
            self._lock.notify()
        self._sender.join(timeout=10)
        self._controller.stop()


def settle(responder: Autoresponder, quiet: float = 3.0, limit: float = 60.0) -> None:
    """Wait until nothing has moved for ``quiet`` seconds (or fail after ``limit``)."""
    deadline = time.monotonic() + limit
    last = (-1, -1)
    still_since = time.monotonic()
    while time.monotonic() < deadline:
        now = (len(responder.received), responder.sent)
        if now != last:
            last, still_since = now, time.monotonic()
        elif time.monotonic() - still_since >= quiet:
            return
        time.sleep(0.1)
    raise AssertionError(f"the loop never died out: {last}")


Start = Callable[[str], tuple[Maildesk, Autoresponder]]


@pytest.fixture
def desk_with(tmp_path: Path) -> Iterator[Start]:
    started: list[tuple[Maildesk, Autoresponder]] = []

    def start(style: str) -> tuple[Maildesk, Autoresponder]:
        desk = Maildesk(tmp_path / style)
        responder = Autoresponder(style, desk.port)
        desk.config.write_text(
            desk.config.read_text(encoding="utf-8")
            + f'\n[outgoing]\ntransport = "smtp"\nhost = "127.0.0.1"\nport = {responder.port}\n'
            'tls = "none"\nretry_seconds = 1\n',
            encoding="utf-8",
        )
        responder.start()
        started.append((desk, responder))
        desk.start()
        return desk, responder

    yield start
    for desk, responder in started:
        responder.stop()
        assert desk.stop() == 0, desk.log()


@pytest.mark.parametrize("style", ["rfc3834", "bare"])
def test_a_marked_out_of_office_gets_no_answer(desk_with: Start, style: str) -> None:
    desk, responder = desk_with(style)
    desk.send(mail("robot@partner.example", "info@uni.example", "Consulta", message_id="<q@p.x>"))
    settle(responder)
    assert len(responder.received) == 1  # our single acknowledgement
    assert responder.sent == 1  # its single out-of-office, recorded on the ticket
    [ticket] = desk.json("tickets")
    kinds = [m["kind"] for m in desk.json("show", str(ticket["number"]))["messages"]]
    assert kinds == ["human", "ack", "out_of_office"]


def test_an_unmarked_robot_is_stopped_by_the_rate_limit(desk_with: Start) -> None:
    desk, responder = desk_with("hostile")
    desk.send(mail("robot@partner.example", "info@uni.example", "Consulta", message_id="<h@p.x>"))
    settle(responder)
    # Five acknowledgements an hour to one address (the default), then silence.
    assert len(responder.received) == 5
    assert responder.sent == 5
    assert "loop guard" in desk.log()
    assert len(desk.json("tickets")) == 6  # every message is still registered
