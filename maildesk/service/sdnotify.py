"""The systemd notification protocol (sd_notify(3)): short datagrams on ``$NOTIFY_SOCKET``.

The protocol is a few ``KEY=value`` lines in one datagram on a Unix socket, so it is
written here rather than taken from a library. Without ``$NOTIFY_SOCKET`` (not started
by systemd with ``Type=notify``) every call does nothing. A failed send is logged once
and otherwise ignored: the daemon must never stop serving mail because systemd went away.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)


def _address(value: str) -> str | None:
    """The socket address named by ``$NOTIFY_SOCKET``: a path or an abstract name.

    >>> _address("/run/systemd/notify"), _address("@sd-notify"), _address("vsock:2:9")
    ('/run/systemd/notify', '\\x00sd-notify', None)
    """
    if value.startswith("/"):
        return value
    if value.startswith("@") and len(value) > 1:
        return "\0" + value[1:]
    return None  # vsock and other transports are for virtual machines; not ours


def watchdog_seconds(environ: Mapping[str, str], pid: int) -> float | None:
    """The watchdog period systemd expects pings within, or None when there is none.

    >>> watchdog_seconds({"WATCHDOG_USEC": "30000000"}, 7)
    30.0
    >>> watchdog_seconds({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "8"}, 7) is None
    True
    """
    try:
        usec = int(environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    owner = environ.get("WATCHDOG_PID", "")
    if usec <= 0 or (owner and owner != str(pid)):
        return None  # meant for another process (e.g. a wrapper that exec'd us)
    return usec / 1_000_000


def _one_line(text: str) -> str:
    return " ".join(text.split())[:400]


class Notifier:
    """Tells systemd where the daemon stands; a no-op outside ``Type=notify`` units."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.address = _address(env.get("NOTIFY_SOCKET", ""))
        self.watchdog = watchdog_seconds(env, os.getpid()) if self.address else None
        self._socket: socket.socket | None = None
        self._warned = False
        if self.address is not None:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            # A stuck systemd must not stall the event loop: drop the datagram instead.
            self._socket.setblocking(False)

    @property
    def enabled(self) -> bool:
        return self._socket is not None

    def notify(self, *fields: str) -> bool:
        """Send ``fields`` (``"READY=1"``, ``"STATUS=…"``) as one datagram; False if not sent."""
        if self._socket is None or self.address is None:
            return False
        try:
            self._socket.sendto("\n".join(fields).encode("utf-8"), self.address)
        except OSError as exc:
            if not self._warned:
                self._warned = True
                log.warning("cannot notify systemd at %s: %s", self.address.lstrip("\0"), exc)
            return False
        return True

    def ready(self, status: str) -> bool:
        return self.notify("READY=1", f"STATUS={_one_line(status)}")

    def status(self, status: str) -> bool:
        return self.notify(f"STATUS={_one_line(status)}")

    def reloading(self) -> bool:
        # MONOTONIC_USEC lets systemd (253 and later, Type=notify-reload) match the
        # reload it asked for with this answer; earlier versions ignore it.
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={usec}", "STATUS=reloading")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1", "STATUS=stopping")

    def ping(self) -> bool:
        return self.notify("WATCHDOG=1")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
