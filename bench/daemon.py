"""``maildesk run`` as a child process in a folder of its own, for the benchmarks.

Like ``tests/support/daemon.py``: a temp config with a free port and the file outbox,
the daemon started with this interpreter, stopped with SIGTERM. It adds what the
benchmarks read: the process's resident memory (``/proc/<pid>/status``) and the outbox
folder where acknowledgements appear.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from bench.mix import queues_toml


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Daemon:
    """A daemon in ``folder``; ``extra_config`` goes between [listener] and [[queues]]."""

    def __init__(
        self, folder: Path, extra_config: str = "", env: dict[str, str] | None = None
    ) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.config = folder / "config.toml"
        # The HTTP listener too gets a free port: a daemon on the defaults may be running.
        http = "" if "[http]" in extra_config else f"[http]\nport = {free_port()}\n\n"
        self.config.write_text(
            '[maildesk]\norganization = "Universidad de Prueba"\n\n'
            f"{http}[listener]\nport = {self.port}\n\n{extra_config}\n{queues_toml()}",
            encoding="utf-8",
        )
        self.log_path = folder / "daemon.log"
        self.env = env or {}
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0  # time.monotonic() when the listener answered

    @property
    def outbox(self) -> Path:
        return self.folder / "outbox"

    @property
    def database(self) -> Path:
        return self.folder / "maildesk.db"

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("the daemon is not running")
        return self.process.pid

    def start(self, timeout: float = 30.0) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAILDESK_")}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "maildesk", "--config", str(self.config), "run"],
                cwd=self.folder,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**env, **self.env},
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"maildesk run exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    self.started_at = time.monotonic()
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"maildesk run did not listen within {timeout} s:\n{self.log_tail()}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM, then SIGKILL after ``timeout``; the exit code (0 for a clean stop)."""
        process, self.process = self.process, None
        if process is None:
            return 0
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    def status_kb(self, field: str) -> int:
        """A memory field of /proc/<pid>/status in KiB: VmRSS now, VmHWM the peak."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
        raise RuntimeError(f"no {field} in /proc/{self.pid}/status")

    def cpu_seconds(self) -> float:
        """User plus system CPU time the daemon has used so far, all threads together."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log_tail(self, lines: int = 20) -> str:
        if not self.log_path.exists():
            return ""
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def acks_written(self) -> int:
        """.eml files in the outbox folder (the file transport renames each into place)."""
        try:
            with os.scandir(self.outbox) as entries:
                return sum(1 for e in entries if not e.name.startswith("."))
        except FileNotFoundError:
            return 0

    def __enter__(self) -> Daemon:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
