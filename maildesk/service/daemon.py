"""``maildesk run``: wiring only. The listener, the IMAP accounts, the single writer, the
outbox sender, the HTTP listener, the retention job, and the signals systemd sends.

All database work happens on one thread (the writer, ``writer.py``), so the store never
sees two writers; the event loop only waits for it. Parsing runs there too: it is
CPU-bound and the GIL would serialise it anyway, and messages that arrive together are
committed together. Each IMAP account runs on its own thread (imapclient
blocks) and hands raw mail to the writer through the event loop.

SIGHUP reloads the configuration and templates (``reload.py``) between two messages;
SIGTERM stops taking mail, finishes what is in hand, and exits within ``STOP_SECONDS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from datetime import datetime
from typing import Any, TypeVar

from maildesk.clock import Clock, SystemClock
from maildesk.config import Config, queue_for
from maildesk.config.secret import load_sealer, load_secret
from maildesk.desk import Desk
from maildesk.errors import ConfigError, MaildeskError, TransientError
from maildesk.ingest.envelope import Envelope, Outcome, Stored
from maildesk.ingest.imap import STOP_SECONDS as IMAP_STOP_SECONDS
from maildesk.ingest.imap import Account
from maildesk.ingest.pipeline import Pipeline
from maildesk.ingest.smtp import Handler, serve
from maildesk.outbox.sender import RelayState, Sender
from maildesk.outbox.transports import FileTransport, Transport, make_transport
from maildesk.privacy import sealed
from maildesk.reports.monthly import MonthlyReport
from maildesk.service import logs, reload, watchdog
from maildesk.service.health import DatabaseState, Holdings, JobState, install
from maildesk.service.imap_sink import ImapSink
from maildesk.service.metrics import Metrics
from maildesk.service.retention import PURGE_JOB, Retention
from maildesk.service.scheduler import Scheduler
from maildesk.service.sdnotify import Notifier
from maildesk.service.tokens import token_sources
from maildesk.service.web import WebServer
from maildesk.service.writer import Writer
from maildesk.sla.sweeps import Sweeps
from maildesk.store.database import redacted
from maildesk.store.locks import SWEEP_LOCK, Ownership, account_key
from maildesk.store.session import Session
from maildesk.store.store import Store
from maildesk.surveys import web as survey_web
from maildesk.surveys.service import Surveyor
from maildesk.templates import Templates

log = logging.getLogger(__name__)

T = TypeVar("T")
STOP_SECONDS = 20.0  # SIGTERM to exit; systemd's TimeoutStopSec (30 s) leaves a margin
_DRAIN_SECONDS = 10.0  # of which at most this long for SMTP transactions under way


class Daemon:
    def __init__(
        self, config: Config, clock: Clock | None = None, notifier: Notifier | None = None
    ) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.store = Store(config.store_location, config.database_password_env)
        self.secret = load_secret(config, create=True)
        self.sealer = load_sealer(config)  # None unless a queue is or was anonymous
        self.templates = Templates(config.templates_dir, config.language)
        self.desk = Desk(config, self.store, self.templates, self.secret, self.sealer)
        self.pipeline = Pipeline(self.desk, self.clock)
        # Among several daemons on one database: the sweeps and each IMAP account belong
        # to the daemon whose writer's session holds their lock (store/locks.py). A lost
        # session takes them with it; the writer asks again once connected (session.py).
        self.ownership = Ownership(self.store)
        self.session = Session(self.store, self.ownership)
        self.writer = Writer(self.store, self.pipeline, session=self.session)
        # One source per [[oauth]] credential, shared by the accounts and the relay that
        # name it; kept across reloads ([[oauth]] changes wait for a restart).
        self.tokens = token_sources(config, self.clock)
        self.node = config.node or socket.gethostname()  # a reload may rename it
        self.transport: Transport = self._transport(config)
        self.notifier = notifier or Notifier()
        self.metrics = Metrics()
        self.sender = Sender(self)
        self.scheduler = Scheduler(
            self._sweeps,
            self.writer.submit,
            self.clock,
            config.sla.sweep_seconds,
            monthly=self._monthly_report,
            may_sweep=self.take_sweeps,
        )
        self.web: WebServer | None = None  # other parts may add routes before run()
        # Read by the HTTP threads; each is replaced whole, never changed in place.
        self.accounts: list[Account] = []
        self.retention = Retention(self)
        self.ready = False
        self.stopping = False
        self.started_at = time.time()
        self._wake = asyncio.Event()  # outbox rows were written
        self._refused_sweeps = False  # another daemon held the sweep lock when asked
        self._took_sweeps = asyncio.Event()  # ... and this one holds it now (a takeover)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = asyncio.Event()
        self._reload = asyncio.Event()
        self._imap_stopping = threading.Event()
        self._in_flight = 0  # messages handed to the writer and not yet answered
        self._closed = False  # after the drain: a late message is answered "try again"

    @property
    def relay(self) -> RelayState:
        return self.sender.relay

    @property
    def holdings(self) -> Holdings:
        """For /healthz and /metrics: this node, and what it holds of the shared work."""
        held = self.ownership.held
        return Holdings(
            node=self.node,
            sweeps=SWEEP_LOCK in held,
            imap=tuple(a.name for a in self.config.imap if account_key(a.name) in held),
        )

    @property
    def database(self) -> DatabaseState:
        """For /healthz and /metrics: whether the writer's connection is up."""
        session = self.session
        return DatabaseState(session.up, session.error, session.reconnects)

    @property
    def surveyor(self) -> Surveyor:  # the survey pages answer with the desk in force
        return self.desk.surveyor

    def _transport(self, config: Config) -> Transport:
        return make_transport(config.outgoing, self.tokens.get(config.outgoing.oauth))

    def submit(self, func: Callable[..., T], *args: Any) -> Future[T]:
        return self.writer.submit(func, *args)

    def wake_sender(self) -> None:
        """From any thread: outbox rows were written (say, by an answer to a survey)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def _sweeps(self) -> Sweeps:  # on the writer thread, with the configuration in force
        return Sweeps(self.desk)

    def take_sweeps(self) -> bool:
        """On the writer thread: whether this daemon holds the sweep lock (taken if free).

        Taking it from another daemon (its session ended) is a takeover: the daily purge
        and the hourly monthly-report look, whose last runs were the other daemon's, run
        now instead of up to a day after; the SLA sweeps' next run comes within seconds.
        """
        had = SWEEP_LOCK in self.ownership.held
        held = self.ownership.take(SWEEP_LOCK)
        if not held:
            self._refused_sweeps = True
        elif not had and self._refused_sweeps:
            log.info(
                "node %s took over the sweeps: the retention purge and the monthly report run now",
                self.node,
            )
            self.scheduler.run_soon("monthly-report")
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self._took_sweeps.set)
        return held

    def _monthly_report(self, now: datetime) -> str | None:  # on the writer thread
        return MonthlyReport(self.config, self.store, self.desk.templates, self.desk.mailer).run(
            now
        )

    def open_recipients(self, rcpt: list[str]) -> list[str]:  # on the writer thread
        return sealed.open_recipients(self.store, self.sealer, rcpt)

    async def db(self, func: Callable[..., T], *args: object) -> T:
        """Run ``func(*args)`` on the writer thread and wait for it."""
        return await asyncio.wrap_future(self.writer.submit(func, *args))

    async def db_committed(self, func: Callable[..., T], *args: object) -> T:
        """``db``, answered at the commit rather than after the fsync (writer.py)."""
        return await asyncio.wrap_future(self.writer.submit_committed(func, *args))

    async def accept(self, raw: bytes, envelope: Envelope, account: str | None = None) -> Outcome:
        """Store one message. From an IMAP ``account``, only while this daemon holds the
        account's lock: a lost database session may have handed it to another daemon."""
        if self._closed:
            raise TransientError("shutting down; the message was not taken")
        self._in_flight += 1
        started = time.monotonic()
        result = "error"
        guard = None
        if account is not None:
            key = account_key(account)

            def guard() -> bool:
                return key in self.ownership.held

        try:
            outcome = await asyncio.wrap_future(self.writer.accept(raw, envelope, guard))
            result = type(outcome).__name__.lower()  # stored, duplicate, quarantined
        finally:
            self._in_flight -= 1
            self.metrics.ingested(envelope.source, result, time.monotonic() - started)
        if isinstance(outcome, Stored) and outcome.ticket is not None:
            self._wake.set()  # it may have queued mail: an acknowledgement, a notification, a reply
        return outcome

    def serves(self, address: str) -> bool:
        return queue_for(self.config, [address]) is not None

    def stop(self) -> None:
        """Begin a shutdown (SIGTERM, SIGINT)."""
        self._stop.set()
        self._wake.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        loop.add_signal_handler(signal.SIGHUP, self._reload.set)
        if isinstance(self.transport, FileTransport):  # before the listener and the sender
            self.transport.clear_partial()
        self._start_web()
        handler = Handler(self.accept, self.serves, self.config.listener.protocol)
        server = None
        if self.config.listener.enabled:
            server = await serve(self.config.listener, handler, socket.getfqdn())
        sink = ImapSink(self, loop)
        self.accounts = [
            Account(
                a,
                sink,
                self._imap_stopping,
                tokens=self.tokens.get(a.oauth),
                owner=sink.own,
            )
            for a in self.config.imap
        ]
        threads = [account.start() for account in self.accounts]
        sending = asyncio.create_task(self.sender.run(self._stop, self._wake))
        self.scheduler.start()  # reminders, escalations, follow-ups: first runs now
        chores = [
            asyncio.create_task(c)
            for c in (self._reloader(), self.retention.run(self._stop, self._took_sweeps))
        ]
        heartbeat = asyncio.create_task(watchdog.heartbeat(self))
        chores.append(asyncio.create_task(watchdog.watch_database(self)))
        self.ready = True
        log.info("maildesk ready: %s", self._describe(server is not None))
        anonymous = [q.name for q in self.config.queues if q.anonymous]
        if anonymous and self.config.outgoing.transport != "smtp":
            log.warning(
                "anonymous queue(s) %s: answers go to the outbox folder addressed to"
                ' pseudonyms and reach nobody; set [outgoing] transport = "smtp"',
                ", ".join(anonymous),
            )
        self.notifier.ready(self.status())
        await self._stop.wait()
        await self._shutdown(handler, server, threads, sending, chores)
        heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heartbeat
        if self.web is not None:
            self.web.stop()
        self.notifier.close()
        log.info("stopped")

    def _describe(self, listening: bool) -> str:
        config = self.config
        parts = [
            f"listening on {config.listener.protocol}://{config.listener.host}:"
            f"{config.listener.port}"
            if listening
            else "listener disabled",
            f"node {self.node}, database {redacted(config.store_location)}",
            f"outgoing mail to folder {config.outgoing.directory}"
            if config.outgoing.transport == "file"
            else f"outgoing mail via relay {config.outgoing.host}:{config.outgoing.port}",
        ]
        if config.imap:
            parts.append(f"IMAP accounts {', '.join(a.name for a in config.imap)}")
        if self.web is not None:
            parts.append(f"HTTP on {config.http.host}:{self.web.port}")
        return "; ".join(parts)

    def _start_web(self) -> None:
        http = self.config.http
        if not http.enabled:
            return
        self.web = self.web or WebServer(http)
        install(self.web, self)
        survey_web.install(self.web, self)
        try:
            self.web.start()
        except OSError as exc:
            raise MaildeskError(
                f"cannot listen for HTTP on {http.host}:{http.port}: {exc.strerror or exc}"
            ) from exc

    async def _shutdown(
        self,
        handler: Handler,
        server: asyncio.Server | None,
        threads: list[threading.Thread],
        sending: asyncio.Task[None],
        chores: Iterable[asyncio.Task[None]],
    ) -> None:
        """Stop taking mail, finish what is in hand, flush, within ``STOP_SECONDS``."""
        deadline = time.monotonic() + STOP_SECONDS
        self.stopping = True
        self.notifier.stopping()
        log.info("stopping: no new mail accepted; finishing what is in hand")
        handler.accepting = False  # MAIL FROM is answered 421 from now on
        if server is not None:
            server.close()
        await self._stop_imap(threads, deadline)
        drain = min(deadline, time.monotonic() + _DRAIN_SECONDS)
        # aiosmtpd signals nothing when a transaction ends: look, briefly, until none is left.
        while (handler.in_transaction() or self._in_flight) and time.monotonic() < drain:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        self._closed = True
        if handler.in_transaction() or self._in_flight:
            log.warning(
                "stopping with %d SMTP transaction(s) unfinished: they were not answered 250,"
                " so their senders keep the mail and send it again",
                max(handler.in_transaction(), self._in_flight),
            )
        handler.close_connections()
        for chore in chores:
            chore.cancel()
        await asyncio.gather(*chores, return_exceptions=True)
        done, _ = await asyncio.wait({sending}, timeout=max(0.0, deadline - time.monotonic()))
        if done:  # one last pass, so the acknowledgements of the last mail go out now
            await self.sender.deliver_due(deadline)
        else:
            log.warning("a delivery was still under way at the deadline; it is retried at start")
        await asyncio.to_thread(self.scheduler.shutdown)  # waits for a sweep under way
        await asyncio.to_thread(self.writer.close, max(1.0, deadline - time.monotonic()))

    async def _stop_imap(self, threads: list[threading.Thread], deadline: float) -> None:
        """Let each account finish what it holds (IDLE done, logout); wait within a bound."""
        self._imap_stopping.set()
        for account in self.accounts:
            account.wake()
        until = min(deadline, time.monotonic() + IMAP_STOP_SECONDS)
        for thread in threads:
            await asyncio.to_thread(thread.join, max(0.0, until - time.monotonic()))
            if thread.is_alive():  # a daemon thread: it cannot keep the process alive
                log.warning("%s did not stop in time", thread.name)

    # -- SIGHUP --------------------------------------------------------------------------

    async def _reloader(self) -> None:
        while True:
            await self._reload.wait()
            self._reload.clear()
            await self.reload()

    async def reload(self) -> bool:
        """Switch to the configuration on disk if it is sound; else keep the running one."""
        self.notifier.reloading()
        source = self.config.path or "the built-in defaults"
        log.info("reloading the configuration from %s", source)
        try:
            config, templates, later = await asyncio.to_thread(reload.prepare, self.config)
            sealer = await asyncio.to_thread(load_sealer, config)
        except ConfigError as exc:
            for problem in exc.problems:
                log.error("reload rejected: %s", problem)
            return self._rejected()
        except Exception:  # a fault in reading must never take the running daemon down
            log.exception("reload failed")
            return self._rejected()

        def switch() -> None:  # on the writer thread, between two messages
            self.sealer = sealer or self.sealer
            self.desk = Desk(config, self.store, templates, self.secret, self.sealer)
            self.pipeline = Pipeline(self.desk, self.clock)
            self.writer.pipeline = self.pipeline

        await self.db(switch)
        self.config, self.templates = config, templates
        self.transport = self._transport(config)
        node = config.node or socket.gethostname()
        if node != self.node:  # a name in /healthz, /metrics and the log; no lock is tied to it
            log.info("reload: this daemon is now node %s (was %s)", node, self.node)
            self.node = node
        logs.set_level(config.log_level)
        for account in self.accounts:  # a failing one tries again now: a secret may be new
            account.wake()
        for name in later:
            log.warning("reload: %s", reload.restart_note(name))
        log.info("configuration reloaded from %s: %d queue(s)", source, len(config.queues))
        self.metrics.reload("applied")
        self.notifier.ready(self.status())
        return True

    def _rejected(self) -> bool:
        log.error("reload rejected: the running configuration stays in force")
        self.metrics.reload("rejected")
        self.notifier.ready(self.status())
        return False

    # -- timed chores ----------------------------------------------------------------------

    @property
    def jobs(self) -> dict[str, JobState]:
        """Every timed job, for /healthz: the scheduler's sweeps and the daily purge."""
        return {**self.scheduler.states, PURGE_JOB: self.retention.state}

    def status(self) -> str:
        """One line for systemd's STATUS."""
        parts = [
            f"{self.metrics.total_ingested()} message(s) taken since start",
            f"relay {self.relay.state}",
        ]
        parts += [f"imap {a.name} {a.state}" for a in self.accounts]
        if not self.session.up:
            parts.append("database lost, reconnecting")
        return "; ".join(parts)
