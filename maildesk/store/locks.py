"""Who does what, among several daemons on one PostgreSQL database: advisory locks.

One daemon sweeps (reminders, escalations, follow-ups, surveys, the retention purge,
the monthly report mail) and one reads each IMAP account. Each takes a session-level
advisory lock (``pg_try_advisory_lock``) on its store's connection, the one its writer
commits through: the lock lives exactly as long as that database session, so a daemon
that dies (killed, its machine gone) loses it with the session, and the next daemon to
ask gets it. Nothing is waited for: a daemon that does not get a lock asks again later.
A daemon whose session is cut (the database restarted or failed over) forgets what it
held at once and asks again on its new session (session.py), so two daemons never both
count the same lock as theirs.

On SQLite one daemon owns the file: every lock is granted.
"""

from __future__ import annotations

import hashlib

from maildesk.store.store import Store

# Any fixed 64-bit numbers no other lock uses (migrate.py holds 0x6D61_696C_6465_736B).
SWEEP_LOCK = 0x6D61_696C_7377_6565  # "mailswee"


def account_key(account: str) -> int:
    """The lock of one IMAP account: a signed 64-bit number from its name.

    >>> account_key("info") == account_key("info") != account_key("crm")
    True
    """
    digest = hashlib.blake2b(f"maildesk imap {account}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class Ownership:
    """The locks held through one store's database session.

    ``take`` runs on the thread that owns the store (the daemon's writer); ``held`` may
    be read from any thread (the HTTP listener's): it is replaced whole, never changed.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.held: frozenset[int] = frozenset()

    def take(self, key: int) -> bool:
        """Whether this daemon holds ``key`` now; asks for it when it does not yet."""
        if key in self.held:  # a session lock stays held until the session ends
            return True
        if self.store.dialect.is_postgres:
            row = self.store.conn.execute("SELECT pg_try_advisory_lock(?)", (key,)).fetchone()
            if not row[0]:
                return False
        self.held = self.held | {key}
        return True

    def forget(self) -> frozenset[int]:
        """The session that held the locks is gone, and the locks with it: hold nothing
        (another daemon may take them now); what was held, to be asked for again."""
        held, self.held = self.held, frozenset()
        return held

    def give_up(self, key: int) -> None:
        """Let another daemon take ``key`` (this one stops doing what it guards)."""
        if key not in self.held:
            return
        if self.store.dialect.is_postgres:
            self.store.conn.execute("SELECT pg_advisory_unlock(?)", (key,)).fetchall()
        self.held = self.held - {key}
