"""Setting up and running the daemon: ``maildesk init``, ``check`` and ``run``."""

from __future__ import annotations

import asyncio
import smtplib
import sqlite3
import sys
from datetime import timedelta
from pathlib import Path

import click

from maildesk.agents.directory import Directory, supervisors
from maildesk.cli._common import (
    Context,
    exit_on_error,
    templates_used,
)
from maildesk.cli.oauth import check_credentials
from maildesk.config import Config, ImapConfig
from maildesk.config import sla as slaconfig
from maildesk.config.example import example_config
from maildesk.config.secret import check_secret, write_secret_file
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
            raise MaildeskError(_start_failure(config, exc)) from exc
        except sqlite3.OperationalError as exc:  # sqlite names no file: it is the database
            raise MaildeskError(_start_failure(config, OSError(0, str(exc)))) from exc
        try:
            asyncio.run(daemon.run())
        except OSError as exc:  # typically: the listener's address is in use
            raise MaildeskError(
                f"cannot listen on {config.listener.host}:{config.listener.port}:"
                f" {exc.strerror or exc}"
            ) from exc


def _start_failure(config: Config, exc: OSError) -> str:
    """Which file stopped the start, and what to do: the database is one of several."""
    failed = Path(exc.filename) if exc.filename else None
    why = exc.strerror or str(exc)
    if failed is None or failed in (config.database, Path(f"{config.database}-wal")):
        return (
            f"cannot open the database {config.database}: {why}; its folder must exist and be"
            " writable by the user that runs maildesk (key 'maildesk.database')"
        )
    return (
        f"cannot start: {failed}: {why}; make it readable by the user that runs maildesk"
        " (`maildesk check` names the setting that points at it)"
    )


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

    Then say who each queue's escalations reach, level by level; get a token for each
    [[oauth]] credential (printing the provider's own error and what to fix when it
    refuses); log in to each IMAP account and report its folders and whether the server
    offers IDLE and MOVE; and when [outgoing] signs in with [[oauth]], sign in to the
    relay (AUTH XOAUTH2, then QUIT without sending) and print its answer.
    """
    with exit_on_error():
        config = obj.config()
        problems = Templates(config.templates_dir, config.language).check(
            templates_used(config), [q.language for q in config.queues]
        )
        problems += check_secret(config.secret_env, config.secret_file, "maildesk.secret_file")
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
        for line in escalation_lines(config):
            click.echo(line)
        sources, refused = check_credentials(config)
        failed = [
            account.name
            for account in config.imap
            if not _check_imap(account, sources.get(account.oauth), refused)
        ]
        relay_ok = _check_relay(config, sources.get(config.outgoing.oauth), refused)
        if refused:
            raise MaildeskError(f"OAuth2 credential(s) refused: {', '.join(refused)}")
        if failed:
            raise MaildeskError(f"IMAP account(s) not ready: {', '.join(failed)}")
        if not relay_ok:
            raise MaildeskError("the relay refused the OAuth2 sign-in")


def escalation_lines(config: Config) -> list[str]:
    """Who each queue's breaches reach, level by level, as the sweeps will choose them."""
    directory = Directory(config.agents)
    policy = slaconfig.policy(config)
    lines = []
    for queue in config.queues:
        for level in policy.levels(queue.name):
            people = supervisors(directory, queue, None, level.notify)
            after = f" (+{level.after / timedelta(hours=1):g} h)" if level.after else ""
            told = ", ".join(people) or "nobody: no [[escalations]] contact and no agent"
            if people and not level.notify:
                told += " (no [[escalations]] contact: coordinators, else agents)"
            lines.append(f"escalations {queue.name}: level {level.level}{after} -> {told}")
    return lines


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
    privacy = config.privacy
    problems += check_secret(privacy.seal_key_env, privacy.seal_key_file, "privacy.seal_key_file")
    return problems


def _check_relay(config: Config, tokens: TokenSource | None, refused: list[str]) -> bool:
    """Sign in to the relay as the daemon will when [outgoing] uses [[oauth]]; False if
    it refuses. A relay that signs in with a password is left to the first delivery."""
    from maildesk.outbox.transports import SmtpTransport

    cfg = config.outgoing
    if cfg.transport != "smtp" or not cfg.oauth:
        return True
    if cfg.oauth in refused:  # its credential's refusal is printed already
        click.echo(f"maildesk: relay: not tried: [[oauth]] {cfg.oauth} refused", err=True)
        return False
    where = f"{cfg.host}:{cfg.port} ({cfg.tls}) as {cfg.username} with [[oauth]] {cfg.oauth}"
    try:
        answer = SmtpTransport(cfg, tokens=tokens).sign_in()
    except smtplib.SMTPAuthenticationError as exc:
        error = exc.smtp_error
        text = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
        click.echo(
            f"maildesk: relay {where}: AUTH XOAUTH2 refused: {exc.smtp_code} {text}; the token"
            f" is good but not for sending as {cfg.username}: check outgoing.username, and"
            " that this mailbox may send with it (Microsoft 365: SMTP AUTH enabled for the"
            " mailbox and the app's SMTP.SendAsApp permission; Google: the"
            " https://mail.google.com/ scope)",
            err=True,
        )
        return False
    except (MaildeskError, smtplib.SMTPException, OSError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        click.echo(f"maildesk: relay {where}: {reason}", err=True)
        return False
    click.echo(f"relay: signed in to {where}: {answer}")
    return True


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
