"""``maildesk install-service`` under --root: the files it writes, their modes and owners,
the unit as systemd reads it, and a second run that changes nothing."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from maildesk.config import load
from tests.support.daemon import environment

# Under --root the command creates no user: it needs one that exists. CI runs as root,
# so ownership is checked against an account that is not root's (nor nobody, which
# systemd refuses as a service user).
USER = "daemon" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
RUN = "/run/credentials/maildesk.service"


def install(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "maildesk", "install-service", "--root", str(root), *args],
        env=environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def installed(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    done = install(root, "--user", USER)
    assert done.returncode == 0, done.stderr
    assert "not started" in done.stdout  # never under --root
    return root


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_files_and_their_modes_and_owners(installed: Path) -> None:
    user = pwd.getpwnam(USER)
    expected = {
        "etc/maildesk": 0o755,
        "etc/maildesk/credentials": 0o700,
        "etc/maildesk/credentials/secret": 0o600,
        "etc/maildesk/credentials/seal-key": 0o600,
        "etc/maildesk/config.toml": 0o640,
        "var/lib/maildesk": 0o700,
        "etc/systemd/system/maildesk.service": 0o644,
    }
    for name, mode in expected.items():
        assert _mode(installed / name) == mode, name
    if os.geteuid() == 0:  # chown needs root; as anyone else the files stay the caller's
        owners = {
            "etc/maildesk/credentials/secret": (0, 0),
            "etc/maildesk/config.toml": (0, user.pw_gid),
            "var/lib/maildesk": (user.pw_uid, user.pw_gid),
        }
        for name, (uid, gid) in owners.items():
            found = (installed / name).stat()
            assert (found.st_uid, found.st_gid) == (uid, gid), name
    for name in ("secret", "seal-key"):
        assert len((installed / "etc/maildesk/credentials" / name).read_text().strip()) >= 32


def test_the_config_names_the_credentials_the_unit_loads(installed: Path) -> None:
    config = load(installed / "etc/maildesk/config.toml")
    assert config.database == Path("/var/lib/maildesk/maildesk.db")
    assert config.outgoing.directory == Path("/var/lib/maildesk/outbox")
    assert config.secret_file == Path(f"{RUN}/secret")
    assert config.privacy.seal_key_file == Path(f"{RUN}/seal-key")
    unit = (installed / "etc/systemd/system/maildesk.service").read_text(encoding="utf-8")
    loaded = dict(re.findall(r"^LoadCredential=([^:\n]+):(\S+)$", unit, re.MULTILINE))
    assert loaded == {
        "secret": "/etc/maildesk/credentials/secret",
        "seal-key": "/etc/maildesk/credentials/seal-key",
    }
    for source in loaded.values():
        assert (installed / source.lstrip("/")).is_file(), source
    assert f"User={USER}\n" in unit
    assert f"ExecStart={Path(sys.prefix) / 'bin' / 'maildesk'} run\n" in unit
    assert "CAP_NET_BIND_SERVICE" not in unit  # port 25 is the MTA's (docs/mta.md)


def test_a_second_run_changes_nothing_and_keeps_every_secret(installed: Path) -> None:
    files = sorted(p for p in installed.rglob("*"))
    before = {p: (p.stat().st_mtime_ns, p.read_bytes() if p.is_file() else b"") for p in files}
    done = install(installed, "--user", USER)
    assert done.returncode == 0, done.stderr
    verbs = {line.split()[0] for line in done.stdout.splitlines() if line.startswith(" ")}
    assert verbs == {"kept"}, done.stdout
    assert sorted(installed.rglob("*")) == files
    after = {p: (p.stat().st_mtime_ns, p.read_bytes() if p.is_file() else b"") for p in files}
    assert after == before


def test_an_existing_secret_and_config_are_never_replaced(tmp_path: Path) -> None:
    credentials = tmp_path / "etc/maildesk/credentials"
    credentials.mkdir(parents=True, mode=0o700)
    (credentials / "secret").write_text("the-secret-that-signs-old-tickets\n")
    done = install(tmp_path, "--user", USER)
    assert done.returncode == 0, done.stderr
    assert (credentials / "secret").read_text() == "the-secret-that-signs-old-tickets\n"
    assert f"kept {credentials / 'secret'}" in done.stdout
    assert f"created {credentials / 'seal-key'}" in done.stdout


def test_a_missing_user_under_root_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    done = install(tmp_path / "root", "--user", "no-such-user-here")
    assert done.returncode == 1
    assert "no user 'no-such-user-here'" in done.stderr
    assert not (tmp_path / "root").exists()


def _analyze() -> str:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze is missing: install the Debian package systemd")
    return analyze


def test_systemd_verifies_the_installed_unit_and_rates_it_at_most_2(installed: Path) -> None:
    unit = installed / "etc/systemd/system/maildesk.service"
    verify = subprocess.run(
        [_analyze(), "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    assert verify.returncode == 0, verify.stderr
    assert verify.stderr == ""
    security = subprocess.run(
        [_analyze(), "security", "--offline=yes", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert security.returncode == 0, security.stderr
    score = re.search(r"Overall exposure level for maildesk.service: ([\d.]+)", security.stdout)
    assert score is not None, security.stdout
    assert float(score[1]) <= 2.0, security.stdout
