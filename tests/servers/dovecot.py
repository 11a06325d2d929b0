"""A private Dovecot IMAP server for tests.

Each `Dovecot` owns one folder: its config file, its passwd-files, its runtime
directory (`base_dir`), its log and a Maildir per user. It is started with
`dovecot -F -c <own config>` as a child process, listens on a free port on
127.0.0.1 and never reads /etc/dovecot or talks to a system service.

    server = Dovecot(tmp_path / "dovecot")
    server.add_user("info", "secret")
    server.start()
    uid = server.append("info", "INBOX", b"Subject: hi\\r\\n\\r\\nbody\\r\\n")
    with server.client("info") as imap:
        imap.select_folder("INBOX")
    server.close()  # stop() alone keeps the mail for a later start()
"""

from __future__ import annotations

import contextlib
import functools
import grp
import imaplib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

# imapclient ships no type information; the ignore names both codes so it stays
# quiet whether or not pyproject later lists imapclient under ignore_missing_imports.
from imapclient import IMAPClient  # type: ignore[import-untyped, unused-ignore]

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
HOST = "127.0.0.1"
_INSTALL_HINT = "install the Debian package with `apt-get install -y dovecot-imapd`"
_NAME = re.compile(r"[A-Za-z0-9._@+-]+")


def find_dovecot() -> str:
    """Return the path of the dovecot binary, or explain how to install it."""
    # /usr/sbin is not on an ordinary user's PATH on Debian.
    found = shutil.which("dovecot") or shutil.which("dovecot", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise RuntimeError(
            "the dovecot binary was not found on PATH or in /usr/sbin; the IMAP tests run "
            f"against a real Dovecot: {_INSTALL_HINT}"
        )
    return found


@functools.cache
def dovecot_version(binary: str) -> tuple[int, int]:
    """(major, minor) of the installed Dovecot, from `dovecot --version` ("2.3.19.1 (…)")."""
    result = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, check=False, timeout=10
    )
    match = re.match(r"(\d+)\.(\d+)", result.stdout.strip())
    if result.returncode != 0 or match is None:
        raise RuntimeError(
            f"`{binary} --version` failed (exit {result.returncode}): "
            f"{(result.stdout + result.stderr).strip()!r}; {_INSTALL_HINT}"
        )
    return int(match[1]), int(match[2])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class _Accounts:
    """The system accounts Dovecot's processes run as."""

    internal_user: str  # auth, anvil, stats, log helpers
    internal_group: str
    login_user: str  # imap-login, which talks to the untrusted network
    mail_uid: int  # imap processes and the owner of every Maildir file
    mail_gid: int
    as_root: bool


def _accounts() -> _Accounts:
    """Pick accounts that work both for a developer and for CI running as root.

    Not root: Dovecot cannot switch users, so every process runs as the current user
    and the login/anvil chroots are switched off in the config.

    Root: Dovecot refuses to run mail processes as uid 0 ("Mail access not allowed
    for root"), so it needs an unprivileged account. Debian's dovecot-core package
    creates `dovecot` (Dovecot's own default_internal_user) and `dovenull` (its
    default_login_user, which owns nothing). We keep those two roles and also use
    `dovecot` as the mail owner: no extra system user has to be created, and the
    files it owns live only in a temporary folder. first_valid_uid/last_valid_uid
    are narrowed to that uid because the default (500) rejects system accounts.
    """
    if os.geteuid() != 0:
        try:
            user = pwd.getpwuid(os.geteuid()).pw_name
            group = grp.getgrgid(os.getegid()).gr_name
        except KeyError as exc:
            raise RuntimeError(
                f"uid {os.geteuid()} has no entry in the user database; Dovecot needs "
                "user and group names for default_internal_user and default_login_user"
            ) from exc
        return _Accounts(user, group, user, os.geteuid(), os.getegid(), as_root=False)
    try:
        internal = pwd.getpwnam("dovecot")
        pwd.getpwnam("dovenull")
        internal_group = grp.getgrgid(internal.pw_gid).gr_name
    except KeyError as exc:
        raise RuntimeError(
            "running as root needs the system users dovecot and dovenull, which the "
            f"dovecot-core package creates: {_INSTALL_HINT}"
        ) from exc
    return _Accounts(
        "dovecot", internal_group, "dovenull", internal.pw_uid, internal.pw_gid, as_root=True
    )


