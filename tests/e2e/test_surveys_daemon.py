"""Closing surveys end to end: ``maildesk run`` as a subprocess, real SMTP in, the outbox
folder out, the survey pages over real HTTP (urllib, and headless Chromium)."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from maildesk.surveys.rules import sign_token
from tests.e2e.test_agents_daemon import Outbox, answer, one, request, start
from tests.support.daemon import Maildesk
from tests.support.messages import text_of, to_of

ANA = "ana@alumnos.example"
BERTA = "berta@uni.example"


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Maildesk]:
    daemon = start(tmp_path / "desk")
    try:
        yield daemon
    finally:
        code = daemon.stop()
        assert code == 0, f"daemon exited with {code}\n{daemon.log()}"


def closed_with_survey(desk: Maildesk, outbox: Outbox) -> EmailMessage:
    """Ana writes in, Berta answers with #close: the reply and the survey go to Ana."""
    desk.send(request())
    notification = one(outbox.new(2), lambda m: to_of(m) == [BERTA])
    desk.send(answer(notification, "#close\n\nYa está listo.", message_id="<close1@uni.example>"))
    survey = one(outbox.new(2), lambda m: "Encuesta" in str(m["Subject"]))
    assert to_of(survey) == [ANA]
    assert survey["Auto-Submitted"] == "auto-generated"
    return survey


def links(survey: EmailMessage) -> list[str]:
    return re.findall(r"https?://\S+", text_of(survey))


def link(survey: EmailMessage, pattern: str) -> str:
    return next(u for u in links(survey) if re.search(pattern, u))


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - our daemon
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8")


def post(url: str, fields: dict[str, str]) -> tuple[int, str]:
    data = urllib.parse.urlencode(fields).encode("ascii")
    try:
        with urllib.request.urlopen(url, data=data, timeout=30) as response:  # noqa: S310
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8")


def token_of(url: str) -> str:
    return urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["t"][0]


