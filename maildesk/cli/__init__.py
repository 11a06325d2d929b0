"""The ``maildesk`` command: the click group and its command families.

Each family lives in its own module and lists its commands in ``COMMANDS``; this module
only gathers them. ``_common`` holds what they share, including the one place where
errors become messages and exit codes.

May import: every maildesk package (the command line is the outermost layer).
"""

from __future__ import annotations

import click

from maildesk import __version__
from maildesk.cli import (
    agents,
    backup,
    daemon,
    install,
    oauth,
    privacy,
    reports,
    sla,
    store,
    tickets,
)
from maildesk.cli._common import Context


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
    ctx.obj = Context(config_path)


for family in (daemon, install, tickets, agents, sla, reports, privacy, backup, store, oauth):
    for command in family.COMMANDS:
        cli.add_command(command)


def main() -> None:
    cli(prog_name="maildesk")
