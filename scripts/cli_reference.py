"""Regenerate docs/cli.md, the CLI reference, from ``maildesk --help`` (tests check it is current).

Usage: python scripts/cli_reference.py [--check]
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from maildesk.cli import cli

PAGE = Path(__file__).resolve().parent.parent / "docs" / "cli.md"
START, END = "<!-- cli-reference:start -->", "<!-- cli-reference:end -->"


def _helps(command: click.Command, path: list[str]) -> list[tuple[str, str]]:
    with click.Context(command, info_name=" ".join(path), terminal_width=80) as ctx:
        found = [(" ".join(path), command.get_help(ctx))]
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                found += _helps(sub, [*path, name])
    return found


def reference() -> str:
    blocks = []
    for name, text in _helps(cli, ["maildesk"]):
        blocks.append(f"## `{name}`\n\n```\n{text.rstrip()}\n```\n")
    return "\n".join(blocks)


def updated(page: str) -> str:
    head, start, rest = page.partition(START)
    _, end, tail = rest.partition(END)
    if not (start and end):
        raise SystemExit(f"{PAGE}: the markers {START} and {END} are missing")
    return f"{head}{START}\n{reference()}{END}{tail}"


def main() -> int:
    current = PAGE.read_text(encoding="utf-8")
    fresh = updated(current)
    if "--check" in sys.argv:
        return 0 if fresh == current else 1
    PAGE.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
