"""Start-up failures name the file that failed and what to do; ``maildesk check`` finds
the same problem first, before the service is started."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.daemon import environment, free_port

CREDENTIAL = "/run/credentials/maildesk.service/secret"


def _maildesk(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "maildesk", "--config", str(folder / "config.toml"), *args],
        cwd=folder,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_secret_systemd_does_not_provide_is_named_not_the_database(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        f'[maildesk]\nsecret_file = "{CREDENTIAL}"\n[listener]\nport = {free_port()}\n',
        encoding="utf-8",
    )
    for command in ("check", "run"):
        done = _maildesk(tmp_path, command)
        assert done.returncode == 2, done.stderr
        assert f"key 'maildesk.secret_file': {CREDENTIAL} is missing" in done.stderr
        assert "LoadCredential=" in done.stderr
        assert "maildesk.db" not in done.stderr


def test_a_database_that_cannot_be_opened_is_named_with_its_setting(tmp_path: Path) -> None:
    missing = tmp_path / "gone" / "maildesk.db"
    (tmp_path / "config.toml").write_text(
        f'[maildesk]\ndatabase = "{missing}"\n[listener]\nport = {free_port()}\n', encoding="utf-8"
    )
    done = _maildesk(tmp_path, "run")
    assert done.returncode == 1, done.stderr
    assert f"cannot open the database {missing}" in done.stderr
    assert "key 'maildesk.database'" in done.stderr
    assert "Traceback" not in done.stderr
