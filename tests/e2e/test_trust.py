"""Privacy and trust, end to end: ``maildesk run`` as a subprocess, real SMTP into its
listener and a real SMTP sink as its relay. A stranger who answers one of our mails reads
nothing of later replies; mail claiming an agent's address without proof changes nothing;
a relay password never goes in clear text off this machine."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.servers import SmtpSink
from tests.servers.smtp_sink import ReceivedMessage
from tests.support.daemon import Maildesk, mail
from tests.support.desks import QUEUES
from tests.support.messages import parse_mail, text_of

AGENTS = """
[[agents]]
name = "Berta Gómez"
addresses = ["berta@uni.example"]
groups = ["secretaria"]

[agent_auth]
require = true
authserv_ids = ["mx.uni.example"]
"""
PASSED = "mx.uni.example; dkim=pass header.d=uni.example"  # what our MTA would write
ANA = "ana@alumnos.example"
BERTA = "berta@uni.example"


@pytest.fixture
def desk(tmp_path: Path, smtp_sink: SmtpSink) -> Iterator[Maildesk]:
    relay = (
        f'[outgoing]\ntransport = "smtp"\nhost = "127.0.0.1"\nport = {smtp_sink.port}\n'
        'tls = "none"\nretry_seconds = 1\n'
    )
    daemon = Maildesk(tmp_path / "desk", extra_config=relay + AGENTS, queues=QUEUES)
    daemon.start()
    try:
        yield daemon
    finally:
        assert daemon.stop() == 0, daemon.log()


class Relay:
    """What the daemon handed to the relay so far, read from the sink in order."""

    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink
        self.seen = 0

    def new(self, count: int, *, settle: float = 1.0) -> list[tuple[ReceivedMessage, EmailMessage]]:
        """Wait for ``count`` more deliveries, then check for ``settle`` s that no more come."""
        self.sink.wait_for(self.seen + count, timeout=20)
        time.sleep(settle)
        found = self.sink.messages[self.seen :]
        self.seen += len(found)
        assert len(found) == count, [(m.rcpt_tos, parse_mail(m.data)["Subject"]) for m in found]
        return [(m, parse_mail(m.data)) for m in found]

    def one(self, address: str) -> EmailMessage:
        """The next delivery, which must go to ``address`` alone."""
        [(received, message)] = self.new(1)
        assert received.rcpt_tos == (address,), received.rcpt_tos
        return message

    def to(self, address: str) -> list[EmailMessage]:
        return [parse_mail(m.data) for m in self.sink.messages if address in m.rcpt_tos]


def opened(desk: Maildesk, relay: Relay) -> EmailMessage:
    """Ana's request, acknowledged to her and notified to Berta: the notification."""
    desk.send(
        mail(
            f"Ana Pérez <{ANA}>",
            "info@uni.example",
            "Certificado",
            "DNI 123, curso 2º",
            message_id="<r1@alumnos.example>",
        )
    )
    deliveries = relay.new(2)
    [notification] = [m for r, m in deliveries if r.rcpt_tos == (BERTA,)]
    assert [r.rcpt_tos for r, _ in deliveries if r.rcpt_tos != (BERTA,)] == [(ANA,)]
    return notification


def agent_answer(notification: EmailMessage, body: str, message_id: str) -> EmailMessage:
    answer = mail(
        f"Berta Gómez <{BERTA}>",
        "info@uni.example",
        f"RE: {notification['Subject']}",
        body,
        message_id=message_id,
        in_reply_to=str(notification["Message-ID"]),
        references=str(notification["Message-ID"]),
    )
    answer["Authentication-Results"] = PASSED
    return answer


def test_a_stranger_who_answers_a_forwarded_notification_receives_no_reply(
    desk: Maildesk, smtp_sink: SmtpSink
) -> None:
    relay = Relay(smtp_sink)
    notification = opened(desk, relay)

    # Berta forwarded the notification outside; the stranger answers it, copying a friend.
    desk.send(
        mail(
            "Eve <eve@fuera.example>",
            "info@uni.example",
            f"RE: RV: {notification['Subject']}",
            "¿Y esto qué es?",
            message_id="<e1@fuera.example>",
            in_reply_to=str(notification["Message-ID"]),
            references=str(notification["Message-ID"]),
            cc="zoe@fuera.example",
        )
    )
    told = relay.one(BERTA)  # the agents hear it; the stranger gets nothing
    assert "eve@fuera.example" in text_of(told)
    assert "¿Y esto qué es?" in text_of(told)
    ticket = desk.json("show", "1")
    inbound = [m["from_addr"] for m in ticket["messages"] if m["direction"] == "in"]
    assert inbound == [ANA, "eve@fuera.example"]
    assert [p["address"] for p in ticket["participants"]] == [ANA]

    desk.send(agent_answer(told, "Ana, su certificado está listo.", "<b1@uni.example>"))
    reply = relay.one(ANA)
    assert text_of(reply).startswith("Ana, su certificado está listo.")
    assert reply["In-Reply-To"] == "<r1@alumnos.example>"
    assert relay.to("eve@fuera.example") == relay.to("zoe@fuera.example") == []
    assert desk.json("show", "1")["state"] == "open"


