"""Real servers on loopback for the integration and end-to-end tests.

`Dovecot` is a private IMAP server with its own config and folders; `SmtpSink` is an
aiosmtpd server that records what it receives; `Postgres` is a private PostgreSQL
cluster. Nothing here is a mock.
"""

from tests.servers.dovecot import Dovecot, find_dovecot
from tests.servers.postgres import Postgres
from tests.servers.smtp_sink import ReceivedMessage, SmtpSink

__all__ = ["Dovecot", "Postgres", "ReceivedMessage", "SmtpSink", "find_dovecot"]
