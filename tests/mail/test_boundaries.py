"""Multipart boundaries: the feed parser gets the same answers without a regex each."""

from __future__ import annotations

import email
import random
import re
from email import feedparser

import pytest

from maildesk.mail import boundaries
from tests.support.corpus import CORPUS


def _exact(separator: str) -> re.Pattern[str]:
    # The pattern email.feedparser compiles for each multipart.
    return re.compile(
        "(?P<sep>" + re.escape(separator) + r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$"
    )


def test_a_boundary_line_matches_as_the_parsers_own_pattern() -> None:
    rng = random.Random(11)
    pieces = ["--", "-", " ", "\t", "\r\n", "\n", "\r", "=_", "a", "Z", ".", "\\", "+", "(", "$"]
    for _ in range(20_000):
        separator = "--" + "".join(rng.choice(pieces) for _ in range(rng.randint(0, 5)))
        line = separator if rng.random() < 0.7 else ""
        line += "".join(rng.choice(pieces) for _ in range(rng.randint(0, 4)))
        ours = boundaries.BoundaryLine(separator).match(line)
        theirs = _exact(separator).match(line)
        assert (ours is None) == (theirs is None), (separator, line)
        if ours is not None and theirs is not None:
            assert (ours.group("end"), ours.group("linesep")) == (
                theirs.group("end"),
                theirs.group("linesep"),
            ), (separator, line)


def test_the_parser_builds_boundary_lines_and_nothing_else_changes() -> None:
    boundaries.install()
    boundaries.install()  # once is enough; again changes nothing
    made = vars(feedparser)["re"].compile(
        "(?P<sep>"
        + re.escape("--=_a b\\c")
        + r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$"
    )
    assert isinstance(made, boundaries.BoundaryLine)
    assert made.separator == "--=_a b\\c"
    parser_re = vars(feedparser)["re"]
    assert isinstance(parser_re.compile(r"\r\n|\r|\n"), re.Pattern)
    assert parser_re.escape is re.escape


def _shape(message: email.message.Message) -> list[tuple[str, str | None, str | None, int]]:
    return [
        (
            part.get_content_type(),
            part.preamble,
            part.epilogue,
            len(part.get_payload()) if not part.is_multipart() else -1,
        )
        for part in message.walk()
    ] + [(type(d).__name__, None, None, 0) for part in message.walk() for d in part.defects]


@pytest.mark.corpus
def test_real_mail_parses_to_the_same_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    boundaries.install()
    files = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.suffix != ".md")
    assert len(files) > 100
    ours = [_shape(email.message_from_bytes(p.read_bytes())) for p in files]
    monkeypatch.setattr(feedparser, "re", re)
    theirs = [_shape(email.message_from_bytes(p.read_bytes())) for p in files]
    assert ours == theirs
    assert sum(1 for shape in ours if shape[0][0].startswith("multipart/")) > 50
