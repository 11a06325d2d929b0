"""The agent side through the real pipeline and store, with a fake clock: rota and
notifications, relayed replies, every command, authentication, Cc, same-matter detection,
routing rules."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from maildesk.clock import FakeClock
from maildesk.config import Config, parse
from maildesk.ingest.envelope import Envelope, Stored
from maildesk.ingest.pipeline import Pipeline
from maildesk.store.store import Store, from_iso
from tests.support.desk import build_pipeline
from tests.support.messages import parse_mail, text_of, to_of

pytestmark = pytest.mark.stores("sqlite", "postgresql")

# Friday 20 November 2026, 10:00 in Santo Domingo.
FRIDAY = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
ZONE = ZoneInfo("America/Santo_Domingo")  # the default calendar's
CONFIG = """
[[queues]]
name = "info"
addresses = ["info@uni.example"]
tag = "INFO"
groups = ["secretaria"]
rota_fri = ["berta@uni.example"]
rota_mon = ["Carlos"]

[[queues]]
name = "crm"
addresses = ["crm@uni.example"]
tag = "CRM"
language = "en"
groups = ["empresas"]
notify_attachments = "list"

[[agents]]
name = "Berta"
addresses = ["berta@uni.example", "bgomez@uni.example"]
groups = ["secretaria"]

[[agents]]
name = "Carlos"
addresses = ["carlos@uni.example"]
groups = ["secretaria", "becas"]
coordinator = true

[[agents]]
name = "Dana"
addresses = ["dana@uni.example"]
groups = ["empresas"]
language = "en"

[[agents]]
name = "Eva"
addresses = ["eva@uni.example"]
groups = ["empresas"]
language = "en"

[[categories]]
name = "becas"
ack_template = "ack_becas.txt.j2"

[[categories]]
name = "certificados"

[[routes]]
subject_keywords = ["beca", "becas"]
category = "becas"
group = "becas"

[[routes]]
sender_domains = ["embajada.example"]
segment = "vip"
priority = "high"
"""


@pytest.fixture
def config(tmp_path: Path) -> Config:
    site = tmp_path / "site" / "es"
    site.mkdir(parents=True)
    (site / "ack_becas.txt.j2").write_text(
        "Solicitud {{ ref }}: envíe su expediente académico.\n", encoding="utf-8"
    )
    text = f'[maildesk]\ntemplates_dir = "site"\n{CONFIG}'
    return parse(text, path=None, base_dir=tmp_path)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(FRIDAY)


def build(
    subject: str = "Certificado de notas",
    body: str = "Buenos días, necesito un certificado.",
    *,
    sender: str = "Ana Pérez <ana@alumnos.example>",
    to: str = "info@uni.example",
    message_id: str = "<r1@alumnos.example>",
    attachments: list[tuple[str, bytes]] | None = None,
    **headers: str,
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = message_id
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    for filename, data in attachments or []:
        message.add_attachment(data, maintype="application", subtype="pdf", filename=filename)
    return message.as_bytes()


def smtp(*recipients: str) -> Envelope:
    return Envelope("x@example.com", list(recipients) or ["info@uni.example"], "smtp")


def mails(store: Store, kind: str | None = None) -> list[EmailMessage]:
    rows = store.conn.execute(
        "SELECT raw FROM outbox WHERE CAST(? AS TEXT) IS NULL OR kind = ? ORDER BY id",
        (kind, kind),
    ).fetchall()
    return [parse_mail(row["raw"]) for row in rows]


def attachment_names(message: EmailMessage) -> list[str]:
    return [str(p.get_filename()) for p in message.iter_attachments()]


def ticket(store: Store, number: int = 1) -> sqlite3.Row:
    row: sqlite3.Row | None = store.conn.execute(
        "SELECT * FROM tickets WHERE number = ?", (number,)
    ).fetchone()
    assert row is not None
    return row


def events(store: Store, number: int = 1) -> list[str]:
    rows = store.conn.execute("SELECT kind FROM events WHERE ticket = ? ORDER BY id", (number,))
    return [r[0] for r in rows]


def agent_reply(
    store: Store,
    body: str,
    *,
    sender: str = "Berta <berta@uni.example>",
    message_id: str = "<a1@uni.example>",
    number: int = 1,
    **kwargs: Any,
) -> bytes:
    """An agent's answer to the last notification of ticket ``number``."""
    row = store.conn.execute(
        "SELECT message_id FROM outbox WHERE kind IN ('notify', 'error') AND ticket = ?"
        " ORDER BY id DESC LIMIT 1",
        (number,),
    ).fetchone()
    notification = row[0]
    return build(
        f"RE: [INFO#{number}] Certificado de notas",
        body,
        sender=sender,
        message_id=message_id,
        In_Reply_To=f"<{notification}>",
        References=f"<{notification}>",
        **kwargs,
    )


