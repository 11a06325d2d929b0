"""Who takes part in a ticket: the pure rule as a table, then through the real pipeline and
store: a stranger who answers one of our mails is heard and copied on nothing; mail that
claims an agent's address without proving it is held and changes nothing."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from maildesk.agents.participants import brought_in, receives
from maildesk.ingest.envelope import Envelope, Stored
from maildesk.ingest.pipeline import Pipeline
from maildesk.store.store import Store
from tests.support.messages import parse_mail, text_of, to_of

pytestmark = pytest.mark.stores("sqlite", "postgresql")

OURS = {"info@uni.example", "berta@uni.example"}.__contains__


@pytest.mark.parametrize(
    ("sender", "addressed", "agent", "expected"),
    [
        # The requester brings in whoever they copy, never us nor an agent.
        ("ana@x.org", ["info@uni.example", "Tutor@Familia.org"], False, ["tutor@familia.org"]),
        ("ANA@x.org", ["berta@uni.example", "ana@x.org"], False, []),
        # An agent brings in whoever they copy.
        (
            "carlos@uni.example",
            ["jefa@uni.example", "jefa@uni.example"],
            True,
            ["jefa@uni.example"],
        ),
        # Anyone else brings in nobody, not even themselves.
        ("eve@y.org", ["info@uni.example", "zoe@y.org"], False, []),
        ("tutor@familia.org", ["abuela@familia.org"], False, []),
    ],
    ids=["requester", "requester-ours-only", "agent", "stranger", "participant"],
)
def test_who_a_message_brings_in(
    sender: str, addressed: list[str], agent: bool, expected: list[str]
) -> None:
    found = brought_in(sender, addressed, requester="ana@x.org", agent=agent, ours=OURS)
    assert found == expected


@pytest.mark.parametrize(
    ("address", "role", "expected"),
    [
        ("ana@x.org", "requester", True),
        ("berta@uni.example", "requester", True),  # an agent who asked for something
        ("tutor@familia.org", "cc", True),
        ("berta@uni.example", "cc", False),  # became an agent after being copied
    ],
)
def test_who_receives_a_reply(address: str, role: str, expected: bool) -> None:
    assert receives(address, role, OURS) is expected


# -- through the pipeline -----------------------------------------------------------------

CONFIG = """
[[queues]]
name = "info"
addresses = ["info@uni.example"]
tag = "INFO"
groups = ["secretaria"]
rotation = ["berta@uni.example"]

[[agents]]
name = "Berta"
addresses = ["berta@uni.example"]
groups = ["secretaria"]

[agent_auth]
require = true
authserv_ids = ["mx.uni.example"]
"""
PASSED = "mx.uni.example; dkim=pass header.d=uni.example"


def mail(
    sender: str,
    body: str,
    *,
    message_id: str,
    in_reply_to: str = "",
    subject: str = "Certificado de notas",
    **headers: str,
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "info@uni.example"
    message["Subject"] = subject
    message["Message-ID"] = message_id
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = in_reply_to
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message.as_bytes()


def accept(pipeline: Pipeline, raw: bytes) -> Stored:
    outcome = pipeline.accept(raw, Envelope("x@example.com", ["info@uni.example"], "smtp"))
    assert isinstance(outcome, Stored), outcome
    return outcome


def outbox(store: Store, kind: str) -> list[EmailMessage]:
    rows = store.conn.execute("SELECT raw FROM outbox WHERE kind = ? ORDER BY id", (kind,))
    return [parse_mail(r["raw"]) for r in rows]


def participants(store: Store) -> list[str]:
    return [r[0] for r in store.conn.execute("SELECT address FROM participants ORDER BY 1")]


def opened(pipeline: Pipeline, store: Store) -> str:
    """Ana's request is open; the Message-ID of its notification to Berta."""
    accept(
        pipeline, mail("Ana <ana@alumnos.example>", "Necesito un certificado.", message_id="<r1@a>")
    )
    [notification] = outbox(store, "notify")
    return str(notification["Message-ID"])


