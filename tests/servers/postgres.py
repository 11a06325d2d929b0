"""A private PostgreSQL cluster for tests.

Each `Postgres` owns one folder: a cluster made by `initdb`, its socket directory and
its log. The server (`postgres -D …`) runs as a child process in its own process
group, listens on a free port on 127.0.0.1, and never reads /etc/postgresql or talks
to a system service. It is started directly rather than through `pg_ctl`, so that the
test owns the process: a test that forgets `stop()` still takes it down with the
interpreter (as tests/servers/dovecot.py does).

    server = Postgres(tmp_path / "pg")
    server.start()
    url = server.create_database("t1")  # postgresql://maildesk@127.0.0.1:PORT/t1
    server.close()

As root (CI), initdb refuses to run: the cluster then belongs to the `postgres` account
that Debian's package creates, in a folder of its own under the system temp dir
(pytest's folders below /tmp/pytest-of-root are mode 0700).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from pathlib import Path
from typing import Any

import psycopg

HOST = "127.0.0.1"
SUPERUSER = "maildesk"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
BIN_DIRS = (
    "/usr/lib/postgresql/17/bin",
    "/usr/lib/postgresql/16/bin",
    "/usr/lib/postgresql/15/bin",
)
_INSTALL_HINT = "install the Debian package with `apt-get install -y postgresql`"


def find_bin_dir() -> Path:
    """The folder of initdb and postgres (Debian keeps them off PATH), or why not."""
    for folder in BIN_DIRS:
        if Path(folder, "initdb").is_file() and Path(folder, "postgres").is_file():
            return Path(folder)
    found = shutil.which("initdb")
    if found is not None:
        return Path(found).parent
    raise RuntimeError(f"initdb was not found in {', '.join(BIN_DIRS)} or on PATH; {_INSTALL_HINT}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _account() -> pwd.struct_passwd | None:
    """The account the cluster runs as: None for the current user, `postgres` as root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError as exc:
        raise RuntimeError(
            f"running as root needs the system user postgres, which the package creates; "
            f"{_INSTALL_HINT}"
        ) from exc


def _terminate(process: subprocess.Popen[bytes]) -> None:
    """Fast shutdown (SIGINT: roll back sessions, write a checkpoint), then SIGKILL."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


class Postgres:
    """A private PostgreSQL cluster (see the module docstring)."""

    def __init__(self, directory: Path, *, durable: bool = False) -> None:
        """``durable``: keep fsync on (a benchmark); tests never crash the server itself,
        so they run without it."""
        self.bin = find_bin_dir()
        self.account = _account()
        self.requested_directory = directory
        self.durable = durable
        self.directory = directory.resolve()
        self._cleanup: weakref.finalize[..., Postgres] | None = None
        if self.account is not None:
            self.directory = Path(tempfile.mkdtemp(prefix="maildesk-postgres-"))
            os.chown(self.directory, self.account.pw_uid, self.account.pw_gid)
            self._cleanup = weakref.finalize(self, shutil.rmtree, self.directory, True)
        else:
            self.directory.mkdir(parents=True, exist_ok=True)
        self.host = HOST
        self.port = _free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize[..., Postgres] | None = None

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def log_path(self) -> Path:
        return self.directory / "postgres.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def url(self, database: str = "postgres", user: str = SUPERUSER) -> str:
        return f"postgresql://{user}@{self.host}:{self.port}/{database}"

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        """initdb (the first time), then start the server and wait until it answers.

        Raises RuntimeError carrying PostgreSQL's own output when it cannot start.
        """
        if self._process is not None:
            raise RuntimeError("PostgreSQL is already running; stop() it first")
        if not (self.data / "PG_VERSION").exists():
            self._initdb()
        (self.directory / "run").mkdir(exist_ok=True)
        self._chown(self.directory / "run")
        settings = {
            "listen_addresses": HOST,
            "port": str(self.port),
            "unix_socket_directories": str(self.directory / "run"),
            "max_connections": "50",
            "fsync": "on" if self.durable else "off",
            "full_page_writes": "on" if self.durable else "off",
        }
        command = [str(self.bin / "postgres"), "-D", str(self.data)]
        for name, value in settings.items():
            command += ["-c", f"{name}={value}"]
        with self.log_path.open("ab") as log:
            self._chown(self.log_path)
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **self._as_account(),
            )
        self._process = process
        self._finalizer = weakref.finalize(self, _terminate, process)
        try:
            self._wait_until_ready(process)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        process, self._process = self._process, None
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if process is not None:
            _terminate(process)

    def close(self) -> None:
        """Stop, and as root also keep the log and remove the private folder."""
        self.stop()
        if self._cleanup is None or not self._cleanup.alive:
            return
        self.requested_directory.mkdir(parents=True, exist_ok=True)
        if self.log_path.exists():
            shutil.copyfile(self.log_path, self.requested_directory / self.log_path.name)
        self._cleanup()

    # -- databases ---------------------------------------------------------------

    def connect(self, database: str = "postgres") -> psycopg.Connection[Any]:
        return psycopg.connect(self.url(database), autocommit=True, connect_timeout=5)

    def create_database(self, name: str, template: str = "template1") -> str:
        """Create database ``name`` (a copy of ``template``) and return its URL."""
        with self.connect() as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return self.url(name)

    def execute(self, sql: str, database: str = "postgres") -> None:
        with self.connect(database) as conn:
            conn.execute(sql.encode())

    # -- internals ---------------------------------------------------------------

    def _as_account(self) -> dict[str, Any]:
        if self.account is None:
            return {}
        return {"user": self.account.pw_uid, "group": self.account.pw_gid, "extra_groups": []}

    def _chown(self, path: Path) -> None:
        if self.account is not None:
            os.chown(path, self.account.pw_uid, self.account.pw_gid)

    def _initdb(self) -> None:
        result = subprocess.run(
            [
                str(self.bin / "initdb"),
                "-D",
                str(self.data),
                "-U",
                SUPERUSER,
                "--auth=trust",  # loopback only, and a throwaway cluster
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
            **self._as_account(),
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"initdb failed (exit {result.returncode}):\n"
                f"{(result.stdout + result.stderr).strip()[-4000:]}"
            )

    def _wait_until_ready(self, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        last_error = "no connection attempted"
        while True:
            status = process.poll()
            if status is not None:
                raise RuntimeError(
                    f"PostgreSQL exited with status {status} while starting.\n{self._log_tail()}"
                )
            try:
                with self.connect() as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError as exc:
                last_error = str(exc).strip()
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"PostgreSQL did not accept a connection on {self.host}:{self.port} within "
                    f"{START_TIMEOUT:g}s (last error: {last_error}).\n{self._log_tail()}"
                )
            time.sleep(0.05)

    def _log_tail(self) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return f"--- postgres log ({self.log_path}) ---\n{text[-4000:].strip()}"