def stored(outcome: object) -> Stored:
    assert isinstance(outcome, Stored), outcome
    return outcome


# -- notifications and the rota ---------------------------------------------------------


def test_a_new_ticket_goes_to_the_agent_on_duty_who_is_notified(
    pipeline: Pipeline, store: Store
) -> None:
    pdf = b"%PDF-1.4 notas" * 50
    stored(pipeline.accept(build(attachments=[("dni.pdf", pdf)]), smtp()))
    row = ticket(store)
    assert (row["assignee"], row["group_name"], row["priority"]) == (
        "berta@uni.example",
        "secretaria",
        "normal",
    )
    [notice] = mails(store, "notify")
    assert to_of(notice) == ["berta@uni.example"]
    assert notice["From"].addresses[0].addr_spec == "info@uni.example"
    assert notice["Reply-To"].addresses[0].addr_spec == "info@uni.example"
    assert notice["Subject"] == "[INFO#1] Certificado de notas"
    assert notice["Message-ID"].startswith("<md.1.n.")
    assert notice["Auto-Submitted"] == "auto-generated"
    text = text_of(notice)
    assert text.startswith("##- Escriba su respuesta encima de esta línea -##")
    assert "Nueva solicitud INFO#1" in text
    assert "Ana Pérez <ana@alumnos.example>" in text
    assert "Buenos días, necesito un certificado." in text
    assert "Asignada a: Berta (grupo secretaria)" in text
    assert "dni.pdf" in text
    assert attachment_names(notice) == ["dni.pdf"]
    [attached] = list(notice.iter_attachments())
    assert attached.get_content() == pdf


def test_the_rota_follows_the_weekday_and_a_name_works_as_well_as_an_address(
    pipeline: Pipeline, store: Store, clock: FakeClock
) -> None:
    clock.advance(timedelta(days=3))  # Monday: Carlos
    stored(pipeline.accept(build(), smtp()))
    assert ticket(store)["assignee"] == "carlos@uni.example"
    assert to_of(mails(store, "notify")[0]) == ["carlos@uni.example"]


def test_with_an_empty_rota_the_whole_group_is_notified_in_its_language(
    pipeline: Pipeline, store: Store
) -> None:
    stored(
        pipeline.accept(
            build("Partnership", "Hello", to="crm@uni.example", attachments=[("deck.pdf", b"x")]),
            smtp("crm@uni.example"),
        )
    )
    row = ticket(store)
    assert (row["assignee"], row["group_name"]) == (None, "empresas")
    [notice] = mails(store, "notify")
    assert sorted(to_of(notice)) == ["dana@uni.example", "eva@uni.example"]
    text = text_of(notice)
    assert text.startswith("##- Type your reply above this line -##")
    assert "Assigned to: nobody (group empresas)" in text
    # notify_attachments = "list": named, not attached.
    assert "deck.pdf (1 B)" in text
    assert "not included" in text
    assert attachment_names(notice) == []


def test_every_requester_follow_up_is_notified_without_its_quoted_history(
    pipeline: Pipeline, store: Store
) -> None:
    stored(pipeline.accept(build(), smtp()))
    ack = store.conn.execute("SELECT message_id FROM outbox WHERE kind = 'ack'").fetchone()[0]
    follow_up = build(
        "RE: [INFO#1] Certificado de notas",
        "Lo necesito para el lunes.\n\nEl vie, 20 nov 2026 a las 10:00, Mesa"
        " <info@uni.example> escribió:\n> Hemos recibido su solicitud\n",
        message_id="<r2@alumnos.example>",
        In_Reply_To=f"<{ack}>",
    )
    assert stored(pipeline.accept(follow_up, smtp())).ticket == 1
    _, second = mails(store, "notify")
    text = text_of(second)
    assert "Nuevo mensaje en la solicitud INFO#1" in text
    assert "Lo necesito para el lunes." in text
    assert "Hemos recibido" not in text
    assert to_of(second) == ["berta@uni.example"]


