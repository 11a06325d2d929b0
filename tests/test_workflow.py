"""The ticket workflow for inbound mail: (thread choice, kind of mail, now) -> Decision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from maildesk.mail.thread import Tag, ThreadChoice, Via
from maildesk.model import State, Ticket
from maildesk.workflow import Action, decide

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
WINDOW = timedelta(days=14)


def existing(state: State, closed_days_ago: int | None = None) -> ThreadChoice:
    closed = NOW - timedelta(days=closed_days_ago) if closed_days_ago is not None else None
    ticket = Ticket(5, "info", state, "Beca", "ana@example.com", NOW - timedelta(days=30), closed)
    return ThreadChoice(ticket, Via.TAG)


@pytest.mark.parametrize(
    ("choice", "human", "action", "state", "ack"),
    [
        (ThreadChoice(None, None), True, Action.OPEN, State.NEW, True),
        (existing(State.NEW), True, Action.APPEND, State.NEW, False),
        (existing(State.OPEN), True, Action.APPEND, State.OPEN, False),
        (existing(State.PENDING), True, Action.APPEND, State.OPEN, False),
        (existing(State.REOPENED), True, Action.APPEND, State.REOPENED, False),
        (existing(State.RESOLVED), True, Action.REOPEN, State.REOPENED, False),
        (existing(State.CLOSED, closed_days_ago=3), True, Action.REOPEN, State.REOPENED, False),
        (existing(State.CLOSED, closed_days_ago=14), True, Action.REOPEN, State.REOPENED, False),
        (existing(State.CLOSED, closed_days_ago=15), True, Action.OPEN_LINKED, State.NEW, True),
        (existing(State.CANCELLED, closed_days_ago=1), True, Action.APPEND, State.CANCELLED, False),
        # Machines never answer, reopen or move a ticket.
        (existing(State.RESOLVED), False, Action.APPEND, State.RESOLVED, False),
        (existing(State.PENDING), False, Action.APPEND, State.PENDING, False),
        (ThreadChoice(None, None), False, Action.OPEN, State.NEW, False),
    ],
)
def test_decide(choice: ThreadChoice, human: bool, action: Action, state: State, ack: bool) -> None:
    decision = decide(choice, now=NOW, may_answer=human, may_open_ticket=True, reopen_window=WINDOW)
    assert (decision.action, decision.state, decision.acknowledge) == (action, state, ack)


def test_mail_that_may_not_open_a_ticket_is_only_recorded() -> None:
    decision = decide(
        ThreadChoice(None, None),
        now=NOW,
        may_answer=False,
        may_open_ticket=False,
        reopen_window=WINDOW,
    )
    assert decision.action is Action.RECORD
    assert decision.state is None
    assert not decision.acknowledge


def test_a_late_follow_up_opens_a_ticket_linked_to_the_old_one() -> None:
    decision = decide(
        existing(State.CLOSED, closed_days_ago=30),
        now=NOW,
        may_answer=True,
        may_open_ticket=True,
        reopen_window=WINDOW,
    )
    assert decision.opens_ticket
    assert decision.linked_to == 5


def test_a_claimed_tag_is_carried_to_the_new_ticket() -> None:
    choice = ThreadChoice(None, None, Tag("INFO", 9))
    decision = decide(choice, now=NOW, may_answer=True, may_open_ticket=True, reopen_window=WINDOW)
    assert decision.claimed == Tag("INFO", 9)


@pytest.mark.parametrize(
    ("state", "closed_days_ago"),
    [
        (State.PENDING, None),
        (State.RESOLVED, None),
        (State.CLOSED, 3),
        (State.CLOSED, 30),
        (State.OPEN, None),
    ],
)
def test_an_outsider_joins_the_ticket_and_steers_nothing(
    state: State, closed_days_ago: int | None
) -> None:
    """Neither requester nor participant: heard by the agents, no state change, no answer."""
    decision = decide(
        existing(state, closed_days_ago),
        now=NOW,
        may_answer=True,
        may_open_ticket=True,
        reopen_window=WINDOW,
        outsider=True,
    )
    assert (decision.action, decision.state, decision.acknowledge) == (Action.APPEND, state, False)
