"""Secrets from the environment or a file, never logged: the one that signs our
Message-IDs, and the key that seals anonymous senders' addresses."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from maildesk.config import Config
from maildesk.errors import ConfigError
from maildesk.privacy.anonymity import Sealer

_MIN_LENGTH = 16


def load_secret(config: Config, *, create: bool) -> bytes:
    """The signing secret; with ``create``, a missing secret file is made (mode 0600)."""
    return read_secret(config.secret_env, config.secret_file, "maildesk.secret_file", create=create)


def load_seal_key(config: Config, *, create: bool) -> bytes:
    """The key that seals the addresses of anonymous queues (see anonymity.py)."""
    privacy = config.privacy
    return read_secret(
        privacy.seal_key_env, privacy.seal_key_file, "privacy.seal_key_file", create=create
    )


def load_sealer(config: Config) -> Sealer | None:
    """The sealer of anonymous queues' addresses, if any queue is anonymous (the key is
    then created when missing) or a key is there for replies still to send."""
    needed = any(q.anonymous for q in config.queues)
    privacy = config.privacy
    if not needed and not (privacy.seal_key_env in os.environ or privacy.seal_key_file.exists()):
        return None
    return Sealer(load_seal_key(config, create=needed))


def read_secret(env: str, path: Path, setting: str, *, create: bool) -> bytes:
    """``$env`` when set, else the contents of ``path``; at least 16 characters."""
    value = os.environ.get(env, "") if env else ""
    where = f"environment variable {env}"
    if not value:
        where = str(path)
        if not path.exists() and create:
            try:
                write_secret_file(path)
            except OSError as exc:
                raise ConfigError(
                    [
                        f"key '{setting}': {path} is missing and cannot be created:"
                        f" {exc.strerror or exc}; {_advice(path)}"
                    ]
                ) from exc
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                [f"key '{setting}': cannot read {path}: {exc.strerror or exc}; {_advice(path)}"]
            ) from exc
    if len(value) < _MIN_LENGTH:
        raise ConfigError([f"the secret in {where} is shorter than {_MIN_LENGTH} characters"])
    return value.encode("utf-8")


def _advice(path: Path) -> str:
    if credential_name(path) is not None:
        return (
            "systemd provides it to the service only: give the unit a LoadCredential= line"
            f" for {path.name} (maildesk install-service writes the unit and the credential)"
        )
    return (
        "write it (at least 16 characters), readable by the user that runs maildesk,"
        " or point the setting at a file that is"
    )


def credential_name(path: Path) -> tuple[str, str] | None:
    """(unit, name) when ``path`` is a systemd credential, /run/credentials/UNIT/NAME."""
    parts = path.parts
    if len(parts) == 5 and parts[:3] == ("/", "run", "credentials"):
        return parts[3], parts[4]
    return None


def credential_source(path: Path, root: Path = Path("/")) -> Path | None:
    """The file a unit's ``LoadCredential=NAME:SOURCE`` hands to the service as ``path``.

    Outside the service /run/credentials/UNIT/ does not exist, so ``maildesk check``
    reads the credential where systemd will read it from: the unit in /etc/systemd/system
    and its drop-ins (a later line wins, as in systemd). ``root`` prefixes both the unit
    and the file it names (an installation under ``install-service --root``).
    """
    credential = credential_name(path)
    if credential is None:
        return None
    unit, name = credential
    folder = root / "etc" / "systemd" / "system"
    files = [folder / unit, *sorted((folder / f"{unit}.d").glob("*.conf"))]
    source = None
    for file in files:
        try:
            lines = file.read_text(encoding="utf-8").splitlines()
        except OSError:
            continue
        for line in lines:
            key, _, value = line.strip().partition("=")
            if key.strip() == "LoadCredential" and value.partition(":")[0].strip() == name:
                source = root / value.partition(":")[2].strip().lstrip("/")
    return source


def check_secret(env: str, path: Path, setting: str, root: Path = Path("/")) -> list[str]:
    """What keeps the daemon from reading (or making) this secret at start; [] when fine."""
    if (env and os.environ.get(env)) or path.exists():
        try:
            read_secret(env, path, setting, create=False)
        except ConfigError as exc:
            return exc.problems
        return []
    if credential_name(path) is not None:
        return _check_credential(path, setting, root)
    folder = path.parent
    if os.access(folder, os.W_OK):
        return []  # made at the first start
    why = "is not writable" if folder.is_dir() else "does not exist"
    return [
        f"key '{setting}': {path} is missing and cannot be created at start: its"
        f" folder {folder} {why}; {_advice(path)}"
    ]


def _check_credential(path: Path, setting: str, root: Path) -> list[str]:
    source = credential_source(path, root)
    if source is None:
        return [f"key '{setting}': {path} is missing and cannot be created; {_advice(path)}"]
    try:
        value = source.read_text(encoding="utf-8").strip()
    except OSError as exc:
        return [
            f"key '{setting}': cannot read {source}, which systemd hands to the service as"
            f" {path}: {exc.strerror or exc} (systemd reads it as root: check as root too)"
        ]
    if len(value) < _MIN_LENGTH:
        return [f"the secret in {source} is shorter than {_MIN_LENGTH} characters"]
    return []


def write_secret_file(path: os.PathLike[str]) -> None:
    """Create ``path`` holding a new random secret, readable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secrets.token_urlsafe(32) + "\n")
