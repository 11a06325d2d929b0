"""Multipart boundaries found without compiling a regular expression for each one.

The email package's feed parser compiles, for every multipart it meets, the pattern
``(?P<sep>--BOUNDARY)(?P<end>--)?(?P<ws>[ \\t]*)(?P<linesep>\\r\\n|\\r|\\n)?$``. Mail
clients make every boundary unique, so ``re``'s cache never helps and each multipart
message paid for a compilation: 6 % of the daemon's Python time under load. The parser
reads only ``match(line)`` and the ``end`` and ``linesep`` groups of the result, so an
object that tests the boundary as a prefix and matches the fixed rest with one regular
expression compiled once gives it the same answers.

``install`` hands the feed parser a ``re`` that builds those objects for that one
pattern and passes every other call to the real module, so a Python whose parser builds
a different pattern simply gets the real ``re.compile`` again.
"""

from __future__ import annotations

import re
from email import feedparser
from types import ModuleType
from typing import Any

_HEAD = "(?P<sep>"
_TAIL = r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$"
_REST = re.compile(_TAIL[1:])
_ESCAPED = re.compile(r"\\(.)", re.DOTALL)


class BoundaryLine:
    """``re.compile(_HEAD + re.escape(separator) + _TAIL)``, for ``match`` only."""

    __slots__ = ("separator",)

    def __init__(self, separator: str) -> None:
        self.separator = separator

    def match(self, line: str) -> re.Match[str] | None:
        if not line.startswith(self.separator):
            return None
        return _REST.match(line, len(self.separator))


class _FeedParserRe:
    def __getattr__(self, name: str) -> Any:
        return getattr(re, name)

    def compile(self, pattern: Any, flags: int = 0) -> Any:
        if (
            isinstance(pattern, str)
            and not flags
            and pattern.startswith(_HEAD)
            and pattern.endswith(_TAIL)
        ):
            return BoundaryLine(_ESCAPED.sub(r"\1", pattern[len(_HEAD) : -len(_TAIL)]))
        return re.compile(pattern, flags)


def install() -> None:
    """Give ``email.feedparser`` the ``re`` above; calling it again changes nothing."""
    names = vars(feedparser)  # its module globals; typeshed does not list "re" there
    if isinstance(names["re"], ModuleType):
        names["re"] = _FeedParserRe()
