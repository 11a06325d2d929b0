"""When a survey goes and when it does not, through the real pipeline, store and sweeps with
a fake clock; and the answers' effects (reopening, asking why, telling supervisors)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from maildesk.agents.actions import Actor
from maildesk.clock import FakeClock
from maildesk.config import Config, parse
from maildesk.ingest.envelope import Stored
from maildesk.ingest.pipeline import Pipeline
from maildesk.model import State
from maildesk.privacy import export
from maildesk.privacy import purge as privacy
from maildesk.sla.sweeps import Sweeps
from maildesk.store import tickets
from maildesk.store.store import Store
from maildesk.surveys.replies import Answer
from tests.agents.test_actions import agent_reply, build, mails, smtp
from tests.support.desk import build_pipeline
from tests.support.messages import text_of, to_of

pytestmark = pytest.mark.stores("sqlite", "postgresql")

FRIDAY = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
QUEUES = """
[[queues]]
name = "info"
addresses = ["info@uni.example"]
tag = "INFO"
groups = ["secretaria"]
rota_fri = ["berta@uni.example"]

[[queues]]
name = "crm"
addresses = ["crm@uni.example"]
tag = "CRM"
language = "en"

[[agents]]
name = "Berta"
addresses = ["berta@uni.example"]
groups = ["secretaria"]

