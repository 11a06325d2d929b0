"""Send a spool of messages over several concurrent SMTP connections.

Each connection is a thread with its own ``smtplib.SMTP``; they take the next message
in plan order from a shared counter. A follow-up needs its ticket's number for the
subject tag: the daemon names the ticket in its 250 reply ("250 2.0.0 OK INFO#42"), so a
follow-up waits, if it must, until its request has been answered (rarely: a follow-up
refers to a request at least ``mix.REPLY_GAP`` messages earlier).
"""

from __future__ import annotations

import re
import smtplib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bench.mix import Spool

_REF = re.compile(rb"#(\d+)")
_WAIT_FOR_TICKET = 120.0


@dataclass
class Sent:
    started: float = 0.0  # time.monotonic() of the first MAIL command
    finished: float = 0.0  # … when the last 250 arrived
    answered: dict[int, float] = field(default_factory=dict)  # index -> time of its 250
    failures: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return self.finished - self.started


class SmtpLoad:
    def __init__(
        self,
        port: int | Sequence[int],
        spool: Spool,
        connections: int,
        on_answer: Callable[[int], None] | None = None,
    ) -> None:
        # Several ports: the connections are dealt out among the daemons in turn.
        self.ports = [port] if isinstance(port, int) else list(port)
        self.spool = spool
        self.connections = connections
        self.on_answer = on_answer
        self._lock = threading.Condition()
        self._next = 0
        self._order: Sequence[int] = ()
        self._tickets: dict[int, int] = {}
        self._sent = Sent()
        self._go = threading.Event()

    def run(self, order: Sequence[int] | None = None) -> Sent:
        """Send the spool (or the ``order`` given) and return when every message is answered."""
        self._order = range(len(self.spool)) if order is None else order
        clients = [
            smtplib.SMTP("127.0.0.1", self.ports[i % len(self.ports)], timeout=300)
            for i in range(self.connections)
        ]
        for client in clients:
            client.ehlo()
        threads = [threading.Thread(target=self._work, args=(c,), daemon=True) for c in clients]
        for thread in threads:
            thread.start()
        self._sent.started = time.monotonic()
        self._go.set()
        for thread in threads:
            thread.join()
        self._sent.finished = max(self._sent.answered.values(), default=self._sent.started)
        return self._sent

    def _take(self) -> int | None:
        with self._lock:
            if self._sent.failures or self._next >= len(self._order):
                return None
            index = self._order[self._next]
            self._next += 1
            return index

    def _ticket_for(self, index: int) -> int | None:
        spec = self.spool.specs[index]
        if spec.original is None:
            return None
        with self._lock:
            found = self._lock.wait_for(
                lambda: spec.original in self._tickets or bool(self._sent.failures),
                timeout=_WAIT_FOR_TICKET,
            )
            if not found or spec.original not in self._tickets:
                raise RuntimeError(f"no ticket number for the request of message {index}")
            return self._tickets[spec.original]

    def _work(self, client: smtplib.SMTP) -> None:
        self._go.wait()
        try:
            while (index := self._take()) is not None:
                spec = self.spool.specs[index]
                raw = self.spool.raw(index, self._ticket_for(index))
                code, reply = client.mail(spec.sender)
                if code != 250:
                    raise RuntimeError(f"MAIL for message {index}: {code} {reply!r}")
                code, reply = client.rcpt(spec.queue.address)
                if code != 250:
                    raise RuntimeError(f"RCPT for message {index}: {code} {reply!r}")
                code, reply = client.data(raw)
                answered = time.monotonic()
                if code != 250:
                    raise RuntimeError(f"DATA for message {index}: {code} {reply!r}")
                match = _REF.search(reply)
                with self._lock:
                    self._sent.answered[index] = answered
                    if match:
                        self._tickets[index] = int(match[1])
                    self._lock.notify_all()
                if self.on_answer is not None:
                    self.on_answer(index)
            client.quit()
        except (OSError, smtplib.SMTPException, RuntimeError) as exc:
            with self._lock:
                self._sent.failures.append(f"{type(exc).__name__}: {exc}")
                self._lock.notify_all()
            client.close()
