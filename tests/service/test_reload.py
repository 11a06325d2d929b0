"""What a reload applies and what waits for a restart (``reload.prepare``), read from
a real config.toml on disk; the daemon's side is tests/e2e/test_several_daemons_reload.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from maildesk.config import Config, load
from maildesk.service import reload

BASE = '[maildesk]\n{general}organization = "Universidad"\n'
OLD_URL = "postgresql://desk:s3cret@db-a.example:5432/maildesk"


def written(folder: Path, general: str) -> Path:
    path = folder / "config.toml"
    path.write_text(BASE.format(general=general), encoding="utf-8")
    return path


def reloaded(tmp_path: Path, before: str, after: str) -> tuple[Config, Config, list[str]]:
    path = written(tmp_path, before)
    old = load(path, cwd=tmp_path)
    written(tmp_path, after)
    new, _, later = reload.prepare(old)
    return old, new, later


@pytest.mark.parametrize(
    ("before", "after", "label"),
    [
        ('database = "a.db"\n', 'database = "b.db"\n', "maildesk.database"),
        (f'database = "{OLD_URL}"\n', 'database = "b.db"\n', "maildesk.database"),
        (
            f'database = "{OLD_URL}"\n',
            'database = "postgresql://desk@db-b.example:5432/maildesk"\n',
            "maildesk.database",
        ),
        (
            f'database = "{OLD_URL}"\n',
            f'database = "{OLD_URL}"\ndatabase_password_env = "DESK_DB"\n',
            "maildesk.database_password_env",
        ),
    ],
)
def test_a_changed_database_waits_for_a_restart_and_the_old_one_stays(
    tmp_path: Path, before: str, after: str, label: str
) -> None:
    old, new, later = reloaded(tmp_path, before, after)
    assert later == [label]  # one warning, however many fields name the setting
    assert new.store_location == old.store_location
    assert new.database_password_env == old.database_password_env
    note = reload.restart_note(label)
    assert note.startswith(f"the change to {label} takes effect at the next restart; until then")
    assert "s3cret" not in note


def test_the_node_and_the_rest_apply_at_once(tmp_path: Path) -> None:
    old, new, later = reloaded(
        tmp_path, 'node = "desk-a"\n', 'node = "desk-b"\nlog_level = "debug"\n'
    )
    assert later == []
    assert (old.node, new.node) == ("desk-a", "desk-b")
    assert new.log_level == "debug"


def test_a_setting_that_waits_without_more_to_say_gets_the_plain_note() -> None:
    assert reload.restart_note("[listener]") == (
        "the change to [listener] takes effect at the next restart"
    )