def test_a_stranger_answering_a_forwarded_notification_is_heard_and_copied_on_nothing(
    pipeline: Pipeline, store: Store
) -> None:
    notification = opened(pipeline, store)
    stranger = mail(
        "Eve <eve@fuera.example>",
        "¿Qué certificado es este?",
        message_id="<e1@fuera.example>",
        in_reply_to=notification,
        subject="RE: RV: [INFO#1] Certificado de notas",
        Cc="Zoe <zoe@fuera.example>",
    )
    assert accept(pipeline, stranger).ticket == 1
    assert participants(store) == ["ana@alumnos.example"]
    told = outbox(store, "notify")[-1]
    assert to_of(told) == ["berta@uni.example"]
    assert "eve@fuera.example" in text_of(told)
    assert [to_of(m) for m in outbox(store, "ack")] == [["ana@alumnos.example"]]

    reply = mail(
        "Berta <berta@uni.example>",
        "Su certificado está listo.",
        message_id="<b1@uni.example>",
        in_reply_to=str(told["Message-ID"]),
        Authentication_Results=PASSED,
    )
    accept(pipeline, reply)
    [relayed] = outbox(store, "reply")
    assert to_of(relayed) == ["ana@alumnos.example"]
    assert relayed["Cc"] is None
    assert relayed["In-Reply-To"] == "<r1@a>"  # under Ana's mail, not the stranger's
    assert "e1@fuera.example" not in str(relayed["References"])


def test_an_agent_brings_in_whom_they_copy(pipeline: Pipeline, store: Store) -> None:
    notification = opened(pipeline, store)
    reply = mail(
        "Berta <berta@uni.example>",
        "Copio a la jefa de estudios.",
        message_id="<b1@uni.example>",
        in_reply_to=notification,
        Authentication_Results=PASSED,
        Cc="Jefa <jefa@uni.example>, info@uni.example",
    )
    accept(pipeline, reply)
    [relayed] = outbox(store, "reply")
    assert to_of(relayed) == ["ana@alumnos.example", "jefa@uni.example"]
    assert participants(store) == ["ana@alumnos.example", "jefa@uni.example"]


@pytest.mark.parametrize("by", ["signed-id", "tag"])
def test_mail_failing_the_agents_authentication_is_held(
    pipeline: Pipeline, store: Store, by: str
) -> None:
    notification = opened(pipeline, store)
    store.conn.execute("UPDATE tickets SET state = 'pending' WHERE number = 1")
    forged = mail(
        "Berta <berta@uni.example>",
        "#close\n\nSu solicitud ha sido denegada.",
        message_id="<f1@evil.example>",
        in_reply_to=notification if by == "signed-id" else "",
        subject="RE: [INFO#1] Certificado de notas",
        Authentication_Results="evil.example; dkim=pass header.d=uni.example",
        Cc="Mallory <mallory@evil.example>",
    )
    outcome = accept(pipeline, forged)
    assert (outcome.ticket, outcome.acknowledged) == (1, False)
    row = store.conn.execute("SELECT state, first_response_at FROM tickets").fetchone()
    assert tuple(row) == ("pending", None)
    assert participants(store) == ["ana@alumnos.example"]
    assert outbox(store, "reply") == outbox(store, "error") == []
    assert len(outbox(store, "ack")) == 1  # the first one, to Ana's request
    kind, note = store.conn.execute(
        "SELECT kind, note FROM messages WHERE message_id = 'f1@evil.example'"
    ).fetchone()
    assert kind == "held"
    assert note.endswith("; agent address failed authentication")
    held = store.conn.execute("SELECT detail FROM events WHERE kind = 'held'").fetchone()
    assert (
        held[0] == "mail claiming to be from agent Berta <berta@uni.example> failed authentication"
    )
    warning = outbox(store, "notify")[-1]
    assert to_of(warning) == ["berta@uni.example"]
    text = text_of(warning)
    assert "Mensaje retenido en la solicitud INFO#1" in text
    assert "dice venir del agente Berta" in text
    assert "#close" in text  # shown to the agents, never run