def test_an_out_of_office_reply_is_not_notified(pipeline: Pipeline, store: Store) -> None:
    stored(pipeline.accept(build(), smtp()))
    ooo = build(
        "Automatic reply: [INFO#1] Certificado de notas",
        "Estoy fuera",
        message_id="<ooo@alumnos.example>",
        Auto_Submitted="auto-replied",
    )
    stored(pipeline.accept(ooo, smtp()))
    assert len(mails(store, "notify")) == 1


# -- relayed replies ----------------------------------------------------------------------


OUTLOOK = (
    "Buenos días, Ana:\r\n\r\nSu certificado está listo; se lo adjunto.\r\n\r\n"
    "Saludos,\r\nBerta\r\n\r\n"
    "De: Mesa de servicio <info@uni.example>\r\n"
    "Enviado el: viernes, 20 de noviembre de 2026 10:05\r\n"
    "Para: Berta <berta@uni.example>\r\n"
    "Asunto: [INFO#1] Certificado de notas\r\n\r\n"
    "##- Escriba su respuesta encima de esta línea -##\r\n\r\n"
    "Nueva solicitud INFO#1\r\n\r\nBuenos días, necesito un certificado.\r\n"
)
GMAIL = (
    "Adjunto también el justificante.\r\n\r\n-- \r\nBerta Gómez\r\nSecretaría\r\n\r\n"
    "El vie, 20 nov 2026 a las 10:05, Mesa de servicio (<info@uni.example>)\r\n"
    "escribió:\r\n\r\n"
    "> ##- Escriba su respuesta encima de esta línea -##\r\n>\r\n"
    "> Nueva solicitud INFO#1\r\n> Buenos días, necesito un certificado.\r\n"
)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            OUTLOOK,
            "Buenos días, Ana:\n\nSu certificado está listo; se lo adjunto.\n\nSaludos,\nBerta",
        ),
        (GMAIL, "Adjunto también el justificante."),
    ],
    ids=["outlook", "gmail"],
)
def test_an_agent_reply_reaches_the_requester_clean_with_tag_threading_and_attachments(
    pipeline: Pipeline, store: Store, clock: FakeClock, body: str, expected: str
) -> None:
    stored(pipeline.accept(build(), smtp()))
    clock.advance(timedelta(minutes=30))
    reply = agent_reply(store, body, attachments=[("certificado.pdf", b"%PDF cert")])
    outcome = stored(pipeline.accept(reply, smtp()))
    assert (outcome.ticket, outcome.acknowledged) == (1, False)
    [relayed] = mails(store, "reply")
    assert to_of(relayed) == ["ana@alumnos.example"]
    assert relayed["From"].addresses[0].addr_spec == "info@uni.example"
    assert relayed["Subject"] == "[INFO#1] Certificado de notas"
    assert relayed["In-Reply-To"] == "<r1@alumnos.example>"
    assert "<r1@alumnos.example>" in relayed["References"]
    assert relayed["Message-ID"].startswith("<md.1.r.")
    text = text_of(relayed)
    assert text.startswith(expected + "\n")
    for leak in ("##-", "Nueva solicitud", "Enviado el", "escribió", "Secretaría", "Comandos"):
        assert leak not in text
    assert attachment_names(relayed) == ["certificado.pdf"]
    row = ticket(store)
    assert row["state"] == "open"
    assert row["first_response_at"] == (FRIDAY + timedelta(minutes=30)).isoformat(
        timespec="microseconds"
    )
    kinds = store.conn.execute(
        "SELECT kind, body FROM messages WHERE direction = 'in' ORDER BY id"
    ).fetchall()
    assert [k[0] for k in kinds] == ["human", "agent"]
    assert kinds[1][1] == expected


def test_the_second_reply_keeps_the_first_response_time(
    pipeline: Pipeline, store: Store, clock: FakeClock
) -> None:
    stored(pipeline.accept(build(), smtp()))
    stored(pipeline.accept(agent_reply(store, "Primera"), smtp()))
    first = ticket(store)["first_response_at"]
    clock.advance(timedelta(hours=2))
    stored(pipeline.accept(agent_reply(store, "Segunda", message_id="<a2@uni.example>"), smtp()))
    assert ticket(store)["first_response_at"] == first
    assert [text_of(m).split("\n")[0] for m in mails(store, "reply")] == ["Primera", "Segunda"]


def test_an_alias_counts_as_the_agent(pipeline: Pipeline, store: Store) -> None:
    stored(pipeline.accept(build(), smtp()))
    stored(pipeline.accept(agent_reply(store, "Hecho.", sender="bgomez@uni.example"), smtp()))
    assert len(mails(store, "reply")) == 1


