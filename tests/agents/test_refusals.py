"""Every refusal reason, in both languages, from the templates: a Spanish text holds no
English sentence and an English one no Spanish."""

from __future__ import annotations

import re

import pytest

from maildesk.agents.actions import explain
from maildesk.mail.commands import CommandError, Refusal
from maildesk.templates import Templates

# What each code's text names; values chosen to belong to neither language.
VALUES: dict[Refusal, dict[str, object]] = {
    Refusal.UNKNOWN_COMMAND: {"word": "frob"},
    Refusal.CONTROL_CHARACTERS: {"command": "assign"},
    Refusal.SPACE_BEFORE_ARGUMENT: {"command": "priority"},
    Refusal.TAKES_NO_ARGUMENT: {"command": "close"},
    Refusal.NEEDS_ARGUMENT: {"command": "category"},
    Refusal.SINGLE_ARGUMENT: {"command": "assign"},
    Refusal.ASSIGN_TARGET: {},
    Refusal.PRIORITY_VALUE: {},
    Refusal.NAME_FORMAT: {"command": "macro"},
    Refusal.PENDING_DAYS: {},
    Refusal.PENDING_RANGE: {"most": 365},
    Refusal.MERGE_FORMAT: {},
    Refusal.MERGE_POSITIVE: {},
    Refusal.REPEATED: {"command": "note"},
    Refusal.CONTRADICTS: {"command": "close", "earlier": "pending"},
    Refusal.COORDINATORS_ONLY: {},
    Refusal.NO_SUCH_TARGET: {"target": "xq"},
    Refusal.UNKNOWN_CATEGORY: {"name": "xq", "known": ["becas", "xr"]},
    Refusal.MERGE_ITSELF: {},
    Refusal.NO_MACRO: {"name": "xq"},
    Refusal.MACRO_BROKEN: {"name": "xq", "error": "xr"},
    Refusal.NO_TICKET: {"number": 42},
    Refusal.MERGED_ELSEWHERE: {"number": 42, "into": 7},
    Refusal.WRONG_TAG: {"number": 42, "tag": "INFO", "given": "CRM"},
    Refusal.ANONYMOUS_MERGE: {"number": 42, "into": 7},
}
# Words that only one of the two languages writes (commands apart: #cancel, #cancelar).
ENGLISH = {
    "the",
    "is",
    "are",
    "must",
    "only",
    "may",
    "ticket",
    "tickets",
    "cannot",
    "takes",
    "needs",
    "there",
    "was",
    "given",
    "unknown",
    "command",
    "more",
    "than",
    "one",
    "an",
    "of",
    "and",
    "or",
    "be",
    "name",
    "number",
    "no",
    "not",
    "into",
}
SPANISH = {
    "sin",
    "argumento",
    "cabe",
    "el",
    "la",
    "los",
    "las",
    "solo",
    "debe",
    "deben",
    "solicitud",
    "solicitudes",
    "puede",
    "pueden",
    "lleva",
    "hay",
    "ningún",
    "ninguna",
    "se",
    "con",
    "una",
    "un",
    "de",
    "y",
    "o",
    "es",
    "no",
    "nombre",
    "número",
    "entre",
    "falta",
    "categoría",
}
SPANISH_COMMANDS = {
    "nota",
    "cerrar",
    "resolver",
    "pendiente",
    "asignar",
    "cancelar",
    "prioridad",
    "categoria",
    "plantilla",
    "fusionar",
}
ENGLISH_COMMANDS = {
    "note",
    "close",
    "resolve",
    "pending",
    "assign",
    "cancel",
    "priority",
    "category",
    "macro",
    "merge",
}


def words(text: str) -> set[str]:
    """The words of ``text`` outside commands (#...) and quoted values."""
    text = re.sub(r"«[^»]*»|'[^']*'", " ", text)
    return {w.lower() for w in re.findall(r"(?<![#\w])[^\W\d_]+", text)}


def commands(text: str) -> set[str]:
    return set(re.findall(r"#([^\W\d_]+)", text))


def test_every_code_has_values() -> None:
    assert set(VALUES) == set(Refusal)


@pytest.mark.parametrize("code", list(Refusal))
def test_a_refusal_in_spanish_has_no_english(code: Refusal) -> None:
    text = explain(Templates(None, "es"), CommandError("#x", code, VALUES[code]), "es")
    assert text
    assert "\n" not in text
    assert not words(text) & (ENGLISH - SPANISH), text
    assert words(text) & SPANISH, text
    assert not commands(text) & ENGLISH_COMMANDS, text


@pytest.mark.parametrize("code", list(Refusal))
def test_a_refusal_in_english_has_no_spanish(code: Refusal) -> None:
    text = explain(Templates(None, "es"), CommandError("#x", code, VALUES[code]), "en")
    assert text
    assert "\n" not in text
    assert not words(text) & (SPANISH - ENGLISH), text
    assert not commands(text) & SPANISH_COMMANDS, text


def test_an_unknown_code_fails_loudly() -> None:
    error = CommandError("#x", "nonsense", {})  # type: ignore[arg-type]
    with pytest.raises(Exception, match="unknown_refusal_code"):
        explain(Templates(None, "es"), error, "es")
