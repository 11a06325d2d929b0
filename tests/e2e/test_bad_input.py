"""Hostile and broken input through the real listener: clear refusals, nothing injected."""

from __future__ import annotations

import email
import email.policy
import smtplib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.daemon import Maildesk


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Maildesk]:
    daemon = Maildesk(tmp_path / "desk")
    daemon.start()
    try:
        yield daemon
    finally:
        assert daemon.stop() == 0, daemon.log()


def header_lines(raw: bytes) -> list[bytes]:
    head = raw.split(b"\r\n\r\n", 1)[0]
    return head.split(b"\r\n")


def test_encoded_line_breaks_cannot_inject_headers_into_our_reply(desk: Maildesk) -> None:
    raw = (
        b"From: =?utf-8?q?Ana=0D=0ABcc=3A_victim=40evil.example?= <ana@example.com>\r\n"
        b"To: info@uni.example\r\n"
        b"Subject: =?utf-8?q?Hola=0D=0ABcc:_victim@evil.example=0D=0A=0D=0Abody?=\r\n"
        b"Message-ID: <inj@example.com>\r\n\r\nHola\r\n"
    )
    desk.send(raw, sender="ana@example.com", to=["info@uni.example"])
    [path] = desk.outbox_files(1)
    ack = path.read_bytes()
    names = [line.split(b":", 1)[0].lower() for line in header_lines(ack) if line[:1] not in b" \t"]
    assert b"bcc" not in names
    parsed = email.message_from_bytes(ack, policy=email.policy.default)
    assert [a.addr_spec for a in parsed["To"].addresses] == ["ana@example.com"]
    assert parsed["Subject"] == "[INFO#1] Hola Bcc: victim@evil.example body"
    [row] = desk.json("outbox")
    assert row["rcpt_to"] == ["ana@example.com"]


def test_a_5000_character_subject_is_kept_and_folded(desk: Maildesk) -> None:
    subject = "Solicitud " + "muy larga " * 499
    raw = (
        f"From: ana@example.com\r\nTo: info@uni.example\r\nSubject: {subject}\r\n"
        "Message-ID: <long@example.com>\r\n\r\nHola\r\n"
    ).encode()
    desk.send(raw, sender="ana@example.com", to=["info@uni.example"])
    [path] = desk.outbox_files(1)
    assert all(len(line) <= 998 for line in header_lines(path.read_bytes()))
    assert desk.json("tickets")[0]["subject"] == subject.strip()


def test_a_thousand_recipients_make_one_ticket_and_one_reply(desk: Maildesk) -> None:
    others = ", ".join(f"p{n}@example.com" for n in range(1000))
    raw = (
        f"From: ana@example.com\r\nTo: info@uni.example, {others}\r\nSubject: Muchos\r\n"
        "Message-ID: <many@example.com>\r\n\r\nHola\r\n"
    ).encode()
    desk.send(raw, sender="ana@example.com", to=["info@uni.example"])
    [ticket] = desk.json("tickets")
    assert ticket["message_count"] == 2
    [row] = desk.json("outbox")
    assert row["rcpt_to"] == ["ana@example.com"]


def test_a_50_mb_message_is_refused_before_it_is_accepted(tmp_path: Path) -> None:
    desk = Maildesk(tmp_path / "big")
    desk.config.write_text(
        desk.config.read_text(encoding="utf-8").replace("max_message_bytes = 200000", ""),
        encoding="utf-8",
    )
    desk.start()
    try:
        raw = b"From: a@example.com\r\nTo: info@uni.example\r\nSubject: big\r\n\r\n" + (
            b"x" * 76 + b"\r\n"
        ) * (50 * 1024 * 1024 // 78)
        with pytest.raises(smtplib.SMTPResponseException) as refused:
            desk.send(raw, sender="a@example.com", to=["info@uni.example"])
        assert refused.value.smtp_code == 552
        assert desk.alive()
        assert desk.json("tickets") == []
    finally:
        assert desk.stop() == 0
