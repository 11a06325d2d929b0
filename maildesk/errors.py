"""The few exception types the library raises; only ``cli.py`` turns them into exit codes."""

from __future__ import annotations


class MaildeskError(Exception):
    """Base class of every error maildesk raises on purpose."""


class ConfigError(MaildeskError):
    """The configuration is unusable; ``problems`` lists every reason, one per line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class MalformedMail(MaildeskError):
    """A message cannot be turned into a ticket message; it is quarantined, not lost."""


class TransientError(MaildeskError):
    """Try again later: leave the mail where it is (SMTP 451, IMAP: do not move)."""


class PermanentError(MaildeskError):
    """Retrying will not help: record the failure with its reason and move on."""
