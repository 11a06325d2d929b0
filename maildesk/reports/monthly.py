"""The monthly report by mail: on the first working day of a month, the previous month's
report goes to the ``[reports] recipients`` (HTML attached, the summary in the body).

The daemon's scheduler calls ``MonthlyReport.run`` every hour on the single writer; the
month sent is recorded in the store's ``meta`` table in the transaction that queues the
mail, so a restart (or a second run the same day) does not send it again.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime
from typing import Any

from maildesk.config import Config
from maildesk.config.sla import working_calendar
from maildesk.mail.compose import Outgoing, compose
from maildesk.mail.parsed import Address, Attachment
from maildesk.outbox.mailer import Mailer
from maildesk.reports.indicators import Report, chart_context, summary
from maildesk.reports.queries import month_bounds, monthly, previous_month
from maildesk.store.store import OutgoingMail, Store, iso
from maildesk.templates import Templates

log = logging.getLogger(__name__)

TEMPLATES = ["report.html.j2", "report.txt.j2"]
_SUBJECT = {"es": "Informe mensual {month}", "en": "Monthly report {month}"}


def render_html(templates: Templates, report: Report, language: str) -> str:
    """The self-contained HTML page of ``report``."""
    return templates.render("report.html.j2", language, chart_context(report))


def sent_key(month: str) -> str:
    return f"report-sent:{month}"


class MonthlyReport:
    def __init__(self, config: Config, store: Store, templates: Templates, mailer: Mailer) -> None:
        self.config = config
        self.store = store
        self.templates = templates
        self.mailer = mailer  # every mail of ours goes through it (the loop cap)

    def due(self, now: datetime) -> str | None:
        """The month whose report is due at ``now`` and not sent yet, if any."""
        settings = self.config.reports
        if not settings.enabled or not settings.recipients:
            return None
        calendar = working_calendar(self.config)
        today = now.astimezone(calendar.zone).date()
        start, _ = month_bounds(f"{today:%Y-%m}", calendar.zone)
        if now < calendar.next_open(start):  # before the first working minute of the month
            return None
        month = previous_month(today)
        return None if self.store.meta(sent_key(month)) else month

    def run(self, now: datetime) -> str | None:
        """Queue the report mail when one is due; returns the month sent."""
        with self.store.transaction():
            month = self.due(now)
            if month is None:
                return None
            self._queue(month, now)
            self.store.set_meta(sent_key(month), iso(now))
        log.info(
            "monthly report %s queued for %s", month, ", ".join(self.config.reports.recipients)
        )
        return month

    def _queue(self, month: str, now: datetime) -> None:
        config = self.config
        language = config.language
        report = monthly(self.store.conn, config, month)
        context: dict[str, Any] = {
            "month": month,
            "organization": config.organization,
            "summary": summary(report),
            "surveys": report.surveys,
        }
        body = self.templates.render("report.txt.j2", language, context)
        html = render_html(self.templates, report, language)
        sender = config.queues[0].addresses[0] if config.queues else "maildesk@localhost"
        domain = sender.rpartition("@")[2] or "localhost"
        message_id = f"report.{month}.{secrets.token_hex(6)}@{domain}"
        recipients = list(config.reports.recipients)
        raw = compose(
            Outgoing(
                message_id=message_id,
                from_addr=Address(sender, config.organization),
                to=[Address(r, "") for r in recipients],
                subject=_SUBJECT.get(language, _SUBJECT["en"]).format(month=month),
                body=body,
                date=now,
                language=language,
                auto_submitted="auto-generated",
                attachments=[Attachment(f"report-{month}.html", "text/html", html.encode("utf-8"))],
            )
        )
        self.mailer.enqueue(OutgoingMail(None, "report", message_id, sender, recipients, raw), now)
