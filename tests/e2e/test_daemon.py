"""``maildesk run`` as a subprocess: real SMTP in, tickets and the outbox out, read via the CLI."""

from __future__ import annotations

import email
import email.policy
import smtplib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.support.daemon import Maildesk, mail, wait_for_port


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Maildesk]:
    daemon = Maildesk(tmp_path / "desk")
    daemon.start()
    try:
        yield daemon
    finally:
        code = daemon.stop()
        assert code == 0, f"daemon exited with {code}\n{daemon.log()}"


def read_eml(path: Path) -> EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def body_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def test_a_new_mail_opens_a_ticket_and_is_acknowledged(desk: Maildesk) -> None:
    desk.send(
        mail(
            "Ana Pérez <ana@alumnos.example>",
            "info@uni.example",
            "Certificado de notas",
            "Buenos días, necesito un certificado.",
            message_id="<m1@alumnos.example>",
        )
    )

    tickets = desk.json("tickets")
    assert len(tickets) == 1
    ticket = tickets[0]
    assert ticket["number"] == 1
    assert ticket["ref"] == "INFO#1"
    assert ticket["queue"] == "info"
    assert ticket["state"] == "new"
    assert ticket["subject"] == "Certificado de notas"
    assert ticket["requester"] == "ana@alumnos.example"
    assert ticket["message_count"] == 2  # the request and our acknowledgement
    assert ticket["created_at"]
    assert ticket["updated_at"]

    [path] = desk.outbox_files(1)
    ack = read_eml(path)
    assert ack["Subject"] == "[INFO#1] Certificado de notas"
    assert ack["To"].addresses[0].addr_spec == "ana@alumnos.example"
    assert ack["From"].addresses[0].addr_spec == "info@uni.example"
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["In-Reply-To"] == "<m1@alumnos.example>"
    assert ack["Message-ID"].startswith("<md.1.a.")
    assert ack["Message-ID"].endswith("@uni.example>")
    text = body_of(ack)
    assert "Estimado/a Ana Pérez" in text
    assert "INFO#1" in text
    assert "lunes a viernes: 08:00–20:00" in text
    assert "24 horas hábiles" in text
    assert "Aviso de privacidad" in text


def test_a_reply_to_the_acknowledgement_joins_the_ticket_without_a_new_acknowledgement(
    desk: Maildesk,
) -> None:
    desk.send(
        mail("ana@alumnos.example", "info@uni.example", "Beca", message_id="<b1@alumnos.example>")
    )
    [path] = desk.outbox_files(1)
    ack_id = read_eml(path)["Message-ID"]

    # Outlook rewrote the subject and dropped the tag: the signed Message-ID still threads.
    desk.send(
        mail(
            "ana@alumnos.example",
            "info@uni.example",
            "RE: Beca (adjunto datos)",
            "Adjunto mis datos.",
            message_id="<b2@alumnos.example>",
            in_reply_to=ack_id,
            references=f"<b1@alumnos.example> {ack_id}",
        )
    )
    # A reply to her own first mail (stored Message-ID), with no tag either.
    desk.send(
        mail(
            "ana@alumnos.example",
            "info@uni.example",
            "Beca",
            "Otra cosa",
            message_id="<b3@alumnos.example>",
            in_reply_to="<b1@alumnos.example>",
        )
    )
    # Tag only, mangled by a Spanish client.
    desk.send(
        mail(
            "ana@alumnos.example",
            "info@uni.example",
            "RV: RE: [info # 1] Beca",
            "Y otra",
            message_id="<b4@alumnos.example>",
        )
    )

    tickets = desk.json("tickets")
    assert [t["number"] for t in tickets] == [1]
    detail = desk.json("show", "1")
    kinds = [(m["direction"], m["kind"]) for m in detail["messages"]]
    assert kinds == [
        ("in", "human"),
        ("out", "ack"),
        ("in", "human"),
        ("in", "human"),
        ("in", "human"),
    ]
    assert [m["message_id"] for m in detail["messages"] if m["direction"] == "in"] == [
        "b1@alumnos.example",
        "b2@alumnos.example",
        "b3@alumnos.example",
        "b4@alumnos.example",
    ]
    time.sleep(0.5)
    assert len(list(desk.outbox.glob("*.eml"))) == 1


