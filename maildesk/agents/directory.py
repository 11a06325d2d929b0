"""Who answers what: the rota, the assignment of new tickets, who is notified, what an agent
may do, and whether agent mail proves where it comes from.

PURE: configuration and plain data in, decisions out; no store, no clock (the day is given).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from maildesk.config import AgentConfig, QueueConfig
from maildesk.config.desk import Rota
from maildesk.mail.commands import (
    AssignArgs,
    CategoryArgs,
    Command,
    CommandError,
    CommandName,
    MergeArgs,
    Refusal,
)

# The line above which an agent writes; quoted back in a reply, it marks where history starts.
MARKERS = {
    "es": "##- Escriba su respuesta encima de esta línea -##",
    "en": "##- Type your reply above this line -##",
}


def marker(language: str) -> str:
    """The reply-line marker of notifications in ``language`` (Spanish when unknown).

    >>> marker("en")
    '##- Type your reply above this line -##'
    """
    return MARKERS.get(language, MARKERS["es"])


def marker_in(text: str) -> str | None:
    """The first of our markers found in ``text``, whatever the language it was sent in.

    >>> marker_in("Done.\\n> ##- Type your reply above this line -##")
    '##- Type your reply above this line -##'
    """
    found = [(text.find(m), m) for m in MARKERS.values() if m in text]
    return min(found)[1] if found else None


class Directory:
    """The configured agents, looked up by address, alias, name or group."""

    def __init__(self, agents: Sequence[AgentConfig]) -> None:
        self.agents = tuple(agents)
        self._by_address = {a: agent for agent in agents for a in agent.addresses}

    def agent(self, address: str) -> AgentConfig | None:
        """The agent one of whose addresses is ``address`` (any case)."""
        return self._by_address.get(address.lower())

    def groups(self) -> frozenset[str]:
        return frozenset(g for agent in self.agents for g in agent.groups)

    def members(self, group: str) -> tuple[AgentConfig, ...]:
        return tuple(a for a in self.agents if group in a.groups)

    def resolve(self, target: str) -> AgentConfig | str | None:
        """What ``#assign target`` names: an agent (by address, name or the part of an
        address before '@') or a group name; None when nothing, or more than one agent, fits.

        >>> d = Directory([AgentConfig("Ana", ("ana.perez@uni.example",), "es", ("becas",))])
        >>> d.resolve("becas"), d.resolve("ana.perez").name, d.resolve("nadie")
        ('becas', 'Ana', None)
        """
        key = target.casefold()
        agent = self.agent(key)
        if agent is not None:
            return agent
        group = next((g for g in sorted(self.groups()) if g.casefold() == key), None)
        if group is not None:
            return group
        named = [a for a in self.agents if a.name.casefold() == key]
        if not named:
            named = [a for a in self.agents if any(x.partition("@")[0] == key for x in a.addresses)]
        return named[0] if len(named) == 1 else None


@dataclass(frozen=True)
class Assignment:
    assignee: str | None  # the agent's first address
    group: str | None


def _open_days_between(start: date, end: date, open_days: Collection[int]) -> int:
    """How many open weekdays lie in [start, end); negative when ``end`` is before ``start``."""
    if end < start:
        return -_open_days_between(end, start, open_days)
    weeks, rest = divmod((end - start).days, 7)
    extra = sum(1 for k in range(rest) if (start + timedelta(days=k)).weekday() in open_days)
    return weeks * len(open_days) + extra


def on_duty(rota: Rota, day: date, open_days: Collection[int]) -> tuple[str, ...]:
    """The agents on duty on ``day``: that weekday's rota, else the rotation's agent of the day.

    The rotation moves on one agent per open weekday (``open_days``, 0 = Monday); a closed
    day belongs to the next open one, whose agent will find the mail waiting.

    >>> rota = Rota(rotation=("ana@x", "luis@x"), start=date(2026, 11, 16))  # a Monday
    >>> [on_duty(rota, date(2026, 11, d), {0, 1, 2, 3, 4})[0] for d in (16, 17, 20, 21, 23)]
    ['ana@x', 'luis@x', 'ana@x', 'luis@x', 'luis@x']
    """
    listed = rota.days[day.weekday()]
    if listed or not rota.rotation:
        return listed
    duty_day = day
    if open_days:
        while duty_day.weekday() not in open_days:
            duty_day += timedelta(days=1)
        index = _open_days_between(rota.start, duty_day, open_days)
    else:
        index = (duty_day - rota.start).days
    return (rota.rotation[index % len(rota.rotation)],)


def assign(
    queue: QueueConfig,
    directory: Directory,
    *,
    day: date,
    number: int,
    open_days: Collection[int],
    routed_group: str = "",
) -> Assignment:
    """Who a new ticket goes to: an agent on duty (in turn by ticket number when several
    are), else nobody, and its group. A routing rule's group takes only its own members.

    >>> q = QueueConfig("info", ("info@*",), "INFO", "es", ("secretaria",),
    ...                 Rota(days=(("ana@x", "luis@x"),) + ((),) * 6))
    >>> assign(q, Directory([]), day=date(2026, 11, 16), number=7, open_days=range(5))
    Assignment(assignee='luis@x', group='secretaria')
    """
    group = routed_group or (queue.groups[0] if queue.groups else None)
    duty = on_duty(queue.rota, day, open_days)
    if routed_group:
        members = {a.address for a in directory.members(routed_group)}
        duty = tuple(a for a in duty if a in members)
    if not duty:
        return Assignment(None, group)
    return Assignment(duty[number % len(duty)], group)


def audience(
    directory: Directory, queue: QueueConfig, assignee: str | None, group: str | None
) -> tuple[AgentConfig, ...]:
    """Who is told about a ticket: its agent, else its group, else the queue's groups, else
    every agent.

    >>> ana = AgentConfig("Ana", ("ana@x",), "es", ("becas",))
    >>> luis = AgentConfig("Luis", ("luis@x",), "es", ("admisiones",))
    >>> q = QueueConfig("info", ("info@*",), "INFO", "es", ("becas",))
    >>> [a.name for a in audience(Directory([ana, luis]), q, None, None)]
    ['Ana']
    """
    agent = directory.agent(assignee) if assignee else None
    if agent is not None:
        return (agent,)
    if group and directory.members(group):
        return directory.members(group)
    serving = tuple(a for a in directory.agents if set(a.groups) & set(queue.groups))
    return serving or directory.agents


def supervisors(
    directory: Directory, queue: QueueConfig, group: str | None, contacts: Sequence[str] = ()
) -> tuple[str, ...]:
    """Who hears of a ticket a supervisor must see (a breach, a low score): ``contacts``
    (its queue's [[escalations]]), else the coordinators among the agents told about it
    (its group, else the queue's groups, else every agent), else those agents.

    One rule for the escalations and the surveys, so a breach reaches whoever a low score
    would; empty only when the desk has neither contacts nor agents.

    >>> ana = AgentConfig("Ana", ("ana@x",), "es", ("becas",))
    >>> jefa = AgentConfig("Jefa", ("jefa@x",), "es", ("becas",), coordinator=True)
    >>> q = QueueConfig("info", ("info@*",), "INFO", "es", ("becas",))
    >>> supervisors(Directory([ana, jefa]), q, None), supervisors(Directory([ana]), q, None)
    (('jefa@x',), ('ana@x',))
    """
    if contacts:
        return tuple(dict.fromkeys(a.lower() for a in contacts))
    told = audience(directory, queue, None, group)
    return tuple(a.address for a in ([a for a in told if a.coordinator] or told))


def _line(command: Command) -> str:
    args = command.args
    if isinstance(args, AssignArgs):
        return f"#{command.name} {args.target}"
    if isinstance(args, CategoryArgs):
        return f"#{command.name} {args.name}"
    if isinstance(args, MergeArgs):
        return f"#{command.name} {args.number}"
    return f"#{command.name}"


def refused(
    commands: Sequence[Command],
    agent: AgentConfig | None,
    directory: Directory,
    *,
    categories: Collection[str],
    ticket: int,
) -> list[CommandError]:
    """Commands this agent may not run on this ticket, each with the reason (None: the CLI).

    >>> ana = AgentConfig("Ana", ("ana@x",), "es")
    >>> refused([Command(CommandName.CANCEL)], ana, Directory([ana]), categories=(), ticket=1)
    [CommandError(line='#cancel', code=<Refusal.COORDINATORS_ONLY: 'coordinators_only'>, values={})]
    """
    errors = []
    for command in commands:
        args = command.args
        line = _line(command)
        if command.name is CommandName.CANCEL and agent is not None and not agent.coordinator:
            errors.append(CommandError(line, Refusal.COORDINATORS_ONLY))
        elif isinstance(args, AssignArgs) and directory.resolve(args.target) is None:
            errors.append(CommandError(line, Refusal.NO_SUCH_TARGET, {"target": args.target}))
        elif isinstance(args, CategoryArgs) and args.name not in categories:
            known = sorted(categories)
            errors.append(
                CommandError(line, Refusal.UNKNOWN_CATEGORY, {"name": args.name, "known": known})
            )
        elif isinstance(args, MergeArgs) and args.number == ticket:
            errors.append(CommandError(line, Refusal.MERGE_ITSELF))
    return errors


_COMMENT = re.compile(r"\([^()]*\)")


def authenticated(
    headers: Sequence[tuple[str, str]], trusted: Collection[str], from_address: str
) -> bool:
    """Whether a trusted ``Authentication-Results`` header (RFC 8601) shows DKIM, SPF or
    DMARC pass for the domain of ``from_address``. A pass for another domain proves nothing
    about this From, so the domain must match (or be a parent or child of it).

    >>> ar = ("authentication-results", "mx.uni.example; dkim=pass header.d=uni.example")
    >>> authenticated([ar], {"mx.uni.example"}, "ana@uni.example")
    True
    >>> authenticated([ar], {"mx.uni.example"}, "ana@other.example")
    False
    """
    domain = from_address.rpartition("@")[2].lower()
    for name, value in headers:
        if name != "authentication-results":
            continue
        while _COMMENT.search(value):
            value = _COMMENT.sub(" ", value)
        first, *results = value.split(";")
        server = first.split()
        if not server or server[0].lower() not in trusted:
            continue
        if any(_passes(result, domain) for result in results):
            return True
    return False


def _passes(result: str, domain: str) -> bool:
    tokens = result.split()
    if not tokens:
        return False
    method, _, outcome = tokens[0].partition("=")
    if outcome.lower() != "pass":
        return False
    props = {}
    for token in tokens[1:]:
        key, _, value = token.partition("=")
        props[key.lower()] = value.strip('"').lower()
    method = method.partition("/")[0].lower()
    if method == "dkim":
        checked = props.get("header.d") or props.get("header.i", "").rpartition("@")[2]
    elif method == "spf":
        checked = props.get("smtp.mailfrom", "").rpartition("@")[2]
    elif method == "dmarc":
        checked = props.get("header.from", "")
    else:
        return False
    return _aligned(checked, domain)


def _aligned(checked: str, domain: str) -> bool:
    if "." not in checked or "." not in domain:
        return False
    return checked == domain or domain.endswith("." + checked) or checked.endswith("." + domain)
