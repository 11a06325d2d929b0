"""The ``[[oauth]]`` tables and the ``oauth`` keys that name them, checked with the rest
of ``config.toml``: each problem names its key and line, as every config problem does.

What one table may hold is ``maildesk.oauth.settings.check_oauth``'s to say; this module
reports its findings in the config's own terms and checks what lies between tables: unique
names, and ``[[imap]]`` and ``[outgoing]`` naming a declared table instead of a password.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from maildesk.config.model import is_loopback
from maildesk.oauth.settings import KEYS, OAuthSettings, check_oauth

Problem = Callable[[str, str, int | None], None]
_PREFIX = re.compile(r"^\[\[oauth\]\] [^:]*: ")


def oauth_tables(
    tables: Sequence[Mapping[str, Any]], base_dir: Path, problem: Problem
) -> tuple[OAuthSettings, ...]:
    """Every sound ``[[oauth]]`` table as settings, file paths made absolute."""
    found: list[OAuthSettings] = []
    names: set[str] = set()
    for index, table in enumerate(tables):
        settings, problems = check_oauth(table)
        for text in problems:
            problem(f"oauth.{_key_of(text)}", _PREFIX.sub("", text), index)
        name = str(table.get("name", ""))
        if name and name in names:
            problem("oauth.name", f"duplicate [[oauth]] name {name!r}", index)
        names.add(name)
        if settings is None:
            continue
        found.append(
            replace(
                settings,
                client_secret_file=_absolute(settings.client_secret_file, base_dir),
                certificate_file=_absolute(settings.certificate_file, base_dir),
            )
        )
    return tuple(found)


def check_reference(
    where: str,
    values: Mapping[str, Any],
    written: Mapping[str, Any],
    declared: Sequence[str],
    problem: Problem,
    index: int | None = None,
) -> None:
    """``where`` ("imap" or "outgoing") names a declared ``[[oauth]]`` table in its
    ``oauth`` key, and then gives no password (``written``: the keys as in the file)."""
    name = values.get("oauth", "")
    if not name:
        return
    if name not in declared:
        known = ", ".join(repr(n) for n in declared) or "none is declared"
        problem(
            f"{where}.oauth",
            f"expected the name of an [[oauth]] table ({known}), got {name!r}",
            index,
        )
    for key in ("password_env", "password_file"):
        if written.get(key):
            problem(
                f"{where}.{key}",
                f"give either oauth or {key}: this account signs in with [[oauth]] {name!r}",
                index,
            )
    host = str(values.get("host", ""))
    if where == "outgoing" and values.get("tls") == "none" and not is_loopback(host):
        problem(
            f"{where}.tls",
            f"'none' would send the token in clear text; allowed only for a loopback host, got"
            f" {host!r} (use 'starttls' or 'tls')",
            index,
        )
    if not values.get("username"):
        problem(f"{where}.username", "the mailbox to sign in as is needed with oauth", index)


def _key_of(text: str) -> str:
    """The key a problem of ``check_oauth`` is about: the first key it names."""
    body = _PREFIX.sub("", text)
    words = re.findall(r"[a-z_]+", body)
    return next((word for word in words if word in KEYS), "name")


def _absolute(value: str, base_dir: Path) -> str:
    return str(base_dir / value) if value else ""
