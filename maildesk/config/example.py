"""The documented ``config.toml`` that ``maildesk init`` writes, generated from settings.py."""

from __future__ import annotations

import json
import textwrap

from maildesk.config.settings import SECTIONS, Setting, Value


def _toml(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def _comment(text: str) -> list[str]:
    return ["# " + line for line in textwrap.wrap(text, 86)]


# Sections with no useful default are written as a commented example with these values.
_SAMPLES: dict[str, dict[str, Value]] = {
    "agents": {
        "name": "Ana Pérez",
        "addresses": ["ana.perez@example.edu", "aperez@example.edu"],
        "groups": ["admisiones"],
        "language": "es",
        "coordinator": False,
    },
    "routes": {
        "queue": "info",
        "recipients": [],
        "sender_domains": [],
        "subject_keywords": ["beca", "becas"],
        "body_keywords": [],
        "category": "becas",
        "group": "admisiones",
        "priority": "",
        "segment": "",
    },
    "categories": {"name": "becas", "ack_template": "ack_becas.txt.j2"},
    "oauth": {
        "name": "m365",
        "provider": "microsoft",
        "tenant": "uni.onmicrosoft.com",
        "client_id": "00000000-0000-0000-0000-000000000000",
        "client_secret_env": "",
        "client_secret_file": "/run/credentials/maildesk.service/oauth-m365",
        "certificate_file": "",
        "token_url": "",
        "scopes": [],
        "grant": "client_credentials",
    },
    "imap": {
        "name": "info",
        "host": "imap.example.edu",
        "port": 993,
        "tls": "tls",
        "username": "info@example.edu",
        "password_env": "MAILDESK_IMAP_INFO_PASSWORD",
        "password_file": "/run/credentials/maildesk.service/imap-info",
        "oauth": "",
        "folder": "INBOX",
        "processed_folder": "Processed",
        "quarantine_folder": "Quarantine",
        "queue": "info",
        "idle": True,
        "poll_seconds": 60,
        "batch_size": 200,
    },
    "sla_policies": {
        "queue": "",
        "priority": "",
        "segment": "vip",
        "first_response_hours": 8,
        "next_response_hours": 8,
        "resolution_hours": 0,
    },
    "escalations": {
        "queue": "info",
        "level": 1,
        "after_hours": 0,
        "notify": ["coordinacion@example.edu"],
    },
}


# Commented lines after a section's sample: how another common case differs.
_MORE: dict[str, list[str]] = {
    "oauth": [
        "# Google Workspace: a service account with domain-wide delegation (docs/admin.md);",
        "# client_id is its client ID, client_secret_file its JSON key.",
        "# [[oauth]]",
        '# name = "gws"',
        '# provider = "google"',
        '# client_id = "104830127455512345678"',
        '# client_secret_file = "/run/credentials/maildesk.service/gws-service-account.json"',
        '# grant = "client_credentials"',
        "",
    ],
}


def _setting(setting: Setting, sample: Value | None) -> list[str]:
    lines = _comment(setting.help)
    if setting.choices:
        lines.append("# one of: " + ", ".join(_toml(c) for c in setting.choices))
    prefix = "# " if sample is not None or setting.example else ""
    value = setting.default if sample is None else sample
    lines.append(f"{prefix}{setting.key} = {_toml(value)}")
    return lines


def example_config() -> str:
    """The full, documented configuration with every default; it runs as it is."""
    out = [
        "# maildesk configuration. Every key is shown with its default value.",
        "# Check it with: maildesk check --config config.toml",
        "",
    ]
    for section in SECTIONS:
        out += _comment(section.help)
        samples = _SAMPLES.get(section.name)
        header = f"[[{section.name}]]" if section.array else f"[{section.name}]"
        out.append(("# " if samples else "") + header)
        for setting in section.settings:
            out += _setting(setting, None if samples is None else samples[setting.key])
        out.append("")
        out += _MORE.get(section.name, [])
    return "\n".join(out)
