"""strip_reply against the attributions of each client family, language by language.

Each table is one client family (Gmail, Apple Mail, Thunderbird; Outlook's header blocks
are in test_quotes_outlook.py); each case is a reply as that client writes it in one
language (the attribution copied from the client's own output, the names and addresses
ours), and the new text its author wrote. The tables feed
``bench/quotes_history.py`` too.
"""

# ruff: noqa: RUF001
# (Cyrillic, Greek-free: the Russian and Ukrainian client strings are real text, not
# look-alike Latin letters.)

from __future__ import annotations

import pytest

from maildesk.mail.quotes import strip_reply

Case = tuple[str, str, str]

_Q = "\n\n> Hola, necesito el certificado.\n> Gracias.\n"
_OLD = "\n\nHola, necesito el certificado.\nGracias.\n"


GMAIL: list[Case] = [
    ("nl", "Prima.\n\nOp do 19 nov 2026 om 10:02 schreef Ana Pérez <ana@x.edu>:" + _Q, "Prima."),
    (
        "it",
        "Perfetto.\n\nIl giorno gio 19 nov 2026 alle ore 10:02 Ana Pérez <ana@x.edu> ha "
        "scritto:" + _Q,
        "Perfetto.",
    ),
    (
        "ca",
        "D'acord.\n\nEl dj., 19 de nov. 2026, a les 10:02, Ana Pérez (<ana@x.edu>) va "
        "escriure:" + _Q,
        "D'acord.",
    ),
    (
        "pl_wrapped_no_lead",
        "Dziękuję.\n\nczw., 19 lis 2026 o 10:02 Ana Pérez <ana@x.edu>\nnapisał(a):" + _Q,
        "Dziękuję.",
    ),
    (
        "fi",
        "Kiitos.\n\nto 19. marrask. 2026 klo 10.02 Ana Pérez (ana@x.edu) kirjoitti:" + _Q,
        "Kiitos.",
    ),
    (
        "fi_wrapped_in_address",
        "Kiitos.\n\nto 19. marrask. 2026 klo 10.02 Ana Pérez Gonzalez de la Torre (\n"
        "ana@x.edu) kirjoitti:" + _Q,
        "Kiitos.",
    ),
    (
        "da",
        "Tak.\n\nDen tors. 19. nov. 2026 kl. 10.02 skrev Ana Pérez <ana@x.edu>:" + _Q,
        "Tak.",
    ),
    (
        "no_no_lead",
        "Takk.\n\ntor. 19. nov. 2026 kl. 10:02 skrev Ana Pérez <ana@x.edu>:" + _Q,
        "Takk.",
    ),
    (
        "sv",
        "Tack.\n\nDen tors 19 nov. 2026 kl 10:02 skrev Ana Pérez <ana@x.edu>:" + _Q,
        "Tack.",
    ),
    (
        "de",
        "Danke.\n\nAm Do., 19. Nov. 2026 um 10:02 Uhr schrieb Ana Pérez <ana@x.edu>:" + _Q,
        "Danke.",
    ),
    (
        "de_mobile_name_first",
        "Danke.\n\nAna Pérez <ana@x.edu> schrieb am Do., 19. Nov. 2026, 10:02:" + _Q,
        "Danke.",
    ),
    (
        "nl_mobile_name_first",
        "Dank.\n\nAna Pérez <ana@x.edu> schreef op do 19 nov. 2026 10:02:" + _Q,
        "Dank.",
    ),
    (
        "ru_no_verb",
        "Спасибо.\n\nср, 30 апр. 2025 г. в 15:19, Ana Pérez <ana@x.edu>:" + _Q,
        "Спасибо.",
    ),
    (
        "ru_no_verb_wrapped",
        "Спасибо.\n\nчт, 19 нояб. 2026 г. в 10:02, Ana Pérez Gonzalez de la Torre <\n"
        "ana@x.edu>:" + _Q,
        "Спасибо.",
    ),
    ("zh", "谢谢。\n\nAna Pérez <ana@x.edu> 于2026年11月19日周四 10:02写道：" + _Q, "谢谢。"),
    (
        "ko",
        "감사합니다.\n\n2026년 11월 19일 (목) 오전 10:02, Ana Pérez <ana@x.edu>님이 작성:" + _Q,
        "감사합니다.",
    ),
    (
        "ja_no_verb",
        "了解です。\n\n2026年11月19日(木) 10:02 Ana Pérez <ana@x.edu>:" + _Q,
        "了解です。",
    ),
    (
        "fr_mobile",
        "Merci.\n\nLe jeu. 19 nov. 2026, 10:02, Ana Pérez <ana@x.edu> a écrit :" + _Q,
        "Merci.",
    ),
    (
        "pt_mobile",
        "Valeu.\n\nEm qui, 19 de nov de 2026 10:02, Ana Pérez <ana@x.edu> escreveu:" + _Q,
        "Valeu.",
    ),
    (
        "tr",
        "Teşekkürler.\n\nAna Pérez <ana@x.edu>, 19 Kas 2026 Per, 10:02 tarihinde şunu yazdı:" + _Q,
        "Teşekkürler.",
    ),
    (
        "cs",
        "Děkuji.\n\nčt 19. 11. 2026 v 10:02 odesílatel Ana Pérez <ana@x.edu> napsal:" + _Q,
        "Děkuji.",
    ),
    (
        "en_mailto_in_address",
        "Thanks.\n\nOn Thu, Nov 19, 2026 at 10:02 AM Ana Pérez <ana@x.edu<mailto:ana@x.edu>> "
        "wrote:" + _Q,
        "Thanks.",
    ),
    (
        "de_mailto_after_verb",
        "Danke.\n\nAm 19.11.2026 um 10:02 schrieb Ana Pérez <ana@x.edu<mailto:ana@x.edu>>:" + _Q,
        "Danke.",
    ),
    (
        "en_wrapped_three_lines",
        "Fine.\n\nOn Thu, Nov 19, 2026 at 10:02 AM Ana María Pérez González de la\n"
        "Torre y Villalobos del Monte <\nana.maria.perez@registro.x.edu> wrote:" + _Q,
        "Fine.",
    ),
]

