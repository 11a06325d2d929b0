"""The writer's database session, kept through a restart or a failover of PostgreSQL.

A PostgreSQL server restarts, or a standby takes over, under a running daemon: the
store's connection is cut and every statement on it fails from then on. ``Session``
tells that apart from an SQL error in a sound session (a unique key, a constraint:
those keep their meaning), answers the work in hand "try again" (``DatabaseLost``, a
``TransientError``: SMTP 451, the IMAP message left unseen), and opens a new connection
with a backoff. It says so twice in the log, once when the database is lost and once
when it is back, whatever the mail in between.

What lived in the lost session is gone with it: its transaction (nothing of it was
committed, nothing was acknowledged), its outbox claims (void once the session ended,
claims.py: free for whichever daemon claims next) and its advisory locks. The locks are
forgotten before anything runs on the new session, then asked for again: another daemon
may have taken one meanwhile, and then it is that daemon's (locks.py). Settings made at
connect (autocommit, application_name, the row factory) come with every new connection;
the pipeline is opened per group of messages, and nothing is prepared by hand.

On SQLite the store is a file, which is not lost: nothing here ever acts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from maildesk.errors import TransientError
from maildesk.store.database import redacted
from maildesk.store.libpq import driver_reason
from maildesk.store.locks import Ownership
from maildesk.store.store import Store

log = logging.getLogger(__name__)

RECONNECT_FIRST = 0.5  # seconds before the first attempt to connect again
RECONNECT_CAP = 30.0


class DatabaseLost(TransientError):
    """The store's connection to its database is lost: nothing was stored; try again."""


def reconnect_delay(failures: int) -> float:
    """Seconds to wait after ``failures`` failed attempts in a row to connect again.

    >>> [reconnect_delay(n) for n in (0, 1, 2, 3, 7, 50)]
    [0.5, 0.5, 1.0, 2.0, 30.0, 30.0]
    """
    return min(RECONNECT_CAP, RECONNECT_FIRST * 2.0 ** min(max(failures - 1, 0), 30))


def connection_lost(store: Store) -> bool:
    """Whether ``store``'s connection is gone (rather than a statement having failed)."""
    raw = getattr(store.conn, "raw", None)  # PostgreSQL's psycopg connection
    return raw is not None and bool(raw.closed or raw.broken)


class Session:
    """The store's session as the writer thread keeps it.

    ``after_error``, ``ready`` and ``probe`` run on the writer thread; ``up``, ``error``
    and ``lost_for`` may be read from any thread (each is replaced whole).
    """

    def __init__(
        self,
        store: Store,
        ownership: Ownership | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.ownership = ownership
        self.clock = clock
        self.up = True
        self.error = ""  # why the database is unreachable, for /healthz (no password)
        self.reconnects = 0  # sessions opened again since start, for /metrics
        self._lost_at = 0.0
        self._failures = 0
        self._next_try = 0.0
        self._held: frozenset[int] = frozenset()  # the locks held when the session died

    @property
    def lost_for(self) -> float:
        """Seconds since the connection was lost; 0 while it is up."""
        return 0.0 if self.up else max(0.0, self.clock() - self._lost_at)

    def after_error(self, error: BaseException) -> BaseException:
        """What to tell the caller of work that raised ``error``: ``DatabaseLost`` when the
        connection is gone (the session is then dropped), else ``error`` as it is."""
        if isinstance(error, DatabaseLost):
            return error
        if not connection_lost(self.store):
            return error
        if self.up:
            self._drop(error)
        lost = DatabaseLost(f"the connection to the database is lost: {driver_reason(error)}")
        lost.__cause__ = error
        return lost

    def refused(self) -> DatabaseLost:
        """The answer to work that arrives while the database is unreachable."""
        return DatabaseLost(f"the database is unreachable: {self.error}")

    def wait(self) -> float | None:
        """Seconds until the next attempt to connect again; None while connected."""
        return None if self.up else max(0.0, self._next_try - self.clock())

    def ready(self) -> bool:
        """Whether the store is connected; if not, connect again when the backoff allows."""
        if self.up:
            return True
        if self.clock() < self._next_try:
            return False
        try:
            self.store.reopen()
        except TransientError as exc:  # still down (refused, a timeout, the standby not yet up)
            self._failures += 1
            self._next_try = self.clock() + reconnect_delay(self._failures)
            self.error = str(exc)
            return False
        down = self.clock() - self._lost_at
        self.up, self.error, self._failures = True, "", 0
        self.reconnects += 1
        log.info(
            "the database %s is back after %.1f s; taking mail again",
            redacted(self.store.location),
            down,
        )
        self._take_again()
        return True

    def probe(self) -> bool:
        """Ask the server for nothing, so a connection cut while the daemon is idle is
        noticed now, not at the next mail (and the locks it held are not shown as held)."""
        if not self.ready():
            return False
        try:
            self.store.conn.execute("SELECT 1").fetchall()
        except Exception as exc:
            if isinstance(self.after_error(exc), DatabaseLost):
                return False
            raise
        return True

    def _drop(self, error: BaseException) -> None:
        self.up = False
        self._lost_at = self.clock()
        self._failures = 0
        self._next_try = self._lost_at + RECONNECT_FIRST
        self.error = driver_reason(error)
        self._held = self.ownership.forget() if self.ownership is not None else frozenset()
        log.warning(
            "lost the connection to the database %s (%s): mail is answered 'try again'"
            " until it is back; reconnecting with backoff%s",
            redacted(self.store.location),
            self.error,
            f"; {len(self._held)} lock(s) given up with the session" if self._held else "",
        )

    def _take_again(self) -> None:
        """Ask again for the locks the lost session held; another daemon may hold some."""
        held, self._held = self._held, frozenset()
        if self.ownership is None or not held:
            return
        kept = {key for key in sorted(held) if self._take(self.ownership, key)}
        if not self.up:  # lost again meanwhile: ask for all of them next time
            self._held |= held
        elif kept != held:
            log.info(
                "%d of %d lock(s) held before are another daemon's now", len(held - kept), len(held)
            )

    def _take(self, ownership: Ownership, key: int) -> bool:
        try:
            return ownership.take(key)
        except Exception as exc:  # lost again at once: the next ready() starts over
            self.after_error(exc)
            return False
