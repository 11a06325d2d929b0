"""Routing rules and same-matter detection: tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from maildesk.agents.routing import Routing, matter, normalise, route, same_matter
from maildesk.config.desk import RouteConfig

RULES = [
    RouteConfig(recipients=("becas@*",), category="becas", group="becas"),
    RouteConfig(sender_domains=("embajada.example",), segment="vip", priority="high"),
    RouteConfig(subject_keywords=("certificado de notas", "certificados"), category="certificados"),
    RouteConfig(body_keywords=("urgente",), priority="urgent"),
    RouteConfig(queue="crm", group="empresas"),
    RouteConfig(
        queue="info",
        sender_domains=("uni.example",),
        subject_keywords=("wifi",),
        group="soporte-ti",
    ),
]


@pytest.mark.parametrize(
    ("queue", "recipients", "sender", "subject", "body", "expected"),
    [
        ("info", ["info@uni.example"], "ana@gmail.example", "Hola", "", Routing()),
        ("info", ["becas@uni.example"], "ana@gmail.example", "Hola", "", Routing("becas", "becas")),
        (
            "info",
            ["BECAS@otra.example"],
            "ana@gmail.example",
            "Hola",
            "",
            Routing("becas", "becas"),
        ),
        # A subdomain of a listed domain; a lookalike is not one.
        (
            "info",
            ["info@uni.example"],
            "c@madrid.embajada.example",
            "Hola",
            "",
            Routing(segment="vip", priority="high"),
        ),
        ("info", ["info@uni.example"], "c@falsaembajada.example", "Hola", "", Routing()),
        # Keywords: case, accents and punctuation do not matter; words must be whole.
        (
            "info",
            ["info@uni.example"],
            "a@x.example",
            "RE: CERTIFICADO de notas!",
            "",
            Routing(category="certificados"),
        ),
        (
            "info",
            ["info@uni.example"],
            "a@x.example",
            "Certificados",
            "",
            Routing(category="certificados"),
        ),
        ("info", ["info@uni.example"], "a@x.example", "Certificado", "", Routing()),
        (
            "info",
            ["info@uni.example"],
            "a@x.example",
            "Hola",
            "Es URGENTE, gracias",
            Routing(priority="urgent"),
        ),
        ("info", ["info@uni.example"], "a@x.example", "Hola", "No es urgentemente", Routing()),
        # The first rule that sets a field wins; later rules still fill the others.
        (
            "info",
            ["becas@uni.example"],
            "c@embajada.example",
            "Hola",
            "urgente",
            Routing("becas", "becas", "high", "vip"),
        ),
        # A rule limited to a queue; all its criteria must match.
        ("crm", ["crm@uni.example"], "a@x.example", "Hola", "", Routing(group="empresas")),
        (
            "info",
            ["info@uni.example"],
            "a@uni.example",
            "El WiFi no va",
            "",
            Routing(group="soporte-ti"),
        ),
        ("info", ["info@uni.example"], "a@x.example", "El WiFi no va", "", Routing()),
        (
            "crm",
            ["crm@uni.example"],
            "a@uni.example",
            "El WiFi no va",
            "",
            Routing(group="empresas"),
        ),
    ],
)
def test_route(
    queue: str, recipients: list[str], sender: str, subject: str, body: str, expected: Routing
) -> None:
    found = route(
        RULES, queue=queue, recipients=recipients, sender=sender, subject=subject, body=body
    )
    assert found == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Matrícula 2027", "matricula 2027"),
        ("  ÑANDÚ   straße ", "nandu strasse"),
        ("¿Beca?—¡sí!", "beca si"),
        ("", ""),
    ],
)
def test_normalise(text: str, expected: str) -> None:
    assert normalise(text) == expected


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ("Certificado de notas", "RE: certificado  de NOTAS", True),
        ("Certificado de notas", "[INFO#4] Certificado de notas", True),
        ("Certificado de notas", "Fwd: Certificado de notas.", True),
        ("Matrícula", "matricula", True),
        ("Certificado de notas", "Certificado de matrícula", False),
    ],
)
def test_matter(first: str, second: str, same: bool) -> None:
    assert (matter(first, {"INFO"}) == matter(second, {"INFO"})) is same


NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("candidates", "subject", "expected"),
    [
        ([], "beca", None),
        ([(1, "beca", NOW)], "beca", 1),
        ([(1, "beca", NOW)], "horario", None),
        ([(1, "beca", NOW - timedelta(hours=73))], "beca", None),
        ([(1, "beca", NOW - timedelta(hours=72))], "beca", 1),
        ([(1, "beca", NOW - timedelta(hours=1)), (2, "beca", NOW)], "beca", 2),
        ([(1, "", NOW)], "", None),
    ],
)
def test_same_matter(
    candidates: list[tuple[int, str, datetime]], subject: str, expected: int | None
) -> None:
    assert same_matter(candidates, subject, NOW - timedelta(hours=72)) == expected
