"""The aiosmtpd listener on loopback: 451 on our faults (never 5xx), 250 only after accept."""

from __future__ import annotations

import asyncio
import smtplib
import threading
from collections.abc import Awaitable, Callable, Iterator

import pytest
from aiosmtpd.smtp import SMTP

from maildesk.config import ListenerConfig
from maildesk.ingest.pipeline import Envelope, Outcome, Stored
from maildesk.ingest.smtp import _SMTP, Handler, serve
from maildesk.workflow import Action
from tests.support.daemon import free_port

Accept = Callable[[bytes, Envelope], Awaitable[Outcome]]


class Listener:
    """Our real listener in a background event loop, with a test-supplied accept()."""

    def __init__(self, accept: Accept) -> None:
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.handler = Handler(accept, lambda address: address.startswith("info@"), "smtp")
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: asyncio.Server | None = None

    def __enter__(self) -> Listener:
        self.thread.start()
        config = ListenerConfig(port=self.port, max_message_bytes=10_000)
        future = asyncio.run_coroutine_threadsafe(serve(config, self.handler, "test"), self.loop)
        self.server = future.result(timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        async def close() -> None:
            assert self.server is not None
            self.server.close()
            await self.server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


MESSAGE = b"From: a@example.com\r\nTo: info@uni.example\r\nSubject: x\r\n\r\nHola\r\n"


@pytest.fixture
def received() -> list[tuple[bytes, Envelope]]:
    return []


@pytest.fixture
def failing() -> Iterator[Listener]:
    async def accept(raw: bytes, envelope: Envelope) -> Outcome:
        raise OSError("database is locked")

    with Listener(accept) as listener:
        yield listener


def test_a_fault_of_ours_answers_451_so_the_sender_keeps_the_mail(failing: Listener) -> None:
    with (
        smtplib.SMTP("127.0.0.1", failing.port, timeout=10) as client,
        pytest.raises(smtplib.SMTPDataError) as refused,
    ):
        client.sendmail("a@example.com", ["info@uni.example"], MESSAGE)
    assert refused.value.smtp_code == 451


def test_250_comes_after_accept_returns(received: list[tuple[bytes, Envelope]]) -> None:
    release = threading.Event()

    async def accept(raw: bytes, envelope: Envelope) -> Outcome:
        await asyncio.get_running_loop().run_in_executor(None, release.wait, 10)
        received.append((raw, envelope))
        return Stored(7, Action.OPEN, "id", "INFO#7", True)

    with Listener(accept) as listener:
        result: list[object] = []

        def send() -> None:
            with smtplib.SMTP("127.0.0.1", listener.port, timeout=20) as client:
                result.append(client.sendmail("a@example.com", ["info@uni.example"], MESSAGE))

        sender = threading.Thread(target=send)
        sender.start()
        sender.join(timeout=1)
        assert sender.is_alive()  # no answer while the commit is pending
        assert not result
        release.set()
        sender.join(timeout=10)
    assert result == [{}]
    [(raw, envelope)] = received
    assert raw == MESSAGE
    assert (envelope.mail_from, list(envelope.recipients), envelope.source) == (
        "a@example.com",
        ["info@uni.example"],
        "smtp",
    )


def test_shutting_down_refuses_new_mail_with_a_temporary_code() -> None:
    async def accept(raw: bytes, envelope: Envelope) -> Outcome:
        raise AssertionError("must not be called")

    with Listener(accept) as listener:
        listener.handler.accepting = False
        with smtplib.SMTP("127.0.0.1", listener.port, timeout=10) as client:
            client.ehlo()
            code, _ = client.mail("a@example.com")
    assert code == 421


@pytest.mark.parametrize(
    "arg",
    [
        "<ana@uni.example>",
        "<Ana.Perez+x@Uni.Example> SIZE=1200 BODY=8BITMIME",
        "<ana@uni.example>\tSIZE=1",
        "<ana@uni.example>  ",
        "<>",
        "<ana@uni.example> (a comment) SIZE=1",
        " <ana@uni.example>",
        '<"ana perez"@uni.example>',
        "<ana.@uni.example>",
        "<ana..b@uni.example>",
        "<ana@[192.0.2.1]>",
        "<@relay.example:ana@uni.example>",
        "<ana@uni.example>>",
        "ana@uni.example",
        "<añez@uni.example>",
        "<a" + "x" * 70 + "@uni.example>",
    ],
)
def test_addresses_in_smtp_commands_read_as_aiosmtpd_reads_them(arg: str) -> None:
    # Plain "<local@domain>" paths skip aiosmtpd's parser: the answer must not change.
    ours = _SMTP(Handler(_never, lambda address: True, "smtp"))
    theirs = SMTP(Handler(_never, lambda address: True, "smtp"))
    for limit in (0, 64):
        ours.local_part_limit = theirs.local_part_limit = limit
        assert ours._getaddr(arg) == theirs._getaddr(arg)


async def _never(raw: bytes, envelope: Envelope) -> Outcome:
    raise AssertionError("must not be called")
