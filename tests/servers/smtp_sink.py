"""An SMTP sink for tests: a real aiosmtpd server on loopback that records what it gets.

It stands in for the outgoing relay, and stopping it is how a test makes the relay fail:

    sink = SmtpSink()
    sink.start()
    ...  # the code under test sends to sink.host, sink.port
    [message] = sink.wait_for(1)
    assert message.rcpt_tos == ("requester@example.test",)
    sink.fail_with = "451 4.3.0 try later"  # every DATA now fails, nothing is recorded
    sink.stop()
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller

HOST = "127.0.0.1"


@dataclass(frozen=True)
class ReceivedMessage:
    """One accepted SMTP transaction, exactly as it arrived."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes  # the DATA section with its CRLF line endings, dot-unstuffed


class _Recorder:
    """The aiosmtpd handler: accepts, records, or answers every DATA with `fail_with`."""

    def __init__(self, fail_with: str | None) -> None:
        self.lock = threading.Lock()
        self.messages: list[ReceivedMessage] = []
        self.fail_with = fail_with
        self.delay = 0.0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """aiosmtpd calls this once per message, after the final "." line."""
        if self.delay:  # a slow relay: the client waits for the 250, then it is recorded
            await asyncio.sleep(self.delay)
        with self.lock:
            if self.fail_with is not None:
                return self.fail_with
            self.messages.append(
                ReceivedMessage(
                    mail_from=str(envelope.mail_from),
                    rcpt_tos=tuple(str(rcpt) for rcpt in envelope.rcpt_tos),
                    # The bytes as received, never decoded (decode_data is off).
                    data=bytes(envelope.original_content),
                )
            )
        return "250 OK"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


class SmtpSink:
    """A recording SMTP server on 127.0.0.1; the port stays the same across restarts."""

    def __init__(self, *, fail_with: str | None = None) -> None:
        self.host = HOST
        self.port = _free_port()
        self._recorder = _Recorder(fail_with)
        self._controller: Any = None
        self._started_once = False

    @property
    def fail_with(self) -> str | None:
        """A full reply such as "550 5.1.1 no such user" sent to every DATA; None accepts."""
        with self._recorder.lock:
            return self._recorder.fail_with

    @fail_with.setter
    def fail_with(self, reply: str | None) -> None:
        if reply is not None and not (reply[:3].isdigit() and reply[0] in "2345"):
            raise ValueError(
                f"fail_with must be an SMTP reply like '451 4.3.0 try later': {reply!r}"
            )
        with self._recorder.lock:
            self._recorder.fail_with = reply

    @property
    def delay(self) -> float:
        """Seconds each DATA waits before its 250 (a slow relay); 0 by default."""
        return self._recorder.delay

    @delay.setter
    def delay(self, seconds: float) -> None:
        self._recorder.delay = seconds

    @property
    def messages(self) -> list[ReceivedMessage]:
        """A snapshot of everything accepted so far, oldest first."""
        with self._recorder.lock:
            return list(self._recorder.messages)

    def clear(self) -> None:
        with self._recorder.lock:
            self._recorder.messages.clear()

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        if self._controller is not None:
            raise RuntimeError("the SMTP sink is already running; stop() it first")
        try:
            self._start_controller()
        except OSError:
            # Another process took the port after _free_port(); only a first start
            # may move, because restart() promises the same port.
            if self._started_once:
                raise
            self.port = _free_port()
            self._start_controller()
        self._started_once = True

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def restart(self) -> None:
        """Stop and start again on the same port; recorded messages are kept."""
        self.stop()
        self.start()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedMessage]:
        """Poll until at least `count` messages arrived; AssertionError after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            messages = self.messages
            if len(messages) >= count:
                return messages
            if time.monotonic() >= deadline:
                summary = [(m.mail_from, m.rcpt_tos) for m in messages]
                raise AssertionError(
                    f"expected {count} message(s) at {self.host}:{self.port} within "
                    f"{timeout:g}s, got {len(messages)}: {summary}"
                )
            time.sleep(0.01)

    def __enter__(self) -> SmtpSink:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _start_controller(self) -> None:
        # A Controller closes its event loop when it stops, so each start needs a new one.
        # A fixed server_hostname spares a getfqdn() DNS lookup on every start.
        controller = Controller(
            self._recorder, hostname=self.host, port=self.port, server_hostname="sink.test"
        )
        try:
            controller.start()
        except BaseException:
            # aiosmtpd leaves its loop open when the bind fails; close it so it
            # does not surface later as an "unclosed event loop" ResourceWarning.
            if not controller.loop.is_closed():
                controller.stop(no_assert=True)
            if not controller.loop.is_closed():
                controller.loop.close()
            raise
        self._controller = controller
