"""One ``[[oauth]]`` credential: its settings, their check, and what each provider implies.

PURE: no files, network or clock. ``check_oauth`` turns one parsed TOML table into
``OAuthSettings`` plus the problems found, each naming its key, so the config can report
every problem of every table at once.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

PROVIDERS: Final = ("microsoft", "google", "generic")
GRANTS: Final = ("client_credentials", "refresh_token")
KEYS: Final = (
    "name",
    "provider",
    "tenant",
    "client_id",
    "client_secret_env",
    "client_secret_file",
    "certificate_file",
    "token_url",
    "scopes",
    "grant",
)

# The Microsoft identity platform v2.0 endpoints and Exchange Online's resource, from
# "Authenticate an IMAP, POP or SMTP connection using OAuth" (learn.microsoft.com):
# app-only tokens ask for the resource's ".default"; delegated ones name each permission,
# and offline_access is what makes the token endpoint hand out a refresh token.
MICROSOFT_TOKEN_URL: Final = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"  # noqa: S105 - a URL
MICROSOFT_DEVICE_URL: Final = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/devicecode"
MICROSOFT_APP_SCOPES: Final = ("https://outlook.office365.com/.default",)
MICROSOFT_USER_SCOPES: Final = (
    "https://outlook.office.com/IMAP.AccessAsUser.All",
    "https://outlook.office.com/SMTP.Send",
    "offline_access",
)
# Google's OAuth 2.0 endpoints; https://mail.google.com/ is the one scope that Gmail's
# IMAP and SMTP accept. Google's device flow grants only a short list of scopes (see
# "OAuth 2.0 for TV and Limited-Input Device Applications"), which does not include it.
GOOGLE_TOKEN_URL: Final = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL
GOOGLE_DEVICE_URL: Final = "https://oauth2.googleapis.com/device/code"
# Where an installed app sends the browser ("OAuth 2.0 for iOS & Desktop Apps"); the
# device flow cannot be used for Gmail, so `maildesk oauth login` goes this way for Google.
GOOGLE_AUTHORIZE_URL: Final = "https://accounts.google.com/o/oauth2/v2/auth"
GOOGLE_SCOPES: Final = ("https://mail.google.com/",)

# A tenant is a GUID or a verified domain, or one of Microsoft's aliases (common,
# organizations, consumers); it goes into a URL path, so nothing else is let through.
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_Problem = Callable[[str], None]


@dataclass(frozen=True)
class OAuthSettings:
    """One ``[[oauth]]`` table. ``token_url`` and ``scopes`` hold what was written;
    ``effective_token_url`` and ``effective_scopes`` fill in the provider's defaults.

    The secret itself is never held here: only where to read it from.
    """

    name: str
    provider: str
    tenant: str = ""
    client_id: str = ""
    client_secret_env: str = ""
    client_secret_file: str = ""
    certificate_file: str = ""
    token_url: str = ""
    scopes: tuple[str, ...] = ()
    grant: str = "client_credentials"

    @property
    def effective_token_url(self) -> str:
        return self.token_url or derived_token_url(self.provider, self.tenant)

    @property
    def effective_scopes(self) -> tuple[str, ...]:
        return self.scopes or default_scopes(self.provider, self.grant)

    @property
    def device_url(self) -> str:
        return device_code_url(self.provider, self.tenant, self.token_url)

    @property
    def authorize_url(self) -> str:
        return authorization_url(self.provider, self.token_url)

    @property
    def per_mailbox(self) -> bool:
        """Whether each mailbox needs a token of its own: a Google service account with
        domain-wide delegation signs in as the mailbox it names in its assertion, while
        every other credential's token serves all the mailboxes that use it."""
        return self.provider == "google" and self.grant == "client_credentials"


def derived_token_url(provider: str, tenant: str) -> str:
    """The token endpoint a provider implies; "" for generic, which must name its own.

    >>> derived_token_url("microsoft", "uni.onmicrosoft.com")
    'https://login.microsoftonline.com/uni.onmicrosoft.com/oauth2/v2.0/token'
    """
    if provider == "microsoft":
        return MICROSOFT_TOKEN_URL.format(tenant=tenant)
    if provider == "google":
        return GOOGLE_TOKEN_URL
    return ""


def default_scopes(provider: str, grant: str) -> tuple[str, ...]:
    """The scopes asked for when ``scopes`` is empty: IMAP and SMTP access, no more.

    >>> default_scopes("microsoft", "client_credentials")
    ('https://outlook.office365.com/.default',)
    """
    if provider == "microsoft":
        return MICROSOFT_APP_SCOPES if grant == "client_credentials" else MICROSOFT_USER_SCOPES
    if provider == "google":
        return GOOGLE_SCOPES
    return ()


def device_code_url(provider: str, tenant: str, token_url: str = "") -> str:
    """The device authorization endpoint (RFC 8628) of a provider; "" when unknown.

    An overridden ``token_url`` moves it too: Microsoft's sits beside the token endpoint
    (``…/devicecode``), Google's at ``/device/code`` on the same host. A generic provider
    publishes its own, which maildesk cannot guess.

    >>> device_code_url("microsoft", "common")
    'https://login.microsoftonline.com/common/oauth2/v2.0/devicecode'
    """
    if provider == "microsoft":
        if token_url.endswith("/token"):
            return token_url.removesuffix("token") + "devicecode"
        return MICROSOFT_DEVICE_URL.format(tenant=tenant)
    if provider == "google":
        if token_url:
            parts = urllib.parse.urlsplit(token_url)
            return urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/device/code", "", ""))
        return GOOGLE_DEVICE_URL
    return ""


