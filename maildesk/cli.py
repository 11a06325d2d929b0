"""The ``maildesk`` command. The only place where errors become messages and exit codes."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from maildesk import __version__, logs
from maildesk.anonymity import is_sealed_raw
from maildesk.clock import SystemClock
from maildesk.config import Config, ImapConfig, find_config_path, load
from maildesk.configfile import example_config
from maildesk.errors import ConfigError, MaildeskError, PermanentError, TransientError
from maildesk.secret import load_seal_key, load_sealer, load_secret, write_secret_file
from maildesk.store import queries
from maildesk.store.store import Store
from maildesk.templates import Templates

TEMPLATES_USED = [
    "ack.txt.j2",
    "attachments_refused.txt.j2",
    "notify.txt.j2",
    "reply.txt.j2",
    "command_error.txt.j2",
    "survey.txt.j2",
    "survey_why.txt.j2",
    "survey_low.txt.j2",
    "survey_page.html.j2",
]


def _templates_used(config: Config) -> list[str]:
    """The fixed templates and each category's own acknowledgement."""
    return [*TEMPLATES_USED, *(c.ack_template for c in config.categories if c.ack_template)]


class _Context:
    def __init__(self, config_path: str | None) -> None:
        self.explicit = config_path

    def config(self) -> Config:
        return load(find_config_path(self.explicit, Path.cwd()), cwd=Path.cwd())


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(f"maildesk: {problem}", err=True)
        sys.exit(2)
    except MaildeskError as exc:
        click.echo(f"maildesk: {exc}", err=True)
        sys.exit(1)


def _emit(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def _tags(config: Config) -> dict[str, str]:
    return {q.name: q.tag for q in config.queues}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="maildesk")
@click.option(
    "--config",
    "config_path",
    metavar="PATH",
    help="Configuration file. Default: $MAILDESK_CONFIG, ./config.toml, /etc/maildesk/config.toml,"
    " else built-in defaults.",
)
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """maildesk: inbound mailboxes become tickets; mail is the interface."""
    ctx.obj = _Context(config_path)


@cli.command()
@click.pass_obj
def run(obj: _Context) -> None:
    """Run the daemon: receive mail, thread it into tickets, send what is due."""
    from maildesk.daemon import Daemon
    from maildesk.heap import fix_mmap_threshold

    fix_mmap_threshold()  # before the daemon allocates: resident memory stays flat
    with _errors():
        config = obj.config()
        logs.setup(config.log_level)
        problems = Templates(config.templates_dir, config.language).check(
            _templates_used(config), [q.language for q in config.queues]
        )
        if problems:
            raise ConfigError(problems)
        try:
            daemon = Daemon(config)
        except OSError as exc:
            raise MaildeskError(f"cannot open {config.database}: {exc.strerror or exc}") from exc
        try:
            asyncio.run(daemon.run())
        except OSError as exc:  # typically: the listener's address is in use
            raise MaildeskError(
                f"cannot listen on {config.listener.host}:{config.listener.port}:"
                f" {exc.strerror or exc}"
            ) from exc


@cli.command()
@click.option("--force", is_flag=True, help="Overwrite an existing config.toml.")
@click.option("--stdout", "to_stdout", is_flag=True, help="Print the configuration instead.")
def init(force: bool, to_stdout: bool) -> None:
    """Write a documented config.toml and a new signing secret into this folder."""
    text = example_config()
    if to_stdout:
        click.echo(text, nl=False)
        return
    target = Path("config.toml")
    if target.exists() and not force:
        click.echo("maildesk: config.toml exists; use --force to overwrite it", err=True)
        sys.exit(1)
    target.write_text(text, encoding="utf-8")
    secret = Path("maildesk.secret")
    if not secret.exists():
        write_secret_file(secret)
        click.echo(f"wrote {target} and {secret} (keep the secret private)")
    else:
        click.echo(f"wrote {target}; kept the existing {secret}")


