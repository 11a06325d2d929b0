"""The sd_notify protocol against a real datagram socket, as systemd listens on one."""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from maildesk.service.sdnotify import Notifier, watchdog_seconds


@pytest.fixture
def listener() -> Iterator[tuple[socket.socket, str]]:
    # A short folder: a Unix socket path may not exceed 107 bytes.
    folder = Path(tempfile.mkdtemp(prefix="md-sd-"))
    path = str(folder / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(5)
    try:
        yield sock, path
    finally:
        sock.close()
        os.unlink(path)
        folder.rmdir()


def test_each_call_sends_one_datagram_of_key_value_lines(
    listener: tuple[socket.socket, str],
) -> None:
    sock, path = listener
    notifier = Notifier({"NOTIFY_SOCKET": path})
    assert notifier.enabled
    assert notifier.ready("taking mail\non two lines")
    assert notifier.status("3 messages")
    assert notifier.ping()
    assert notifier.reloading()
    assert notifier.stopping()
    got = [sock.recv(4096).decode() for _ in range(5)]
    assert got[0] == "READY=1\nSTATUS=taking mail on two lines"
    assert got[1] == "STATUS=3 messages"
    assert got[2] == "WATCHDOG=1"
    reloading = got[3].split("\n")
    assert reloading[0] == "RELOADING=1"
    assert reloading[1].startswith("MONOTONIC_USEC=")
    assert int(reloading[1].partition("=")[2]) > 0
    assert got[4] == "STOPPING=1\nSTATUS=stopping"
    notifier.close()


def test_an_abstract_socket_name_starts_with_at() -> None:
    name = f"maildesk-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        notifier = Notifier({"NOTIFY_SOCKET": "@" + name})
        assert notifier.ping()
        assert sock.recv(64) == b"WATCHDOG=1"
        notifier.close()


def test_without_notify_socket_nothing_is_sent() -> None:
    notifier = Notifier({})
    assert not notifier.enabled
    assert notifier.watchdog is None
    assert not notifier.ready("x")
    assert not notifier.ping()


def test_a_vanished_socket_is_survived(listener: tuple[socket.socket, str]) -> None:
    _, path = listener
    notifier = Notifier({"NOTIFY_SOCKET": path + "-gone"})
    assert not notifier.ping()  # logged once, never raised
    assert not notifier.ping()
    notifier.close()


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"WATCHDOG_USEC": "20000000"}, 20.0),
        ({"WATCHDOG_USEC": "500000", "WATCHDOG_PID": "1234"}, 0.5),
        ({"WATCHDOG_USEC": "500000", "WATCHDOG_PID": "999"}, None),  # another process's
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_the_watchdog_period(environ: dict[str, str], expected: float | None) -> None:
    assert watchdog_seconds(environ, 1234) == expected
