"""An anonymous queue in the pipeline, against a real SQLite store: bounces, quarantine,
agents, delivery and logs never show the sender's address or name."""

from __future__ import annotations

import email
import email.policy
import json
import logging
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest

from maildesk.agents.actions import Actor
from maildesk.agents.notices import ActionError
from maildesk.clock import FakeClock
from maildesk.config import Config
from maildesk.errors import PermanentError, TransientError
from maildesk.ingest.envelope import Envelope, Quarantined, Stored
from maildesk.ingest.pipeline import Pipeline
from maildesk.privacy import sealed
from maildesk.privacy.anonymity import Sealer, is_alias
from maildesk.store.database import tables
from maildesk.store.store import Store
from tests.support.desk import build_pipeline

pytestmark = pytest.mark.stores("sqlite", "postgresql")

SEALER = Sealer(b"seal-key-for-the-tests-0123456789")
REAL = "ana.ruiz@alumnos.example"
NAME = "Ana Ruiz"
CONFIG = """
[[queues]]
name = "quejas"
addresses = ["quejas@uni.example"]
tag = "QUEJA"
anonymous = true

[[queues]]
name = "info"
addresses = ["info@uni.example"]
tag = "INFO"

[[agents]]
name = "Berta"
addresses = ["berta@uni.example"]
"""


@pytest.fixture
def pipeline(config: Config, store: Store) -> Pipeline:
    clock = FakeClock(datetime(2026, 11, 20, 14, 0, tzinfo=UTC))
    return build_pipeline(config, store, clock, sealer=SEALER)


def complaint(body: str = "El laboratorio sigue sin extintor.") -> bytes:
    return mail(f"{NAME} <{REAL}>", "quejas@uni.example", "Seguridad", "q1", f"{body}\n\n{NAME}\n")


def mail(sender: str, to: str, subject: str, message_id: str, body: str) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = f"<{message_id}@{sender.partition('@')[2].rstrip('>')}>"
    message.set_content(body)
    return message.as_bytes()


def smtp(to: str = "quejas@uni.example") -> Envelope:
    return Envelope(REAL, [to], "smtp")


def everything(store: Store) -> str:
    """Every text the store holds outside the sealed table, raw mail included."""
    texts = []
    for table in tables(store.conn):
        if table == "sealed_addresses":
            continue
        for row in store.conn.execute(f"SELECT * FROM {table}"):  # noqa: S608
            for value in row:
                if isinstance(value, bytes):
                    value = value.decode("utf-8", "replace")
                texts.append(str(value))
    return "\n".join(texts)


def test_a_pipeline_with_an_anonymous_queue_needs_the_seal_key(
    config: Config, store: Store
) -> None:
    clock = FakeClock(datetime(2026, 11, 20, 14, 0, tzinfo=UTC))
    with pytest.raises(ValueError, match="seal key"):
        build_pipeline(config, store, clock)


