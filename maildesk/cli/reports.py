"""``maildesk report``: the monthly indicators of one month, as a table, CSV, JSON or HTML.

Reads only: the figures come from the store (``report_queries.py``), opened read-only,
so the command can run while the daemon writes.
"""

from __future__ import annotations

import re
from pathlib import Path

import click

from maildesk.cli._common import (
    Context,
    exit_on_error,
    readonly,
)
from maildesk.clock import SystemClock
from maildesk.config.sla import working_calendar
from maildesk.errors import MaildeskError
from maildesk.reports import indicators as reports
from maildesk.reports.monthly import render_html
from maildesk.reports.queries import monthly, previous_month
from maildesk.templates import Templates

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


@click.command()
@click.option(
    "--month",
    metavar="YYYY-MM",
    help="The month, in the calendar's time zone. Default: last month.",
)
@click.option("--queue", help="Only tickets of this queue.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json", "html"]),
    default="table",
    show_default=True,
    help="Output format; html is one self-contained page with charts.",
)
@click.option(
    "--language",
    type=click.Choice(["es", "en"]),
    help="Language of the HTML page. Default: [maildesk] language.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of standard output.",
)
@click.pass_obj
def report(
    obj: Context,
    month: str | None,
    queue: str | None,
    fmt: str,
    language: str | None,
    output: Path | None,
) -> None:
    """Monthly indicators per queue and per agent: messages in and out, tickets opened,
    answered within the commitment or late, not answered, escalated, reopened, closed;
    first-response and resolution times in working hours (median, 90th percentile);
    survey figures when surveys exist; and the ratios answered / presented, not answered
    / presented, (answered - not answered) / answered.
    """
    with exit_on_error():
        config = obj.config()
        calendar = working_calendar(config)
        defaulted = month is None
        if month is None:
            month = previous_month(SystemClock().now().astimezone(calendar.zone).date())
        elif not _MONTH.match(month):
            raise MaildeskError(f"--month: expected YYYY-MM, got {month!r}")
        if queue is not None and queue not in {q.name for q in config.queues}:
            raise MaildeskError(f"--queue: no queue named {queue!r}")
        with readonly(config) as conn:
            found = monthly(conn, config, month, queue, calendar)
        if fmt == "html":
            templates = Templates(config.templates_dir, config.language)
            text = render_html(templates, found, language or config.language)
        else:
            text = {"table": reports.to_table, "csv": reports.to_csv, "json": reports.to_json}[fmt](
                found
            )
        if defaulted and output is None and fmt == "table":
            # The default is last month, which surprises right after a first mail.
            first, _, rest = text.partition("\n")
            text = f"{first} (last month; --month YYYY-MM for another)\n{rest}"
        if output is None:
            click.echo(text, nl=not text.endswith("\n"))
        else:
            try:
                output.write_text(text, encoding="utf-8")
            except OSError as exc:
                raise MaildeskError(f"cannot write {output}: {exc.strerror}") from exc


COMMANDS = [report]
