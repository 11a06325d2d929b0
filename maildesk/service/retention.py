"""The retention purge: at start, then daily, and when this daemon takes the sweeps over
from another (whose daily run it cannot see).

Among several daemons on one database only the one holding the sweep lock purges; the
others report "standby". A purge runs a batch per transaction on the writer thread, so
mail keeps flowing between batches.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from maildesk.clock import Clock
from maildesk.config import Config
from maildesk.privacy import purge as privacy
from maildesk.service.health import JobState
from maildesk.store.store import Store, iso

log = logging.getLogger("maildesk.service.daemon")  # the daemon's lines, as before the move

T = TypeVar("T")
PURGE_JOB = "retention-purge"
EVERY = 24 * 3600.0  # seconds between two purges by the same daemon


class _Counts(Protocol):
    def purged(self, tickets: int) -> None: ...


class Host(Protocol):
    """What the purge needs from the running daemon (read at each run: a reload applies)."""

    @property
    def config(self) -> Config: ...

    @property
    def store(self) -> Store: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def metrics(self) -> _Counts: ...

    async def db(self, func: Callable[..., T], *args: object) -> T: ...

    def take_sweeps(self) -> bool: ...


class Retention:
    def __init__(self, daemon: Host) -> None:
        self.daemon = daemon
        self.state = JobState()  # read by /healthz: replaced whole, never changed in place

    async def run(self, stop: asyncio.Event, took_sweeps: asyncio.Event) -> None:
        """Purge now, then daily until ``stop``, and again when ``took_sweeps`` is set."""
        while not stop.is_set():
            await self.purge(stop, took_sweeps)
            following = self.daemon.clock.now() + timedelta(seconds=EVERY)
            self._job(next_run=iso(following))
            waits = [asyncio.create_task(e.wait()) for e in (stop, took_sweeps)]
            await asyncio.wait(waits, timeout=EVERY, return_when=asyncio.FIRST_COMPLETED)
            for wait in waits:
                wait.cancel()

    async def purge(self, stop: asyncio.Event, took_sweeps: asyncio.Event) -> privacy.Removed:
        """Purge what is past ``[privacy] retention_days``, a batch per transaction."""
        daemon = self.daemon
        now = daemon.clock.now()
        if not await daemon.db(daemon.take_sweeps):  # another daemon purges
            self._job(state="standby", last_result="another node sweeps")
            return privacy.Removed()
        took_sweeps.clear()  # a takeover is served by this run
        self._job(state="running", last_run=iso(now))
        cutoff = now - timedelta(days=daemon.config.privacy.retention_days)
        total = privacy.Removed()
        result = ""
        try:
            while not stop.is_set():
                removed = await daemon.db(self._batch, cutoff)
                total.add(removed)
                if removed.tickets < privacy.BATCH:
                    break
        except Exception as exc:  # the next run tries again; mail keeps flowing meanwhile
            log.exception("retention purge failed")
            result = f"failed: {exc}"
        if total != privacy.Removed():
            log.info("retention purge: removed %s (before %s)", total, cutoff.date())
        daemon.metrics.purged(total.tickets)
        self._job(state="scheduled", last_result=result or f"removed {total}")
        return total

    def _batch(self, cutoff: datetime) -> privacy.Removed:
        """On the writer thread: one batch, if this daemon still holds the sweep lock (a
        session lost since the look took it with it)."""
        if not self.daemon.take_sweeps():
            return privacy.Removed()
        return privacy.purge_batch(self.daemon.store, cutoff)

    def _job(self, **changes: Any) -> None:
        self.state = replace(self.state, **changes)
