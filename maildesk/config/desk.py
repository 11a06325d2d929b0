"""The agent side of ``config.toml``: agents and groups, rotas, routing rules, categories and
the authentication asked of agent mail. ``config.py`` calls these checks while it builds the
configuration; each problem is reported with its key, like every other.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from maildesk.sla.calendar import DAYS

Problem = Callable[[str, str, int | None], None]

# The same shape mail/commands.py accepts for #assign, #category and #macro arguments.
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
# A template file name inside the language folder: no path, no parent folder.
_TEMPLATE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,80}\.txt\.j2$")
_DOMAIN = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")
_PATTERN = re.compile(r"^[^@\s<>\"',;]+@(\*|[A-Za-z0-9.-]+)$")
ROTATION_EPOCH = date(2024, 1, 1)  # a Monday


@dataclass(frozen=True)
class RouteConfig:
    """One routing rule: criteria (all given ones must match) and what it sets."""

    queue: str = ""
    recipients: tuple[str, ...] = ()
    sender_domains: tuple[str, ...] = ()
    subject_keywords: tuple[str, ...] = ()
    body_keywords: tuple[str, ...] = ()
    category: str = ""
    group: str = ""
    priority: str = ""
    segment: str = ""


@dataclass(frozen=True)
class CategoryConfig:
    name: str
    ack_template: str = ""


@dataclass(frozen=True)
class AgentAuthConfig:
    require: bool = False
    authserv_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rota:
    """Who is on duty in a queue: per weekday (0 = Monday), else the rotation."""

    days: tuple[tuple[str, ...], ...] = ((),) * 7  # primary agent addresses
    rotation: tuple[str, ...] = ()
    start: date = ROTATION_EPOCH


def check_agents(agents: Sequence[Mapping[str, Any]], problem: Problem) -> None:
    owner: dict[str, int] = {}
    for i, agent in enumerate(agents):
        if not agent["name"].strip():
            problem("agents.name", "expected a name (it is shown to other agents)", i)
        for address in agent["addresses"]:
            earlier = owner.setdefault(address.lower(), i)
            if earlier != i:
                problem("agents.addresses", f"{address!r} already belongs to another agent", i)
        for group in agent["groups"]:
            if not _NAME.match(group):
                problem(
                    "agents.groups",
                    f"expected lower-case letters, digits, - or _, got {group!r}",
                    i,
                )


def agent_groups(agents: Sequence[Mapping[str, Any]]) -> set[str]:
    return {g for agent in agents for g in agent["groups"]}


def rota(
    queue: Mapping[str, Any],
    index: int,
    agents: Sequence[Mapping[str, Any]],
    problem: Problem,
) -> Rota:
    """The queue's rota with every entry resolved to the agent's first address."""
    by_address = {
        a.lower(): agent["addresses"][0].lower()
        for agent in agents
        for a in agent["addresses"]
        if agent["addresses"]
    }
    names: dict[str, list[str]] = {}
    for agent in agents:
        if agent["addresses"]:
            names.setdefault(agent["name"].casefold().strip(), []).append(
                agent["addresses"][0].lower()
            )

    def resolve(key: str, entries: Sequence[str]) -> tuple[str, ...]:
        found = []
        for entry in entries:
            address = by_address.get(entry.lower())
            named = names.get(entry.casefold().strip(), [])
            if address is None and len(named) == 1:
                address = named[0]
            if address is None:
                why = (
                    "two agents have that name" if len(named) > 1 else "no [[agents]] table has it"
                )
                problem(
                    f"queues.{key}",
                    f"unknown agent {entry!r}: {why} (give an address or a name)",
                    index,
                )
                continue
            found.append(address)
        return tuple(found)

    days = tuple(resolve(f"rota_{day}", queue[f"rota_{day}"]) for day in DAYS)
    rotation = resolve("rotation", queue["rotation"])
    start = ROTATION_EPOCH
    if queue["rotation_start"]:
        try:
            start = date.fromisoformat(queue["rotation_start"])
        except ValueError:
            problem(
                "queues.rotation_start",
                f"expected YYYY-MM-DD, got {queue['rotation_start']!r}",
                index,
            )
    for group in queue["groups"]:
        if group not in agent_groups(agents):
            problem("queues.groups", f"no agent is in group {group!r}", index)
    return Rota(days, rotation, start)


def categories(raw: Sequence[Mapping[str, Any]], problem: Problem) -> tuple[CategoryConfig, ...]:
    seen: set[str] = set()
    for i, category in enumerate(raw):
        if not _NAME.match(category["name"]):
            problem(
                "categories.name",
                f"expected lower-case letters, digits, - or _, got {category['name']!r}",
                i,
            )
        elif category["name"] in seen:
            problem("categories.name", f"duplicate category {category['name']!r}", i)
        seen.add(category["name"])
        if category["ack_template"] and not _TEMPLATE.match(category["ack_template"]):
            problem(
                "categories.ack_template",
                "expected a file name like ack_certificados.txt.j2, got"
                f" {category['ack_template']!r}",
                i,
            )
    return tuple(CategoryConfig(c["name"], c["ack_template"]) for c in raw)


def routes(
    raw: Sequence[Mapping[str, Any]],
    *,
    queues: set[str],
    groups: set[str],
    categories: set[str],
    problem: Problem,
) -> tuple[RouteConfig, ...]:
    for i, rule in enumerate(raw):
        if rule["queue"] and rule["queue"] not in queues:
            problem("routes.queue", f"no [[queues]] table is named {rule['queue']!r}", i)
        for pattern in rule["recipients"]:
            if not _PATTERN.match(pattern):
                problem("routes.recipients", f"not an address or local@* pattern: {pattern!r}", i)
        for domain in rule["sender_domains"]:
            if not _DOMAIN.match(domain.lower().lstrip("@")):
                problem("routes.sender_domains", f"not a domain: {domain!r}", i)
        if rule["category"] and rule["category"] not in categories:
            problem("routes.category", f"no [[categories]] table is named {rule['category']!r}", i)
        if rule["group"] and rule["group"] not in groups:
            problem("routes.group", f"no agent is in group {rule['group']!r}", i)
        if rule["segment"] and not _NAME.match(rule["segment"]):
            problem(
                "routes.segment",
                f"expected lower-case letters, digits, - or _, got {rule['segment']!r}",
                i,
            )
        if not any(rule[k] for k in ("category", "group", "priority", "segment")):
            problem(
                "routes.category", "the rule sets nothing (category, group, priority or segment)", i
            )
    return tuple(
        RouteConfig(
            queue=r["queue"],
            recipients=tuple(p.lower() for p in r["recipients"]),
            sender_domains=tuple(d.lower().lstrip("@") for d in r["sender_domains"]),
            subject_keywords=tuple(r["subject_keywords"]),
            body_keywords=tuple(r["body_keywords"]),
            category=r["category"],
            group=r["group"],
            priority=r["priority"],
            segment=r["segment"],
        )
        for r in raw
    )


def agent_auth(values: Mapping[str, Any], problem: Problem) -> AgentAuthConfig:
    ids = tuple(v.strip().lower() for v in values["authserv_ids"] if v.strip())
    if values["require"] and not ids:
        problem(
            "agent_auth.authserv_ids",
            "require = true needs the authserv-id of the receiving MTA (what it writes first"
            " in Authentication-Results)",
            None,
        )
    return AgentAuthConfig(values["require"], ids)
