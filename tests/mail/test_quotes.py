"""strip_reply: one case per client style, in English and Spanish, plus real replies."""

from __future__ import annotations

import ast
import email
import email.policy
import re
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

import maildesk.mail.quote_markers as quote_markers_module
import maildesk.mail.quotes as quotes_module
from maildesk.mail.quotes import strip_reply
from tests.support.corpus import CORPUS

TALON = CORPUS / "mailgun-talon"
MARKER = "##- Escriba su respuesta encima de esta línea -##"

CASES: list[tuple[str, str, str]] = [
    (
        "gmail_en",
        "Thanks, that works.\n\nOn Thu, Nov 19, 2026 at 10:02 AM Ana Perez <ana@x.edu> wrote:\n"
        "\n> Hi,\n> the form is attached.\n",
        "Thanks, that works.",
    ),
    (
        "gmail_en_wrapped",
        "Thanks.\n\nOn Thu, Nov 19, 2026 at 10:02 AM Ana Perez Gonzalez de la Torre <\n"
        "ana@x.edu> wrote:\n\n> Hi\n",
        "Thanks.",
    ),
    (
        "gmail_es_wrapped",
        "Muchas gracias, ya lo recibí.\n\n"
        "El jue, 19 nov 2026 a las 10:02, Ana Pérez (<ana@x.edu>)\nescribió:\n\n"
        "> Buenos días,\n> adjunto el formulario.\n",
        "Muchas gracias, ya lo recibí.",
    ),
    (
        "gmail_es_one_line",
        "Listo.\n\nEl jue, 19 nov 2026 a las 10:02, Ana Pérez (<ana@x.edu>) escribió:\n> Hola\n",
        "Listo.",
    ),
    (
        "gmail_nested_quotes",
        "Ok.\n\nOn Thu, Nov 19, 2026 at 10:02 AM Ana <ana@x.edu> wrote:\n> Yes\n>\n"
        "> On Wed, Nov 18, 2026 at 9:00 AM Soporte <s@x.edu> wrote:\n>> Question?\n",
        "Ok.",
    ),
    (
        "gmail_old_date_style",
        "Recibido.\n\n2014-04-10 12:00 GMT-05:00 Ana Pérez <ana@x.edu>:\n\n> Hola\n",
        "Recibido.",
    ),
    (
        "outlook_es_desktop",
        "Buenos días, Ana:\n\nSu certificado está listo.\n\nSaludos,\nMesa de ayuda\n\n"
        "De: Ana Pérez <ana@x.edu>\n"
        "Enviado el: jueves, 19 de noviembre de 2026 10:02\n"
        "Para: Soporte <soporte@x.edu>\n"
        "Asunto: [INFO#42] Certificado de notas\n\n"
        "Buenos días, necesito mi certificado.\n",
        "Buenos días, Ana:\n\nSu certificado está listo.\n\nSaludos,\nMesa de ayuda",
    ),
    (
        "outlook_es_web_underscores",
        "Recibido.\n\n________________________________\n"
        "De: Ana Pérez <ana@x.edu>\n"
        "Enviado: jueves, 19 de noviembre de 2026 10:02\n"
        "Para: soporte@x.edu <soporte@x.edu>\n"
        "Asunto: Certificado\n\nHola\n",
        "Recibido.",
    ),
    (
        "outlook_es_mensaje_original",
        "Gracias.\n\n-----Mensaje original-----\nDe: Ana\nEnviado: jueves\nPara: Soporte\n"
        "Asunto: Hola\n\nTexto\n",
        "Gracias.",
    ),
    (
        "outlook_en_original_message",
        "Thanks.\r\n\r\n-----Original Message-----\r\nFrom: Ana <ana@x.edu>\r\n"
        "Sent: Thursday, November 19, 2026 10:02 AM\r\nTo: Support\r\nSubject: Hi\r\n\r\nHi\r\n",
        "Thanks.",
    ),
    (
        "outlook_en_underscores_wrapped_to",
        "Done.\n\n________________________________\nFrom: Ana <ana@x.edu>\n"
        "Sent: Thursday, November 19, 2026 10:02 AM\n"
        "To: Support <support@x.edu>; Registry <registry@x.edu>;\n Admissions <adm@x.edu>\n"
        "Cc: Boss <boss@x.edu>\nSubject: RE: Certificate\n\nHello\n",
        "Done.",
    ),
    (
        "outlook_bold_headers",
        "Fine.\n\n*From:* Ana <ana@x.edu>\n*Sent:* Thursday\n*To:* Support\n*Subject:* Hi\n\nHi\n",
        "Fine.",
    ),
    (
        "outlook_android_footer",
        "Ok\n\nGet Outlook for Android<https://aka.ms/ghei36>\n\n"
        "________________________________\nFrom: Ana\nSent: Thursday\nTo: Support\n"
        "Subject: Hi\n\nHi\n",
        "Ok",
    ),
    (
        "iphone_en",
        "Yes, thanks\n\nSent from my iPhone\n\n"
        "> On Nov 19, 2026, at 10:02, Ana <ana@x.edu> wrote:\n>\n> Hi\n",
        "Yes, thanks",
    ),
    (
        "iphone_es",
        "Sí, gracias\n\nEnviado desde mi iPhone\n\n"
        "> El 19 nov 2026, a las 10:02, Ana Pérez <ana@x.edu> escribió:\n> \n> Hola\n",
        "Sí, gracias",
    ),
    (
        "iphone_attribution_unquoted",
        "Yes\n\nSent from my iPhone\n\nOn Nov 19, 2026, at 10:02 AM, Ana <ana@x.edu> wrote:\n\n"
        "> Hi\n",
        "Yes",
    ),
    (
        "android_phone_es",
        "Voy mañana.\n\nEnviado desde mi teléfono\n\n"
        "El 19/11/2026 10:02, Ana Pérez <ana@x.edu> escribió:\n> Hola\n",
        "Voy mañana.",
    ),
    (
        "thunderbird_en",
        "Fine.\n\nOn 19/11/2026 10:02, Ana Pérez wrote:\n> Hi\n",
        "Fine.",
    ),
    (
        "thunderbird_es",
        "Perfecto.\n\nEl 19/11/26 a las 10:02, Ana Pérez escribió:\n> Hola\n>\n",
        "Perfecto.",
    ),
    (
        "thunderbird_original_message",
        "Ok\n\n-------- Original Message --------\nSubject: Hi\nDate: Thu, 19 Nov 2026\n"
        "From: Ana\nTo: Support\n\nHi\n",
        "Ok",
    ),
    (
        "thunderbird_bottom_post",
        "On 19/11/2026 10:02, Ana wrote:\n> Hi\n\nFine.\n",
        "> Hi\n\nFine.",
    ),
    (
        "interleaved_es",
        "Hola Ana,\n\nEl jue, 19 nov 2026 a las 10:02, Ana <a@x.edu> escribió:\n"
        "> ¿Cuándo abren?\nA las 8.\n> ¿Y cierran?\nA las 20.\n\n> Gracias\n> Ana\n",
        "Hola Ana,\n\n> ¿Cuándo abren?\nA las 8.\n> ¿Y cierran?\nA las 20.",
    ),
    (
        "interleaved_en_signature",
        "> When do you open?\nAt 8.\n\n-- \nJuan\nService desk\n",
        "> When do you open?\nAt 8.",
    ),
    (
        "signature_en",
        "See you.\n-- \nJuan Pérez\nService desk\n\nOn Thu, Nov 19, 2026, Ana <a@x.edu> wrote:\n"
        "> Hi\n",
        "See you.",
    ),
    (
        "signature_needs_its_space",
        "Step one\n--\nStep two\n",
        "Step one\n--\nStep two",
    ),
    (
        "portuguese",
        "Obrigado.\n\nEm qui., 19 de nov. de 2026 às 10:02, Ana <ana@x.edu> escreveu:\n\n> Olá\n",
        "Obrigado.",
    ),
    (
        "french_nbsp",
        "Merci.\n\nLe jeu. 19 nov. 2026 à 10:02, Ana <ana@x.edu> a écrit\u00a0:\n\n> Bonjour\n",
        "Merci.",
    ),
    (
        "german",
        "Danke.\n\nAm 19.11.2026 um 10:02 schrieb Ana Pérez <ana@x.edu>:\n\n> Hallo\n",
        "Danke.",
    ),
    (
        "attribution_without_quote_below",
        "Reply\n\nOn Thu, Nov 19, 2026 at 10:02 AM Ana <ana@x.edu> wrote:\n\nHi (not quoted)\n",
        "Reply",
    ),
    (
        "crlf_and_trailing_space",
        "Hello   \r\n\r\nOn Mon, Apr 2, 2012 at 6:26 PM, Ana <a@x.edu> wrote:\r\n> Hi\r\n",
        "Hello",
    ),
    ("cr_only", "Hello\r\rOn 19/11/2026 10:02, Ana wrote:\r> Hi\r", "Hello"),
    ("nothing_quoted", "\n\nLine 1  \nLine 2\n\n\n", "Line 1\nLine 2"),
    (
        "prose_ending_in_wrote",
        "On Monday I wrote:\nthe report is late.\nPlease check.",
        "On Monday I wrote:\nthe report is late.\nPlease check.",
    ),
    (
        "prose_line_above_attribution",
        "Thanks, call me on 555 1234\nOn 19/11/2026 10:02, Ana <a@x.edu> wrote:\n> Hi\n",
        "Thanks, call me on 555 1234",
    ),
    (
        "de_in_prose_is_not_a_header",
        "De: nada, fue un placer.\nPara: cualquier duda, escriba.\n",
        "De: nada, fue un placer.\nPara: cualquier duda, escriba.",
    ),
    (
        "forwarded_gmail_is_kept",
        "FYI\n\n---------- Forwarded message ---------\nDe: Ana <ana@x.edu>\n"
        "Date: jue, 19 nov 2026\nSubject: Beca\nTo: <b@x.edu>\n\nContenido\n",
        "FYI\n\n---------- Forwarded message ---------\nDe: Ana <ana@x.edu>\n"
        "Date: jue, 19 nov 2026\nSubject: Beca\nTo: <b@x.edu>\n\nContenido",
    ),
    (
        "forwarded_apple_es_is_kept",
        "Mire esto.\n\nInicio del mensaje reenviado:\n\n> De: Ana <ana@x.edu>\n> Asunto: Beca\n",
        "Mire esto.\n\nInicio del mensaje reenviado:\n\n> De: Ana <ana@x.edu>\n> Asunto: Beca",
    ),
    (
        "everything_quoted_returns_original",
        "On 19/11/2026 10:02, Ana wrote:\n> Hi  \n\n",
        "On 19/11/2026 10:02, Ana wrote:\n> Hi",
    ),
    ("only_signature_returns_original", "-- \nJuan\n", "-- \nJuan"),
    (
        "outlook_block_at_top_returns_original",
        "-----Original Message-----\nFrom: Ana\nSent: Thu\nTo: S\nSubject: Hi\n\nHi\n",
        "-----Original Message-----\nFrom: Ana\nSent: Thu\nTo: S\nSubject: Hi\n\nHi",
    ),
    ("empty", "", ""),
    ("whitespace_only", " \r\n\t\n", ""),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_strip_reply(text: str, expected: str) -> None:
    assert strip_reply(text) == expected


MARKER_CASES: list[tuple[str, str, str]] = [
    (
        "quoted_marker_with_attribution",
        "Respuesta aquí.\n\nEl jue, 19 nov 2026 a las 10:02, Soporte <soporte@x.edu> escribió:\n\n"
        f"> {MARKER}\n> Ticket INFO#42\n",
        "Respuesta aquí.",
    ),
    (
        "unquoted_marker_outlook",
        f"Respuesta.\n\n{MARKER}\nSu ticket INFO#42 fue recibido.\n",
        "Respuesta.",
    ),
    (
        "marker_with_nbsp_and_crlf",
        "Listo\r\n\r\n"
        + MARKER.replace(" ", "\u00a0")
        + "\r\nDe: Soporte\r\nEnviado: jueves\r\nPara: Ana\r\nAsunto: x\r\n",
        "Listo",
    ),
    (
        "marker_then_signature_above",
        f"Gracias\n-- \nJuan\n\n{MARKER}\nTexto\n",
        "Gracias",
    ),
    (
        "marker_absent",
        "Hola\n\nOn 19/11/2026 10:02, Ana wrote:\n> Hi\n",
        "Hola",
    ),
    ("only_marker_returns_original", f"{MARKER}\nTexto\n", f"{MARKER}\nTexto"),
]


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in MARKER_CASES], ids=[c[0] for c in MARKER_CASES]
)
def test_strip_reply_with_marker(text: str, expected: str) -> None:
    assert strip_reply(text, marker=MARKER) == expected


