"""The store: the one transaction that holds a message, and the queries around it.

On SQLite or PostgreSQL alike (database.py): every query here is written once. One
``Store`` is used by one thread at a time (the daemon's single writer); the CLI opens
its own. Times are stored as UTC ISO-8601 text, which sorts as time does.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from maildesk.model import State, Ticket
from maildesk.store.database import Connection, is_url, redacted
from maildesk.store.database import connect as connect_again
from maildesk.store.outbox import OutboxRows, returned
from maildesk.store.rows import (
    AlreadyStored,
    Bounced,
    NewMessage,
    NewTicket,
    OutgoingMail,
    from_iso,
    iso,
)
from maildesk.store.schema import connect

log = logging.getLogger(__name__)

# The plain data lives in rows.py; importers have long taken it from here.
__all__ = [
    "AlreadyStored",
    "Bounced",
    "NewMessage",
    "NewTicket",
    "OutgoingMail",
    "Store",
    "from_iso",
    "iso",
]


@runtime_checkable
class _Pipelining(Protocol):
    """PostgreSQL's connection in pipeline mode (postgres.py); SQLite has no round trips."""

    def pipeline(self) -> AbstractContextManager[None]: ...

    def send(self, sql: str, /) -> None: ...

    def sync(self, *, force: bool = False) -> None: ...

    def discard(self) -> None: ...


