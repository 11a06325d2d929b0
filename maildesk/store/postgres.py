"""The PostgreSQL side of the store's connection (database.py), over psycopg 3.

Autocommit, as the SQLite connection: the store opens and ends its transactions itself
(``BEGIN`` … ``COMMIT``, savepoints inside), so both stores run the same code path.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg.rows import RowMaker

from maildesk.errors import ConfigError, TransientError


class Row:
    """A result row read by position or by column name, like ``sqlite3.Row``."""

    __slots__ = ("_names", "_values")

    def __init__(self, names: dict[str, int], values: Sequence[Any]) -> None:
        self._names = names
        self._values = tuple(values)

    def __getitem__(self, key: int | str) -> Any:
        if isinstance(key, str):
            return self._values[self._names[key]]
        return self._values[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def keys(self) -> list[str]:
        return list(self._names)

    def __repr__(self) -> str:
        return f"Row({dict(zip(self._names, self._values, strict=True))!r})"


def _rows(cursor: psycopg.Cursor[Any]) -> RowMaker[Row]:
    names = {column.name: i for i, column in enumerate(cursor.description or ())}
    return functools.partial(Row, names)


@functools.lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """``sql`` with SQLite's ``?`` marks as psycopg's ``%s`` (a literal ``%`` doubled).

    Marks inside quoted strings, quoted names and comments are left alone.

    >>> translate("SELECT '?', \\"a?\\" FROM t WHERE x LIKE '10%' AND y = ? -- ?")
    'SELECT \\'?\\', "a?" FROM t WHERE x LIKE \\'10%%\\' AND y = %s -- ?'
    """
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        char = sql[i]
        if char in "'\"":
            end = sql.find(char, i + 1)
            end = n if end < 0 else end + 1
            out.append(sql[i:end].replace("%", "%%"))
            i = end
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end < 0 else end
            out.append(sql[i:end].replace("%", "%%"))
            i = end
        else:
            out.append("%s" if char == "?" else "%%" if char == "%" else char)
            i += 1
    return "".join(out)


class PostgresConnection:
    """A psycopg connection that takes the store's SQL as written (see database.py)."""

    def __init__(self, conn: psycopg.Connection[Row]) -> None:
        self.raw = conn

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> psycopg.Cursor[Row]:
        if not parameters:
            # Without parameters psycopg sends the text as it is (several statements
            # may then go in one call, as a migration's script does).
            return self.raw.execute(sql.encode())
        return self.raw.execute(translate(sql), parameters)

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> psycopg.Cursor[Row]:
        cursor = self.raw.cursor()
        cursor.executemany(translate(sql), parameters)
        return cursor

    def close(self) -> None:
        self.raw.close()


def _where(url: str) -> str:
    """Host, port and database of ``url``, for a message (never its user or password).

    >>> _where("postgresql://desk:s3cret@db.example:5433/maildesk")
    'db.example:5433/maildesk'
    """
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.hostname or 'localhost'}{port}{parts.path}"


def connect_postgres(url: str, password_env: str = "") -> PostgresConnection:
    """Connect to ``url`` (a libpq URI). The password comes from the variable named
    ``password_env`` when it is set; else libpq finds it ($PGPASSWORD, ~/.pgpass)."""
    extra: dict[str, Any] = {}
    if password_env:
        password = os.environ.get(password_env)
        if not password:
            raise ConfigError([f"maildesk.database_password_env: ${password_env} is not set"])
        extra["password"] = password
    try:
        conn = psycopg.connect(
            url, autocommit=True, row_factory=_rows, application_name="maildesk", **extra
        )
    except psycopg.OperationalError as exc:  # down, refused, a wrong password: try later
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise TransientError(f"cannot connect to the database {_where(url)}: {reason}") from exc
    return PostgresConnection(conn)
