"""What a requester's answer to a survey says, read from a reply by mail or from the form.

People answer "¿Se resolvió su solicitud?" in their own words: "No, no está resuelto.",
"sigue sin funcionar", "it still doesn't work", "Sí, 5", often after "Hola," and before
"Saludos, Ana". A reply is read clause by clause from its first words: greetings and
thanks are passed over, then a yes or a no and a score, each at most once, in either
order; whatever follows is the comment. Anything else first (a new question, another
request) is not an answer, and the caller handles the mail as an ordinary follow-up.

Pure: text in, an ``Answer`` out.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Answer:
    solved: bool | None = None
    score: int | None = None
    comment: str = ""
    recommend: bool | None = None

    @property
    def empty(self) -> bool:
        return self.solved is None and self.score is None and not self.comment

    def merged(self, earlier: Answer) -> Answer:
        """This answer over an earlier one: what it leaves out, the earlier one keeps."""
        return Answer(
            self.solved if self.solved is not None else earlier.solved,
            self.score if self.score is not None else earlier.score,
            self.comment or earlier.comment,
            self.recommend if self.recommend is not None else earlier.recommend,
        )


# Clauses are compared in plain form (see ``_plain``): lower case, no accents, one space.
# A word alone answers only when it is the whole clause ("no", but not "no puedo entrar").
_YES_WORDS = r"si|sii+|yes|y|ok|okay|vale|sip|yep|yeah|yup|claro|correcto|perfecto|afirmativo"
_NO_WORDS = r"no+|n|nop|nope|nah|negativo|para nada|not really|tampoco"
_DONE_ES = (
    r"(?:resuelt[oa]s?|solucionad[oa]s?|arreglad[oa]s?|resolvio|soluciono|arreglo"
    r"|resolvieron|solucionaron|arreglaron)"
)
_SUBJECT_EN = r"(?:(?:it|this|that|the (?:problem|issue|error))(?:'s| is| was| has| has been)? )?"
_DONE_EN = r"(?:fixed|solved|resolved|sorted(?: out)?|working)"
# Phrases answer as the start of a clause ("sigo sin acceso al campus"): the person's own
# words then stay in the comment.
_NO_PHRASES = (
    rf"(?:no|aun no|todavia no)(?: me| nos)?(?: lo| la| los| las| se)?"
    rf"(?: (?:esta|estan|fue|fueron|ha|han|ha sido|se ha|quedo|quedaron))?"
    rf"(?: (?:sido|quedado))? (?:{_DONE_ES}|funciona|funcionan|ha funcionado|anda)"
    r"(?: (?:todavia|aun|del todo|completamente|bien))?",
    r"(?:sigue|siguen|sigo|seguimos|continua|continuo) (?:sin (?:funcionar|resolver(?:se)?"
    r"|solucion(?:ar(?:se)?)?|cambios)|sin|igual|fallando|dando error"
    r"|con (?:el|la|los|las) (?:mism[oa]s? )?(?:problemas?|error(?:es)?|falla))",
    r"(?:el|mi) (?:problema|error|fallo) (?:persiste|continua|sigue)",
    r"sin (?:resolver|solucion|solucionar)",
    rf"{_SUBJECT_EN}(?:still )?(?:not|isn't|wasn't|hasn't been|has not been|was not|is not"
    rf"|never) (?:been )?{_DONE_EN}(?: yet| at all)?",
    rf"{_SUBJECT_EN}still (?:broken|failing|not working|the same|happening|there|an issue"
    r"|a problem)",
    r"(?:it |this |that )?(?:still )?(?:doesn't|does not|didn't|did not|won't) work"
    r"(?: yet| still| at all)?",
    r"(?:unsolved|unresolved|nothing (?:has )?changed|(?:the )?(?:problem|issue) (?:persists"
    r"|remains|continues))",
)
_YES_PHRASES = (
    rf"(?:si )?(?:ya )?(?:me |nos )?(?:lo |la |los |las |se )?(?:(?:esta|estan|fue|ha"
    rf"|han|ha sido|se ha|quedo|quedaron) )?(?:quedado )?{_DONE_ES}",
    r"(?:si )?(?:ya )?(?:funciona|funcionan|anda)(?: bien| perfectamente| correctamente)?",
    r"todo (?:bien|correcto|ok|perfecto|resuelto|solucionado|en orden)",
    rf"(?:yes )?{_SUBJECT_EN}(?:all |now )?{_DONE_EN}(?: now)?",
    r"(?:yes )?(?:it |this )?works(?: now| fine| perfectly)?|all (?:good|set|fine)",
)
_COURTESY = re.compile(
    r"(?:muchas |mil )?gracias(?: por (?:todo|su ayuda|la ayuda|su atencion|la atencion))?"
    r"|thanks?(?: you)?(?: (?:so|very) much| a lot)?|thx|ty|saludos|un saludo|cordialmente"
    r"|atentamente|regards|best regards|kind regards|cheers|un abrazo"
)
_GREETING = re.compile(
    r"(?:hola|buenas|buen dia|buenos dias|buenas tardes|buenas noches|estimad[oa]s?"
    r"|hi|hello|hey|dear|good (?:morning|afternoon|evening))"
    # and up to three words of a name or a team ("Hola equipo de soporte"), no digits
    r"(?: [^\W\d_]+){0,3}"
)
# Said before a score ("Nota: 8"), passed over like thanks.
_LABEL = re.compile(r"nota|puntuacion|calificacion|valoracion|score|rating|mark")
_HELLO = (
    r"(?:hola|buenas|buen dia|buenos dias|buenas tardes|buenas noches|estimad[oa]s?"
    r"|hi|hello|hey|dear|good (?:morning|afternoon|evening))"
)
# A greeting keyword, then perhaps a name or a team ("Hola equipo de soporte"), no digits.
_GREETING = re.compile(_HELLO + r"(?: [^\W\d_]+){0,3}")
_SCORE = re.compile(
    r"(?:(?:nota|puntuacion|calificacion|valoracion|score|rating|mark|un|una|a|le doy"
    r"|i give it|i give you) ?)?"
    r"(\d{1,2})(?: ?(?:/|de|of|out of|sobre) ?\d{1,2})?"
    r"(?: (?:puntos|points|estrellas|stars))?"
)
# Clauses end at punctuation, a line break, or a dash between spaces ("3 - regular").
_BREAK = re.compile(r"\s+[-\u2013\u2014]\s+|[,;.!?:\n]")
_NAMEABLE = re.compile(r"[^\W\d_][\w.'-]*(?: [^\W\d_][\w.'-]*){0,3}")
_SIGNATURE_LINES = 4  # a closing ("Saludos,") with at most this many lines after it


def _fold(text: str) -> str:
    """Lower case without accents, one character for one: positions in the folded text
    are positions in the original, so the comment can be cut from what was written."""
    out = []
    for char in text.replace("\u2019", "'"):
        low = char.lower() if len(char.lower()) == 1 else char
        parts = unicodedata.normalize("NFKD", low)
        bare = parts[0] if all(unicodedata.combining(c) for c in parts[1:]) else low
        out.append(bare if len(bare) == 1 else low)
    return "".join(out)


def _plain(folded: str) -> str:
    return " ".join(folded.split()).strip(" \"'*_()[]\u00a1\u00bf")


def _any(patterns: Sequence[str], plain: str, *, prefix: bool) -> bool:
    for pattern in patterns:
        match = re.match(rf"(?:{pattern})(?= |$)", plain)
        if match is not None and (prefix or match.end() == len(plain)):
            return True
    return False


def _verdict(plain: str) -> tuple[bool | None, bool]:
    """(yes/no, whether the clause goes on after it) of one plain clause."""
    for value, words, phrases in (
        (False, _NO_WORDS, _NO_PHRASES),
        (True, _YES_WORDS, _YES_PHRASES),
    ):
        if re.fullmatch(words, plain) or _any(phrases, plain, prefix=False):
            return value, False
    for value, phrases in ((False, _NO_PHRASES), (True, _YES_PHRASES)):
        if _any(phrases, plain, prefix=True):
            return value, True
    return None, False


def parse_yes_no(text: str) -> bool | None:
    """True, False or None (not a plain yes or no).

    >>> parse_yes_no("Sí"), parse_yes_no("No, no está resuelto."), parse_yes_no("gracias")
    (True, False, None)
    """
    answer = parse_reply([text], range(0))
    if answer is None or answer.comment or answer.score is not None:
        return None
    return answer.solved


def parse_score(text: str, scores: range) -> int | None:
    """A score given on a form: an integer on the scale, else None.

    >>> parse_score("4", range(1, 6)), parse_score("9", range(1, 6))
    (4, None)
    """
    text = text.strip()
    if not text.isdigit() or len(text) > 2:
        return None
    value = int(text)
    return value if value in scores else None


def parse_reply(lines: Sequence[str], scores: range, signer: str = "") -> Answer | None:
    """The answer in a reply by mail (its new text, quotes removed), or None when it does
    not start with one. ``signer`` is the sender's display name, dropped as a signature.

    >>> parse_reply(["Hola,", "No, no está resuelto.", "Sigo sin acceso.", "Ana"],
    ...             range(1, 6), "Ana Pérez")
    Answer(solved=False, score=None, comment='Sigo sin acceso.', recommend=None)
    >>> parse_reply(["¿Podrían enviarme también el título?"], range(1, 6)) is None
    True
    """
    text = "\n".join(_unsigned(_ungreeted([line.rstrip() for line in lines]), signer)).strip()
    folded = _fold(text)
    solved: bool | None = None
    score: int | None = None
    stop = len(text)
    for start, end in _clauses(folded):
        plain = _plain(folded[start:end])
        if not plain:
            continue
        if "\u00bf" in folded[start:end] or folded[end : end + 1] == "?":
            stop = start  # a question is never an answer; after one, it is the comment
            break
        verdict, more = _verdict(plain)
        if verdict is not None:
            if solved is not None and solved is not verdict:
                return None  # "sí ... no": unreadable, the agents read it
            solved = verdict
            if more:  # "sigo sin acceso al campus": their words are the comment
                stop = start
                break
            continue
        value = _score(plain, scores)
        if value is not None and re.match(r"[.,]\d", folded[end : end + 2]):
            return None  # "4.5": not on the scale, and not to be read as a 4
        if value is not None and score is None:
            score = value
            continue
        if not (_COURTESY.fullmatch(plain) or _LABEL.fullmatch(plain)):
            stop = start
            break
    if solved is None and score is None:
        return None
    comment = text[stop:].lstrip(" \t\n,;.:-\u2013\u2014").rstrip()
    return Answer(solved=solved, score=score, comment=comment)


def _clauses(folded: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for cut in _BREAK.finditer(folded):
        spans.append((start, cut.start()))
        start = cut.end()
    spans.append((start, len(folded)))
    return spans


def _ungreeted(lines: list[str]) -> list[str]:
    """``lines`` from the first one that is not a greeting, without a greeting keyword
    (and a capitalised name right after it) at its start: "Hola Berta, no se resolvió"."""
    while lines:
        folded = _fold(lines[0])
        plain = " ".join(re.sub(r"[,;.!:]", " ", folded).split())
        hello = re.match(_HELLO + r"\b", plain)
        rest = plain[hello.end() :].strip() if hello else plain
        if plain and not (hello and _GREETING.fullmatch(plain) and _verdict(rest)[0] is None):
            break
        lines = lines[1:]
    if not lines:
        return lines
    first = lines[0]
    hello = re.match(r"\s*" + _HELLO + r"\b", _fold(first))
    if hello is not None:
        first = first[hello.end() :]
        name = re.match(r"((?:\s+[A-Z\u00c0-\u00de][^\W\d_]*){1,3})(?=\s*[,;:.!\n]|$)", first)
        if name is not None and _verdict(_plain(_fold(name.group())))[0] is None:
            first = first[name.end() :]
    return [first.lstrip(" \t,;:.!"), *lines[1:]]


def _score(plain: str, scores: range) -> int | None:
    match = _SCORE.fullmatch(plain)
    if match is None:
        return None
    value = int(match.group(1))
    return value if value in scores else None


def _unsigned(lines: list[str], signer: str) -> list[str]:
    """``lines`` without a signature: from "-- " or from a closing ("Saludos,") followed by
    a name, among the last few lines; and trailing lines that are the signer's name."""
    names = {_plain(_fold(signer)), _plain(_fold(signer.split(" ")[0]))} - {""}
    while lines and (not lines[-1].strip() or _plain(_fold(lines[-1])) in names):
        lines = lines[:-1]
    for index in range(max(1, len(lines) - _SIGNATURE_LINES - 1), len(lines)):
        line = lines[index]
        tail = [x.strip() for x in lines[index + 1 :] if x.strip()]
        if line.rstrip() == "--":  # the signature separator: whatever follows is one
            return lines[:index]
        closing = _COURTESY.fullmatch(_plain(_fold(line)).rstrip(",.!"))
        if closing and all(_NAMEABLE.fullmatch(x) for x in tail):
            return lines[:index]
    return lines
