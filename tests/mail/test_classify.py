"""maildesk.mail.classify: tables of ParsedMail cases, hand-written bounces, the corpus."""

from __future__ import annotations

import ast
import dataclasses
import email
import email.policy
import sys
from collections.abc import Sequence
from email.utils import getaddresses
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import maildesk.mail.classify as classify_module
from maildesk.mail.bounces import bounced_message_ids, bounced_recipients
from maildesk.mail.classify import Classification, MailKind, classify
from maildesk.mail.parsed import Address, Attachment, ParsedMail
from tests.support.corpus import CORPUS

OWN = frozenset({"info@example.edu", "soporte@*"})

H = MailKind.HUMAN
AUTO = MailKind.AUTO_REPLY
OOO = MailKind.OUT_OF_OFFICE
BOUNCE = MailKind.BOUNCE
COMPLAINT = MailKind.COMPLAINT
LIST = MailKind.LIST
LOOP = MailKind.LOOP

DSN_TYPE = "multipart/report; report-type=delivery-status; boundary=x"


def _mail(
    subject: str = "Consulta sobre la matrícula",
    sender: str = "Ana Pérez <ana@example.org>",
    headers: Sequence[tuple[str, str]] = (),
    content_type: str = "",
    parts: Sequence[str] = (),
) -> ParsedMail:
    """A ParsedMail as parse() would build it; ``content_type`` is the raw header value."""
    found = [a.lower() for _, a in getaddresses([sender]) if "@" in a]
    all_headers = [("from", sender), ("subject", subject), *headers]
    if content_type:
        all_headers.append(("content-type", content_type))
    return ParsedMail(
        message_id="m1@example.org",
        subject=subject,
        sender=Address(found[0]) if found else None,
        to=(Address("info@example.edu"),),
        cc=(),
        reply_to=(),
        in_reply_to=(),
        references=(),
        date=None,
        text="Hola",
        html="",
        attachments=tuple(Attachment(f"part{i}", t, b"") for i, t in enumerate(parts)),
        headers=tuple((name.lower(), value) for name, value in all_headers),
        content_type=(content_type or "text/plain").split(";")[0].strip().lower(),
    )


def _case(
    case_id: str,
    mail: ParsedMail,
    kind: MailKind,
    reason: str = "",
    envelope: str | None = "ana@example.org",
) -> object:
    return pytest.param(mail, envelope, kind, reason, id=case_id)


