"""``maildesk oauth login NAME``: the sign-in that gives a ``grant = "refresh_token"``
credential its refresh token (the device code flow; Google's installed-app flow in a
browser); and the token checks of ``maildesk check``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from maildesk.cli._common import Context, exit_on_error
from maildesk.clock import SystemClock
from maildesk.config import Config
from maildesk.errors import ConfigError, MaildeskError
from maildesk.oauth.browser import finish_browser_login, start_browser_login, wait_for_redirect
from maildesk.oauth.device import finish_device_login, start_device_login
from maildesk.oauth.settings import OAuthSettings
from maildesk.oauth.tokens import AccessToken, TokenSource, refresh_token_path
from maildesk.service.tokens import state_dir, token_sources


@click.group()
def oauth() -> None:
    """OAuth2 credentials ([[oauth]] tables) for Microsoft 365, Google Workspace and others."""


@oauth.command()
@click.argument("name")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=0, show_default="a free one",
    help="Google: the 127.0.0.1 port the browser is sent back to.",
)  # fmt: skip
@click.pass_obj
def login(obj: Context, name: str, port: int) -> None:
    """Sign in once for [[oauth]] NAME (grant = "refresh_token").

    Microsoft and generic: the device code flow; it prints an address and a code to enter
    there from any browser. Google (whose device flow does not grant mail access): it
    prints an address to open in a browser and listens on 127.0.0.1 for the browser's
    return; when the browser runs on another machine, paste the address the browser was
    sent to (its page does not load, but the address bar holds the code).

    It waits for the sign-in, then stores the refresh token in a file readable by its
    owner only (beside the client secret or certificate, else beside the database); the
    daemon refreshes it from then on. The token itself is never printed.
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
        path = refresh_token_path(settings, state_dir(config))
        if settings.authorize_url:
            token = _browser_login(settings, path, port)
        else:
            started = start_device_login(settings)
            click.echo(started.message)
            click.echo(f"(address: {started.verification_uri}  code: {started.user_code})")
            click.echo("waiting for the sign-in ...")
            token = finish_device_login(settings, started, path, SystemClock())
        lifetime = round((token.expires - SystemClock().now()).total_seconds())
        click.echo(
            f"signed in; the refresh token is stored in {path} (mode 0600). The first access"
            f" token lasts {lifetime} s; the daemon fetches the next ones itself."
        )


def _browser_login(settings: OAuthSettings, path: Path, port: int) -> AccessToken:
    with start_browser_login(settings, port=port) as started:
        click.echo("Open this address in a browser, sign in as the mailbox and allow access:")
        click.echo(f"\n  {started.url}\n")
        click.echo(
            f"maildesk listens on {started.redirect_uri} for the browser's return. If the"
            " browser runs on another machine, the page it is sent to will not load: copy"
            " that page's address from the address bar and paste it here, then Enter."
        )
        redirected = wait_for_redirect(started, sys.stdin, timeout=600)
        click.echo("got the answer; asking for the tokens ...")
        return finish_browser_login(settings, started, redirected, path, SystemClock())


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
            using = [k for k, v in users.items() if not user or v == user]
            click.echo(
                f"oauth {name}: got a token{who} from {settings.effective_token_url}"
                f" ({settings.provider}, grant {settings.grant}; renewed in {left:.0f} s);"
                f" used by {', '.join(using) or 'nothing yet'}"
            )
        if settings.per_mailbox and not asked:
            click.echo(f"oauth {name}: not tried: no [[imap]] or [outgoing] names it")
    return sources, failed


COMMANDS = [oauth]