def test_an_agent_out_of_office_is_never_relayed(pipeline: Pipeline, store: Store) -> None:
    stored(pipeline.accept(build(), smtp()))
    ooo = agent_reply(store, "Estoy de vacaciones", Auto_Submitted="auto-replied")
    stored(pipeline.accept(ooo, smtp()))
    assert mails(store, "reply") == []
    assert ticket(store)["state"] == "new"


def test_agent_mail_without_a_signed_reference_is_not_relayed(
    pipeline: Pipeline, store: Store
) -> None:
    stored(pipeline.accept(build(), smtp()))
    tagged = build(
        "RE: [INFO#1] Certificado de notas",
        "#close\n\nListo",
        sender="berta@uni.example",
        message_id="<t1@uni.example>",
    )
    assert stored(pipeline.accept(tagged, smtp())).ticket == 1
    assert mails(store, "reply") == []
    assert ticket(store)["state"] == "new"


def test_cc_people_become_participants_and_receive_replies(
    pipeline: Pipeline, store: Store
) -> None:
    stored(
        pipeline.accept(
            build(Cc="Tutor <tutor@familia.example>, berta@uni.example, info@uni.example"),
            smtp(),
        )
    )
    stored(pipeline.accept(agent_reply(store, "Listo."), smtp()))
    [relayed] = mails(store, "reply")
    assert to_of(relayed) == ["ana@alumnos.example", "tutor@familia.example"]
    people = [r[0] for r in store.conn.execute("SELECT address FROM participants ORDER BY 1")]
    assert people == ["ana@alumnos.example", "tutor@familia.example"]  # never an agent


# -- commands -----------------------------------------------------------------------------


def test_note_is_recorded_and_never_sent(pipeline: Pipeline, store: Store) -> None:
    stored(pipeline.accept(build(), smtp()))
    stored(pipeline.accept(agent_reply(store, "#nota\r\nLlamé a la alumna."), smtp()))
    assert mails(store, "reply") == []
    body, kind = store.conn.execute(
        "SELECT body, kind FROM messages WHERE direction = 'in' ORDER BY id DESC"
    ).fetchone()
    assert (kind, body) == ("note", "Llamé a la alumna.")
    assert ticket(store)["state"] == "new"
    assert ticket(store)["first_response_at"] is None


@pytest.mark.parametrize(
    ("commands", "state", "resolved"),
    [
        ("#close", "closed", True),
        ("#resolver", "resolved", True),
        ("#pendiente 3", "pending", False),
    ],
)
def test_state_commands_with_a_reply(
    pipeline: Pipeline,
    store: Store,
    clock: FakeClock,
    commands: str,
    state: str,
    resolved: bool,
) -> None:
    stored(pipeline.accept(build(), smtp()))
    stored(pipeline.accept(agent_reply(store, f"{commands}\n\nSu certificado."), smtp()))
    row = ticket(store)
    assert row["state"] == state
    assert (row["resolved_at"] is not None) is resolved
    assert text_of(mails(store, "reply")[0]).startswith("Su certificado.")
    if state == "pending":
        assert row["pending_until"] == (clock.now() + timedelta(days=3)).isoformat(
            timespec="microseconds"
        )


def test_pending_without_days_reminds_after_the_sla_working_days(
    pipeline: Pipeline, store: Store, clock: FakeClock
) -> None:
    stored(pipeline.accept(build(), smtp()))
    stored(pipeline.accept(agent_reply(store, "#pending"), smtp()))
    row = ticket(store)
    assert row["pending_until"] is None
    # Friday 20 Nov 2026, 10:00 in Santo Domingo: three working days on is Wednesday.
    assert from_iso(row["followup_at"]) == datetime(2026, 11, 25, 10, tzinfo=ZONE)
    assert mails(store, "reply") == []  # commands only: nothing to relay


def test_assign_to_an_agent_and_to_a_group_notifies_the_new_people(
    pipeline: Pipeline, store: Store
) -> None:
    stored(pipeline.accept(build(), smtp()))
    stored(pipeline.accept(agent_reply(store, "#asignar carlos"), smtp()))
    assert ticket(store)["assignee"] == "carlos@uni.example"
    notice = mails(store, "notify")[-1]
    assert to_of(notice) == ["carlos@uni.example"]
    assert "asignada por Berta <berta@uni.example>" in text_of(notice)
    assert "Buenos días, necesito un certificado." in text_of(notice)
    notices = len(mails(store, "notify"))
    stored(
        pipeline.accept(
            agent_reply(
                store,
                "#assign becas",
                sender="carlos@uni.example",
                message_id="<a2@uni.example>",
            ),
            smtp(),
        )
    )
    row = ticket(store)
    assert (row["assignee"], row["group_name"]) == (None, "becas")
    # Carlos, the group's only member, gave it to the group himself: nobody else to tell.
    assert len(mails(store, "notify")) == notices
    assert events(store).count("assigned") == 2


