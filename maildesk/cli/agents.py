"""``maildesk reply``, ``assign``, ``close`` and ``note``: what an agent does by mail, for a
supervisor at the server. Each runs the same checked commands as the mail path
(``maildesk/agents/actions.py``); mail is queued in the outbox, and the daemon sends it.
"""

from __future__ import annotations

import mimetypes
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import click

from maildesk.agents.actions import Actions, Actor, explain
from maildesk.cli._common import (
    Context,
    exit_on_error,
    writable,
)
from maildesk.clock import SystemClock
from maildesk.config import AgentConfig, Config
from maildesk.config.secret import load_sealer, load_secret
from maildesk.desk import Desk
from maildesk.errors import MaildeskError
from maildesk.mail.commands import Command, CommandName, parse_commands
from maildesk.mail.parse import safe_filename
from maildesk.mail.parsed import Attachment
from maildesk.templates import Templates

_AS = click.option(
    "--as",
    "as_agent",
    metavar="AGENT",
    help="Act as this agent (address or name); it is recorded, and a reply is signed so.",
)


@contextmanager
def _actions(config: Config) -> Iterator[Actions]:
    with writable(config) as store:
        templates = Templates(config.templates_dir, config.language)
        secret = load_secret(config, create=False)
        # An anonymous queue's desk masks and seals as the daemon's does.
        yield Desk(config, store, templates, secret, load_sealer(config)).actions


def _run(
    obj: Context,
    number: int,
    as_agent: str | None,
    commands: Sequence[Command],
    text: str = "",
    attachments: Sequence[Attachment] = (),
) -> str:
    """Check and apply ``commands`` to ticket ``number`` in one transaction; its reference."""
    config = obj.config()
    with _actions(config) as actions:
        agent: AgentConfig | None = None
        if as_agent is not None:
            found = actions.directory.resolve(as_agent)
            if not isinstance(found, AgentConfig):
                raise MaildeskError(f"--as {as_agent!r}: no such agent")
            agent = found
        actor = Actor.of(agent)
        with actions.store.transaction():
            ticket = actions.ticket(number)
            errors = actions.check(ticket, actor, commands)
            if errors:
                reasons = (f"{e.line}: {actions.explain(e, 'en')}" for e in errors)
                raise MaildeskError("; ".join(reasons))
            actions.apply(ticket, actor, commands, text, attachments, SystemClock().now())
        return str(actions.context(ticket)["ref"])


def _read_attachment(path: Path) -> Attachment:
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    try:
        return Attachment(safe_filename(path.name), content_type, path.read_bytes())
    except OSError as exc:
        raise MaildeskError(f"cannot read {path}: {exc.strerror or exc}") from exc


@click.command()
@click.argument("number", type=int)
@click.option("-m", "--message", help="The reply; without it, it is read from standard input.")
@click.option(
    "--attach",
    type=click.Path(dir_okay=False, path_type=Path),
    multiple=True,
    help="A file to attach (repeat for more).",
)
@_AS
@click.pass_obj
def reply(
    obj: Context, number: int, message: str | None, attach: tuple[Path, ...], as_agent: str | None
) -> None:
    """Reply to ticket NUMBER's requester and participants, from the queue address.

    The first reply counts as the first response and opens the ticket, as an agent's
    reply by mail does.
    """
    with exit_on_error():
        text = message if message is not None else sys.stdin.read()
        if not text.strip():
            raise MaildeskError("the reply is empty")
        files = [_read_attachment(p) for p in attach]
        ref = _run(obj, number, as_agent, [], text, files)
        click.echo(f"{ref}: reply queued")


@click.command()
@click.argument("number", type=int)
@click.argument("target")
@_AS
@click.pass_obj
def assign(obj: Context, number: int, target: str, as_agent: str | None) -> None:
    """Give ticket NUMBER to TARGET, an agent (address or name) or a group; they are told."""
    with exit_on_error():
        parsed = parse_commands(f"#assign {target}")
        if parsed.errors or len(parsed.commands) != 1 or parsed.body.strip():
            config = obj.config()
            templates = Templates(config.templates_dir, config.language)
            found = (explain(templates, e, "en") for e in parsed.errors)
            reasons = "; ".join(found) or "one agent or group"
            raise MaildeskError(f"cannot assign to {target!r}: {reasons}")
        ref = _run(obj, number, as_agent, parsed.commands)
        click.echo(f"{ref}: assigned to {target}")


@click.command()
@click.argument("number", type=int)
@click.option(
    "--resolve",
    is_flag=True,
    help="Mark it resolved (solved; the requester may still write back) instead of closed.",
)
@_AS
@click.pass_obj
def close(obj: Context, number: int, resolve: bool, as_agent: str | None) -> None:
    """Close ticket NUMBER (like #close), or resolve it (like #resolve)."""
    with exit_on_error():
        name = CommandName.RESOLVE if resolve else CommandName.CLOSE
        ref = _run(obj, number, as_agent, [Command(name)])
        click.echo(f"{ref}: {'resolved' if resolve else 'closed'}")


@click.command()
@click.argument("number", type=int)
@click.argument("text", required=False)
@_AS
@click.pass_obj
def note(obj: Context, number: int, text: str | None, as_agent: str | None) -> None:
    """Add an internal note to ticket NUMBER (TEXT, else standard input); never sent."""
    with exit_on_error():
        body = text if text is not None else sys.stdin.read()
        if not body.strip():
            raise MaildeskError("the note is empty")
        ref = _run(obj, number, as_agent, [Command(CommandName.NOTE)], body)
        click.echo(f"{ref}: note added")


COMMANDS = [reply, assign, close, note]