CASES = [
    # --- people -----------------------------------------------------------------
    _case("plain-request", _mail(), H, "no automation signal"),
    _case("auto-submitted-no", _mail(headers=[("Auto-Submitted", "no")]), H),
    _case("auto-submitted-No-comment", _mail(headers=[("Auto-Submitted", " No (x)")]), H),
    # Patterns match at the very start: a person replying or forwarding puts Re:/Fwd: first.
    _case("re-out-of-office-plans", _mail("Re: out of office plans"), H),
    _case("re-automatic-reply", _mail("RE: Automatic reply: Consulta"), H),
    _case("fwd-bounce-subject", _mail("Fwd: Undelivered Mail Returned to Sender"), H),
    _case("out-of-office-plans", _mail("Out of office plans for July"), H),
    _case("vacation-request", _mail("Vacation request"), H),
    _case("absence-of-a-student", _mail("Absence: Juan Pérez, 3 March"), H),
    _case("autoreply-settings", _mail("Autoreply settings are broken"), H),
    _case("bounce-subject-alone", _mail("Mail delivery failed to my teacher"), H),
    _case("x-autoreply-no", _mail(headers=[("X-Autoreply", "no")]), H),
    _case("precedence-first-class", _mail(headers=[("Precedence", "first-class")]), H),
    _case("ars-none", _mail(headers=[("X-Auto-Response-Suppress", "None")]), H),
    # Exchange adds these to people's mail (distribution lists, forwarding rules).
    _case(
        "ars-all-alone",
        _mail(headers=[("X-Auto-Response-Suppress", "All")]),
        H,
        "X-Auto-Response-Suppress alone",
    ),
    _case(
        "weak-subject-and-ars",
        _mail("Vacation request", headers=[("X-Auto-Response-Suppress", "All")]),
        H,
    ),
    _case(
        "inbox-rules-loop-alone",
        _mail(headers=[("X-MS-Exchange-Inbox-Rules-Loop", "ana@example.org")]),
        H,
        "X-MS-Exchange-Inbox-Rules-Loop",
    ),
    # A web form writes from a no-reply address on the requester's behalf.
    _case("web-form-noreply", _mail(sender="Formulario <no-reply@example.edu>"), H),
    _case("postmaster-person", _mail("Your server is listed", "postmaster@partner.org"), H),
    _case("info-at-another-domain", _mail(sender="info@partner.org"), H),
    _case("unknown-envelope", _mail(), H, envelope=None),
    _case(
        "known-envelope-beats-return-path",
        _mail(headers=[("Return-Path", "<>")]),
        H,
    ),
    # --- our own loops ------------------------------------------------------------
    _case("x-maildesk-loop", _mail(headers=[("X-Maildesk-Loop", "1")]), LOOP, "X-Maildesk-Loop"),
    _case("x-loop-marker", _mail(headers=[("X-Loop", "maildesk")]), LOOP, "X-Loop: maildesk"),
    _case("x-loop-marker-case", _mail(headers=[("X-Loop", " MailDesk ")]), LOOP, "X-Loop"),
    _case("x-loop-own-address", _mail(headers=[("X-Loop", "<info@example.edu>")]), LOOP),
    _case("from-own", _mail(sender="Info <info@example.edu>"), LOOP, "own address"),
    _case("from-own-pattern", _mail(sender="soporte@campus.example.edu"), LOOP),
    _case("from-own-subaddress", _mail(sender="info+ticket-7@example.edu"), LOOP),
    _case("envelope-own", _mail(), LOOP, "reverse-path", envelope="info@example.edu"),
    _case(
        "return-path-own",
        _mail(headers=[("Return-Path", "<soporte@example.com>")]),
        LOOP,
        envelope=None,
    ),
    _case(
        "own-loop-beats-bounce",
        _mail(headers=[("X-Maildesk-Loop", "1")], content_type=DSN_TYPE),
        LOOP,
        envelope="",
    ),
    # --- bounces ------------------------------------------------------------------
    _case(
        "dsn-report-type",
        _mail("Notice", "mta@mx.example.net", content_type=DSN_TYPE),
        BOUNCE,
        "delivery-status",
    ),
    _case(
        "dsn-report-type-quoted-folded",
        _mail(
            "Notice",
            "mta@mx.example.net",
            content_type='multipart/report;\n\tboundary="b"; Report-Type="Delivery-Status"',
        ),
        BOUNCE,
    ),
    _case(
        "delivery-status-part",
        _mail(
            "Delivery Status",
            "mta@mx.example.net",
            content_type="multipart/mixed; boundary=b",
            parts=["text/plain", "message/delivery-status"],
        ),
        BOUNCE,
        "message/delivery-status part",
    ),
    _case(
        "top-level-delivery-status",
        _mail("", "", content_type="message/delivery-status"),
        BOUNCE,
        envelope=None,
    ),
    _case(
        "x-failed-recipients",
        _mail(
            "Delivery Status Notification (Failure)",
            "gw@mx.example.net",
            headers=[("X-Failed-Recipients", "ana@example.org")],
        ),
        BOUNCE,
        "x-failed-recipients",
    ),
    _case(
        "exchange-ndr-header",
        _mail("Hi", "gw@mx.example.net", headers=[("X-MS-Exchange-Message-Is-Ndr", "")]),
        BOUNCE,
    ),
    _case("from-mailer-daemon", _mail("Hello", "MAILER-DAEMON@mx.example.net"), BOUNCE),
    _case("from-mailer-daemon-no-domain", _mail("Hello", "MAILER-DAEMON"), BOUNCE),
    _case("from-mailer-daemon-empty-addr", _mail("Hello", "MAILER-DAEMON <>"), BOUNCE),
    _case(
        "from-mail-delivery-system",
        _mail("Hello", "Mail Delivery System <Mailer-Daemon@mx.example.net>"),
        BOUNCE,
        "mailer-daemon",
    ),
    _case(
        "from-exchange-system-mailbox",
        _mail("Hello", "MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@example.com"),
        BOUNCE,
    ),
    _case("envelope-mailer-daemon", _mail(), BOUNCE, envelope="MAILER-DAEMON@mx.example.net"),
    *(
        _case(
            f"null-sender-{subject[:18]}",
            _mail(subject, "notices@mx.example.net"),
            BOUNCE,
            "null reverse-path",
            envelope="",
        )
        for subject in (
            "Undelivered Mail Returned to Sender",
            "Delivery Status Notification (Failure)",
            "Mail delivery failed: returning message to sender",
            "Undeliverable: Consulta",
            "failure notice",
            "Returned mail: see transcript for details",
            "No se puede entregar: Consulta",
            "Unzustellbar: Anfrage",
            "Non recapitabile: Richiesta",
            "Warning: message 1abc delayed 24 hours",
        )
    ),
    _case(
        "return-path-null-bounce-subject",
        _mail("failure notice", "notices@mx.example.net", headers=[("Return-Path", "<>")]),
        BOUNCE,
        envelope=None,
    ),
    _case(
        "postmaster-bounce-subject",
        _mail("Undeliverable Mail", "Postmaster <postmaster@example.net>"),
        BOUNCE,
        "sender postmaster",
    ),
    _case(
        "auto-submitted-bounce-subject",
        _mail("Delivery failure", "gw@example.net", headers=[("Auto-Submitted", "auto-generated")]),
        BOUNCE,
        "Auto-Submitted",
    ),
    _case(
        "bounce-beats-out-of-office-and-list",
        _mail(
            "Automatic reply: x", headers=[("List-Id", "<l.example.org>")], content_type=DSN_TYPE
        ),
        BOUNCE,
    ),
    # --- complaints ---------------------------------------------------------------
    _case(
        "arf-report-type",
        _mail(
            "Abuse Report",
            "feedbackloop@example.net",
            content_type='multipart/report; report-type="feedback-report"; boundary=b',
        ),
        COMPLAINT,
        "feedback-report",
    ),
    _case(
        "arf-part",
        _mail(
            "Abuse Report",
            "fbl@example.net",
            content_type="multipart/mixed; boundary=b",
            parts=["message/feedback-report", "message/rfc822"],
        ),
        COMPLAINT,
    ),
    _case(
        "complaint-beats-foreign-x-loop",
        _mail(
            "Email Feedback Report",
            "scomp@aol.net",
            headers=[("X-Loop", "scomp")],
            content_type="multipart/report; report-type=feedback-report; boundary=b",
        ),
        COMPLAINT,
    ),
    # --- another system's loop guard ------------------------------------------------
    _case("foreign-x-loop", _mail(headers=[("X-Loop", "otrs@vendor.example")]), LOOP, "another"),
    _case(
        "foreign-x-loop-beats-out-of-office",
        _mail("Automatic reply: x", headers=[("X-Loop", "yes")]),
        LOOP,
    ),
    # --- out of office: the subject alone is enough -----------------------------------
    *(
        _case(f"ooo-{subject[:22]}", _mail(subject), OOO, "out-of-office subject")
        for subject in (
            "Out of Office: Consulta",
            "Out of Office",
            "OUT OF OFFICE AutoReply: Consulta",
            "Out of the office - back on Monday",
            "Automatic reply: Consulta",
            "Auto reply: Consulta",
            "Autoreply: Consulta",
            "Auto-Reply - Consulta",
            "AutoRespons :Consulta?",
            "Respuesta automática: Consulta",
            "Respuesta automatica: Consulta",
            "Fuera de la oficina: Consulta",
            "Mensaje automático: Consulta",
            "Abwesenheitsnotiz: Anfrage",
            "Automatische Antwort: Anfrage",
            "Réponse automatique : Demande",
            "Absence du bureau : Demande",
            "Risposta automatica: Richiesta",
            "Resposta automática: Pedido",
            "Automatisch antwoord: Vraag",
            "Vacation reply: Consulta",
            "[EXTERNAL] Automatic reply: Consulta",
            "  [EXT] [SPAM?]  Out of Office: x",
        )
    ),
    # --- out of office: a looser subject needs a robot's header or <> beside it ------
    _case(
        "weak-absence-auto-submitted",
        _mail("Absence: back on 5 May", headers=[("Auto-Submitted", "auto-replied")]),
        OOO,
        "Auto-Submitted",
    ),
    _case(
        "weak-vacation-x-autoreply",
        _mail("On vacation until 5 May", headers=[("X-Autoreply", "yes")]),
        OOO,
    ),
    _case("weak-away-null-sender", _mail("Away until May 5"), OOO, "null reverse-path", ""),
    _case(
        "weak-fuera-precedence-junk",
        _mail("Fuera de la oficina hasta el lunes", headers=[("Precedence", "junk")]),
        OOO,
    ),
    _case("weak-im-out", _mail("I'm out until Monday"), OOO, envelope=""),
    _case(
        "ooo-beats-auto-reply",
        _mail("Automatic reply: x", headers=[("Auto-Submitted", "auto-replied")]),
        OOO,
    ),
    _case(
        "ooo-beats-list",
        _mail("Out of Office: x", headers=[("List-Id", "<l.example.org>")]),
        OOO,
    ),
    # --- other automatic mail ----------------------------------------------------------
    *(
        _case(
            f"auto-submitted-{value}",
            _mail(headers=[("Auto-Submitted", value)]),
            AUTO,
            "Auto-Submitted",
        )
        for value in (
            "auto-replied",
            "auto-generated",
            "Auto-Notified",
            "auto-replied; owner-email=ana@example.org",
            "auto-generated (postmaster-notification)",
            "auto-something-new",
        )
    ),
    *(
        _case(f"header-{name}", _mail(headers=[(name, value)]), AUTO, name.lower())
        for name, value in (
            ("X-Autoreply", "yes"),
            ("X-Autorespond", "Consulta"),
            ("X-Autogenerated", "Reply"),
            ("X-AutoReply-From", "ana@example.org"),
            ("X-Mail-Autoreply", "1"),
            ("X-MS-Exchange-Generated-Message-Source", "Mailbox Rules Agent"),
        )
    ),
    *(
        _case(f"precedence-{value}", _mail(headers=[("Precedence", value)]), AUTO, "Precedence")
        for value in ("junk", "auto_reply", "JUNK")
    ),
    _case(
        "mdn-report-type",
        _mail(
            "Read: Consulta",
            content_type="multipart/report; report-type=disposition-notification; boundary=b",
        ),
        AUTO,
        "read receipt",
    ),
    _case(
        "mdn-part",
        _mail(
            "Read: Consulta",
            content_type="multipart/mixed; boundary=b",
            parts=["message/disposition-notification"],
        ),
        AUTO,
        "read receipt",
    ),
    _case(
        "report-other-type",
        _mail("Report", content_type="multipart/report; report-type=tlsrpt; boundary=b"),
        AUTO,
        "report-type=tlsrpt",
    ),
    _case("report-no-type", _mail(content_type="multipart/report; boundary=b"), AUTO),
    _case("null-envelope", _mail(), AUTO, "null reverse-path", envelope=""),
    _case("null-envelope-brackets", _mail(), AUTO, "null reverse-path", envelope="<>"),
    _case("return-path-null", _mail(headers=[("Return-Path", "<>")]), AUTO, envelope=None),
    _case(
        "auto-beats-list",
        _mail(headers=[("Auto-Submitted", "auto-generated"), ("List-Id", "<l.example.org>")]),
        AUTO,
    ),
    # --- lists ----------------------------------------------------------------------
    *(
        _case(f"list-{name}", _mail(headers=[(name, value)]), LIST, name.lower())
        for name, value in (
            ("List-Id", "Alumnos <alumnos.example.edu>"),
            ("List-Unsubscribe", "<mailto:leave@example.org>"),
            ("List-Post", "<mailto:alumnos@example.edu>"),
            ("List-Help", "<mailto:help@example.edu>"),
            ("Mailing-List", "contact alumnos-help@example.edu; run by ezmlm"),
        )
    ),
    *(
        _case(f"precedence-{value}", _mail(headers=[("Precedence", value)]), LIST, "Precedence")
        for value in ("list", "bulk", "Bulk")
    ),
]


