"""An anonymous complaints queue, end to end: ``maildesk run`` with a real SMTP relay on
loopback. The complainant gets every answer at their own address; agents, notifications,
listings, reports, logs and the database itself never hold their name or address."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.servers import SmtpSink
from tests.servers.smtp_sink import ReceivedMessage
from tests.support.daemon import Maildesk
from tests.support.messages import parse_mail, text_of, to_of

REAL = "ana.ruiz@alumnos.example"
NAME = "Ana Ruiz Domínguez"
FRIEND = "pepe@otro.example"
# What must never appear where agents, admins or logs can read it.
LEAKS = (REAL, "ana.ruiz", NAME, "Ruiz Domínguez", FRIEND)

CONFIG = """
[[agents]]
name = "Berta Gómez"
addresses = ["berta@uni.example"]
groups = ["etica"]

[[agents]]
name = "Carlos"
addresses = ["carlos@uni.example"]
groups = ["etica"]
coordinator = true
"""
QUEUES = """
[[queues]]
name = "info"
addresses = ["info@uni.example"]
tag = "INFO"

[[queues]]
name = "quejas"
addresses = ["quejas@uni.example"]
tag = "QUEJA"
groups = ["etica"]
rotation = ["berta@uni.example"]
anonymous = true
"""


@pytest.fixture
def desk(tmp_path: Path, smtp_sink: SmtpSink) -> Iterator[Maildesk]:
    relay = (
        f'[outgoing]\ntransport = "smtp"\nhost = "127.0.0.1"\nport = {smtp_sink.port}\n'
        'tls = "none"\nretry_seconds = 1\n'
    )
    daemon = Maildesk(tmp_path / "desk", extra_config=relay + CONFIG, queues=QUEUES)
    daemon.start()
    try:
        yield daemon
    finally:
        assert daemon.stop() == 0, daemon.log()


def complaint() -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"{NAME} <{REAL}>"
    message["To"] = "quejas@uni.example"
    message["Cc"] = f"Pepe <{FRIEND}>"
    message["Subject"] = "Queja de Ana Ruiz Domínguez sobre el laboratorio"
    message["Message-ID"] = "<queja1@alumnos.example>"
    message.set_content(
        "Buenas tardes:\n\nEl profesor Gómez nos deja solos en el laboratorio de química"
        " sin ninguna supervisión.\n\nUn saludo,\nAna Ruiz  Domínguez\n"
        f"{REAL}\n"
    )
    return message


def delivered(sink: SmtpSink, count: int) -> list[ReceivedMessage]:
    return sink.wait_for(count, timeout=20)


def readable(received: ReceivedMessage) -> str:
    """Everything a person could read in a delivered mail: headers and decoded text."""
    message = parse_mail(received.data)
    parts = [f"{name}: {value}" for name, value in message.items()]
    parts += [str(p.get_content()) for p in message.walk() if p.get_content_maintype() == "text"]
    return "\n".join(parts) + received.data.decode("utf-8", "replace")


def assert_no_leak(text: str, where: str) -> None:
    for leak in LEAKS:
        assert leak.lower() not in text.lower(), f"{leak!r} in {where}:\n{text}"


def test_an_anonymous_complaint_hides_the_sender_and_still_reaches_them(
    desk: Maildesk, smtp_sink: SmtpSink
) -> None:
    desk.send(complaint(), sender=REAL, to=["quejas@uni.example"])
    first = delivered(smtp_sink, 2)
    [ack] = [m for m in first if m.rcpt_tos == (REAL,)]
    [notice] = [m for m in first if m.rcpt_tos == ("berta@uni.example",)]

    # The complainant gets the acknowledgement at their own address, under their pseudonym.
    ack_mail = parse_mail(ack.data)
    [pseudonym] = ack_mail["To"].addresses
    assert pseudonym.addr_spec.endswith("@anonymous.invalid")
    assert pseudonym.display_name.startswith("Anónimo ")
    assert "Este buzón es anónimo" in text_of(ack_mail)
    assert ack_mail["Subject"].startswith("[QUEJA#1] ")

    # The agent reads the complaint, signed with the pseudonym, and nothing of the sender.
    notice_mail = parse_mail(notice.data)
    notice_text = text_of(notice_mail)
    assert "nos deja solos en el laboratorio" in notice_text
    assert "El profesor Gómez" in notice_text  # whom it is about stays
    assert pseudonym.display_name in notice_text
    assert_no_leak(readable(notice), "the notification")

    # The agent answers from their mail client; the answer reaches the real address.
    reply = EmailMessage()
    reply["From"] = "Berta Gómez <berta@uni.example>"
    reply["To"] = str(notice_mail["Reply-To"])
    reply["Subject"] = f"RE: {notice_mail['Subject']}"
    reply["Message-ID"] = "<berta1@uni.example>"
    reply["In-Reply-To"] = notice_mail["Message-ID"]
    reply.set_content("Gracias por avisar. Hablaremos con el departamento.")
    desk.send(reply)
    [answer] = delivered(smtp_sink, 3)[2:]
    assert answer.rcpt_tos == (REAL,)
    answer_mail = parse_mail(answer.data)
    assert to_of(answer_mail) == [pseudonym.addr_spec]
    assert text_of(answer_mail).startswith("Gracias por avisar.")

    # The complainant writes back to the answer: same ticket, same pseudonym.
    back = EmailMessage()
    back["From"] = f"{NAME} <{REAL}>"
    back["To"] = "quejas@uni.example"
    back["Subject"] = f"Re: {answer_mail['Subject']}"
    back["Message-ID"] = "<queja2@alumnos.example>"
    back["In-Reply-To"] = answer_mail["Message-ID"]
    back.set_content(f"Ha vuelto a pasar hoy.\n\n{NAME}")
    desk.send(back)
    [again] = delivered(smtp_sink, 4)[3:]
    assert again.rcpt_tos == ("berta@uni.example",)
    assert "Ha vuelto a pasar hoy." in text_of(parse_mail(again.data))
    assert_no_leak(readable(again), "the second notification")

    desk.cli("close", "1", "--as", "berta@uni.example")
    [survey] = delivered(smtp_sink, 5)[4:]
    assert survey.rcpt_tos == (REAL,)
    assert FRIEND not in {r for m in smtp_sink.messages for r in m.rcpt_tos}

    [ticket] = [t for t in desk.json("tickets", "--state", "closed") if t["queue"] == "quejas"]
    assert ticket["requester"] == pseudonym.addr_spec
    shown = desk.cli("show", "1", "--json").stdout
    assert "Ha vuelto a pasar hoy." in shown
    month = datetime.now(ZoneInfo("America/Santo_Domingo")).strftime("%Y-%m")
    views = {
        "tickets": desk.cli("tickets", "--json").stdout,
        "show": shown,
        "outbox": desk.cli("outbox", "--json").stdout,
        "report": desk.cli("report", "--month", month, "--format", "json").stdout,
        "report table": desk.cli("report", "--month", month).stdout,
        "html report": desk.cli("report", "--month", month, "--format", "html").stdout,
    }
    for where, text in views.items():
        assert_no_leak(text, where)
    assert '"quejas"' in views["report"]
    assert_no_leak(desk.log(), "the daemon's log")

    # Only the sealed copy is in the database (nor in its write-ahead log).
    assert desk.stop() == 0, desk.log()
    database = desk.folder / "maildesk.db"
    for path in database.parent.glob("maildesk.db*"):
        data = path.read_bytes()
        for leak in LEAKS:
            assert leak.encode() not in data, f"{leak!r} in {path.name}"
    with sqlite3.connect(database) as conn:
        [(count,)] = conn.execute("SELECT count(*) FROM sealed_addresses").fetchall()
    assert count == 1
    desk.start()


def test_the_person_can_export_and_erase_what_is_held_under_their_pseudonym(
    desk: Maildesk, smtp_sink: SmtpSink
) -> None:
    desk.send(complaint(), sender=REAL, to=["quejas@uni.example"])
    delivered(smtp_sink, 2)
    unreadable = b"\x00\x01 not a mail, from " + REAL.encode() + b"\r\n"
    desk.send(unreadable, sender=REAL, to=["quejas@uni.example"])
    [held] = desk.json("quarantine")
    assert held["envelope_from"].endswith("@anonymous.invalid")
    shown = desk.cli("quarantine", "raw", str(held["id"])).stdout  # text mode: LF line ends
    assert shown.encode() == unreadable.replace(b"\r\n", b"\n")
    folder = desk.folder / "export"
    done = desk.cli("export", "--requester", REAL, str(folder)).stdout
    assert "1 ticket(s)" in done
    assert "@anonymous.invalid" in done
    assert (folder / "quarantine" / f"{held['id']:08d}.eml").read_bytes() == unreadable
    eml = min((folder / "messages").glob("*.eml"))  # the complaint came first
    original = parse_mail(eml.read_bytes())  # opened from its sealed copy, as received
    assert original["From"].addresses[0].addr_spec == REAL
    assert original["Cc"].addresses[0].addr_spec == FRIEND

    erased = desk.cli("erase", "--requester", REAL, "--yes").stdout
    assert "1 ticket" in erased
    with sqlite3.connect(desk.folder / "maildesk.db") as conn:
        assert conn.execute("SELECT count(*) FROM sealed_addresses").fetchone() == (0,)
        [(requester,)] = conn.execute("SELECT requester FROM tickets").fetchall()
    assert requester == "erased"
    again = desk.cli("export", "--requester", REAL, str(desk.folder / "after")).stdout
    assert "0 ticket(s), 0 message(s)" in again


def test_check_and_the_daemon_say_an_anonymous_queue_is_answered_only_through_the_relay(
    tmp_path: Path,
) -> None:
    desk = Maildesk(tmp_path / "desk", extra_config=CONFIG, queues=QUEUES)
    result = desk.cli("check", check=False)
    assert result.returncode != 0
    assert "key 'queues.anonymous'" in result.stderr
    assert 'transport = "smtp"' in result.stderr
    desk.start()
    try:
        deadline = time.monotonic() + 10
        while "maildesk ready" not in desk.log() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        assert desk.stop() == 0, desk.log()
    assert "anonymous queue(s) quejas: answers go to the outbox folder" in desk.log()
    assert (desk.folder / "maildesk.seal.key").stat().st_mode & 0o777 == 0o600
