"""``config.toml`` -> ``Config``. Every problem is reported, each with its key and line.

The keys, defaults and help texts live in ``settings.py``; this module checks a file
against them and builds the typed configuration of ``model.py``.
"""

from __future__ import annotations

import os
import re
import tomllib
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from maildesk.config import desk as deskconfig
from maildesk.config import oauth as oauthconfig
from maildesk.config import sla as slaconfig
from maildesk.config.checker import TableChecker
from maildesk.config.desk import AgentAuthConfig, CategoryConfig, Rota, RouteConfig
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
    is_loopback,
)
from maildesk.config.settings import SECTIONS, section
from maildesk.config.surveys import SurveysConfig
from maildesk.errors import ConfigError
from maildesk.sla.calendar import DAYS

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_TAG = re.compile(r"^[A-Z][A-Z0-9]{0,15}$")
_ADDRESS = re.compile(r"^[^@\s<>\"',;]+@(\*|[A-Za-z0-9.-]+)$")
_HOURS = re.compile(r"^\s*(\d\d:\d\d-\d\d:\d\d\s*(,\s*\d\d:\d\d-\d\d:\d\d\s*)*)?$")


def find_config_path(explicit: str | None, cwd: Path) -> Path | None:
    """The file to read: --config, $MAILDESK_CONFIG, ./config.toml, /etc/maildesk/config.toml."""
    chosen = explicit or os.environ.get("MAILDESK_CONFIG")
    if chosen:
        return Path(chosen)
    for candidate in (cwd / "config.toml", Path("/etc/maildesk/config.toml")):
        if candidate.is_file():
            return candidate
    return None


def load(path: Path | None, *, cwd: Path | None = None) -> Config:
    """Read and validate ``path`` (None: the built-in defaults, relative to ``cwd``)."""
    if path is None:
        return parse("", path=None, base_dir=(cwd or Path.cwd()))
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text: {exc.reason}"]) from exc
    return parse(text, path=path, base_dir=path.resolve().parent)


def parse(text: str, *, path: Path | None, base_dir: Path) -> Config:
    """Validate TOML ``text``; raises ConfigError listing every problem found."""
    label = str(path) if path else "config.toml"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{label}: {exc}"]) from exc
    checker = _Checker(text, label)
    return checker.build(data, path, base_dir)