def authorization_url(provider: str, token_url: str = "") -> str:
    """The authorization endpoint a browser sign-in starts at; "" where maildesk signs in
    with the device flow instead. An overridden ``token_url`` moves it to the same host,
    on Google's path.

    >>> authorization_url("google", "http://127.0.0.1:8080/token")
    'http://127.0.0.1:8080/o/oauth2/v2/auth'
    """
    if provider != "google":
        return ""
    if not token_url:
        return GOOGLE_AUTHORIZE_URL
    parts = urllib.parse.urlsplit(token_url)
    path = urllib.parse.urlsplit(GOOGLE_AUTHORIZE_URL).path
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def token_url_problem(url: str) -> str:
    """Why ``url`` cannot be a token endpoint, or "" if it can.

    Client secrets and tokens cross it, so it must be https; plain http is allowed only
    to a loopback host, where nothing travels over a network (tests, a local proxy).

    >>> token_url_problem("http://idp.example.org/token")
    'must use https (http is allowed only on loopback), got http://idp.example.org/token'
    """
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError as exc:
        return f"is not a valid URL ({exc}): {url}"
    if parts.scheme not in ("https", "http") or not host:
        return f"must be an https:// URL with a host, got {url}"
    if parts.scheme == "http" and not _is_loopback(host):
        return f"must use https (http is allowed only on loopback), got {url}"
    return ""


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback  # 127.0.0.0/8 and ::1
    except ValueError:
        return False


def check_oauth(table: Mapping[str, Any]) -> tuple[OAuthSettings | None, list[str]]:
    """One parsed ``[[oauth]]`` table as settings, and every problem found in it.

    The settings are None when any problem was found. Problems name the table and the
    key, like ``[[oauth]] m365: client_id is required``.

    >>> check_oauth({"name": "m365", "provider": "generic", "client_id": "a",
    ...              "client_secret_env": "S"})[1]
    ['[[oauth]] m365: token_url is required for provider generic']
    """
    problems: list[str] = []
    name = table.get("name")
    where = f"[[oauth]] {name}" if isinstance(name, str) and name else "[[oauth]] (no name)"

    def problem(text: str) -> None:
        problems.append(f"{where}: {text}")

    if not isinstance(name, str) or not name:
        problem("name is required (the [[imap]] and [outgoing] oauth keys refer to it)")
    for key in sorted(set(table) - set(KEYS)):
        problem(f"unknown key {key}")
    text = {key: _string(table, key, problem) for key in KEYS if key != "scopes"}
    scopes = _scopes(table, problem)
    provider, grant, tenant = (
        text["provider"],
        text["grant"] or "client_credentials",
        text["tenant"],
    )
    if provider not in PROVIDERS:
        problem(f"provider must be one of {', '.join(PROVIDERS)}, got {provider!r}")
    if grant not in GRANTS:
        problem(f"grant must be one of {', '.join(GRANTS)}, got {grant!r}")
    if not text["client_id"]:
        problem("client_id is required (the application id the provider gave the app)")
    if provider == "microsoft" and not _TENANT.match(tenant):
        problem(f"tenant is required for provider microsoft (a domain or GUID), got {tenant!r}")
    if provider != "microsoft" and tenant:
        problem(f"tenant applies to provider microsoft only, not {provider}")
    _check_credential(text, provider, grant, problem)
    if text["token_url"]:
        reason = token_url_problem(text["token_url"])
        if reason:
            problem(f"token_url {reason}")
    elif provider == "generic":
        problem("token_url is required for provider generic")
    if problems:
        return None, problems
    return OAuthSettings(
        name=text["name"],
        provider=provider,
        tenant=tenant,
        client_id=text["client_id"],
        client_secret_env=text["client_secret_env"],
        client_secret_file=text["client_secret_file"],
        certificate_file=text["certificate_file"],
        token_url=text["token_url"],
        scopes=scopes,
        grant=grant,
    ), []


def _check_credential(
    text: Mapping[str, str], provider: str, grant: str, problem: _Problem
) -> None:
    given = [k for k in ("client_secret_env", "client_secret_file", "certificate_file") if text[k]]
    if len(given) > 1:
        problem(f"give only one of {', '.join(given)}")
    if "certificate_file" in given and provider != "microsoft":
        problem("certificate_file is supported for provider microsoft only")
    if text["client_secret_env"] and not _ENV_NAME.match(text["client_secret_env"]):
        problem(
            f"client_secret_env must name an environment variable, got "
            f"{text['client_secret_env']!r}"
        )
    # With grant refresh_token the app may be a public client (Microsoft's "allow public
    # client flows"): the device login and the refreshes then carry no secret at all.
    if not given and grant == "client_credentials":
        problem(
            "grant client_credentials needs client_secret_env, client_secret_file or "
            "certificate_file"
        )


def _string(table: Mapping[str, Any], key: str, problem: _Problem) -> str:
    value = table.get(key, "")
    if not isinstance(value, str):
        problem(f"{key} must be a string, got {type(value).__name__}")
        return ""
    return value.strip()


def _scopes(table: Mapping[str, Any], problem: _Problem) -> tuple[str, ...]:
    value = table.get("scopes", [])
    if not isinstance(value, list) or not all(isinstance(s, str) and s.strip() for s in value):
        problem("scopes must be a list of non-empty strings")
        return ()
    scopes = tuple(s.strip() for s in value)
    for scope in scopes:
        if any(c.isspace() for c in scope):
            problem(f"scopes: {scope!r} holds a space; give each scope as its own string")
    return scopes
