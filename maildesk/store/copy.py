"""Copy a SQLite store into an empty PostgreSQL database, then check the copy.

The move from one machine to several: every table (tickets with their clocks, messages,
raw mail and attachments, events, the outbox, surveys, IMAP state …) is read from the
SQLite file and written, in one transaction, into a database that the migrations have
just given the same schema; a failure leaves the target as empty as it was. Rows keep
their numbers (ticket numbers are in people's mail), and each identity's sequence is set
past the highest number the SQLite file ever handed out, so none is handed out twice.
The check counts the rows of every table on both sides and compares a checksum of every
binary column (raw mail, attachments, the outbox's messages, sealed addresses).
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from maildesk.errors import MaildeskError
from maildesk.store.database import Connection, is_url
from maildesk.store.store import Store

_BATCH = 500  # rows per round trip; blobs make a row up to the largest message


@dataclass
class Copied:
    """What was copied: rows per table, and the checksum of the binary columns."""

    rows: dict[str, int] = field(default_factory=dict)
    checksum: str = ""


@dataclass(frozen=True)
class _Table:
    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]  # the primary key's columns (rowid where none is declared)
    binary: tuple[str, ...]  # BLOB columns
    self_refs: tuple[str, ...]  # columns referencing the same table: set after the insert


def copy_store(source: Path, target: str, password_env: str = "") -> Copied:
    """Copy the SQLite store ``source`` into the empty PostgreSQL database ``target``."""
    if not is_url(target):
        raise MaildeskError(f"the target must be a postgresql:// URL, not {target}")
    if is_url(source) or not Path(source).is_file():
        raise MaildeskError(f"no SQLite store at {source}")
    # Both at the current schema: the source as the daemon would bring it at start.
    origin = Store(source)
    try:
        if not isinstance(origin.conn, sqlite3.Connection):  # is_url said so; for the types
            raise MaildeskError(f"no SQLite store at {source}")
        copy = Store(target, password_env)
        try:
            return _copy(origin.conn, copy)
        finally:
            copy.close()
    finally:
        origin.close()


def _copy(source: sqlite3.Connection, target: Store) -> Copied:
    tables = _tables(source)
    full = [t.name for t in tables if _count(target.conn, t.name)]
    if full:
        raise MaildeskError(
            f"the target database is not empty (rows in {', '.join(full)}); copy-store"
            " fills a new database only"
        )
    with target.transaction():
        for table in tables:
            _copy_rows(source, target.conn, table)
        _advance_identities(source, target.conn, tables)
    return _check(source, target.conn, tables)


def _tables(conn: sqlite3.Connection) -> list[_Table]:
    """The store's tables, each after the tables it references (parents first)."""
    names = [
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
            " AND name NOT LIKE 'sqlite_%' AND name != '_sqlite_migrations' ORDER BY name"
        )
    ]
    parents = {
        name: {row[2] for row in conn.execute(f"PRAGMA foreign_key_list({name})")} - {name}
        for name in names
    }
    ordered: list[str] = []
    while len(ordered) < len(names):
        ready = [n for n in names if n not in ordered and parents[n] <= set(ordered)]
        if not ready:
            raise MaildeskError(f"tables reference each other in a cycle: {names}")
        ordered += ready
    return [_table(conn, name) for name in ordered]


def _table(conn: sqlite3.Connection, name: str) -> _Table:
    info = list(conn.execute(f"PRAGMA table_info({name})"))
    key = tuple(row[1] for row in sorted(info, key=lambda r: r[5]) if row[5])
    refs = {row[3] for row in conn.execute(f"PRAGMA foreign_key_list({name})") if row[2] == name}
    return _Table(
        name=name,
        columns=tuple(row[1] for row in info),
        key=key or ("rowid",),
        binary=tuple(row[1] for row in info if str(row[2]).upper() == "BLOB"),
        self_refs=tuple(sorted(refs)),
    )


def _count(conn: Connection, table: str) -> int:
    return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608


