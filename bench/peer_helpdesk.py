"""Figure 7: a peer side by side: django-helpdesk's ``get_email`` and maildesk over IMAP.

    .venv/bin/python -m bench.peer_helpdesk [--n 1000] [--helpdesk-version 2.6.1]

Installs django-helpdesk from PyPI into its own virtual environment under a temp folder
(this takes minutes), makes a minimal Django site around it (SQLite, e-mail written to
files like maildesk's file outbox, teams mode off), creates one queue that reads an IMAP
account, and APPENDs the mix (bench/mix.py) to two accounts of one private Dovecot: one
for django-helpdesk, one for maildesk. Then it times ``manage.py get_email`` (one run
takes the whole mailbox; Django's start-up is timed separately and reported) and
``maildesk run`` with an ``[[imap]]`` account (daemon up to last commit), reads both
peaks of resident memory, and prints the ratio maildesk/peer.

django-helpdesk is checked only for having made a ticket or a follow-up of every
message; maildesk is checked as in figure 1.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from bench.daemon import Daemon
from bench.imap_ingest import append_all, imap_config, wait_stored
from bench.mix import QUEUES, Spool, plan, predicted_tickets
from bench.verify import check, summary
from tests.servers.dovecot import Dovecot

_PASSWORD = "bench-secret"  # noqa: S105 - throwaway accounts on a private loopback server

_SETTINGS = """\
import importlib.util
from pathlib import Path

HERE = Path(__file__).resolve().parent
SECRET_KEY = "benchmark-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = [
    "django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes",
    "django.contrib.sessions", "django.contrib.messages", "django.contrib.sites",
    "django.contrib.humanize", "rest_framework", "helpdesk",
] + [app for app in ("bootstrap4form", "django_cleanup.apps.CleanupConfig")
     if importlib.util.find_spec(app.split(".")[0])]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "site_urls"
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": HERE / "helpdesk.db"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
SITE_ID = 1
USE_TZ = True
MEDIA_ROOT = HERE / "media"
STATIC_URL = "/static/"
EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
EMAIL_FILE_PATH = HERE / "outbox"
DEFAULT_FROM_EMAIL = "info@uni.example"
HELPDESK_TEAMS_MODE_ENABLED = False
LOGGING = {"version": 1, "disable_existing_loggers": True}
"""

_URLS = """\
from django.urls import include, path

