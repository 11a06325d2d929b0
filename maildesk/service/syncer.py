"""Make the writer's commits durable off its thread, and only then answer their callers.

The writer's connection commits with ``synchronous=NORMAL``: a commit writes its pages
to SQLite's write-ahead log but does not wait for the disk. This thread then fsyncs the
log, and only after that settles the futures of the work those commits held. A caller
(an SMTP session's 250, an IMAP move, the outbox sender reading what to send) still
hears of nothing that is not on disk (invariant 1), as with ``synchronous=FULL``; but
the writer goes on with the next group of messages while the disk works, and one fsync
covers every group committed in the meantime.

What ``NORMAL`` alone gives up is only durability, never consistency: after a power
cut the store may lack the last commits, and no one was told of those (SQLite's WAL
documentation). A process crash loses nothing: the log's pages are in the kernel.

The checkpoints (copying the log into the database file, with two fsyncs) happen here
too, a few times a second at most, once the callers are answered, on this thread's own
connection: in the writer's COMMIT they held up a whole group of messages every
thousand pages. A passive checkpoint leaves the writer alone, so it cannot start the log
over while the writer appends; the writer's own automatic checkpoint, ten times further
out (about 40 MB of log), does that, quickly, as the pages are already copied.
"""

from __future__ import annotations

import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, NamedTuple

log = logging.getLogger(__name__)

CHECKPOINT_SECONDS = 0.25  # at most this often; under full load about SQLite's 1000 pages
WRITER_CHECKPOINT_PAGES = 10_000  # the writer's own, as a backstop


class Settlement(NamedTuple):
    """A caller's future and what to tell it once the commit is on disk."""

    future: Future[Any]
    result: Any = None
    error: BaseException | None = None

    def settle(self, failure: BaseException | None) -> None:
        # The flush failed: what was committed may not survive, so the caller must not
        # rely on it (an SMTP sender answered 451 sends again; it is then a duplicate).
        error = failure or self.error
        if error is not None:
            self.future.set_exception(error)
        else:
            self.future.set_result(self.result)


def sync_wal(database: Path) -> None:
    """fsync the store's write-ahead log, so every commit written to it is on disk."""
    try:
        _fsync(Path(f"{database}-wal"))
    except FileNotFoundError:  # no log: nothing was committed in WAL mode since it went
        return


def sync_folder(database: Path) -> None:
    """fsync the store's folder, so a newly created log file is found after a power cut."""
    _fsync(database.parent)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Syncer:
    def __init__(self, database: Path, sync: Callable[[], None] | None = None) -> None:
        """``sync`` replaces the fsync of the log (and the checkpoints) in tests."""
        self.database = database
        self._sync = sync or self._sync_database
        self._checkpoints = sync is None
        self._connection: sqlite3.Connection | None = None  # for checkpoints
        self._checkpointed_at = time.monotonic()
        self._folder_synced = False
        self._queue: queue.SimpleQueue[list[Settlement] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="maildesk-sync", daemon=True)
        self._thread.start()

    def settle(self, settlements: list[Settlement]) -> None:
        """Settle these once everything committed until now is on disk."""
        if settlements:
            self._queue.put(settlements)

    def close(self, timeout: float = 30.0) -> None:
        """Flush and settle what is waiting, then stop the thread."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _sync_database(self) -> None:
        sync_wal(self.database)
        if not self._folder_synced:
            sync_folder(self.database)
            self._folder_synced = True

    def _run(self) -> None:
        stopping = False
        while not stopping:
            waiting = [self._queue.get()]
            while True:
                try:
                    waiting.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stopping = None in waiting
            failure: BaseException | None = None
            try:
                self._sync()
            except Exception as exc:  # any failure: the thread must go on answering
                log.error("cannot flush the store to disk: %s; its callers will try again", exc)
                failure = exc
            for settlements in waiting:
                for settlement in settlements or ():
                    settlement.settle(failure)
            if self._checkpoints and failure is None:
                self._checkpoint()
        if self._connection is not None:
            self._connection.close()

    def _checkpoint(self) -> None:
        now = time.monotonic()
        if now - self._checkpointed_at < CHECKPOINT_SECONDS:
            return
        self._checkpointed_at = now
        try:
            if self._connection is None:
                self._connection = sqlite3.connect(
                    self.database, isolation_level=None, check_same_thread=False
                )
            # PASSIVE: copies what it can without waiting for the writer or any reader.
            self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except (OSError, sqlite3.Error) as exc:  # the writer's own checkpoint still runs
            log.warning("cannot checkpoint the store's log: %s", exc)