def _rows(conn: sqlite3.Connection, table: _Table) -> Iterator[Any]:
    order = ", ".join(table.key)
    cursor = conn.execute(f"SELECT {', '.join(table.columns)} FROM {table.name} ORDER BY {order}")  # noqa: S608
    while batch := cursor.fetchmany(_BATCH):
        yield from batch


def _copy_rows(source: sqlite3.Connection, target: Connection, table: _Table) -> None:
    names = ", ".join(table.columns)
    marks = ", ".join("?" * len(table.columns))
    insert = f"INSERT INTO {table.name} ({names}) VALUES ({marks})"  # noqa: S608
    # A ticket may point at a later one (merged into it): such columns are filled in once
    # every row of the table is there.
    late = [table.columns.index(c) for c in table.self_refs]
    pending: list[tuple[Any, ...]] = []
    fixes: list[tuple[Any, ...]] = []
    for row in _rows(source, table):
        values = list(row)
        if any(values[i] is not None for i in late):
            fixes.append(
                (*(values[i] for i in late), *(values[table.columns.index(k)] for k in table.key))
            )
            for i in late:
                values[i] = None
        pending.append(tuple(values))
        if len(pending) >= _BATCH:
            target.executemany(insert, pending)
            pending = []
    if pending:
        target.executemany(insert, pending)
    if fixes:
        sets = ", ".join(f"{c} = ?" for c in table.self_refs)
        where = " AND ".join(f"{k} = ?" for k in table.key)
        target.executemany(f"UPDATE {table.name} SET {sets} WHERE {where}", fixes)  # noqa: S608


def _advance_identities(
    source: sqlite3.Connection, target: Connection, tables: list[_Table]
) -> None:
    """Each identity's next number: past the highest the SQLite file ever handed out.

    SQLite's AUTOINCREMENT remembers numbers of rows since deleted (a purged ticket);
    its ``sqlite_sequence`` says so, and a ticket number is never given twice.
    """
    remembered = {
        str(row[0]): int(row[1]) for row in source.execute("SELECT name, seq FROM sqlite_sequence")
    }
    identities = target.execute(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND is_identity = 'YES'"
    ).fetchall()
    copied = {t.name for t in tables}
    for table, column in identities:
        if table not in copied:
            continue  # the migration history: the target's own
        highest = source.execute(f"SELECT max({column}) FROM {table}").fetchone()[0]  # noqa: S608
        last = max(int(highest or 0), remembered.get(table, 0))
        if last:
            target.execute(
                "SELECT setval(pg_get_serial_sequence(?, ?), ?)", (table, column, last)
            ).fetchall()


def _check(source: sqlite3.Connection, target: Connection, tables: list[_Table]) -> Copied:
    copied = Copied()
    problems = []
    for table in tables:
        before, after = _count(source, table.name), _count(target, table.name)
        copied.rows[table.name] = after
        if before != after:
            problems.append(f"{table.name}: {before} row(s), {after} copied")
    ours, theirs = _checksum(source, tables), _checksum(target, tables)
    if ours != theirs:
        problems.append("the binary columns (raw mail, attachments) differ")
    if problems:
        raise MaildeskError("the copy failed its check: " + "; ".join(problems))
    copied.checksum = theirs
    return copied


def _checksum(conn: Connection, tables: list[_Table]) -> str:
    """SHA-256 over every binary value with its table, column and row key, in key order.

    The order is sorted here, not by the database: SQLite and PostgreSQL may sort text
    keys differently (a collation), and the two sides must agree.
    """
    total = hashlib.sha256()
    for table in tables:
        if not table.binary:
            continue
        keys = [k for k in table.key if k != "rowid"] or list(table.columns)
        wanted = ", ".join([*keys, *table.binary])
        digests = []
        for row in conn.execute(f"SELECT {wanted} FROM {table.name}"):  # noqa: S608
            values = list(row)
            item = hashlib.sha256(repr([table.name, *values[: len(keys)]]).encode())
            for value in values[len(keys) :]:
                data = b"" if value is None else bytes(value)
                item.update(len(data).to_bytes(8, "big") + data)
            digests.append(item.digest())
        for digest in sorted(digests):
            total.update(digest)
    return total.hexdigest()