def db(desk: Maildesk, sql: str, *args: Any) -> list[sqlite3.Row]:
    conn = sqlite3.connect(f"file:{desk.folder / 'maildesk.db'}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def survey_row(desk: Maildesk) -> sqlite3.Row:
    [row] = db(desk, "SELECT * FROM surveys")
    return row


def state(desk: Maildesk) -> str:
    return str(db(desk, "SELECT state FROM tickets WHERE number = 1")[0]["state"])


def test_close_sends_a_survey_and_not_solved_reopens_and_tells_the_agent(desk: Maildesk) -> None:
    outbox = Outbox(desk)
    survey = closed_with_survey(desk, outbox)
    text = text_of(survey)
    assert "¿Se resolvió su solicitud?" in text
    assert "[INFO#1]" in str(survey["Subject"])
    assert state(desk) == "closed"
    no = link(survey, r"solved=no")
    assert len(links(survey)) == 2 + 5 + 1  # yes, no, five scores, opt-out

    # The link opens the form with "No" chosen; it records nothing by itself.
    status, page = get(no)
    assert status == 200
    assert '<html lang="es">' in page
    assert re.search(r'value="no" checked', page)
    assert survey_row(desk)["answers"] == 0
    assert state(desk) == "closed"

    base = no.split("?")[0]
    status, page = post(base, {"t": token_of(no), "solved": "no"})
    assert status == 200, page
    assert "Gracias por su respuesta" in page
    assert "Hemos reabierto su solicitud INFO#1" in page
    assert state(desk) == "reopened"
    row = survey_row(desk)
    assert (row["solved"], row["score"], row["answered_via"], row["answers"]) == (0, None, "web", 1)
    clock = db(desk, "SELECT response_kind, resolution_from FROM tickets WHERE number = 1")[0]
    assert clock["response_kind"] == "next_response"  # the SLA clock runs again
    assert clock["resolution_from"] is not None
    notice = one(outbox.new(1), lambda m: to_of(m) == [BERTA])
    assert "respondió que NO se" in text_of(notice)

    # Answering again updates the one answer; a low score with a comment asks nothing more.
    status, page = post(
        base, {"t": token_of(no), "solved": "no", "score": "2", "comment": "Falta el sello"}
    )
    assert status == 200
    row = survey_row(desk)
    assert (row["solved"], row["score"], row["comment"], row["answers"]) == (
        0,
        2,
        "Falta el sello",
        2,
    )
    assert len(db(desk, "SELECT * FROM surveys")) == 1
    # No [[escalations]] contact for the queue: its group's coordinator hears of it.
    low = one(outbox.new(1), lambda m: to_of(m) == ["carlos@uni.example"])
    assert "Falta el sello" in text_of(low)
    assert state(desk) == "reopened"


def test_forged_expired_and_altered_tokens_show_an_error_and_record_nothing(
    desk: Maildesk,
) -> None:
    outbox = Outbox(desk)
    survey = closed_with_survey(desk, outbox)
    yes = link(survey, r"solved=yes")
    base, token = yes.split("?")[0], token_of(yes)
    ticket, expires, nonce, mac = token.split(".")
    secret = (desk.folder / "maildesk.secret").read_text(encoding="utf-8").strip().encode()
    past = datetime.now(UTC) - timedelta(days=1)
    cases = {
        "altered": (f"{int(ticket) + 1}.{expires}.{nonce}.{mac}", 403, "no es válido"),
        "altered mac": (f"{ticket}.{expires}.{nonce}.{mac[::-1]}", 403, "no es válido"),
        "forged": (
            sign_token(
                b"not-the-secret-of-this-desk", 1, datetime.fromtimestamp(int(expires), UTC), nonce
            ),
            403,
            "no es válido",
        ),
        "expired": (sign_token(secret, 1, past, nonce), 410, "ha caducado"),
        "other nonce": (
            sign_token(secret, 1, datetime.fromtimestamp(int(expires), UTC), "00000000"),
            404,
            "no es válido",
        ),
        "garbage": ("<script>", 400, "no es válido"),
    }
    for name, (bad, code, words) in cases.items():
        for status, page in (
            get(f"{base}?t={urllib.parse.quote(bad)}&solved=no"),
            post(base, {"t": bad, "solved": "no", "score": "1"}),
        ):
            assert status == code, name
            assert words in page, name
            assert "No se ha registrado ninguna respuesta" in page
            assert "<script>" not in page
    row = survey_row(desk)
    assert (row["answers"], row["solved"], row["score"]) == (0, None, None)
    assert state(desk) == "closed"
    assert not outbox.desk.outbox.exists() or len(list(desk.outbox.glob("*.eml"))) == 4


def test_an_answer_by_mail_is_understood(desk: Maildesk) -> None:
    outbox = Outbox(desk)
    survey = closed_with_survey(desk, outbox)
    reply = EmailMessage()
    reply["From"] = f"Ana Pérez <{ANA}>"
    reply["To"] = "info@uni.example"
    reply["Subject"] = f"RE: {survey['Subject']}"
    reply["Message-ID"] = "<ana-survey@alumnos.example>"
    reply["In-Reply-To"] = survey["Message-ID"]
    reply["References"] = survey["Message-ID"]
    quoted = "\n".join(f"> {line}".rstrip() for line in text_of(survey).splitlines())
    reply.set_content(
        "5\n\nMuy amables, gracias.\n\nEl vie, 20 nov 2026 a las 10:05, Universidad de Prueba"
        f" (<info@uni.example>) escribió:\n\n{quoted}\n"
    )
    desk.send(reply)
    deadline = datetime.now(UTC) + timedelta(seconds=15)
    while survey_row(desk)["answers"] == 0 and datetime.now(UTC) < deadline:
        time.sleep(0.1)
    row = survey_row(desk)
    assert (row["score"], row["comment"], row["answered_via"]) == (
        5,
        "Muy amables, gracias.",
        "mail",
    )
    assert state(desk) == "closed"  # a score is not a follow-up: nothing reopens

    # "no se resolvió" on the first line reopens it.
    again = EmailMessage()
    for name in ("From", "To", "Subject", "In-Reply-To", "References"):
        again[name] = reply[name]
    again["Message-ID"] = "<ana-survey2@alumnos.example>"
    again.set_content("No se resolvió.\nSigo sin el certificado.\n")
    desk.send(again)
    notice = one(outbox.new(1), lambda m: to_of(m) == [BERTA])
    assert "Sigo sin el certificado." in text_of(notice)
    assert state(desk) == "reopened"
    assert survey_row(desk)["solved"] == 0


def test_the_survey_page_in_headless_chromium(desk: Maildesk, tmp_path: Path) -> None:
    outbox = Outbox(desk)
    survey = closed_with_survey(desk, outbox)
    url = link(survey, r"score=4")
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser is not None, "Chromium is not installed (Debian package chromium)"
    result = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'chromium'}",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    assert "Encuesta sobre su solicitud INFO#1" in dom
    assert re.search(r'<input type="radio" name="score" value="4" checked="?"?>', dom), dom
    assert "<legend>¿Se resolvió su solicitud?</legend>" in dom
    assert '<textarea id="comment"' in dom
    assert "<script" not in dom  # works without JavaScript
    assert survey_row(desk)["answers"] == 0


