"""Configuration: the settings table, ``config.toml`` reading and checking, the typed
configuration (desk, service levels, surveys), the example file, and the secrets.

Pure except ``load`` (reads the file) and ``secret`` (reads and writes secret files).
``oauth`` checks the ``[[oauth]]`` tables with ``maildesk.oauth.settings`` (pure).
May import: maildesk.errors, maildesk.mail, maildesk.sla.calendar, maildesk.sla.rules,
maildesk.sla.followups, maildesk.privacy.anonymity, maildesk.oauth.settings.
"""

from maildesk.config.load import find_config_path, load, parse
from maildesk.config.model import (
    AgentConfig,
    CalendarConfig,
    Config,
    HttpConfig,
    ImapConfig,
    LimitsConfig,
    ListenerConfig,
    OutgoingConfig,
    PrivacyConfig,
    QueueConfig,
    ReportsConfig,
    address_matches,
    is_loopback,
    queue_for,
)

__all__ = [
    "AgentConfig",
    "CalendarConfig",
    "Config",
    "HttpConfig",
    "ImapConfig",
    "LimitsConfig",
    "ListenerConfig",
    "OutgoingConfig",
    "PrivacyConfig",
    "QueueConfig",
    "ReportsConfig",
    "address_matches",
    "find_config_path",
    "is_loopback",
    "load",
    "parse",
    "queue_for",
]
