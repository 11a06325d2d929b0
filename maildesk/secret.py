"""The secret that signs our Message-IDs: from the environment or a file, never logged."""

from __future__ import annotations

import os
import secrets

from maildesk.config import Config
from maildesk.errors import ConfigError

_MIN_LENGTH = 16


def load_secret(config: Config, *, create: bool) -> bytes:
    """The signing secret; with ``create``, a missing secret file is made (mode 0600)."""
    value = os.environ.get(config.secret_env, "") if config.secret_env else ""
    where = f"environment variable {config.secret_env}"
    if not value:
        path = config.secret_file
        where = str(path)
        if not path.exists() and create:
            write_secret_file(path)
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                [f"key 'maildesk.secret_file': cannot read {path}: {exc.strerror or exc}"]
            ) from exc
    if len(value) < _MIN_LENGTH:
        raise ConfigError([f"the secret in {where} is shorter than {_MIN_LENGTH} characters"])
    return value.encode("utf-8")


def write_secret_file(path: os.PathLike[str]) -> None:
    """Create ``path`` holding a new random secret, readable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secrets.token_urlsafe(32) + "\n")
