"""The store itself: ``maildesk migrate`` and ``maildesk copy-store``."""

from __future__ import annotations

from pathlib import Path

import click

from maildesk.cli._common import Context, exit_on_error
from maildesk.store.copy import copy_store
from maildesk.store.database import connect, redacted
from maildesk.store.schema import migrations


@click.command()
@click.pass_obj
def migrate(obj: Context) -> None:
    """Bring the store's schema up to date (SQLite or PostgreSQL); the daemon does the same
    at start. Daemons and commands started together take turns: one upgrades, the others
    find it done."""
    with exit_on_error():
        config = obj.config()
        conn, dialect = connect(config.store_location, config.database_password_env)
        try:
            applied = migrations.apply(conn, dialect)
            total = len(migrations.applied(conn, dialect))
        finally:
            conn.close()
        where = redacted(config.store_location)
        if applied:
            click.echo(f"{where}: applied {', '.join(applied)} ({total} step(s) in all)")
        else:
            click.echo(f"{where}: up to date ({total} step(s))")


@click.command("copy-store")
@click.option(
    "--from",
    "source",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The SQLite store to copy (the daemon that uses it stopped).",
)
@click.option("--to", "target", required=True, metavar="URL", help="An empty PostgreSQL database.")
@click.option(
    "--password-env",
    default="",
    metavar="NAME",
    help="Environment variable with the target's password; default: libpq's ways"
    " ($PGPASSWORD, ~/.pgpass).",
)
def copy_store_command(source: Path, target: str, password_env: str) -> None:
    """Copy a SQLite store into an empty PostgreSQL database, then check the copy: rows
    per table, and a checksum of raw mail and attachments. Ticket numbers are kept, and
    new ones continue after the highest ever given."""
    with exit_on_error():
        copied = copy_store(source, target, password_env)
        for table, count in copied.rows.items():
            click.echo(f"{table:<18} {count:>9} row(s)")
        click.echo(
            f"copied {source} to {redacted(target)}; checked: every table's rows, and the"
            f" binary columns' checksum {copied.checksum[:16]}"
        )


COMMANDS = [migrate, copy_store_command]
