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
            write_secret_file(path)
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                [f"key '{setting}': cannot read {path}: {exc.strerror or exc}"]
            ) from exc
    if len(value) < _MIN_LENGTH:
        raise ConfigError([f"the secret in {where} is shorter than {_MIN_LENGTH} characters"])
    return value.encode("utf-8")


def write_secret_file(path: os.PathLike[str]) -> None:
    """Create ``path`` holding a new random secret, readable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secrets.token_urlsafe(32) + "\n")
