"""Numbered, transactional schema migrations: one history for SQLite and PostgreSQL.

sqlite-utils' ``Migrations`` gave the model (a named set, each step recorded in the
database with the change it made, in one transaction) but speaks only to SQLite; this
is the same model over the store's connection (database.py), so one list of steps
upgrades either database. On SQLite the record lives in sqlite-utils' own table, so
stores it migrated go on from where they stand.

Daemons started together must not both apply a step: on PostgreSQL the whole upgrade
runs under an advisory lock; on SQLite each step's ``BEGIN IMMEDIATE`` takes the one
write lock, and the step is looked up again once it is held.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from maildesk.store.database import Connection, Dialect, columns

# pg_advisory_lock's key for schema upgrades: any fixed 64-bit number no other lock uses.
MIGRATION_LOCK = 0x6D61_696C_6465_736B  # "maildesk"
_COMMENT = re.compile(r"--[^\n]*")


class Schema:
    """What a migration step works with: the connection, and scripts in SQLite's words."""

    def __init__(self, conn: Connection, dialect: Dialect) -> None:
        self.conn = conn
        self.dialect = dialect

    def executescript(self, script: str) -> None:
        """Run each statement of ``script`` (with SQLite's type names; see Dialect.ddl).

        Statement by statement, rather than sqlite3's executescript, which would commit
        the step's transaction before it starts.
        """
        text = self.dialect.ddl(_COMMENT.sub("", script))
        for statement in text.split(";"):  # the scripts hold no ';' inside a string
            if statement.strip():
                self.conn.execute(statement.strip())

    def columns(self, table: str) -> set[str]:
        return columns(self.conn, table)


Step = Callable[[Schema], None]


@dataclass(frozen=True)
class _Migration:
    name: str
    step: Step


class Migrations:
    """A named, ordered set of steps; ``@migrations(name="0001_…")`` adds one."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._steps: list[_Migration] = []

    def __call__(self, *, name: str) -> Callable[[Step], Step]:
        def register(step: Step) -> Step:
            if any(m.name == name for m in self._steps):
                raise ValueError(f"migration {name!r} is already registered")
            self._steps.append(_Migration(name, step))
            return step

        return register

    @property
    def names(self) -> list[str]:
        return [m.name for m in self._steps]

    def applied(self, conn: Connection, dialect: Dialect) -> list[str]:
        """Names of the steps already applied to this store, in the order applied."""
        if "name" not in columns(conn, dialect.migrations_table):
            return []
        rows = conn.execute(
            f"SELECT name FROM {dialect.migrations_table}"  # noqa: S608 - a fixed name
            " WHERE migration_set = ? ORDER BY id",
            (self.name,),
        )
        return [row[0] for row in rows]

    def apply(self, conn: Connection, dialect: Dialect) -> list[str]:
        """Apply the steps this store lacks, each in its own transaction; their names."""
        done: list[str] = []
        with _upgrade_lock(conn, dialect):
            _ensure_table(conn, dialect)
            for migration in self._steps:
                if migration.name in self.applied(conn, dialect):
                    continue
                conn.execute(dialect.begin)
                try:
                    # Another process may have applied it while we waited for the lock.
                    if migration.name in self.applied(conn, dialect):
                        conn.execute("ROLLBACK")
                        continue
                    migration.step(Schema(conn, dialect))
                    conn.execute(
                        f"INSERT INTO {dialect.migrations_table}"  # noqa: S608 - a fixed name
                        " (migration_set, name, applied_at)"
                        " VALUES (?, ?, CAST(CURRENT_TIMESTAMP AS TEXT))",
                        (self.name, migration.name),
                    )
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
                done.append(migration.name)
        return done


def _ensure_table(conn: Connection, dialect: Dialect) -> None:
    # The layout sqlite-utils gives its table; the unique index makes a step recorded
    # twice an error rather than a silent double.
    Schema(conn, dialect).executescript(
        f"""
        CREATE TABLE IF NOT EXISTS {dialect.migrations_table} (
            id INTEGER PRIMARY KEY,
            migration_set TEXT,
            name TEXT,
            applied_at TEXT
        );
        CREATE UNIQUE INDEX IF NOT EXISTS idx_{dialect.migrations_table}_migration_set_name
            ON {dialect.migrations_table} (migration_set, name);
        """
    )


@contextmanager
def _upgrade_lock(conn: Connection, dialect: Dialect) -> Iterator[None]:
    if not dialect.is_postgres:
        yield  # each step's BEGIN IMMEDIATE is the lock
        return
    conn.execute("SELECT pg_advisory_lock(?)", (MIGRATION_LOCK,)).fetchall()
    try:
        yield
    finally:
        conn.execute("SELECT pg_advisory_unlock(?)", (MIGRATION_LOCK,)).fetchall()
