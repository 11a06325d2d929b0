"""Agents from their own mail client, end to end: ``maildesk run`` as a subprocess, real SMTP
in, the outbox folder out; and the supervisors' CLI doing the same as the mail commands."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.agents.test_refusals import ENGLISH, SPANISH, commands, words
from tests.support.daemon import Maildesk
from tests.support.desks import AGENTS, QUEUES
from tests.support.messages import parse_mail, text_of, to_of

PDF = b"%PDF-1.4 certificado " * 40


def start(folder: Path, extra: str = "") -> Maildesk:
    desk = Maildesk(folder, extra_config=AGENTS + extra, queues=QUEUES)
    desk.start()
    return desk


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Maildesk]:
    daemon = start(tmp_path / "desk")
    try:
        yield daemon
    finally:
        code = daemon.stop()
        assert code == 0, f"daemon exited with {code}\n{daemon.log()}"


class Outbox:
    """What the daemon has sent so far, read from its outbox folder."""

    def __init__(self, desk: Maildesk) -> None:
        self.desk = desk
        self.seen = 0

    def new(self, count: int, timeout: float = 15.0, *, settle: float = 0.0) -> list[EmailMessage]:
        """Wait for ``count`` more messages; with ``settle``, check that no more come."""
        files = self.desk.outbox_files(self.seen + count, timeout)
        if settle:
            time.sleep(settle)
            files = sorted(self.desk.outbox.glob("*.eml"))
        found = [parse_mail(p.read_bytes()) for p in files[self.seen :]]
        self.seen = len(files)
        assert len(found) == count, [(m["To"], m["Subject"]) for m in found]
        return found


def one(messages: list[EmailMessage], test: Callable[[EmailMessage], bool]) -> EmailMessage:
    [found] = [m for m in messages if test(m)]
    return found


def request(sender: str = "Ana Pérez <ana@alumnos.example>") -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "info@uni.example"
    message["Subject"] = "Certificado de notas"
    message["Message-ID"] = "<req1@alumnos.example>"
    message.set_content("Buenos días, necesito un certificado de notas para una beca.")
    message.add_attachment(b"DNI 123", maintype="image", subtype="jpeg", filename="dni.jpg")
    return message


def answer(
    notification: EmailMessage,
    body: str,
    *,
    sender: str = "Berta Gómez <berta@uni.example>",
    message_id: str,
    attachment: tuple[str, bytes] | None = None,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    """An agent's reply to ``notification`` as a mail client writes it."""
    message = EmailMessage()
    for name, value in (headers or {}).items():
        message[name] = value
    message["From"] = sender
    message["To"] = str(notification["Reply-To"])
    message["Subject"] = f"RE: {notification['Subject']}"
    message["Message-ID"] = message_id
    message["In-Reply-To"] = notification["Message-ID"]
    message["References"] = notification["Message-ID"]
    message.set_content(body)
    if attachment is not None:
        message.add_attachment(
            attachment[1], maintype="application", subtype="pdf", filename=attachment[0]
        )
    return message


def outlook_body(notification: EmailMessage, new_text: str) -> str:
    quoted = text_of(notification)
    return (
        f"{new_text}\n\n________________________________\n"
        "De: Universidad de Prueba <info@uni.example>\n"
        "Enviado: viernes, 20 de noviembre de 2026 10:05\n"
        "Para: Berta Gómez <berta@uni.example>\n"
        f"Asunto: {notification['Subject']}\n\n{quoted}"
    )


def gmail_body(notification: EmailMessage, new_text: str) -> str:
    quoted = "\n".join(f"> {line}".rstrip() for line in text_of(notification).splitlines())
    return (
        f"{new_text}\n\n-- \nBerta Gómez\nSecretaría académica\n\n"
        "El vie, 20 nov 2026 a las 10:05, Universidad de Prueba (<info@uni.example>)\n"
        f"escribió:\n\n{quoted}\n"
    )


