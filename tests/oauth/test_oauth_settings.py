"""The pure parts of maildesk.oauth: the [[oauth]] check, provider defaults, SASL messages,
token lifetimes and the wording of refusals."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from maildesk.oauth import endpoint, sasl
from maildesk.oauth.device import DeviceLogin
from maildesk.oauth.settings import (
    OAuthSettings,
    authorization_url,
    check_oauth,
    default_scopes,
    derived_token_url,
    device_code_url,
    token_url_problem,
)
from maildesk.oauth.tokens import AccessToken, access_token, refresh_token_path
from tests import test_layout as layout

NOW = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
M365 = {
    "name": "m365",
    "provider": "microsoft",
    "tenant": "uni.onmicrosoft.com",
    "client_id": "11111111-2222-3333-4444-555555555555",
    "client_secret_env": "MAILDESK_OAUTH_SECRET",
}


# -- the package keeps to what its docstring allows -----------------------------------
# tests/test_layout.py checks the maildesk imports and the pure modules of every package,
# maildesk.oauth included, from its __init__ docstring; what it cannot see is the rest:
# the libraries the package leans on.

LIBRARIES = ("authlib", "joserfc", "requests", "cryptography")


def test_the_package_names_its_pure_modules_and_imports() -> None:
    pure, allowed = layout.rules("maildesk.oauth")
    assert pure == {"maildesk.oauth.settings", "maildesk.oauth.sasl"}
    assert allowed == ["maildesk.errors", "maildesk.clock"]


@pytest.mark.parametrize(
    "module", sorted(m for m in layout.MODULES if m.startswith("maildesk.oauth"))
)
def test_the_package_imports_only_the_standard_library_and_its_libraries(module: str) -> None:
    for name in layout.imports(module) - {"__future__"}:
        top = name.split(".")[0]
        assert top in sys.stdlib_module_names or top in LIBRARIES or top == "maildesk", name


# -- [[oauth]] tables ---------------------------------------------------------------------

VALID: list[tuple[dict[str, Any], dict[str, Any]]] = [
    (M365, {"grant": "client_credentials", "token_url": "", "scopes": ()}),
    (
        {**M365, "client_secret_env": "", "certificate_file": "/etc/maildesk/app.pem"},
        {"certificate_file": "/etc/maildesk/app.pem"},
    ),
    (
        {"name": "g", "provider": "google", "client_id": "x.apps", "client_secret_file": "/s"},
        {"tenant": "", "client_secret_file": "/s"},
    ),
    # A public client signing in through the device flow needs no secret.
    ({**M365, "client_secret_env": "", "grant": "refresh_token"}, {"grant": "refresh_token"}),
    (
        {
            "name": "idp",
            "provider": "generic",
            "client_id": "desk",
            "client_secret_env": "S",
            "token_url": "http://127.0.0.1:8080/token",
            "scopes": ["mail"],
        },
        {"scopes": ("mail",), "token_url": "http://127.0.0.1:8080/token"},
    ),
]


@pytest.mark.parametrize(("table", "expected"), VALID)
def test_valid_tables(table: dict[str, Any], expected: dict[str, Any]) -> None:
    settings, problems = check_oauth(table)
    assert problems == []
    assert settings is not None
    for key, value in expected.items():
        assert getattr(settings, key) == value, key


P = "[[oauth]] m365: "
INVALID: list[tuple[dict[str, Any], list[str]]] = [
    (
        {**M365, "name": ""},
        [
            "[[oauth]] (no name): name is required (the [[imap]] and "
            "[outgoing] oauth keys refer to it)"
        ],
    ),
    (
        {**M365, "provider": "yahoo"},
        [
            P + "provider must be one of microsoft, google, generic, got 'yahoo'",
            P + "tenant applies to provider microsoft only, not yahoo",
        ],
    ),
    (
        {**M365, "grant": "password"},
        [P + "grant must be one of client_credentials, refresh_token, got 'password'"],
    ),
    (
        {**M365, "client_id": ""},
        [P + "client_id is required (the application id the provider gave the app)"],
    ),
    (
        {**M365, "tenant": ""},
        [P + "tenant is required for provider microsoft (a domain or GUID), got ''"],
    ),
    (
        {**M365, "tenant": "uni/../x"},
        [P + "tenant is required for provider microsoft (a domain or GUID), got 'uni/../x'"],
    ),
    (
        {**M365, "provider": "generic", "tenant": ""},
        [P + "token_url is required for provider generic"],
    ),
    (
        {**M365, "client_secret_env": ""},
        [
            P + "grant client_credentials needs client_secret_env, "
            "client_secret_file or certificate_file"
        ],
    ),
    (
        {**M365, "client_secret_file": "/s"},
        [P + "give only one of client_secret_env, client_secret_file"],
    ),
    (
        {**M365, "client_secret_env": "NOT A NAME"},
        [P + "client_secret_env must name an environment variable, got 'NOT A NAME'"],
    ),
    (
        {**M365, "token_url": "http://login.example.org/token"},
        [
            P + "token_url must use https (http is allowed only on loopback), got "
            "http://login.example.org/token"
        ],
    ),
    (
        {**M365, "scopes": "https://outlook.office365.com/.default"},
        [P + "scopes must be a list of non-empty strings"],
    ),
    (
        {**M365, "scopes": ["a b"]},
        [P + "scopes: 'a b' holds a space; give each scope as its own string"],
    ),
    (
        {**M365, "client_id": 5},
        [
            P + "client_id must be a string, got int",
            P + "client_id is required (the application id the provider gave the app)",
        ],
    ),
    ({**M365, "secret": "x"}, [P + "unknown key secret"]),
    (
        {"name": "m365", "provider": "google", "client_id": "a", "certificate_file": "/c"},
        [P + "certificate_file is supported for provider microsoft only"],
    ),
]


@pytest.mark.parametrize(("table", "problems"), INVALID)
def test_invalid_tables(table: dict[str, Any], problems: list[str]) -> None:
    assert check_oauth(table) == (None, problems)


# -- what a provider implies ------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "tenant", "expected"),
    [
        ("microsoft", "contoso.com", "https://login.microsoftonline.com/contoso.com/oauth2/v2.0/token"),
        ("google", "", "https://oauth2.googleapis.com/token"),
        ("generic", "", ""),
    ],
)  # fmt: skip
def test_derived_token_url(provider: str, tenant: str, expected: str) -> None:
    assert derived_token_url(provider, tenant) == expected


@pytest.mark.parametrize(
    ("provider", "grant", "expected"),
    [
        ("microsoft", "client_credentials", ("https://outlook.office365.com/.default",)),
        ("microsoft", "refresh_token", ("https://outlook.office.com/IMAP.AccessAsUser.All",
                                        "https://outlook.office.com/SMTP.Send",
                                        "offline_access")),
        ("google", "client_credentials", ("https://mail.google.com/",)),
        ("google", "refresh_token", ("https://mail.google.com/",)),
        ("generic", "refresh_token", ()),
    ],
)  # fmt: skip
def test_default_scopes(provider: str, grant: str, expected: tuple[str, ...]) -> None:
    assert default_scopes(provider, grant) == expected


@pytest.mark.parametrize(
    ("provider", "tenant", "token_url", "expected"),
    [
        ("microsoft", "common", "", "https://login.microsoftonline.com/common/oauth2/v2.0/devicecode"),
        ("microsoft", "t", "http://127.0.0.1:9/t/oauth2/v2.0/token", "http://127.0.0.1:9/t/oauth2/v2.0/devicecode"),
        ("google", "", "", "https://oauth2.googleapis.com/device/code"),
        ("google", "", "http://127.0.0.1:9/token", "http://127.0.0.1:9/device/code"),
        ("generic", "", "https://idp.example.org/token", ""),
    ],
)  # fmt: skip
def test_device_code_url(provider: str, tenant: str, token_url: str, expected: str) -> None:
    assert device_code_url(provider, tenant, token_url) == expected


@pytest.mark.parametrize(
    ("provider", "token_url", "expected"),
    [
        ("google", "", "https://accounts.google.com/o/oauth2/v2/auth"),
        ("google", "http://127.0.0.1:9/tenant/token", "http://127.0.0.1:9/o/oauth2/v2/auth"),
        ("microsoft", "", ""),  # Microsoft and generic sign in with the device flow
        ("generic", "https://idp.example.org/token", ""),
    ],
)  # fmt: skip
def test_authorization_url(provider: str, token_url: str, expected: str) -> None:
    assert authorization_url(provider, token_url) == expected


@pytest.mark.parametrize(
    ("provider", "grant", "per_mailbox"),
    [
        ("google", "client_credentials", True),  # a service account acts as each mailbox
        ("google", "refresh_token", False),
        ("microsoft", "client_credentials", False),
        ("generic", "client_credentials", False),
    ],
)
def test_only_a_google_service_account_needs_a_token_per_mailbox(
    provider: str, grant: str, per_mailbox: bool
) -> None:
    settings = OAuthSettings("x", provider, tenant="t", client_id="c", grant=grant)
    assert settings.per_mailbox is per_mailbox


def test_effective_values_fill_in_the_provider_defaults() -> None:
    settings = OAuthSettings("m365", "microsoft", tenant="t", client_id="c")
    assert settings.effective_token_url == "https://login.microsoftonline.com/t/oauth2/v2.0/token"
    assert settings.effective_scopes == ("https://outlook.office365.com/.default",)
    overridden = OAuthSettings("m", "microsoft", tenant="t", token_url="https://x/t", scopes=("s",))
    assert (overridden.effective_token_url, overridden.effective_scopes) == ("https://x/t", ("s",))


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://idp.example.org/oauth/token", True),
        ("http://127.0.0.1:8080/token", True),
        ("http://127.8.9.10/token", True),
        ("http://[::1]:8080/token", True),
        ("http://localhost/token", True),
        ("http://LOCALHOST:80/token", True),
        ("http://idp.example.org/token", False),
        ("http://127.0.0.1.nip.io/token", False),
        ("http://localhost.example.org/token", False),
        ("http://10.0.0.1/token", False),
        ("http://[::2]/token", False),
        ("ftp://127.0.0.1/token", False),
        ("file:///etc/passwd", False),
        ("https:///token", False),
        ("https://idp.example.org:port/token", False),
        ("idp.example.org/token", False),
    ],
)
def test_token_url_must_be_https_unless_on_loopback(url: str, ok: bool) -> None:
    assert (token_url_problem(url) == "") is ok, token_url_problem(url)


# -- SASL -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "token", "expected"),
    [
        ("info@uni.edu", "t0k", b"user=info@uni.edu\x01auth=Bearer t0k\x01\x01"),
        ("a=b,c", "x.y-z", b"user=a=b,c\x01auth=Bearer x.y-z\x01\x01"),
    ],
)
def test_xoauth2(username: str, token: str, expected: bytes) -> None:
    assert sasl.xoauth2(username, token) == expected


@pytest.mark.parametrize(
    ("username", "expected_header"),
    [
        ("info@uni.edu", b"n,a=info@uni.edu,"),
        ("a=b,c", b"n,a=a=3Db=2Cc,"),  # RFC 5801 saslname escaping
    ],
)
def test_oauthbearer(username: str, expected_header: bytes) -> None:
    message = sasl.oauthbearer(username, "t0k", "imap.example.org", 143)
    assert (
        message
        == expected_header + b"\x01host=imap.example.org\x01port=143\x01auth=Bearer t0k\x01\x01"
    )


@pytest.mark.parametrize(
    ("username", "token"),
    [("", "tok3n"), ("a\x01b", "tok3n"), ("a", ""), ("a", "tok3n\x01auth=Bearer x"),
     ("a", "tok3n tok3n"), ("a", "tok3n\r\n")],
)  # fmt: skip
def test_sasl_refuses_values_that_would_break_the_message(username: str, token: str) -> None:
    with pytest.raises(ValueError, match=r"user name|access token") as caught:
        sasl.xoauth2(username, token)
    assert not token or token not in str(caught.value)
    with pytest.raises(ValueError, match=r"user name|access token") as caught:
        sasl.oauthbearer(username, token, "h", 1)
    assert not token or token not in str(caught.value)


# -- token lifetimes and secrets in reprs ------------------------------------------------


@pytest.mark.parametrize(
    ("expires_in", "lifetime", "margin"),
    [
        (3600, timedelta(hours=1), timedelta(minutes=5)),
        ("3599", timedelta(seconds=3599), timedelta(minutes=5)),
        (600, timedelta(minutes=10), timedelta(minutes=1)),
        (60, timedelta(minutes=1), timedelta(seconds=6)),
        (None, timedelta(hours=1), timedelta(minutes=5)),  # left out: assume an hour
        ("soon", timedelta(hours=1), timedelta(minutes=5)),
    ],
)
def test_refresh_margin(expires_in: object, lifetime: timedelta, margin: timedelta) -> None:
    answer = {"access_token": "at", **({} if expires_in is None else {"expires_in": expires_in})}
    token = access_token(answer, NOW, "[[oauth]] x")
    assert (token.expires, token.refresh_at) == (NOW + lifetime, NOW + lifetime - margin)


def test_reprs_show_no_token_or_code() -> None:
    token = AccessToken("SECRET-TOKEN", NOW, NOW)
    login = DeviceLogin("ABCD", "https://x/device", "go", 900, 5, device_code="SECRET-CODE")
    assert "SECRET" not in repr(token)
    assert "SECRET" not in repr(login)


def test_refresh_token_path_sits_beside_the_secret() -> None:
    state = Path("/var/lib/maildesk")
    cases = [
        (OAuthSettings("a", "microsoft", client_secret_file="/etc/md/a.secret"),
         Path("/etc/md/a.secret.refresh-token")),
        (OAuthSettings("b", "microsoft", certificate_file="/etc/md/b.pem"),
         Path("/etc/md/b.pem.refresh-token")),
        (OAuthSettings("c", "microsoft", client_secret_env="X"),
         state / "oauth-c.refresh-token"),
    ]  # fmt: skip
    for settings, expected in cases:
        assert refresh_token_path(settings, state) == expected


# -- refusals ----------------------------------------------------------------------------------

REFUSALS: list[tuple[int, dict[str, Any], list[str]]] = [
    (
        401,
        {
            "error": "invalid_client",
            "error_description": "AADSTS7000215: Invalid client secret provided. Ensure the "
            "secret being sent in the request is the client secret value, not the client "
            "secret ID, for a secret added to app 'x'.\r\nTrace ID: 1\r\nCorrelation ID: 2",
        },
        ["HTTP 401, invalid_client: AADSTS7000215: Invalid client secret provided.",
         "use the secret's Value, not its Secret ID"],
    ),
    (400, {"error": "invalid_grant", "error_description": "AADSTS70000: gone"},
     ["invalid_grant", "run `maildesk oauth login m365` again"]),
    (400, {"error": "unauthorized_client"}, ["(HTTP 400, unauthorized_client)", "admin consent"]),
    (400, {"error": "unsupported_grant_type"}, ["does not offer grant client_credentials"]),
    (404, {}, ["HTTP 404, no error code", "not an OAuth2 error: check token_url"]),
    (400, {"error": "invalid_client", "error_description": "AADSTS7000222: expired"},
     ["AADSTS7000222", "has expired"]),
]  # fmt: skip


@pytest.mark.parametrize(("status", "answer", "expected"), REFUSALS)
def test_refusal_names_the_providers_code_and_what_to_fix(
    status: int, answer: dict[str, Any], expected: list[str]
) -> None:
    error = endpoint.refusal(
        "[[oauth]] m365",
        "https://login.example.org/t/token?x=1",
        status,
        answer,
        name="m365",
        grant="client_credentials",
    )
    text = str(error)
    assert text.startswith("[[oauth]] m365: token endpoint https://login.example.org/t/token ")
    for part in expected:
        assert part in text
    assert "Trace ID" not in text
    assert "x=1" not in text


def test_refusal_hides_secrets_the_provider_echoed() -> None:
    answer = {"error": "invalid_request", "error_description": "bad client_secret=hunter2-xyz"}
    error = endpoint.refusal("w", "https://h/t", 400, answer, name="n", grant="g",
                             hide=["hunter2-xyz", ""])  # fmt: skip
    assert "hunter2-xyz" not in str(error)
    assert "[hidden]" in str(error)
