"""The sealed addresses of anonymous requesters: one row per pseudonym.

Functions over a ``Store``; writes need the caller's transaction.
"""

from __future__ import annotations

from datetime import datetime

from maildesk.errors import PermanentError, TransientError
from maildesk.privacy.anonymity import Sealer, SealError, is_alias
from maildesk.store.store import Store, iso


def keep(store: Store, alias: str, sealed: bytes, now: datetime) -> None:
    """Remember the sealed address behind ``alias``; the first one kept stays."""
    store.conn.execute(
        "INSERT INTO sealed_addresses (alias, sealed, created_at) VALUES (?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        (alias, sealed, iso(now)),
    )


def sealed(store: Store, alias: str) -> bytes | None:
    row = store.conn.execute(
        "SELECT sealed FROM sealed_addresses WHERE alias = ?", (alias,)
    ).fetchone()
    return None if row is None else bytes(row[0])


def open_recipients(store: Store, sealer: Sealer | None, rcpt: list[str]) -> list[str]:
    """``rcpt`` with each pseudonym replaced by the address it seals, for delivery."""
    if not any(is_alias(a) for a in rcpt):
        return rcpt
    if sealer is None:
        raise TransientError("no seal key to open an anonymous requester's address")
    opened = []
    for address in rcpt:
        if not is_alias(address):
            opened.append(address)
            continue
        token = sealed(store, address)
        if token is None:
            raise PermanentError(f"no sealed address for {address} (erased)")
        try:
            opened.append(sealer.open(token))
        except SealError as exc:
            raise PermanentError(f"{address}: {exc}") from None
    return opened
