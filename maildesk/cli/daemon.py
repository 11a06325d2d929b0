"""Setting up and running the daemon: ``maildesk init``, ``check`` and ``run``."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from maildesk.cli._common import (
    Context,
    exit_on_error,
    templates_used,
)
from maildesk.cli.oauth import check_credentials
from maildesk.config import Config, ImapConfig
from maildesk.config.example import example_config
from maildesk.config.secret import load_seal_key, load_secret, write_secret_file
from maildesk.errors import ConfigError, MaildeskError, PermanentError, TransientError
from maildesk.oauth.tokens import TokenSource
from maildesk.service import logs
from maildesk.templates import Templates


@click.command()
@click.pass_obj
def run(obj: Context) -> None:
    """Run the daemon: receive mail, thread it into tickets, send what is due."""
    from maildesk.service.daemon import Daemon
    from maildesk.service.heap import fix_mmap_threshold

    fix_mmap_threshold()  # before the daemon allocates: resident memory stays flat
    with exit_on_error():
        config = obj.config()
        logs.setup(config.log_level)
        problems = Templates(config.templates_dir, config.language).check(
            templates_used(config), [q.language for q in config.queues]
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


@click.command()
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


@click.command()
@click.pass_obj
def check(obj: Context) -> None:
    """Validate the configuration and templates; print every problem with its key.

    Then get a token for each [[oauth]] credential (printing the provider's own error
    and what to fix when it refuses), log in to each IMAP account and report its folders
    and whether the server offers IDLE and MOVE.
    """
    with exit_on_error():
        config = obj.config()
        problems = Templates(config.templates_dir, config.language).check(
            templates_used(config), [q.language for q in config.queues]
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
            and not config.outgoing.oauth
            and not config.outgoing.password()
        ):
            problems.append(
                "key 'outgoing.password_env': the relay needs a password: set "
                f"${config.outgoing.password_env} or outgoing.password_file"
            )
        if problems:
            raise ConfigError(problems)
        click.echo(f"{config.path or 'built-in defaults'}: OK ({len(config.queues)} queue(s))")
        sources, refused = check_credentials(config)
        failed = [
            account.name
            for account in config.imap
            if not _check_imap(account, sources.get(account.oauth), refused)
        ]
        if refused:
            raise MaildeskError(f"OAuth2 credential(s) refused: {', '.join(refused)}")
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


def _check_imap(account: ImapConfig, tokens: TokenSource | None, refused: list[str]) -> bool:
    """Log in to one account and print what was found; False if it cannot collect mail."""
    from maildesk.ingest.imap_client import probe

    if account.oauth in refused:  # its credential's refusal is printed already
        click.echo(
            f"maildesk: imap {account.name}: not tried: [[oauth]] {account.oauth} refused", err=True
        )
        return False
    where = f"{account.host}:{account.port} ({account.tls}) as {account.username}"
    if account.oauth:
        where += f" with [[oauth]] {account.oauth}"
    try:
        found = probe(account, tokens=tokens)
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


COMMANDS = [run, init, check]
