"""Personal-data duties over the store: retention purge and erasure of a requester
(export.py writes what is held about one).

Rows that point at a ticket or a message are found from the schema's foreign keys, so a
table added later (surveys, assignments …) is purged with its ticket instead of making
the delete fail. Raw mail and attachments are blobs shared by content hash; a blob goes
once nothing points at it. Deleted pages are overwritten (``secure_delete``), so erased
text does not linger in the database file's free pages.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, ClassVar

from maildesk.store.database import Connection, Dialect, foreign_keys, json_list_holds
from maildesk.store.store import Store, iso

ERASED = "erased"  # what an erased address becomes where a row must keep one
_CHUNK = 500  # ids per IN (…) list: far below SQLite's limit on variables
BATCH = 100  # tickets per purge transaction: about 0.2 s of the writer's time


@dataclass
class Removed:
    """What a purge or an erasure removed (or, in a dry run, would remove)."""

    tickets: int = 0
    messages: int = 0
    attachments: int = 0
    quarantined: int = 0
    outbox: int = 0
    blobs: int = 0
    blob_bytes: int = 0

    def add(self, other: Removed) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def __str__(self) -> str:
        """
        >>> str(Removed(tickets=2, messages=5, blobs=3, blob_bytes=2048))  # doctest: +ELLIPSIS
        '2 ticket(s), 5 message(s), 0 attachment(s), ... 3 blob(s), 2.0 KiB'
        """
        return (
            f"{self.tickets} ticket(s), {self.messages} message(s), {self.attachments}"
            f" attachment(s), {self.quarantined} quarantined, {self.outbox} outbox row(s);"
            f" {self.blobs} blob(s), {self.blob_bytes / 1024:.1f} KiB"
        )


def _marks(values: Sequence[Any]) -> str:
    return ",".join("?" * len(values))


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _foreign_keys(conn: Connection) -> dict[str, list[tuple[str, str, str]]]:
    """For each table, (child table, column, parent column) of the keys pointing at it."""
    found: dict[str, list[tuple[str, str, str]]] = {}
    for table, column, parent, parent_column in foreign_keys(conn):
        found.setdefault(parent, []).append((table, column, parent_column))
    return found


def _secure_delete(store: Store) -> None:
    """On SQLite, overwrite deleted pages. PostgreSQL has no such setting: a deleted row
    stays in its table's file until VACUUM frees its space and new rows reuse it."""
    if not store.dialect.is_postgres:
        store.conn.execute("PRAGMA secure_delete = ON")


class _DryRun(Exception):
    """Raised to roll back a dry run: the counts are exact, the changes never committed."""


