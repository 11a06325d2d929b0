"""``maildesk oauth login NAME``: the device-code sign-in that gives a ``grant =
"refresh_token"`` credential its refresh token; and the token checks of ``maildesk check``."""

from __future__ import annotations

import click

from maildesk.cli._common import Context, exit_on_error
from maildesk.clock import SystemClock
from maildesk.config import Config
from maildesk.errors import ConfigError, MaildeskError
from maildesk.oauth.device import finish_device_login, start_device_login
from maildesk.oauth.tokens import TokenSource, refresh_token_path
from maildesk.service.tokens import state_dir, token_sources


@click.group()
def oauth() -> None:
    """OAuth2 credentials ([[oauth]] tables) for Microsoft 365, Google Workspace and others."""


@oauth.command()
@click.argument("name")
@click.pass_obj
def login(obj: Context, name: str) -> None:
    """Sign in once for [[oauth]] NAME (grant = "refresh_token") with the device code flow.

    Prints an address and a code to enter there from any browser, waits for the sign-in,
    then stores the refresh token in a file readable by its owner only (beside the
    client secret or certificate, else beside the database); the daemon refreshes it from
    then on. The token itself is never printed.
    """
    with exit_on_error():
        config = obj.config()
        if name not in {o.name for o in config.oauth}:
            known = ", ".join(o.name for o in config.oauth) or "none"
            raise ConfigError([f"no [[oauth]] table named {name!r} (declared: {known})"])
        settings = config.oauth_named(name)
        if settings.grant != "refresh_token":
            raise ConfigError(
                [
                    f"[[oauth]] {name} has grant {settings.grant}: the app signs in as itself"
                    ' and needs no login; set grant = "refresh_token" for delegated access'
                ]
            )
        started = start_device_login(settings)
        click.echo(started.message)
        click.echo(f"(address: {started.verification_uri}  code: {started.user_code})")
        click.echo("waiting for the sign-in ...")
        path = refresh_token_path(settings, state_dir(config))
        token = finish_device_login(settings, started, path, SystemClock())
        lifetime = round((token.expires - SystemClock().now()).total_seconds())
        click.echo(
            f"signed in; the refresh token is stored in {path} (mode 0600). The first access"
            f" token lasts {lifetime} s; the daemon fetches the next ones itself."
        )


def check_credentials(config: Config) -> tuple[dict[str, TokenSource], list[str]]:
    """Ask each [[oauth]] credential for a token, as the daemon will; print the outcome.

    Returns the sources (to sign in to the accounts with) and the names that failed; a
    failure prints the provider's own error code and what to fix, never a secret.
    """
    sources = token_sources(config, SystemClock())
    failed = []
    for name, source in sources.items():
        settings = source.settings
        users = {f"imap {a.name}": a.username for a in config.imap if a.oauth == name}
        if config.outgoing.transport == "smtp" and config.outgoing.oauth == name:
            users["the relay"] = config.outgoing.username
        # A service account's token acts as one mailbox: ask for each mailbox's own.
        asked = sorted(set(users.values())) if settings.per_mailbox else [""]
        for user in asked:
            try:
                source.token(user)
            except MaildeskError as exc:  # refused, unreachable, or the secret not readable
                click.echo(f"maildesk: oauth {name}: {exc}", err=True)
                failed.append(name)
                break
            left = source.seconds_left(user)
            who = f" as {user}" if user else ""
            click.echo(
                f"oauth {name}: got a token{who} from {settings.effective_token_url}"
                f" ({settings.provider}, grant {settings.grant}; renewed in {left:.0f} s);"
                f" used by {', '.join(users) or 'nothing yet'}"
            )
        if settings.per_mailbox and not asked:
            click.echo(f"oauth {name}: not tried: no [[imap]] or [outgoing] names it")
    return sources, failed


COMMANDS = [oauth]
