"""What every command shares: the configuration it was given, the one place where
errors become messages and exit codes, JSON output, and the one way to open the store
(SQLite or PostgreSQL, read-only or for writing)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from maildesk.config import Config, find_config_path, load
from maildesk.errors import ConfigError, MaildeskError
from maildesk.reports.monthly import TEMPLATES as REPORT_TEMPLATES
from maildesk.store import queries
from maildesk.store.database import is_url
from maildesk.store.store import Store

TEMPLATES_USED = [
    "ack.txt.j2",
    "attachments_refused.txt.j2",
    "notify.txt.j2",
    "reply.txt.j2",
    "command_error.txt.j2",
    "refusal.txt.j2",
    "survey.txt.j2",
    "survey_why.txt.j2",
    "survey_low.txt.j2",
    "survey_page.html.j2",
    # The monthly report's own, checked at start like the others.
    *REPORT_TEMPLATES,
]


def templates_used(config: Config) -> list[str]:
    """The fixed templates and each category's own acknowledgement."""
    return [*TEMPLATES_USED, *(c.ack_template for c in config.categories if c.ack_template)]


class Context:
    """The --config option, read when a command asks for the configuration."""

    def __init__(self, config_path: str | None) -> None:
        self.explicit = config_path

    def config(self) -> Config:
        return load(find_config_path(self.explicit, Path.cwd()), cwd=Path.cwd())


@contextmanager
def exit_on_error() -> Iterator[None]:
    """Turn maildesk's errors into a message on stderr and exit code 2 (configuration) or 1."""
    try:
        yield
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(f"maildesk: {problem}", err=True)
        sys.exit(2)
    except MaildeskError as exc:
        click.echo(f"maildesk: {exc}", err=True)
        sys.exit(1)


def emit(data: Any) -> None:
    """Print ``data`` as JSON (the --json output of every listing)."""
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def queue_tags(config: Config) -> dict[str, str]:
    """Queue name -> subject tag, to write ticket references such as INFO#42."""
    return {q.name: q.tag for q in config.queues}


@contextmanager
def readonly(config: Config) -> Iterator[Any]:
    """The store opened read-only: commands that only read can run beside the daemon."""
    conn = queries.open_reader(config.store_location, config.database_password_env)
    try:
        yield conn
    finally:
        conn.close()


@contextmanager
def writable(config: Config) -> Iterator[Store]:
    """The store opened for writing (and migrated), beside the daemon: SQLite serialises
    the writers, PostgreSQL's transactions keep them apart. A SQLite file must exist
    already: a command never creates an empty store by mistake."""
    if not is_url(config.store_location) and not config.database.exists():
        raise MaildeskError(f"no database at {config.database} (has maildesk run yet?)")
    store = Store(config.store_location, config.database_password_env)
    try:
        yield store
    finally:
        store.close()
