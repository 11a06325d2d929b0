"""Composed mail: threading headers, RFC 3834 marks, Reply-To and attachments."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime

from maildesk.mail.compose import Outgoing, compose
from maildesk.mail.parsed import Address, Attachment


def test_a_reply_carries_threading_headers_reply_to_and_attachments() -> None:
    raw = compose(
        Outgoing(
            message_id="md.4.r.abc123.0123456789abcdef0123@uni.example",
            from_addr=Address("info@uni.example", "Mesa de servicio"),
            to=[Address("ana@example.com", "Ana Pérez")],
            subject="[INFO#4] Certificado",
            body="Adjunto su certificado.\n",
            date=datetime(2026, 11, 20, 12, tzinfo=UTC),
            language="es",
            in_reply_to="m2@example.com",
            references=["m1@example.com"],
            auto_submitted="auto-replied",
            reply_to=Address("info@uni.example"),
            attachments=[Attachment("certificado.pdf", "application/pdf", b"%PDF-1.4 x")],
        )
    )
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["In-Reply-To"] == "<m2@example.com>"
    assert message["References"] == "<m1@example.com> <m2@example.com>"
    assert message["Auto-Submitted"] == "auto-replied"
    assert message["X-Auto-Response-Suppress"] == "All"
    assert message["Reply-To"] == "info@uni.example"
    [part] = list(message.iter_attachments())
    assert part.get_filename() == "certificado.pdf"
    assert part.get_content() == b"%PDF-1.4 x"
    assert b"\r\n" in raw
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))


def test_an_unknown_attachment_type_is_sent_as_octet_stream() -> None:
    raw = compose(
        Outgoing(
            message_id="x@uni.example",
            from_addr=Address("info@uni.example"),
            to=[Address("ana@example.com")],
            subject="s",
            body="b",
            date=datetime(2026, 11, 20, 12, tzinfo=UTC),
            language="en",
            attachments=[Attachment("a.bin", "garbage", b"\x00\x01")],
        )
    )
    assert b"Content-Type: application/octet-stream" in raw


def test_line_breaks_in_names_and_subjects_never_make_headers() -> None:
    raw = compose(
        Outgoing(
            message_id="x@uni.example",
            from_addr=Address("info@uni.example", "Mesa"),
            to=[Address("ana@example.com", "Ana\r\nBcc: victim@evil.example")],
            subject="Hola\r\nBcc: victim@evil.example",
            body="b",
            date=datetime(2026, 11, 20, 12, tzinfo=UTC),
            language="es",
        )
    )
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert not [line for line in head if line.lower().startswith(b"bcc")]
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert [a.addr_spec for a in message["To"].addresses] == ["ana@example.com"]


def test_our_tag_stays_readable_in_the_raw_subject() -> None:
    raw = compose(
        Outgoing(
            message_id="x@uni.example",
            from_addr=Address("info@uni.example"),
            to=[Address("ana@example.com")],
            subject="[INFO#42] Matrícula 2027",
            body="b",
            date=datetime(2026, 11, 20, 12, tzinfo=UTC),
            language="es",
            attachments=[Attachment("año académico.pdf", "application/pdf", b"x")],
        )
    )
    assert b"\r\nSubject: [INFO#42] =?utf-8?" in raw
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["Subject"] == "[INFO#42] Matrícula 2027"
    assert [p.get_filename() for p in message.iter_attachments()] == ["año académico.pdf"]
