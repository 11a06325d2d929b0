"""config.toml: defaults, every problem reported with its key and line, documented keys."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from maildesk.config import address_matches, load, parse, queue_for
from maildesk.config.example import example_config
from maildesk.config.settings import SECTIONS
from maildesk.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as error:
        parse(text, path=Path("config.toml"), base_dir=Path("/srv"))
    return error.value.problems


def test_no_file_means_the_embedded_default(tmp_path: Path) -> None:
    config = load(None, cwd=tmp_path)
    assert config.database == tmp_path / "maildesk.db"
    assert config.outgoing.transport == "file"
    assert config.outgoing.directory == tmp_path / "outbox"
    assert (config.listener.host, config.listener.port, config.listener.protocol) == (
        "127.0.0.1",
        8025,
        "smtp",
    )
    assert [(q.name, q.addresses, q.tag, q.language) for q in config.queues] == [
        ("info", ("info@*",), "INFO", "es")
    ]
    assert config.calendar.hours["mon"] == "08:00-20:00"
    assert config.calendar.hours["sat"] == ""


def test_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "etc" / "config.toml"
    path.parent.mkdir()
    path.write_text('[maildesk]\ndatabase = "var/desk.db"\n', encoding="utf-8")
    assert load(path).database == tmp_path / "etc" / "var" / "desk.db"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[listener]\nport = 80250\n",
            "config.toml:2: key 'listener.port': expected at most 65535, got 80250",
        ),
        (
            '[listener]\nport = "25"\n',
            "config.toml:2: key 'listener.port': expected an integer, got '25'",
        ),
        (
            "[listener]\nenabled = 1\n",
            "config.toml:2: key 'listener.enabled': expected bool, got 1",
        ),
        (
            '[listener]\nprotocol = "pop3"\n',
            "config.toml:2: key 'listener.protocol': expected one of 'smtp' | 'lmtp', got 'pop3'",
        ),
        ('[maildesk]\n\nlanguaje = "es"\n', "config.toml:3: key 'maildesk.languaje': unknown key"),
        (
            '[maildesk]\ntimezone = "Mars/Olympus"\n',
            "config.toml:2: key 'maildesk.timezone': unknown IANA time zone 'Mars/Olympus'",
        ),
        (
            '[calendar]\nmon = "8-20"\n',
            "config.toml:2: key 'calendar.mon': expected 'HH:MM-HH:MM[,HH:MM-HH:MM]'",
        ),
        (
            '[calendar]\nholidays = ["2026-13-01"]\n',
            "config.toml:2: key 'calendar.holidays': expected YYYY-MM-DD",
        ),
        (
            '[[queues]]\nname = "info"\naddresses = ["info@x.edu"]\ntag = "INFO"\n\n'
            '[[queues]]\nname = "crm"\naddresses = ["crm@x.edu"]\ntag = "INFO"\n',
            "config.toml:9: key 'queues.tag': duplicate tag 'INFO'",
        ),
        (
            '[[queues]]\nname = "Info Desk"\naddresses = ["info@x.edu"]\n',
            "config.toml:2: key 'queues.name': expected lower-case letters",
        ),
        (
            '[[queues]]\nname = "info"\naddresses = ["not an address"]\n',
            "config.toml:3: key 'queues.addresses': not an address or local@* pattern",
        ),
        (
            '[[agents]]\nname = "Ana"\naddresses = ["*@x.edu"]\n',
            "config.toml:3: key 'agents.addresses': not an address",
        ),
        ("[smtp]\nhost = 1\n", "config.toml:1: unknown table 'smtp'"),
        ("[maildesk]\n\n[bogus]\nx = 1\n", "config.toml:3: unknown table 'bogus'"),
        ("[[bogus]]\nx = 1\n", "config.toml:1: unknown table 'bogus'"),
        ("[bogus.deep]\nx = 1\n", "config.toml:1: unknown table 'bogus'"),
        ("bogus = 1\n[maildesk]\n", "config.toml:1: unknown table 'bogus'"),
        ("[listener\n", "config.toml: "),
        ("queues = []\n", "config.toml: at least one [[queues]] table is needed"),
    ],
)
def test_each_problem_names_its_key_and_line(text: str, expected: str) -> None:
    found = problems(text)
    assert any(p.startswith(expected) for p in found), found


@pytest.mark.parametrize(
    ("host", "username", "refused"),
    [
        ("smtp.uni.example", "info@uni.example", True),
        ("10.0.0.25", "info@uni.example", True),
        ("127.0.0.1", "info@uni.example", False),
        ("localhost", "info@uni.example", False),
        ("[::1]", "info@uni.example", False),
        ("smtp.uni.example", "", False),  # no login, no password to give away
    ],
)
def test_a_relay_password_never_goes_in_clear_text_off_this_machine(
    host: str, username: str, refused: bool
) -> None:
    text = (
        f'[outgoing]\ntransport = "smtp"\nhost = "{host}"\ntls = "none"\nusername = "{username}"\n'
    )
    if not refused:
        config = parse(text, path=Path("config.toml"), base_dir=Path("/srv"))
        assert (config.outgoing.host, config.outgoing.tls) == (host, "none")
        return
    assert problems(text) == [
        "config.toml:4: key 'outgoing.tls': 'none' with a username would send the relay"
        f" password in clear text; it is allowed only for a loopback host, got {host!r}"
        " (use 'tls' or 'starttls')"
    ]


def test_every_problem_is_reported_at_once() -> None:
    found = problems("[listener]\nport = 0\nhost = 5\n[maildesk]\nreopen_days = -1\n")
    assert len(found) == 3


def test_queue_routing_follows_config_order() -> None:
    config = parse(
        '[[queues]]\nname = "info"\naddresses = ["info@*"]\ntag = "INFO"\n'
        '[[queues]]\nname = "crm"\naddresses = ["crm@uni.example"]\ntag = "CRM"\n',
        path=None,
        base_dir=Path("/srv"),
    )
    assert queue_for(config, ["crm@uni.example", "info@uni.example"]) == (
        config.queues[0],
        "info@uni.example",
    )
    assert queue_for(config, ["CRM@uni.example"]) == (config.queues[1], "crm@uni.example")
    assert queue_for(config, ["crm@other.example"]) is None


@pytest.mark.parametrize(
    ("pattern", "address", "matches"),
    [
        ("info@*", "info@uni.example", True),
        ("info@*", "INFO@Uni.Example", True),
        ("info@*", "xinfo@uni.example", False),
        ("info@*", "info", False),
        ("info@uni.example", "info@uni.example", True),
        ("info@uni.example", "info@other.example", False),
    ],
)
def test_address_matches(pattern: str, address: str, matches: bool) -> None:
    assert address_matches(pattern, address) is matches


def test_the_shipped_config_is_what_init_writes_and_parses_to_the_defaults() -> None:
    shipped = (ROOT / "config.toml").read_text(encoding="utf-8")
    assert shipped == example_config(), "run: maildesk init --stdout > config.toml"
    assert parse(shipped, path=None, base_dir=ROOT) == load(None, cwd=ROOT)


def test_every_setting_is_documented_in_the_shipped_config_and_the_configuration_page() -> None:
    shipped = (ROOT / "config.toml").read_text(encoding="utf-8")
    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    parsed = tomllib.loads(shipped.replace("# [[agents]]", "[[agents]]"))
    for section in SECTIONS:
        assert f"`{section.name}" in page or f"[{section.name}]" in page
        for setting in section.settings:
            assert setting.help, f"{section.name}.{setting.key} has no help text"
            assert f"{setting.key} = " in shipped, (
                f"{section.name}.{setting.key} missing from config.toml"
            )
            assert f"`{setting.key}`" in page or setting.key in (
                "mon",
                "tue",
                "wed",
                "thu",
                "fri",
                "sat",
                "sun",
            ), f"{section.name}.{setting.key} missing from docs/configuration.md"
    assert set(parsed) >= {"maildesk", "listener", "outgoing", "calendar", "queues"}
