"""Keeping in touch: systemd's watchdog fed while the writer answers, its STATUS line
kept current, and the database asked for nothing every few seconds so that an idle
daemon notices a lost session (store/session.py) without waiting for mail.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from maildesk.errors import TransientError

if TYPE_CHECKING:
    from maildesk.service.daemon import Daemon

log = logging.getLogger("maildesk.service.daemon")  # the daemon's lines, as before the move

STATUS_EVERY = 15.0  # seconds between STATUS updates to systemd (and watchdog checks)
# An idle daemon's check of its database session: how long it may show a lock as held
# that a cut session already gave up.
PROBE_EVERY = 2.0


async def heartbeat(daemon: Daemon) -> None:
    """Feed systemd's watchdog while the writer answers, and keep STATUS current."""
    if not daemon.notifier.enabled:
        return
    period = daemon.notifier.watchdog
    interval = min(STATUS_EVERY, period / 2) if period else STATUS_EVERY
    shown = daemon.status()  # what READY=1 said
    while True:
        if period and daemon.stopping:  # the writer is closing: TimeoutStopSec bounds us
            daemon.notifier.ping()
        elif period:
            try:  # shielded: a slow answer is waited for again, never cancelled
                await asyncio.wait_for(asyncio.shield(daemon.db(_alive)), timeout=interval)
            except TimeoutError:
                log.warning("the writer has not answered for %g s; watchdog not fed", interval)
            except TransientError:  # the database is lost: the writer answered all the
                daemon.notifier.ping()  # same, and a restart would not bring it back sooner
            else:
                daemon.notifier.ping()
        status = daemon.status()
        if status != shown and not daemon.stopping:
            daemon.notifier.status(status)
            shown = status
        await asyncio.sleep(interval)


async def watch_database(daemon: Daemon) -> None:
    """Ask the database for nothing every few seconds: an idle daemon notices a lost
    session, gives up its locks and connects again without waiting for mail."""
    if not daemon.store.dialect.is_postgres:
        return
    while True:
        await asyncio.sleep(PROBE_EVERY)
        with contextlib.suppress(TransientError):  # the session says it, once
            await daemon.db(daemon.session.probe)


def _alive() -> bool:
    return True