class _Remover:
    """Deletes rows and what points at them; counts what went; collects freed blobs."""

    _COUNTED: ClassVar[dict[str, str]] = {
        "tickets": "tickets",
        "messages": "messages",
        "attachments": "attachments",
        "quarantine": "quarantined",
        "outbox": "outbox",
    }

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.removed = Removed()
        self.keys = _foreign_keys(conn)
        self._blobs: set[str] = set()

    def ids(self, sql: str, *args: Any) -> list[Any]:
        return [row[0] for row in self.conn.execute(sql, args)]

    def delete(self, table: str, column: str, values: Sequence[Any]) -> None:
        """Delete rows of ``table`` whose ``column`` is in ``values``, children first.

        A table pointing at itself (a ticket linked to another) loses the link instead.
        """
        if not values:
            return
        for child, child_col, parent_col in self.keys.get(table, []):
            keys = self._select(table, parent_col, column, values)
            if child == table:
                self._update(child, f"{child_col} = NULL", child_col, keys)
            else:
                self.delete(child, child_col, keys)
        for blob_table, blob_col, _ in self.keys.get("blobs", []):
            if blob_table == table:
                self._blobs.update(v for v in self._select(table, blob_col, column, values) if v)
        count = 0
        for part in _chunks(values):
            count += self.conn.execute(
                f"DELETE FROM {table} WHERE {column} IN ({_marks(part)})",  # noqa: S608 - schema names
                list(part),
            ).rowcount
        if table in self._COUNTED:
            name = self._COUNTED[table]
            setattr(self.removed, name, getattr(self.removed, name) + count)

    def _select(self, table: str, wanted: str, column: str, values: Sequence[Any]) -> list[Any]:
        found: list[Any] = []
        for part in _chunks(values):
            found += self.ids(
                f"SELECT DISTINCT {wanted} FROM {table} WHERE {column} IN ({_marks(part)})",  # noqa: S608
                *part,
            )
        return found

    def _update(self, table: str, assignment: str, column: str, values: Sequence[Any]) -> None:
        for part in _chunks(values):
            self.conn.execute(
                f"UPDATE {table} SET {assignment} WHERE {column} IN ({_marks(part)})",  # noqa: S608
                list(part),
            )

    def free_blobs(self) -> None:
        """Delete the blobs freed so far that nothing points at any more."""
        refs = self.keys.get("blobs", [])
        for digest in sorted(self._blobs):
            if any(
                self.conn.execute(
                    f"SELECT 1 FROM {table} WHERE {column} = ? LIMIT 1",  # noqa: S608
                    (digest,),
                ).fetchone()
                for table, column, _ in refs
            ):
                continue
            row = self.conn.execute(
                "DELETE FROM blobs WHERE sha256 = ? RETURNING size", (digest,)
            ).fetchone()
            if row is not None:
                self.removed.blobs += 1
                self.removed.blob_bytes += int(row[0])
        self._blobs.clear()


def purge_batch(
    store: Store, cutoff: datetime, *, dry_run: bool = False, limit: int = BATCH
) -> Removed:
    """Purge up to ``limit`` tickets (-1: all) closed before ``cutoff`` with everything they
    hold; in the last batch (fewer tickets than ``limit``), also quarantined mail, mail
    that joined no ticket and its outbox rows from before ``cutoff``.

    One transaction per call, so the daemon's writer serves mail between batches; call
    again until a batch removes fewer than ``limit`` tickets. A dry run does the same work
    and rolls it back.
    """
    _secure_delete(store)
    remover = _Remover(store.conn)
    when = iso(cutoff)
    try:
        with store.transaction():
            # No LIMIT for all: PostgreSQL takes no negative limit, SQLite no NULL one.
            tickets = remover.ids(
                "SELECT number FROM tickets WHERE state IN ('closed', 'cancelled')"  # noqa: S608
                " AND coalesce(closed_at, updated_at) < ? ORDER BY number"
                + (" LIMIT ?" if limit >= 0 else ""),
                when,
                *([limit] if limit >= 0 else []),
            )
            remover.delete("tickets", "number", tickets)
            if 0 <= limit <= len(tickets):  # more tickets to come: the rest in the last batch
                remover.free_blobs()
                if dry_run:
                    raise _DryRun
                return remover.removed
            remover.delete(
                "messages",
                "id",
                remover.ids(
                    "SELECT id FROM messages WHERE ticket IS NULL AND received_at < ?", when
                ),
            )
            remover.delete(
                "quarantine",
                "id",
                remover.ids("SELECT id FROM quarantine WHERE received_at < ?", when),
            )
            remover.delete(
                "outbox",
                "id",
                remover.ids(
                    "SELECT id FROM outbox WHERE ticket IS NULL AND state != 'pending'"
                    " AND created_at < ?",
                    when,
                ),
            )
            # Events of no ticket (bounces of unknown mail …); erasure records stay.
            store.conn.execute(
                "DELETE FROM events WHERE ticket IS NULL AND kind != 'erasure' AND at < ?",
                (when,),
            )
            # A sealed address goes with the last ticket of its pseudonym (in an anonymous
            # queue, the requester is the ticket's only participant).
            store.conn.execute(
                "DELETE FROM sealed_addresses WHERE created_at < ?"
                " AND NOT EXISTS (SELECT 1 FROM tickets t WHERE t.requester = alias)",
                (when,),
            )
            remover.free_blobs()
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    return remover.removed


