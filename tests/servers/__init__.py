"""Real servers on loopback for the integration and end-to-end tests.

`Dovecot` is a private IMAP server with its own config and folders; `SmtpSink` is an
aiosmtpd server that records what it receives. Nothing here is a mock.
"""

from tests.servers.dovecot import Dovecot, find_dovecot
from tests.servers.smtp_sink import ReceivedMessage, SmtpSink

__all__ = ["Dovecot", "ReceivedMessage", "SmtpSink", "find_dovecot"]