class Store(OutboxRows):
    def __init__(self, path: Path | str, password_env: str = "") -> None:
        """Open the store at ``path``: a SQLite file, or a ``postgresql://`` URL whose
        password, if any, is read from the variable ``password_env`` (else libpq's own
        ways: $PGPASSWORD, ~/.pgpass)."""
        self.location = path
        self._password_env = password_env
        self.conn: Connection
        self.conn, self.dialect = connect(path, password_env)
        self._pg = self.conn if isinstance(self.conn, _Pipelining) else None
        self._depth = 0
        self._after_commit: list[Callable[[], None]] = []  # see after_commit
        # Told of every state change, inside its transaction: (ticket, old, new, now). The
        # service-level clocks (deadlines.py) stop, pause and restart through it.
        self.on_state_change: Callable[[int, State, State, datetime], None] | None = None
        # Told when a ticket's priority or segment changed: (ticket, now). Its due times follow.
        self.on_reclassify: Callable[[int, datetime], None] | None = None

    @property
    def path(self) -> Path:
        """The SQLite file (what the writer fsyncs and the backup copies)."""
        if is_url(self.location):
            raise TypeError(f"{redacted(self.location)} is a PostgreSQL store, not a file")
        return Path(self.location)

    def __repr__(self) -> str:
        return f"Store({redacted(self.location)!r})"

    def close(self) -> None:
        self.conn.close()

    def reopen(self) -> None:
        """Connect again in place of a lost connection (session.py). Nothing of the old
        session is kept: its transaction was never committed, so no commit hook runs.
        The schema was brought up to date at the first connection."""
        with suppress(Exception):  # already gone: closing only frees what is left
            self.conn.close()
        self.conn, self.dialect = connect_again(self.location, self._password_env)
        self._pg = self.conn if isinstance(self.conn, _Pipelining) else None
        self._depth = 0
        self._after_commit = []

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE … COMMIT; everything inside lands together or not at all.

        Nested, it is a savepoint: a failure inside undoes only the inner part, and the
        outer transaction (a group of messages committed together) goes on.
        """
        if self._depth:
            name = f"sp{self._depth}"
            self._send(f"SAVEPOINT {name}")
            self._depth += 1
            mark = len(self._after_commit)
            try:
                yield
                if self._pg is not None:  # the block's errors surface in the block
                    self._pg.sync()
            except BaseException:
                if self._pg is not None:
                    self._pg.discard()
                self.conn.execute(f"ROLLBACK TO {name}")
                self.conn.execute(f"RELEASE {name}")
                del self._after_commit[mark:]  # what was undone will never be committed
                raise
            else:
                self._send(f"RELEASE {name}")
            finally:
                self._depth -= 1
            return
        self.conn.execute(self.dialect.begin)
        self._depth = 1
        try:
            yield
            if self._pg is not None:  # an error still in the pipeline undoes it all
                self._pg.sync(force=True)
        except BaseException:
            if self._pg is not None:
                self._pg.discard()
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")
            if self._pg is not None:
                self._pg.sync(force=True)
        finally:
            self._depth = 0
            callbacks, self._after_commit = self._after_commit, []
        _call_all(callbacks)  # reached only once COMMIT succeeded

    @contextmanager
    def committed_lazily(self) -> Iterator[None]:
        """A transaction whose commit a crash of this process survives but a crash of the
        database server may not: for records whose loss only repeats work (the outbox
        sender's "delivered" mark: a lost one sends that row again). SQLite's writer
        flushes such commits later with the others (writer.py); PostgreSQL would flush
        each at its COMMIT, one disk flush per delivered mail on the writer's thread, so
        this transaction alone does not wait for it (``synchronous_commit`` off, which
        never corrupts: the server replays or drops the whole transaction). Inside a
        transaction already, it is that transaction's part."""
        if self._pg is None or self._depth:
            yield
            return
        with self.transaction():
            self.conn.execute("SET LOCAL synchronous_commit TO off")
            yield

    def pipelined(self) -> AbstractContextManager[None]:
        """On PostgreSQL, statements inside are sent without waiting for each answer
        (postgres.py); transactions inside keep their meaning. Nothing on SQLite."""
        return self._pg.pipeline() if self._pg is not None else nullcontext()

    def _send(self, sql: str) -> None:
        if self._pg is not None:
            self._pg.send(sql)
        else:
            self.conn.execute(sql)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the work in hand is committed; never if it is undone.

        For log lines that say something was stored: inside a group of messages
        committed together, a message is stored only when the whole group commits.
        """
        if self._depth:
            self._after_commit.append(callback)
        else:
            callback()

    # -- meta -------------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # -- writes (inside a transaction) ------------------------------------------------

    def put_blob(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        self.conn.execute(
            "INSERT INTO blobs (sha256, size, data) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            (digest, len(data), data),
        )
        return digest

    def insert_ticket(self, new: NewTicket, now: datetime) -> int:
        cursor = self.conn.execute(
            "INSERT INTO tickets (queue, queue_address, state, subject, requester, requester_name,"
            " language, claimed_tag, linked_to, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING number",
            (
                new.queue,
                new.queue_address,
                State.NEW.value,
                new.subject,
                new.requester,
                new.requester_name,
                new.language,
                new.claimed_tag,
                new.linked_to,
                iso(now),
                iso(now),
            ),
        )
        number = returned(cursor)
        self.add_participants(number, [new.requester], "requester")
        return number

    def add_participants(self, ticket: int, addresses: Iterable[str], role: str) -> None:
        self.conn.executemany(
            "INSERT INTO participants (ticket, address, role) VALUES (?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            [(ticket, a.lower(), role) for a in addresses],
        )

    def set_state(self, ticket: int, state: State, now: datetime) -> None:
        closed_at = iso(now) if state.is_closed else None
        old = self.conn.execute("SELECT state FROM tickets WHERE number = ?", (ticket,)).fetchone()
        self.conn.execute(
            "UPDATE tickets SET state = ?, updated_at = ?, closed_at = ? WHERE number = ?",
            (state.value, iso(now), closed_at, ticket),
        )
        if self.on_state_change is not None and old is not None and old[0] != state.value:
            self.on_state_change(ticket, State(old[0]), state, now)

    def touch(self, ticket: int, now: datetime) -> None:
        self.conn.execute("UPDATE tickets SET updated_at = ? WHERE number = ?", (iso(now), ticket))

    def insert_message(self, msg: NewMessage, now: datetime) -> int:
        cursor = self.conn.execute(
            "INSERT INTO messages (ticket, direction, kind, message_id, dedupe_key, from_addr,"
            " from_name, to_addrs, cc_addrs, subject, body, sent_at, received_at, source,"
            " envelope_from, raw_sha256, note)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            # The unique key decides, not the look-up before: a daemon that stores the
            # same message at the same moment waits here for the other's commit.
            " ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING RETURNING id",
            (
                msg.ticket,
                msg.direction,
                msg.kind,
                msg.message_id,
                msg.dedupe_key,
                msg.from_addr,
                msg.from_name,
                json.dumps(list(msg.to_addrs)),
                json.dumps(list(msg.cc_addrs)),
                msg.subject,
                msg.body,
                iso(msg.sent_at) if msg.sent_at else None,
                iso(now),
                msg.source,
                msg.envelope_from,
                msg.raw_sha256,
                msg.note,
            ),
        )
        row = cursor.fetchone()
        if row is None:
            raise AlreadyStored(f"message {msg.dedupe_key} was stored meanwhile")
        return int(row[0])

    def add_attachment(self, message: int, filename: str, content_type: str, data: bytes) -> None:
        digest = self.put_blob(data)
        self.conn.execute(
            "INSERT INTO attachments (message, filename, content_type, size, sha256)"
            " VALUES (?, ?, ?, ?, ?)",
            (message, filename, content_type, len(data), digest),
        )

    def add_event(self, ticket: int | None, kind: str, detail: str, now: datetime) -> None:
        self.conn.execute(
            "INSERT INTO events (ticket, at, kind, detail) VALUES (?, ?, ?, ?)",
            (ticket, iso(now), kind, detail),
        )

    def quarantine(
        self,
        raw: bytes,
        *,
        reason: str,
        source: str,
        envelope_from: str | None,
        recipients: Sequence[str],
        now: datetime,
    ) -> int:
        digest = self.put_blob(raw)
        # The same bytes from the same source again (an IMAP message fetched a second time
        # after a crash, a sender's retry) are the same quarantined message.
        held = self.conn.execute(
            "SELECT id FROM quarantine WHERE raw_sha256 = ? AND source = ?", (digest, source)
        ).fetchone()
        if held is not None:
            return int(held[0])
        cursor = self.conn.execute(
            "INSERT INTO quarantine (received_at, source, reason, envelope_from, recipients,"
            " size, raw_sha256) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (
                iso(now),
                source,
                reason,
                envelope_from,
                json.dumps(list(recipients)),
                len(raw),
                digest,
            ),
        )
        return returned(cursor)

    # -- lookups used while threading --------------------------------------------------

    def find_duplicate(self, dedupe_key: str) -> tuple[int, int | None] | None:
        """(message id, ticket) of the message already stored under ``dedupe_key``."""
        row = self.conn.execute(
            "SELECT id, ticket FROM messages WHERE dedupe_key = ?", (dedupe_key,)
        ).fetchone()
        return None if row is None else (row[0], row[1])

    def tickets(self, numbers: Sequence[int]) -> dict[int, Ticket]:
        if not numbers:
            return {}
        marks = ",".join("?" * len(numbers))
        found = self.conn.execute(
            f"SELECT * FROM tickets WHERE number IN ({marks})",  # noqa: S608 - only '?' marks
            list(numbers),
        )
        # Both asked before either is read: one round trip on PostgreSQL's pipeline.
        participants = self.conn.execute(
            f"SELECT ticket, address FROM participants WHERE ticket IN ({marks})",  # noqa: S608
            list(numbers),
        )
        rows = found.fetchall()
        people: dict[int, set[str]] = {}
        for ticket, address in participants:
            people.setdefault(ticket, set()).add(address)
        return {
            row["number"]: _ticket(row, frozenset(people.get(row["number"], ()))) for row in rows
        }

    def tickets_of_message_ids(self, ids: Sequence[str]) -> list[int]:
        """Tickets holding any of ``ids``, in the order the ids were given."""
        found: list[int] = []
        for message_id in ids[-50:]:  # a reference chain longer than 50 adds nothing
            row = self.conn.execute(
                "SELECT ticket FROM messages WHERE message_id = ? AND ticket IS NOT NULL"
                " ORDER BY id DESC LIMIT 1",
                (message_id,),
            ).fetchone()
            if row is not None and row[0] not in found:
                found.append(row[0])
        return found

    # -- IMAP accounts -----------------------------------------------------------------

    def imap_state(self, account: str, folder: str) -> tuple[int, int] | None:
        """(UIDVALIDITY, last UID taken) of ``account``'s ``folder``, if it was read before."""
        row = self.conn.execute(
            "SELECT uidvalidity, last_uid FROM imap_state WHERE account = ? AND folder = ?",
            (account, folder),
        ).fetchone()
        return None if row is None else (int(row[0]), int(row[1]))

    def set_imap_state(
        self, account: str, folder: str, uidvalidity: int, last_uid: int, now: datetime
    ) -> None:
        self.conn.execute(
            "INSERT INTO imap_state (account, folder, uidvalidity, last_uid, updated_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT(account, folder) DO UPDATE SET"
            " uidvalidity = excluded.uidvalidity, last_uid = excluded.last_uid,"
            " updated_at = excluded.updated_at",
            (account, folder, uidvalidity, last_uid, iso(now)),
        )

    # -- outbox --------------------------------------------------------------------------

    def event_since(self, kind: str, detail: str, since: datetime) -> bool:
        """Whether an event ``kind`` with ``detail`` was recorded since ``since``."""
        row = self.conn.execute(
            "SELECT 1 FROM events WHERE kind = ? AND at >= ? AND detail = ? LIMIT 1",
            (kind, iso(since), detail),
        ).fetchone()
        return row is not None


def _call_all(callbacks: list[Callable[[], None]]) -> None:
    for callback in callbacks:
        try:
            callback()
        except Exception:  # what is committed stays so; a faulty callback is only logged
            log.exception("after-commit callback failed")


def _ticket(row: Any, participants: frozenset[str]) -> Ticket:
    return Ticket(
        number=row["number"],
        queue=row["queue"],
        state=State(row["state"]),
        subject=row["subject"],
        requester=row["requester"],
        created_at=from_iso(row["created_at"]),
        closed_at=from_iso(row["closed_at"]) if row["closed_at"] else None,
        participants=participants,
        queue_address=row["queue_address"],
        requester_name=row["requester_name"],
        language=row["language"],
        assignee=row["assignee"],
        group=row["group_name"],
        priority=row["priority"],
        category=row["category"],
        segment=row["segment"],
        first_response_at=from_iso(row["first_response_at"]) if row["first_response_at"] else None,
        merged_into=row["merged_into"],
    )
