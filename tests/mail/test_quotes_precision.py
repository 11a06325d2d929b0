"""strip_reply never cuts new text that only looks like old material.

Each case is a reply whose new text holds something a quote recogniser could take for
history: a pasted log line starting with '>', prose that ends in "wrote:", a "De: …" in
a Spanish sentence, a rule line, a forwarded message. Nothing may be cut: the expected
result is the text itself (line endings and trailing blanks normalised). The table feeds
``bench/quotes_history.py`` too.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maildesk.mail.quotes import strip_reply

Case = tuple[str, str]

PRECISION: list[Case] = [
    ("pasted_log_announced", "The build fails with:\n\n> make: *** [all] Error 1\n"),
    ("pasted_log_touching", "This is what I get\n> ERROR 2026-11-19 10:02:11 disk full\n"),
    ("pasted_log_between_text", "The log says\n> permission denied\nWhat should I do?\n"),
    ("on_monday_i_wrote", "On Monday I wrote:\nthe report is late.\nPlease check."),
    ("on_monday_i_wrote_then_paste", "On Monday I wrote:\n> the report is late\n"),
    ("am_montag_schrieb_ich", "Am Montag schrieb ich:\nDer Bericht fehlt noch."),
    ("el_lunes_escribi", "El lunes le escribí:\nque el informe llega tarde.\n"),
    ("de_in_prose", "De: nada, fue un placer.\nPara: cualquier duda, escriba.\n"),
    (
        "de_para_asunto_in_prose",
        "Le reenvío los datos que pidió.\nDe: mi parte, todo listo.\nPara: el lunes.\n"
        "Asunto: resuelto, creo.\n",
    ),
    ("von_an_in_prose", "Von: mir aus gerne.\nAn: den Dienstag dachte ich.\n"),
    ("dashes_as_a_rule", "Part one\n-----\nPart two\n"),
    ("underscores_as_a_rule", "Agenda\n__________\n1. Budget\n2. Dates\n"),
    ("double_dash_alone", "Step one\n--\nStep two\n"),
    (
        "forward_kept_es",
        "Mire esto.\n\n---------- Mensaje reenviado ---------\nDe: Ana <ana@x.edu>\n"
        "Date: jue, 19 nov 2026 a las 10:02\nSubject: Beca\nTo: <b@x.edu>\n\nContenido\n",
    ),
    (
        "forward_kept_apple_de",
        "Zur Info.\n\nAnfang der weitergeleiteten Nachricht:\n\n> Von: Ana <ana@x.edu>\n"
        "> Betreff: Zeugnis\n",
    ),
    (
        "forward_kept_nl",
        "Ter info.\n\n---------- Doorgestuurd bericht ---------\nVan: Ana <ana@x.edu>\n"
        "Date: do 19 nov. 2026 om 10:02\nSubject: x\n\nInhoud\n",
    ),
    ("sent_from_in_prose", "Sent from my laptop, but the attachment is missing.\nCan you check?\n"),
    ("sent_from_office", "Sent from my office yesterday: the invoice.\nDid it arrive?\n"),
    ("enviado_desde_prose", "Enviado desde mi oficina el lunes, no llegó.\n¿Lo revisan?\n"),
    (
        "date_sentence_with_wrote",
        "On 3 May 2026 the auditor wrote:\nthe numbers do not add up.\nPlease review.\n",
    ),
    ("address_in_prose", "Please write to ana@x.edu: she handles certificates.\n"),
    (
        "interleaved_answers",
        "> When do you open?\nAt 8.\n> And on Saturdays?\nClosed.\n",
    ),
    (
        "interleaved_after_long_question",
        "> Could you tell me which day of the week suits you best for the meeting about\n"
        "Tuesday.\n> And the room?\nB12.\n",
    ),
    (
        "lowercase_after_long_quote",
        "> Could you tell me which day of the week suits you best for the meeting\nyes\n> ok\n"
        "sure\n",
    ),
    (
        "prose_with_lead_word_inside",
        "I called the office On Thursday at 10:02 and nobody wrote:\nplease call back.\n",
    ),
    ("list_of_people", "Ana wrote: yes\nJuan wrote: no\n"),
    ("colon_list", "Checklist:\nFrom: Madrid\nTo: Lisbon\nDate: tomorrow\n"),
    ("chinese_prose_with_xiedao", "他在信中写道：我们明天见。\n"),
    ("quote_marks_in_code", "Use this:\n  if a > b:\n      print(a)\n"),
]


@pytest.mark.parametrize("text", [pytest.param(text, id=name) for name, text in PRECISION])
def test_nothing_is_cut(text: str) -> None:
    expected = "\n".join(line.rstrip() for line in text.split("\n")).strip("\n")
    assert strip_reply(text) == expected


_PROSE = st.lists(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzáéñ .,", min_size=1, max_size=60).filter(
        lambda line: line.strip() not in {"", "--"}
    ),
    min_size=1,
    max_size=6,
)


@given(_PROSE)
def test_new_text_survives_the_history_below_it(lines: list[str]) -> None:
    # Lower-case prose without digits or colons can hold no attribution, header or
    # footer: whatever the history below, all of it must come back.
    text = "\n".join(lines) + (
        "\n\nEl jue, 19 nov 2026 a las 10:02, Ana <ana@x.edu> escribió:\n> Hola\n> Ana\n"
    )
    expected = "\n".join(line.rstrip() for line in lines).strip("\n")
    assert strip_reply(text) == expected
