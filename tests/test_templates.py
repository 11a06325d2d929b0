"""Acknowledgement templates: both languages render, site overrides win, requester text is inert."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
import pytest

from maildesk.sla.hours import schedule_rows
from maildesk.templates import Templates

DEFAULT_HOURS = {
    "mon": "08:00-20:00",
    "tue": "08:00-20:00",
    "wed": "08:00-20:00",
    "thu": "08:00-20:00",
    "fri": "08:00-20:00",
    "sat": "",
    "sun": "",
}


def context(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "requester_name": "Ana Pérez & Hijos",
        "ref": "INFO#42",
        "tag": "[INFO#42]",
        "number": 42,
        "subject": "Certificado",
        "organization": "Universidad de Prueba",
        "schedule": schedule_rows(DEFAULT_HOURS),
        "response_hours": 24,
        "timezone": "America/Santo_Domingo",
        "timezone_place": "Santo Domingo",
        "timezone_offset": "UTC-4",
        "controller": "Fundación Prueba, privacidad@uni.example",
        "anonymous": False,
    }
    values.update(overrides)
    return values


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "es",
            [
                "Estimado/a Ana Pérez & Hijos:",
                "número INFO#42",
                "lunes a viernes: 08:00–20:00",
                "24 horas hábiles (hora de Santo Domingo, UTC-4)",
                "Aviso de privacidad",
                "Responsable del tratamiento: Fundación Prueba, privacidad@uni",
                "Universidad de Prueba",
            ],
        ),
        (
            "en",
            [
                "Dear Ana Pérez & Hijos,",
                "number INFO#42",
                "Monday to Friday: 08:00–20:00",
                "24 working hours (Santo Domingo time, UTC-4)",
                "Privacy notice",
                "Data controller: Fundación Prueba, privacidad@uni.example.",
                "Universidad de Prueba",
            ],
        ),
    ],
)
def test_the_acknowledgement_carries_number_name_policy_and_privacy(
    language: str, expected: list[str]
) -> None:
    text = Templates(None, "es").render("ack.txt.j2", language, context())
    for fragment in expected:
        assert fragment in text
    assert "America/Santo_Domingo" not in text  # the raw IANA name is not for requesters


def test_no_name_gets_a_courteous_generic_greeting() -> None:
    assert (
        Templates(None, "es")
        .render("ack.txt.j2", "es", context(requester_name=""))
        .startswith("Estimado/a usuario/a:")
    )


def test_split_shifts_and_saturdays_are_listed() -> None:
    hours = {**DEFAULT_HOURS, "fri": "08:00-13:00,15:00-19:00", "sat": "09:00-12:00"}
    text = Templates(None, "es").render("ack.txt.j2", "es", context(schedule=schedule_rows(hours)))
    assert "lunes a jueves: 08:00–20:00" in text
    assert "viernes: 08:00–13:00, 15:00–19:00" in text
    assert "sábado: 09:00–12:00" in text


def test_requester_text_is_never_evaluated_as_a_template() -> None:
    hostile = "{{ organization }} {% include '/etc/passwd' %}"
    text = Templates(None, "es").render(
        "ack.txt.j2", "es", context(subject=hostile, requester_name=hostile)
    )
    assert hostile in text
    assert text.count("Universidad de Prueba") == 1  # only the signature


def test_a_missing_variable_fails_loudly() -> None:
    values = context()
    del values["ref"]
    with pytest.raises(jinja2.UndefinedError):
        Templates(None, "es").render("ack.txt.j2", "es", values)


def test_a_site_template_overrides_the_packaged_one_and_others_stay_reachable(
    tmp_path: Path,
) -> None:
    (tmp_path / "es").mkdir()
    (tmp_path / "es" / "privacy.txt.j2").write_text(
        "Aviso propio de la universidad.\n", encoding="utf-8"
    )
    text = Templates(tmp_path, "es").render("ack.txt.j2", "es", context())
    assert "Aviso propio de la universidad." in text
    assert "Aviso de privacidad" not in text
    assert "lunes a viernes" in text  # the packaged policy text still applies


def test_a_template_edited_in_place_waits_for_the_reload(tmp_path: Path) -> None:
    # An edit goes out only once reload (SIGHUP) has checked it and built new Templates;
    # a half-written or broken file must not reach requesters before that.
    (tmp_path / "es").mkdir()
    site = tmp_path / "es" / "privacy.txt.j2"
    site.write_text("Aviso uno.\n", encoding="utf-8")
    running = Templates(tmp_path, "es")
    assert "Aviso uno." in running.render("ack.txt.j2", "es", context())
    site.write_text("Aviso dos {% if %}\n", encoding="utf-8")
    assert "Aviso uno." in running.render("ack.txt.j2", "es", context())
    site.write_text("Aviso dos.\n", encoding="utf-8")
    assert "Aviso dos." in Templates(tmp_path, "es").render("ack.txt.j2", "es", context())


def test_an_unknown_language_falls_back_to_the_default() -> None:
    assert "Estimado/a" in Templates(None, "es").render("ack.txt.j2", "fr", context())


def test_check_reports_syntax_errors_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "es").mkdir()
    (tmp_path / "es" / "ack.txt.j2").write_text("Hola\n{% if %}\n", encoding="utf-8")
    problems = Templates(tmp_path, "es").check(["ack.txt.j2"], ["es", "en"])
    assert len(problems) == 1
    assert "ack.txt.j2:2" in problems[0]


@pytest.mark.parametrize(("language", "says"), [("es", "buzón es anónimo"), ("en", "is anonymous")])
def test_an_anonymous_queue_tells_the_sender_what_agents_see(language: str, says: str) -> None:
    templates = Templates(None, "es")
    plain = templates.render("ack.txt.j2", language, context())
    told = templates.render(
        "ack.txt.j2", language, context(anonymous=True, requester_name="Anónimo K7Q2-M4XT")
    )
    assert says not in plain
    assert says in told
    assert told.count("Anónimo K7Q2-M4XT") == 2  # the greeting and the pseudonym named
