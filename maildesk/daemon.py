"""``maildesk run``: wiring only. The listener, the IMAP accounts, the single writer and
the outbox sender.

All database work happens on one thread (the writer, ``writer.py``), so the store never
sees two writers; the event loop only waits for it. Parsing runs there too: it is
CPU-bound and the GIL would serialise it anyway, and messages that arrive together are
committed together. Each IMAP account runs on its own thread (imapclient
blocks) and hands raw mail to the writer through the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from datetime import timedelta
from typing import TypeVar

from maildesk.clock import Clock, SystemClock
from maildesk.config import Config, queue_for
from maildesk.errors import PermanentError, TransientError
from maildesk.ingest.imap import STOP_SECONDS, Account
from maildesk.ingest.pipeline import Envelope, Outcome, Pipeline, Stored
from maildesk.ingest.smtp import Handler, serve
from maildesk.outbox import Transport, make_transport, next_attempt, recipients
from maildesk.secret import load_secret
from maildesk.store.store import Store, from_iso
from maildesk.templates import Templates
from maildesk.writer import Writer

log = logging.getLogger(__name__)

T = TypeVar("T")
_IDLE_POLL = 5.0  # seconds between outbox scans when nothing wakes the sender


class Daemon:
    def __init__(self, config: Config, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.store = Store(config.database)
        self.templates = Templates(config.templates_dir, config.language)
        self.pipeline = Pipeline(
            config, self.store, self.templates, self.clock, load_secret(config, create=True)
        )
        self.writer = Writer(self.store, self.pipeline)
        self.transport: Transport = make_transport(config.outgoing)
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._imap_stopping = threading.Event()

    async def _db(self, func: Callable[..., T], *args: object) -> T:
        return await asyncio.wrap_future(self.writer.submit(func, *args))

    async def accept(self, raw: bytes, envelope: Envelope) -> Outcome:
        outcome = await asyncio.wrap_future(self.writer.accept(raw, envelope))
        if isinstance(outcome, Stored) and outcome.ticket is not None:
            self._wake.set()  # it may have queued mail: an acknowledgement, a notification, a reply
        return outcome

    def serves(self, address: str) -> bool:
        return queue_for(self.config, [address]) is not None

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stopping.set)
        handler = Handler(self.accept, self.serves, self.config.listener.protocol)
        server = None
        if self.config.listener.enabled:
            server = await serve(self.config.listener, handler, socket.getfqdn())
        sink = _ImapSink(self, loop)
        accounts = [Account(a, sink, self._imap_stopping).start() for a in self.config.imap]
        log.info(
            "maildesk ready: %s; database %s; outgoing mail %s%s",
            f"listening on {self.config.listener.protocol}://{self.config.listener.host}:"
            f"{self.config.listener.port}"
            if server
            else "listener disabled",
            self.config.database,
            f"to folder {self.config.outgoing.directory}"
            if self.config.outgoing.transport == "file"
            else f"via relay {self.config.outgoing.host}:{self.config.outgoing.port}",
            f"; IMAP accounts {', '.join(a.name for a in self.config.imap)}"
            if self.config.imap
            else "",
        )
        sender = asyncio.create_task(self._send_loop())
        await self._stopping.wait()
        log.info("stopping: no new mail accepted")
        handler.accepting = False
        if server is not None:
            server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), timeout=10)
        await self._stop_imap(accounts)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
        await self._deliver_due()  # one last pass so acknowledgements are not held back
        await asyncio.to_thread(self.writer.close)  # finishes queued work, closes the store
        log.info("stopped")

    async def _stop_imap(self, threads: list[threading.Thread]) -> None:
        """Let each account finish what it holds (IDLE done, logout); wait within a bound."""
        self._imap_stopping.set()
        deadline = time.monotonic() + STOP_SECONDS
        for thread in threads:
            await asyncio.to_thread(thread.join, max(0.0, deadline - time.monotonic()))
            if thread.is_alive():  # a daemon thread: it cannot keep the process alive
                log.warning("%s did not stop within %g s", thread.name, STOP_SECONDS)

    async def _send_loop(self) -> None:
        while True:
            try:
                await self._deliver_due()
            except Exception:  # the sender must outlive any one bad row or database hiccup
                log.exception("outbox pass failed; will retry")
            wait = _IDLE_POLL
            upcoming = await self._db(self.store.next_outbox_at)
            if upcoming is not None:
                wait = max(0.0, min(wait, (upcoming - self.clock.now()).total_seconds()))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def _deliver_due(self) -> None:
        while True:
            rows = await self._db(self.store.due_outbox, self.clock.now())
            if not rows:
                return
            for row in rows:
                await self._deliver(
                    row["id"],
                    row["mail_from"],
                    recipients(row["rcpt_to"]),
                    row["raw"],
                    row["attempts"],
                    row["created_at"],
                )

    async def _deliver(
        self,
        row_id: int,
        mail_from: str,
        rcpt: list[str],
        raw: bytes,
        attempts: int,
        created_at: str,
    ) -> None:
        try:
            await asyncio.to_thread(self.transport.send, row_id, mail_from, rcpt, raw)
        except PermanentError as exc:
            log.error("outbox row %d failed permanently: %s", row_id, exc)
            await self._db(self.store.outbox_failed, row_id, str(exc))
        except TransientError as exc:
            now = self.clock.now()
            outgoing = self.config.outgoing
            if now - from_iso(created_at) > timedelta(hours=outgoing.max_age_hours):
                log.error("outbox row %d given up after %d attempts: %s", row_id, attempts + 1, exc)
                await self._db(self.store.outbox_failed, row_id, f"expired: {exc}")
            else:
                retry = next_attempt(now, attempts + 1, outgoing.retry_seconds)
                log.warning(
                    "outbox row %d delayed: %s; next attempt %s", row_id, exc, retry.isoformat()
                )
                await self._db(self.store.outbox_retry, row_id, str(exc), retry)
        else:
            await self._db(self.store.outbox_sent, row_id, self.clock.now())
            log.info("sent outbox row %d to %s", row_id, ", ".join(rcpt))


class _ImapSink:
    """How the IMAP threads reach the single writer (``maildesk.ingest.imap.Sink``)."""

    def __init__(self, daemon: Daemon, loop: asyncio.AbstractEventLoop) -> None:
        self.daemon = daemon
        self.loop = loop

    def accept(self, raw: bytes, envelope: Envelope) -> Future[Outcome]:
        return asyncio.run_coroutine_threadsafe(self.daemon.accept(raw, envelope), self.loop)

    def load_state(self, account: str, folder: str) -> tuple[int, int] | None:
        return self.daemon.writer.submit(self.daemon.store.imap_state, account, folder).result()

    def save_state(self, account: str, folder: str, uidvalidity: int, last_uid: int) -> None:
        store, now = self.daemon.store, self.daemon.clock.now()
        self.daemon.writer.submit(
            store.set_imap_state, account, folder, uidvalidity, last_uid, now
        ).result()