def _terminate(process: subprocess.Popen[bytes]) -> None:
    """Stop a Dovecot master and everything it forked (they share its process group)."""
    deadline = time.monotonic() + STOP_TIMEOUT
    alone_since: float | None = None
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    while process.poll() is None:
        now = time.monotonic()
        others = [m for m in _live_members(process.pid) if m[0] != process.pid]
        if now > deadline:
            _signal_group(process.pid, signal.SIGKILL)
        elif not others:
            # With every child gone the master still idles for a second (it waits
            # for status notes from services that no longer exist). Nothing is left
            # to flush: the imap processes have closed the Maildirs.
            alone_since = alone_since or now
            if now - alone_since > 0.05:
                process.kill()
        elif all(comm == "log" for _pid, comm in others):
            # Likewise the log process lingers on its own pipes; hurry it along.
            for pid, _comm in others:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
        time.sleep(0.005)
    if _live_members(process.pid):
        # An imap process whose client is still connected (in IDLE, say) outlives the
        # master by seconds, waiting on that client; nothing of it is left to save.
        _signal_group(process.pid, signal.SIGTERM)
        grace = min(deadline, time.monotonic() + 1)
        while _live_members(process.pid) and time.monotonic() < grace:
            time.sleep(0.005)
        if _live_members(process.pid):
            _signal_group(process.pid, signal.SIGKILL)
    while _live_members(process.pid) and time.monotonic() < deadline:
        time.sleep(0.005)
    _signal_group(process.pid, signal.SIGKILL)


def _signal_group(pgid: int, signum: int) -> None:
    # Safe even after the master is reaped: a process group id is not reused while
    # any member, zombies included, still exists.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def _live_members(pgid: int) -> list[tuple[int, str]]:
    """(pid, command name) of the processes in the group that are not zombies.

    Orphaned children are reparented to PID 1; where that is not a real init (some
    containers), they stay zombies forever, so "is the group empty" would never
    become true. Zombies hold no port, file or CPU, so they count as stopped.
    """
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            text = Path(entry.path, "stat").read_text()
        except OSError:
            continue  # exited meanwhile
        # "pid (comm) state ppid pgrp ...": comm may contain spaces, so split at the
        # last ")".
        comm = text[text.index("(") + 1 : text.rindex(")")]
        state, _ppid, pgrp = text[text.rindex(")") + 2 :].split()[:3]
        if int(pgrp) == pgid and state != "Z":
            members.append((int(entry.name), comm))
    return members


