"""Logging to stderr: one line per event, journald-friendly under systemd.

Under systemd, stderr is a stream into the journal and ``$JOURNAL_STREAM`` names it
(device:inode). Then each line starts with its syslog priority (``<6>`` info, ``<4>``
warning …) so ``journalctl -p warning`` works; journald adds the time. Elsewhere a line
starts with the level's name.

What is logged never includes passwords or message bodies: maildesk's own lines name
tickets, Message-IDs, addresses and reasons, and the protocol libraries, whose debug
output is a transcript of every line sent and received (bodies, AUTH and LOGIN
included), are held at WARNING whatever the configured level.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import IO

# Loggers of the protocol libraries: their DEBUG and INFO output is a session transcript.
TRANSCRIPT_LOGGERS = ("mail.log", "imapclient", "imapclient.imaplib")

_PRIORITY = {  # logging level -> syslog priority (sd-daemon(3))
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


def _priority(levelno: int) -> int:
    """The syslog priority for a logging level (between the named ones, the more severe).

    >>> _priority(logging.ERROR), _priority(logging.INFO), _priority(25)
    (3, 6, 4)
    """
    return next((p for level, p in sorted(_PRIORITY.items()) if levelno <= level), 2)


def to_journal(stream: IO[str], environ: Mapping[str, str]) -> bool:
    """Whether ``stream`` is the journal stream systemd named in ``$JOURNAL_STREAM``."""
    device, _, inode = environ.get("JOURNAL_STREAM", "").partition(":")
    if not device.isdigit() or not inode.isdigit():
        return False
    try:
        found = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return (found.st_dev, found.st_ino) == (int(device), int(inode))


class _OneLine(logging.Formatter):
    """Each record on one line: newlines in the message (a subject, an address, a server's
    reply) are escaped, so text from outside cannot forge log lines. A traceback follows
    on its own lines, each with the record's priority under journald."""

    def __init__(self, journal: bool) -> None:
        super().__init__()
        self.journal = journal

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage().replace("\r", "\\r").replace("\n", "\\n")
        if self.journal:
            prefix = f"<{_priority(record.levelno)}>"
            line = f"{prefix}{record.name}: {message}"
        else:
            prefix = ""
            line = f"{record.levelname} {record.name}: {message}"
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line += "".join(f"\n{prefix}  {part}" for part in record.exc_text.splitlines())
        return line


def setup(
    level: str, stream: IO[str] | None = None, environ: Mapping[str, str] | None = None
) -> None:
    """Send every log record to ``stream`` (stderr) in the form that suits where it goes."""
    stream = stream if stream is not None else sys.stderr
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_OneLine(to_journal(stream, os.environ if environ is None else environ)))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    set_level(level)
    for name in TRANSCRIPT_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def set_level(level: str) -> None:
    """Change the level at run time (a reloaded configuration)."""
    logging.getLogger().setLevel(level.upper())