@pytest.mark.parametrize(("mail", "envelope", "kind", "reason"), CASES)
def test_classify(mail: ParsedMail, envelope: str | None, kind: MailKind, reason: str) -> None:
    got = classify(mail, envelope_sender=envelope, own_addresses=OWN)
    assert got.kind is kind, got.reason
    assert reason in got.reason


def test_loop_marker_is_configurable() -> None:
    mail = _mail(headers=[("X-Loop", "helpdesk-uni")])
    got = classify(mail, envelope_sender=None, own_addresses=OWN, loop_marker="Helpdesk-Uni")
    assert got == Classification(LOOP, "X-Loop: helpdesk-uni")
    # With the default marker the same header is some other system's guard: still LOOP.
    assert "another" in classify(mail, envelope_sender=None, own_addresses=OWN).reason


def test_own_addresses_may_be_upper_case_and_any_collection() -> None:
    got = classify(
        _mail(sender="INFO@Example.EDU"), envelope_sender=None, own_addresses=["Info@example.edu"]
    )
    assert got.kind is LOOP


@pytest.mark.parametrize(
    ("kind", "may_answer", "may_open_ticket"),
    [
        (H, True, True),
        (LIST, False, True),
        (AUTO, False, False),
        (OOO, False, False),
        (BOUNCE, False, False),
        (COMPLAINT, False, False),
        (LOOP, False, False),
    ],
)
def test_what_each_kind_allows(kind: MailKind, may_answer: bool, may_open_ticket: bool) -> None:
    verdict = Classification(kind, "test")
    assert (verdict.may_answer, verdict.may_open_ticket) == (may_answer, may_open_ticket)


