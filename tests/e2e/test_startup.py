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


def test_a_postgresql_server_that_answers_nothing_is_one_line_naming_each_host(
    tmp_path: Path,
) -> None:
    # Nothing listens on these ports: what libpq says is refused, in one line, with no
    # password; systemd's Restart=on-failure tries again.
    first, second = free_port(), free_port()
    url = f"postgresql://desk:s3cret-pw@127.0.0.1:{first},127.0.0.1:{second}/maildesk"
    (tmp_path / "config.toml").write_text(
        f'[maildesk]\ndatabase = "{url}"\n[listener]\nport = {free_port()}\n', encoding="utf-8"
    )
    done = _maildesk(tmp_path, "run")
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines == [
        f"maildesk: cannot connect to the database 127.0.0.1:{first},127.0.0.1:{second}"
        "/maildesk: Connection refused (each of 2 servers failed)"
    ]
    assert "s3cret-pw" not in done.stderr
