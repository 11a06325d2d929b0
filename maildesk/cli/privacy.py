"""``maildesk purge``, ``export`` and ``erase``: the personal-data duties on the command line.

They work on the database while the daemon runs: SQLite serialises writers, PostgreSQL's
transactions keep them apart, and each purge batch is a short transaction of its own.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click

from maildesk.cli._common import (
    Context,
    exit_on_error,
    queue_tags,
    readonly,
    writable,
)
from maildesk.clock import SystemClock
from maildesk.config.secret import load_sealer
from maildesk.errors import MaildeskError
from maildesk.privacy import purge as privacy
from maildesk.privacy.anonymity import is_alias
from maildesk.privacy.export import export as export_requester


@click.command()
@click.option("--dry-run", is_flag=True, help="Count what would go; change nothing.")
@click.pass_obj
def purge(obj: Context, dry_run: bool) -> None:
    """Purge closed tickets older than [privacy] retention_days, with their messages, raw
    mail and attachments; and quarantined mail and mail that joined no ticket as old.

    The daemon does the same daily.
    """
    with exit_on_error():
        config = obj.config()
        days = config.privacy.retention_days
        cutoff = SystemClock().now() - timedelta(days=days)
        with writable(config) as store:
            removed = privacy.purge(store, cutoff, dry_run=dry_run)
        verb = "would remove" if dry_run else "removed"
        click.echo(f"{verb} {removed} (closed or received more than {days} days ago)")


@click.command()
@click.option("--requester", required=True, metavar="ADDRESS", help="The person's address.")
@click.argument("outdir", type=click.Path(file_okay=False, path_type=Path))
@click.pass_obj
def export(obj: Context, requester: str, outdir: Path) -> None:
    """Write everything held about a person into OUTDIR: requester.json and each of their
    messages as an .eml file (a subject access request)."""
    with exit_on_error():
        config = obj.config()
        if outdir.exists() and any(outdir.iterdir()):
            raise MaildeskError(f"{outdir} is not empty")
        sealer = load_sealer(config)
        pseudonym = sealer.alias(requester) if sealer and not is_alias(requester) else None
        with readonly(config) as conn:
            found = export_requester(
                conn,
                queue_tags(config),
                requester,
                outdir,
                pseudonym=pseudonym,
                open_raw=sealer.open_raw if sealer else lambda raw: raw,
            )
        also = f" and {pseudonym}" if pseudonym else ""
        click.echo(
            f"wrote {found['tickets']} ticket(s), {found['messages']} message(s)"
            f" ({found['files']} .eml file(s)) about {requester.strip().lower()}{also}"
            f" to {outdir}"
        )


@click.command()
@click.option("--requester", required=True, metavar="ADDRESS", help="The person's address.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def erase(obj: Context, requester: str, yes: bool) -> None:
    """Erase everything about a person: their tickets keep only number, queue, state and
    dates; their messages, attachments and address go. The store records that an
    erasure happened, not whose."""
    with exit_on_error():
        config = obj.config()
        address = requester.strip().lower()
        if "@" not in address:
            raise MaildeskError(f"not an address: {requester!r}")
        if not yes:
            click.confirm(f"Erase everything about {address}? This cannot be undone", abort=True)
        sealer = load_sealer(config)
        pseudonym = sealer.alias(address) if sealer and not is_alias(address) else None
        with writable(config) as store:
            removed = privacy.erase(store, address, SystemClock().now(), pseudonym=pseudonym)
            postgres = store.dialect.is_postgres
        also = f" and {pseudonym}" if pseudonym else ""
        click.echo(f"erased {address}{also}: {removed}")
        if postgres:  # SQLite overwrote the deleted pages; PostgreSQL cannot be told to
            click.echo(
                "PostgreSQL keeps the deleted rows until VACUUM, and WAL archives and base"
                " backups keep them until they rotate: see docs/admin.md, Personal data"
            )


COMMANDS = [purge, export, erase]
