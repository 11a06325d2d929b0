"""Strip quoted history and signatures from a reply body.

PURE: text in, text out. A reply relayed to the other side of a ticket should carry only
what its author just wrote; the history is already in the ticket. What old material looks
like, client by client and language by language, is in ``quote_markers.py``.

The cuts, in the order they are looked for:

1. the reply-line marker the notification carried, when the caller passes it;
2. a "hard" cut at the first unquoted line that starts old material: a signature
   separator (``-- ``), an "-----Original Message-----" line in any language, an Outlook
   header block (From/Sent/To/Subject in the client's language, possibly under a rule
   line), a phone footer ("Sent from my iPhone") with nothing of ours below it, or an
   attribution line ("On … wrote:", "El … escribió:", "Op … schreef …:" …) that is
   *not* followed by '>' lines;
3. at the end only: a run of '>' lines with the attribution above it, and what clients
   and lists put after it: signatures, list footers, phone footers.

An attribution written on the same line as the new text ("11 works On Mar 9, 2018 …
wrote:") is split from it first. Quoted lines that a client wrapped without a '>' count
as quoted.

An attribution followed by '>' lines is only dropped, not cut at, because new text may
follow the quote (interleaved or bottom-posted replies); only the trailing quote block
is history. A trailing '>' block with nothing to say it is history (no attribution, and
the text above introduces it with a colon or touches it) is a pasted log and is kept. A
forwarded message ("---------- Forwarded message ---------", "Begin forwarded message:")
is content the sender means us to read, so nothing after its marker is stripped. Outlook
forwards look exactly like Outlook replies in plain text, so they are cut like replies.
"""

from __future__ import annotations

from collections.abc import Sequence

from maildesk.mail import quote_markers as m

__all__ = ["strip_reply"]

# Attributions are wrapped by some clients (Gmail at about 78 columns, Android after an
# address); three lines cover every wrapping seen.
_ATTRIBUTION_MAX_LINES = 3
_HEADER_WINDOW = 10  # a long "To:" line wraps; ten lines hold any real block
_TRAILER_MAX_LINES = 20  # a signature or a list footer after the quote, never a letter
# A quoted line that a client wrapped again leaves its last words on a line of their
# own; only a line that was long enough to be wrapped can have done so.
_WRAP_MIN = 60
_WRAP_WIDTH = 72


def strip_reply(text: str, *, marker: str | None = None) -> str:
    """Return only the new text of a reply: no quoted history, signature or phone footer.

    Line endings become LF and trailing whitespace goes. When nothing would be left
    (the whole message looks quoted), the normalised original is returned instead, so a
    reply is never relayed as empty.

    >>> strip_reply("Gracias.\\r\\n\\r\\nEl lun, 2 abr 2012 a las 18:26, Ana <a@x.es>"
    ...             " escribió:\\r\\n> Hola\\r\\n")
    'Gracias.'
    """
    original = text.replace("\r\n", "\n").replace("\r", "\n")
    raw = _split_inline_attributions(original.split("\n"))
    lines = [line.rstrip() for line in raw]
    quoted = _quoted_flags(lines)

    end = len(lines)
    if marker is not None and marker.strip():
        end = _marker_cut(lines, marker)

    # A forwarded message is content the sender wants read: nothing after it is cut.
    forward = next((i for i in range(end) if not quoted[i] and m.is_forward(lines[i])), end)
    cut = _hard_cut(raw, lines, quoted, forward)
    if cut is not None:
        head, tail = lines[:cut], []
    else:
        head, tail = lines[:forward], lines[forward:end]

    kept = _drop_soft_attributions(_trim_end(raw[: len(head)], head, quoted), quoted)
    if kept and tail:
        kept.append("")  # keep the blank line between the note and the forward
    result = _strip_blank_edges(kept + tail)
    if not result:
        return original.rstrip()
    return result


def _is_blank(line: str) -> bool:
    return not line.strip()


def _quoted_flags(lines: Sequence[str]) -> list[bool]:
    """Which lines are quoted: '>' lines, and quoted lines a client wrapped again."""
    quoted = [line.lstrip().startswith(">") for line in lines]
    for i in range(1, len(lines) - 1):
        if not quoted[i] and quoted[i - 1] and quoted[i + 1]:
            quoted[i] = _is_wrapped_tail(lines[i - 1], lines[i])
    return quoted