def test_requester_agent_and_back_through_the_daemon(desk: Maildesk) -> None:
    outbox = Outbox(desk)
    desk.send(request())
    sent = outbox.new(2)
    ack = one(sent, lambda m: to_of(m) == ["ana@alumnos.example"])
    notification = one(sent, lambda m: to_of(m) == ["berta@uni.example"])
    assert ack["Subject"] == notification["Subject"] == "[INFO#1] Certificado de notas"
    assert notification["From"].addresses[0].addr_spec == "info@uni.example"
    assert notification["Reply-To"].addresses[0].addr_spec == "info@uni.example"
    notice = text_of(notification)
    assert notice.startswith("##- Escriba su respuesta encima de esta línea -##")
    assert "necesito un certificado de notas" in notice
    assert [p.get_filename() for p in notification.iter_attachments()] == ["dni.jpg"]

    # Outlook: the whole notification below a header block, not quoted.
    desk.send(
        answer(
            notification,
            outlook_body(notification, "Buenos días, Ana:\n\nLe adjunto el certificado."),
            message_id="<out1@uni.example>",
            attachment=("certificado.pdf", PDF),
        )
    )
    [first] = outbox.new(1)
    assert to_of(first) == ["ana@alumnos.example"]
    assert first["From"].addresses[0].addr_spec == "info@uni.example"
    assert first["Subject"] == "[INFO#1] Certificado de notas"
    assert first["In-Reply-To"] == "<req1@alumnos.example>"
    text = text_of(first)
    assert text.startswith("Buenos días, Ana:\n\nLe adjunto el certificado.\n\n-- \n")
    for leak in ("##-", "Enviado:", "Nueva solicitud", "Comandos", "dni.jpg"):
        assert leak not in text
    [attached] = list(first.iter_attachments())
    assert (attached.get_filename(), attached.get_content()) == ("certificado.pdf", PDF)

    # Gmail: '>' quotes under an attribution, a signature block above them.
    desk.send(
        answer(
            notification,
            gmail_body(notification, "Ana, también va el justificante de pago."),
            message_id="<gm1@uni.example>",
            attachment=("justificante.pdf", b"%PDF pago"),
        )
    )
    [second] = outbox.new(1)
    assert to_of(second) == ["ana@alumnos.example"]
    assert text_of(second).startswith("Ana, también va el justificante de pago.\n\n-- \n")
    assert "Secretaría académica" not in text_of(second)
    assert [p.get_filename() for p in second.iter_attachments()] == ["justificante.pdf"]

    ticket = desk.json("show", "1")
    assert ticket["state"] == "open"
    assert ticket["assignee"] == "berta@uni.example"
    assert ticket["first_response_at"] is not None
    agent_texts = [m["body"] for m in ticket["messages"] if m["kind"] == "agent"]
    assert agent_texts == [
        "Buenos días, Ana:\n\nLe adjunto el certificado.",
        "Ana, también va el justificante de pago.",
    ]

    # An unknown command: a short error mail to the agent, nothing to the requester.
    desk.send(
        answer(notification, "#frobnicate\n#close\n\nHecho.", message_id="<bad1@uni.example>")
    )
    [error] = outbox.new(1, settle=1.0)
    assert to_of(error) == ["berta@uni.example"]
    assert "#frobnicate no es un comando." in text_of(error)
    assert desk.json("show", "1")["state"] == "open"

    # The corrected commands, sent as an answer to the error mail, are applied.
    desk.send(answer(error, "#nota\nLa alumna llamó por teléfono.", message_id="<n1@uni.example>"))
    desk.send(
        answer(error, "#resolver\n\nQuedamos a su disposición.", message_id="<r1@uni.example>")
    )
    [closing] = outbox.new(1, settle=1.0)
    assert to_of(closing) == ["ana@alumnos.example"]
    assert text_of(closing).startswith("Quedamos a su disposición.")
    ticket = desk.json("show", "1")
    assert ticket["state"] == "resolved"
    notes = [m["body"] for m in ticket["messages"] if m["kind"] == "note"]
    assert notes == ["La alumna llamó por teléfono."]


def test_a_forged_agent_from_without_authentication_is_held(tmp_path: Path) -> None:
    desk = start(
        tmp_path / "strict",
        '[agent_auth]\nrequire = true\nauthserv_ids = ["mx.uni.example"]\n',
    )
    try:
        outbox = Outbox(desk)
        desk.send(request())
        notification = one(outbox.new(2), lambda m: to_of(m) == ["berta@uni.example"])
        forged = answer(
            notification,
            "#close\n\nSu solicitud ha sido denegada.",
            message_id="<forged@evil.example>",
            headers={"Authentication-Results": "evil.example; dkim=pass header.d=uni.example"},
        )
        desk.send(forged, sender="mallory@evil.example", to=["info@uni.example"])
        [warning] = outbox.new(1, settle=1.0)
        assert to_of(warning) == ["berta@uni.example"]
        assert "no superó la" in text_of(warning)
        assert desk.json("show", "1")["state"] == "new"

        genuine = answer(
            notification,
            "Su certificado está en camino.",
            message_id="<real@uni.example>",
            headers={"Authentication-Results": "mx.uni.example; dkim=pass header.d=uni.example"},
        )
        desk.send(genuine)
        [relayed] = outbox.new(1)
        assert to_of(relayed) == ["ana@alumnos.example"]
        assert desk.log().count("held for the agents") == 1  # the forged one
    finally:
        assert desk.stop() == 0, desk.log()


