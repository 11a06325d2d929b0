"""strip_reply against Outlook's header blocks, language by language.

Outlook (desktop, web and mobile) and the webmails that copy it (GMX, web.de, AOL)
introduce the old message with a block of headers in the client's language, sometimes
under a rule line or an "-----Original Message-----" line of their own. Each case copies
the client's keys; names and addresses are ours. The table feeds
``bench/quotes_history.py`` too.
"""

# ruff: noqa: RUF001
# (The Russian client strings are real Cyrillic text, not look-alike Latin letters.)

from __future__ import annotations

import pytest

from maildesk.mail.quotes import strip_reply

Case = tuple[str, str, str]

_OLD = "\n\nHola, necesito el certificado.\nGracias.\n"


def _block(*headers: str) -> str:
    return "\n".join(headers) + _OLD


OUTLOOK: list[Case] = [
    (
        "nl",
        "Prima, dank je.\n\n"
        + _block(
            "Van: Ana Pérez <ana@x.edu>",
            "Verzonden: donderdag 19 november 2026 10:02",
            "Aan: Helpdesk <help@x.edu>",
            "Onderwerp: Certificaat",
        ),
        "Prima, dank je.",
    ),
    (
        "it",
        "Va bene, grazie.\n\n"
        + _block(
            "Da: Ana Pérez <ana@x.edu>",
            "Inviato: giovedì 19 novembre 2026 10:02",
            "A: Helpdesk <help@x.edu>",
            "Cc: Registro <reg@x.edu>",
            "Oggetto: Certificato",
        ),
        "Va bene, grazie.",
    ),
    (
        "da",
        "Tak for det.\n\n"
        + _block(
            "Fra: Ana Pérez <ana@x.edu>",
            "Sendt: 19. november 2026 10:02",
            "Til: Helpdesk <help@x.edu>",
            "Emne: Certifikat",
        ),
        "Tak for det.",
    ),
    (
        "no",
        "Takk skal du ha.\n\n"
        + _block(
            "Fra: Ana Pérez <ana@x.edu>",
            "Sendt: torsdag 19. november 2026 10:02",
            "Til: Helpdesk <help@x.edu>",
            "Kopi: Arkiv <arkiv@x.edu>",
            "Emne: Sertifikat",
        ),
        "Takk skal du ha.",
    ),
    (
        "sv",
        "Tack så mycket.\n\n"
        + _block(
            "Från: Ana Pérez <ana@x.edu>",
            "Skickat: den 19 november 2026 10:02",
            "Till: Helpdesk <help@x.edu>",
            "Ämne: Intyg",
        ),
        "Tack så mycket.",
    ),
    (
        "pt_br",
        "Obrigado.\n\n"
        + _block(
            "De: Ana Pérez <ana@x.edu>",
            "Enviada em: quinta-feira, 19 de novembro de 2026 10:02",
            "Para: Suporte <help@x.edu>",
            "Assunto: Certificado",
        ),
        "Obrigado.",
    ),
    (
        "ca",
        "Gràcies.\n\n"
        + _block(
            "De: Ana Pérez <ana@x.edu>",
            "Enviat el: dijous, 19 de novembre de 2026 10:02",
            "Per a: Suport <help@x.edu>",
            "Tema: Certificat",
        ),
        "Gràcies.",
    ),
    (
        "de_gmx_sent_first",
        "Danke.\n\n"
        + _block(
            "Gesendet: Donnerstag, 19. November 2026 um 10:02 Uhr",
            'Von: "Ana Pérez" <ana@x.edu>',
            "An: help@x.edu",
            "Betreff: Zeugnis",
        ),
        "Danke.",
    ),
    (
        "de_datum_kopie",
        "Erledigt.\n\n"
        + _block(
            "Von: Ana Pérez <ana@x.edu>",
            "Datum: 19.11.2026 10:02",
            "An: Helpdesk <help@x.edu>",
            "Kopie: Archiv <archiv@x.edu>",
            "Betreff: Zeugnis",
        ),
        "Erledigt.",
    ),
    (
        "fr_space_before_colon",
        "Merci.\n\n"
        + _block(
            "De : Ana Pérez <ana@x.edu>",
            "Envoyé : jeudi 19 novembre 2026 10:02",
            "À : Support <help@x.edu>",
            "Objet : Certificat",
        ),
        "Merci.",
    ),
    (
        "pl",
        "Dziękuję.\n\n"
        + _block(
            "Od: Ana Pérez <ana@x.edu>",
            "Wysłano: czwartek, 19 listopada 2026 10:02",
            "Do: Pomoc <help@x.edu>",
            "Temat: Zaświadczenie",
        ),
        "Dziękuję.",
    ),
    (
        "fi",
        "Kiitos.\n\n"
        + _block(
            "Lähettäjä: Ana Pérez <ana@x.edu>",
            "Lähetetty: torstai 19. marraskuuta 2026 10.02",
            "Vastaanottaja: Tuki <help@x.edu>",
            "Aihe: Todistus",
        ),
        "Kiitos.",
    ),
    (
        "ru",
        "Спасибо.\n\n"
        + _block(
            "От: Ana Pérez <ana@x.edu>",
            "Отправлено: 19 ноября 2026 г. 10:02",
            "Кому: Поддержка <help@x.edu>",
            "Тема: Справка",
        ),
        "Спасибо.",
    ),
    (
        "zh_fullwidth_colon",
        "谢谢。\n\n"
        + _block(
            "发件人： Ana Pérez <ana@x.edu>",
            "发送时间： 2026年11月19日 10:02",
            "收件人： 支持 <help@x.edu>",
            "主题： 证明",
        ),
        "谢谢。",
    ),
    (
        "ja",
        "ありがとうございます。\n\n"
        + _block(
            "差出人: Ana Pérez <ana@x.edu>",
            "送信日時: 2026年11月19日 10:02",
            "宛先: サポート <help@x.edu>",
            "件名: 証明書",
        ),
        "ありがとうございます。",
    ),
    (
        "ko",
        "감사합니다.\n\n"
        + _block(
            "보낸 사람: Ana Pérez <ana@x.edu>",
            "보낸 날짜: 2026년 11월 19일 목요일 오전 10:02",
            "받는 사람: 지원 <help@x.edu>",
            "제목: 증명서",
        ),
        "감사합니다.",
    ),
    (
        "cs",
        "Děkuji.\n\n"
        + _block(
            "Od: Ana Pérez <ana@x.edu>",
            "Odesláno: čtvrtek 19. listopadu 2026 10:02",
            "Komu: Podpora <help@x.edu>",
            "Předmět: Potvrzení",
        ),
        "Děkuji.",
    ),
    (
        "tr",
        "Teşekkürler.\n\n"
        + _block(
            "Kimden: Ana Pérez <ana@x.edu>",
            "Gönderildi: 19 Kasım 2026 Perşembe 10:02",
            "Kime: Destek <help@x.edu>",
            "Konu: Belge",
        ),
        "Teşekkürler.",
    ),
    (
        "dashes_above_block",
        "Done.\n\n-----\n"
        + _block("From: Ana", "Sent: Thursday", "To: Support", "Subject: Certificate"),
        "Done.",
    ),
    (
        "dashes_above_block_es",
        "Listo.\n\n----------\n"
        + _block("De: Ana", "Enviado: jueves", "Para: Soporte", "Asunto: Certificado"),
        "Listo.",
    ),
    (
        "original_message_nl",
        "Akkoord.\n\n-----Oorspronkelijk bericht-----\n"
        + _block("Van: Ana", "Verzonden: donderdag", "Aan: Helpdesk", "Onderwerp: x"),
        "Akkoord.",
    ),
    (
        "original_message_it",
        "Ok.\n\n-----Messaggio originale-----\n"
        + _block("Da: Ana", "Inviato: giovedì", "A: Helpdesk", "Oggetto: x"),
        "Ok.",
    ),
    (
        "original_message_unknown_language",
        "OK.\n\n-----Alkuperäinen viesti-----\n"
        + _block("Lähettäjä: Ana", "Lähetetty: torstai", "Vastaanottaja: Tuki", "Aihe: x"),
        "OK.",
    ),
    (
        "mailto_in_from",
        "Noted.\n\n"
        + _block(
            "From: Ana Pérez [mailto:ana@x.edu]",
            "Sent: Thursday, November 19, 2026 10:02 AM",
            "To: Support",
            "Subject: RE: Certificate",
        ),
        "Noted.",
    ),
]


@pytest.mark.parametrize(("text", "expected"), [pytest.param(t, e, id=n) for n, t, e in OUTLOOK])
def test_outlook(text: str, expected: str) -> None:
    assert strip_reply(text) == expected
