"""The single writer: one thread owns the store; inbound mail is committed in small groups.

Every source hands its messages here. Messages that arrive while a commit is under way
are stored together in the next transaction, each inside its own savepoint, so one bad
message never takes the others down and a burst costs one fsync instead of one each.
Callers are answered only after the commit that holds their message is on disk
(invariant 1): the commit itself does not wait for the disk, the syncer (syncer.py)
does, on its own thread, while this one goes on with the next group.

On PostgreSQL the connection may be cut under the writer (the server restarts or fails
over): the work in hand and whatever arrives until the database is back is answered
``DatabaseLost`` ("try again"), and the writer connects again with a backoff between its
jobs (store/session.py).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from maildesk.errors import TransientError
from maildesk.ingest.envelope import Envelope, Outcome
from maildesk.ingest.pipeline import Pipeline
from maildesk.service.syncer import WRITER_CHECKPOINT_PAGES, Settlement, Syncer
from maildesk.store.session import Session
from maildesk.store.store import Store

log = logging.getLogger(__name__)

T = TypeVar("T")
_MAX_BATCH = 64  # bounds the time a sender waits for our 250 behind others


@dataclass
class _Job:
    future: Future[Any] = field(default_factory=Future)
    call: Callable[[], Any] | None = None  # any store work
    durable: bool = True  # answer after the fsync (else at the commit; see submit_committed)
    raw: bytes = b""  # or a message to ingest
    envelope: Envelope | None = None
    # On the writer thread, just before the message is taken: whether it may be (an IMAP
    # account's message, while this daemon holds the account's lock).
    guard: Callable[[], bool] | None = None


_STOP = _Job()


def _on_disk_already() -> None:
    pass


class Writer:
    def __init__(
        self,
        store: Store,
        pipeline: Pipeline,
        sync: Callable[[], None] | None = None,
        session: Session | None = None,
    ) -> None:
        """``sync`` flushes the store to disk; by default an fsync of its log. ``session``
        keeps the store's database session (one of its own by default)."""
        self.store = store
        self.pipeline = pipeline
        self.session = session or Session(store)
        if store.dialect.is_postgres:
            # PostgreSQL's COMMIT returns once the server's log is on disk: nothing of
            # ours to wait for, and the syncer only keeps the answering order.
            self._syncer = Syncer(Path(os.devnull), sync or _on_disk_already)
        else:
            # The syncer waits for the disk, and copies the log into the database.
            store.conn.execute("PRAGMA synchronous=NORMAL")
            store.conn.execute(f"PRAGMA wal_autocheckpoint={WRITER_CHECKPOINT_PAGES}")
            self._syncer = Syncer(store.path, sync)
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="maildesk-writer", daemon=True)
        self._thread.start()

    def submit(self, func: Callable[..., T], *args: Any) -> Future[T]:
        """Run ``func(*args)`` on the writer thread."""
        job = _Job(call=lambda: func(*args))
        self._jobs.put(job)
        return job.future

    def submit_committed(self, func: Callable[..., T], *args: Any) -> Future[T]:
        """Run ``func(*args)`` on the writer thread; the future resolves once it committed,
        before the fsync. Such a commit outlives a kill of the process (its pages are in
        the kernel), not a power cut: for records whose loss only repeats work, as the
        outbox sender's "this row was delivered" (a lost one sends that row again). On
        PostgreSQL the same holds: the server does not flush before answering the commit
        (``Store.committed_lazily``)."""
        job = _Job(call=lambda: func(*args), durable=False)
        self._jobs.put(job)
        return job.future

    def accept(
        self, raw: bytes, envelope: Envelope, guard: Callable[[], bool] | None = None
    ) -> Future[Outcome]:
        """Ingest one message; the future resolves after its transaction committed.
        ``guard``, if given, is asked on the writer thread first: False answers "try again"."""
        job = _Job(raw=raw, envelope=envelope, guard=guard)
        self._jobs.put(job)
        return job.future

    def close(self, timeout: float = 30.0) -> None:
        """Finish the queued work, close the store, stop the thread."""
        self._jobs.put(_STOP)
        self._thread.join(timeout)

    def _run(self) -> None:
        pending: _Job | None = None
        while True:
            if pending is not None:
                job, pending = pending, None
            else:
                try:  # while the database is lost, wake up to connect again
                    job = self._jobs.get(timeout=self.session.wait())
                except queue.Empty:
                    self.session.ready()
                    continue
            if job is _STOP:
                break
            if job.envelope is None:
                self._call(job)
                continue
            batch = [job]
            while len(batch) < _MAX_BATCH:
                try:
                    following = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if following.envelope is None:  # other work (or _STOP) keeps its turn
                    pending = following
                    break
                batch.append(following)
            self._ingest(batch)
        self._syncer.close()
        self.store.close()

    def _call(self, job: _Job) -> None:
        # A caller that gave up (a cancelled await) cancelled the future: skip the work.
        # Setting a result on a cancelled future raises, which would end this thread.
        if job.call is None or not job.future.set_running_or_notify_cancel():
            return
        if not self.session.ready():
            job.future.set_exception(self.session.refused())
            return
        try:
            if job.durable:
                settlement = Settlement(job.future, job.call())
            else:
                with self.store.committed_lazily():
                    settlement = Settlement(job.future, job.call())
        except BaseException as exc:
            settlement = Settlement(job.future, error=self.session.after_error(exc))
        if not job.durable:
            settlement.settle(None)
            # Still on disk soon, with whatever the sync thread flushes next.
            settlement = Settlement(Future())
        self._syncer.settle([settlement])

    def _ingest(self, batch: list[_Job]) -> None:
        # A sender that hung up before its turn gets no 250 and will send again: skip it.
        batch = [job for job in batch if job.future.set_running_or_notify_cancel()]
        if not batch:
            return
        if not self.session.ready():
            for job in batch:
                job.future.set_exception(self.session.refused())
            return
        results: list[Outcome | BaseException] = []
        try:
            with self.store.pipelined(), self.store.transaction():
                for job in batch:
                    if job.envelope is None:
                        continue
                    if not self.session.up:  # lost under an earlier message of the group
                        results.append(self.session.refused())
                        continue
                    if job.guard is not None and not job.guard():
                        results.append(TransientError("another daemon reads this mailbox now"))
                        continue
                    try:
                        with self.store.transaction():  # a savepoint: one failure stays alone
                            outcome = self.pipeline.accept(job.raw, job.envelope)
                    except Exception as exc:
                        error = self.session.after_error(exc)
                        if error is exc:  # the lost database is logged once, not per message
                            log.exception("cannot store a message from %s", job.envelope.source)
                        results.append(error)
                    else:  # on PostgreSQL an error may surface at the savepoint's end
                        results.append(outcome)
        except BaseException as exc:  # the commit itself failed: nothing of the batch holds
            error = self.session.after_error(exc)
            for job in batch:
                job.future.set_exception(error)
            return
        self._syncer.settle(
            [
                Settlement(job.future, error=result)
                if isinstance(result, BaseException)
                else Settlement(job.future, result)
                for job, result in zip(batch, results, strict=True)
            ]
        )