class Dovecot:
    """A private Dovecot IMAP server (see the module docstring).

    Its files live in `directory`, except as root: pytest's temporary folders sit
    below /tmp/pytest-of-root, mode 0700, which the unprivileged `dovecot` user cannot
    cross. Loosening that mode does not last either, because every pytest run that
    starts meanwhile sets it back to 0700. So as root the files live in a folder of
    their own under the system temp dir, owned by `dovecot`; close() copies the config
    and the logs into `directory` and removes that folder.
    """

    def __init__(self, directory: Path, *, start_timeout: float = START_TIMEOUT) -> None:
        self.binary = find_dovecot()
        self.version = dovecot_version(self.binary)
        self._accounts = _accounts()
        self.requested_directory = directory
        self.directory = directory.resolve()
        self._cleanup: weakref.finalize[..., Dovecot] | None = None
        if self._accounts.as_root:
            self.directory = Path(tempfile.mkdtemp(prefix="maildesk-dovecot-"))
            os.chown(self.directory, self._accounts.mail_uid, self._accounts.mail_gid)
            self._cleanup = weakref.finalize(self, shutil.rmtree, self.directory, True)
        self.start_timeout = start_timeout
        self.host = HOST
        self.port = _free_port()
        self._users: dict[str, str] = {}
        self._users_stamp = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize[..., Dovecot] | None = None
        self._started_once = False
        self._log_offset = 0

    # -- paths -------------------------------------------------------------------

    @property
    def config_path(self) -> Path:
        return self.directory / "dovecot.conf"

    @property
    def log_path(self) -> Path:
        return self.directory / "dovecot.log"

    @property
    def _output_path(self) -> Path:
        return self.directory / "dovecot.out"

    @property
    def _passwd_dir(self) -> Path:
        return self.directory / "passwd"

    def home(self, user: str) -> Path:
        """The user's home; the Maildir is `home(user) / "Maildir"`."""
        return self.directory / "mail" / user

    # -- users -------------------------------------------------------------------

    def add_user(self, name: str, password: str) -> None:
        """Add (or re-password) a user; works before start and while running."""
        if not _NAME.fullmatch(name):
            raise ValueError(f"user name {name!r} must match {_NAME.pattern}")
        if not password or any(c in password for c in ":\r\n"):
            raise ValueError("password must be non-empty without ':' or line breaks")
        changed = self._users.get(name, password) != password
        self._users[name] = password
        if self._passwd_dir.exists():
            self._write_passwd(name)
        if changed and self.running:
            # A new user's file is read on first use, but Dovecot re-checks a file it
            # has already read at most once a second: wait until the change is live.
            self._wait_for_login(name)

    def password(self, user: str) -> str:
        return self._users[user]

    @property
    def users(self) -> list[str]:
        return list(self._users)

    # -- lifecycle ---------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start Dovecot and return once it accepts a LOGIN (or a connection, without users).

        Raises RuntimeError carrying Dovecot's own output when it cannot start.
        """
        if self._process is not None:
            raise RuntimeError("Dovecot is already running; stop() it first")
        try:
            self._launch()
        except RuntimeError as exc:
            # Another process may have taken the port between _free_port() and the
            # first bind; a restart keeps its port, so only a first start moves.
            if self._started_once or "Address already in use" not in str(exc):
                raise
            self.port = _free_port()
            self._launch()
        self._started_once = True

    def stop(self) -> None:
        """Stop the server and all its processes; the mail and the port stay."""
        process, self._process = self._process, None
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if process is not None:
            _terminate(process)

    def restart(self) -> None:
        """Stop and start again on the same port with the same mail."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop, and as root also keep the config and logs and remove the private folder."""
        self.stop()
        if self._cleanup is None or not self._cleanup.alive:
            return
        self.requested_directory.mkdir(parents=True, exist_ok=True)
        for path in (self.config_path, self.log_path, self._output_path):
            if path.exists():
                shutil.copyfile(path, self.requested_directory / path.name)
        self._cleanup()
        self.directory = self.requested_directory.resolve()  # log_path now names the copy

    def __enter__(self) -> Dovecot:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- IMAP helpers ------------------------------------------------------------

    def client(self, user: str, *, timeout: float = 10.0) -> IMAPClient:
        """A logged-in IMAPClient; use it in a `with` block so it logs out and closes."""
        password = self._users[user]
        imap = IMAPClient(self.host, port=self.port, ssl=False, timeout=timeout)
        try:
            imap.login(user, password)
        except BaseException:
            imap.shutdown()
            raise
        return imap

    def append(self, user: str, folder: str, raw: bytes, flags: Iterable[bytes | str] = ()) -> int:
        """APPEND `raw` to `folder` (created if missing) and return the new message's UID."""
        with self.client(user) as imap:
            if not imap.folder_exists(folder):
                imap.create_folder(folder)
            response = imap.append(folder, raw, flags=tuple(flags))
        text = response.decode("ascii", "replace") if isinstance(response, bytes) else response
        match = re.search(r"\[APPENDUID \d+ (\d+)\]", str(text))
        if match is None:
            raise RuntimeError(f"APPEND to {folder!r} returned no APPENDUID: {text!r}")
        return int(match[1])

    # -- internals ---------------------------------------------------------------

    def _launch(self) -> None:
        if self._cleanup is not None and not self._cleanup.alive:
            raise RuntimeError("this Dovecot was closed; create a new one")
        self._write_files()
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        # A master stopped by stop() may leave its pid file; Dovecot refuses to start
        # if that pid has since been reused by any live process.
        (self.directory / "run" / "master.pid").unlink(missing_ok=True)
        with self._output_path.open("wb") as output:
            process = subprocess.Popen(
                [self.binary, "-F", "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so stop() reaches every child
            )
        self._process = process
        # If a test forgets stop(), the server still goes away with the interpreter.
        self._finalizer = weakref.finalize(self, _terminate, process)
        try:
            self._wait_until_ready(process)
        except BaseException:
            self.stop()
            raise

    def _wait_until_ready(self, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + self.start_timeout
        last_error = "no connection attempted"
        while True:
            status = process.poll()
            if status is not None:
                raise RuntimeError(
                    f"Dovecot exited with status {status} while starting.\n{self._diagnostics()}"
                )
            try:
                self._probe()
                return
            except (OSError, imaplib.IMAP4.error) as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"Dovecot did not accept an IMAP login on {self.host}:{self.port} within "
                    f"{self.start_timeout:g}s (last error: {last_error}).\n{self._diagnostics()}"
                )
            time.sleep(0.02)

    def _probe(self, user: str | None = None) -> None:
        user = user or next(iter(self._users), None)
        if user is None:
            with socket.create_connection((self.host, self.port), timeout=2) as sock:
                if not sock.recv(100).startswith(b"* OK"):
                    raise ConnectionError("no IMAP greeting")
            return
        with self.client(user, timeout=2):
            pass

    def _wait_for_login(self, user: str) -> None:
        deadline = time.monotonic() + 3.0
        while True:
            try:
                self._probe(user)
                return
            except (OSError, imaplib.IMAP4.error) as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the new password of {user!r} was not accepted") from exc
            time.sleep(0.05)

    def _diagnostics(self) -> str:
        output = self._output_path.read_text(errors="replace") if self._output_path.exists() else ""
        log = ""
        if self.log_path.exists():
            with self.log_path.open("rb") as handle:
                handle.seek(self._log_offset)
                log = handle.read().decode(errors="replace")
        return (
            f"--- dovecot output ({self._output_path}) ---\n{output[-4000:].strip()}\n"
            f"--- dovecot log ({self.log_path}) ---\n{log[-4000:].strip()}"
        )

    def _write_files(self) -> None:
        accounts = self._accounts
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "mail").mkdir(exist_ok=True)
        (self.directory / "state").mkdir(exist_ok=True)
        render = _config_24 if self.version >= (2, 4) else _config_23
        self.config_path.write_text(render(self.directory, self.port, accounts))
        self._passwd_dir.mkdir(exist_ok=True)
        for name in self._users:
            self._write_passwd(name)
        if accounts.as_root:
            # Root (master, config, log) reads anything; the auth process and the mail
            # processes run as the mail account and need to own these.
            for path in (self.directory / "mail", self._passwd_dir):
                os.chown(path, accounts.mail_uid, accounts.mail_gid)

    def _write_passwd(self, name: str) -> None:
        # One passwd-file per user (the config names it with %u): Dovecot opens a file
        # it has not seen on the first lookup, so users added while the server runs
        # can log in at once. One shared file would be re-read at most once a second.
        path = self._passwd_dir / name
        temporary = path.with_suffix(".tmp")
        temporary.write_text(f"{name}:{{PLAIN}}{self._users[name]}\n")
        temporary.chmod(0o600)
        if self._accounts.as_root:
            os.chown(temporary, self._accounts.mail_uid, self._accounts.mail_gid)
        # A re-read file counts as changed when its mtime (whole seconds) or size
        # differs; a strictly increasing mtime makes a same-length password visible.
        self._users_stamp = max(int(time.time()), self._users_stamp + 1)
        os.utime(temporary, (self._users_stamp, self._users_stamp))
        temporary.replace(path)


