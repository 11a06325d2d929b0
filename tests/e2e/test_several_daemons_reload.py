"""SIGHUP to a daemon on PostgreSQL: a changed ``[maildesk] database`` is refused with one
warning and the daemon goes on with the store it opened; the rest of the file, the node's
name included, applies at once."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_several_daemons import count, health, metrics, on_database, wait_for
from tests.servers import Postgres
from tests.support.daemon import Maildesk, mail

pytestmark = pytest.mark.server


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Maildesk]:
    made = Maildesk(tmp_path / "desk")
    yield made
    made.stop()


def test_a_reload_keeps_the_database_it_opened_and_applies_the_rest(
    postgres: Postgres, desk: Maildesk
) -> None:
    # A password in the URL (the test server trusts loopback and ignores it): it must
    # appear in no log line, before or after the reload.
    old = postgres.create_database("reload_old").replace("@", ":hunter2@", 1)
    postgres.create_database("reload_new")
    new = postgres.url("reload_new")
    on_database(desk, old, "desk-a")
    desk.start()
    desk.send(mail("ana@alumnos.example", "info@uni.example", "Antes", message_id="<r1@x>"))
    before = desk.config.read_text(encoding="utf-8")
    desk.config.write_text(
        before.replace(old, new)
        .replace('node = "desk-a"', 'node = "desk-b"')
        .replace("Universidad de Prueba", "Universidad Renovada"),
        encoding="utf-8",
    )
    assert desk.process is not None
    desk.process.send_signal(signal.SIGHUP)
    wait_for(lambda: "configuration reloaded" in desk.log(), "the reload")
    assert (
        "reload: the change to maildesk.database takes effect at the next restart; until then"
        " this daemon goes on with the store it opened"
    ) in desk.log()
    assert "reload rejected" not in desk.log()

    # The rest applied: the node's new name, the new organization in the next mail.
    assert health(desk)["node"]["name"] == "desk-b"
    assert 'maildesk_node_info{node="desk-b"} 1' in metrics(desk)
    desk.send(mail("luis@alumnos.example", "info@uni.example", "Despues", message_id="<r2@x>"))
    acks = desk.outbox_files(2)
    assert b"Universidad Renovada" in max(acks, key=lambda p: p.stat().st_mtime).read_bytes()

    # Still on the store it opened: both tickets there, nothing in the new database,
    # and /healthz reads the old one too.
    assert count(postgres, "reload_old", "SELECT count(*) FROM tickets") == 2
    tables = "SELECT count(*) FROM information_schema.tables WHERE table_name = 'tickets'"
    assert count(postgres, "reload_new", tables) == 0
    state = health(desk)
    assert (state["status"], state["database"]["state"]) == ("ok", "ok")
    time.sleep(0.2)  # the last log lines are written
    assert "hunter2" not in desk.log()
    assert desk.stop() == 0, desk.log()
