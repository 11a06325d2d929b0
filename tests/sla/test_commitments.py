"""What ends a commitment: only an answer to the requester stops the first-response clock;
pending pauses it and gives the time back. Tables of cases, through the real store and
pipeline with a fake clock (``test_sweeps.Desk``), then the pure judgement the monthly
report shares with the clocks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from maildesk.agents.actions import Actor
from maildesk.mail.commands import Command, CommandName
from maildesk.model import State
from maildesk.sla.calendar import WorkingCalendar
from maildesk.sla.rules import Clock, counted
from tests.sla.test_sweeps import Desk, local

pytestmark = pytest.mark.stores("sqlite", "postgresql")

H = timedelta(hours=1)
OPENED = local(9, 8)  # Monday 08:00: the first response (24 working hours) is due Tuesday 20:00


def _pending(at: datetime) -> Callable[[Desk], None]:
    """A bare #pendiente (no text) from the command line, as an agent's mail runs it."""

    def run(desk: Desk) -> None:
        desk.clock.set(at)
        actions = desk.pipeline.desk.actions
        with desk.store.transaction():
            actions.apply(
                actions.ticket(1), Actor.of(None), [Command(CommandName.PENDING)], "", [], at
            )

    return run


def _reply(at: datetime) -> Callable[[Desk], None]:
    def run(desk: Desk) -> None:
        desk.clock.set(at)
        actions = desk.pipeline.desk.actions
        with desk.store.transaction():
            actions.reply(actions.ticket(1), Actor.of(None), "Adjunto el certificado.", [], at)

    return run


def _requester(at: datetime) -> Callable[[Desk], None]:
    def run(desk: Desk) -> None:
        desk.clock.set(at)
        desk.mail("Re: [INFO#1] Consulta", n=2)

    return run


def _state(state: State, at: datetime) -> Callable[[Desk], None]:
    return lambda desk: desk.set_state(state, at)


@pytest.mark.parametrize(
    ("steps", "kind", "due", "paused"),
    [
        # Nothing done: the first response is due Tuesday 20:00.
        ((), "first_response", local(10, 20), 0),
        # A bare #pendiente is no answer: the clock stands still, still owed.
        ((_pending(local(9, 10)),), "first_response", None, 0),
        # ... and when the requester writes back it runs on, the 24 h pending given back
        # (Monday 10:00 to Tuesday 10:00 is 12 working hours): due Wednesday 20:00.
        ((_pending(local(9, 10)), _requester(local(10, 10))), "first_response", local(11, 20), 12),
        # A reply is the answer.
        ((_reply(local(9, 10)),), None, None, 0),
        # A reply then #pendiente: answered; the requester's answer starts the next clock.
        (
            (_reply(local(9, 10)), _pending(local(9, 10)), _requester(local(10, 10))),
            "next_response",
            None,
            0,
        ),
        # Answered while pending: the clock stopped at the reply, 4 h of pending given back.
        (
            (_pending(local(9, 10)), _reply(local(9, 14)), _requester(local(10, 10))),
            "next_response",
            None,
            4,
        ),
        # Resolved or cancelled: nothing more is owed.
        ((_state(State.RESOLVED, local(9, 10)),), None, None, 0),
        ((_state(State.CANCELLED, local(9, 10)),), None, None, 0),
    ],
)
def test_only_an_answer_ends_the_first_response(
    tmp_path: Path,
    store_location: Path | str,
    steps: tuple[Callable[[Desk], None], ...],
    kind: str | None,
    due: datetime | None,
    paused: int,
) -> None:
    desk = Desk(tmp_path, store_location)
    try:
        desk.clock.set(OPENED)
        desk.mail()
        for run in steps:
            run(desk)
        ticket = desk.ticket()
        assert ticket["response_kind"] == kind
        assert ticket["first_response_due"] == (
            due.isoformat(timespec="microseconds") if due else None
        )
        assert ticket["first_response_paused"] == paused * 3600
    finally:
        desk.close()


def test_a_bare_pending_then_silence_escalates_once_the_requester_writes(
    tmp_path: Path, store_location: Path | str
) -> None:
    desk = Desk(tmp_path, store_location)
    try:
        desk.clock.set(OPENED)
        desk.mail()
        _pending(local(9, 10))(desk)
        assert not desk.sla(local(12, 20))  # pending: nothing is due, nobody is told
        _requester(local(13, 8))(desk)  # Friday 08:00: 2 h counted, 22 h to go
        assert not desk.sla(local(13, 19, 59)).escalated
        assert desk.sla(local(16, 18)).escalated == 1  # Monday 18:00: 24 h counted
        assert "first_response" in desk.events("escalated")[0]
    finally:
        desk.close()


# --- the judgement the monthly report shares with the clocks ---------------------------------

SD = WorkingCalendar.from_config("America/Santo_Domingo", {}, ())


@pytest.mark.parametrize(
    ("answered", "paused", "on_time"),
    [
        (local(10, 19), 0, True),  # Tuesday 19:00, nothing pending: 23 h
        (local(10, 20), 0, True),  # exactly at the due instant
        (local(11, 9), 0, False),  # Wednesday 09:00: 25 h
        (local(11, 9), 1, True),  # ... of which 1 h pending: 24 h counted
        (local(20, 10), 86, True),  # Friday week: 110 h, 86 of them pending: 24 h counted
        (local(20, 10), 85, False),
        (local(9, 7), 0, True),  # before opening hours: nothing counted
    ],
)
def test_the_report_judges_an_answer_as_the_clock_does(
    answered: datetime, paused: int, on_time: bool
) -> None:
    clock = Clock("first_response", OPENED, 24 * H, paused * H)
    assert (answered <= clock.due(SD)) is on_time
    assert (counted(SD.between(OPENED, answered), paused * H) <= 24 * H) is on_time