def reply_to(survey: EmailMessage, message_id: str, body: str) -> EmailMessage:
    """Ana's reply to the survey from a phone client: her words over the quoted survey."""
    reply = EmailMessage()
    reply["From"] = f"Ana Pérez <{ANA}>"
    reply["To"] = "info@uni.example"
    reply["Subject"] = f"RE: {survey['Subject']}"
    reply["Message-ID"] = message_id
    reply["In-Reply-To"] = survey["Message-ID"]
    reply["References"] = survey["Message-ID"]
    quoted = "\n".join(f"> {line}".rstrip() for line in text_of(survey).splitlines())
    reply.set_content(
        f"{body}\n\nEl vie, 20 nov 2026 a las 10:05, Universidad de Prueba"
        f" (<info@uni.example>) escribió:\n\n{quoted}\n"
    )
    return reply


def test_a_plain_no_between_a_greeting_and_a_signature_is_a_survey_answer(
    desk: Maildesk,
) -> None:
    outbox = Outbox(desk)
    survey = closed_with_survey(desk, outbox)
    desk.send(
        reply_to(
            survey,
            "<ana-no@alumnos.example>",
            "Hola,\n\nNo, no está resuelto.\n\nSaludos,\nAna Pérez",
        )
    )
    notice = one(outbox.new(1), lambda m: to_of(m) == [BERTA])
    assert "respondió que NO se" in text_of(notice)  # the survey's notice, not a follow-up
    row = survey_row(desk)
    assert (row["solved"], row["score"], row["comment"], row["answered_via"]) == (
        0,
        None,
        "",
        "mail",
    )
    assert state(desk) == "reopened"
    [message] = db(desk, "SELECT kind FROM messages WHERE message_id = 'ana-no@alumnos.example'")
    assert message["kind"] == "survey"

    # A new question in reply to the same survey is not an answer: a follow-up, as before.
    desk.send(
        reply_to(survey, "<ana-q@alumnos.example>", "Hola, ¿podrían enviarme también el título?")
    )
    notice = one(outbox.new(1), lambda m: to_of(m) == [BERTA])
    assert "podrían enviarme también el título" in text_of(notice)
    assert "respondió que NO se" not in text_of(notice)
    assert survey_row(desk)["answers"] == 1
    [message] = db(desk, "SELECT kind FROM messages WHERE message_id = 'ana-q@alumnos.example'")
    assert message["kind"] != "survey"


def test_the_monthly_report_counts_a_not_solved_answer_and_its_reopening(
    desk: Maildesk, tmp_path: Path
) -> None:
    outbox = Outbox(desk)
    survey = closed_with_survey(desk, outbox)
    desk.send(reply_to(survey, "<ana-no2@alumnos.example>", "No se ha resuelto."))
    one(outbox.new(1), lambda m: to_of(m) == [BERTA])
    assert state(desk) == "reopened"
    [sent] = db(desk, "SELECT sent_at FROM surveys")
    month = str(sent["sent_at"])[:7]  # the month it all happened in (UTC, like the desk)

    found = json.loads(desk.cli("report", "--month", month, "--format", "json").stdout)
    [total] = [line for line in found["lines"] if line["scope"] == "total"]
    assert total["reopened"] == 1  # by the survey answer
    assert (total["surveys_sent"], total["surveys_answered"]) == (1, 1)
    assert total["survey_response_rate"] == 1.0  # a "not solved" without a score answers
    assert total["satisfaction"] is None  # no score: no satisfaction figure

    page = tmp_path / "report.html"
    desk.cli("report", "--month", month, "--format", "html", "--output", str(page))
    html = page.read_text(encoding="utf-8")
    chart = html[html.index('id="chart-satisfaction"') :].split("</svg>")[0]
    assert "sin datos" in chart
    assert "%" not in chart.split(">", 1)[1]  # no "0 %" drawn for the queue
