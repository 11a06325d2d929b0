"""What old material in a reply looks like, client by client and language by language.

PURE: each function judges one line (or a few wrapped lines) and knows nothing of the
message around it; ``quotes.py`` decides where to cut. The tables are written down from
the clients' own output (Outlook, Gmail, Apple Mail, Thunderbird, K-9, Yahoo, Zoho and
phone apps) in the languages the desk meets.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

__all__ = [
    "STRONG",
    "WEAK",
    "attribution_strength",
    "header_group",
    "inline_attribution_start",
    "is_footer",
    "is_forward",
    "is_rule",
    "is_separator",
    "is_strict_footer",
    "is_titled_rule",
    "is_trailer_start",
    "opens_attribution",
    "squash",
]

# An attribution with a time, an address or a numeric date is STRONG: it may cut the
# text below it even when that text is not quoted. One with only a year (or a lead word
# and a number) is WEAK: it is dropped only together with the '>' quote it introduces.
WEAK = 1
STRONG = 2

ATTRIBUTION_MAX_CHARS = 400

# The words that open an attribution: "On", "El", "Em", "Le", "Am", "Op", "Il (giorno)",
# "Den" (Danish, Norwegian, Swedish), "W dniu"/"Dnia" (Polish), "Dne" (Czech).
_LEAD = r"(?:On|El|Em|Le|Am|Op|Il|Den|W dniu|Dnia|Dne|In data)"
_LEAD_START = re.compile(rf"^{_LEAD}\s", re.IGNORECASE)
# Verbs of "wrote" in the clients' languages: English, Spanish, Portuguese, French,
# German, Dutch (Gmail "schreef", Apple "het volgende geschreven"), Italian, Catalan
# (Thunderbird "ha escrit", Gmail "va escriure"), Russian, Polish, Danish/Norwegian/
# Swedish, Finnish, Czech, Turkish, Hungarian.
_WORD_VERBS = (
    r"wrote|writes|escribió|escribio|escreveu|écrit|schrieb|schreef|geschreven"
    r"|scritto|escrit|escriure|написал[аи]?|пишет|napisał[a]?|napisana|pisze|skrev"
    r"|kirjoitti|napsal[a]?|yazd\u0131|írta"
)
# Chinese, Japanese and Korean verbs stick to the name or the time: no word boundary.
_CJK_VERBS = r"写道|寫道|のメッセージ|のメール|작성"
_VERB = rf"(?:(?<!\w)(?:{_WORD_VERBS})(?!\w)|{_CJK_VERBS})"
# After the verb the German and Dutch Gmail put the name and date ("schrieb am Do., 19.
# Nov. 2026, 10:02:"): any text, colons only inside a time.
_VERB_COLON = re.compile(rf"{_VERB}(?:[^:]|:(?=\d))*:$", re.IGNORECASE)
_VERB_BARE = re.compile(rf"{_VERB}[.…]?$", re.IGNORECASE)
# A cheap first look at the end of a line: its last word alone.
_VERB_WORD = re.compile(rf"(?:{_WORD_VERBS})", re.IGNORECASE)
_CJK_VERB_ENDS = tuple(_CJK_VERBS.split("|"))
# Gmail in Russian and Japanese writes no verb: weekday, date, time, "Ana <a@x>:".
_ADDRESS_COLON = re.compile(r"(?:<[^<>\s]+@[^<>\s]+>|\(<?[^()\s]+@[^()\s]+>?\))\s?:$")
_BRACKETED_ADDRESS = re.compile(r"[<(][^<>()\s]+@[^<>()\s]+[>)]")
_OLD_GMAIL = re.compile(r"^\d{4}-\d{2}-\d{2} \d{1,2}:\d{2} GMT[+-]\d{1,2}(?::?\d{2})? .{1,300}:$")
_MAILTO = re.compile(r"[<\[]mailto:[^>\]]*[>\]]", re.IGNORECASE)
_FRAME = re.compile(r"^-{2,}\s*(.*?)\s*-{2,}$")

_TIME = r"(?<!\d)\d{1,2}[:h]\d{2}(?!\d)|\b(?:kl|klo|o)\.?\s\d{1,2}[.:]\d{2}\b"
_NUMERIC_DATE = r"(?<!\d)\d{1,4}[./-]\s?\d{1,2}[./-]\s?\d{1,4}(?!\d)"
_STRONG_EVIDENCE = re.compile(rf"@|{_TIME}|{_NUMERIC_DATE}")
_YEAR = re.compile(r"(?<!\d)(?:19|20)\d{2}(?!\d)")
_SENTENCE_END = re.compile(r"(?:[^\W\d_]{4,}\.|[!?])$")

# Outlook's header block, in every language Outlook writes it: key -> group, so "Sent"
# and "Date" count once. Keys are case-folded, spaces collapsed.
_HEADER_KEYS = {
    "from": "from de von van da fra från od lähettäjä от afzender kimden feladó 发件人 寄件者"
    " 寄件人 差出人 보낸_사람",
    "date": "sent date datum dato data fecha enviado enviado_el enviada_em enviado_em envoyé"
    " gesendet verzonden inviato sendt skickat wysłano wysłane lähetetty päivämäärä"
    " отправлено дата gönderildi tarih elküldve dátum odesláno enviat enviat_el 发送时间"
    " 日期 寄件日期 送信日時 日付 보낸_날짜 날짜",
    "to": "to para à a an aan til till do vastaanottaja кому kime címzett komu per_a 收件人"
    " 收件者 宛先 받는_사람 pour",
    "cc": "cc cco bcc kopie kopi kopia kopio dw копия bilgi másolatot_kap 抄送 副本 참조 a/c"
    " reply-to antwort_an répondre_à responder_a",
    "subject": "subject asunto assunto objet betreff onderwerp oggetto emne ämne temat aihe"
    " тема konu tárgy předmět tema assumpte 主题 主旨 件名 제목 sujet",
}
_HEADER_GROUPS = {
    key.replace("_", " "): group for group, keys in _HEADER_KEYS.items() for key in keys.split()
}
_HEADER_LINE = re.compile(
    r"^\*{0,2}([^\W\d_](?:[^\W\d_]|[-/ ](?=[^\W\d_])){0,24})\s?\*{0,2}\s?[:：]"
)

# "-----Original Message-----" and its translations (Outlook, Thunderbird, Yahoo,
# Samsung, AOL, QQ): a hard cut even without a header block below.
_ORIGINAL = (
    r"original message|reply message|mensaje original|mensagem original|message d'origine"
    r"|message original|ursprüngliche nachricht|messaggio originale|oorspronkelijk bericht"
    r"|origineel bericht|oprindelig meddelelse|oprindelig besked|opprinnelig melding"
    r"|ursprungligt meddelande|alkuperäinen viesti|wiadomość oryginalna"
    r"|oryginalna wiadomość|původní zpráva|исходное сообщение|исходное письмо"
    r"|orijinal ileti|eredeti üzenet|missatge original|原始邮件|原始郵件|元のメッセージ"
    r"|원본 메시지"
)
_SEPARATOR = re.compile(rf"^[-=_*]{{2,}}\s*(?:{_ORIGINAL})\s*[-=_*]{{2,}}$", re.IGNORECASE)
_RULE = re.compile(r"^(?:-{5,}|_{5,}|={5,}|—{3,})$")
_TITLED_RULE = re.compile(r"^[-=]{3,}\s*\S.{0,40}?\s*[-=]{3,}$")

# A forward is content the sender means us to read (Gmail, Thunderbird, Zoho, Apple).
_FORWARDED = (
    r"forwarded message|mensaje reenviado|mensagem encaminhada|message transféré"
    r"|weitergeleitete nachricht|doorgestuurd bericht|messaggio inoltrato"
    r"|videresendt meddelelse|videresendt melding|vidarebefordrat meddelande"
    r"|välitetty viesti|wiadomość przekazana dalej|przekazana wiadomość"
    r"|пересылаемое сообщение|пересланное сообщение|missatge reenviat|přeposlaná zpráva"
    r"|转发的邮件"
)
_APPLE_FORWARD = (
    r"begin forwarded message|inicio del mensaje reenviado|comienzo del mensaje reenviado"
    r"|anfang der weitergeleiteten (?:nachricht|e-mail)|début du message réexpédié"
    r"|inizio messaggio inoltrato|begin doorgestuurd bericht"
    r"|início da mensagem (?:reencaminhada|encaminhada)|vidarebefordrat brev"
    r"|videresendt besked|inici del missatge reenviat"
)
_FORWARD = re.compile(
    rf"^(?:[-=]{{2,}}\s*(?:{_FORWARDED})\s*[-=]{{2,}}|(?:{_APPLE_FORWARD})\s?:)$", re.IGNORECASE
)

# Phone and app footers. The opening phrase, then a device or app by name.
_FOOTER_OPENING = (
    r"sent (?:from|with|via|using|on)|get|download|enviado (?:desde|con|do|via|a partir d[eo])"
    r"|obtener|obtenga|descargar|obtenha|baixe|envoyé (?:de|depuis|avec|à partir d[e'])"
    r"|télécharger|obtenir|von|gesendet (?:von|mit)|hol dir|holen sie sich"
    r"|(?:verzonden|verstuurd) (?:vanaf|met|via|van)|inviato (?:da|dal|con)|scarica|ottieni"
    r"|sendt fra|skickat från|hämta|hent|få|lähetetty|wysłane z|wysłano z|pobierz"
    r"|отправлено (?:\u0441|из)|enviat (?:des de|des del|amb)|发自|从我的|來自"
)
_DEVICE = (
    r"iphone|ipad|ipod|android|ios|samsung|galaxy|phone|smartphone|mobile|móvil|movil"
    r"|celular|teléfono|telefono|tablet|blackberry|outlook|yahoo|mail|gmail|k-9|typeapp"
    r"|bluemail|spark|aquamail|proton|huawei|xiaomi|pixel|device|dispositivo|appareil"
    r"|handy|smartfon|telefon|telefoon|puhelin|mobil|telefonu|телефона|windows"
)
_FOOTER = re.compile(rf"^(?:{_FOOTER_OPENING})\b.{{0,100}}(?:{_DEVICE})", re.IGNORECASE)
# After the last device name only what the clients add: a link, "for Android 10",
# "gesendet", "から送信", an excuse for brevity.
_FOOTER_TAIL = re.compile(
    r"^(?:['\u2019]?\w{0,3})?\s*(?:[<\u2039(][^>\u203a)]*[>\u203a)])?"
    r"(?:\s+(?:for|para|pour|für|voor|per|för|on|en|na|dla|gesendet)(?:\s+\w+(?:\s\d+)?)?)?"
    r"\s*(?:[<\u2039(][^>\u203a)]*[>\u203a)])?(?:から送信|发送|에서 보냄)?[.!]?"
    r"(?:\s+(?:please excuse|por favor|disculp|excusez|bitte entschuldig)[^<>]{0,40})?$",
    re.IGNORECASE,
)
_CJK_FOOTER = re.compile(rf"^(?:{_DEVICE})\s?(?:から送信|에서 보냄)$", re.IGNORECASE)
_DEVICE_WORD = re.compile(rf"(?:{_DEVICE})", re.IGNORECASE)

# Mailing-list footers (Mailman, Google Groups, Sympa) that follow a quote.
_LIST_FOOTER = re.compile(
    r"mailing list|listinfo|you received this message because you are subscribed"
    r"|to unsubscribe|recibiste este mensaje porque|para (?:anular|cancelar) (?:la|tu) suscrip"
    r"|lista de correo|unsubscribe:",
    re.IGNORECASE,
)


def squash(line: str) -> str:
    """NFC and collapsed whitespace (NBSP included): clients re-encode quoted text.

    >>> squash("Le  jeu.\\u00a019 nov.")
    'Le jeu. 19 nov.'
    """
    return " ".join(unicodedata.normalize("NFC", line).split())


def attribution_strength(chunk: Sequence[str]) -> int:
    """0, WEAK or STRONG: how surely these lines are one attribution ("On … wrote:").

    >>> attribution_strength(["Op do 19 nov. 2026 om 10:02 schreef Ana <ana@x.nl>:"])
    2
    """
    if not chunk or any(not line.strip() or line.lstrip().startswith(">") for line in chunk):
        return 0
    # Every form ends in a colon, a verb or Zoho's dashes: most lines go no further.
    last = chunk[-1].rstrip()
    if not last.endswith((":", "：", "-")) and not _ends_with_verb(last):
        return 0
    joined = _MAILTO.sub("", _join(chunk)).replace("：", ":")
    if len(joined) > ATTRIBUTION_MAX_CHARS:
        return 0
    framed = _FRAME.match(joined)
    if framed is not None:  # Zoho: "---- On … wrote ----"
        joined = framed.group(1)
    if len(chunk) > 1 and not _wrapped_start(chunk):
        return 0
    if _OLD_GMAIL.match(joined):
        return STRONG
    strong = _STRONG_EVIDENCE.search(joined) is not None
    if _ADDRESS_COLON.search(joined):
        if _VERB_COLON.search(joined) or re.search(_TIME, joined):
            return STRONG
        return 0
    if _VERB_COLON.search(joined) is None:
        if joined.endswith(":") and _BRACKETED_ADDRESS.search(joined) and re.search(_TIME, joined):
            # A verb we have no table for (Ukrainian "пише", Greek, Arabic …) between
            # an address and a time: enough to drop with the quote below, not to cut.
            return WEAK
        bare = _VERB_BARE.search(joined) is not None
        # Without a colon only a framed line, or a lead word with a time or address,
        # is an attribution: "On Monday I wrote" is prose.
        if not bare or not (framed or (_LEAD_START.match(joined) and strong)):
            return 0
    if strong:
        return STRONG
    if _YEAR.search(joined) or (_LEAD_START.match(joined) and any(c.isdigit() for c in joined)):
        return WEAK
    return 0


def _ends_with_verb(line: str) -> bool:
    word = line.rsplit(None, 1)[-1].rstrip(".…") if line.strip() else ""
    return _VERB_WORD.fullmatch(word) is not None or word.endswith(_CJK_VERB_ENDS)


def _join(chunk: Sequence[str]) -> str:
    # A line broken after "<" or "(" goes on inside the address: no space there.
    text = ""
    for line in chunk:
        part = squash(line)
        text += part if not text or text.endswith(("<", "(")) else " " + part
    return text


def opens_attribution(text: str) -> bool:
    """Whether text can be the first part of an attribution: a lead word, a date, a time.

    >>> opens_attribution("11 would be best"), opens_attribution("19.11.2026 10:02,")
    (False, True)
    """
    text = squash(text)
    return bool(_LEAD_START.match(text) or _STRONG_EVIDENCE.search(text) or _YEAR.search(text))


def _wrapped_start(chunk: Sequence[str]) -> bool:
    """Whether the first of several lines can open a wrapped attribution."""
    first = squash(chunk[0])
    if _SENTENCE_END.search(first):
        return False
    lead = _LEAD_START.match(first) is not None
    if attribution_strength(chunk[1:]):
        # Without this, "Thanks, call me on 555 1234" would be glued to the attribution
        # below it and cut away: an attribution that stands alone starts below, unless
        # the first line was broken inside the name or address ("Ana <" / "ana@x> wrote:")
        # or opens with a lead word above a name ("On Thu, …," / "Ana <a@x> wrote:").
        rest = squash(chunk[1])
        if first.endswith(("<", "(", '"', "[", ",")) and not _LEAD_START.match(rest):
            return True
        return lead and rest[:1].isupper() and not _LEAD_START.match(rest)
    return lead or re.search(r"[\d@<]", first) is not None


def inline_attribution_start(line: str, following: Sequence[str]) -> int | None:
    """Where an attribution begins inside ``line`` after new text, or None.

    ``following`` holds the next lines, for an attribution wrapped over them.

    >>> inline_attribution_start("11 works On Mar 9, 2018 6:35 PM, X <x@y.com> wrote:", [])
    9
    """
    for match in re.finditer(rf"(?<=\S)\s+{_LEAD}\s", line):
        start = match.start() + len(match.group()) - len(match.group().lstrip())
        if len(line) - start > ATTRIBUTION_MAX_CHARS:
            continue  # too long to be one; and a long line must not cost a test per word
        for size in range(len(following) + 1):
            if attribution_strength([line[start:], *following[:size]]) == STRONG:
                return start
    return None


def header_group(line: str) -> str | None:
    """Which Outlook header ("from", "date", "to", "cc", "subject") a line starts, if any.

    >>> header_group("Verzonden: donderdag 19 november 2026 10:02")
    'date'
    """
    match = _HEADER_LINE.match(squash(line))
    if match is None:
        return None
    return _HEADER_GROUPS.get(" ".join(match.group(1).casefold().split()))


def is_separator(line: str) -> bool:
    """Whether the line is an "-----Original Message-----" in some language."""
    return _SEPARATOR.match(squash(line)) is not None


def is_rule(line: str) -> bool:
    """Whether the line is a bare rule of dashes, underscores or equals signs."""
    return _RULE.match(squash(line)) is not None


def is_titled_rule(line: str) -> bool:
    """Whether the line is a title between dashes, as clients put above old headers."""
    return _TITLED_RULE.match(squash(line)) is not None


def is_forward(line: str) -> bool:
    """Whether the line opens a forwarded message."""
    return _FORWARD.match(squash(line)) is not None


def is_footer(line: str) -> bool:
    """Whether the line is a phone or app footer ("Sent from my iPhone" …)."""
    text = squash(line)
    return len(text) <= 140 and (_FOOTER.match(text) is not None or bool(_CJK_FOOTER.match(text)))


def is_strict_footer(line: str) -> bool:
    """A footer with nothing after the device but what clients add: safe to cut below."""
    text = squash(line)
    if _CJK_FOOTER.match(text):
        return True
    if not is_footer(text):
        return False
    last = list(_DEVICE_WORD.finditer(text))[-1]
    return _FOOTER_TAIL.match(text[last.end() :]) is not None


def is_trailer_start(raw: str) -> bool:
    """Whether the line opens a signature, list footer or phone footer."""
    text = squash(raw)
    return (
        raw.rstrip() == "--"
        or is_rule(text)
        or is_footer(text)
        or _LIST_FOOTER.search(text) is not None
    )