class _Checker(TableChecker):
    """Builds the typed configuration from the checked tables."""

    def build(self, data: dict[str, Any], path: Path | None, base_dir: Path) -> Config:
        known = {s.name for s in SECTIONS}
        for name in data:
            if name not in known:
                line = self._top_line(name)
                prefix = f"{self.label}:{line}" if line else self.label
                self.problems.append(
                    f"{prefix}: unknown table '{name}' (known: {', '.join(sorted(known))})"
                )
        scalars = {}
        for sect in SECTIONS:
            if sect.array:
                continue
            raw = data.get(sect.name, {})
            if not isinstance(raw, dict):
                self.problems.append(f"{self.label}: '{sect.name}' must be a table")
                raw = {}
            scalars[sect.name] = self.table(raw, sect)
        queues = self._queues(data.get("queues"))
        agents = self._agents(data.get("agents"))
        oauth_raw = self._array(data.get("oauth"), "oauth")
        oauth = oauthconfig.oauth_tables(oauth_raw, base_dir, self.problem)
        declared = [str(t["name"]) for t in oauth_raw if t["name"]]
        imap = self._imap(data.get("imap"), {q["name"] for q in queues}, declared)
        rotas, categories, routes, agent_auth = self._desk(data, queues, agents, scalars)
        general, listener, outgoing, cal = (
            scalars["maildesk"],
            scalars["listener"],
            scalars["outgoing"],
            scalars["calendar"],
        )
        self._check_general(general)
        if outgoing["transport"] == "smtp":
            written = data["outgoing"] if isinstance(data.get("outgoing"), dict) else {}
            oauthconfig.check_reference("outgoing", outgoing, written, declared, self.problem)
        if scalars["http"]["public_base_url"] and not re.match(
            r"^https?://[^/\s]+(/\S*)?$", scalars["http"]["public_base_url"]
        ):
            self.problem(
                "http.public_base_url",
                f"expected an http:// or https:// URL, got {scalars['http']['public_base_url']!r}",
            )
        holidays = self._holidays(cal["holidays"])
        holidays += slaconfig.holidays_file(
            base_dir / cal["holidays_file"] if cal["holidays_file"] else None, self.problem
        )
        closures = slaconfig.closures(cal["closures"], general["timezone"], self.problem)
        for day in DAYS:
            if not _HOURS.match(cal[day]):
                self.problem(
                    f"calendar.{day}", f"expected 'HH:MM-HH:MM[,HH:MM-HH:MM]', got {cal[day]!r}"
                )
        hours = {d: cal[d] for d in DAYS}
        if all(_HOURS.match(text) for text in hours.values()):
            slaconfig.check_calendar(general["timezone"], hours, holidays, closures, self.problem)
        sla = slaconfig.build(
            scalars["sla"],
            self._array(data.get("sla_policies"), "sla_policies"),
            self._array(data.get("escalations"), "escalations"),
            {q["name"] for q in queues},
            self.problem,
        )
        surveys = SurveysConfig.build(scalars["surveys"], {q["name"] for q in queues}, self.problem)
        for address in scalars["reports"]["recipients"]:
            if "@" not in address:
                self.problem("reports.recipients", f"expected mail addresses, got {address!r}")
        if outgoing["transport"] == "smtp" and outgoing["password_file"]:
            secret = base_dir / outgoing["password_file"]
            if not secret.is_file():
                self.problem("outgoing.password_file", f"file not found: {secret}")
        # The same rule as [[imap]] tls: a login without TLS goes only to this machine.
        relay = outgoing["transport"] == "smtp" and outgoing["username"]
        if relay and outgoing["tls"] == "none" and not is_loopback(outgoing["host"]):
            self.problem(
                "outgoing.tls",
                "'none' with a username would send the relay password in clear text; it is"
                f" allowed only for a loopback host, got {outgoing['host']!r}"
                " (use 'tls' or 'starttls')",
            )
        if self.problems:
            raise ConfigError(self.problems)

        def rel(value: str) -> Path:
            return base_dir / value

        url = _database_url(general["database"])

        return Config(
            path=path,
            base_dir=base_dir,
            database=Path(_shown(url)) if url else rel(general["database"]),
            database_url=url,
            database_password_env=general["database_password_env"],
            language=general["language"],
            timezone=general["timezone"],
            organization=general["organization"],
            secret_file=rel(general["secret_file"]),
            secret_env=general["secret_env"],
            templates_dir=rel(general["templates_dir"]) if general["templates_dir"] else None,
            reopen_days=general["reopen_days"],
            log_level=general["log_level"],
            node=general["node"].strip(),
            listener=ListenerConfig(**listener),
            outgoing=OutgoingConfig(
                **{
                    **outgoing,
                    "directory": rel(outgoing["directory"]),
                    "password_file": rel(outgoing["password_file"])
                    if outgoing["password_file"]
                    else None,
                    "ca_file": rel(outgoing["ca_file"]) if outgoing["ca_file"] else None,
                }
            ),
            calendar=CalendarConfig(
                hours={d: cal[d] for d in DAYS},
                holidays=holidays,
                holidays_file=rel(cal["holidays_file"]) if cal["holidays_file"] else None,
                first_response_hours=cal["first_response_hours"],
                closures=closures,
            ),
            limits=LimitsConfig(**scalars["limits"]),
            queues=tuple(
                QueueConfig(
                    q["name"],
                    tuple(q["addresses"]),
                    q["tag"],
                    q["language"] or general["language"],
                    tuple(q["groups"]),
                    rota,
                    q["notify_attachments"],
                    q["pending_days"],
                    q["duplicate_hours"],
                    q["anonymous"],
                )
                for q, rota in zip(queues, rotas, strict=True)
            ),
            agents=tuple(
                AgentConfig(
                    a["name"],
                    tuple(x.lower() for x in a["addresses"]),
                    a["language"] or general["language"],
                    tuple(a["groups"]),
                    a["coordinator"],
                )
                for a in agents
            ),
            routes=routes,
            categories=categories,
            agent_auth=agent_auth,
            imap=tuple(
                ImapConfig(
                    **{
                        **a,
                        "port": a["port"] or (993 if a["tls"] == "tls" else 143),
                        "password_file": rel(a["password_file"]) if a["password_file"] else None,
                    }
                )
                for a in imap
            ),
            http=HttpConfig(**scalars["http"]),
            privacy=PrivacyConfig(
                **{
                    **scalars["privacy"],
                    "seal_key_file": rel(scalars["privacy"]["seal_key_file"]),
                }
            ),
            reports=ReportsConfig(
                scalars["reports"]["enabled"], tuple(scalars["reports"]["recipients"])
            ),
            surveys=surveys,
            sla=sla,
            oauth=oauth,
        )

    def _check_general(self, general: dict[str, Any]) -> None:
        try:
            ZoneInfo(general["timezone"])
        except (ZoneInfoNotFoundError, ValueError):
            self.problem("maildesk.timezone", f"unknown IANA time zone {general['timezone']!r}")

    def _holidays(self, values: list[str]) -> tuple[date, ...]:
        days = []
        for value in values:
            try:
                days.append(date.fromisoformat(value))
            except ValueError:
                self.problem("calendar.holidays", f"expected YYYY-MM-DD, got {value!r}")
        return tuple(days)

    def _array(self, raw: object, name: str) -> list[dict[str, Any]]:
        if raw is None:
            return []
        if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
            self.problems.append(f"{self.label}: '{name}' must be written as [[{name}]] tables")
            return []
        sect = section(name)
        return [self.table(t, sect, i) for i, t in enumerate(raw)]

    def _queues(self, raw: object) -> list[dict[str, Any]]:
        queues = (
            self._array(raw, "queues") if raw is not None else [self.table({}, section("queues"))]
        )
        if raw is not None and not queues:
            self.problems.append(f"{self.label}: at least one [[queues]] table is needed")
        names: set[str] = set()
        tags: set[str] = set()
        for i, q in enumerate(queues):
            if not _NAME.match(q["name"]):
                self.problem(
                    "queues.name",
                    f"expected lower-case letters, digits, - or _, got {q['name']!r}",
                    i,
                )
            if q["name"] in names:
                self.problem("queues.name", f"duplicate queue name {q['name']!r}", i)
            names.add(q["name"])
            if not _TAG.match(q["tag"]):
                self.problem(
                    "queues.tag", f"expected upper-case letters and digits, got {q['tag']!r}", i
                )
            if q["tag"] in tags:
                self.problem("queues.tag", f"duplicate tag {q['tag']!r}", i)
            tags.add(q["tag"])
            if not q["addresses"]:
                self.problem("queues.addresses", "expected at least one address", i)
            for address in q["addresses"]:
                if not _ADDRESS.match(address):
                    self.problem(
                        "queues.addresses", f"not an address or local@* pattern: {address!r}", i
                    )
        return queues

    def _agents(self, raw: object) -> list[dict[str, Any]]:
        agents = self._array(raw, "agents")
        for i, agent in enumerate(agents):
            if not agent["addresses"]:
                self.problem("agents.addresses", "expected at least one address", i)
            for address in agent["addresses"]:
                if "*" in address or not _ADDRESS.match(address):
                    self.problem("agents.addresses", f"not an address: {address!r}", i)
        return agents

    def _desk(
        self,
        data: dict[str, Any],
        queues: list[dict[str, Any]],
        agents: list[dict[str, Any]],
        scalars: dict[str, dict[str, Any]],
    ) -> tuple[list[Rota], tuple[CategoryConfig, ...], tuple[RouteConfig, ...], AgentAuthConfig]:
        """Agents, rotas, categories, routing rules: checked in deskconfig.py."""
        deskconfig.check_agents(agents, self.problem)
        rotas = [deskconfig.rota(q, i, agents, self.problem) for i, q in enumerate(queues)]
        categories = deskconfig.categories(
            self._array(data.get("categories"), "categories"), self.problem
        )
        groups = deskconfig.agent_groups(agents)
        routes = deskconfig.routes(
            self._array(data.get("routes"), "routes"),
            queues={q["name"] for q in queues},
            groups=groups,
            categories={c.name for c in categories},
            problem=self.problem,
        )
        return rotas, categories, routes, deskconfig.agent_auth(scalars["agent_auth"], self.problem)

    def _imap(self, raw: object, queue_names: set[str], oauth: list[str]) -> list[dict[str, Any]]:
        accounts = self._array(raw, "imap")
        names: set[str] = set()
        for i, account in enumerate(accounts):
            name = account["name"]
            if not _NAME.match(name):
                self.problem(
                    "imap.name", f"expected lower-case letters, digits, - or _, got {name!r}", i
                )
            elif name in names:
                self.problem("imap.name", f"duplicate account name {name!r}", i)
            names.add(name)
            for key in ("host", "username", "folder"):
                if not account[key]:
                    self.problem(f"imap.{key}", "expected a non-empty value", i)
            oauthconfig.check_reference("imap", account, account, oauth, self.problem, i)
            if not (account["password_env"] or account["password_file"] or account["oauth"]):
                self.problem(
                    "imap.password_env",
                    "expected password_env, password_file or oauth (passwords never go in"
                    " config.toml)",
                    i,
                )
            if account["tls"] == "none" and account["host"] and not is_loopback(account["host"]):
                self.problem(
                    "imap.tls",
                    "'none' would send the password in clear text; it is allowed only for a"
                    f" loopback host, got {account['host']!r} (use 'tls' or 'starttls')",
                    i,
                )
            for key in ("processed_folder", "quarantine_folder"):
                if account[key] and account[key] == account["folder"]:
                    self.problem(f"imap.{key}", f"must differ from folder {account['folder']!r}", i)
            if account["queue"] not in queue_names:
                known = ", ".join(repr(q) for q in sorted(queue_names))
                self.problem(
                    "imap.queue",
                    f"expected the name of a [[queues]] table ({known}), got {account['queue']!r}",
                    i,
                )
        return accounts


def _database_url(value: str) -> str | None:
    """``value`` when it names a PostgreSQL database (a libpq URI), else None: a file."""
    return value if value.startswith(("postgresql://", "postgres://")) else None


def _shown(url: str) -> str:
    """The URL without a password written into it, for messages that name the database
    (the store's own ``redacted``; config may not import the store)."""
    return re.sub(r"^(\w+://[^:@/]*):[^@/]*@", r"\1:***@", url)
