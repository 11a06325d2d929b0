"""Who takes part in a ticket, and so receives its replies: the one rule, used where mail
comes in (a requester's Cc, an agent's Cc) and where a reply goes out.

PURE: addresses in, addresses out.

Participants are the requester and the people the requester or an agent put in To/Cc.
Anyone else whose mail reaches a ticket (a stranger answering a forwarded notification
through one of our signed Message-IDs, a Cc'd colleague adding a third person) is heard
by the agents and copied on nothing: otherwise whoever holds one of our mails could write
once and then read every later answer, with the requester's data in it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable


def brought_in(
    sender: str,
    addressed: Iterable[str],
    *,
    requester: str,
    agent: bool,
    ours: Callable[[str], bool],
) -> list[str]:
    """The people a message makes participants of its ticket: those that its requester, or
    an agent, put in To/Cc; never an agent or one of our own addresses (``ours``).

    >>> ours = {"info@uni.edu", "berta@uni.edu"}.__contains__
    >>> brought_in("ana@x.org", ["info@uni.edu", "Luis@x.org"], requester="ana@x.org",
    ...            agent=False, ours=ours)
    ['luis@x.org']
    >>> brought_in("eve@y.org", ["info@uni.edu", "zoe@y.org"], requester="ana@x.org",
    ...            agent=False, ours=ours)
    []
    """
    requester = requester.lower()
    if not agent and sender.lower() != requester:
        return []
    found: list[str] = []
    for address in (a.lower() for a in addressed):
        if address and address != requester and address not in found and not ours(address):
            found.append(address)
    return found


def receives(address: str, role: str, ours: Callable[[str], bool]) -> bool:
    """Whether a stored participant gets a reply: the requester always; anyone else unless
    they became an agent or one of our addresses since they were copied.

    >>> receives("info@uni.edu", "cc", {"info@uni.edu"}.__contains__)
    False
    """
    return role == "requester" or not ours(address)
