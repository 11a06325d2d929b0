"""The outbox sender: delivers due outbox rows, one at a time, with retries and backoff.

Deliveries run in turn on one long-lived daemon thread (smtplib blocks). Unlike the
event loop's default executor, that thread never holds up the process's exit, so a relay
that hangs cannot make a shutdown overrun its bound; the row then stays pending and is
sent at the next start (at-least-once, as after a crash). Starting a thread per delivery
cost the event loop more than the file transport's write.

Each row is marked sent as soon as the relay took it, in its own commit, and the next
delivery waits for that commit but not for the disk: the writer's sync thread fsyncs
later, one fsync for many commits (writer.py, syncer.py). A commit not yet on disk
survives a kill of the process, so a crash sends again at most the one delivery in
flight; only a power cut may lose a few marks and send those rows again (at-least-once).
Marking a whole pass in one transaction at its end, as before, cost as few fsyncs but
sent the pass's mail again after a kill.

Several daemons on one PostgreSQL database each claim the rows they send
(store/claims.py), a few at a time so that a slow relay does not leave one daemon
holding the work of all. A claim belongs to the database session that made it, which
is the writer's: every database call here goes through ``db``, on that session. A
daemon that stops gives back the rows it holds unsent; one that is killed loses them
with its session. Either way the other daemons take them at once, and only the delivery
that was with the relay at a kill may go twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from maildesk.clock import Clock
from maildesk.config import Config
from maildesk.errors import PermanentError, TransientError
from maildesk.outbox.transports import Transport, next_attempt, recipients
from maildesk.privacy.anonymity import is_alias
from maildesk.store import claims
from maildesk.store.session import DatabaseLost
from maildesk.store.store import Store, from_iso, iso

log = logging.getLogger(__name__)

T = TypeVar("T")
_IDLE_POLL = 5.0  # seconds between outbox scans when nothing wakes the sender
# Rows claimed at a time: few enough that another daemon finds work while a slow relay
# takes these, enough that claiming costs little beside the deliveries.
_CLAIM = 10


@dataclass(frozen=True)
class RelayState:
    """How the relay answered last, for /healthz."""

    state: str = "idle"  # idle (nothing sent yet), ok, failing
    last_error: str = ""
    since: str = ""  # when it entered this state (UTC ISO-8601)


class _Counts(Protocol):
    def delivery(self, result: str) -> None: ...


class Host(Protocol):
    """What the sender needs from the running daemon (read at each pass: a reload applies)."""

    @property
    def config(self) -> Config: ...

    @property
    def store(self) -> Store: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def metrics(self) -> _Counts: ...

    @property
    def transport(self) -> Transport: ...

    async def db(self, func: Callable[..., T], *args: object) -> T: ...

    async def db_committed(self, func: Callable[..., T], *args: object) -> T: ...

    def open_recipients(self, rcpt: list[str]) -> list[str]: ...


class Sender:
    def __init__(self, daemon: Host) -> None:
        self.daemon = daemon
        self.relay = RelayState()  # read by /healthz: replaced whole, never changed in place
        # Rows the relay took whose "sent" mark the database was not there to record: marked
        # before anything is claimed again, so this daemon does not send them a second time.
        self._unmarked: list[tuple[int, datetime]] = []

    async def run(self, stop: asyncio.Event, wake: asyncio.Event) -> None:
        """Deliver what is due until ``stop``; ``wake`` says new rows were written."""
        daemon = self.daemon
        while not stop.is_set():
            upcoming = None
            try:
                await self.deliver_due(stop=stop)
                upcoming = await daemon.db(claims.next_due_at, daemon.store)
            except DatabaseLost:  # the writer logs the loss and the return, once each
                pass
            except Exception:  # the sender must outlive any one bad row or database hiccup
                log.exception("outbox pass failed; will retry")
            wait = _IDLE_POLL
            if upcoming is not None:
                wait = max(0.0, min(wait, (upcoming - daemon.clock.now()).total_seconds()))
            wake.clear()
            if stop.is_set():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=wait)

    async def deliver_due(
        self, deadline: float | None = None, stop: asyncio.Event | None = None
    ) -> None:
        """Deliver due rows until none is left, ``stop`` is set (the row in hand is
        finished), or the monotonic ``deadline`` passes. Rows claimed and not delivered
        are given back for another daemon."""
        daemon = self.daemon
        while self._unmarked:  # delivered while the database was away: not to go twice
            row_id, at = self._unmarked[0]
            await daemon.db_committed(daemon.store.outbox_sent, row_id, at)
            self._unmarked.pop(0)
        while True:
            rows = await daemon.db(claims.claim_due, daemon.store, daemon.clock.now(), _CLAIM)
            if not rows:
                return
            held = [int(row["id"]) for row in rows]
            try:
                for row in rows:
                    if (stop is not None and stop.is_set()) or (
                        deadline is not None and time.monotonic() >= deadline
                    ):
                        return
                    finished = await self._deliver(row, deadline)
                    # Finished, the row's claim ended with its mark (store.py). Still with
                    # the relay at the deadline, it stays ours: given back, another daemon
                    # could send it while this one does; the claim ends with our session.
                    held.remove(int(row["id"]))
                    if not finished:
                        return
            finally:
                await self._release(held)

    async def _release(self, held: list[int]) -> None:
        if not held:
            return
        daemon = self.daemon
        try:
            given = await daemon.db(claims.release, daemon.store, held)
        except DatabaseLost:  # their claims went with the session
            return
        except Exception as exc:  # the session's end frees them anyway
            log.warning("cannot give back %d claimed outbox row(s): %s", len(held), exc)
            return
        if given:
            log.info("gave back %d outbox row(s) unsent, for another node to send", given)

    def _ref(self, row: sqlite3.Row) -> str:
        if row["ticket"] is None:
            return "-"
        queue = row["ticket_queue"] or ""
        return f"{self.daemon.config.tag_of(queue)}#{row['ticket']}"

    async def _deliver(self, row: sqlite3.Row, deadline: float | None) -> bool:
        """Deliver ``row`` and record how it went; False if the ``deadline`` came first."""
        daemon = self.daemon
        row_id, rcpt = row["id"], recipients(row["rcpt_to"])
        what = f"ticket={self._ref(row)} message-id=<{row['message_id']}> outbox row {row_id}"
        sending = asyncio.ensure_future(self._send(row, rcpt))
        if deadline is not None:
            done, _ = await asyncio.wait({sending}, timeout=max(0.0, deadline - time.monotonic()))
            if not done:
                log.warning("%s: still being sent at the stop deadline; sent again at start", what)
                return False
        try:
            await sending
        except PermanentError as exc:
            log.error("%s failed permanently: %s", what, exc)
            self._relay("ok", str(exc))  # the relay answered; it refused this message
            daemon.metrics.delivery("failed")
            await daemon.db(daemon.store.outbox_failed, row_id, str(exc))
        except TransientError as exc:
            now = daemon.clock.now()
            outgoing = daemon.config.outgoing
            self._relay("failing", str(exc))
            if now - from_iso(row["created_at"]) > timedelta(hours=outgoing.max_age_hours):
                log.error("%s given up after %d attempts: %s", what, row["attempts"] + 1, exc)
                daemon.metrics.delivery("failed")
                await daemon.db(daemon.store.outbox_failed, row_id, f"expired: {exc}")
            else:
                retry = next_attempt(now, row["attempts"] + 1, outgoing.retry_seconds)
                log.warning("%s delayed: %s; next attempt %s", what, exc, retry.isoformat())
                daemon.metrics.delivery("retry")
                await daemon.db(daemon.store.outbox_retry, row_id, str(exc), retry)
        else:
            # Committed before the next delivery starts: a kill re-sends only the one in flight.
            now = daemon.clock.now()
            try:
                await daemon.db_committed(daemon.store.outbox_sent, row_id, now)
            except DatabaseLost:
                self._unmarked.append((row_id, now))
                raise
            self._relay("ok", "")
            daemon.metrics.delivery("sent")
            log.info("sent %s to %s", what, ", ".join(rcpt))
        return True

    async def _send(self, row: sqlite3.Row, rcpt: list[str]) -> None:
        """Deliver ``row``; an anonymous requester's address is opened only for this."""
        daemon = self.daemon
        opened = rcpt
        if any(is_alias(a) for a in rcpt):  # only a pseudonym needs the store, on the writer
            opened = await daemon.db(daemon.open_recipients, rcpt)
        try:
            await _in_thread(daemon.transport.send, row["id"], row["mail_from"], opened, row["raw"])
        except (PermanentError, TransientError) as exc:
            if opened == rcpt:
                raise
            # The relay's answer may quote the address; the log and the row get the pseudonym.
            text = str(exc)
            for real, alias in zip(opened, rcpt, strict=True):
                text = text.replace(real, alias)
            raise type(exc)(text) from None

    def _relay(self, state: str, error: str) -> None:
        if state != self.relay.state:
            self.relay = RelayState(state, error, iso(self.daemon.clock.now()))
        elif error != self.relay.last_error:
            self.relay = RelayState(state, error, self.relay.since)


_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[..., Any], tuple[Any, ...]]


class _Courier:
    """Runs ``func(*args)`` calls in turn on one daemon thread, started when first needed."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def run(self, func: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """``func(*args)`` on the courier's thread; the future holds its result."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((loop, future, func, args))
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._work, name="maildesk-send", daemon=True)
            self._thread.start()
        return future

    def _work(self) -> None:
        while True:
            loop, future, func, args = self._jobs.get()
            result, error = None, None
            try:
                result = func(*args)
            except BaseException as exc:  # handed to the awaiting task, which sorts it out
                error = exc
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
                loop.call_soon_threadsafe(_settle, future, result, error)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # given up on (the loop is stopping)
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


_COURIER = _Courier()


def _in_thread(func: Callable[..., T], *args: Any) -> asyncio.Future[T]:
    """``func(*args)`` on the sender's daemon thread; the future holds its result."""
    return _COURIER.run(func, *args)
