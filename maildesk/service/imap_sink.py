"""How the IMAP threads reach the single writer (``maildesk.ingest.imap.Sink``): each
call is handed to the event loop or the writer thread and waited for in the account's
own thread.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from typing import TYPE_CHECKING

from maildesk.ingest.envelope import Envelope, Outcome
from maildesk.store.locks import account_key

if TYPE_CHECKING:
    from maildesk.service.daemon import Daemon


class ImapSink:
    """How the IMAP threads reach the single writer (``maildesk.ingest.imap.Sink``)."""

    def __init__(self, daemon: Daemon, loop: asyncio.AbstractEventLoop) -> None:
        self.daemon = daemon
        self.loop = loop
        self._accounts = {a.source: a.name for a in daemon.config.imap}

    def accept(self, raw: bytes, envelope: Envelope) -> Future[Outcome]:
        # Taken only while this daemon holds the account (Daemon.accept).
        account = self._accounts.get(envelope.source)
        return asyncio.run_coroutine_threadsafe(
            self.daemon.accept(raw, envelope, account), self.loop
        )

    def own(self, account: str) -> bool:
        """Whether this daemon reads ``account`` (another may, on a shared database)."""
        take = self.daemon.ownership.take
        return self.daemon.writer.submit(take, account_key(account)).result()

    def load_state(self, account: str, folder: str) -> tuple[int, int] | None:
        return self.daemon.writer.submit(self.daemon.store.imap_state, account, folder).result()

    def save_state(self, account: str, folder: str, uidvalidity: int, last_uid: int) -> None:
        store, now = self.daemon.store, self.daemon.clock.now()
        self.daemon.writer.submit(
            store.set_imap_state, account, folder, uidvalidity, last_uid, now
        ).result()