def purge(store: Store, cutoff: datetime, *, dry_run: bool = False) -> Removed:
    """Everything ``purge_batch`` removes, batch after batch (for the command line)."""
    if dry_run:
        return purge_batch(store, cutoff, dry_run=True, limit=-1)
    total = Removed()
    while True:
        removed = purge_batch(store, cutoff)
        total.add(removed)
        if removed.tickets < BATCH:
            return total


def mentions(dialect: Dialect, column: str) -> str:
    """SQL that is true when the JSON list in ``column`` holds the address bound to ``?``."""
    return json_list_holds(dialect, column)


def erase(store: Store, address: str, now: datetime, *, pseudonym: str | None = None) -> Removed:
    """Remove everything about ``address``; record that an erasure happened, not whose.

    Tickets it requested stay as empty shells (number, queue, state, dates) so that
    counts and indicators hold; their subject, requester, messages, attachments, raw
    mail, participants, outbox rows and event details go, and so does anything else
    that points at them. Elsewhere its messages go and its address is taken out of
    participants, recipients, the outbox and quarantine. ``tickets`` in the result
    counts the shells. ``pseudonym``, the person's name in anonymous queues, is erased the
    same way, and so is the sealed address behind it.
    """
    names = [address.strip().lower(), *([pseudonym] if pseudonym else [])]
    _secure_delete(store)
    remover = _Remover(store.conn)
    with store.transaction():
        for name in names:
            _erase(store, remover, name)
            store.conn.execute("DELETE FROM sealed_addresses WHERE alias = ?", (name,))
        remover.free_blobs()
        store.add_event(None, "erasure", f"a requester's data was erased: {remover.removed}", now)
    if not store.dialect.is_postgres:
        # Copy the overwritten pages into the database file now, so the erased text does
        # not wait there for the next automatic checkpoint.
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return remover.removed


def _erase(store: Store, remover: _Remover, address: str) -> None:
    """``erase`` for one address, inside its transaction."""
    tickets = remover.ids("SELECT number FROM tickets WHERE lower(requester) = ?", address)
    for part in _chunks(tickets):
        marks = _marks(part)
        for child, column, _ in remover.keys.get("tickets", []):
            if child == "events":  # the history stays, without Message-IDs and names
                remover._update("events", "detail = ''", column, part)
            elif child != "tickets":
                found = remover.ids(
                    f"SELECT {column} FROM {child} WHERE {column} IN ({marks})",  # noqa: S608
                    *part,
                )
                remover.delete(child, column, found)
        remover._update(
            "tickets",
            f"requester = '{ERASED}', requester_name = '', subject = '', claimed_tag = NULL",
            "number",
            part,
        )
    remover.removed.tickets += len(tickets)
    remover.delete(
        "messages",
        "id",
        remover.ids("SELECT id FROM messages WHERE lower(from_addr) = ?", address),
    )
    for column in ("to_addrs", "cc_addrs"):
        rows = store.conn.execute(
            f"SELECT id, {column} FROM messages WHERE {mentions(store.dialect, column)}",  # noqa: S608
            (address,),
        ).fetchall()
        for row_id, value in rows:
            kept = [ERASED if a.lower() == address else a for a in json.loads(value)]
            store.conn.execute(
                f"UPDATE messages SET {column} = ? WHERE id = ?",  # noqa: S608
                (json.dumps(kept), row_id),
            )
    store.conn.execute("DELETE FROM participants WHERE lower(address) = ?", (address,))
    store.conn.execute("DELETE FROM survey_optouts WHERE address = ?", (address,))
    remover.delete(
        "outbox",
        "id",
        remover.ids(
            "SELECT id FROM outbox WHERE lower(recipient) = ?"  # noqa: S608
            f" OR {mentions(store.dialect, 'rcpt_to')}",
            address,
            address,
        ),
    )
    remover.delete(
        "quarantine",
        "id",
        remover.ids("SELECT id FROM quarantine WHERE lower(envelope_from) = ?", address),
    )