def test_priority_category_and_macro(pipeline: Pipeline, store: Store) -> None:
    stored(pipeline.accept(build(), smtp()))
    stored(
        pipeline.accept(
            agent_reply(store, "#prioridad alta\n#categoria certificados\n#plantilla documentos"),
            smtp(),
        )
    )
    row = ticket(store)
    assert (row["priority"], row["category"]) == ("high", "certificados")
    [relayed] = mails(store, "reply")
    text = text_of(relayed)
    assert text.startswith("Estimado/a Ana Pérez:")
    assert "INFO#1 («Certificado de notas»)" in text


def test_cancel_is_for_coordinators(pipeline: Pipeline, store: Store) -> None:
    stored(pipeline.accept(build(), smtp()))
    stored(pipeline.accept(agent_reply(store, "#cancel\n\nSpam"), smtp()))
    assert ticket(store)["state"] == "new"
    [error] = mails(store, "error")
    assert to_of(error) == ["berta@uni.example"]
    assert "Solo los coordinadores pueden #cancelar una solicitud." in text_of(error)
    assert mails(store, "reply") == []
    stored(
        pipeline.accept(
            agent_reply(store, "#cancelar", sender="carlos@uni.example", message_id="<c@u>"),
            smtp(),
        )
    )
    assert ticket(store)["state"] == "cancelled"


def test_an_unknown_command_mails_the_agent_only_and_nothing_is_done(
    pipeline: Pipeline, store: Store
) -> None:
    stored(pipeline.accept(build(), smtp()))
    before = len(mails(store))
    reply = agent_reply(store, "#close\n#frobnicate\n#assign nadie\n\nSu certificado.")
    stored(pipeline.accept(reply, smtp()))
    new = mails(store)[before:]
    assert [to_of(m) for m in new] == [["berta@uni.example"]]
    error = new[0]
    assert error["Message-ID"].startswith("<md.1.x.")
    assert error["In-Reply-To"] == "<a1@uni.example>"
    text = text_of(error)
    assert "#frobnicate" in text
    assert "#frobnicate no es un comando." in text
    assert "Ningún agente ni grupo se llama «nadie»" in text
    assert "el solicitante no ha recibido nada" in text
    row = ticket(store)
    assert (row["state"], row["first_response_at"]) == ("new", None)
    assert "commands-refused" in events(store)
    # Answering the error mail with the commands corrected works.
    stored(
        pipeline.accept(
            agent_reply(store, "#close\n\nSu certificado.", message_id="<a2@uni.example>"),
            smtp(),
        )
    )
    assert ticket(store)["state"] == "closed"
    assert len(mails(store, "reply")) == 1


def test_merge_moves_the_messages_and_later_mail_follows(pipeline: Pipeline, store: Store) -> None:
    stored(pipeline.accept(build(), smtp()))
    stored(pipeline.accept(build("Otra cosa", "Y esto", message_id="<r2@alumnos.example>"), smtp()))
    stored(pipeline.accept(agent_reply(store, "#fusionar INFO#1", number=2), smtp()))
    assert (ticket(store, 2)["state"], ticket(store, 2)["merged_into"]) == ("closed", 1)
    moved = store.conn.execute("SELECT count(*) FROM messages WHERE ticket = 2").fetchone()[0]
    assert moved == 0
    later = build("RE: [INFO#2] Otra cosa", "¿Y bien?", message_id="<r3@alumnos.example>")
    assert stored(pipeline.accept(later, smtp())).ticket == 1
    stored(pipeline.accept(build("Tercera", message_id="<r4@alumnos.example>"), smtp()))
    refused = agent_reply(store, "#merge CRM#3", number=1, message_id="<a8@uni.example>")
    stored(pipeline.accept(refused, smtp()))
    assert "La solicitud 3 es INFO#3, no CRM." in text_of(mails(store, "error")[-1])
    itself = agent_reply(store, "#merge 1", number=1, message_id="<a9@uni.example>")
    stored(pipeline.accept(itself, smtp()))
    assert "Una solicitud no puede fusionarse consigo misma." in text_of(mails(store, "error")[-1])