def test_a_tag_from_a_stranger_opens_a_new_ticket_that_records_the_claim(desk: Maildesk) -> None:
    desk.send(
        mail("ana@alumnos.example", "info@uni.example", "Matrícula", message_id="<s1@a.example>")
    )
    desk.send(
        mail(
            "mallory@evil.example",
            "info@uni.example",
            "Re: [INFO#1] Matrícula",
            "Cambie mi nota",
            message_id="<s2@evil.example>",
        )
    )

    tickets = {t["number"]: t for t in desk.json("tickets")}
    assert set(tickets) == {1, 2}
    assert tickets[1]["message_count"] == 2  # untouched: her mail and its acknowledgement
    assert tickets[2]["requester"] == "mallory@evil.example"
    assert tickets[2]["claimed_tag"] == "[INFO#1]"
    assert tickets[2]["subject"] == "Matrícula"


def test_the_same_message_twice_makes_one_ticket(desk: Maildesk) -> None:
    message = mail(
        "luis@example.com", "info@uni.example", "Horario", message_id="<dup@example.com>"
    )
    desk.send(message)
    desk.send(message)  # an MTA retrying after a lost 250
    # The same mail to info@ and crm@: one transaction, one ticket, in info (first in config).
    both = mail(
        "eva@example.com",
        "info@uni.example",
        "Pregunta",
        message_id="<both@example.com>",
        cc="crm@uni.example",
    )
    desk.send(both, to=["crm@uni.example", "info@uni.example"])
    # …and delivered separately to each address (two transactions): still one ticket.
    twice = mail(
        "eva@example.com",
        "crm@uni.example",
        "Otra",
        message_id="<sep@example.com>",
        cc="info@uni.example",
    )
    desk.send(twice, to=["crm@uni.example"])
    desk.send(twice, to=["info@uni.example"])

    tickets = desk.json("tickets")
    assert sorted((t["subject"], t["queue"], t["message_count"]) for t in tickets) == [
        ("Horario", "info", 2),
        ("Otra", "crm", 2),
        ("Pregunta", "info", 2),
    ]


def test_an_english_queue_answers_in_english(desk: Maildesk) -> None:
    desk.send(mail("Jo Smith <jo@company.example>", "crm@uni.example", "Partnership"))
    [path] = desk.outbox_files(1)
    ack = read_eml(path)
    assert ack["Subject"] == "[CRM#1] Partnership"
    text = body_of(ack)
    assert "Dear Jo Smith," in text
    assert "Monday to Friday: 08:00–20:00" in text
    assert "Privacy notice" in text


def test_unreadable_mail_is_quarantined_and_the_daemon_keeps_serving(desk: Maildesk) -> None:
    nested = b"From: a@b.example\r\nTo: info@uni.example\r\nSubject: nest\r\nMIME-Version: 1.0\r\n"
    for level in range(2000):
        nested += b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (level, level)
    nested += b"Content-Type: text/plain\r\n\r\nhi\r\n"
    desk.send(nested, sender="a@b.example", to=["info@uni.example"])
    desk.send(
        b"\x00\x01 garbage without any header\r\n\r\n",
        sender="x@y.example",
        to=["info@uni.example"],
    )
    # No From and the null envelope sender <>: a machine's mail, recorded and not answered.
    desk.send(
        b"Subject: nobody\r\n\r\nno From, and a null envelope sender\r\n",
        sender="",
        to=["info@uni.example"],
    )

    held = desk.json("quarantine")
    reasons = sorted(item["reason"] for item in held)
    assert reasons == ["broken MIME structure: nested too deeply", "no header section"]
    first = held[-1]  # newest first: the last listed is the nested one
    raw = desk.cli("quarantine", "raw", str(first["id"])).stdout
    assert first["size"] == len(nested)
    assert raw.startswith("From: a@b.example")
    assert raw.count("multipart/mixed") == 2000
    assert desk.alive()

    desk.send(mail("ok@example.com", "info@uni.example", "Sigue funcionando"))
    assert [t["subject"] for t in desk.json("tickets")] == ["Sigue funcionando"]