def test_classification_is_frozen() -> None:
    verdict = Classification(H, "x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        verdict.kind = LOOP  # type: ignore[misc]


def test_reason_is_one_bounded_log_line() -> None:
    hostile = "auto-replied\r\nX-Injected: yes\x1b[31m" + "a" * 500
    got = classify(
        _mail(headers=[("Auto-Submitted", hostile)]), envelope_sender=None, own_addresses=OWN
    )
    assert got.kind is AUTO
    assert got.reason.isprintable()
    assert len(got.reason) < 120


def test_module_is_pure() -> None:
    """Only the standard library and the ParsedMail type: no I/O adapters, no clock."""
    tree = ast.parse(Path(classify_module.__file__).read_text(encoding="utf-8"))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
    foreign = {
        name
        for name in imported
        if name.split(".")[0] not in sys.stdlib_module_names | {"__future__"}
        and name != "maildesk.mail.parsed"
    }
    assert not foreign
    assert not imported & {"socket", "smtplib", "sqlite3", "time", "datetime", "os", "io"}


# --- bounced_message_ids / bounced_recipients on hand-written mail -------------------

DSN = b"""\
From: Mail Delivery System <MAILER-DAEMON@mx.example.net>
To: info@example.edu
Subject: Undelivered Mail Returned to Sender
Message-ID: <bounce-1@mx.example.net>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B1"

--B1
Content-Type: text/plain

Your message could not be delivered. Message-ID: <not-this@example.net>

--B1
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Original-Recipient: rfc822;Ana.Perez@Example.org
Final-Recipient: rfc822; ana@example.org
Action: failed
Status: 5.1.1

Final-Recipient: RFC822; <Luis@Example.NET>
Action: failed
Status: 5.2.2

--B1
Content-Type: message/rfc822

From: info@example.edu
To: ana@example.org
Subject: [MD#42] Recibimos su solicitud
Message-ID: <ack-42@example.edu>

Gracias.

--B1--
"""

DSN_HEADERS_ONLY = b"""\
From: MAILER-DAEMON@mx.example.net
Subject: Delivery Status Notification (Failure)
Content-Type: multipart/report; report-type=delivery-status; boundary=B2

--B2
Content-Type: text/plain

Delivery failed.
--B2
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: x400; /C=ES/ADMD=x/S=Perez
Action: failed
Status: 5.0.0

--B2
Content-Type: text/rfc822-headers


From: info@example.edu
Message-Id: <ack-43@example.edu>
Subject: x

--B2--
"""

QMAIL = b"""\
From: MAILER-DAEMON@mx.example.net
Subject: failure notice

Hi. This is the qmail-send program at mx.example.net.
I'm afraid I wasn't able to deliver your message to the following addresses.

<ana@example.org>:
Sorry, no mailbox here by that name.

--- Below this line is a copy of the message.

From: info@example.edu
Message-ID: <ack-44@example.edu>
 > message-id:   bare-45@example.edu
Subject: x
"""

TWO_ORIGINALS = b"""\
From: postmaster@example.net
Subject: Undeliverable mail
Content-Type: multipart/mixed; boundary=B3

--B3
Content-Type: text/plain

Two messages could not be delivered.
--B3
Content-Type: message/rfc822

Message-ID: <first@example.edu>
Content-Type: multipart/mixed; boundary=IN

--IN
Content-Type: message/rfc822

Message-ID: <forwarded-inside@example.org>

an attachment of the original: not what the bounce is about
--IN--

--B3
Content-Type: message/rfc822

Message-ID: <second@example.edu>

x
--B3
Content-Type: message/rfc822

Message-ID: <first@example.edu>

a duplicate
--B3--
"""

GLOBAL_DSN = """\
From: MAILER-DAEMON@mx.example.net
Subject: Undelivered Mail Returned to Sender
Content-Type: message/global-delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: utf-8; José@Example.org
Action: failed
Status: 5.1.1
""".encode()

EXIM = b"""\
From: Mail Delivery System <Mailer-Daemon@mx.example.net>
Subject: Mail delivery failed: returning message to sender
X-Failed-Recipients: Ana@Example.org,
 luis@example.net

This message was created automatically by mail delivery software.
"""

NESTED_DSN_IN_ORIGINAL = b"""\
From: someone@example.org
Content-Type: multipart/mixed; boundary=O

--O
Content-Type: message/rfc822

Message-ID: <orig@example.org>
Content-Type: message/delivery-status

Reporting-MTA: dns; x

Final-Recipient: rfc822; inner@example.org
--O--
"""


@pytest.mark.parametrize(
    ("raw", "ids"),
    [
        pytest.param(DSN, ["ack-42@example.edu"], id="rfc3464-with-message"),
        pytest.param(DSN.replace(b"\n", b"\r\n"), ["ack-42@example.edu"], id="crlf"),
        pytest.param(DSN.replace(b"\n", b"\r"), ["ack-42@example.edu"], id="cr-only"),
        pytest.param(DSN_HEADERS_ONLY, ["ack-43@example.edu"], id="text-rfc822-headers"),
        pytest.param(QMAIL, ["ack-44@example.edu", "bare-45@example.edu"], id="qmail-body"),
        pytest.param(TWO_ORIGINALS, ["first@example.edu", "second@example.edu"], id="two"),
        pytest.param(EXIM, [], id="no-copy-of-the-message"),
        pytest.param(b"Subject: hi\n\nHello, how are you?\n", [], id="not-a-bounce"),
    ],
)
def test_bounced_message_ids(raw: bytes, ids: list[str]) -> None:
    assert bounced_message_ids(raw) == ids


@pytest.mark.parametrize(
    ("raw", "recipients"),
    [
        pytest.param(
            DSN,
            ["ana.perez@example.org", "ana@example.org", "luis@example.net"],
            id="rfc3464-two-recipients",
        ),
        pytest.param(
            DSN.replace(b"\n", b"\r\n"),
            ["ana.perez@example.org", "ana@example.org", "luis@example.net"],
            id="crlf",
        ),
        pytest.param(DSN_HEADERS_ONLY, [], id="x400-address-skipped"),
        pytest.param(GLOBAL_DSN, ["josé@example.org"], id="rfc6533-global"),
        pytest.param(EXIM, ["ana@example.org", "luis@example.net"], id="x-failed-recipients"),
        pytest.param(QMAIL, [], id="no-structured-recipients"),
        pytest.param(NESTED_DSN_IN_ORIGINAL, [], id="dsn-inside-original-ignored"),
    ],
)
def test_bounced_recipients(raw: bytes, recipients: list[str]) -> None:
    assert bounced_recipients(raw) == recipients


GARBAGE = [
    b"",
    b"\x00\xff\xfe garbage \x80",
    b"Content-Type: multipart/report; boundary=x\n\n--x\nContent-Type: message/rfc822\n",
    b"Content-Type: message/delivery-status\nContent-Transfer-Encoding: base64\n\n!!!",
    b"Content-Type: text/rfc822-headers; charset=no-such-charset\n\n\xff\xfe",
    b"Content-Type: multipart/mixed; boundary=a\n\n"
    + b"--a\nContent-Type: multipart/mixed; boundary=a\n\n" * 3000,
]


@pytest.mark.parametrize("raw", GARBAGE)
def test_bounce_readers_survive_garbage(raw: bytes) -> None:
    assert isinstance(bounced_message_ids(raw), list)
    assert isinstance(bounced_recipients(raw), list)


@given(st.binary(max_size=2000))
def test_bounce_readers_never_raise(raw: bytes) -> None:
    for found in (bounced_message_ids(raw), bounced_recipients(raw)):
        assert all(isinstance(item, str) and item for item in found)


@given(st.text(max_size=300))
def test_bounce_readers_never_raise_inside_a_dsn(text: str) -> None:
    raw = b"Content-Type: message/delivery-status\n\n" + text.encode("utf-8")
    assert all("@" in address for address in bounced_recipients(raw))


# --- the corpus -----------------------------------------------------------------------


def _corpus() -> list[tuple[Path, str]]:
    index = CORPUS / "index.tsv"
    assert index.is_file(), f"the shared mail corpus is missing: expected {index}"
    rows = [line.split("\t") for line in index.read_text(encoding="utf-8").splitlines() if line]
    return [(CORPUS / row[0], row[3]) for row in rows]


def _parsed(raw: bytes) -> ParsedMail:
    """The stdlib's view of a message, shaped like parse() output; tolerant of damage."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    headers = []
    for name, value in message.raw_items():
        try:
            text = str(message.policy.header_fetch_parse(name, value))
        except Exception:  # a header the policy cannot parse: keep it raw, as parse() does
            text = str(value)
        headers.append((name.lower(), " ".join(text.split())))
    sender = None
    for wanted in ("from", "sender", "reply-to"):
        found = [a for _, a in getaddresses([v for k, v in headers if k == wanted]) if "@" in a]
        if found:
            sender = Address(found[0].lower())
            break
    attachments = tuple(
        Attachment(part.get_filename() or "", part.get_content_type(), b"")
        for part in message.walk()
        if not part.is_multipart() and part.get_filename()
    )
    return ParsedMail(
        message_id="",
        subject=next((v for k, v in headers if k == "subject"), ""),
        sender=sender,
        to=(),
        cc=(),
        reply_to=(),
        in_reply_to=(),
        references=(),
        date=None,
        text="",
        html="",
        attachments=attachments,
        headers=tuple(headers),
        content_type=message.get_content_type(),
    )


def _verdicts(category: str) -> dict[str, Classification]:
    return {
        str(path.relative_to(CORPUS)): classify(
            _parsed(path.read_bytes()), envelope_sender=None, own_addresses=OWN
        )
        for path, cat in _corpus()
        if cat == category
    }


@pytest.mark.corpus
def test_corpus_robots_are_not_human() -> None:
    verdicts = _verdicts("bounce") | _verdicts("autoreply")
    human = sorted(name for name, verdict in verdicts.items() if verdict.kind is H)
    assert len(verdicts) > 50, "the corpus lost its bounces and auto-replies"
    assert len(human) <= 0.1 * len(verdicts), f"classified HUMAN: {human}"


@pytest.mark.corpus
def test_corpus_plain_mail_is_never_a_bounce() -> None:
    verdicts = _verdicts("plain")
    bounces = sorted(name for name, verdict in verdicts.items() if verdict.kind is BOUNCE)
    assert verdicts, "the corpus lost its plain messages"
    assert not bounces, f"plain mail classified BOUNCE: {bounces}"


@pytest.mark.corpus
def test_corpus_bounce_readers() -> None:
    """Never raise on real mail, and find what most real bounces report."""
    with_ids = with_recipients = bounces = 0
    for path, category in _corpus():
        raw = path.read_bytes()
        ids, recipients = bounced_message_ids(raw), bounced_recipients(raw)
        assert all(isinstance(i, str) and i and "<" not in i for i in ids), path
        assert all(r == r.lower() and "@" in r for r in recipients), path
        if category == "bounce":
            bounces += 1
            with_ids += bool(ids)
            with_recipients += bool(recipients)
    # Measured: 66 and 54 of 81; the rest return no copy of the original or no DSN.
    assert with_ids >= 0.75 * bounces, (with_ids, bounces)
    assert with_recipients >= 0.6 * bounces, (with_recipients, bounces)
