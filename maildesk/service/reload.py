"""SIGHUP: read the configuration and templates again; switch only if they are sound.

What the running daemon has bound or opened (the listener, the HTTP listener, the
database, the IMAP connections, the signing secret) keeps its old settings until a
restart, and a warning says so; everything else (queues, agents, texts, calendar,
limits, the relay, log level, retention, the node's name) takes effect for the next
message.

The database above all: its connection holds this daemon's outbox claims, sweep lock
and IMAP accounts (store/claims.py, store/locks.py), and the writer, the metrics and the
health page must read one store. Switching it live would split them, so a changed
``[maildesk] database`` is refused, as PostgreSQL itself refuses a changed ``port`` on
reload, and the daemon goes on with the store it opened.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from maildesk.config import Config, load
from maildesk.errors import ConfigError
from maildesk.templates import PACKAGED, Templates

# Settings the running daemon holds open, with their names in config.toml; a change
# waits for the next restart.
RESTART_ONLY = {
    "database": "maildesk.database",
    "database_url": "maildesk.database",  # the same setting, when it names PostgreSQL
    "database_password_env": "maildesk.database_password_env",
    "secret_file": "maildesk.secret_file",
    "secret_env": "maildesk.secret_env",
    "listener": "[listener]",
    "http": "[http]",
    "imap": "[[imap]]",
    "oauth": "[[oauth]]",  # the token sources the accounts hold
}


_UNTIL_THEN = {
    "maildesk.database": "this daemon goes on with the store it opened",
    "maildesk.database_password_env": "this daemon keeps the database connection it opened",
}


def restart_note(label: str) -> str:
    """The warning for a changed setting that waits for a restart.

    >>> restart_note("[http]")
    'the change to [http] takes effect at the next restart'
    """
    note = f"the change to {label} takes effect at the next restart"
    until = _UNTIL_THEN.get(label)
    return f"{note}; until then {until}" if until else note


def _template_names(templates_dir: Path | None, language: str) -> list[str]:
    """Every template of ``language``, packaged or the site's: each must compile."""
    folders = [PACKAGED / language] + ([templates_dir / language] if templates_dir else [])
    return sorted({path.name for folder in folders for path in folder.glob("*.j2")})


def prepare(old: Config) -> tuple[Config, Templates, list[str]]:
    """The configuration to switch to, its templates, and the changed settings that wait
    for a restart. Raises ConfigError listing every problem; the old one then stays."""
    new = load(old.path, cwd=old.base_dir)
    later = list(
        dict.fromkeys(
            label
            for name, label in RESTART_ONLY.items()
            if getattr(new, name) != getattr(old, name)
        )
    )
    new = replace(new, **{name: getattr(old, name) for name in RESTART_ONLY})
    queues = {q.name for q in new.queues}
    problems = [
        f"key 'queues': queue {account.queue!r} of IMAP account '{account.name}' is gone;"
        " the account collects for it until a restart"
        for account in new.imap
        if account.queue not in queues
    ]
    if new.outgoing.oauth and new.outgoing.oauth not in {o.name for o in new.oauth}:
        problems.append(
            f"key 'outgoing.oauth': [[oauth]] {new.outgoing.oauth!r} is not among the credentials"
            " the daemon started with; a new [[oauth]] table takes effect at the next restart"
        )
    templates = Templates(new.templates_dir, new.language)
    for language in dict.fromkeys([new.language, *(q.language for q in new.queues)]):
        names = _template_names(new.templates_dir, language)
        problems += templates.check(names, [language])
    if problems:
        raise ConfigError(problems)
    return new, templates, later
