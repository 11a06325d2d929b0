"""The attention policy as the requester reads it. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from maildesk.sla.calendar import DAYS


def schedule_rows(hours: Mapping[str, str]) -> list[dict[str, str]]:
    """Consecutive days with the same hours, grouped for display; closed days left out.

    >>> schedule_rows({"mon": "08:00-20:00", "tue": "08:00-20:00", "sat": ""})
    [{'first': 'mon', 'last': 'tue', 'periods': '08:00–20:00'}]
    """
    rows: list[dict[str, str]] = []
    previous = None
    for day in DAYS:
        periods = ", ".join(
            p.strip().replace("-", "–") for p in hours.get(day, "").split(",") if p.strip()
        )
        if periods and rows and previous == periods:
            rows[-1]["last"] = day
        elif periods:
            rows.append({"first": day, "last": day, "periods": periods})
        previous = periods
    return rows


def zone_place(name: str) -> str:
    """The place an IANA time zone is named after, as people write it.

    >>> zone_place("America/Santo_Domingo"), zone_place("America/Argentina/Buenos_Aires")
    ('Santo Domingo', 'Buenos Aires')
    >>> zone_place("UTC")
    'UTC'
    """
    return name.rpartition("/")[2].replace("_", " ")


def utc_offset(offset: timedelta) -> str:
    """An offset from UTC as people write it.

    >>> utc_offset(timedelta(hours=-4)), utc_offset(timedelta(hours=5, minutes=30))
    ('UTC-4', 'UTC+5:30')
    >>> utc_offset(timedelta(0))
    'UTC'
    """
    minutes = int(offset.total_seconds()) // 60
    if minutes == 0:
        return "UTC"
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")
