"""config.toml's service-level keys: [calendar] extras, [sla], [[sla_policies]], [[escalations]]."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from maildesk.config import parse
from maildesk.config.sla import EscalationConfig, SlaPolicyConfig, policy, working_calendar
from maildesk.errors import ConfigError
from maildesk.sla.rules import Commitments, Level

H = timedelta(hours=1)
QUEUES = '[[queues]]\nname = "info"\naddresses = ["info@*"]\ntag = "INFO"\n'


def problems(text: str, base: Path = Path("/srv")) -> list[str]:
    with pytest.raises(ConfigError) as error:
        parse(text + "\n" + QUEUES, path=Path("config.toml"), base_dir=base)
    return error.value.problems


def test_defaults() -> None:
    config = parse("", path=None, base_dir=Path("/srv"))
    assert config.sla.warn_share == 0.75
    assert (config.sla.next_response_hours, config.sla.resolution_hours) == (24, 0)
    assert (config.sla.pending_reminder_days, config.sla.pending_close_days) == (3, 0)
    assert (config.sla.resolved_close_days, config.sla.progress_days) == (7, 7)
    assert policy(config).default == Commitments(24 * H, 24 * H, None)
    assert policy(config).levels("info") == (Level(1),)


def test_tables_become_the_policy(tmp_path: Path) -> None:
    config = parse(
        QUEUES
        + """
[[sla_policies]]
segment = "vip"
first_response_hours = 8

[[escalations]]
level = 1
notify = ["Coord@Uni.example"]

[[escalations]]
queue = "info"
level = 2
after_hours = 24
notify = ["director@uni.example"]
""",
        path=None,
        base_dir=tmp_path,
    )
    assert config.sla.policies == (SlaPolicyConfig(segment="vip", first_response_hours=8),)
    assert config.sla.escalations[1] == EscalationConfig("info", 2, 24, ("director@uni.example",))
    built = policy(config)
    assert built.commitments("info", segment="vip").first_response == 8 * H
    assert built.levels("info") == (
        Level(1, timedelta(0), ("coord@uni.example",)),
        Level(2, 24 * H, ("director@uni.example",)),
    )


def test_closures_and_a_holidays_file_shape_the_calendar(tmp_path: Path) -> None:
    (tmp_path / "festivos.txt").write_text("2026-03-23 San José\n# comment\n", encoding="utf-8")
    (tmp_path / "festivos.ics").write_text(
        "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;VALUE=DATE:20260402\nDTEND;VALUE=DATE:20260404\n"
        "END:VEVENT\nEND:VCALENDAR\n",
        encoding="utf-8",
    )
    for name, expected in (
        ("festivos.txt", {date(2026, 1, 1), date(2026, 3, 23)}),
        ("festivos.ics", {date(2026, 1, 1), date(2026, 4, 2), date(2026, 4, 3)}),
    ):
        config = parse(
            f'[maildesk]\ntimezone = "America/Bogota"\n[calendar]\nholidays = ["2026-01-01"]\n'
            f'holidays_file = "{name}"\nclosures = ["2026-12-24 13:00/2026-12-26"]\n',
            path=None,
            base_dir=tmp_path,
        )
        calendar = working_calendar(config)
        assert calendar.holidays == expected
        bogota = ZoneInfo("America/Bogota")
        assert calendar.closures == (
            (
                datetime(2026, 12, 24, 18, tzinfo=ZoneInfo("UTC")),
                datetime(2026, 12, 26, 5, tzinfo=ZoneInfo("UTC")),
            ),
        )
        assert not calendar.is_open(datetime(2026, 12, 24, 14, tzinfo=bogota))
        assert calendar.is_open(datetime(2026, 12, 24, 12, tzinfo=bogota))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[sla]\nwarn_share = 1.5", "config.toml:2: key 'sla.warn_share': expected at least 0"),
        ("[sla]\nwarn_share = 1", "config.toml:2: key 'sla.warn_share': expected float, got 1"),
        (
            "[sla]\npending_reminder_days = 5\npending_close_days = 3",
            "config.toml:3: key 'sla.pending_close_days': expected more than pending_reminder_days",
        ),
        ("[sla]\nsweep_seconds = 0", "config.toml:2: key 'sla.sweep_seconds': expected at least 1"),
        (
            '[[escalations]]\nqueue = "crm"\nnotify = ["a@x.example"]',
            "config.toml:2: key 'escalations.queue': expected '' or the name of a [[queues]]",
        ),
        (
            "[[escalations]]\nlevel = 1",
            "config.toml:1: key 'escalations.notify': expected at least",
        ),
        (
            '[[escalations]]\nnotify = ["not an address"]',
            "config.toml:2: key 'escalations.notify': not an address: 'not an address'",
        ),
        (
            '[[escalations]]\nnotify = ["a@x.example"]\n[[escalations]]\nnotify = ["b@x.example"]',
            "config.toml:3: key 'escalations.level': level 1 of queue '(every queue)' is already",
        ),
        (
            '[[escalations]]\nlevel = 0\nafter_hours = 4\nnotify = ["a@x.example"]',
            "config.toml:3: key 'escalations.after_hours': level 0 (reminders) has no after_hours",
        ),
        (
            '[[escalations]]\nlevel = 1\nafter_hours = 10\nnotify = ["a@x.example"]\n'
            '[[escalations]]\nlevel = 2\nafter_hours = 5\nnotify = ["b@x.example"]',
            "config.toml:7: key 'escalations.after_hours': level 2 of queue '(every queue)' comes",
        ),
        (
            '[[sla_policies]]\nsegment = "vip"',
            "config.toml:1: key 'sla_policies.first_response_hours': the policy changes no",
        ),
        (
            '[[sla_policies]]\npriority = "asap"\nfirst_response_hours = 2',
            "config.toml:2: key 'sla_policies.priority': expected one of",
        ),
        (
            '[calendar]\nclosures = ["2026-12-24"]',
            "config.toml:2: key 'calendar.closures': expected 'YYYY-MM-DD[ HH:MM]/",
        ),
        (
            '[calendar]\nclosures = ["2026-12-24/2026-12-23"]',
            "config.toml:2: key 'calendar.closures': '2026-12-24/2026-12-23' does not end after",
        ),
        (
            '[calendar]\nholidays_file = "missing.txt"',
            "config.toml:2: key 'calendar.holidays_file': cannot read /srv/missing.txt",
        ),
        (
            '[calendar]\nmon = "08:00-13:00,12:00-15:00"',
            "config.toml:2: key 'calendar.mon': hours.mon: '08:00-13:00' overlaps '12:00-15:00'",
        ),
        (
            '[calendar]\nmon = ""\ntue = ""\nwed = ""\nthu = ""\nfri = ""',
            "config.toml:2: key 'calendar.mon': no working hours on any day of the week",
        ),
    ],
)
def test_each_problem_names_its_key_and_line(text: str, expected: str) -> None:
    found = problems(text)
    assert any(p.startswith(expected) for p in found), found


def test_a_bad_holidays_file_names_its_line(tmp_path: Path) -> None:
    (tmp_path / "h.txt").write_text("2026-01-01\nnavidad\n", encoding="utf-8")
    found = problems('[calendar]\nholidays_file = "h.txt"', tmp_path)
    assert found == [
        f"config.toml:2: key 'calendar.holidays_file': {tmp_path / 'h.txt'}: holidays line 2:"
        " 'navidad' does not start with YYYY-MM-DD"
    ]
