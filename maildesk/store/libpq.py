"""What libpq says, made fit for one log line. No psycopg here: SQLite daemons import it."""

from __future__ import annotations


def driver_reason(error: BaseException) -> str:
    """A database driver's error in one line: what the (last) server said, without the
    guesses libpq adds on the next lines, and how many servers were tried when a URI
    lists several. Never a password, which libpq does not repeat.

    >>> driver_reason(OSError('connection failed: connection to server at "db", port 1 '
    ...     'failed: Connection refused\\n\\tIs the server running on that host?'))
    'Connection refused'
    >>> driver_reason(OSError('connection failed: connection to server at "db2", port 1 '
    ...     'failed: FATAL:  password authentication failed for user "desk"\\nMultiple '
    ...     'connection attempts failed. All failures were:\\n- host: db1 …\\n- host: db2 …'))
    'FATAL:  password authentication failed for user "desk" (each of 2 servers failed)'
    >>> driver_reason(TimeoutError())
    'TimeoutError'
    """
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    reason = lines[0].rsplit(" failed: ", 1)[-1]
    tried = sum(1 for line in lines if line.startswith("- host:"))
    return f"{reason} (each of {tried} servers failed)" if tried > 1 else reason