@cli.command()
@click.pass_obj
def check(obj: _Context) -> None:
    """Validate the configuration and templates; print every problem with its key.

    Then log in to each IMAP account and report its folders and whether the server
    offers IDLE and MOVE.
    """
    with _errors():
        config = obj.config()
        problems = Templates(config.templates_dir, config.language).check(
            _templates_used(config), [q.language for q in config.queues]
        )
        try:
            load_secret(config, create=False)
        except ConfigError as exc:
            if config.secret_file.exists() or not config.path:
                problems += exc.problems
        problems += _anonymity_problems(config)
        if (
            config.outgoing.transport == "smtp"
            and config.outgoing.username
            and not config.outgoing.password()
        ):
            problems.append(
                "key 'outgoing.password_env': the relay needs a password: set "
                f"${config.outgoing.password_env} or outgoing.password_file"
            )
        if problems:
            raise ConfigError(problems)
        click.echo(f"{config.path or 'built-in defaults'}: OK ({len(config.queues)} queue(s))")
        failed = [account.name for account in config.imap if not _check_imap(account)]
        if failed:
            raise MaildeskError(f"IMAP account(s) not ready: {', '.join(failed)}")


def _anonymity_problems(config: Config) -> list[str]:
    anonymous = [q.name for q in config.queues if q.anonymous]
    if not anonymous:
        return []
    problems = []
    if config.outgoing.transport != "smtp":
        problems.append(
            f"key 'queues.anonymous': queue(s) {', '.join(anonymous)} can only be answered"
            ' through the relay: set [outgoing] transport = "smtp"'
        )
    try:
        load_seal_key(config, create=False)
    except ConfigError as exc:  # a missing file is made at start; an unreadable one is not
        if config.privacy.seal_key_file.exists():
            problems += exc.problems
    return problems


def _check_imap(account: ImapConfig) -> bool:
    """Log in to one account and print what was found; False if it cannot collect mail."""
    from maildesk.ingest.imap_client import probe

    where = f"{account.host}:{account.port} ({account.tls}) as {account.username}"
    try:
        found = probe(account)
    except (TransientError, PermanentError) as exc:
        click.echo(f"maildesk: imap {account.name}: {exc}", err=True)
        return False
    click.echo(f"imap {account.name}: logged in to {where}")
    roles = {
        account.folder: "folder",
        account.processed_folder: "processed_folder",
        account.quarantine_folder: "quarantine_folder",
    }
    for name, exists in found.folders.items():
        state = "missing, created at start"
        if name == account.folder:
            state = f"exists, {found.messages} message(s)" if exists else "MISSING"
        elif exists:
            state = "exists"
        click.echo(f"  {roles[name]} {name!r}: {state}")
    idle = "supported" if found.idle else f"not offered: checks every {account.poll_seconds} s"
    move = "supported" if found.move else "not offered: COPY, \\Deleted and EXPUNGE instead"
    click.echo(f"  IDLE: {idle}; MOVE: {move}")
    if not found.folders[account.folder]:
        click.echo(
            f"maildesk: imap {account.name}: folder {account.folder!r} does not exist", err=True
        )
        return False
    return True


