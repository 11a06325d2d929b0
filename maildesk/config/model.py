"""The typed configuration the rest of maildesk reads: frozen dataclasses, one per table,
and the pure look-ups on them (which queue serves an address). ``load.py`` builds them.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Literal

from maildesk.config.desk import AgentAuthConfig, CategoryConfig, Rota, RouteConfig
from maildesk.config.sla import SlaConfig
from maildesk.config.surveys import SurveysConfig
from maildesk.errors import ConfigError
from maildesk.oauth.settings import OAuthSettings


@dataclass(frozen=True)
class ListenerConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8025
    protocol: Literal["smtp", "lmtp"] = "smtp"
    max_message_bytes: int = 26214400


@dataclass(frozen=True)
class OutgoingConfig:
    transport: Literal["file", "smtp"] = "file"
    directory: Path = Path("outbox")
    host: str = "localhost"
    port: int = 587
    tls: Literal["starttls", "tls", "none"] = "starttls"
    username: str = ""
    password_env: str = "MAILDESK_SMTP_PASSWORD"  # noqa: S105 - a variable's name, not a secret
    password_file: Path | None = None
    ca_file: Path | None = None
    timeout_seconds: int = 30
    retry_seconds: int = 30
    max_age_hours: int = 120
    oauth: str = ""  # an [[oauth]] name: sign in with a token, not the password

    def password(self) -> str:
        """The relay password from the environment or the credentials file ("" if none)."""
        if self.password_env and os.environ.get(self.password_env):
            return os.environ[self.password_env]
        if self.password_file is not None:
            return self.password_file.read_text(encoding="utf-8").strip()
        return ""


@dataclass(frozen=True)
class CalendarConfig:
    hours: Mapping[str, str] = field(default_factory=dict)
    holidays: tuple[date, ...] = ()
    holidays_file: Path | None = None  # its dates are in holidays
    first_response_hours: int = 24
    closures: tuple[tuple[datetime, datetime], ...] = ()


@dataclass(frozen=True)
class LimitsConfig:
    auto_replies_per_hour: int = 5
    mails_per_recipient_per_hour: int = 100
    max_attachments: int = 50
    max_attachment_bytes: int = 20971520


@dataclass(frozen=True)
class HttpConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8026
    public_base_url: str = ""

    @property
    def base_url(self) -> str:
        """Where people reach the listener, ending in '/'.

        >>> HttpConfig(host="::1").base_url, HttpConfig(public_base_url="https://d.example").base_url
        ('http://[::1]:8026/', 'https://d.example/')
        """
        if self.public_base_url:
            return self.public_base_url.rstrip("/") + "/"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"


@dataclass(frozen=True)
class PrivacyConfig:
    retention_days: int = 365
    controller: str = ""  # empty: [maildesk] organization
    seal_key_file: Path = Path("maildesk.seal.key")
    seal_key_env: str = "MAILDESK_SEAL_KEY"


@dataclass(frozen=True)
class ReportsConfig:
    enabled: bool = True
    recipients: tuple[str, ...] = ()


@dataclass(frozen=True)
class QueueConfig:
    name: str
    addresses: tuple[str, ...]
    tag: str
    language: str
    groups: tuple[str, ...] = ()
    rota: Rota = field(default_factory=Rota)
    notify_attachments: Literal["attach", "list"] = "attach"
    pending_days: int = 0
    duplicate_hours: int = 72
    anonymous: bool = False


@dataclass(frozen=True)
class AgentConfig:
    name: str
    addresses: tuple[str, ...]  # lower-case; the first is where notifications go
    language: str
    groups: tuple[str, ...] = ()
    coordinator: bool = False

    @property
    def address(self) -> str:
        return self.addresses[0]


@dataclass(frozen=True)
class ImapConfig:
    """One IMAP mailbox to collect from; it feeds one queue."""

    name: str
    host: str
    port: int
    tls: Literal["tls", "starttls", "none"]
    username: str
    password_env: str
    password_file: Path | None
    folder: str
    processed_folder: str  # "" leaves stored mail in place, flagged \Seen
    quarantine_folder: str  # likewise for mail that cannot be read
    queue: str
    idle: bool = True
    poll_seconds: int = 60
    batch_size: int = 200
    oauth: str = ""  # an [[oauth]] name: sign in with a token, not a password

    @property
    def source(self) -> str:
        """What the store records as the source of each message: ``imap:<name>``."""
        return f"imap:{self.name}"

    def password_source(self) -> str:
        """Where ``password()`` reads the password from, for messages (never the password)."""
        if self.oauth:
            return f"OAuth2 credential {self.oauth!r}"
        if self.password_env and os.environ.get(self.password_env):
            return f"password from ${self.password_env}"
        if self.password_file is not None:
            return f"password from {self.password_file}"
        return "no password"

    def password(self) -> str:
        """The password from the environment, else from the credentials file (never logged).

        Read at each login, so a rotated credentials file takes effect on the next one.
        """
        if self.password_env and os.environ.get(self.password_env):
            return os.environ[self.password_env]
        if self.password_file is not None:
            try:
                return self.password_file.read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                raise ConfigError(
                    [
                        f"key 'imap.password_file' of account '{self.name}': cannot read"
                        f" {self.password_file}: {exc.strerror or exc}"
                    ]
                ) from exc
        raise ConfigError(
            [
                f"key 'imap.password_env' of account '{self.name}': no password:"
                f" ${self.password_env or '(none)'} is not set and there is no password_file"
            ]
        )


@dataclass(frozen=True)
class Config:
    path: Path | None  # None: built-in defaults
    base_dir: Path
    database: Path
    language: str
    timezone: str
    organization: str
    secret_file: Path
    secret_env: str
    templates_dir: Path | None
    reopen_days: int
    log_level: str
    listener: ListenerConfig
    outgoing: OutgoingConfig
    calendar: CalendarConfig
    limits: LimitsConfig
    queues: tuple[QueueConfig, ...]
    agents: tuple[AgentConfig, ...]
    imap: tuple[ImapConfig, ...] = ()
    routes: tuple[RouteConfig, ...] = ()
    categories: tuple[CategoryConfig, ...] = ()
    agent_auth: AgentAuthConfig = field(default_factory=AgentAuthConfig)
    http: HttpConfig = HttpConfig()
    privacy: PrivacyConfig = PrivacyConfig()
    reports: ReportsConfig = ReportsConfig()
    sla: SlaConfig = field(default_factory=SlaConfig)
    surveys: SurveysConfig = field(default_factory=SurveysConfig)
    database_url: str | None = None  # PostgreSQL; then ``database`` only names it in messages
    database_password_env: str = ""
    oauth: tuple[OAuthSettings, ...] = ()
    node: str = ""  # this daemon's name among several; empty: the host name (the daemon's)

    @property
    def store_location(self) -> Path | str:
        """What ``Store`` opens: the PostgreSQL URL, else the SQLite file."""
        return self.database_url or self.database

    def oauth_named(self, name: str) -> OAuthSettings:
        """The ``[[oauth]]`` table called ``name`` (the config checked that it exists)."""
        return next(o for o in self.oauth if o.name == name)

    def queue(self, name: str) -> QueueConfig:
        return next(q for q in self.queues if q.name == name)

    def agent_addresses(self) -> frozenset[str]:
        return frozenset(a.lower() for agent in self.agents for a in agent.addresses)

    def tag_of(self, queue: str) -> str:
        """The subject tag of ``queue``'s tickets.

        A queue removed from the configuration keeps its tickets; their tag falls back to
        the queue's name in capitals, so their references still read INFO#42.
        """
        return next((q.tag for q in self.queues if q.name == queue), queue.upper())

    def queue_of_ticket(self, name: str, address: str, language: str) -> QueueConfig:
        """The queue a ticket was opened in, or, once removed from the configuration, one
        that answers as it did: from the address and in the language the ticket keeps."""
        found = next((q for q in self.queues if q.name == name), None)
        return found or QueueConfig(name, (address,), self.tag_of(name), language)

    @property
    def own_addresses(self) -> tuple[str, ...]:
        """Every address (or ``name@*`` pattern) that one of our queues answers."""
        return tuple(a for q in self.queues for a in q.addresses)

    def is_own(self, address: str) -> bool:
        """Whether ``address`` is one of our queues' (so never a participant to copy)."""
        return any(address_matches(p, address) for p in self.own_addresses)


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine's loopback interface.

    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("imap.example.edu")
    (True, True, False)
    """
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def address_matches(pattern: str, address: str) -> bool:
    """Whether ``address`` is served by ``pattern``; 'info@*' matches info@ at any domain.

    >>> address_matches("info@*", "INFO@uni.edu")
    True
    """
    pattern, address = pattern.lower(), address.lower()
    if pattern.endswith("@*"):
        return address.rpartition("@")[0] == pattern[:-2] and "@" in address
    return pattern == address


def queue_for(config: Config, recipients: list[str]) -> tuple[QueueConfig, str] | None:
    """The first queue in config order serving one of ``recipients``, with the address matched."""
    for queue in config.queues:
        for recipient in recipients:
            if any(address_matches(p, recipient) for p in queue.addresses):
                return queue, recipient.lower()
    return None
