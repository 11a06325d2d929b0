"""Store queries for the agent side: a ticket's working fields, its thread and its people.

Functions over a ``Store`` (its connection and its transaction), kept apart from store.py
so each file stays one subject. Writes need the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from maildesk.mail.parsed import Address, Attachment
from maildesk.model import State, Ticket
from maildesk.store.store import Store, from_iso, iso

_FIELDS = frozenset({"assignee", "group_name", "priority", "category", "segment"})


def info(store: Store, number: int) -> Ticket | None:
    """Ticket ``number`` with every field, or None."""
    return store.tickets([number]).get(number)


def set_fields(store: Store, number: int, now: datetime, **fields: str | None) -> None:
    """Set some of assignee, group_name, priority, category and segment."""
    unknown = set(fields) - _FIELDS
    if unknown:
        raise ValueError(f"not a ticket field: {sorted(unknown)}")
    if not fields:
        return
    columns = ", ".join(f"{name} = ?" for name in fields)  # names checked above
    store.conn.execute(
        f"UPDATE tickets SET {columns}, updated_at = ? WHERE number = ?",  # noqa: S608
        [*fields.values(), iso(now), number],
    )
    if store.on_reclassify is not None and {"priority", "segment"} & fields.keys():
        store.on_reclassify(number, now)  # the commitments that apply may have changed


def first_response(store: Store, number: int, now: datetime) -> bool:
    """Record the first agent reply; False when there was one already."""
    cursor = store.conn.execute(
        "UPDATE tickets SET first_response_at = ? WHERE number = ? AND first_response_at IS NULL",
        (iso(now), number),
    )
    return cursor.rowcount == 1


def change_state(
    store: Store, number: int, state: State, now: datetime, pending_until: datetime | None = None
) -> None:
    """Move a ticket to ``state``; resolving or closing it records when it was solved."""
    store.set_state(number, state, now)
    solved = iso(now) if state in (State.RESOLVED, State.CLOSED) else None
    store.conn.execute(
        "UPDATE tickets SET resolved_at = coalesce(?, resolved_at), pending_until = ?"
        " WHERE number = ?",
        (solved, iso(pending_until) if pending_until else None, number),
    )


def same_requester_open(store: Store, requester: str, queue: str) -> list[tuple[Ticket, datetime]]:
    """Open tickets of ``requester`` in ``queue``, with their last activity."""
    rows = store.conn.execute(
        "SELECT number, updated_at FROM tickets WHERE requester = ? AND queue = ?"
        " AND merged_into IS NULL AND state IN ('new', 'open', 'pending', 'reopened')",
        (requester.lower(), queue),
    ).fetchall()
    found = store.tickets([r["number"] for r in rows])
    return [(found[r["number"]], from_iso(r["updated_at"])) for r in rows if r["number"] in found]


def merged_into(store: Store, numbers: Sequence[int]) -> dict[int, int]:
    """For each merged ticket among ``numbers``, the ticket it was merged into, followed
    to the end of the chain."""
    if not numbers:
        return {}
    merged = store.conn.execute(
        "SELECT number FROM tickets WHERE merged_into IS NOT NULL"  # noqa: S608 - only "?"
        f" AND number IN ({','.join('?' * len(numbers))})",
        list(numbers),
    ).fetchall()
    found: dict[int, int] = {}
    for (number,) in merged:  # rare: one query per step of each chain
        target, seen = number, {number}
        while True:
            row = store.conn.execute(
                "SELECT merged_into FROM tickets WHERE number = ?", (target,)
            ).fetchone()
            if row is None or row[0] is None or row[0] in seen:
                break
            target = row[0]
            seen.add(target)
        if target != number:
            found[number] = target
    return found


def participants(store: Store, number: int) -> list[tuple[str, str]]:
    """(address, role) of the ticket's participants: the requester first, then those in Cc."""
    rows = store.conn.execute(
        "SELECT address, role FROM participants WHERE ticket = ?"
        " ORDER BY role = 'requester' DESC, address",
        (number,),
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def thread(store: Store, number: int) -> tuple[str, list[str]]:
    """(In-Reply-To, References) for a reply to the requester: the requester's last mail,
    after the requester's mails and ours to them. Mail from people who are not
    participants (a stranger who wrote in) is left out: the reply does not go to them."""
    rows = store.conn.execute(
        "SELECT direction, message_id FROM messages WHERE ticket = ? AND message_id != ''"
        " AND ((direction = 'in' AND kind = 'human' AND lower(from_addr) IN"
        " (SELECT address FROM participants WHERE ticket = ?))"
        " OR kind IN ('ack', 'reply'))"
        " ORDER BY id",
        (number, number),
    ).fetchall()
    inbound = [r["message_id"] for r in rows if r["direction"] == "in"]
    chain = [r["message_id"] for r in rows]
    if not inbound:
        return "", chain
    last = inbound[-1]
    return last, [m for m in chain if m != last]


def attachments(store: Store, message: int) -> list[Attachment]:
    rows = store.conn.execute(
        "SELECT a.filename, a.content_type, b.data FROM attachments a"
        " JOIN blobs b ON b.sha256 = a.sha256 WHERE a.message = ? ORDER BY a.id",
        (message,),
    ).fetchall()
    return [Attachment(r["filename"], r["content_type"], bytes(r["data"])) for r in rows]


def relabel_message(store: Store, message: int, kind: str, body: str, note: str) -> None:
    """Record what an agent's message was (reply, note, refused commands) and its own text."""
    store.conn.execute(
        "UPDATE messages SET kind = ?, body = ?,"
        " note = CASE WHEN note = '' THEN ? ELSE note || '; ' || ? END WHERE id = ?",
        (kind, body, note, note, message),
    )


def merge(store: Store, source: int, target: int, now: datetime) -> None:
    """Move ``source``'s messages and people into ``target`` and close ``source``; mail
    that still names ``source`` (its tag, our signed ids) is followed to ``target``."""
    store.conn.execute("UPDATE messages SET ticket = ? WHERE ticket = ?", (target, source))
    store.conn.execute("UPDATE outbox SET ticket = ? WHERE ticket = ?", (target, source))
    store.conn.execute(
        "INSERT INTO participants (ticket, address, role)"
        " SELECT ?, address, 'cc' FROM participants WHERE ticket = ? ON CONFLICT DO NOTHING",
        (target, source),
    )
    store.set_state(source, State.CLOSED, now)
    store.conn.execute("UPDATE tickets SET merged_into = ? WHERE number = ?", (target, source))
    store.touch(target, now)


def last_request(store: Store, number: int) -> tuple[Address, str, int | None]:
    """(sender, text, message row) of the last mail a person (not an agent) wrote in."""
    row = store.conn.execute(
        "SELECT id, from_addr, from_name, body FROM messages WHERE ticket = ?"
        " AND direction = 'in' AND kind = 'human' ORDER BY id DESC LIMIT 1",
        (number,),
    ).fetchone()
    if row is None:
        return Address(""), "", None
    return Address(row["from_addr"], row["from_name"]), row["body"], row["id"]