@cli.command()
@click.option(
    "--state", help="Only tickets in this state (new, open, pending, resolved, closed …)."
)
@click.option("--queue", help="Only tickets of this queue.")
@click.option("--limit", default=100, show_default=True, help="At most this many, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def tickets(obj: _Context, state: str | None, queue: str | None, limit: int, as_json: bool) -> None:
    """List tickets, newest first."""
    with _errors():
        config = obj.config()
        with _readonly(config) as conn:
            rows = queries.list_tickets(conn, _tags(config), state=state, queue=queue, limit=limit)
        if as_json:
            _emit(rows)
            return
        for row in rows:
            click.echo(
                f"{row['ref']:<12} {row['state']:<9} {row['message_count']:>3} msg  "
                f"{row['requester']:<32} {row['subject'][:60]}"
            )


@cli.command()
@click.argument("number", type=int)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def show(obj: _Context, number: int, as_json: bool) -> None:
    """Show one ticket with its messages."""
    with _errors():
        config = obj.config()
        with _readonly(config) as conn:
            ticket = queries.ticket_detail(conn, _tags(config), number)
        if ticket is None:
            raise MaildeskError(f"no ticket {number}")
        if as_json:
            _emit(ticket)
            return
        click.echo(f"{ticket['ref']}  {ticket['subject']}")
        click.echo(
            f"state {ticket['state']}, queue {ticket['queue']}, requester "
            f"{ticket['requester_name']} <{ticket['requester']}>, opened {ticket['created_at']}"
        )
        click.echo(
            f"assigned to {ticket['assignee'] or '-'} (group {ticket['group_name'] or '-'}),"
            f" priority {ticket['priority']}, category {ticket['category'] or '-'},"
            f" segment {ticket['segment'] or '-'}"
        )
        for message in ticket["messages"]:
            arrow = "<-" if message["direction"] == "in" else "->"
            click.echo(
                f"\n{arrow} {message['received_at']}  {message['from_addr']}  [{message['kind']}]"
            )
            click.echo(f"   {message['subject']}")
            for attachment in message["attachments"]:
                click.echo(f"   attachment: {attachment['filename']} ({attachment['size']} bytes)")
            click.echo("   " + message["body"].strip().replace("\n", "\n   "))


@cli.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def quarantine(ctx: click.Context, as_json: bool) -> None:
    """List mail that could not be processed (kept whole, with the reason)."""
    if ctx.invoked_subcommand is not None:
        return
    obj: _Context = ctx.obj
    with _errors():
        config = obj.config()
        with _readonly(config) as conn:
            rows = queries.list_quarantine(conn)
        if as_json:
            _emit(rows)
            return
        for row in rows:
            click.echo(
                f"{row['id']:>5}  {row['received_at']}  {row['size']:>9} bytes  {row['reason']}"
            )


@quarantine.command("raw")
@click.argument("item", type=int)
@click.pass_obj
def quarantine_raw(obj: _Context, item: int) -> None:
    """Write the raw bytes of quarantined message ITEM to standard output."""
    with _errors():
        config = obj.config()
        with _readonly(config) as conn:
            raw = queries.quarantined_raw(conn, item)
        if raw is None:
            raise MaildeskError(f"no quarantined message {item}")
        if is_sealed_raw(raw):  # held for an anonymous queue
            sealer = load_sealer(config)
            if sealer is None:
                raise MaildeskError(f"quarantined message {item} is sealed and no seal key is set")
            raw = sealer.open_raw(raw)
        sys.stdout.buffer.write(raw)


@cli.group(invoke_without_command=True)
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
    obj: _Context = ctx.obj
    with _errors():
        config = obj.config()
        with _readonly(config) as conn:
            rows = queries.list_outbox(conn, state, limit)
        if as_json:
            _emit(rows)
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
def outbox_retry(obj: _Context, row_id: int) -> None:
    """Try outbox row ROW_ID again now (also a failed one)."""
    with _errors():
        config = obj.config()
        store = Store(config.database)
        try:
            with store.transaction():
                found = store.outbox_requeue(row_id, SystemClock().now())
        finally:
            store.close()
        if not found:
            raise MaildeskError(f"no pending or failed outbox row {row_id}")
        click.echo(f"outbox row {row_id} will be sent on the next pass")


@contextmanager
def _readonly(config: Config) -> Iterator[Any]:
    conn = queries.open_readonly(config.database)
    try:
        yield conn
    finally:
        conn.close()


def main() -> None:
    cli(prog_name="maildesk")


# Larger areas keep their commands in their own modules (maildesk/cli_<area>.py), which
# decorate ``cli`` and reuse ``_errors``; importing them here registers the commands.
from maildesk import cli_agents  # noqa: E402, F401

from maildesk import cli_privacy, cli_service  # noqa: E402, F401  # isort: skip
from maildesk import cli_sla  # noqa: E402, F401  # isort: skip
from maildesk import cli_reports  # noqa: E402, F401  # isort: skip