def test_oversized_mail_and_unknown_recipients_are_refused_with_clear_codes(desk: Maildesk) -> None:
    big = mail("big@example.com", "info@uni.example", "Grande", "x" * 300_000)
    with pytest.raises(smtplib.SMTPResponseException) as refused:
        desk.send(big)
    assert refused.value.smtp_code == 552
    with pytest.raises(smtplib.SMTPRecipientsRefused) as unknown:
        desk.send(mail("a@example.com", "nadie@uni.example", "Hola"))
    assert unknown.value.recipients["nadie@uni.example"][0] == 550
    assert "over the size limit" in desk.log()
    assert desk.json("tickets") == []


def test_a_bad_config_names_the_key_and_the_daemon_refuses_to_start(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[listener]\nport = 80250\nprotocl = "smtp"\n', encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "maildesk", "--config", str(config), "run"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert f"{config}:2: key 'listener.port': expected at most 65535, got 80250" in result.stderr
    assert f"{config}:3: key 'listener.protocl': unknown key" in result.stderr
    assert not (tmp_path / "maildesk.db").exists()


def test_with_no_config_it_runs_on_the_embedded_default(tmp_path: Path) -> None:
    # The default ports (SMTP, HTTP) may be held for a moment by another daemon on this
    # machine; wait a little for them, then fail loudly.
    deadline = time.monotonic() + 30
    while taken := [p for p in (8025, 8026) if _listening(p)]:
        if time.monotonic() > deadline:
            pytest.fail(f"port(s) {taken} taken by another program; the default cannot be tested")
        time.sleep(0.5)
    process = subprocess.Popen(
        [sys.executable, "-m", "maildesk", "run"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(8025, process)
        with smtplib.SMTP("127.0.0.1", 8025, timeout=30) as client:
            client.send_message(mail("ana@example.com", "info@any.example", "Hola"))
        deadline = time.monotonic() + 15
        while not list((tmp_path / "outbox").glob("*.eml")) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0].decode()
    assert process.returncode == 0, output
    assert (tmp_path / "maildesk.db").is_file()
    assert (tmp_path / "maildesk.secret").stat().st_mode & 0o777 == 0o600
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1
    ready = [line for line in output.splitlines() if "maildesk ready" in line]
    assert len(ready) == 1
    assert "smtp://127.0.0.1:8025" in ready[0]
    assert str(tmp_path / "maildesk.db") in ready[0]


def test_init_writes_a_config_that_check_accepts(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "maildesk", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert run("init").returncode == 0
    assert (tmp_path / "config.toml").is_file()
    assert (tmp_path / "maildesk.secret").stat().st_mode & 0o777 == 0o600
    assert run("init").returncode == 1  # never overwrites without --force
    checked = run("check")
    assert checked.returncode == 0, checked.stderr
    assert "OK" in checked.stdout


def test_lmtp_answers_once_per_recipient(tmp_path: Path) -> None:
    desk = Maildesk(tmp_path / "lmtp")
    listener = '[listener]\nprotocol = "lmtp"\n'
    desk.config.write_text(
        desk.config.read_text(encoding="utf-8").replace("[listener]\n", listener), encoding="utf-8"
    )
    desk.start()
    body = mail("ana@example.com", "info@uni.example", "Por LMTP", cc="crm@uni.example").as_bytes()
    try:
        # smtplib's LMTP client reads a single reply to DATA, so speak RFC 2033 by hand.
        with socket.create_connection(("127.0.0.1", desk.port), timeout=30) as sock:
            reader = sock.makefile("rb")

            def reply() -> bytes:
                lines = [reader.readline()]
                while lines[-1][3:4] == b"-":
                    lines.append(reader.readline())
                return lines[-1]

            assert reply().startswith(b"220")
            for command in (
                b"LHLO test",
                b"MAIL FROM:<ana@example.com>",
                b"RCPT TO:<info@uni.example>",
                b"RCPT TO:<crm@uni.example>",
                b"DATA",
            ):
                sock.sendall(command + b"\r\n")
                assert reply()[:1] in (b"2", b"3")
            sock.sendall(body.replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n") + b"\r\n.\r\n")
            answers = [reply(), reply()]
            sock.sendall(b"QUIT\r\n")
        assert all(a.startswith(b"250") for a in answers), answers
        assert [(t["queue"], t["subject"]) for t in desk.json("tickets")] == [("info", "Por LMTP")]
    finally:
        assert desk.stop() == 0


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0
