"""Secrets as the daemon and ``maildesk check`` meet them: which file, and what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from maildesk.config.secret import (
    check_secret,
    credential_name,
    credential_source,
    read_secret,
)
from maildesk.errors import ConfigError

CREDENTIAL = Path("/run/credentials/maildesk.service/secret")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/run/credentials/maildesk.service/secret", ("maildesk.service", "secret")),
        ("/run/credentials/maildesk.service", None),
        ("/var/lib/maildesk/maildesk.secret", None),
        ("/run/credentials/a/b/c", None),
    ],
)
def test_credential_name(path: str, expected: tuple[str, str] | None) -> None:
    assert credential_name(Path(path)) == expected


def _unit(root: Path, text: str, dropin: str = "") -> None:
    folder = root / "etc" / "systemd" / "system"
    folder.mkdir(parents=True)
    (folder / "maildesk.service").write_text(text, encoding="utf-8")
    if dropin:
        (folder / "maildesk.service.d").mkdir()
        (folder / "maildesk.service.d" / "local.conf").write_text(dropin, encoding="utf-8")


def test_the_credential_is_found_in_the_unit_and_a_drop_in_wins(tmp_path: Path) -> None:
    _unit(
        tmp_path,
        "[Service]\n#LoadCredential=secret:/commented\nLoadCredential=secret:/etc/a\n"
        "LoadCredential=seal-key:/etc/b\n",
        "[Service]\nLoadCredential=secret:/etc/c\n",
    )
    assert credential_source(CREDENTIAL, tmp_path) == tmp_path / "etc/c"
    assert credential_source(CREDENTIAL.with_name("seal-key"), tmp_path) == tmp_path / "etc/b"
    assert credential_source(CREDENTIAL.with_name("smtp"), tmp_path) is None


def test_check_reads_a_credential_where_systemd_will(tmp_path: Path) -> None:
    source = tmp_path / "credentials" / "secret"
    source.parent.mkdir()
    source.write_text("s" * 40 + "\n", encoding="utf-8")
    _unit(tmp_path, "[Service]\nLoadCredential=secret:/credentials/secret\n")
    assert check_secret("", CREDENTIAL, "maildesk.secret_file", tmp_path) == []
    source.write_text("short", encoding="utf-8")
    assert check_secret("", CREDENTIAL, "maildesk.secret_file", tmp_path) == [
        f"the secret in {source} is shorter than 16 characters"
    ]
    source.unlink()
    [problem] = check_secret("", CREDENTIAL, "maildesk.secret_file", tmp_path)
    assert f"cannot read {source}, which systemd hands to the service as {CREDENTIAL}" in problem


def test_check_names_a_credential_no_unit_provides(tmp_path: Path) -> None:
    [problem] = check_secret("", CREDENTIAL, "maildesk.secret_file", tmp_path)
    assert problem.startswith(f"key 'maildesk.secret_file': {CREDENTIAL} is missing")
    assert "LoadCredential=" in problem


def test_a_missing_secret_is_fine_where_the_daemon_can_make_it(tmp_path: Path) -> None:
    assert check_secret("", tmp_path / "maildesk.secret", "maildesk.secret_file") == []
    [problem] = check_secret("", tmp_path / "no" / "maildesk.secret", "maildesk.secret_file")
    assert f"its folder {tmp_path / 'no'} does not exist" in problem


def test_an_unreadable_secret_is_named_with_what_to_do(tmp_path: Path) -> None:
    secret = tmp_path / "maildesk.secret"
    secret.mkdir()  # unreadable as a file even to root, who runs CI
    [problem] = check_secret("", secret, "maildesk.secret_file")
    assert f"cannot read {secret}: Is a directory" in problem
    assert "readable by the user that runs maildesk" in problem


def test_the_daemon_says_which_secret_it_cannot_make(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        read_secret("", CREDENTIAL, "maildesk.secret_file", create=True)
    [problem] = raised.value.problems
    assert f"{CREDENTIAL} is missing and cannot be created" in problem
    assert "LoadCredential=" in problem