# -- authentication -----------------------------------------------------------------------


@pytest.fixture
def strict(config: Config, store: Store, clock: FakeClock, tmp_path: Path) -> Pipeline:
    auth = '[agent_auth]\nrequire = true\nauthserv_ids = ["mx.uni.example"]\n'
    text = f'[maildesk]\ntemplates_dir = "site"\n{CONFIG}\n{auth}'
    strict_config = parse(text, path=None, base_dir=tmp_path)
    return build_pipeline(strict_config, store, clock)


@pytest.mark.parametrize(
    "results",
    [
        None,
        "evil.example; dkim=pass header.d=uni.example",
        "mx.uni.example; dkim=pass header.d=evil.example; spf=fail smtp.mailfrom=uni.example",
    ],
    ids=["no-header", "untrusted-server", "wrong-domain"],
)
def test_a_forged_agent_is_held_and_the_agents_are_warned(
    strict: Pipeline, store: Store, results: str | None
) -> None:
    stored(strict.accept(build(), smtp()))
    extra: dict[str, Any] = {"Authentication_Results": results} if results else {}
    stored(strict.accept(agent_reply(store, "#close\n\nTodo listo.", **extra), smtp()))
    assert ticket(store)["state"] == "new"
    assert mails(store, "reply") == []
    assert mails(store, "error") == []
    warning = mails(store, "notify")[-1]
    assert "no superó la" in text_of(warning)
    assert "#close" in text_of(warning)  # shown to the agents, never run


def test_an_authenticated_agent_acts(strict: Pipeline, store: Store) -> None:
    stored(strict.accept(build(), smtp()))
    passed = "mx.uni.example 1; spf=pass smtp.mailfrom=berta@uni.example; dkim=none"
    stored(
        strict.accept(
            agent_reply(store, "#close\n\nTodo listo.", Authentication_Results=passed), smtp()
        )
    )
    assert ticket(store)["state"] == "closed"
    assert len(mails(store, "reply")) == 1


# -- same matter, routing -----------------------------------------------------------------


def test_an_untagged_second_mail_on_the_same_matter_joins_the_open_ticket(
    pipeline: Pipeline, store: Store, clock: FakeClock
) -> None:
    stored(pipeline.accept(build(), smtp()))
    again = build("certificado de NOTAS", "¿Hay novedades?", message_id="<r2@alumnos.example>")
    outcome = stored(pipeline.accept(again, smtp()))
    assert (outcome.ticket, outcome.acknowledged) == (1, False)
    other = build("Horario", message_id="<r3@alumnos.example>")
    assert stored(pipeline.accept(other, smtp())).ticket == 2
    clock.advance(timedelta(hours=73))
    late = build("Certificado de notas", "Sigo esperando", message_id="<r4@alumnos.example>")
    assert stored(pipeline.accept(late, smtp())).ticket == 3
    someone_else = build(sender="luis@alumnos.example", message_id="<l1@alumnos.example>")
    assert stored(pipeline.accept(someone_else, smtp())).ticket == 4


def test_routing_rules_set_category_group_priority_segment_and_the_acknowledgement(
    pipeline: Pipeline, store: Store
) -> None:
    request = build(
        "Solicitud de beca",
        "Quisiera información",
        sender="Cónsul <consul@madrid.embajada.example>",
    )
    stored(pipeline.accept(request, smtp()))
    row = ticket(store)
    fields = ("category", "group_name", "priority", "segment", "assignee")
    assert tuple(row[k] for k in fields) == ("becas", "becas", "high", "vip", None)
    [ack] = mails(store, "ack")
    assert text_of(ack) == "Solicitud INFO#1: envíe su expediente académico.\n"
    # Berta is on duty but not in "becas": the group is told.
    assert to_of(mails(store, "notify")[0]) == ["carlos@uni.example"]


def test_an_agent_who_opened_a_ticket_as_a_requester_gets_the_replies(
    pipeline: Pipeline, store: Store
) -> None:
    own = build("Proyector del aula 3", "No funciona", sender="berta@uni.example")
    stored(pipeline.accept(own, smtp()))
    answer = agent_reply(store, "Lo revisamos hoy.", sender="carlos@uni.example")
    stored(pipeline.accept(answer, smtp()))
    [relayed] = mails(store, "reply")
    assert to_of(relayed) == ["berta@uni.example"]
