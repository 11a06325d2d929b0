"""Parsing: names, subjects and addresses come out readable and cannot be spoofed."""

from __future__ import annotations

import pytest

from maildesk.errors import MalformedMail
from maildesk.mail.parse import parse, safe_filename
from maildesk.mail.parsed import Address


def headers(block: str, body: str = "Hola") -> bytes:
    return (block.strip().replace("\n", "\r\n") + "\r\n\r\n" + body + "\r\n").encode("latin-1")


@pytest.mark.parametrize(
    ("from_header", "expected"),
    [
        ("Ana Pérez <ana@example.com>", Address("ana@example.com", "Ana Pérez")),
        (
            "=?ISO-8859-1?Q?Jos=E9_Mu=F1oz?= <jose@example.com>",
            Address("jose@example.com", "José Muñoz"),
        ),
        ('"Pérez, Ana" <ANA@Example.COM>', Address("ana@example.com", "Pérez, Ana")),
        ("ana@example.com (Ana)", Address("ana@example.com", "Ana")),
        ("Big Bug bb@bug.example", Address("bb@bug.example", "")),
        # An encoded display name must not become an address of its own.
        (
            "=?utf-8?q?Ana=0D=0ABcc=3A_victim=40evil.example?= <ana@example.com>",
            Address("ana@example.com", "Ana Bcc: victim@evil.example"),
        ),
        (
            "=?utf-8?q?boss=40uni.example?= <mallory@evil.example>",
            Address("mallory@evil.example", "boss@uni.example"),
        ),
        # Specials left unencoded make a broken word; still only the real address counts.
        (
            "=?utf-8?q?Ana=0D=0ABcc:_victim@evil.example?= <ana@example.com>",
            Address("ana@example.com", ""),
        ),
    ],
)
def test_sender(from_header: str, expected: Address) -> None:
    mail = parse(headers(f"From: {from_header}\nTo: info@uni.example\nSubject: x"))
    assert mail.sender == expected


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("=?UTF-8?B?SW5zY3JpcGNpw7NuIGHDsW8gMjAyNw==?=", "Inscripción año 2027"),
        ("=?gb2312?B?xOO6ww==?=", "你好"),
        ("=?unknown-charset?Q?Hola?=", "Hola"),
        ("Re: =?utf-8?q?caf=C3=A9?= con leche", "Re: café con leche"),
        ("tab\tand   spaces", "tab and spaces"),
    ],
)
def test_subject(subject: str, expected: str) -> None:
    assert parse(headers(f"From: a@example.com\nSubject: {subject}")).subject == expected


def test_ids_and_references_lose_their_brackets() -> None:
    mail = parse(
        headers(
            "From: a@example.com\nMessage-ID: <m1@x.example>\nIn-Reply-To: <m0@x.example>\n"
            "References: <r1@x.example>\n <m0@x.example>"
        )
    )
    assert mail.message_id == "m1@x.example"
    assert mail.in_reply_to == ("m0@x.example",)
    assert mail.references == ("r1@x.example", "m0@x.example")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty message"),
        (b"   \r\n", "empty message"),
        (b"\x00\x01 not a header\r\n\r\nbody", "no header section"),
    ],
)
def test_unreadable_mail_raises_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(MalformedMail, match=reason):
        parse(raw)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Windows\\evil.exe", "evil.exe"),
        ("informe\r\nfinal.pdf", "informe final.pdf"),
        ("...", "attachment"),
        ("", "attachment"),
        ("a" * 300 + ".pdf", "a" * 146 + ".pdf"),
    ],
)
def test_safe_filename(name: str, expected: str) -> None:
    assert safe_filename(name) == expected


def test_the_lighter_reset_sets_what_mail_parsers_own_sets() -> None:
    # parse() skips mail-parser's header diagnostics by replacing its _reset; a new
    # mail-parser that keeps more state there must show up here, not as an attribute
    # mail-parser would silently answer from a header of the same name.
    import mailparser

    from maildesk.mail.parse import _MailParser

    raw = headers("From: a@example.com\nSubject: x\nDate: Mon, 2 Nov 2026 10:00:00 +0100")
    theirs = vars(mailparser.MailParser.from_bytes(raw))
    ours = vars(_MailParser.from_bytes(raw))
    assert set(ours) == set(theirs)


def test_a_date_or_sender_it_cannot_read_is_noted_as_a_defect() -> None:
    mail = parse(headers("From: nadie\nSubject: x\nDate: el martes por la tarde"))
    assert mail.date is None
    assert mail.sender is None
    assert {"DateHeaderDefect", "AddressHeaderDefect"} <= set(mail.defects)
    clean = parse(headers("From: a@example.com\nDate: Mon, 2 Nov 2026 10:00:00 +0100"))
    assert clean.defects == ()


def test_plain_mailboxes_read_as_getaddresses_reads_them() -> None:
    # "Name <addr>" and bare addresses skip getaddresses: the pair must not change.
    import random
    from email.utils import getaddresses

    from maildesk.mail.parse import _PLAIN_MAILBOX

    rng = random.Random(7)
    word_chars = "aZéñ=?_-'+!#x1/{}|~`$%&*^\x01ü"
    atom_chars = "abcXYZ019!#$%&'*+/=?^_`{|}~-"

    def atom() -> str:
        return "".join(rng.choice(atom_chars) for _ in range(rng.randint(1, 5)))

    def address() -> str:
        domain = ".".join(rng.choice(["uni", "a-1", "example", "x"]) for _ in range(2))
        return ".".join(atom() for _ in range(rng.randint(1, 3))) + "@" + domain

    def space() -> str:
        return rng.choice([" ", "\t", "  ", ""])

    for _ in range(5000):
        words = [
            "".join(rng.choice(word_chars) for _ in range(rng.randint(1, 6))) for _ in range(3)
        ]
        value = space() + " ".join(words[: rng.randint(0, 3)]) + space() + f"<{address()}>"
        if rng.random() < 0.3:
            value = space() + address() + space()
        plain = _PLAIN_MAILBOX.fullmatch(value)
        assert plain is not None, value
        pair = (" ".join((plain[1] or "").split()), plain[2] or plain[3])
        assert [pair] == getaddresses([value]), value
    for other in ['"Pérez, Ana" <a@x.example>', "a@x.example (Ana)", "a@x, b@y", "A. B <a@x>"]:
        assert _PLAIN_MAILBOX.fullmatch(other) is None