[[escalations]]
queue = "info"
notify = ["jefa@uni.example"]
"""


def desk(
    tmp_path: Path, location: Path | str, surveys: str = ""
) -> tuple[Config, Store, Pipeline, FakeClock]:
    config = parse(f"[surveys]\n{surveys}\n{QUEUES}", path=None, base_dir=tmp_path)
    store = Store(location)
    clock = FakeClock(FRIDAY)
    return config, store, build_pipeline(config, store, clock), clock


@pytest.fixture
def made(
    tmp_path: Path, store_location: Path | str
) -> Iterator[tuple[Config, Store, Pipeline, FakeClock]]:
    found = desk(tmp_path, store_location)
    yield found
    found[1].close()


def opened(pipeline: Pipeline, to: str = "info@uni.example", message_id: str = "<r1@x>") -> int:
    outcome = pipeline.accept(build(to=to, message_id=message_id), smtp(to))
    assert isinstance(outcome, Stored)
    assert outcome.ticket is not None
    return outcome.ticket


def change(pipeline: Pipeline, number: int, state: State) -> None:
    actions = pipeline.desk.actions
    with pipeline.store.transaction():
        info = tickets.info(pipeline.store, number)
        assert info is not None
        actions.change_state(info, state, Actor.of(None), pipeline.clock.now())


def surveys(store: Store) -> int:
    return int(store.conn.execute("SELECT count(*) FROM surveys").fetchone()[0])


def test_closing_sends_one_survey_in_the_ticket_language(
    made: tuple[Config, Store, Pipeline, FakeClock],
) -> None:
    _, store, pipeline, _ = made
    number = opened(pipeline)
    change(pipeline, number, State.CLOSED)
    [survey] = mails(store, "survey")
    assert to_of(survey) == ["ana@alumnos.example"]
    assert "¿Se resolvió su solicitud?" in text_of(survey)
    change(pipeline, number, State.REOPENED)
    change(pipeline, number, State.CLOSED)
    assert surveys(store) == 1  # at most one per ticket
    english = opened(pipeline, "crm@uni.example", "<r2@x>")
    change(pipeline, english, State.CLOSED)
    assert "Was your request solved?" in text_of(mails(store, "survey")[-1])


@pytest.mark.parametrize("state", [State.CANCELLED, State.RESOLVED, State.PENDING])
def test_no_survey_unless_closed(
    made: tuple[Config, Store, Pipeline, FakeClock], state: State
) -> None:
    _, store, pipeline, _ = made
    change(pipeline, opened(pipeline), state)
    assert surveys(store) == 0


def test_no_survey_for_a_merged_ticket(made: tuple[Config, Store, Pipeline, FakeClock]) -> None:
    _, store, pipeline, clock = made
    first = opened(pipeline)
    outcome = pipeline.accept(build("Beca de transporte", message_id="<r9@x>"), smtp())
    assert isinstance(outcome, Stored)
    assert outcome.ticket is not None
    second = outcome.ticket
    assert second != first
    actions = pipeline.desk.actions
    with store.transaction():
        a, b = tickets.info(store, first), tickets.info(store, second)
        assert a is not None
        assert b is not None
        actions.merge(a, b, Actor.of(None), clock.now())
        assert not pipeline.desk.surveyor.offer(first, clock.now())
    assert surveys(store) == 0


def test_no_survey_to_who_opted_out_or_bounced_or_for_automatic_mail(
    made: tuple[Config, Store, Pipeline, FakeClock],
) -> None:
    _config, store, pipeline, clock = made
    surveyor = pipeline.desk.surveyor
    number = opened(pipeline)
    with store.transaction():
        surveyor.opt_out("Ana@Alumnos.example", clock.now())
    change(pipeline, number, State.CLOSED)
    assert surveys(store) == 0
    with store.transaction():
        store.conn.execute("DELETE FROM survey_optouts")
        store.conn.execute("UPDATE outbox SET state = 'bounced' WHERE kind = 'ack'")
        store.set_state(number, State.OPEN, clock.now())
    change(pipeline, number, State.CLOSED)
    assert surveys(store) == 0
    with store.transaction():
        store.conn.execute("UPDATE outbox SET state = 'sent'")
        store.conn.execute("UPDATE messages SET kind = 'auto_reply' WHERE direction = 'in'")
        store.set_state(number, State.OPEN, clock.now())
    change(pipeline, number, State.CLOSED)
    assert surveys(store) == 0


@pytest.mark.parametrize("setting", ["enabled = false", 'skip_queues = ["info"]'])
def test_a_queue_or_the_desk_may_send_none(
    tmp_path: Path, store_location: Path | str, setting: str
) -> None:
    _, store, pipeline, _ = desk(tmp_path, store_location, setting)
    try:
        change(pipeline, opened(pipeline), State.CLOSED)
        assert surveys(store) == 0
    finally:
        store.close()


def test_auto_close_sends_the_survey(made: tuple[Config, Store, Pipeline, FakeClock]) -> None:
    _config, store, pipeline, clock = made
    number = opened(pipeline)
    change(pipeline, number, State.RESOLVED)
    clock.advance(timedelta(days=8))
    report = Sweeps(pipeline.desk).run_follow_ups(clock.now())
    assert report.closed == 1
    assert surveys(store) == 1


def test_a_low_score_asks_why_once_and_tells_the_queue_escalation_contact(
    made: tuple[Config, Store, Pipeline, FakeClock],
) -> None:
    _config, store, pipeline, clock = made
    number = opened(pipeline)
    change(pipeline, number, State.CLOSED)
    surveyor = pipeline.desk.surveyor
    for answer in (Answer(score=1), Answer(score=2)):
        with store.transaction():
            recorded = surveyor.record(number, answer, "web", clock.now())
        assert not recorded.reopened
    why = [m for m in mails(store, "survey") if "mejorar" in str(m["Subject"])]
    assert len(why) == 1
    assert to_of(why[0]) == ["ana@alumnos.example"]
    [told] = [m for m in mails(store, "notify") if to_of(m) == ["jefa@uni.example"]]
    assert "Nota:        1 (escala 1-5)" in text_of(told)
    with store.transaction():
        surveyor.record(number, Answer(score=5), "web", clock.now())
    assert tickets.info(store, number).state is State.CLOSED  # type: ignore[union-attr]


def test_export_holds_the_answers_and_erasure_removes_them_and_the_opt_out(
    made: tuple[Config, Store, Pipeline, FakeClock], tmp_path: Path
) -> None:
    _config, store, pipeline, clock = made
    number = opened(pipeline)
    change(pipeline, number, State.CLOSED)
    surveyor = pipeline.desk.surveyor
    with store.transaction():
        surveyor.record(number, Answer(solved=True, score=4, comment="bien"), "web", clock.now())
        surveyor.opt_out("ana@alumnos.example", clock.now())
    export.export(store.conn, {"info": "INFO"}, "ana@alumnos.example", tmp_path / "export")
    document = json.loads((tmp_path / "export" / "requester.json").read_text(encoding="utf-8"))
    assert [(s["ticket"], s["score"], s["comment"]) for s in document["surveys"]] == [
        (number, 4, "bien")
    ]
    assert document["surveys_opted_out_at"] is not None
    privacy.erase(store, "ana@alumnos.example", clock.now())
    assert surveys(store) == 0
    assert not surveyor.opted_out("ana@alumnos.example")


def test_close_and_merge_in_one_reply_sends_no_survey(
    made: tuple[Config, Store, Pipeline, FakeClock],
) -> None:
    _, store, pipeline, _ = made
    first = opened(pipeline)
    outcome = pipeline.accept(build("Beca de transporte", message_id="<r9@x>"), smtp())
    assert isinstance(outcome, Stored)
    assert outcome.ticket is not None
    second = outcome.ticket
    reply = agent_reply(store, f"#close\n#merge {second}\n\nEs la misma.", number=first)
    outcome = pipeline.accept(reply, smtp())
    assert isinstance(outcome, Stored)
    assert tickets.info(store, first).merged_into == second  # type: ignore[union-attr]
    assert surveys(store) == 0
    reply = agent_reply(store, "#close\n\nListo.", number=second, message_id="<a2@uni.example>")
    pipeline.accept(reply, smtp())
    assert surveys(store) == 1