def _common_settings(directory: Path, accounts: _Accounts) -> str:
    return f"""\
protocols = imap
listen = {HOST}
base_dir = {directory}/run
state_dir = {directory}/state
log_path = {directory}/dovecot.log
ssl = no
auth_mechanisms = plain login
# Wrong passwords fail at once instead of after the default 2 s.
auth_failure_delay = 0
# IDLE learns of new mail through inotify; this is the fallback poll.
mailbox_idle_check_interval = 1s
default_internal_user = {accounts.internal_user}
default_internal_group = {accounts.internal_group}
default_login_user = {accounts.login_user}
mail_uid = {accounts.mail_uid}
mail_gid = {accounts.mail_gid}
first_valid_uid = {accounts.mail_uid}
last_valid_uid = {accounts.mail_uid}
first_valid_gid = {accounts.mail_gid}
last_valid_gid = {accounts.mail_gid}
namespace inbox {{
  inbox = yes
}}
"""


def _services(port: int, accounts: _Accounts) -> str:
    # chroot needs root; without it the login and anvil processes run unchrooted.
    no_chroot = "" if accounts.as_root else "  chroot =\n"
    return f"""\
service imap-login {{
{no_chroot}  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
{no_chroot}  # No growing delay for an IP after failed logins: tests fail logins on purpose.
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""


def _config_23(directory: Path, port: int, accounts: _Accounts) -> str:
    return f"""\
# Written by tests/servers/dovecot.py for Dovecot 2.3; regenerated on every start.
{_common_settings(directory, accounts)}\
# Plaintext LOGIN without TLS: this server only listens on loopback.
disable_plaintext_auth = no
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = {directory}/passwd/%u
}}
userdb {{
  driver = static
  args = uid={accounts.mail_uid} gid={accounts.mail_gid} home={directory}/mail/%u
}}
{_services(port, accounts)}"""


def _config_24(directory: Path, port: int, accounts: _Accounts) -> str:
    return f"""\
dovecot_config_version = 2.4.0
dovecot_storage_version = 2.4.0
# Written by tests/servers/dovecot.py for Dovecot 2.4; regenerated on every start.
{_common_settings(directory, accounts)}\
# Plaintext LOGIN without TLS: this server only listens on loopback.
auth_allow_cleartext = yes
mail_driver = maildir
mail_path = ~/Maildir
mail_home = {directory}/mail/%{{user}}
passdb passwd-file {{
  passwd_file_path = {directory}/passwd/%{{user}}
}}
userdb static {{
  fields {{
    uid = {accounts.mail_uid}
    gid = {accounts.mail_gid}
  }}
}}
{_services(port, accounts)}"""
