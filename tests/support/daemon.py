"""Run ``maildesk run`` as a real subprocess with its own folder, config and port."""

from __future__ import annotations

import json
import os
import signal
import smtplib
import socket
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any


def environment() -> dict[str, str]:
    """The test's environment without maildesk's variables nor systemd's: a daemon under
    test never talks to the systemd that may be running the tests."""
    systemd = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM")
    return {
        k: v for k, v in os.environ.items() if not k.startswith("MAILDESK_") and k not in systemd
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(
    port: int, process: subprocess.Popen[bytes] | None, timeout: float = 15.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the daemon exited with {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


class Maildesk:
    """A daemon in ``folder``; ``extra_config`` is appended to a minimal config.toml."""

    def __init__(self, folder: Path, extra_config: str = "", queues: str | None = None) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.http_port = free_port()
        self.config = folder / "config.toml"
        default_queues = (
            '[[queues]]\nname = "info"\naddresses = ["info@*"]\ntag = "INFO"\n\n'
            '[[queues]]\nname = "crm"\naddresses = ["crm@uni.example"]\ntag = "CRM"\n'
            'language = "en"\n'
        )
        # The HTTP listener gets a free port too, unless the test configures it.
        http = "" if "[http]" in extra_config else f"[http]\nport = {self.http_port}\n\n"
        self.config.write_text(
            f'[maildesk]\norganization = "Universidad de Prueba"\n\n'
            f"{http}"
            f"[listener]\nport = {self.port}\nmax_message_bytes = 200000\n\n"
            f"{extra_config}\n{queues if queues is not None else default_queues}",
            encoding="utf-8",
        )
        self.log_path = folder / "daemon.log"
        self.env: dict[str, str] = {}  # added to the daemon's environment
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def outbox(self) -> Path:
        return self.folder / "outbox"

    def start(self) -> None:
        log = self.log_path.open("ab")
        env = {**environment(), **self.env}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "maildesk", "--config", str(self.config), "run"],
            cwd=self.folder,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        log.close()
        try:
            wait_for_port(self.port, self.process)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n--- daemon log ---\n{self.log()}") from exc

    def stop(self) -> int:
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        code = self.process.returncode
        self.process = None
        return code

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer: nothing is finished or flushed."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()
        self.process = None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return (
            self.log_path.read_text(encoding="utf-8", errors="replace")
            if self.log_path.exists()
            else ""
        )

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "maildesk", "--config", str(self.config), *args],
            capture_output=True,
            text=True,
            cwd=self.folder,
            timeout=60,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"maildesk {' '.join(args)} failed: {result.stderr}")
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.cli(*args, "--json").stdout)

    def smtp(self) -> smtplib.SMTP:
        return smtplib.SMTP("127.0.0.1", self.port, timeout=30)

    def send(
        self,
        message: EmailMessage | bytes,
        *,
        sender: str | None = None,
        to: list[str] | None = None,
    ) -> Any:
        with self.smtp() as client:
            if isinstance(message, bytes):
                assert sender is not None
                assert to is not None
                return client.sendmail(sender, to, message)
            return client.send_message(message, from_addr=sender, to_addrs=to)

    def outbox_files(self, count: int, timeout: float = 15.0) -> list[Path]:
        """Wait until the outbox folder holds at least ``count`` messages."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = sorted(self.outbox.glob("*.eml")) if self.outbox.exists() else []
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"expected {count} outbox files, found {len(found)}\n{self.log()}")


def mail(
    sender: str,
    to: str,
    subject: str,
    body: str = "Hola",
    *,
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: str | None = None,
    cc: str | None = None,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    if cc:
        message["Cc"] = cc
    message["Subject"] = subject
    if message_id:
        message["Message-ID"] = message_id
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if references:
        message["References"] = references
    message["Date"] = "Fri, 20 Nov 2026 10:00:00 -0400"
    message.set_content(body)
    return message
