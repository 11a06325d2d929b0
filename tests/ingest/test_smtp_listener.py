"""The aiosmtpd listener on loopback: 451 on our faults (never 5xx), 250 only after accept."""

from __future__ import annotations

import asyncio
import smtplib
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP

from maildesk.config import ListenerConfig
from maildesk.ingest.envelope import Envelope, Outcome, Stored
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
    # A session given no loop makes one and sets it as the thread's, never to close it:
    # it would be found unclosed at a random later test.
    loop = asyncio.new_event_loop()
    try:
        ours = _SMTP(Handler(_never, lambda address: True, "smtp"), loop=loop)
        theirs = SMTP(Handler(_never, lambda address: True, "smtp"), loop=loop)
        for limit in (0, 64):
            ours.local_part_limit = theirs.local_part_limit = limit
            assert ours._getaddr(arg) == theirs._getaddr(arg)
    finally:
        loop.close()


async def _never(raw: bytes, envelope: Envelope) -> Outcome:
    raise AssertionError("must not be called")


class _AiosmtpdReading(SMTP):
    """aiosmtpd's own DATA loop, with our line length, as the reference."""

    line_length_limit = 1 << 20


class _Recorder:
    def __init__(self) -> None:
        self.contents: list[bytes] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        self.contents.append(bytes(envelope.original_content))
        return "250 OK"


def _conversation(factory: type, pieces: list[bytes], limit: int) -> tuple[list[str], list[bytes]]:
    """Send ``pieces`` (with pauses, so each is its own TCP segment) after EHLO, MAIL,
    RCPT and DATA, then a second short message; return the replies and what was read."""
    recorder = _Recorder()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = asyncio.run_coroutine_threadsafe(
        loop.create_server(
            lambda: factory(recorder, data_size_limit=limit, decode_data=False),
            host="127.0.0.1",
            port=0,
        ),
        loop,
    ).result(timeout=10)
    port = server.sockets[0].getsockname()[1]
    replies: list[str] = []
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as sock,
            sock.makefile("rb") as reader,
        ):

            def answer() -> None:
                while True:
                    line = reader.readline().decode()
                    if line[3:4] != "-":
                        replies.append(line[:3])
                        return

            answer()
            for command in (
                b"EHLO t\r\n",
                b"MAIL FROM:<a@x.example>\r\n",
                b"RCPT TO:<b@y.example>\r\n",
                b"DATA\r\n",
            ):
                sock.sendall(command)
                answer()
            for piece in pieces:
                sock.sendall(piece)
                time.sleep(0.01)
            answer()
            for command in (
                b"MAIL FROM:<a@x.example>\r\n",
                b"RCPT TO:<b@y.example>\r\n",
                b"DATA\r\n",
            ):
                sock.sendall(command)
                answer()
            sock.sendall(b"Subject: after\r\n\r\nok\r\n.\r\n")
            answer()
            sock.sendall(b"QUIT\r\n")
            answer()
            assert reader.read() == b""  # the server closed its side
    finally:

        async def close() -> None:
            server.close()
            await server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
    return replies, recorder.contents


_ATTACHMENT = b"".join(
    b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo" + b"%040d\r\n" % i for i in range(40_000)
)


@pytest.mark.parametrize(
    "pieces",
    [
        [b"Subject: plain\r\n\r\nHola.\r\n.\r\n"],
        [b".\r\n"],  # an empty message: the terminator comes first
        [b"..\r\n.\r\n"],
        [b"Subject: dots\r\n\r\n..hidden\r\n...\r\n. \r\nend.\r\nx.y\r\n.\r\n"],
        [b"Subject: split\r\n\r\nabc\r\n", b".\r\n"],
        [b"Subject: split\r\n\r\nabc\r", b"\n.", b"\r\n"],
        [b"Subject: split\r\n\r\nabc.", b"\r\n.", b"\r", b"\n"],
        [b"Subject: bare\n\nline\n.\nnot the end\r\n.\r\n"],
        [b"Subject: big\r\n\r\n" + _ATTACHMENT + b".\r\n"],  # longer than the 1 MiB buffer
        [b"Subject: too much\r\n\r\n" + _ATTACHMENT * 2 + b".\r\n"],  # over the limit
    ],
    ids=[
        "plain",
        "empty",
        "lone-stuffed-dot",
        "dots",
        "end-split",
        "crlf-split",
        "dot-line-split",
        "bare-lf",
        "over-buffer",
        "over-limit",
    ],
)
def test_data_is_read_as_aiosmtpd_reads_it(pieces: list[bytes]) -> None:
    # DATA is read in large pieces, not line by line: the result must not change, the
    # size limit must answer 552 and the session must go on to its next message.
    ours = _conversation(_SMTP, pieces, limit=2_500_000)
    theirs = _conversation(_AiosmtpdReading, pieces, limit=2_500_000)
    assert ours == theirs
    replies, contents = ours
    assert replies[-2:] == ["250", "221"]
    assert contents[-1] == b"Subject: after\r\n\r\nok\r\n"


def test_a_line_longer_than_the_buffer_is_kept_not_refused() -> None:
    # aiosmtpd answers "500 line too long" past its buffer, and the sender would bounce
    # the mail to its author; a line of 1.5 MB within the size limit is stored instead.
    line = b"x" * 1_500_000 + b".\r\n"
    replies, contents = _conversation(
        _SMTP, [b"Subject: long\r\n\r\n" + line + b".\r\n"], 2_500_000
    )
    assert replies[4:6] == ["354", "250"]
    assert contents[0] == b"Subject: long\r\n\r\n" + line


def test_a_client_gone_in_the_middle_of_data_leaves_nothing_and_the_listener_serves_on() -> None:
    received: list[bytes] = []

    async def accept(raw: bytes, envelope: Envelope) -> Outcome:
        received.append(raw)
        return Stored(7, Action.OPEN, "id", "INFO#7", True)

    with Listener(accept) as listener:
        with (
            socket.create_connection(("127.0.0.1", listener.port), timeout=10) as sock,
            sock.makefile("rb") as reader,
        ):
            reader.readline()
            for command in (b"EHLO t\r\n", b"MAIL FROM:<a@x.example>\r\n"):
                sock.sendall(command)
                while reader.readline()[3:4] == b"-":
                    pass
            sock.sendall(b"RCPT TO:<info@uni.example>\r\n")
            reader.readline()
            sock.sendall(b"DATA\r\n")
            assert reader.readline().startswith(b"354")
            sock.sendall(b"Subject: half\r\n\r\nthe first half of a mes")
        deadline = time.monotonic() + 10
        while any(s.transport is not None for s in list(listener.handler.sessions)):
            assert time.monotonic() < deadline, "the half-sent session was not dropped"
            time.sleep(0.01)
        with smtplib.SMTP("127.0.0.1", listener.port, timeout=10) as client:
            client.sendmail("a@example.com", ["info@uni.example"], MESSAGE)
    assert received == [MESSAGE]
