"""Reading the desk: ``maildesk tickets``, ``show``, ``quarantine`` and ``outbox``."""

from __future__ import annotations

import sys
from datetime import datetime
from zoneinfo import ZoneInfo

import click

from maildesk.cli._common import (
    Context,
    emit,
    exit_on_error,
    queue_tags,
    readonly,
    writable,
)
from maildesk.clock import SystemClock
from maildesk.config.secret import load_sealer
from maildesk.errors import MaildeskError
from maildesk.privacy.anonymity import is_sealed_raw
from maildesk.store import queries


@click.command()
@click.option(
    "--state", help="Only tickets in this state (new, open, pending, resolved, closed …)."
)
@click.option("--queue", help="Only tickets of this queue.")
@click.option("--limit", default=100, show_default=True, help="At most this many, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def tickets(obj: Context, state: str | None, queue: str | None, limit: int, as_json: bool) -> None:
    """List tickets, newest first."""
    with exit_on_error():
        config = obj.config()
        with readonly(config) as conn:
            rows = queries.list_tickets(
                conn, queue_tags(config), state=state, queue=queue, limit=limit
            )
        if as_json:
            emit(rows)
            return
        for row in rows:
            click.echo(
                f"{row['ref']:<12} {row['state']:<9} {row['message_count']:>3} msg  "
                f"{row['requester']:<32} {row['subject'][:60]}"
            )


def local_time(stored: str, zone: ZoneInfo) -> str:
    """A stored UTC time as people read it: the calendar's zone, to the minute.

    >>> local_time("2026-11-20T14:05:09.123456+00:00", ZoneInfo("America/Santo_Domingo"))
    '2026-11-20 10:05 AST'
    """
    return datetime.fromisoformat(stored).astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


@click.command()
@click.argument("number", type=int)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def show(obj: Context, number: int, as_json: bool) -> None:
    """Show one ticket with its messages, times in the calendar's time zone (--json: UTC)."""
    with exit_on_error():
        config = obj.config()
        with readonly(config) as conn:
            ticket = queries.ticket_detail(conn, queue_tags(config), number)
        if ticket is None:
            raise MaildeskError(f"no ticket {number}")
        if as_json:
            emit(ticket)
            return
        zone = ZoneInfo(config.timezone)
        click.echo(f"{ticket['ref']}  {ticket['subject']}")
        click.echo(
            f"state {ticket['state']}, queue {ticket['queue']}, requester "
            f"{ticket['requester_name']} <{ticket['requester']}>,"
            f" opened {local_time(ticket['created_at'], zone)}"
        )
        click.echo(
            f"assigned to {ticket['assignee'] or '-'} (group {ticket['group_name'] or '-'}),"
            f" priority {ticket['priority']}, category {ticket['category'] or '-'},"
            f" segment {ticket['segment'] or '-'}"
        )
        for message in ticket["messages"]:
            arrow = "<-" if message["direction"] == "in" else "->"
            click.echo(
                f"\n{arrow} {local_time(message['received_at'], zone)}  {message['from_addr']}"
                f"  [{message['kind']}]"
            )
            click.echo(f"   {message['subject']}")
            for attachment in message["attachments"]:
                click.echo(f"   attachment: {attachment['filename']} ({attachment['size']} bytes)")
            click.echo("   " + message["body"].strip().replace("\n", "\n   "))


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def quarantine(ctx: click.Context, as_json: bool) -> None:
    """List mail that could not be processed (kept whole, with the reason)."""
    if ctx.invoked_subcommand is not None:
        return
    obj: Context = ctx.obj
    with exit_on_error():
        config = obj.config()
        with readonly(config) as conn:
            rows = queries.list_quarantine(conn)
        if as_json:
            emit(rows)
            return
        for row in rows:
            click.echo(
                f"{row['id']:>5}  {row['received_at']}  {row['size']:>9} bytes  {row['reason']}"
            )


@quarantine.command("raw")
@click.argument("item", type=int)
@click.pass_obj
def quarantine_raw(obj: Context, item: int) -> None:
    """Write the raw bytes of quarantined message ITEM to standard output."""
    with exit_on_error():
        config = obj.config()
        with readonly(config) as conn:
            raw = queries.quarantined_raw(conn, item)
        if raw is None:
            raise MaildeskError(f"no quarantined message {item}")
        if is_sealed_raw(raw):  # held for an anonymous queue
            sealer = load_sealer(config)
            if sealer is None:
                raise MaildeskError(f"quarantined message {item} is sealed and no seal key is set")
            raw = sealer.open_raw(raw)
        sys.stdout.buffer.write(raw)


@click.group(invoke_without_command=True)
@click.option(
    "--state",
    type=click.Choice(["pending", "failed", "bounced", "sent"]),
    help="Only rows in this state.",
)
@click.option("--limit", default=100, show_default=True, help="At most this many, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def outbox(ctx: click.Context, state: str | None, limit: int, as_json: bool) -> None:
    """List outgoing mail: pending (with the last error), failed and sent."""
    if ctx.invoked_subcommand is not None:
        return
    obj: Context = ctx.obj
    with exit_on_error():
        config = obj.config()
        with readonly(config) as conn:
            rows = queries.list_outbox(conn, state, limit)
        if as_json:
            emit(rows)
            return
        for row in rows:
            error = f"  {row['last_error']}" if row["last_error"] else ""
            click.echo(
                f"{row['id']:>6}  {row['state']:<7} {row['kind']:<6} tries {row['attempts']:<3}"
                f" {', '.join(row['rcpt_to'])}{error}"
            )


@outbox.command("retry")
@click.argument("row_id", type=int)
@click.pass_obj
def outbox_retry(obj: Context, row_id: int) -> None:
    """Try outbox row ROW_ID again now (also a failed one)."""
    with exit_on_error():
        config = obj.config()
        with writable(config) as store, store.transaction():
            found = store.outbox_requeue(row_id, SystemClock().now())
        if not found:
            raise MaildeskError(f"no pending or failed outbox row {row_id}")
        click.echo(f"outbox row {row_id} will be sent on the next pass")


COMMANDS = [tickets, show, quarantine, outbox]
