"""The attention policy as the requester reads it. Pure."""

from __future__ import annotations

from collections.abc import Mapping

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
