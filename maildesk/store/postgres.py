"""The PostgreSQL side of the store's connection (database.py), over psycopg 3.

Autocommit, as the SQLite connection: the store opens and ends its transactions itself
(``BEGIN`` … ``COMMIT``, savepoints inside), so both stores run the same code path.

Each statement is a round trip to the server, where SQLite's is a function call: the
ingest of one message takes about twenty. Inside ``pipeline()`` (psycopg's pipeline
mode) a statement is sent without waiting for its answer, which comes back with the
next one the code reads (a ``SELECT``, an ``INSERT … RETURNING``, a row count) or at
``sync()``. An error then surfaces later than the statement that caused it; the store
calls ``sync()`` at the end of every savepoint and before ``COMMIT`` (store.py), so it
surfaces in the block that caused it, as without the pipeline.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg.rows import RowMaker

from maildesk.errors import ConfigError, TransientError
from maildesk.store.libpq import driver_reason


class _LostPipelineNoted(logging.Filter):
    """psycopg warns that a pipeline cannot end when its connection was cut under it: one
    line per group of messages in hand. The store's session says once that the database
    is lost (session.py); an error of a pipeline on a sound connection still shows."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        cut = bool(args) and getattr(getattr(args[0], "_conn", None), "broken", False)
        return not (str(record.msg).startswith("error ignored") and cut)


logging.getLogger("psycopg").addFilter(_LostPipelineNoted())


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
    # The names straight from the result: cursor.description builds a Column object
    # (with its type's details) for every column of every statement.
    result = cursor.pgresult
    fields = tuple(result.fname(i) for i in range(result.nfields)) if result is not None else ()
    return functools.partial(Row, _names(fields))


@functools.lru_cache(maxsize=1024)
def _names(fields: tuple[bytes | None, ...]) -> dict[str, int]:
    """Column positions by name; shared between rows, which never change it."""
    return {(name or b"").decode("utf-8", "replace"): i for i, name in enumerate(fields)}


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
        self._pipeline: psycopg.Pipeline | None = None
        self._unsynced = False  # statements sent in the pipeline since the last sync()

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Any:
        if self._pipeline is not None:
            self._unsynced = True
            return _Pipelined(self._pipeline, self.raw.execute(translate(sql), parameters))
        if not parameters:
            # Without parameters psycopg sends the text as it is (several statements
            # may then go in one call, as a migration's script does).
            return self.raw.execute(sql.encode())
        return self.raw.execute(translate(sql), parameters)

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> psycopg.Cursor[Row]:
        self._unsynced = self._pipeline is not None
        cursor = self.raw.cursor()
        cursor.executemany(translate(sql), parameters)
        return cursor

    @contextlib.contextmanager
    def pipeline(self) -> Iterator[None]:
        """Send statements without waiting for each answer (see the module docstring);
        one statement a call, no scripts. Leaving it waits for every answer."""
        if self._pipeline is not None:
            yield
            return
        with self.raw.pipeline() as pipeline:
            self._pipeline = pipeline
            try:
                yield
            finally:
                self._pipeline = None
                self._unsynced = False

    def send(self, sql: str, /) -> None:
        """Run a statement that cannot fail in a sound transaction (a savepoint's
        SAVEPOINT or RELEASE): in the pipeline, sent without making a sync() due."""
        if self._pipeline is None:
            self.raw.execute(sql.encode())
        else:
            self.raw.execute(sql)

    def sync(self, *, force: bool = False) -> None:
        """Wait for the answers of the statements sent so far; raise the first error.
        Without ``force``, only when statements other than send()'s are waiting."""
        if self._pipeline is not None and (self._unsynced or force):
            self._unsynced = False
            self._pipeline.sync()

    def discard(self) -> None:
        """Wait for every answer and drop their errors: the work that sent them is
        being undone (a ROLLBACK may follow only once the pipeline is in step)."""
        with contextlib.suppress(psycopg.Error):  # a lost connection says so at the ROLLBACK
            self.sync(force=True)

    def close(self) -> None:
        self.raw.close()


class _Pipelined:
    """A cursor of a statement sent in the pipeline. Its rows wait for their answer by
    themselves (psycopg fetches them); its row count needs the answer first."""

    __slots__ = ("_cursor", "_pipeline")

    def __init__(self, pipeline: psycopg.Pipeline, cursor: psycopg.Cursor[Row]) -> None:
        self._pipeline = pipeline
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        if self._cursor.pgresult is None:
            self._pipeline.sync()
        return self._cursor.rowcount

    def fetchone(self) -> Row | None:
        return self._cursor.fetchone()

    def fetchall(self) -> list[Row]:
        return self._cursor.fetchall()

    def __iter__(self) -> Iterator[Row]:
        return iter(self._cursor)


def _where(url: str) -> str:
    """Hosts, ports and database of ``url``, for a message (never its user or password).

    >>> _where("postgresql://desk:s3cret@db.example:5433/maildesk")
    'db.example:5433/maildesk'
    >>> _where("postgresql://desk@db1:5432,db2:5432/maildesk?target_session_attrs=read-write")
    'db1:5432,db2:5432/maildesk'
    """
    parts = urlsplit(url)
    # netloc, not hostname and port: a libpq URI may list several hosts, which urlsplit
    # cannot read a port from.
    hosts = parts.netloc.rpartition("@")[2] or "localhost"
    return f"{hosts}{parts.path}"


# A connection attempt to a server that is gone without a word (a failed-over address
# that answers nothing) would wait for TCP's own timeout, minutes, on the writer thread.
_CONNECT_TIMEOUT = 10
# The same for a connection already open: after a failover the old primary may vanish
# without closing it, and a query under way would wait for TCP to give up (about 15
# minutes of retransmissions). With these, libpq finds it dead within about 30 seconds
# (keepalives when idle; tcp_user_timeout, in milliseconds, for data sent and never
# acknowledged), the writer reconnects, and the mail in hand is answered "try again".
# Only for TCP; an admin's own value in the URI wins.
_TCP_DEFAULTS: dict[str, int] = {
    "keepalives": 1,
    "keepalives_idle": 15,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,
}


def connect_postgres(url: str, password_env: str = "") -> PostgresConnection:
    """Connect to ``url`` (a libpq URI). The password comes from the variable named
    ``password_env`` when it is set; else libpq finds it ($PGPASSWORD, ~/.pgpass)."""
    extra: dict[str, Any] = {}
    if password_env:
        password = os.environ.get(password_env)
        if not password:
            raise ConfigError([f"maildesk.database_password_env: ${password_env} is not set"])
        extra["password"] = password
    if "connect_timeout" not in url:  # the admin's own setting in the URI wins
        extra["connect_timeout"] = _CONNECT_TIMEOUT
    extra.update({key: value for key, value in _TCP_DEFAULTS.items() if key not in url})
    try:
        conn = psycopg.connect(
            url, autocommit=True, row_factory=_rows, application_name="maildesk", **extra
        )
    except psycopg.OperationalError as exc:  # down, refused, a wrong password: try later
        reason = driver_reason(exc)
        raise TransientError(f"cannot connect to the database {_where(url)}: {reason}") from exc
    return PostgresConnection(conn)