def test_a_stranger_cannot_move_a_pending_ticket_back_to_open(
    desk: Maildesk, smtp_sink: SmtpSink
) -> None:
    relay = Relay(smtp_sink)
    notification = opened(desk, relay)
    desk.send(
        agent_answer(notification, "#pendiente\n\nEnvíe su DNI, por favor.", "<b1@uni.example>")
    )
    relay.one(ANA)  # the question reaches the requester
    assert desk.json("show", "1")["state"] == "pending"

    desk.send(
        mail(
            "Eve <eve@fuera.example>",
            "info@uni.example",
            f"RE: RV: {notification['Subject']}",
            "Yo no soy Ana, pero aquí tiene un DNI.",
            message_id="<e2@fuera.example>",
            in_reply_to=str(notification["Message-ID"]),
            references=str(notification["Message-ID"]),
        )
    )
    told = relay.one(BERTA)  # the agents read it all the same
    assert "Yo no soy Ana" in text_of(told)
    ticket = desk.json("show", "1")
    assert ticket["state"] == "pending"  # still waiting on Ana: her reminder stays due
    assert relay.to("eve@fuera.example") == []


def test_a_forged_agent_mail_on_a_pending_ticket_is_held(
    desk: Maildesk, smtp_sink: SmtpSink
) -> None:
    relay = Relay(smtp_sink)
    notification = opened(desk, relay)
    desk.send(
        agent_answer(notification, "#pendiente\n\nEnvíe su DNI, por favor.", "<b1@uni.example>")
    )
    relay.one(ANA)
    assert desk.json("show", "1")["state"] == "pending"

    # From Berta's address, but our MTA did not vouch for it.
    forged = agent_answer(
        notification, "#cerrar\n\nDenegado. Escriba a mallory@evil.example.", "<f1@evil.example>"
    )
    forged.replace_header("Authentication-Results", "evil.example; dkim=pass header.d=uni.example")
    forged["Cc"] = "mallory@evil.example"
    desk.send(forged, sender="mallory@evil.example", to=["info@uni.example"])
    warning = relay.one(BERTA)  # nothing to Ana, nothing to Mallory
    ticket = desk.json("show", "1")
    assert ticket["state"] == "pending"
    text = text_of(warning)
    assert "Mensaje retenido en la solicitud INFO#1" in text
    assert "dice venir del agente Berta Gómez" in text
    assert "no superó la\ncomprobación de autenticidad" in text
    assert [p["address"] for p in ticket["participants"]] == [ANA]
    assert [m["kind"] for m in ticket["messages"] if m["direction"] == "in"][-1] == "held"
    assert relay.to("mallory@evil.example") == []
    assert len(relay.to(ANA)) == 2  # the acknowledgement and Berta's real question
    assert "held for the agents" in desk.log()


@pytest.mark.parametrize("command", ["check", "run"])
def test_a_relay_login_in_clear_text_off_this_machine_is_refused(
    tmp_path: Path, command: str
) -> None:
    config = tmp_path / "config.toml"
    (tmp_path / "smtp-password").write_text("Relay-Pass-1\n", encoding="utf-8")
    config.write_text(
        '[outgoing]\ntransport = "smtp"\nhost = "smtp.uni.example"\n'
        'tls = "none"\nusername = "info@uni.example"\npassword_file = "smtp-password"\n',
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "maildesk", "--config", str(config), command],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(
        f"maildesk: {config}:4: key 'outgoing.tls': 'none' with a username would send the"
        " relay password in clear text; it is allowed only for a loopback host,"
        " got 'smtp.uni.example' (use 'tls' or 'starttls')"
    )
    assert "Relay-Pass-1" not in result.stdout + result.stderr
    assert not (tmp_path / "maildesk.db").exists()
