"""Rota, assignment, who is told, what an agent may do, Authentication-Results: tables."""

from __future__ import annotations

from datetime import date

import pytest

from maildesk.agents.directory import (
    Assignment,
    Directory,
    assign,
    audience,
    authenticated,
    marker_in,
    on_duty,
    refused,
    supervisors,
)
from maildesk.config import AgentConfig, QueueConfig
from maildesk.config.desk import Rota
from maildesk.mail.commands import Refusal, parse_commands

ANA = AgentConfig("Ana", ("ana@uni.example", "aperez@uni.example"), "es", ("secretaria",))
LUIS = AgentConfig("Luis", ("luis@uni.example",), "es", ("secretaria", "becas"))
EVA = AgentConfig("Eva", ("eva@uni.example",), "en", ("empresas",), coordinator=True)
DIRECTORY = Directory([ANA, LUIS, EVA])
WEEKDAYS = frozenset(range(5))
MONDAY = date(2026, 11, 16)


def days(**by_day: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    names = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    return tuple(by_day.get(name, ()) for name in names)


ROTATION = Rota(rotation=("ana@x", "luis@x", "eva@x"), start=MONDAY)


@pytest.mark.parametrize(
    ("rota", "day", "open_days", "expected"),
    [
        (Rota(), MONDAY, WEEKDAYS, ()),
        (Rota(days(mon=("ana@x",))), MONDAY, WEEKDAYS, ("ana@x",)),
        (Rota(days(mon=("ana@x",))), date(2026, 11, 17), WEEKDAYS, ()),
        (Rota(days(mon=("ana@x", "luis@x"))), MONDAY, WEEKDAYS, ("ana@x", "luis@x")),
        (ROTATION, MONDAY, WEEKDAYS, ("ana@x",)),
        (ROTATION, date(2026, 11, 17), WEEKDAYS, ("luis@x",)),
        (ROTATION, date(2026, 11, 18), WEEKDAYS, ("eva@x",)),
        (ROTATION, date(2026, 11, 19), WEEKDAYS, ("ana@x",)),
        (ROTATION, date(2026, 11, 20), WEEKDAYS, ("luis@x",)),
        # The weekend belongs to Monday, the next open day: the turn goes on from Friday.
        (ROTATION, date(2026, 11, 21), WEEKDAYS, ("eva@x",)),
        (ROTATION, date(2026, 11, 22), WEEKDAYS, ("eva@x",)),
        (ROTATION, date(2026, 11, 23), WEEKDAYS, ("eva@x",)),
        (ROTATION, date(2026, 11, 24), WEEKDAYS, ("ana@x",)),
        # Before the start date the rotation runs backwards the same way.
        (ROTATION, date(2026, 11, 13), WEEKDAYS, ("eva@x",)),
        # Without working days every calendar day takes a turn.
        (ROTATION, date(2026, 11, 21), frozenset(), ("eva@x",)),
        # Saturday open takes a turn, so Sunday belongs to a later agent on Monday.
        (ROTATION, date(2026, 11, 22), frozenset(range(6)), ("ana@x",)),
        # A weekday rota wins over the rotation on that day.
        (
            Rota(days(tue=("eva@x",)), ("ana@x", "luis@x"), MONDAY),
            date(2026, 11, 17),
            WEEKDAYS,
            ("eva@x",),
        ),
        # A year later the arithmetic holds (52 weeks x 5 days = 260 turns, 260 % 3 = 2).
        (ROTATION, date(2027, 11, 15), WEEKDAYS, ("eva@x",)),
    ],
)
def test_on_duty(
    rota: Rota, day: date, open_days: frozenset[int], expected: tuple[str, ...]
) -> None:
    assert on_duty(rota, day, open_days) == expected


def queue(rota: Rota | None = None, groups: tuple[str, ...] = ("secretaria",)) -> QueueConfig:
    return QueueConfig("info", ("info@*",), "INFO", "es", groups, rota or Rota())


@pytest.mark.parametrize(
    ("q", "number", "routed", "expected"),
    [
        (queue(), 1, "", Assignment(None, "secretaria")),
        (queue(groups=()), 1, "", Assignment(None, None)),
        (
            queue(Rota(days(mon=("ana@uni.example",)))),
            1,
            "",
            Assignment("ana@uni.example", "secretaria"),
        ),
        # Several on duty share new tickets in turn.
        (
            queue(Rota(days(mon=("ana@uni.example", "luis@uni.example")))),
            4,
            "",
            Assignment("ana@uni.example", "secretaria"),
        ),
        (
            queue(Rota(days(mon=("ana@uni.example", "luis@uni.example")))),
            5,
            "",
            Assignment("luis@uni.example", "secretaria"),
        ),
        # A rule's group takes only its members on duty; none on duty: the group.
        (
            queue(Rota(days(mon=("ana@uni.example", "luis@uni.example")))),
            4,
            "becas",
            Assignment("luis@uni.example", "becas"),
        ),
        (queue(Rota(days(mon=("ana@uni.example",)))), 1, "becas", Assignment(None, "becas")),
    ],
)
def test_assign(q: QueueConfig, number: int, routed: str, expected: Assignment) -> None:
    assert (
        assign(q, DIRECTORY, day=MONDAY, number=number, open_days=WEEKDAYS, routed_group=routed)
        == expected
    )


@pytest.mark.parametrize(
    ("groups", "assignee", "group", "expected"),
    [
        (("secretaria",), "luis@uni.example", "secretaria", ["Luis"]),
        (("secretaria",), None, "becas", ["Luis"]),
        (("secretaria",), None, "secretaria", ["Ana", "Luis"]),
        # An assignee no longer configured: the group is told instead.
        (("secretaria",), "gone@uni.example", "empresas", ["Eva"]),
        (("empresas",), None, None, ["Eva"]),
        ((), None, None, ["Ana", "Luis", "Eva"]),
        (("nadie",), None, "vacio", ["Ana", "Luis", "Eva"]),
    ],
)
def test_audience(
    groups: tuple[str, ...], assignee: str | None, group: str | None, expected: list[str]
) -> None:
    found = audience(DIRECTORY, queue(groups=groups), assignee, group)
    assert [a.name for a in found] == expected


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("ana@uni.example", "Ana"),
        ("APEREZ@uni.example", "Ana"),
        ("ana", "Ana"),
        ("aperez", "Ana"),
        ("luis", "Luis"),
        ("becas", "becas"),
        ("Secretaria", "secretaria"),
        ("nadie", None),
        ("nadie@uni.example", None),
    ],
)
def test_resolve(target: str, expected: str | None) -> None:
    found = DIRECTORY.resolve(target)
    assert (found if isinstance(found, str) or found is None else found.name) == expected


