"""The daemon's access tokens: one ``TokenSource`` per ``[[oauth]]`` table, built once at
start and shared by every IMAP account and the relay transport that name it, so a
credential is asked for one token at a time however many mailboxes use it."""

from __future__ import annotations

from pathlib import Path

from maildesk.clock import Clock
from maildesk.config import Config
from maildesk.oauth.tokens import TokenSource, refresh_token_path


def token_sources(config: Config, clock: Clock) -> dict[str, TokenSource]:
    """Name -> source. A ``grant = "refresh_token"`` credential keeps its refresh token
    beside its secret, else in the database's folder (see ``refresh_token_path``)."""
    return {
        settings.name: TokenSource(
            settings,
            clock,
            refresh_token_file=refresh_token_path(settings, state_dir(config))
            if settings.grant == "refresh_token"
            else None,
        )
        for settings in config.oauth
    }


def state_dir(config: Config) -> Path:
    """Where maildesk keeps what it writes beside the database."""
    return config.database.parent
