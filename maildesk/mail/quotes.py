"""Strip quoted history and signatures from a reply body.

PURE: text in, text out. A reply relayed to the other side of a ticket should carry only
what its author just wrote; the history is already in the ticket.

The cuts, in the order they are looked for:

1. the reply-line marker the notification carried, when the caller passes it;
2. a "hard" cut at the first unquoted line that starts old material: a signature
   separator (``-- ``), an "-----Original Message-----" line, an Outlook header block
   (From/Sent/To/Subject in English, Spanish, Portuguese, French or German, possibly
   under a "_____" line) or an attribution line ("On … wrote:", "El … escribió:" …)
   that is *not* followed by '>' lines;
3. at the end only: a run of '>' lines with the attribution above it, and phone
   footers ("Sent from my iPhone", "Get Outlook for Android" …).

An attribution followed by '>' lines is only dropped, not cut at, because new text may
follow the quote (interleaved or bottom-posted replies); only the trailing quote block
is history. A forwarded message ("---------- Forwarded message ---------", "Begin
forwarded message:") is content the sender means us to read, so nothing after its
marker is stripped. Outlook forwards look exactly like Outlook replies in plain text,
so they are cut like replies.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

__all__ = ["strip_reply"]

# Attributions are wrapped by some clients (Gmail at about 78 columns, Android after an
# address); three lines cover every wrapping seen, and the length cap keeps a paragraph
# that happens to end in "wrote:" from being taken for one.
_ATTRIBUTION_MAX_LINES = 3
_ATTRIBUTION_MAX_CHARS = 400

_LEAD = r"(?:On|El|Em|Le|Am|Op|Il)"
_VERB = (
    r"(?:wrote|escribió|escribio|escreveu|a\s?écrit|schrieb|schreef|ha\s+scritto"
    r"|написал[аи]?|napisał[a]?|skrev|kirjoitti)"
)
# The verb may be followed by more words before the colon: German puts the name after
# it ("Am 19.11.2026 um 10:02 schrieb Ana <ana@x.edu>:").
_ATTRIBUTION_END = re.compile(rf"\b{_VERB}\b[^:]{{0,200}}\s?:$", re.IGNORECASE)
_LEAD_START = re.compile(rf"^{_LEAD}\s")
_OLD_GMAIL = re.compile(r"^\d{4}-\d{2}-\d{2} \d{1,2}:\d{2} GMT[+-]\d{1,2}(?::?\d{2})? .{1,300}:$")
# Prose can end in "wrote:" too ("On Monday I wrote:"); a real attribution carries a
# date, a time or an address.
_DATE_OR_ADDRESS = re.compile(
    r"@|\d{1,2}:\d{2}|\b\d{1,2}[./-]\d{1,2}[./-]\d{2,4}\b|\b(?:19|20)\d{2}\b"
)

_SEPARATOR = re.compile(
    r"^-{2,}\s*(?:original message|mensaje original|mensagem original|message d'origine"
    r"|ursprüngliche nachricht|messaggio originale)\s*-{2,}$",
    re.IGNORECASE,
)
_FORWARD = re.compile(
    r"^(?:-{2,}\s*(?:forwarded message|mensaje reenviado|mensagem encaminhada"
    r"|message transféré|weitergeleitete nachricht)\s*-{2,}"
    r"|begin forwarded message:|inicio del mensaje reenviado:"
    r"|comienzo del mensaje reenviado:)$",
    re.IGNORECASE,
)
_UNDERSCORES = re.compile(r"^_{10,}$")

# Outlook's header block: key -> group, so "Sent" and "Date" count once.
_HEADER_LINE = re.compile(r"^\*?([^\W\d_]+(?: el)?)\s?\*?\s?:", re.IGNORECASE)
_HEADER_GROUPS = {
    "from": "from",
    "de": "from",
    "von": "from",
    "sent": "date",
    "enviado": "date",
    "enviado el": "date",
    "envoyé": "date",
    "gesendet": "date",
    "date": "date",
    "fecha": "date",
    "data": "date",
    "datum": "date",
    "to": "to",
    "para": "to",
    "à": "to",
    "an": "to",
    "cc": "cc",
    "cco": "cc",
    "bcc": "cc",
    "subject": "subject",
    "asunto": "subject",
    "assunto": "subject",
    "objet": "subject",
    "betreff": "subject",
}
_HEADER_WINDOW = 10  # a long "To:" line wraps; ten lines hold any real block

_FOOTER = re.compile(
    r"^(?:sent from my \S.{0,40}|sent from (?:mail|outlook) for .{1,30}"
    r"|get outlook for (?:android|ios)|enviado desde mi \S.{0,40}"
    r"|enviado desde (?:correo|outlook) para .{1,30}"
    r"|(?:obtener|descargar) outlook para (?:android|ios)"
    r"|enviado do meu \S.{0,40}|envoyé de mon \S.{0,40}|von meinem \S.{0,40} gesendet)"
    r"(?:\s*<[^>]*>)?$",
    re.IGNORECASE,
)


def strip_reply(text: str, *, marker: str | None = None) -> str:
    """Return only the new text of a reply: no quoted history, signature or phone footer.

    Line endings become LF and trailing whitespace goes. When nothing would be left
    (the whole message looks quoted), the normalised original is returned instead, so a
    reply is never relayed as empty.

    >>> strip_reply("Gracias.\\r\\n\\r\\nEl lun, 2 abr 2012 a las 18:26, Ana <a@x.es>"
    ...             " escribió:\\r\\n> Hola\\r\\n")
    'Gracias.'
    """
    raw = _normalise(text).split("\n")
    lines = [line.rstrip() for line in raw]

    end = len(lines)
    if marker is not None and marker.strip():
        end = _marker_cut(lines, marker)

    # A forwarded message is content the sender wants read: nothing after it is cut.
    forward = next((i for i in range(end) if _is_forward(lines[i])), end)
    cut = _hard_cut(raw, lines, forward)
    if cut is not None:
        head, tail = lines[:cut], []
    else:
        head, tail = lines[:forward], lines[forward:end]

    kept = _drop_soft_attributions(_trim_end(head))
    if kept and tail:
        kept.append("")  # keep the blank line between the note and the forward
    result = _strip_blank_edges(kept + tail)
    if not result:
        return "\n".join(raw).rstrip()
    return result


def _normalise(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _squash(line: str) -> str:
    # NFC and collapsed whitespace (NBSP included): clients re-encode quoted text.
    return " ".join(unicodedata.normalize("NFC", line).split())


def _is_quoted(line: str) -> bool:
    return line.lstrip().startswith(">")


def _is_blank(line: str) -> bool:
    return not line.strip()


def _is_forward(line: str) -> bool:
    return not _is_quoted(line) and _FORWARD.match(_squash(line)) is not None


def _marker_cut(lines: Sequence[str], marker: str) -> int:
    """Index of the first line holding the marker, moved up over its attribution."""
    wanted = _squash(marker).casefold()
    for i, line in enumerate(lines):
        if wanted in _squash(line).casefold():
            above = _skip_blank_up(lines, i)
            span = _attribution_ending_at(lines, above)
            return above - span + 1 if span else i
    return len(lines)


def _skip_blank_up(lines: Sequence[str], index: int) -> int:
    """Index of the last non-blank line before ``index`` (-1 when there is none)."""
    i = index - 1
    while i >= 0 and _is_blank(lines[i]):
        i -= 1
    return i


def _next_non_blank(lines: Sequence[str], index: int) -> int:
    i = index
    while i < len(lines) and _is_blank(lines[i]):
        i += 1
    return i


def _is_attribution(chunk: Sequence[str]) -> bool:
    if any(_is_blank(line) or _is_quoted(line) for line in chunk):
        return False
    joined = _squash(" ".join(chunk))
    if len(joined) > _ATTRIBUTION_MAX_CHARS or not joined.endswith(":"):
        return False
    if _OLD_GMAIL.match(joined):
        return True
    if _ATTRIBUTION_END.search(joined) is None:
        return False
    if len(chunk) > 1 and not _starts_attribution(chunk[0]):
        # Without this, "Thanks, call me on 555 1234." would be glued to the
        # attribution below it and cut away.
        return False
    if _LEAD_START.match(joined) and any(c.isdigit() for c in joined):
        return True
    return _DATE_OR_ADDRESS.search(joined) is not None


def _starts_attribution(line: str) -> bool:
    first = _squash(line)
    return bool(_LEAD_START.match(first)) or first[:1].isdigit()


def _attribution_at(lines: Sequence[str], i: int) -> int:
    """Number of lines of an attribution starting at ``i``, or 0."""
    for size in range(1, _ATTRIBUTION_MAX_LINES + 1):
        if i + size <= len(lines) and _is_attribution(lines[i : i + size]):
            return size
    return 0


def _attribution_ending_at(lines: Sequence[str], last: int) -> int:
    """Number of lines of an attribution ending at ``last``, or 0 (longest wins)."""
    for size in range(_ATTRIBUTION_MAX_LINES, 0, -1):
        first = last - size + 1
        if first >= 0 and _is_attribution(lines[first : last + 1]):
            return size
    return 0


def _header_block_at(lines: Sequence[str], i: int) -> bool:
    """Whether an Outlook header block (From + two of Sent/To/Cc/Subject) starts at ``i``."""
    if _header_group(lines[i]) != "from":
        return False
    groups: set[str] = set()
    for line in lines[i + 1 : i + 1 + _HEADER_WINDOW]:
        if _is_blank(line) or _is_quoted(line):
            break
        group = _header_group(line)
        if group is not None and group != "from":
            groups.add(group)
    return len(groups) >= 2


def _header_group(line: str) -> str | None:
    match = _HEADER_LINE.match(_squash(line))
    if match is None:
        return None
    return _HEADER_GROUPS.get(" ".join(match.group(1).casefold().split()))


def _hard_cut(raw: Sequence[str], lines: Sequence[str], stop: int) -> int | None:
    """Index of the first unquoted line before ``stop`` where old material starts."""
    for i in range(stop):
        line = lines[i]
        # The separator is "-- " with its space, which ``lines`` no longer has.
        if raw[i] == "-- ":
            return i
        if _is_blank(line) or _is_quoted(line):
            continue
        squashed = _squash(line)
        if _SEPARATOR.match(squashed):
            return i
        if _UNDERSCORES.match(squashed):
            after = _next_non_blank(lines, i + 1)
            if after < len(lines) and _header_block_at(lines, after):
                return i
            continue
        if _header_block_at(lines, i):
            return i
        size = _attribution_at(lines, i)
        if size:
            after = _next_non_blank(lines, i + size)
            # Followed by '>' lines it may be an interleaved reply: handled later.
            if after >= len(lines) or not _is_quoted(lines[after]):
                return i
    return None


def _trim_end(lines: list[str]) -> list[str]:
    """Drop, from the end, quote blocks with their attribution and phone footers."""
    end = len(lines)
    while True:
        last = _skip_blank_up(lines, end)
        if last < 0:
            return []
        if _is_quoted(lines[last]):
            first = last
            while first > 0 and (_is_quoted(lines[first - 1]) or _is_blank(lines[first - 1])):
                first -= 1
            above = _skip_blank_up(lines, first)
            span = _attribution_ending_at(lines, above) if above >= 0 else 0
            end = above - span + 1 if span else first
        elif _FOOTER.match(_squash(lines[last])):
            end = last
        else:
            return lines[: last + 1]


def _drop_soft_attributions(lines: list[str]) -> list[str]:
    """Remove attribution lines that introduce a quote kept for an interleaved reply."""
    kept: list[str] = []
    i = 0
    while i < len(lines):
        size = 0 if _is_quoted(lines[i]) else _attribution_at(lines, i)
        after = _next_non_blank(lines, i + size)
        if size and after < len(lines) and _is_quoted(lines[after]):
            i += size
            continue
        kept.append(lines[i])
        i += 1
    return kept


def _strip_blank_edges(lines: Sequence[str]) -> str:
    start = _next_non_blank(lines, 0)
    return "\n".join(lines[start:]).rstrip()
