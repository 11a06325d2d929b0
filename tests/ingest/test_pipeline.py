"""The ingest pipeline against a real SQLite store, with a fake clock."""

from __future__ import annotations

import email
import email.policy
import logging
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from maildesk.clock import FakeClock
from maildesk.config import Config, parse
from maildesk.ingest.envelope import Duplicate, Envelope, Quarantined, Stored
from maildesk.ingest.pipeline import Pipeline
from maildesk.store.store import Store
from maildesk.workflow import Action
from tests.support.desk import build_pipeline

pytestmark = pytest.mark.stores("sqlite", "postgresql")

CONFIG = """
[[queues]]
name = "info"
addresses = ["info@uni.example"]
tag = "INFO"

[[queues]]
name = "crm"
addresses = ["crm@uni.example"]
tag = "CRM"
language = "en"

[[agents]]
name = "Berta"
addresses = ["berta@uni.example"]
"""


def build(
    subject: str = "Consulta",
    *,
    sender: str = "Ana <ana@example.com>",
    to: str = "info@uni.example",
    message_id: str | None = "<m1@example.com>",
    body: str = "Hola",
    **headers: str,
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    if message_id:
        message["Message-ID"] = message_id
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message.as_bytes()


def smtp(*recipients: str) -> Envelope:
    return Envelope("ana@example.com", list(recipients) or ["info@uni.example"], "smtp")


def outbox(store: Store) -> list[sqlite3.Row]:
    """Mail to requesters; notifications to agents are tested in test_agents.py."""
    return store.conn.execute("SELECT * FROM outbox WHERE kind != 'notify' ORDER BY id").fetchall()


def inbound_attachments(store: Store) -> list[sqlite3.Row]:
    return store.conn.execute(
        "SELECT a.filename, a.size, a.sha256 FROM attachments a"
        " JOIN messages m ON m.id = a.message WHERE m.direction = 'in' ORDER BY a.id"
    ).fetchall()


def ack_id(store: Store) -> str:
    return str(outbox(store)[-1]["message_id"])


def stored(outcome: object) -> Stored:
    assert isinstance(outcome, Stored), outcome
    return outcome


def test_a_new_request_commits_ticket_message_event_and_acknowledgement_together(
    pipeline: Pipeline, store: Store
) -> None:
    outcome = stored(pipeline.accept(build(), smtp()))
    assert (outcome.ticket, outcome.action, outcome.ref, outcome.acknowledged) == (
        1,
        Action.OPEN,
        "INFO#1",
        True,
    )
    rows = outbox(store)
    assert len(rows) == 1
    assert rows[0]["kind"] == "ack"
    assert rows[0]["state"] == "pending"
    ack = email.message_from_bytes(rows[0]["raw"], policy=email.policy.default)
    assert ack["Subject"] == "[INFO#1] Consulta"
    counts = [
        store.conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # noqa: S608
        for t in ("tickets", "messages", "events", "blobs")
    ]
    # Messages: the request, its acknowledgement and the notification to the agent.
    assert counts == [1, 3, 2, 1]


def test_mid_transaction_failure_leaves_nothing_behind(
    pipeline: Pipeline, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: object, **kwargs: object) -> int:
        raise RuntimeError("disk full")

    monkeypatch.setattr(store, "enqueue", explode)
    with pytest.raises(RuntimeError):
        pipeline.accept(build(), smtp())
    for table in ("tickets", "messages", "events", "outbox", "blobs"):
        assert store.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0  # noqa: S608
    monkeypatch.undo()
    retried = stored(pipeline.accept(build(), smtp()))  # the retry is not a duplicate
    # On PostgreSQL the undone ticket's number stays used (a sequence never goes back).
    assert [row[0] for row in store.conn.execute("SELECT number FROM tickets")] == [retried.ticket]


def test_threading_by_signed_id_survives_a_rewritten_subject(
    pipeline: Pipeline, store: Store
) -> None:
    pipeline.accept(build(), smtp())
    reply = build(
        "AW: something else entirely",
        message_id="<m2@example.com>",
        In_Reply_To=f"<{ack_id(store)}>",
    )
    outcome = stored(pipeline.accept(reply, smtp()))
    assert (outcome.ticket, outcome.action, outcome.acknowledged) == (1, Action.APPEND, False)
    assert len(outbox(store)) == 1


def test_a_forged_signed_id_does_not_thread(pipeline: Pipeline, store: Store) -> None:
    pipeline.accept(build(), smtp())
    forged = ack_id(store).replace("md.1.", "md.2.", 1)
    reply = build(
        "Hola", sender="eve@evil.example", message_id="<e1@evil.example>", In_Reply_To=f"<{forged}>"
    )
    assert stored(pipeline.accept(reply, smtp())).action is Action.OPEN


def test_participants_from_cc_may_use_the_tag_and_agents_too(pipeline: Pipeline) -> None:
    pipeline.accept(build(Cc="Tutor <tutor@example.com>, info@uni.example"), smtp())
    tutor = build(
        "Re: [INFO#1] Consulta", sender="tutor@example.com", message_id="<t1@example.com>"
    )
    agent = build(
        "Re: [INFO#1] Consulta", sender="berta@uni.example", message_id="<a1@uni.example>"
    )
    stranger = build("Re: [INFO#1] Consulta", sender="x@example.org", message_id="<x1@example.org>")
    assert stored(pipeline.accept(tutor, smtp())).ticket == 1
    assert stored(pipeline.accept(agent, smtp())).ticket == 1
    assert stored(pipeline.accept(stranger, smtp())).ticket == 2


def test_a_tag_of_another_queue_does_not_thread(pipeline: Pipeline) -> None:
    pipeline.accept(build(), smtp())
    wrong = build("Re: [CRM#1] Consulta", message_id="<w1@example.com>")
    assert stored(pipeline.accept(wrong, smtp())).ticket == 2


def test_closed_tickets_reopen_within_the_window_then_link(
    pipeline: Pipeline, store: Store, clock: FakeClock
) -> None:
    pipeline.accept(build(), smtp())
    with store.transaction():
        store.conn.execute(
            "UPDATE tickets SET state = 'closed', closed_at = ? WHERE number = 1",
            (clock.now().isoformat(),),
        )
    clock.advance(timedelta(days=13))
    outcome = stored(
        pipeline.accept(build("Re: [INFO#1] Consulta", message_id="<r1@example.com>"), smtp())
    )
    assert outcome.action is Action.REOPEN
    assert store.conn.execute("SELECT state, closed_at FROM tickets WHERE number = 1").fetchone()[
        :
    ] == ("reopened", None)

    with store.transaction():
        store.conn.execute(
            "UPDATE tickets SET state = 'closed', closed_at = ? WHERE number = 1",
            (clock.now().isoformat(),),
        )
    clock.advance(timedelta(days=15))
    late = stored(
        pipeline.accept(build("Re: [INFO#1] Consulta", message_id="<r2@example.com>"), smtp())
    )
    assert (late.action, late.ticket, late.acknowledged) == (Action.OPEN_LINKED, 2, True)
    assert store.conn.execute("SELECT linked_to FROM tickets WHERE number = 2").fetchone()[0] == 1


def test_duplicates_by_message_id_and_without_one_by_content(
    pipeline: Pipeline, store: Store
) -> None:
    raw = build()
    assert isinstance(pipeline.accept(raw, smtp()), Stored)
    # The second copy went through another relay: different trace headers, same mail.
    relayed = b"Received: from relay2 by mx; Fri, 20 Nov 2026\r\n" + raw.replace(b"\n", b"\r\n")
    assert isinstance(pipeline.accept(relayed, smtp()), Duplicate)
    anonymous = build("Sin id", message_id=None, Date="Fri, 20 Nov 2026 10:00:00 +0000")
    assert isinstance(pipeline.accept(anonymous, smtp()), Stored)
    assert isinstance(pipeline.accept(anonymous, smtp()), Duplicate)
    other_body = build(
        "Sin id", message_id=None, Date="Fri, 20 Nov 2026 10:00:00 +0000", body="Otro"
    )
    assert isinstance(pipeline.accept(other_body, smtp()), Stored)
    # Stored, and it joins the open "Sin id" ticket: same requester, same matter.
    assert store.conn.execute("SELECT count(*) FROM tickets").fetchone()[0] == 2
    assert (
        store.conn.execute("SELECT count(*) FROM messages WHERE direction = 'in'").fetchone()[0]
        == 3
    )


@pytest.mark.stores("postgresql")
def test_a_message_stored_meanwhile_by_another_daemon_is_a_duplicate_at_once(
    pipeline: Pipeline,
    store: Store,
    store_location: Path | str,
    config: Config,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Two daemons receive the same mail. The first has stored it but not committed yet;
    # the second finds nothing on its look-up, then waits on the unique key and, once the
    # first commits, answers at once with a duplicate (250), not a failure (451).
    caplog.set_level(logging.INFO, logger="maildesk")
    other_store = Store(store_location)
    other = build_pipeline(config, other_store, clock)
    raw = build()
    try:
        with ThreadPoolExecutor(1) as pool:
            with store.transaction():
                first = stored(pipeline.accept(raw, smtp()))
                second = pool.submit(other.accept, raw, smtp())
                deadline = time.monotonic() + 10
                while not _waiting_on_a_lock(store) and time.monotonic() < deadline:
                    time.sleep(0.02)
                assert _waiting_on_a_lock(store), "the second daemon never reached the key"
                assert not second.done()
            outcome = second.result(timeout=30)
    finally:
        other_store.close()
    assert outcome == Duplicate(first.ticket, "m1@example.com")
    assert "stored meanwhile elsewhere" in caplog.text
    # One ticket, one message, one acknowledgement: the second daemon's work is undone.
    assert store.conn.execute("SELECT count(*) FROM tickets").fetchone()[0] == 1
    assert (
        store.conn.execute("SELECT count(*) FROM messages WHERE direction = 'in'").fetchone()[0]
        == 1
    )
    assert [row["kind"] for row in outbox(store)] == ["ack"]


def _waiting_on_a_lock(store: Store) -> bool:
    """Whether another session of this database waits on a lock (PostgreSQL)."""
    row = store.conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid != pg_backend_pid() AND wait_event_type = 'Lock'"
    ).fetchone()
    return bool(row[0])


def test_attachments_are_stored_once_by_content(pipeline: Pipeline, store: Store) -> None:
    message = EmailMessage()
    message["From"] = "ana@example.com"
    message["To"] = "info@uni.example"
    message["Subject"] = "Documentos"
    message.set_content("Adjunto")
    pdf = b"%PDF-1.4 fake" * 100
    message.add_attachment(pdf, maintype="application", subtype="pdf", filename="../../etc/passwd")
    message.add_attachment(pdf, maintype="application", subtype="pdf", filename="copia.pdf")
    pipeline.accept(message.as_bytes(), smtp())
    rows = inbound_attachments(store)
    assert [r["filename"] for r in rows] == ["passwd", "copia.pdf"]
    assert rows[0]["sha256"] == rows[1]["sha256"]
    assert rows[0]["size"] == len(pdf)
    assert (
        store.conn.execute("SELECT count(*) FROM blobs WHERE size = ?", (len(pdf),)).fetchone()[0]
        == 1
    )


def test_encoded_names_and_subjects_and_html_only_mail_read_as_text(
    pipeline: Pipeline, store: Store
) -> None:
    raw = (
        b"From: =?ISO-8859-1?Q?Jos=E9_Mu=F1oz?= <jose@example.com>\r\n"
        b"To: info@uni.example\r\n"
        b"Subject: =?UTF-8?B?SW5zY3JpcGNpw7NuIGHDsW8gMjAyNw==?=\r\n"
        b"Message-ID: <h1@example.com>\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: text/html; charset=windows-1252\r\n\r\n"
        b"<html><body><p>Buenos d\xedas,</p><p>quiero <b>inscribirme</b>.</p></body></html>\r\n"
    )
    outcome = stored(pipeline.accept(raw, smtp()))
    row = store.conn.execute(
        "SELECT requester_name, subject FROM tickets WHERE number = ?", (outcome.ticket,)
    ).fetchone()
    assert tuple(row) == ("José Muñoz", "Inscripción año 2027")
    body = store.conn.execute("SELECT body FROM messages WHERE direction = 'in'").fetchone()[0]
    assert body == "Buenos días,\n\nquiero inscribirme."


def test_a_missing_from_falls_back_to_the_envelope_sender(pipeline: Pipeline, store: Store) -> None:
    raw = b"To: info@uni.example\r\nSubject: sin remitente\r\n\r\nHola\r\n"
    outcome = stored(
        pipeline.accept(raw, Envelope("juan@example.com", ["info@uni.example"], "smtp"))
    )
    assert (
        store.conn.execute(
            "SELECT requester FROM tickets WHERE number = ?", (outcome.ticket,)
        ).fetchone()[0]
        == "juan@example.com"
    )
    # The null sender <> marks mail from a machine: recorded, never answered.
    bounce = stored(
        pipeline.accept(raw.replace(b"sin", b"otro"), Envelope("", ["info@uni.example"], "smtp"))
    )
    assert (bounce.ticket, bounce.action, bounce.acknowledged) == (None, Action.RECORD, False)
    # With no envelope to fall back on (an IMAP mailbox) a human message from nobody is held.
    nobody = pipeline.accept(
        raw.replace(b"sin", b"ni"), Envelope(None, [], "imap:info", queue="info")
    )
    assert isinstance(nobody, Quarantined)
    assert nobody.reason.startswith("no sender address")


def test_an_out_of_office_reply_is_recorded_but_never_answered(
    pipeline: Pipeline, store: Store
) -> None:
    pipeline.accept(build(), smtp())
    ooo = build(
        "Automatic reply: [INFO#1] Consulta",
        message_id="<ooo@example.com>",
        Auto_Submitted="auto-replied",
    )
    outcome = stored(pipeline.accept(ooo, smtp()))
    assert outcome.ticket == 1
    assert not outcome.acknowledged
    untagged = build(
        "Fuera de la oficina",
        sender="boss@example.com",
        message_id="<ooo2@example.com>",
        Auto_Submitted="auto-replied",
    )
    record = stored(pipeline.accept(untagged, smtp()))
    assert (record.ticket, record.action) == (None, Action.RECORD)
    assert len(outbox(store)) == 1
    assert (
        store.conn.execute("SELECT count(*) FROM messages WHERE ticket IS NULL").fetchone()[0] == 1
    )


def test_a_bounce_of_our_acknowledgement_marks_the_outbox_row_and_joins_the_ticket(
    pipeline: Pipeline, store: Store
) -> None:
    pipeline.accept(build(sender="ana@nowhere.example"), smtp())
    ours = ack_id(store)
    dsn = (
        "From: Mail Delivery System <MAILER-DAEMON@mx.uni.example>\r\n"
        "To: info@uni.example\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <bounce1@mx.uni.example>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.uni.example\r\n\r\n"
        "Final-Recipient: rfc822; ana@nowhere.example\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: info@uni.example\r\nTo: ana@nowhere.example\r\nMessage-ID: <{ours}>\r\n"
        "Subject: [INFO#1] Consulta\r\n"
        "--B--\r\n"
    ).encode()
    outcome = stored(pipeline.accept(dsn, Envelope("", ["info@uni.example"], "smtp")))
    assert (outcome.ticket, outcome.action, outcome.acknowledged) == (1, Action.APPEND, False)
    assert [r["state"] for r in outbox(store)] == ["bounced"]
    kinds = [
        r[0] for r in store.conn.execute("SELECT kind FROM events WHERE ticket = 1 ORDER BY id")
    ]
    assert kinds[:4] == ["open", "notified", "append", "bounced"]
    assert store.conn.execute("SELECT count(*) FROM tickets").fetchone()[0] == 1
    # The agent hears of it: the requester never got our mail.
    last = store.conn.execute("SELECT * FROM outbox ORDER BY id DESC LIMIT 1").fetchone()
    assert (last["kind"], last["rcpt_to"]) == ("notify", '["berta@uni.example"]')
    told = email.message_from_bytes(last["raw"], policy=email.policy.default)
    text = told.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "fue devuelto" in text
    assert "ana@nowhere.example" in text


def test_the_loop_guard_counts_automatic_mail_per_address(
    config: Config, store: Store, clock: FakeClock
) -> None:
    pipeline = build_pipeline(config, store, clock)
    answered = []
    for n in range(7):
        outcome = stored(
            pipeline.accept(build(f"Caso {n}", message_id=f"<c{n}@example.com>"), smtp())
        )
        answered.append(outcome.acknowledged)
    assert answered == [True] * 5 + [False] * 2
    clock.advance(timedelta(minutes=61))  # an hour later the address may be answered again
    later = stored(pipeline.accept(build("Otro", message_id="<c9@example.com>"), smtp()))
    assert later.acknowledged


def test_unknown_charsets_and_empty_bodies_still_make_tickets(
    pipeline: Pipeline, store: Store
) -> None:
    unknown = (
        b"From: =?x-unknown-charset?Q?Jos=E9?= <jose@example.com>\r\n"
        b"To: info@uni.example\r\nSubject: =?klingon?B?SG9sYQ==?=\r\n"
        b"Message-ID: <u1@example.com>\r\n"
        b"Content-Type: text/plain; charset=x-does-not-exist\r\n\r\nCaf\xe9 con leche\r\n"
    )
    empty = (
        b"From: ana@example.com\r\nTo: info@uni.example\r\nSubject: \r\n"
        b"Message-ID: <e1@example.com>\r\n\r\n"
    )
    first = stored(pipeline.accept(unknown, smtp()))
    second = stored(pipeline.accept(empty, smtp()))
    assert first.acknowledged
    assert second.acknowledged
    rows = store.conn.execute(
        "SELECT subject, body FROM messages WHERE direction = 'in' ORDER BY id"
    )
    (subject1, body1), (subject2, body2) = (tuple(r) for r in rows)
    assert subject1 == "Hola"
    assert body1.startswith("Caf")
    assert "con leche" in body1
    assert (subject2, body2) == ("", "")


def test_attachments_over_the_limits_are_left_in_the_raw_mail_and_the_requester_told(
    tmp_path: Path, store: Store, clock: FakeClock
) -> None:
    config = parse(CONFIG + "\n[limits]\nmax_attachments = 2\n", path=None, base_dir=tmp_path)
    pipeline = build_pipeline(config, store, clock)
    message = EmailMessage()
    message["From"] = "Ana <ana@example.com>"
    message["To"] = "info@uni.example"
    message["Subject"] = "Documentos"
    message.set_content("Adjunto tres")
    for name in ("uno.pdf", "dos.pdf", "tres.pdf"):
        message.add_attachment(
            name.encode() * 10, maintype="application", subtype="pdf", filename=name
        )
    outcome = stored(pipeline.accept(message.as_bytes(), smtp()))
    kept = [r[0] for r in inbound_attachments(store)]
    assert kept == ["uno.pdf", "dos.pdf"]
    assert [r["kind"] for r in outbox(store)] == ["ack", "notice"]
    notice = email.message_from_bytes(outbox(store)[1]["raw"], policy=email.policy.default)
    text = notice.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "tres.pdf" in text
    assert "uno.pdf" not in text
    assert notice["Subject"] == f"[INFO#{outcome.ticket}] Documentos"
    raw = store.conn.execute(
        "SELECT b.data FROM messages m JOIN blobs b ON b.sha256 = m.raw_sha256"
        " WHERE m.direction = 'in'"
    ).fetchone()[0]
    assert b'filename="tres.pdf"' in raw  # nothing is lost: the raw mail keeps it


def test_the_acknowledgement_promises_what_the_tickets_policy_owes(
    tmp_path: Path, clock: FakeClock
) -> None:
    """[[sla_policies]] for crm: 8 working hours; info keeps [calendar]'s 24."""
    config = parse(
        CONFIG + '\n[[sla_policies]]\nqueue = "crm"\nfirst_response_hours = 8\n',
        path=None,
        base_dir=tmp_path,
    )
    store = Store(config.database)
    try:
        pipeline = build_pipeline(config, store, clock)
        pipeline.accept(build(), smtp())
        pipeline.accept(
            build(
                "Question",
                sender="Luis <luis@example.com>",
                to="crm@uni.example",
                message_id="<q1@example.com>",
            ),
            Envelope("luis@example.com", ["crm@uni.example"], "smtp"),
        )
        texts = [
            email.message_from_bytes(row["raw"], policy=email.policy.default)
            .get_body(("plain",))
            .get_content()  # type: ignore[union-attr]
            for row in outbox(store)
        ]
    finally:
        store.close()
    assert "24 horas hábiles" in texts[0]
    assert "8 working hours" in texts[1]
