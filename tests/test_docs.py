"""The README and docs/: every relative link reaches a file and heading, the README leads
to every page, and the agents' guide and design notes name what the code has."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from maildesk.mail.commands import CommandName, Refusal, parse_commands

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
_FENCE = re.compile(r"^```.*?^```[ \t]*$", re.MULTILINE | re.DOTALL)
_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _prose(text: str) -> str:
    """The text outside code blocks and code spans, where a link is a link."""
    return _CODE.sub("", _FENCE.sub("", text))


def anchors(text: str) -> set[str]:
    """The ids GitHub gives a page's headings.

    >>> sorted(anchors("# Set-up\\n## `maildesk oauth login`\\n## Set-up"))
    ['maildesk-oauth-login', 'set-up', 'set-up-1']
    """
    found: set[str] = set()
    for line in _FENCE.sub("", text).splitlines():
        heading = re.match(r"#{1,6} (.+)", line)
        if heading is None:
            continue
        words = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading[1]).strip().lower()
        slug = re.sub(r"[^\w\- ]", "", words).replace(" ", "-")
        unique, count = slug, 0
        while unique in found:
            count += 1
            unique = f"{slug}-{count}"
        found.add(unique)
    return found


def _relative_links(page: Path) -> list[str]:
    links = _LINK.findall(_prose(page.read_text(encoding="utf-8")))
    return [link for link in links if not re.match(r"[a-z][a-z0-9+.-]*:", link)]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(ROOT).as_posix())
def test_every_relative_link_reaches_a_file_and_a_heading(page: Path) -> None:
    for link in _relative_links(page):
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        assert target.exists(), f"{link}: no file {target.relative_to(ROOT)}"
        if anchor:
            assert target.suffix == ".md", f"{link}: an anchor in a file that is not a page"
            headings = anchors(target.read_text(encoding="utf-8"))
            assert anchor in headings, f"{link}: no heading #{anchor} in {target.name}"


def test_the_readme_leads_to_every_page() -> None:
    readme = ROOT / "README.md"
    linked = {(ROOT / link.partition("#")[0]).resolve() for link in _relative_links(readme)}
    for page in DOCS.glob("*.md"):
        assert page.resolve() in linked, f"README.md links no {page.relative_to(ROOT)}"


def _agents_table() -> list[str]:
    text = (DOCS / "agents.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\s*\| (`#.*?) \|", text, re.MULTILINE)
    assert rows, "docs/agents.md: no command table"
    return [str(row) for row in rows]


def test_the_agents_guide_names_every_command_in_english() -> None:
    documented = {word for row in _agents_table() for word in re.findall(r"`#(\w+)", row)}
    assert {name.value for name in CommandName} <= documented


def test_every_command_word_in_the_agents_guide_is_one_the_parser_takes() -> None:
    for row in _agents_table():
        for word in re.findall(r"`#(\w+)", row):
            parsed = parse_commands(f"#{word}")
            assert [error.code for error in parsed.errors] != [Refusal.UNKNOWN_COMMAND], word


def test_every_priority_in_the_agents_guide_is_one_the_parser_takes() -> None:
    [row] = [row for row in _agents_table() if "`#priority " in row]
    for command, values in re.findall(r"`#(\w+) ([^`]+)`", row):
        for value in values.split("\\|"):
            parsed = parse_commands(f"#{command} {value}")
            assert parsed.errors == (), f"#{command} {value}"


def test_the_design_notes_tree_names_every_package() -> None:
    text = (DOCS / "design.md").read_text(encoding="utf-8")
    tree = text.split("One feature, one folder.", 1)[1].split("```", 2)[1]
    named = set(re.findall(r"^ {4}(\w+)/ ", tree, re.MULTILINE))
    packages = {path.parent.name for path in (ROOT / "maildesk").glob("*/__init__.py")}
    assert named == packages