def test_the_cli_does_what_the_mail_commands_do(desk: Maildesk, tmp_path: Path) -> None:
    outbox = Outbox(desk)
    desk.send(request())
    outbox.new(2)
    attachment = tmp_path / "horario.pdf"
    attachment.write_bytes(b"%PDF horario")

    desk.cli(
        "reply", "1", "--as", "carlos", "-m", "Adjunto el horario.", "--attach", str(attachment)
    )
    [reply] = outbox.new(1)
    assert to_of(reply) == ["ana@alumnos.example"]
    assert reply["Subject"] == "[INFO#1] Certificado de notas"
    assert text_of(reply).startswith("Adjunto el horario.")
    assert [p.get_filename() for p in reply.iter_attachments()] == ["horario.pdf"]

    desk.cli("assign", "1", "carlos", "--as", "berta@uni.example")
    [told] = outbox.new(1)
    assert to_of(told) == ["carlos@uni.example"]
    assert "asignada por Berta Gómez <berta@uni.example>" in text_of(told)

    desk.cli("note", "1", "Revisado con secretaría.")
    desk.cli("close", "1")
    ticket = desk.json("show", "1")
    assert (ticket["state"], ticket["assignee"]) == ("closed", "carlos@uni.example")
    assert ticket["first_response_at"] is not None
    assert [m["body"] for m in ticket["messages"] if m["kind"] == "note"] == [
        "Revisado con secretaría."
    ]
    kinds = [e["kind"] for e in ticket["events"]]
    assert {"reply", "assigned", "note", "state"} <= set(kinds)
    shown = desk.cli("show", "1").stdout
    assert "assigned to carlos@uni.example (group secretaria), priority normal" in shown

    refused = desk.cli("assign", "1", "nadie", check=False)
    assert refused.returncode == 1
    assert "No agent or group is called 'nadie'" in refused.stderr
    bad = desk.cli("assign", "1", "x\n#cancel", check=False)
    assert bad.returncode == 1
    missing = desk.cli("close", "99", check=False)
    assert (missing.returncode, missing.stderr.strip()) == (1, "maildesk: no ticket 99")


def test_a_refusal_is_worded_in_the_agents_language(tmp_path: Path) -> None:
    """#cancelar by an agent who is not a coordinator: the refusal, all in Spanish; the
    same from an English-speaking agent, all in English."""
    dana = '\n[[agents]]\nname = "Dana"\naddresses = ["dana@uni.example"]\nlanguage = "en"\n'
    desk = start(tmp_path / "desk", dana)
    try:
        outbox = Outbox(desk)
        desk.send(request())
        notification = one(outbox.new(2), lambda m: to_of(m) == ["berta@uni.example"])
        desk.send(answer(notification, "#cancelar\n\nNo procede.", message_id="<b1@uni.example>"))
        refusal = one(outbox.new(1), lambda m: to_of(m) == ["berta@uni.example"])
        body = text_of(refusal).split("Comandos:")[0]  # the reasons, before the command list
        assert "Solo los coordinadores pueden #cancelar una solicitud." in body
        assert not words(body) & (ENGLISH - SPANISH), body
        assert "#cancel " not in body

        desk.send(
            answer(
                notification,
                "#cancel\n\nNot for us.",
                sender="Dana <dana@uni.example>",
                message_id="<d1@uni.example>",
            )
        )
        refusal = one(outbox.new(1), lambda m: to_of(m) == ["dana@uni.example"])
        body = text_of(refusal).split("Commands:")[0]
        assert "Only coordinators may #cancel a ticket." in body
        assert not words(body) & (SPANISH - ENGLISH), body
        assert not commands(body) & {"cancelar", "nota", "cerrar"}
        assert "cancelled" not in desk.cli("show", "1").stdout
    finally:
        code = desk.stop()
        assert code == 0, f"daemon exited with {code}\n{desk.log()}"
