"""Subject tags, reply prefixes, signed Message-IDs and the threading choice: tables of cases."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maildesk.mail.thread import (
    Hit,
    Tag,
    Via,
    base_subject,
    choose,
    find_tag,
    format_tag,
    reply_subject,
    sign_message_id,
    signed_tickets,
    strip_tags,
    verify_message_id,
)
from maildesk.model import State, Ticket

TAGS = {"INFO", "CRM"}
SECRET = b"s3cret-for-tests-only-0123456789"


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("[INFO#42] Certificado", Tag("INFO", 42)),
        ("Re: [INFO#42] Certificado", Tag("INFO", 42)),
        ("RE: [INFO#42] Certificado", Tag("INFO", 42)),
        ("RV: [INFO#42] Certificado", Tag("INFO", 42)),
        ("R: [INFO#42] Certificato", Tag("INFO", 42)),
        ("AW: [INFO#42] Zertifikat", Tag("INFO", 42)),
        ("WG: AW: [INFO#42] Zertifikat", Tag("INFO", 42)),
        ("Fwd: [INFO#42] Certificate", Tag("INFO", 42)),
        ("FW: [INFO#42] Certificate", Tag("INFO", 42)),
        ("RES: [INFO#42] Certificado", Tag("INFO", 42)),
        ("[alumnos] Re: [INFO#42] Certificado", Tag("INFO", 42)),
        ("Certificado [INFO#42]", Tag("INFO", 42)),
        ("Re: Certificado ([INFO#42])", Tag("INFO", 42)),
        ("[info#42] minúsculas", Tag("INFO", 42)),
        ("[ Info # 42 ] espacios", Tag("INFO", 42)),
        ("RE:[INFO#7]sin espacio", Tag("INFO", 7)),
        ("[CRM#3] Convenio", Tag("CRM", 3)),
        ("[OTHER#5] [INFO#6] two tags, ours second", Tag("INFO", 6)),
        ("[INFO#9] [CRM#3] two of ours: the first wins", Tag("INFO", 9)),
        ("[OTHER#5] not ours", None),
        ("INFO#42 without brackets", None),
        ("[INFO42] no hash", None),
        ("[INFO#] no number", None),
        ("[INFO#12345678901234] too long a number", None),
        ("", None),
        ("Re: Ticket #42 in someone else's tracker", None),
    ],
)
def test_find_tag(subject: str, expected: Tag | None) -> None:
    assert find_tag(subject, TAGS) == expected


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Re: Horario", "Horario"),
        ("RE: RV: Fwd: Horario", "Horario"),
        ("Re[2]: Horario", "Horario"),
        ("AW: WG: Termin", "Termin"),
        ("SV: Møte", "Møte"),
        ("RES: ENC: Dúvida", "Dúvida"),
        ("TR: Question", "Question"),
        ("[lista-alumnos] Re: Horario", "Horario"),
        ("Re:Horario", "Horario"),
        ("Respuesta sobre horario", "Respuesta sobre horario"),  # a word, not a prefix
        ("Fwd:", ""),
        ("  Re:   Muchos   espacios ", "Muchos espacios"),
    ],
)
def test_base_subject(subject: str, expected: str) -> None:
    assert base_subject(subject) == expected


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Certificado", "[INFO#42] Certificado"),
        ("Re: [INFO#42] Certificado", "[INFO#42] Certificado"),
        ("RE: RV: [info # 42] Certificado", "[INFO#42] Certificado"),
        ("[INFO#7] claimed by someone else", "[INFO#42] claimed by someone else"),
        ("", "[INFO#42]"),
    ],
)
def test_reply_subject(subject: str, expected: str) -> None:
    assert reply_subject("INFO", 42, subject, TAGS) == expected


def test_strip_tags_keeps_foreign_tags() -> None:
    assert strip_tags("[OTHER#1] [INFO#2] Hola", TAGS) == "[OTHER#1] Hola"


@given(
    st.sampled_from(sorted(TAGS)), st.integers(min_value=1, max_value=10**11), st.text(max_size=60)
)
def test_a_formatted_tag_is_always_found_again(prefix: str, number: int, subject: str) -> None:
    found = find_tag(f"Re: {format_tag(prefix, number)} {subject}", TAGS)
    assert found == Tag(prefix, number)


def test_signed_message_ids_round_trip_and_resist_forgery() -> None:
    mid = sign_message_id(SECRET, 42, "a", "0a1b2c3d4e5f", "uni.example")
    assert mid.startswith("md.42.a.0a1b2c3d4e5f.")
    assert mid.endswith("@uni.example")
    assert verify_message_id(SECRET, mid) == (42, "a")
    assert verify_message_id(SECRET, mid.upper()) == (42, "a")  # some gateways upper-case ids
    assert verify_message_id(b"another-secret-0123456789", mid) is None
    forged = mid.replace("md.42.", "md.43.")
    assert verify_message_id(SECRET, forged) is None
    assert verify_message_id(SECRET, "CAF=abc@mail.gmail.com") is None


def test_signed_tickets_prefers_the_most_recent_reference() -> None:
    old = sign_message_id(SECRET, 1, "a", "aaaaaa", "uni.example")
    new = sign_message_id(SECRET, 2, "a", "bbbbbb", "uni.example")
    assert signed_tickets(SECRET, [old, "x@y", new]) == [2, 1]


NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def ticket(
    number: int = 1, requester: str = "ana@example.com", participants: frozenset[str] = frozenset()
) -> Ticket:
    return Ticket(
        number, "info", State.NEW, "Beca", requester, NOW, None, participants | {requester}
    )


@pytest.mark.parametrize(
    ("sender", "via", "joins"),
    [
        ("ana@example.com", Via.TAG, True),  # the requester
        ("ANA@example.com", Via.TAG, True),  # case does not matter
        ("tutor@example.com", Via.TAG, True),  # a participant from Cc
        ("agent@uni.example", Via.TAG, True),  # an agent
        ("mallory@evil.example", Via.TAG, False),  # a stranger guessing a number
        ("mallory@evil.example", Via.SIGNED_ID, True),  # holds our signed id: was sent our mail
        ("mallory@evil.example", Via.STORED_ID, True),  # replies in the thread
    ],
)
def test_choose_honours_tags_only_from_the_tickets_people(
    sender: str, via: Via, joins: bool
) -> None:
    hit = Hit(ticket(participants=frozenset({"tutor@example.com"})), via)
    choice = choose([hit], sender, {"agent@uni.example"}, "INFO")
    assert (choice.ticket is not None) is joins
    assert choice.claimed == (None if joins else Tag("INFO", 1))


def test_choose_takes_the_strongest_evidence_first() -> None:
    signed, tagged = Hit(ticket(7), Via.SIGNED_ID), Hit(ticket(3), Via.TAG)
    choice = choose([signed, tagged], "ana@example.com", set(), "INFO")
    assert choice.ticket is not None
    assert choice.ticket.number == 7
    assert choice.via is Via.SIGNED_ID
    assert choose([], "ana@example.com", set(), "INFO").ticket is None
