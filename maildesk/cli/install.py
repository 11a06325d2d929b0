"""``maildesk install-service``: what an admin runs once, as root, to make a service of it.

A command rather than a shell script: it ships with the package (``pip install`` is the
one step before it), shares the example configuration and the secret writer with
``maildesk init``, and its every file can be checked in a test under ``--root``.

In order: the system user, the folders, the credentials (the signing secret and the seal
key, root-only, where the unit's ``LoadCredential=`` lines read them), ``config.toml``
naming them under /run/credentials/, the unit; only then ``systemctl enable --now``.
Nothing that exists is overwritten: a second run changes nothing, and a secret is never
replaced (losing it breaks every open ticket's threading and sealed address).
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import click

from maildesk.cli._common import exit_on_error
from maildesk.config import load
from maildesk.config.example import example_config
from maildesk.config.secret import check_secret, write_secret_file
from maildesk.errors import ConfigError, MaildeskError

UNIT = "maildesk.service"
STATE = Path("/var/lib/maildesk")
CONFIG_DIR = Path("/etc/maildesk")
CREDENTIALS = CONFIG_DIR / "credentials"
RUNTIME_CREDENTIALS = Path("/run/credentials") / UNIT
# (credential name, setting, line of the example config to replace)
_CREDENTIALS = (
    ("secret", "maildesk.secret_file", 'secret_file = "maildesk.secret"'),
    ("seal-key", "privacy.seal_key_file", 'seal_key_file = "maildesk.seal.key"'),
)
# What the example config says, and what a service says instead: state in StateDirectory.
_SERVICE_LINES = (
    ('database = "maildesk.db"', f'database = "{STATE}/maildesk.db"'),
    ('directory = "outbox"', f'directory = "{STATE}/outbox"'),
    *(
        (line, f'{line.split(" = ")[0]} = "{RUNTIME_CREDENTIALS / name}"')
        for name, _, line in _CREDENTIALS
    ),
)


def unit_text(user: str, group: str, exec_start: Path) -> str:
    """The packaged unit, running ``exec_start`` as ``user``:``group``."""
    text = resources.files("maildesk.service").joinpath(UNIT).read_text(encoding="utf-8")
    replaced = text.replace("/opt/maildesk/.venv/bin/maildesk", str(exec_start))
    return replaced.replace("User=maildesk\n", f"User={user}\n").replace(
        "Group=maildesk\n", f"Group={group}\n"
    )


def service_config() -> str:
    """The example configuration with state under /var/lib and secrets as credentials."""
    text = example_config()
    for old, new in _SERVICE_LINES:
        if text.count(f"\n{old}\n") != 1:  # the example changed: say so, never guess
            raise MaildeskError(f"the example config has no line {old!r} to adapt")
        text = text.replace(f"\n{old}\n", f"\n{new}\n")
    return text


class Installer:
    """Each step says what it made and what it kept; ``root`` prefixes every path."""

    def __init__(self, root: Path, user: str, exec_start: Path) -> None:
        self.root = root
        self.user = user
        self.exec_start = exec_start
        self.as_root = os.geteuid() == 0
        self.changed: list[str] = []

    def path(self, absolute: Path) -> Path:
        return self.root / absolute.relative_to("/")

    def say(self, verb: str, path: Path) -> None:
        if verb != "kept":
            self.changed.append(str(path))
        click.echo(f"{verb:>8} {path}")

    def ensure_user(self) -> tuple[int, int]:
        try:
            entry = pwd.getpwnam(self.user)
        except KeyError:
            if self.root != Path("/"):
                raise MaildeskError(
                    f"no user {self.user!r}: under --root, name an existing one with --user"
                ) from None
            adduser = shutil.which("adduser") or "/usr/sbin/adduser"
            # Debian's adduser: a system user and group, no login shell. Our own arguments.
            command = [adduser, "--system", "--group", "--home", str(STATE), "--no-create-home"]
            subprocess.run([*command, self.user], check=True)  # noqa: S603
            entry = pwd.getpwnam(self.user)
            click.echo(f" created user {self.user}")
        return entry.pw_uid, entry.pw_gid

    def directory(self, absolute: Path, mode: int, uid: int = 0, gid: int = 0) -> None:
        path = self.path(absolute)
        if path.is_dir():
            self.say("kept", path)
            return
        path.mkdir(mode=mode, parents=True)
        path.chmod(mode)  # mkdir's mode is filtered by the umask
        self.own(path, uid, gid)
        self.say("created", path)

    def own(self, path: Path, uid: int, gid: int) -> None:
        if self.as_root:  # otherwise (a test under --root) the files stay the caller's
            os.chown(path, uid, gid)

    def file(self, absolute: Path, text: str, mode: int, gid: int = 0) -> None:
        path = self.path(absolute)
        if path.exists():
            self.say("kept", path)
            return
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        path.chmod(mode)
        self.own(path, 0, gid)
        self.say("created", path)

    def unit(self, text: str) -> None:
        # The unit is the package's, not the admin's (local changes go in a drop-in,
        # `systemctl edit maildesk`): a new version's unit replaces the old one.
        path = self.path(Path("/etc/systemd/system") / UNIT)
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            self.say("kept", path)
            return
        verb = "updated" if path.exists() else "created"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        path.chmod(0o644)
        self.own(path, 0, 0)
        self.say(verb, path)

    def run(self) -> None:
        uid, gid = self.ensure_user()
        self.directory(CONFIG_DIR, 0o755)
        self.directory(CREDENTIALS, 0o700)
        self.directory(STATE, 0o700, uid, gid)
        for name, _, _ in _CREDENTIALS:
            secret = self.path(CREDENTIALS / name)
            if secret.exists():
                self.say("kept", secret)
            else:
                write_secret_file(secret)  # mode 0600, O_EXCL: never over another
                self.own(secret, 0, 0)
                self.say("created", secret)
        # Root's, readable by the service's group: it names files, holds no secret.
        self.file(CONFIG_DIR / "config.toml", service_config(), 0o640, gid)
        group = grp.getgrgid(gid).gr_name
        self.unit(unit_text(self.user, group, self.exec_start))
        self.check()

    def check(self) -> None:
        """What ``maildesk check`` would say of the secrets, read where systemd reads them."""
        config = load(self.path(CONFIG_DIR / "config.toml"))
        problems = []
        for _, setting, _ in _CREDENTIALS:
            section, key = setting.split(".")
            holder = config.privacy if section == "privacy" else config
            path = getattr(holder, key)
            problems += check_secret("", path, setting, self.root)
        if problems:
            raise ConfigError(problems)


def _systemd_running() -> bool:
    return Path("/run/systemd/system").is_dir()  # sd_booted(): systemd is PID 1


@click.command("install-service")
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("/"),
    show_default=True,
    help="Install under this folder instead of / (to inspect or package the files).",
)
@click.option("--user", default="maildesk", show_default=True, help="The service's user.")
@click.option(
    "--start/--no-start",
    default=True,
    help="Enable and start the service at the end (only with --root /, under systemd).",
)
def install_service(root: Path, user: str, start: bool) -> None:
    """Set maildesk up as a systemd service: run once, as root, after `pip install`.

    Creates the system user, /etc/maildesk (config.toml, credentials/secret and
    credentials/seal-key, root-only) and /var/lib/maildesk, installs the unit, and only
    then enables and starts it. Running it again changes nothing and never replaces a
    secret.
    """
    with exit_on_error():
        if root == Path("/") and os.geteuid() != 0:
            raise MaildeskError("install-service writes /etc and /var/lib: run it as root")
        exec_start = Path(sys.prefix) / "bin" / "maildesk"  # this virtualenv's command
        installer = Installer(root.resolve(), user, exec_start)
        installer.run()
        if root != Path("/") or not start:
            click.echo("not started: systemctl daemon-reload && systemctl enable --now maildesk")
            return
        if not _systemd_running():
            raise MaildeskError("systemd is not running here: nothing was enabled or started")
        systemctl = shutil.which("systemctl") or "systemctl"
        for step in (["daemon-reload"], ["enable", "--now", UNIT]):
            if subprocess.run([systemctl, *step], check=False).returncode != 0:  # noqa: S603
                raise MaildeskError(f"systemctl {' '.join(step)} failed: journalctl -u maildesk")
        if any(changed.endswith(UNIT) for changed in installer.changed):
            click.echo("the unit changed: systemctl restart maildesk applies it")
        click.echo(f"{UNIT} enabled and started: systemctl status maildesk")


COMMANDS = [install_service]