def test_the_store_and_the_log_hold_only_the_pseudonym(
    pipeline: Pipeline, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    outcome = pipeline.accept(complaint(), smtp())
    assert isinstance(outcome, Stored)
    requester = store.conn.execute("SELECT requester, requester_name FROM tickets").fetchone()
    assert is_alias(requester[0])
    assert requester[1].startswith("Anónimo ")
    assert sealed.open_recipients(store, SEALER, [requester[0], "x@y.example"]) == [
        REAL,
        "x@y.example",
    ]
    held = everything(store)
    assert "El laboratorio sigue sin extintor." in held
    for leak in (REAL, NAME, "ana.ruiz"):
        assert leak not in held
        assert leak not in caplog.text
    # The same person again: the same pseudonym, the same ticket (the duplicate window).
    again = pipeline.accept(
        complaint("Y el de la planta baja tampoco.").replace(b"q1@", b"q2@"), smtp()
    )
    assert isinstance(again, Stored)
    assert again.ticket == outcome.ticket


def test_a_bounce_of_our_answer_names_the_pseudonym_not_the_address(
    pipeline: Pipeline, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    pipeline.accept(complaint(), smtp())
    [(ours, rcpt_to)] = store.conn.execute(
        "SELECT message_id, rcpt_to FROM outbox WHERE kind = 'ack'"
    ).fetchall()
    alias = json.loads(rcpt_to)[0]
    dsn = (
        "From: Mail Delivery System <MAILER-DAEMON@mx.uni.example>\r\n"
        "To: quejas@uni.example\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <bounce1@mx.uni.example>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        f"--B\r\nContent-Type: text/plain\r\n\r\n<{REAL}>: mailbox full\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.uni.example\r\n\r\n"
        f"Final-Recipient: rfc822; {REAL}\r\nAction: failed\r\nStatus: 5.2.2\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: quejas@uni.example\r\nTo: {REAL}\r\nMessage-ID: <{ours}>\r\n"
        "--B--\r\n"
    ).encode()
    caplog.set_level(logging.DEBUG)
    outcome = pipeline.accept(dsn, Envelope("", ["quejas@uni.example"], "smtp"))
    assert isinstance(outcome, Stored)
    assert outcome.ticket == 1
    states = [r[0] for r in store.conn.execute("SELECT state FROM outbox WHERE kind = 'ack'")]
    assert states == ["bounced"]
    [detail] = [
        r[0] for r in store.conn.execute("SELECT detail FROM events WHERE kind = 'bounced'")
    ]
    assert alias in detail
    [notice] = store.conn.execute("SELECT raw FROM outbox WHERE kind = 'notify'").fetchall()[-1:]
    told = email.message_from_bytes(notice[0], policy=email.policy.default)
    assert "mailbox full" in told.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    held = everything(store)
    assert REAL not in held
    assert "ana.ruiz" not in held
    assert "ana.ruiz" not in caplog.text


def test_unreadable_mail_to_an_anonymous_queue_is_held_sealed(
    pipeline: Pipeline, store: Store
) -> None:
    raw = b"\x00\x01\x02 not a mail from " + REAL.encode()
    outcome = pipeline.accept(raw, smtp())
    assert isinstance(outcome, Quarantined)
    row = store.conn.execute(
        "SELECT q.envelope_from, b.data FROM quarantine q JOIN blobs b ON b.sha256 = q.raw_sha256"
    ).fetchone()
    assert is_alias(row[0])
    assert REAL.encode() not in row[1]
    assert SEALER.open_raw(bytes(row[1])) == raw


def test_an_agent_writing_to_the_anonymous_queue_is_not_masked(
    pipeline: Pipeline, store: Store
) -> None:
    test = mail("Berta <berta@uni.example>", "quejas@uni.example", "Prueba", "b1", "Probando.")
    outcome = pipeline.accept(test, Envelope("berta@uni.example", ["quejas@uni.example"], "smtp"))
    assert isinstance(outcome, Stored)
    [(requester, from_addr)] = store.conn.execute(
        "SELECT t.requester, m.from_addr FROM messages m JOIN tickets t ON t.number = m.ticket"
        " WHERE m.direction = 'in'"
    ).fetchall()
    assert (requester, from_addr) == ("berta@uni.example", "berta@uni.example")


def test_an_erased_or_foreign_seal_is_never_delivered(store: Store) -> None:
    alias = SEALER.alias(REAL)
    with pytest.raises(PermanentError, match="erased"):
        sealed.open_recipients(store, SEALER, [alias])
    with store.transaction():
        sealed.keep(store, alias, SEALER.seal(REAL), datetime(2026, 11, 20, tzinfo=UTC))
    with pytest.raises(TransientError, match="no seal key"):
        sealed.open_recipients(store, None, [alias])
    with pytest.raises(PermanentError, match="does not open"):
        sealed.open_recipients(
            store, Sealer(b"another key, not the one it was sealed with"), [alias]
        )
    assert sealed.open_recipients(store, SEALER, [alias]) == [REAL]


def test_an_anonymous_complaint_and_an_ordinary_ticket_are_never_merged(
    pipeline: Pipeline, store: Store
) -> None:
    pipeline.accept(complaint(), smtp())
    question = "¿A qué hora abre la biblioteca?"
    ordinary = mail("Luis <luis@alumnos.example>", "info@uni.example", "Horario", "i1", question)
    pipeline.accept(ordinary, smtp("info@uni.example"))
    actions = pipeline.desk.actions
    now = datetime(2026, 11, 20, 15, tzinfo=UTC)
    for one, other in ((1, 2), (2, 1)):
        with pytest.raises(ActionError, match="anonymous complaint"):
            actions.merge(actions.ticket(one), actions.ticket(other), Actor.of(None), now)
    merged = store.conn.execute("SELECT count(*) FROM tickets WHERE merged_into IS NOT NULL")
    assert merged.fetchone()[0] == 0