urlpatterns = [path("helpdesk/", include("helpdesk.urls", namespace="helpdesk"))]
"""

_QUEUE = """\
from helpdesk.models import Queue
Queue.objects.create(
    title="Info", slug="info", email_address="info@uni.example",
    allow_email_submission=True, email_box_type="imap", email_box_host="127.0.0.1",
    email_box_port={port}, email_box_ssl=False, email_box_user="peer",
    email_box_pass="{password}", email_box_imap_folder="INBOX", email_box_interval=0,
)
"""

_COUNT = """\
from helpdesk.models import FollowUp, Ticket
print(Ticket.objects.count(), FollowUp.objects.count())
"""


class Peer:
    """A Django site with django-helpdesk in its own virtual environment."""

    def __init__(self, folder: Path, venv: Path | None = None) -> None:
        self.folder = folder
        self.site = folder / "site"
        self.venv = venv or folder / "venv"
        self.python = self.venv / "bin" / "python"

    def install(self, version: str | None, timeout: float) -> str:
        if not self.python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(self.venv)], check=True)
            wanted = f"django-helpdesk=={version}" if version else "django-helpdesk"
            self._run([str(self.python), "-m", "pip", "install", "-q", wanted], timeout)
        done = self._run(
            [str(self.python), "-c", "import importlib.metadata as m;"
             "print(m.version('django-helpdesk'), m.version('django'))"], 60,
        )  # fmt: skip
        self.site.mkdir()
        (self.site / "site_settings.py").write_text(_SETTINGS)
        (self.site / "site_urls.py").write_text(_URLS)
        self.manage("migrate", "--noinput")
        self.manage("loaddata", "emailtemplate.json")
        helpdesk, django = done.stdout.split()
        return f"django-helpdesk {helpdesk} on Django {django}"

    def manage(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return self._run([str(self.python), "-m", "django", *args], timeout)

    def shell(self, code: str) -> str:
        return self.manage("shell", "-c", code).stdout

    def timed(self, *args: str) -> tuple[float, int]:
        """Run ``manage.py ARGS``; (seconds, peak RSS in KiB) of that process."""
        started = time.monotonic()
        process = subprocess.Popen(
            [str(self.python), "-m", "django", *args],
            cwd=self.site,
            env=self._env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.monotonic() - started
        if os.waitstatus_to_exitcode(status) != 0:
            stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise RuntimeError(f"manage.py {' '.join(args)} failed: {stderr[-2000:]}")
        return seconds, usage.ru_maxrss  # Linux: KiB

    def _env(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "DJANGO_SETTINGS_MODULE": "site_settings",
            "PYTHONPATH": str(self.site),
        }

    def _run(self, command: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            command,
            cwd=self.site if self.site.exists() else self.folder,
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command[:4])} failed: {done.stderr[-2000:]}")
        return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="messages (default 1000)")
    parser.add_argument("--helpdesk-version", help="django-helpdesk version (default: newest)")
    parser.add_argument("--install-timeout", type=float, default=1800, help="seconds for pip")
    parser.add_argument("--seed", type=int, default=1, help="seed of the message mix")
    parser.add_argument(
        "--venv", type=Path, help="a virtualenv that has django-helpdesk already (skips pip)"
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="maildesk-bench-peer-"))
    server: Dovecot | None = None
    try:
        peer = Peer(folder, args.venv)
        try:
            label = peer.install(args.helpdesk_version, args.install_timeout)
        except (RuntimeError, subprocess.SubprocessError, OSError) as exc:
            print(f"peer: FAILED: django-helpdesk could not be installed or set up: {exc}")
            sys.exit(1)
        specs = [replace(s, queue=QUEUES[0]) for s in plan(args.n, args.seed)]
        spool = Spool(folder, specs)
        tickets = predicted_tickets(specs)
        raws = [spool.raw(s.index, tickets[s.index]) for s in specs]
        server = Dovecot(folder / "dovecot")
        for user in ("peer", "info"):
            server.add_user(user, _PASSWORD)
        server.start()
        append_all(server, "peer", raws)
        append_all(server, "info", raws)
        peer.shell(_QUEUE.format(port=server.port, password=_PASSWORD))
        startup, _ = peer.timed("check")
        peer_seconds, peer_rss = peer.timed("get_email", "--quiet")
        made = [int(x) for x in peer.shell(_COUNT).strip().splitlines()[-1].split()]
        with server.client("peer") as imap:
            peer_left = imap.select_folder("INBOX", readonly=True)[b"EXISTS"]
        peer_ok = made[1] >= len(specs) and peer_left == 0
        peer_rate = len(specs) / peer_seconds
        peer_net = len(specs) / max(1e-9, peer_seconds - startup)
        print(
            f"peer: {label}: get_email took {len(specs)} messages in {peer_seconds:.1f} s ="
            f" {peer_rate:.0f} msg/s ({peer_net:.0f} msg/s without Django's {startup:.1f} s"
            f" start-up); {made[0]} tickets, {made[1]} follow-ups, {peer_left} left in INBOX;"
            f" peak RSS {peer_rss / 1024:.1f} MiB; {'ok' if peer_ok else 'FAILED'}"
        )
        if importlib.util.find_spec("maildesk.ingest.imap") is None:
            print(
                "peer-maildesk: not run: this maildesk has no IMAP adapter"
                " (maildesk/ingest/imap.py)"
            )
            sys.exit(2 if peer_ok else 1)
        daemon = Daemon(
            folder / "daemon",
            imap_config(server, 200, user="info"),
            env={"BENCH_IMAP_PASSWORD": _PASSWORD},
        )
        daemon.start()
        try:
            stored = wait_stored(daemon, len(specs), 120 + args.n / 20)
            ours_seconds = time.monotonic() - daemon.started_at
            ours_rss = daemon.status_kb("VmHWM")
        finally:
            daemon.stop()
        spool.close()
        result = check(daemon.database, specs)
    finally:
        if server is not None:
            server.close()
        shutil.rmtree(folder, ignore_errors=True)
    ours_rate = stored / ours_seconds
    print(
        f"peer-maildesk: maildesk took the same {stored} messages in {ours_seconds:.1f} s ="
        f" {ours_rate:.0f} msg/s; peak RSS {ours_rss / 1024:.1f} MiB; {summary(result)}"
    )
    print(
        f"peer-ratio: maildesk/django-helpdesk = {ours_rate / peer_rate:.1f}x"
        f" ({ours_rate / peer_net:.1f}x against get_email without start-up)"
    )
    sys.exit(0 if result.ok and peer_ok else 1)


if __name__ == "__main__":
    main()
