"""The [[oauth]] tables in config.toml, and the oauth key of [[imap]] and [outgoing]:
parsed into settings, every problem named with its key and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from maildesk.config import parse
from maildesk.errors import ConfigError
from maildesk.oauth.settings import OAuthSettings

QUEUE = '[[queues]]\nname = "info"\naddresses = ["info@uni.edu"]\ntag = "INFO"\n'
M365 = (
    '[[oauth]]\nname = "m365"\nprovider = "microsoft"\ntenant = "uni.onmicrosoft.com"\n'
    'client_id = "app-id"\nclient_secret_file = "secrets/m365"\n'
)
IMAP = (
    '[[imap]]\nname = "info"\nhost = "outlook.office365.com"\nusername = "info@uni.edu"\n'
    'queue = "info"\noauth = "m365"\n'
)
OUTGOING = (
    '[outgoing]\ntransport = "smtp"\nhost = "smtp.office365.com"\nusername = "info@uni.edu"\n'
    'oauth = "m365"\n'
)


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as error:
        parse(text, path=Path("config.toml"), base_dir=Path("/srv"))
    return error.value.problems


def test_the_issue_example_parses_into_settings_shared_by_imap_and_outgoing() -> None:
    config = parse(OUTGOING + M365 + IMAP + QUEUE, path=None, base_dir=Path("/srv"))
    assert config.oauth == (
        OAuthSettings(
            name="m365",
            provider="microsoft",
            tenant="uni.onmicrosoft.com",
            client_id="app-id",
            client_secret_file="/srv/secrets/m365",
        ),
    )
    assert config.imap[0].oauth == config.outgoing.oauth == "m365"
    assert config.oauth_named("m365").effective_token_url == (
        "https://login.microsoftonline.com/uni.onmicrosoft.com/oauth2/v2.0/token"
    )
    assert config.imap[0].password_source() == "OAuth2 credential 'm365'"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (  # check_oauth's findings, at the line of their key
            M365.replace('client_id = "app-id"\n', 'client_id = ""\n') + QUEUE,
            "config.toml:5: key 'oauth.client_id': client_id is required",
        ),
        (
            M365.replace("microsoft", "generic").replace('tenant = "uni.onmicrosoft.com"\n', "")
            + QUEUE,
            "config.toml:1: key 'oauth.token_url': token_url is required for provider generic",
        ),
        (
            M365 + 'token_url = "http://login.example.org/token"\n' + QUEUE,
            "config.toml:7: key 'oauth.token_url': token_url must use https",
        ),
        (
            M365 + 'client_secret_env = "S"\n' + QUEUE,
            "config.toml:7: key 'oauth.client_secret_env': give only one of",
        ),
        (  # the settings table's own checks come first
            M365.replace('provider = "microsoft"', 'provider = "yahoo"') + QUEUE,
            "config.toml:3: key 'oauth.provider': expected one of 'microsoft'",
        ),
        (M365 + "scopes = 5\n" + QUEUE, "config.toml:7: key 'oauth.scopes': expected a list"),
        (M365 + M365 + QUEUE, "config.toml:8: key 'oauth.name': duplicate [[oauth]] name 'm365'"),
        (
            IMAP.replace('oauth = "m365"', 'oauth = "google"') + M365 + QUEUE,
            "config.toml:6: key 'imap.oauth': expected the name of an [[oauth]] table ('m365')",
        ),
        (
            IMAP + 'password_file = "imap.pw"\n' + M365 + QUEUE,
            "config.toml:7: key 'imap.password_file': give either oauth or password_file",
        ),
        (
            OUTGOING + 'password_env = "PW"\n' + M365 + QUEUE,
            "config.toml:6: key 'outgoing.password_env': give either oauth or password_env",
        ),
        (
            OUTGOING.replace('username = "info@uni.edu"\n', "") + M365 + QUEUE,
            "config.toml:1: key 'outgoing.username': the mailbox to sign in as is needed",
        ),
        (
            OUTGOING + 'tls = "none"\n' + M365 + QUEUE,
            "config.toml:6: key 'outgoing.tls': 'none' would send the token in clear text",
        ),
        (
            OUTGOING + QUEUE,
            "config.toml:5: key 'outgoing.oauth': expected the name of an [[oauth]] table"
            " (none is declared)",
        ),
        (
            IMAP.replace('oauth = "m365"\n', "") + QUEUE,
            "config.toml:1: key 'imap.password_env': expected password_env, password_file or oauth",
        ),
    ],
)
def test_each_oauth_problem_names_its_key_and_line(text: str, expected: str) -> None:
    found = problems(text)
    assert any(p.startswith(expected) for p in found), found


def test_outgoing_oauth_is_ignored_by_the_file_transport_but_the_table_is_checked() -> None:
    text = OUTGOING.replace('"smtp"', '"file"') + M365 + QUEUE
    config = parse(text, path=None, base_dir=Path("/srv"))
    assert config.outgoing.oauth == "m365"
    assert problems(text.replace('client_id = "app-id"\n', "")) == [
        "config.toml:6: key 'oauth.client_id': client_id is required (the application id the"
        " provider gave the app)"
    ]
