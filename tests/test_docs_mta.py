"""docs/mta.md: its Postfix and Exim snippets agree with maildesk's own settings (names,
defaults, the listener's address, port and protocol, the size limit)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from maildesk.config import parse
from maildesk.config.settings import SECTIONS

PAGE = Path(__file__).resolve().parents[1] / "docs" / "mta.md"
TEXT = PAGE.read_text(encoding="utf-8")
BLOCKS = re.findall(r"^```(\w*)\n(.*?)^```$", TEXT, re.MULTILINE | re.DOTALL)
HEADERS_MARGIN = 4096  # what the page says the MTA's limit leaves for its own headers


def _default(section: str, key: str) -> object:
    found = next(s for s in SECTIONS if s.name == section).get(key)
    assert found is not None, f"{section}.{key}"
    return found.default


@pytest.fixture(scope="module")
def ours() -> dict[str, dict[str, object]]:
    [block] = [body for lang, body in BLOCKS if lang == "toml"]
    data: dict[str, dict[str, object]] = tomllib.loads(block)
    return data


def _limit(text: str, name: str) -> int:
    found = re.search(rf"^{name} = (\d+)$", text, re.MULTILINE)
    assert found is not None, name
    return int(found[1])


def test_the_toml_uses_real_settings_and_loads(ours: dict[str, dict[str, object]]) -> None:
    names = {s.name: {k.key for k in s.settings} for s in SECTIONS}
    for section, values in ours.items():
        assert set(values) <= names[section], section
    parse(_toml_text(), path=None, base_dir=PAGE.parent)  # a bad value or key raises


def _toml_text() -> str:
    return str(next(body for lang, body in BLOCKS if lang == "toml"))


def test_the_listener_is_the_default_one_speaking_lmtp(ours: dict[str, dict[str, object]]) -> None:
    listener = ours["listener"]
    assert listener["protocol"] == "lmtp"
    for key in ("host", "port", "max_message_bytes"):
        assert listener[key] == _default("listener", key), key


def test_postfix_delivers_every_queue_address_to_the_listener(
    ours: dict[str, dict[str, object]],
) -> None:
    listener = ours["listener"]
    code = "\n".join(body for lang, body in BLOCKS if not lang)
    routes = dict(re.findall(r"^(\S+@\S+)\s+lmtp:inet:(\S+)$", code, re.MULTILINE))
    allowed = re.findall(r"^(\S+@\S+)\s+OK$", code, re.MULTILINE)
    assert routes, "no transport_maps lines"
    assert set(routes.values()) == {f"{listener['host']}:{listener['port']}"}
    assert sorted(routes) == sorted(allowed)  # the same addresses are routed and allowed
    for setting in ("relay_domains", "transport_maps", "relay_recipient_maps"):
        assert re.search(rf"^{setting} = ", code, re.MULTILINE), setting


@pytest.mark.parametrize("name", ["message_size_limit", "MESSAGE_SIZE_LIMIT"])
def test_the_mta_refuses_first_what_maildesk_would_refuse(
    ours: dict[str, dict[str, object]], name: str
) -> None:
    code = "\n".join(body for lang, body in BLOCKS if not lang)
    maximum = ours["listener"]["max_message_bytes"]
    assert isinstance(maximum, int)
    assert _limit(code, name) == maximum - HEADERS_MARGIN


def test_exim_speaks_lmtp_to_the_listener(ours: dict[str, dict[str, object]]) -> None:
    [transport] = [body for lang, body in BLOCKS if "driver = smtp" in body]
    listener = ours["listener"]
    assert "protocol = lmtp" in transport
    assert f"hosts = {listener['host']}" in transport
    assert f"port = {listener['port']}" in transport
    assert "allow_localhost" in transport  # Exim will not deliver to itself without it
    [router] = [body for lang, body in BLOCKS if "driver = accept" in body]
    parts = re.search(r"local_parts = (.+)", router)
    assert parts is not None
    code = "\n".join(body for lang, body in BLOCKS if not lang)
    postfix = sorted(a.split("@")[0] for a in re.findall(r"^(\S+)@\S+\s+OK$", code, re.M))
    assert sorted(p.strip() for p in parts[1].split(":")) == postfix


def test_the_relay_is_named_and_trusted_never_downgraded(
    ours: dict[str, dict[str, object]],
) -> None:
    outgoing = ours["outgoing"]
    assert outgoing["tls"] == "starttls"
    assert not re.fullmatch(r"[\d.]+", str(outgoing["host"]))  # a name, as in its certificate
    assert outgoing["ca_file"] == "/etc/ssl/certs/ssl-cert-snakeoil.pem"


def test_the_admin_guide_service_section_links_here() -> None:
    admin = (PAGE.parent / "admin.md").read_text(encoding="utf-8")
    service = admin.split("## Running as a service", 1)[1].split("\n## ", 1)[0]
    assert "(mta.md)" in service
