"""What people write back to a survey: a table of real-looking replies, read or not."""

from __future__ import annotations

import pytest

from maildesk.surveys.replies import Answer, parse_reply, parse_score, parse_yes_no

FIVE = range(1, 6)
TEN = range(0, 11)
NO = Answer(solved=False)
YES = Answer(solved=True)

# (lines of the new text of the reply, scale, the answer read from it)
ANSWERS: list[tuple[list[str], range, Answer]] = [
    # plain "not solved" in Spanish, as people write it
    (["No, no está resuelto."], FIVE, NO),
    (["no, no esta resuelto"], FIVE, NO),
    (["NO SE HA RESUELTO"], FIVE, NO),
    (["no se ha resuelto."], FIVE, NO),
    (["No se resolvió"], FIVE, NO),
    (["sigue sin funcionar"], FIVE, NO),
    (["Sigue sin funcionar!!"], FIVE, NO),
    (["Todavía no funciona."], FIVE, NO),
    (["aún no está solucionado"], FIVE, NO),
    (["No me lo han resuelto"], FIVE, NO),
    (["no"], FIVE, NO),
    (["No."], FIVE, NO),
    (["El problema persiste"], FIVE, NO),
    (["No, gracias"], FIVE, NO),
    # ... and in English
    (["not fixed"], FIVE, NO),
    (["Not fixed yet."], FIVE, NO),
    (["still broken"], FIVE, NO),
    (["It's still broken!"], FIVE, NO),
    (["It still doesn't work."], FIVE, NO),
    (["it still doesn\u2019t work"], FIVE, NO),
    (["No, it was not solved"], FIVE, NO),
    (["nope"], FIVE, NO),
    (["The issue persists"], FIVE, NO),
    # a greeting before, a signature after
    (["Hola,", "", "No, no está resuelto.", "", "Saludos,", "Ana Pérez"], FIVE, NO),
    (["Hola Berta, no se resolvió."], FIVE, NO),
    (["Hola no se ha resuelto"], FIVE, NO),
    (["Buenas tardes:", "todavía no funciona", "--", "Ana Pérez", "Alumna de 2º"], FIVE, NO),
    (["Hi,", "", "still broken", "", "Thanks,", "John"], FIVE, NO),
    (["Hello team,", "It still doesn't work.", "Ana"], FIVE, NO),
    # their words after the "no" are the comment
    (
        ["No se resolvió.", "Sigo sin el certificado."],
        FIVE,
        Answer(False, None, "Sigo sin el certificado."),
    ),
    (
        ["Sigo sin acceso al campus virtual."],
        FIVE,
        Answer(False, None, "Sigo sin acceso al campus virtual."),
    ),
    (["No, ¿por qué lo cerraron?"], FIVE, Answer(False, None, "¿por qué lo cerraron?")),
    (["No funciona el correo"], FIVE, Answer(False, None, "No funciona el correo")),
    # yes
    (["sí"], FIVE, YES),
    (["SÍ."], FIVE, YES),
    (["Sí, ya está resuelto. Muchas gracias"], FIVE, YES),
    (["Sí se resolvió"], FIVE, YES),
    (["Resuelto"], FIVE, YES),
    (["Ya funciona, gracias"], FIVE, YES),
    (["Perfecto, gracias"], FIVE, YES),
    (["Yes, it's fixed, thanks!"], FIVE, YES),
    (["it works now"], FIVE, YES),
    (["Resuelto, pero tardaron 3 semanas"], FIVE, Answer(True, None, "pero tardaron 3 semanas")),
    # scores, alone or with a yes or a no
    (["5"], FIVE, Answer(score=5)),
    (["", "  4  ", "bien"], FIVE, Answer(score=4, comment="bien")),
    (["5/5"], FIVE, Answer(score=5)),
    (["4 de 5"], FIVE, Answer(score=4)),
    (["3 - regular"], FIVE, Answer(score=3, comment="regular")),
    (["Nota: 8"], TEN, Answer(score=8)),
    (["Un 9, muy amables"], TEN, Answer(score=9, comment="muy amables")),
    (["10/10"], TEN, Answer(score=10)),
    (["10"], TEN, Answer(score=10)),
    (["0"], TEN, Answer(score=0)),
    (["Sí, 5"], FIVE, Answer(solved=True, score=5)),
    (["no, 2", "tardaron mucho"], FIVE, Answer(False, 2, "tardaron mucho")),
    (["5", "", "Muy amables", "", "Saludos,", "Ana"], FIVE, Answer(score=5, comment="Muy amables")),
]

# Replies that are not an answer: the mail goes on as an ordinary follow-up.
NOT_ANSWERS: list[tuple[list[str], range]] = [
    (["¿Podrían enviarme también el título?"], FIVE),
    (["Hola, tengo otra consulta sobre la matrícula."], FIVE),
    (["Hola,", "¿No se puede renovar en línea?"], FIVE),
    (["No puedo entrar al aula virtual desde ayer"], FIVE),
    (["No sé"], FIVE),
    (["Gracias por todo"], FIVE),
    (["3 días y sigue sin funcionar"], FIVE),
    (["2026 fue un buen año"], FIVE),
    (["4.5"], FIVE),
    (["0"], FIVE),
    (["9"], FIVE),
    (["Sí, no"], FIVE),  # contradicts itself: the agents read it
    (["Could you also send the invoice?"], FIVE),
    (["I have another question about my account"], FIVE),
    ([], FIVE),
    (["", ""], FIVE),
]


@pytest.mark.parametrize(("lines", "scores", "expected"), ANSWERS, ids=lambda v: repr(v)[:50])
def test_an_answer_by_mail(lines: list[str], scores: range, expected: Answer) -> None:
    assert parse_reply(lines, scores, "Ana Pérez") == expected


@pytest.mark.parametrize(("lines", "scores"), NOT_ANSWERS, ids=lambda v: repr(v)[:50])
def test_not_an_answer(lines: list[str], scores: range) -> None:
    assert parse_reply(lines, scores, "Ana Pérez") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sí", True),
        ("Si", True),
        ("yes!", True),
        ("no", False),
        ("No se resolvió", False),
        ("not solved", False),
        ("gracias", None),
        ("", None),
        ("no sé", None),
        ("5", None),
    ],
)
def test_yes_and_no(text: str, expected: bool | None) -> None:
    assert parse_yes_no(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("4", 4), ("1", 1), ("0", None), ("6", None), ("x", None), ("", None), ("-1", None)],
)
def test_a_score_from_the_form(text: str, expected: int | None) -> None:
    assert parse_score(text, FIVE) == expected


def test_a_second_answer_keeps_what_it_leaves_out() -> None:
    first = Answer(solved=False, score=2, comment="falta el sello")
    assert Answer(score=4).merged(first) == Answer(False, 4, "falta el sello", None)
    assert Answer(solved=True, recommend=True).merged(first) == Answer(
        True, 2, "falta el sello", True
    )