APPLE_MAIL: list[Case] = [
    (
        "nl",
        "Dank je.\n\n> Op 19 nov. 2026 om 10:02 heeft Ana Pérez <ana@x.edu> het volgende "
        "geschreven:\n>\n> Hallo\n",
        "Dank je.",
    ),
    (
        "nl_unquoted_attribution",
        "Dank je.\n\nOp 19 nov. 2026 om 10:02 heeft Ana Pérez <ana@x.edu> het volgende "
        "geschreven:" + _Q,
        "Dank je.",
    ),
    (
        "it",
        "Grazie.\n\n> Il giorno 19 nov 2026, alle ore 10:02, Ana Pérez <ana@x.edu> ha "
        "scritto:\n>\n> Ciao\n",
        "Grazie.",
    ),
    (
        "pt",
        "Obrigado.\n\nEm 19 de nov. de 2026, à(s) 10:02, Ana Pérez <ana@x.edu> escreveu:" + _Q,
        "Obrigado.",
    ),
    ("sv_no_lead", "Tack.\n\n19 nov. 2026 kl. 10:02 skrev Ana Pérez <ana@x.edu>:" + _Q, "Tack."),
    ("da", "Tak.\n\nDen 19. nov. 2026 kl. 10.02 skrev Ana Pérez <ana@x.edu>:" + _Q, "Tak."),
    (
        "ru",
        "Спасибо.\n\n19 нояб. 2026 г., в 10:02, Ana Pérez <ana@x.edu> написал(а):" + _Q,
        "Спасибо.",
    ),
    (
        "pl",
        "Dzięki.\n\nWiadomość napisana przez Ana Pérez <ana@x.edu> w dniu 19.11.2026, o godz. "
        "10:02:" + _Q,
        "Dzięki.",
    ),
    ("zh", "好的。\n\n在 2026年11月19日，10:02，Ana Pérez <ana@x.edu> 写道：" + _Q, "好的。"),
    ("ja", "了解。\n\n2026/11/19 10:02、Ana Pérez <ana@x.edu>のメール:" + _Q, "了解。"),
    ("ko", "네.\n\n2026. 11. 19. 오전 10:02, Ana Pérez <ana@x.edu> 작성:" + _Q, "네."),
    ("fr", "Merci.\n\nLe 19 nov. 2026 à 10:02, Ana Pérez <ana@x.edu> a écrit :" + _Q, "Merci."),
    (
        "de_quoted_attribution_touching",
        "Danke\n> Am 19.11.2026 um 10:02 schrieb Ana Pérez <ana@x.edu>:\n>\n> Hallo\n",
        "Danke",
    ),
]

THUNDERBIRD: list[Case] = [
    ("ca", "Perfecte.\n\nEl 19/11/26 a les 10:02, Ana Pérez ha escrit:" + _Q, "Perfecte."),
    ("pl", "Dzięki.\n\nW dniu 19.11.2026 o 10:02, Ana Pérez pisze:" + _Q, "Dzięki."),
    ("pl_napisal", "Dzięki.\n\nW dniu 19.11.2026 o 10:02, Ana Pérez napisał:" + _Q, "Dzięki."),
    ("fi_name_first", "Kiitos.\n\nAna Pérez kirjoitti 19.11.2026 klo 10.02:" + _Q, "Kiitos."),
    ("nl", "Dank.\n\nOp 19-11-2026 om 10:02 schreef Ana Pérez:" + _Q, "Dank."),
    ("it", "Grazie.\n\nIl 19/11/26 10:02, Ana Pérez ha scritto:" + _Q, "Grazie."),
    ("sv", "Tack.\n\nDen 2026-11-19 kl. 10:02, skrev Ana Pérez:" + _Q, "Tack."),
    ("ru", "Спасибо.\n\n19.11.2026 10:02, Ana Pérez пишет:" + _Q, "Спасибо."),
    ("cs", "Díky.\n\nDne 19. 11. 2026 v 10:02 Ana Pérez napsal(a):" + _Q, "Díky."),
    ("da", "Tak.\n\nDen 19-11-2026 kl. 10:02 skrev Ana Pérez:" + _Q, "Tak."),
    (
        "de_original_message",
        "Danke.\n\n-------- Ursprüngliche Nachricht --------\nBetreff: Zeugnis\n"
        "Datum: 19.11.2026 10:02\nVon: Ana\nAn: Hilfe" + _OLD,
        "Danke.",
    ),
    (
        "ru_original_message",
        "Спасибо.\n\n-------- Исходное сообщение --------\nТема: Справка\n"
        "Дата: 19.11.2026 10:02\nОт: Ana\nКому: Поддержка" + _OLD,
        "Спасибо.",
    ),
]

TABLES: dict[str, list[Case]] = {
    "gmail": GMAIL,
    "apple_mail": APPLE_MAIL,
    "thunderbird": THUNDERBIRD,
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(text, expected, id=f"{table}/{name}")
        for table, rows in TABLES.items()
        for name, text, expected in rows
    ],
)
def test_client_attribution(text: str, expected: str) -> None:
    assert strip_reply(text) == expected