def test_blank_marker_is_ignored() -> None:
    assert strip_reply("Hello\nWorld", marker="  ") == "Hello\nWorld"


@given(st.text())
def test_never_raises_never_empty_never_cr(text: str) -> None:
    result = strip_reply(text, marker="##-")
    assert "\r" not in result
    assert result == result.rstrip()
    if text.strip():
        assert result


# --- real replies from many mail clients --------------------------------------------

_QUOTE_HEADER = re.compile(
    r"^(?:>\s*)*(?:.*\b(?:wrote|написал)\s?:\s*$|-+\s*original message\s*-+\s*$"
    r"|(?:from|sent|to|subject|date|cc)\s?:)",
    re.IGNORECASE,
)


def _talon_files() -> list[Path]:
    return sorted(TALON.glob("*.eml"))


def _plain_text(path: Path) -> str:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    part = message.get_body(preferencelist=("plain",))
    assert part is not None, f"{path.name}: no text/plain part"
    assert isinstance(part, email.message.EmailMessage)
    content = part.get_content()
    assert isinstance(content, str)
    return content


# What each reply's author actually wrote. Thunderbird's is a bottom-post: the quote
# above the new text is kept as its context.
CORPUS_EXPECTED = {
    "android.eml": "Hello",
    "aol.eml": "Hello",
    "apple_mail.eml": "Hello",
    "apple_mail_2.eml": "Hello",
    "comcast.eml": "Hello",
    "gmail.eml": "Hello",
    "hotmail.eml": "Hello",
    "iphone.eml": "Hello",
    "outlook.eml": "Hello",
    "sparrow.eml": "Hello",
    "thunderbird.eml": "> Hi\nHello",
    "yahoo.eml": "Hello",
}


