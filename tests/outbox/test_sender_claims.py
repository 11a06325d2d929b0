"""The outbox sender claims the rows it sends: two senders on one PostgreSQL database
(two daemons' writers, each on its own database session) deliver every row once, and a
sender that stops gives back the rows it still holds, but not the one with the relay."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from email.parser import BytesParser
from pathlib import Path
from typing import TypeVar

import pytest

from maildesk.clock import FakeClock
from maildesk.config import Config
from maildesk.outbox.sender import Sender
from maildesk.outbox.transports import Transport, make_transport
from maildesk.service.writer import Writer
from maildesk.store import claims
from maildesk.store.store import OutgoingMail, Store
from tests.servers import SmtpSink
from tests.support.desk import build_pipeline

T = TypeVar("T")


class _Deliveries:
    def __init__(self) -> None:
        self.results: Counter[str] = Counter()

    def delivery(self, result: str) -> None:
        self.results[result] += 1


class Node:
    """What a daemon gives its sender: its own store session, writer and relay."""

    def __init__(self, config: Config, location: Path | str, clock: FakeClock) -> None:
        self.config = config
        self.clock = clock
        self.store = Store(location)
        self.metrics = _Deliveries()
        self.transport: Transport = make_transport(config.outgoing)
        self.writer = Writer(self.store, build_pipeline(config, self.store, clock))

    async def db(self, func: Callable[..., T], *args: object) -> T:
        return await asyncio.wrap_future(self.writer.submit(func, *args))

    async def db_committed(self, func: Callable[..., T], *args: object) -> T:
        return await asyncio.wrap_future(self.writer.submit_committed(func, *args))

    def open_recipients(self, rcpt: list[str]) -> list[str]:
        return rcpt

    def close(self) -> None:
        self.writer.close()  # closes the store, and with it the session and its claims


@pytest.fixture
def relayed(config: Config, smtp_sink: SmtpSink) -> Config:
    outgoing = replace(
        config.outgoing, transport="smtp", host=smtp_sink.host, port=smtp_sink.port, tls="none"
    )
    return replace(config, outgoing=outgoing)


@pytest.fixture
def nodes(relayed: Config, store_location: Path | str, clock: FakeClock) -> Iterator[list[Node]]:
    made = [Node(relayed, store_location, clock) for _ in range(2)]
    yield made
    for node in made:
        node.close()


def enqueue(store: Store, clock: FakeClock, count: int) -> list[int]:
    with store.transaction():
        return [
            store.enqueue(
                OutgoingMail(
                    None,
                    "notice",
                    f"m{n}@maildesk.test",
                    "info@uni.example",
                    [f"p{n}@example.com"],
                    f"Message-ID: <m{n}@maildesk.test>\r\nSubject: {n}\r\n\r\nHola\r\n".encode(),
                ),
                None,
                clock.now(),
            )
            for n in range(count)
        ]


def per_message_id(sink: SmtpSink) -> Counter[str]:
    parser = BytesParser()
    return Counter(str(parser.parsebytes(m.data)["Message-ID"]) for m in sink.messages)


def states(store: Store) -> list[tuple[str, bool]]:
    """(state, claimed) of every outbox row, in order."""
    rows = store.conn.execute("SELECT state, claimed_by FROM outbox ORDER BY id").fetchall()
    return [(row[0], row[1] is not None) for row in rows]


@pytest.mark.stores("postgresql")
def test_two_senders_on_one_database_deliver_every_row_once(
    nodes: list[Node], smtp_sink: SmtpSink, clock: FakeClock
) -> None:
    enqueue(nodes[0].store, clock, 40)
    smtp_sink.delay = 0.01  # long enough for the two to overlap
    senders = [Sender(node) for node in nodes]

    async def both() -> None:
        await asyncio.gather(*(sender.deliver_due() for sender in senders))

    asyncio.run(both())
    counts = per_message_id(smtp_sink)
    assert len(counts) == 40
    assert set(counts.values()) == {1}  # no row twice
    shares = [node.metrics.results["sent"] for node in nodes]
    assert sum(shares) == 40
    assert all(shares), shares  # each took its part: a claim does not make the other wait
    assert states(nodes[1].store) == [("sent", False)] * 40  # each mark ended its claim


@pytest.mark.stores("postgresql")
def test_a_stopping_sender_gives_back_the_rows_it_holds(
    nodes: list[Node], smtp_sink: SmtpSink, clock: FakeClock
) -> None:
    enqueue(nodes[0].store, clock, 8)
    smtp_sink.delay = 0.05
    first, second = nodes
    stop = asyncio.Event()

    async def stopped_after_three() -> None:
        async def watch() -> None:
            while len(smtp_sink.messages) < 3:  # noqa: ASYNC110 - the sink has no event
                await asyncio.sleep(0.005)
            stop.set()

        watcher = asyncio.create_task(watch())
        await Sender(first).deliver_due(stop=stop)
        await watcher

    asyncio.run(stopped_after_three())
    sent = first.metrics.results["sent"]
    assert 3 <= sent < 8  # the row in hand when the stop came is finished, no more
    # What it held unsent is free at once, while its session lives on.
    assert states(second.store) == [("sent", False)] * sent + [("pending", False)] * (8 - sent)
    asyncio.run(Sender(second).deliver_due())
    assert second.metrics.results["sent"] == 8 - sent
    assert set(per_message_id(smtp_sink).values()) == {1}
    assert len(smtp_sink.messages) == 8


@pytest.mark.stores("postgresql")
def test_the_row_with_the_relay_at_the_deadline_stays_claimed_the_rest_are_given_back(
    nodes: list[Node], smtp_sink: SmtpSink, clock: FakeClock
) -> None:
    enqueue(nodes[0].store, clock, 4)
    smtp_sink.delay = 1.5  # the first delivery outlasts the deadline
    first, second = nodes
    asyncio.run(Sender(first).deliver_due(deadline=time.monotonic() + 0.3))
    # The first row may still reach the relay from this daemon: another must not send it
    # too while this session lives. The others were never started: anyone's to send.
    assert states(second.store) == [("pending", True)] + [("pending", False)] * 3
    assert claims.next_due_at(second.store) is not None
    claimed = claims.claim_due(second.store, clock.now())
    assert [row["message_id"] for row in claimed] == [f"m{n}@maildesk.test" for n in (1, 2, 3)]
    claims.release(second.store, [int(row["id"]) for row in claimed])
    first.close()  # the daemon exits: its session, and its claim, end
    nodes.remove(first)
    assert [row["message_id"] for row in claims.claim_due(second.store, clock.now())] == [
        f"m{n}@maildesk.test" for n in range(4)
    ]
    smtp_sink.wait_for(1, timeout=5)  # the first daemon's delivery did reach the relay


@pytest.mark.stores("postgresql")
def test_rows_another_live_daemon_holds_are_not_due_for_this_one(
    nodes: list[Node], clock: FakeClock
) -> None:
    first, second = nodes
    enqueue(first.store, clock, 3)
    held = claims.claim_due(first.store, clock.now())
    assert len(held) == 3
    # Counted as due, they would make the second sender look again at once, in a loop.
    assert claims.next_due_at(second.store) is None
    assert claims.next_due_at(first.store) is None  # its own are in hand, not waiting
    assert claims.release(first.store, [int(row["id"]) for row in held]) == 3
    assert claims.next_due_at(second.store) == clock.now()


@pytest.mark.stores("sqlite")
def test_on_sqlite_the_one_writer_sends_and_nothing_is_claimed(
    nodes: list[Node], smtp_sink: SmtpSink, clock: FakeClock
) -> None:
    first = nodes[0]
    enqueue(first.store, clock, 5)
    assert claims.next_due_at(first.store) == clock.now()
    asyncio.run(Sender(first).deliver_due())
    assert first.metrics.results["sent"] == 5
    assert states(first.store) == [("sent", False)] * 5
    assert claims.release(first.store, [1, 2]) == 0