def test_resolve_refuses_an_ambiguous_name() -> None:
    twins = Directory(
        [AgentConfig("Ana", ("a1@x.example",), "es"), AgentConfig("Ana", ("a2@x.example",), "es")]
    )
    assert twins.resolve("ana") is None
    assert twins.resolve("a2") is not None


@pytest.mark.parametrize(
    ("text", "agent", "reasons"),
    [
        ("#close\n#priority high", ANA, []),
        ("#cancel", ANA, [(Refusal.COORDINATORS_ONLY, {})]),
        ("#cancel", EVA, []),
        ("#cancel", None, []),  # the command line is a supervisor
        ("#assign becas", ANA, []),
        (
            "#assign nobody",
            ANA,
            [(Refusal.NO_SUCH_TARGET, {"target": "nobody"})],
        ),
        ("#category becas", ANA, []),
        ("#category otra", ANA, [(Refusal.UNKNOWN_CATEGORY, {"name": "otra", "known": ["becas"]})]),
        ("#merge 7", ANA, [(Refusal.MERGE_ITSELF, {})]),
        ("#merge INFO#8", ANA, []),
    ],
)
def test_refused(
    text: str, agent: AgentConfig | None, reasons: list[tuple[Refusal, dict[str, object]]]
) -> None:
    commands = parse_commands(text).commands
    found = refused(commands, agent, DIRECTORY, categories={"becas"}, ticket=7)
    assert [(e.code, e.values) for e in found] == reasons


TRUSTED = {"mx.uni.example"}