@pytest.mark.corpus
def test_corpus_is_present() -> None:
    # Every reply of the corpus is checked below, by name.
    assert [p.name for p in _talon_files()] == sorted(CORPUS_EXPECTED), TALON


@pytest.mark.corpus
@pytest.mark.parametrize("name", sorted(CORPUS_EXPECTED))
def test_corpus_reply(name: str) -> None:
    text = _plain_text(TALON / name)
    result = strip_reply(text)
    assert result
    headers = [line.strip() for line in text.splitlines() if _QUOTE_HEADER.match(line.strip())]
    if headers:
        assert len(result) < len(text)
    kept = {line.strip() for line in result.splitlines()}
    assert not kept.intersection(headers)


@pytest.mark.corpus
@pytest.mark.parametrize(("name", "expected"), sorted(CORPUS_EXPECTED.items()))
def test_corpus_reply_exact(name: str, expected: str) -> None:
    assert strip_reply(_plain_text(TALON / name)) == expected


def _is_sibling(node: ast.ImportFrom) -> bool:
    return node.module == "maildesk.mail" and [a.name for a in node.names] == ["quote_markers"]


@pytest.mark.parametrize("module", [quotes_module, quote_markers_module], ids=lambda m: m.__name__)
def test_module_is_pure(module: ModuleType) -> None:
    # quotes.py may import its pure sibling of recognisers; both import nothing else.
    tree = ast.parse(Path(str(module.__file__)).read_text(encoding="utf-8"))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and not _is_sibling(node)
    }
    assert imported <= {"__future__", "re", "unicodedata", "collections"}
