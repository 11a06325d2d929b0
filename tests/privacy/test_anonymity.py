"""Sealing, pseudonyms and masking of anonymous queues (anonymity.py): pure, no I/O."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maildesk.mail.parse import parse
from maildesk.mail.parsed import Attachment
from maildesk.privacy.anonymity import Sealer, SealError, is_alias, is_sealed_raw, mask, redact

KEY = b"k" * 32
RAW = (
    b"From: =?utf-8?q?Ana_Ruiz_Dom=C3=ADnguez?= <ana.ruiz@alumnos.example>\r\n"
    b"Sender: ana.ruiz@alumnos.example\r\n"
    b"Reply-To: ana.ruiz@alumnos.example\r\n"
    b"Received: from [10.1.2.3] by mx.alumnos.example\r\n"
    b"To: quejas@uni.example\r\n"
    b"Cc: Pepe <pepe@otro.example>\r\n"
    b"Subject: Queja de Ana Ruiz Dominguez\r\n"
    b"Message-ID: <q1@alumnos.example>\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"El profesor no vino.\r\n\r\nAna Ruiz Dom\xc3\xadnguez\r\nANA.RUIZ@alumnos.example\r\n"
)


def test_the_same_address_always_gets_the_same_pseudonym_and_another_key_another() -> None:
    sealer = Sealer(KEY)
    alias = sealer.alias("Ana.Ruiz@Alumnos.example ")
    assert alias == sealer.alias("ana.ruiz@alumnos.example")
    assert is_alias(alias)
    assert alias != sealer.alias("ana.ruiz2@alumnos.example")
    assert alias != Sealer(b"another key of 32 characters!!!!").alias("ana.ruiz@alumnos.example")
    pseudonym = sealer.pseudonym("ana.ruiz@alumnos.example", "es")
    assert pseudonym.email == alias
    assert pseudonym.name.startswith("Anónimo ")
    assert sealer.pseudonym("ana.ruiz@alumnos.example", "en").name.startswith("Anonymous ")
    assert not is_alias("ana.ruiz@alumnos.example")
    assert not is_alias("anon-abc@anonymous.invalid.evil.example")


@given(st.emails())
def test_a_sealed_address_opens_only_with_its_key(address: str) -> None:
    sealer = Sealer(KEY)
    token = sealer.seal(address)
    assert address.lower().encode() not in token
    assert sealer.open(token) == address.strip().lower()
    with pytest.raises(SealError):
        Sealer(b"another key of 32 characters!!!!").open(token)


def test_sealed_raw_mail_opens_to_the_bytes_received_and_plain_mail_passes() -> None:
    sealer = Sealer(KEY)
    blob = sealer.seal_raw(RAW)
    assert is_sealed_raw(blob)
    assert b"ana.ruiz" not in blob
    assert sealer.open_raw(blob) == RAW
    assert sealer.open_raw(RAW) == RAW
    with pytest.raises(SealError):
        Sealer(b"another key of 32 characters!!!!").open_raw(blob)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Firmado: Ana Ruiz", "Firmado: [X]"),
        ("ana RUIZ escribe", "[X] escribe"),
        ("Ana\n  Ruiz", "[X]"),
        ("mi correo es ana.ruiz@uni.edu.", "mi correo es [X]."),
        ("usuario ana.ruiz en el campus", "usuario [X] en el campus"),
        # A first name alone, or a longer word that contains it, stays.
        ("Ana dice que Anabel Ruizdíaz", "Ana dice que Anabel Ruizdíaz"),
        ("xana.ruiz@uni.edu", "xana.ruiz@uni.edu"),
    ],
)
def test_redact_takes_out_the_address_the_local_part_and_the_full_name(
    text: str, expected: str
) -> None:
    assert redact(text, "ana.ruiz@uni.edu", "Ana Ruiz", "[X]") == expected


def test_redact_with_nothing_to_redact_changes_nothing() -> None:
    assert redact("hola", "", "", "[X]") == "hola"
    assert redact("hola ab", "ab@x", "ab", "[X]") == "hola ab"  # too short to be safe


def test_a_masked_mail_names_only_the_pseudonym() -> None:
    sealer = Sealer(KEY)
    mail = parse(RAW)
    mail = replace(mail, attachments=(Attachment("CV Ana Ruiz Domínguez.pdf", "x/y", b"%PDF"),))
    assert mail.sender is not None
    pseudonym = sealer.pseudonym(mail.sender.email, "es")
    masked = mask(mail, mail.sender, pseudonym, {"pepe@otro.example": "Anónimo 2"})
    assert masked.sender == pseudonym
    assert (masked.cc, masked.reply_to) == ((), ())
    assert masked.subject == f"Queja de {pseudonym.name}"
    assert "El profesor no vino." in masked.text
    assert masked.attachments == (Attachment(f"CV {pseudonym.name}.pdf", "x/y", b"%PDF"),)
    assert masked.text.count(pseudonym.name) == 2  # the signature and the address
    names = [name for name, _ in masked.headers]
    assert not {"received", "sender", "reply-to"} & set(names)
    everything = repr(masked).lower()
    for leak in ("ana.ruiz", "ana ruiz", "10.1.2.3", "pepe@otro"):
        assert leak not in everything
