"""IMAP ingestion on imapclient: one thread per account, IDLE or polling, UIDs only.

A message is flagged \\Seen and moved out of the watched folder only after ``accept``
returned, that is after the SQLite commit that holds it (ARCHITECTURE.md invariant 1).
A crash at any moment leaves it in the folder; fetched again, the pipeline recognises it
as already stored. imapclient blocks, so each account runs on its own thread and hands
raw bytes to the daemon's single writer through a ``Sink``; it never opens the store.

Where several daemons share one database, an account is read by one of them at a time:
before it logs in, an account asks its ``owner`` (the daemon's advisory lock on the
account); the others stand by and ask again every ``OWNER_CHECK_SECONDS``, so one of
them takes over within that time once the owner is gone. UIDs and UIDVALIDITY live in
the database, so the new reader goes on where the old one stopped.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol

from maildesk.config import ImapConfig
from maildesk.errors import PermanentError, TransientError
from maildesk.ingest.envelope import Envelope, Outcome, Quarantined
from maildesk.ingest.imap_client import (
    CLOSE_TIMEOUT,
    announced,
    close,
    connect,
    idle_event,
    mapped,
    trouble,
    words,
)
from maildesk.ingest.signin import Renewal, TokenDue
from maildesk.oauth.tokens import TokenSource

log = logging.getLogger(__name__)

# RFC 2177 asks to re-issue IDLE at least every 29 minutes; NAT boxes forget quiet
# connections sooner. It is also re-issued every poll_seconds: the check that follows
# catches anything a server failed to announce.
IDLE_RENEW_SECONDS = 300.0
STOP_SECONDS = 15.0  # how long a shutdown waits for the account threads
OWNER_CHECK_SECONDS = 15.0  # a standing-by account asks this often (or every poll_seconds)
_IDLE_TICK = 0.5  # how often a thread in IDLE looks at its stop flag
_BATCH_BYTES = 32 * 1024 * 1024  # at most this much mail fetched at once (one big mail still is)
_SEEN = b"\\Seen"
_DELETED = b"\\Deleted"
_random = random.SystemRandom()


class _StoreFailed(TransientError):
    """accept() raised: the message stays in the folder and is taken again later."""


class Sink(Protocol):
    """What an account needs from the daemon; each call is done by the single writer."""

    def accept(self, raw: bytes, envelope: Envelope) -> Future[Outcome]: ...

    def load_state(self, account: str, folder: str) -> tuple[int, int] | None: ...

    def save_state(self, account: str, folder: str, uidvalidity: int, last_uid: int) -> None: ...


@dataclass(frozen=True)
class Backoff:
    """Exponential delays with jitter between connection attempts."""

    first: float = 1.0
    refused_first: float = 15.0  # a refused login: servers lock out clients that retry fast
    cap: float = 120.0

    def delay(self, failures: int, *, refused: bool) -> float:
        """Seconds to wait after ``failures`` failed attempts in a row, jittered by up to half.

        >>> 15 <= Backoff().delay(2, refused=True) <= 30
        True
        """
        first = self.refused_first if refused else self.first
        full: float = min(self.cap, first * 2.0 ** min(max(failures - 1, 0), 30))
        return full * _random.uniform(0.5, 1.0)


class Account:
    """Collects one mailbox; ``run`` is the body of its thread."""

    def __init__(
        self,
        config: ImapConfig,
        sink: Sink,
        stopping: threading.Event,
        backoff: Backoff | None = None,
        tokens: TokenSource | None = None,
        owner: Callable[[str], bool] | None = None,
    ) -> None:
        """``owner(name)``: whether this daemon reads the account now (None: always)."""
        self.config = config
        self.owner = owner
        self.sink = sink
        self.stopping = stopping
        self.backoff = backoff or Backoff()
        self.tokens = tokens  # the [[oauth]] credential's one source, shared with others
        self._wakeup = threading.Event()  # cuts a backoff short: stop, or a reload
        self._renewal = Renewal()  # when the session's token is due
        self.last_error = ""  # why the account is not collecting, for /healthz
        self.use_move = True  # False forces COPY + \Deleted + EXPUNGE even where MOVE exists
        self._state = ""  # the last state logged: one line per change, not per attempt
        self._failures = 0
        self._move = False
        self._uidplus = False
        self._validity = 0
        self._last_uid = 0
        self.logins = 0  # sessions opened since start; each after the first is a reconnect

    def start(self) -> threading.Thread:
        thread = threading.Thread(
            target=self.run, name=f"maildesk-imap-{self.config.name}", daemon=True
        )
        thread.start()
        return thread

    def wake(self) -> None:
        """From any thread: try again now instead of at the end of the backoff (a reload
        may have put a new secret in place; a shutdown wants the thread back)."""
        self._wakeup.set()

    def _pause(self, seconds: float) -> None:
        """Wait ``seconds``, less if the account is woken or stopped."""
        deadline = time.monotonic() + seconds
        while not (self.stopping.is_set() or self._wakeup.is_set()):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.stopping.wait(min(left, _IDLE_TICK))
        self._wakeup.clear()

    def run(self) -> None:
        while not self.stopping.is_set():
            if not self._owned():
                continue
            client = None
            refused = False
            try:
                client = connect(self.config, tokens=self.tokens)
                self._session(client)
            except TokenDue:
                log.info(
                    "imap:%s: the access token is due for renewal; signing in again", self.name
                )
                continue  # finally has closed the session; no backoff, no failure
            except TransientError as exc:
                self._failed("unreachable", logging.WARNING, f"{exc}; reconnecting with backoff")
            except PermanentError as exc:
                refused = True
                self._failed(f"refused: {exc}", logging.ERROR, f"{exc}; retrying with backoff")
            except Exception:  # a bug must not end collection for good, nor spin
                if self._state != "crashed":
                    log.exception("imap:%s: unexpected error; retrying with backoff", self.name)
                self._failed("crashed", logging.ERROR, "")
            finally:
                if client is not None:
                    close(client)
            if not self.stopping.is_set():
                self._pause(self.backoff.delay(self._failures, refused=refused))
        log.info("imap:%s: stopped", self.name)

    def _owned(self) -> bool:
        """Whether this daemon reads the account; if another does, wait before asking again."""
        if self.owner is None:
            return True
        try:
            if self.owner(self.name):
                return True
            self._enter("standby", logging.INFO, "another daemon reads this account; standing by")
        except Exception as exc:  # the store cannot say: as good as taken
            self._enter("store", logging.ERROR, f"cannot ask who reads this account: {exc}")
        self.stopping.wait(min(OWNER_CHECK_SECONDS, self.config.poll_seconds))
        return False

    def _still_owned(self) -> bool:
        """Whether this daemon still reads the account, asked before each look at the
        folder: a lock dies with a lost database session and another daemon may take it."""
        if self.owner is None:
            return True
        try:
            return self.owner(self.name)
        except Exception:  # the store cannot say: stay; the writer refuses its mail meanwhile
            return True

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def state(self) -> str:
        """connecting, connected, standby, unreachable, refused, crashed or store-failing."""
        state = self._state.partition(":")[0]
        return {"": "connecting", "ready": "connected", "store": "store-failing"}.get(state, state)

    def _enter(self, state: str, level: int, message: str) -> None:
        if state != self._state:
            self._state = state
            if message:
                log.log(level, "imap:%s: %s", self.name, message)

    def _failed(self, state: str, level: int, message: str) -> None:
        self._failures += 1
        if not self.stopping.is_set():
            self.last_error = state.partition(": ")[2] or state
            self._enter(state, level, message)

    # -- one connection ------------------------------------------------------------

    def _session(self, client: Any) -> None:
        config = self.config
        with mapped(f"open folder {config.folder!r}"):
            capabilities = set(client.capabilities())
            for folder in (config.processed_folder, config.quarantine_folder):
                if folder and not client.folder_exists(folder):
                    client.create_folder(folder)
                    log.info("imap:%s: created folder %r", self.name, folder)
            selected = client.select_folder(config.folder)
        self._move = self.use_move and b"MOVE" in capabilities
        self._uidplus = b"UIDPLUS" in capabilities
        idle = config.idle and b"IDLE" in capabilities
        self._resume(int(selected[b"UIDVALIDITY"]))
        self.logins += 1
        self.last_error = ""
        self._renewal.start(self.tokens, config.username)
        mode = "IDLE" if idle else f"checking every {config.poll_seconds} s"
        if config.idle and not idle:
            mode += " (the server offers no IDLE)"
        again = f"reconnected after {self._failures} failed attempt(s); " if self._failures else ""
        self._enter(
            "ready",
            logging.INFO,
            f"{again}logged in to {config.host}:{config.port} as {config.username};"
            f" collecting from {config.folder!r} ({mode})",
        )
        while not self.stopping.is_set():
            if not self._still_owned():
                return  # the run loop stands by until the account is this daemon's again
            try:
                self._drain(client)
            except _StoreFailed as exc:  # the store's trouble, not the server's: stay
                self._failures += 1
                if self._state != "store":
                    self._state = "store"
                    log.error(
                        "imap:%s: %s; left in the folder, retrying with backoff",
                        self.name,
                        exc,
                        exc_info=exc.__cause__,
                    )
                self._pause(self.backoff.delay(self._failures, refused=False))
                continue
            if self._state == "store":
                self._enter("ready", logging.INFO, "storing mail again")
            self._failures = 0  # this session works: a later failure starts backoff afresh
            if self.stopping.is_set():
                break
            self._renewal.check()
            if idle:
                self._idle(client)
            else:
                self.stopping.wait(min(config.poll_seconds, self._renewal.seconds_left()))
            self._renewal.check()

    def _resume(self, validity: int) -> None:
        config = self.config
        known = self.sink.load_state(self.name, config.folder)
        last = 0
        if known is not None and known[0] == validity:
            last = known[1]
        elif known is not None:
            log.warning(
                "imap:%s: UIDVALIDITY of %r changed from %d to %d (the folder was recreated);"
                " reading it again from the start, messages already stored are recognised",
                self.name,
                config.folder,
                known[0],
                validity,
            )
        self._validity, self._last_uid = validity, last
        if known != (validity, last):
            self.sink.save_state(self.name, config.folder, validity, last)

    def _idle(self, client: Any) -> None:
        with mapped("IDLE"):
            client.idle()
            wait = min(IDLE_RENEW_SECONDS, self.config.poll_seconds, self._renewal.seconds_left())
            renew = time.monotonic() + wait
            while not self.stopping.is_set() and time.monotonic() < renew:
                tick = time.monotonic()
                responses = client.idle_check(timeout=_IDLE_TICK)
                bad = next((r for r in responses if trouble(r)), None)
                if bad is not None:
                    raise TransientError(f"IDLE: the server said {words(bad)!r}")
                if any(idle_event(r) for r in responses):
                    break
                if not responses and time.monotonic() - tick < _IDLE_TICK / 2:
                    break  # readable yet nothing to read: closed; DONE will say so
            if self.stopping.is_set():
                client.socket().settimeout(CLOSE_TIMEOUT)
            client.idle_done()

    # -- taking messages -------------------------------------------------------------

    def _drain(self, client: Any) -> None:
        """Take every message above the last UID taken, ``batch_size`` at a time."""
        size = self.config.batch_size
        while not self.stopping.is_set():
            announced(client)  # this search sees everything announced so far
            with mapped("search"):
                found = client.search(["UID", f"{self._last_uid + 1}:*"])
            # "n:*" always matches the highest UID, even below n (RFC 3501 6.4.8).
            uids = sorted(u for u in found if u > self._last_uid)
            if not uids:
                if announced(client):  # mail arrived while the server searched
                    continue
                return
            for start in range(0, len(uids), size):
                self._batch(client, uids[start : start + size])
                if self.stopping.is_set():
                    return

    def _batch(self, client: Any, uids: Sequence[int]) -> None:
        with mapped("fetch"):
            info = client.fetch(uids, ["RFC822.SIZE", "FLAGS"])
        deleted = {u for u, data in info.items() if _DELETED in data.get(b"FLAGS", ())}
        group: list[int] = []
        weight = 0
        for uid in uids:
            size = int(info.get(uid, {}).get(b"RFC822.SIZE", 0))
            if group and weight + size > _BATCH_BYTES:
                self._take(client, group, deleted)
                group, weight = [], 0
            group.append(uid)
            weight += size
        if group:
            self._take(client, group, deleted)

    def _take(self, client: Any, uids: list[int], deleted: set[int]) -> None:
        """Store ``uids``, then file each one away: only what is committed leaves the folder."""
        with mapped("fetch"):
            bodies = client.fetch(uids, ["BODY.PEEK[]"])  # PEEK: \Seen waits for the commit
        envelope = Envelope(None, (), self.config.source, self.config.queue)
        # Queued all at once: the writer takes them in this order without waiting for a
        # round trip between messages.
        pending = [
            (uid, self.sink.accept(bodies[uid][b"BODY[]"], envelope))
            for uid in uids
            if b"BODY[]" in bodies.get(uid, {})  # a message expunged meanwhile is gone
        ]
        del bodies
        stored: list[int] = []
        held: list[int] = []
        failed: tuple[int, BaseException] | None = None
        for uid, future in pending:
            try:
                outcome = future.result()
            except Exception as exc:  # the message stays in the folder, to be taken again
                failed = failed or (uid, exc)
                continue
            (held if isinstance(outcome, Quarantined) else stored).append(uid)
        self._file(client, stored, self.config.processed_folder, deleted)
        self._file(client, held, self.config.quarantine_folder, deleted)
        if failed is not None:
            self._advance(failed[0] - 1)
            raise _StoreFailed(
                f"cannot store message UID {failed[0]}: {type(failed[1]).__name__}: {failed[1]}"
            ) from failed[1]
        self._advance(uids[-1])

    def _advance(self, last_uid: int) -> None:
        if last_uid > self._last_uid:
            self._last_uid = last_uid
            self.sink.save_state(self.name, self.config.folder, self._validity, last_uid)

    def _file(self, client: Any, uids: list[int], folder: str, deleted: set[int]) -> None:
        """Flag ``uids`` \\Seen and move them to ``folder`` ("" leaves them in place)."""
        if not uids:
            return
        with mapped(f"move to {folder!r}" if folder else "flag \\Seen"):
            client.add_flags(uids, [_SEEN], silent=True)
            if not folder:
                return
            if self._move:
                client.move(uids, folder)
                return
            # Without MOVE: a message already flagged \Deleted was copied before a crash.
            copy = [u for u in uids if u not in deleted]
            if copy:
                client.copy(copy, folder)
            client.delete_messages(uids, silent=True)
            if self._uidplus:
                client.uid_expunge(uids)
            else:
                client.expunge()  # also removes what others flagged \Deleted: RFC 3501 has no less
