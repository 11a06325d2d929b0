"""The README's quick tour as a newcomer runs it: the listing it promises, and what
``show``, ``sla`` and ``report`` say right after a first mail."""

from __future__ import annotations

import email
import email.message
import email.policy
import re
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.support.daemon import Maildesk, mail

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_tour_prints_what_the_readme_says(tmp_path: Path) -> None:
    desk = Maildesk(tmp_path / "desk")
    desk.start()
    try:
        desk.send(mail("Ana Pérez <ana@example.com>", "info@uni.example", "Certificado de notas"))
        [ack_file] = desk.outbox_files(1)
        listing = desk.cli("tickets").stdout
        shown = desk.cli("show", "1").stdout
        shown_json = desk.json("show", "1")
        sla = desk.cli("sla").stdout
        report = desk.cli("report").stdout
    finally:
        assert desk.stop() == 0, desk.log()
    # The acknowledgement: a readable time zone, and who controls the data.
    ack = email.message_from_bytes(ack_file.read_bytes(), policy=email.policy.default)
    assert isinstance(ack, email.message.EmailMessage)
    body = ack.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    assert "(hora de Santo Domingo, UTC-4)" in text
    assert "America/Santo_Domingo" not in text
    assert "Responsable del tratamiento: Universidad de Prueba." in text
    # The README's comment after `maildesk tickets`, spaces aside, is the listing's line.
    promised = re.search(r"maildesk tickets\s+# (.+)", README.read_text(encoding="utf-8"))
    assert promised is not None
    assert promised[1].split() == listing.strip().splitlines()[-1].split(), listing
    # show: the calendar's time zone (America/Santo_Domingo: AST), to the minute.
    opened = re.search(r"opened (\d{4}-\d\d-\d\d \d\d:\d\d) AST$", shown, re.MULTILINE)
    assert opened is not None, shown
    assert re.search(r"^<- \d{4}-\d\d-\d\d \d\d:\d\d AST  ana@example.com", shown, re.M), shown
    assert "+00:00" not in shown
    utc = datetime.fromisoformat(shown_json["created_at"])  # --json keeps ISO UTC
    assert utc.utcoffset() == timedelta(0)
    assert opened[1] == utc.astimezone(ZoneInfo("America/Santo_Domingo")).strftime("%Y-%m-%d %H:%M")
    assert sla.strip() == "nothing at risk or breached"
    first = report.splitlines()[0]
    assert re.fullmatch(
        r"maildesk report \d{4}-\d\d \(last month; --month YYYY-MM for another\)", first
    ), report
    month = first.split()[2]
    assert f"nothing in {month}: no mail in or out, no ticket opened or closed" in report
