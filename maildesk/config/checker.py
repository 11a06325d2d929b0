"""Checking parsed TOML tables against the settings table, with the line of each problem.

PURE: works on the file's text and the parsed data; ``load.py`` reads the file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, cast

from maildesk.config.settings import Section, Setting, Value


class TableChecker:
    """Collects problems instead of stopping at the first, so an admin fixes them in one go;
    each problem names the file, the line and the key."""

    def __init__(self, text: str, label: str) -> None:
        self.lines = text.splitlines()
        self.label = label
        self.problems: list[str] = []

    def problem(self, where: str, message: str, index: int | None = None) -> None:
        line = self._line_of(where, index)
        prefix = f"{self.label}:{line}" if line else self.label
        self.problems.append(f"{prefix}: key '{where}': {message}")

    def _line_of(self, dotted: str, index: int | None) -> int | None:
        # tomllib keeps no positions; find the table header, then the key below it.
        table, _, key = dotted.rpartition(".")
        header = re.compile(rf"^\s*\[\[?\s*{re.escape(table)}\s*\]\]?\s*(#.*)?$")
        seen, start = -1, None
        for number, line in enumerate(self.lines):
            if header.match(line):
                seen += 1
                if index is None or seen == index:
                    start = number
                    break
        if start is None:
            return None
        key_re = re.compile(rf"^\s*{re.escape(key)}\s*=")
        for number in range(start + 1, len(self.lines)):
            if re.match(r"^\s*\[", self.lines[number]):
                break
            if key_re.match(self.lines[number]):
                return number + 1
        return start + 1

    def _top_line(self, name: str) -> int | None:
        """The first line that opens ``name``: ``[name]``, ``[[name]]``, ``[name.x]``, or a
        key ``name = …`` above every table."""
        quoted = re.escape(name)
        header = re.compile(rf"^\s*\[\[?\s*(?:{quoted}|\"{quoted}\")\s*[\].]")
        key = re.compile(rf"^\s*(?:{quoted}|\"{quoted}\")\s*[=.]")
        in_table = False
        for number, line in enumerate(self.lines):
            if header.match(line) or (not in_table and key.match(line)):
                return number + 1
            in_table = in_table or line.lstrip().startswith("[")
        return None

    def table(
        self, data: Mapping[str, Any], sect: Section, index: int | None = None
    ) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for key, raw in data.items():
            where = f"{sect.name}.{key}"
            setting = sect.get(key)
            if setting is None:
                known = ", ".join(s.key for s in sect.settings)
                self.problem(where, f"unknown key (known keys: {known})", index)
                continue
            checked = self._value(where, setting, raw, index)
            if checked is not None:
                values[key] = checked
        for setting in sect.settings:
            values.setdefault(setting.key, setting.default)
        return values

    def _value(self, where: str, setting: Setting, raw: object, index: int | None) -> Value | None:
        expected = type(setting.default)
        if expected is int and (isinstance(raw, bool) or not isinstance(raw, int)):
            self.problem(where, f"expected an integer, got {raw!r}", index)
            return None
        if expected is list:
            if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
                self.problem(where, f"expected a list of strings, got {raw!r}", index)
                return None
            return cast(list[str], raw)
        if expected is not int and not isinstance(raw, expected):
            self.problem(where, f"expected {expected.__name__}, got {raw!r}", index)
            return None
        value = cast(Value, raw)
        if setting.choices and value not in setting.choices:
            choices = " | ".join(repr(c) for c in setting.choices)
            self.problem(where, f"expected one of {choices}, got {raw!r}", index)
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            if setting.minimum is not None and value < setting.minimum:
                self.problem(where, f"expected at least {setting.minimum}, got {value}", index)
                return None
            if setting.maximum is not None and value > setting.maximum:
                self.problem(where, f"expected at most {setting.maximum}, got {value}", index)
                return None
        return value