def _is_wrapped_tail(above: str, line: str) -> bool:
    """Whether ``line`` holds the words a client moved off the quoted line ``above``."""
    words = line.split()
    if not words or len(above) < _WRAP_MIN or above.rstrip()[-1:] in ".!?:;":
        return False
    # The first word would not have fitted on the line above, and it goes on the
    # sentence: an interleaved answer starts a sentence of its own.
    return len(above) + 1 + len(words[0]) > _WRAP_WIDTH and not words[0][0].isupper()


def _split_inline_attributions(raw: list[str]) -> list[str]:
    """Put an attribution written after new text on the same line onto a line of its own."""
    result: list[str] = []
    for i, line in enumerate(raw):
        start = None
        if not line.lstrip().startswith(">"):
            start = m.inline_attribution_start(line, raw[i + 1 : i + _ATTRIBUTION_MAX_LINES])
        # "On Thu, 19 Nov 2026, El Greco <e@x> wrote:" is one attribution, not two parts.
        if (
            start is not None
            and not m.opens_attribution(line[:start])
            and not _in_attribution(raw, i)
            and _introduces_quote_or_names(raw, i, line[start:])
        ):
            result += [line[:start].rstrip(), line[start:]]
        else:
            result.append(line)
    return result


def _in_attribution(raw: Sequence[str], i: int) -> bool:
    """Whether line ``i`` goes on with an attribution begun above (then it is not split)."""
    for first in range(max(0, i - _ATTRIBUTION_MAX_LINES + 1), i):
        for size in range(i - first + 1, _ATTRIBUTION_MAX_LINES + 1):
            if m.attribution_strength(raw[first : first + size]):
                return True
    return False


def _introduces_quote_or_names(raw: Sequence[str], i: int, attribution: str) -> bool:
    # Splitting prose in two needs more than a date: an address, or a quote below.
    if "@" in attribution:
        return True
    after = _next_non_blank(raw, i + 1)
    return after < len(raw) and raw[after].lstrip().startswith(">")


def _marker_cut(lines: Sequence[str], marker: str) -> int:
    """Index of the first line holding the marker, moved up over its attribution."""
    wanted = m.squash(marker).casefold()
    for i, line in enumerate(lines):
        if wanted in m.squash(line).casefold():
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


def _attribution_at(lines: Sequence[str], i: int, strength: int = m.WEAK) -> int:
    """Number of lines of an attribution starting at ``i``, or 0."""
    for size in range(1, _ATTRIBUTION_MAX_LINES + 1):
        if i + size <= len(lines) and m.attribution_strength(lines[i : i + size]) >= strength:
            return size
    return 0


def _attribution_ending_at(lines: Sequence[str], last: int) -> int:
    """Number of lines of an attribution ending at ``last``, or 0 (longest wins)."""
    for size in range(_ATTRIBUTION_MAX_LINES, 0, -1):
        first = last - size + 1
        if first >= 0 and m.attribution_strength(lines[first : last + 1]):
            return size
    return 0


def _header_block_at(lines: Sequence[str], i: int, *, ruled: bool = False) -> bool:
    """Whether an Outlook header block (From and two of Sent/To/Cc/Subject) starts at ``i``.

    Under a rule line the block is certain; alone it must also hold a digit or an
    address, so that "De: …", "Para: …", "Asunto: …" written as prose is kept.
    """
    if m.header_group(lines[i]) is None:
        return False
    groups: set[str] = set()
    block: list[str] = []
    for line in lines[i : i + _HEADER_WINDOW]:
        if _is_blank(line) or line.lstrip().startswith(">"):
            break
        block.append(line)
        group = m.header_group(line)
        if group is not None:
            groups.add(group)
    if "from" not in groups or len(groups) < 3:
        return False
    return ruled or any(c.isdigit() or c == "@" for c in "".join(block))


def _after_rule(lines: Sequence[str], i: int) -> bool:
    """Whether a header block or an attribution follows the rule line at ``i``."""
    after = _next_non_blank(lines, i + 1)
    return after < len(lines) and (
        _header_block_at(lines, after, ruled=True) or _attribution_at(lines, after) > 0
    )


