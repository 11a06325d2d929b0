"""The private PostgreSQL cluster: it runs unprivileged on loopback, and a cluster that
cannot start says why instead of letting the store tests skip."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from tests.servers import Postgres


def test_the_shared_cluster_listens_on_loopback_as_an_unprivileged_user(
    postgres: Postgres,
) -> None:
    with postgres.connect() as conn:
        row = conn.execute("SELECT current_setting('listen_addresses'), pg_backend_pid()")
        listen, backend = row.fetchone() or ("", 0)
    assert listen == "127.0.0.1"
    uid = int(Path(f"/proc/{backend}/status").read_text().split("Uid:")[1].split()[0])
    assert uid != 0  # initdb and the server refuse root; CI runs the tests as root
    if os.geteuid() == 0:
        assert postgres.account is not None
        assert uid == postgres.account.pw_uid


def test_a_cluster_that_cannot_start_fails_with_postgres_own_words(tmp_path: Path) -> None:
    server = Postgres(tmp_path / "pg")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server.port = taken.getsockname()[1]
        with pytest.raises(RuntimeError, match=r"could not bind|Address already in use"):
            server.start()
    assert not server.running
    server.close()