@pytest.mark.parametrize(
    ("headers", "sender", "expected"),
    [
        (["mx.uni.example; dkim=pass header.d=uni.example"], "ana@uni.example", True),
        (
            ["mx.uni.example 1; dkim=pass (good signature) header.i=@uni.example"],
            "ana@uni.example",
            True,
        ),
        (["mx.uni.example; spf=pass smtp.mailfrom=ana@uni.example"], "ana@uni.example", True),
        (["mx.uni.example; spf=pass smtp.mailfrom=uni.example"], "ana@uni.example", True),
        (["mx.uni.example; dmarc=pass header.from=uni.example"], "ana@uni.example", True),
        # A parent domain's signature covers a subdomain's sender, and the reverse.
        (["mx.uni.example; dkim=pass header.d=uni.example"], "ana@alumnos.uni.example", True),
        (["mx.uni.example; dkim=pass header.d=mail.uni.example"], "ana@uni.example", True),
        (["MX.UNI.EXAMPLE; DKIM=PASS header.d=UNI.EXAMPLE"], "ana@uni.example", True),
        (
            [
                "mx.uni.example;\r\n\tspf=fail smtp.mailfrom=uni.example;"
                "\r\n\tdkim=pass header.d=uni.example"
            ],
            "ana@uni.example",
            True,
        ),
        # Not trusted, not passing, not this domain, no domain to compare.
        (["evil.example; dkim=pass header.d=uni.example"], "ana@uni.example", False),
        (["mx.uni.example; dkim=fail header.d=uni.example"], "ana@uni.example", False),
        (["mx.uni.example; dkim=pass header.d=evil.example"], "ana@uni.example", False),
        (["mx.uni.example; dkim=pass header.d=notuni.example"], "ana@uni.example", False),
        (["mx.uni.example; dkim=pass"], "ana@uni.example", False),
        (["mx.uni.example; spf=pass smtp.mailfrom=ana@evil.example"], "ana@uni.example", False),
        (["mx.uni.example; none"], "ana@uni.example", False),
        (["mx.uni.example; dkim=pass header.d=example"], "ana@example", False),
        # A comment cannot smuggle a result in.
        (
            ["mx.uni.example; dkim=fail (dkim=pass header.d=uni.example) header.d=uni.example"],
            "ana@uni.example",
            False,
        ),
        ([], "ana@uni.example", False),
        # Any trusted header may carry the pass (one per milter).
        (
            ["mx.uni.example; spf=none", "mx.uni.example; dkim=pass header.d=uni.example"],
            "ana@uni.example",
            True,
        ),
    ],
)
def test_authenticated(headers: list[str], sender: str, expected: bool) -> None:
    pairs = [("received", "from x"), *(("authentication-results", h) for h in headers)]
    assert authenticated(pairs, TRUSTED, sender) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Hola\n##- Escriba su respuesta encima de esta línea -##",
            "##- Escriba su respuesta encima de esta línea -##",
        ),
        (
            "> ##- Type your reply above this line -##\n"
            "> ##- Escriba su respuesta encima de esta línea -##",
            "##- Type your reply above this line -##",
        ),
        ("No marker here", None),
    ],
)
def test_marker_in(text: str, expected: str | None) -> None:
    assert marker_in(text) == expected


# --- who a breach or a low score reaches -------------------------------------------------

_ANA = AgentConfig("Ana", ("ana@x",), "es", ("becas",))
_JEFA = AgentConfig("Jefa", ("jefa@x",), "es", ("becas",), coordinator=True)
_LUIS = AgentConfig("Luis", ("luis@x",), "es", ("admisiones",))
_DIRECTOR = AgentConfig("Director", ("dir@x",), "es", ("admisiones",), coordinator=True)
_BECAS = QueueConfig("info", ("info@*",), "INFO", "es", ("becas",))
_NO_GROUPS = QueueConfig("crm", ("crm@*",), "CRM", "es")


@pytest.mark.parametrize(
    ("agents", "queue", "group", "contacts", "expected"),
    [
        # [[escalations]] contacts come first, whoever the agents are.
        ((_ANA, _JEFA), _BECAS, None, ("Coord@X", "coord@x"), ("coord@x",)),
        # Without them: the coordinators of the queue's groups ...
        ((_ANA, _JEFA, _DIRECTOR), _BECAS, None, (), ("jefa@x",)),
        # ... or of the ticket's own group ...
        ((_ANA, _JEFA, _LUIS, _DIRECTOR), _BECAS, "admisiones", (), ("dir@x",)),
        # ... else its agents when none coordinates.
        ((_ANA, _LUIS), _BECAS, None, (), ("ana@x",)),
        ((_ANA, _LUIS), _BECAS, "admisiones", (), ("luis@x",)),
        # A queue with no groups: the desk's coordinators, else every agent.
        ((_ANA, _JEFA, _LUIS), _NO_GROUPS, None, (), ("jefa@x",)),
        ((_ANA, _LUIS), _NO_GROUPS, None, (), ("ana@x", "luis@x")),
        # Nobody at all: no contacts and no agents.
        ((), _BECAS, None, (), ()),
    ],
)
def test_supervisors(
    agents: tuple[AgentConfig, ...],
    queue: QueueConfig,
    group: str | None,
    contacts: tuple[str, ...],
    expected: tuple[str, ...],
) -> None:
    assert supervisors(Directory(agents), queue, group, contacts) == expected