def _hard_cut(
    raw: Sequence[str], lines: Sequence[str], quoted: Sequence[bool], stop: int
) -> int | None:
    """Index of the first unquoted line before ``stop`` where old material starts."""
    for i in range(stop):
        line = lines[i]
        # The separator is "-- " with its space, which ``lines`` no longer has.
        if raw[i] == "-- ":
            return i
        if _is_blank(line) or quoted[i]:
            continue
        if m.is_separator(line):
            return i
        if m.is_rule(line) or m.is_titled_rule(line):
            if _after_rule(lines, i):
                return i
            continue
        if _header_block_at(lines, i):
            return i
        if m.is_strict_footer(line) and not _bottom_post_below(lines, quoted, i):
            return i
        size = _attribution_at(lines, i, m.STRONG)
        if size:
            after = _next_non_blank(lines, i + size)
            # Followed by '>' lines it may be an interleaved reply: handled later.
            if after >= len(lines) or not quoted[after]:
                return i
    return None


def _bottom_post_below(lines: Sequence[str], quoted: Sequence[bool], i: int) -> bool:
    """Whether new text follows a '>' quote below line ``i`` (a phone bottom-post)."""
    seen_quote = False
    for j in range(i + 1, len(lines)):
        if quoted[j]:
            seen_quote = True
        elif seen_quote and not _is_blank(lines[j]) and not m.is_footer(lines[j]):
            return True
    return False


def _trim_end(raw: Sequence[str], lines: list[str], quoted: Sequence[bool]) -> list[str]:
    """Drop, from the end, quote blocks with their attribution, footers and trailers."""
    end = len(lines)
    while True:
        last = _skip_blank_up(lines, end)
        if last < 0:
            return []
        if quoted[last]:
            first = last
            while first > 0 and (quoted[first - 1] or _is_blank(lines[first - 1])):
                first -= 1
            above = _skip_blank_up(lines, first)
            span = _attribution_ending_at(lines, above) if above >= 0 else 0
            if span:
                end = above - span + 1
            elif _pasted(lines, above, first):
                return lines[: last + 1]
            else:
                end = first
        elif m.is_footer(lines[last]):
            end = last
        else:
            trailer = _trailer_start(raw, lines, quoted, last)
            if trailer is None:
                return lines[: last + 1]
            end = trailer


def _pasted(lines: Sequence[str], above: int, first: int) -> bool:
    """Whether a trailing '>' block without attribution is part of the new text.

    A quote of old mail starts with its own attribution or header (Apple Mail, Hotmail),
    or stands apart; a pasted log line is announced ("It fails with:") or touches the
    sentence above it.
    """
    start = _next_non_blank(lines, first)
    inner = lines[start].lstrip().lstrip(">").strip()
    if m.attribution_strength([inner]) or m.header_group(inner) is not None:
        return False
    if above < 0:
        return False
    return lines[above].endswith((":", "：")) or start == above + 1


def _trailer_start(
    raw: Sequence[str], lines: Sequence[str], quoted: Sequence[bool], last: int
) -> int | None:
    """Start of a signature or list footer that follows the last quote, or None."""
    i = last
    while i >= 0 and not quoted[i]:
        i -= 1
    if i < 0 or last - i > _TRAILER_MAX_LINES:
        return None
    start = _next_non_blank(lines, i + 1)
    return start if m.is_trailer_start(raw[start]) else None


def _drop_soft_attributions(lines: list[str], quoted: Sequence[bool]) -> list[str]:
    """Remove attribution lines that introduce a quote kept for an interleaved reply."""
    # quote_next[j]: the first non-blank line from j on is quoted. Only a line with a
    # quote within reach below is tried as an attribution (a long letter stays cheap).
    quote_next = [False] * (len(lines) + 1)
    for j in range(len(lines) - 1, -1, -1):
        quote_next[j] = quote_next[j + 1] if _is_blank(lines[j]) else quoted[j]
    kept: list[str] = []
    i = 0
    while i < len(lines):
        reach = quote_next[i + 1 : i + 1 + _ATTRIBUTION_MAX_LINES]
        size = 0 if quoted[i] or not any(reach) else _attribution_at(lines, i, m.STRONG)
        if size and quote_next[i + size]:
            i += size
            continue
        kept.append(lines[i])
        i += 1
    return kept


def _strip_blank_edges(lines: Sequence[str]) -> str:
    start = _next_non_blank(lines, 0)
    return "\n".join(lines[start:]).rstrip()
