"""``maildesk backup``: a consistent copy of the store, taken while the daemon runs."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

import click

from maildesk.cli._common import (
    Context,
    exit_on_error,
)
from maildesk.errors import MaildeskError
from maildesk.store import queries
from maildesk.store.database import redacted


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
def backup(obj: Context, file: Path) -> None:
    """Copy the database to FILE, consistent even while the daemon runs (SQLite's online
    backup), then check the copy. FILE holds everything: tickets, mail, attachments.
    A PostgreSQL store is backed up with PostgreSQL's own tools (pg_dump)."""
    with exit_on_error():
        config = obj.config()
        if config.database_url:
            raise MaildeskError(
                f"the store is the PostgreSQL database {redacted(config.store_location)}:"
                " back it up with PostgreSQL's tools, e.g."
                " `pg_dump --format=custom --file=FILE URL`"
                " (or the replication and backups the database already has)"
            )
        if file.resolve() == config.database.resolve():
            raise MaildeskError("FILE is the database itself")
        # Written beside FILE first, then renamed: FILE is never a half-written copy.
        partial = file.with_name(f".{file.name}.partial")
        source = queries.open_readonly(config.database)
        try:
            partial.unlink(missing_ok=True)
            # Created readable by its owner only before anything is written: it holds
            # everyone's mail.
            os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            with contextlib.closing(sqlite3.connect(partial)) as target:
                # One step: the copy is a single read transaction, so the daemon's commits
                # meanwhile neither restart it nor end up half in it.
                source.backup(target)
                target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
                check = target.execute("PRAGMA quick_check").fetchone()[0]
                tickets = target.execute("SELECT count(*) FROM tickets").fetchone()[0]
            if check != "ok":
                raise MaildeskError(f"the copy failed its check: {check}")
            os.replace(partial, file)
        except (sqlite3.Error, OSError) as exc:
            raise MaildeskError(f"cannot back up to {file}: {exc}") from exc
        finally:
            source.close()
            partial.unlink(missing_ok=True)
        size = file.stat().st_size
        click.echo(f"wrote {file}: {tickets} ticket(s), {size / 1_048_576:.1f} MiB")


COMMANDS = [backup]
