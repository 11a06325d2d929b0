"""Pure modules import no adapter, store or network library and never read the clock."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "maildesk"
PURE = [
    "mail/thread.py",
    "mail/classify.py",
    "mail/bounces.py",
    "mail/commands.py",
    "mail/quotes.py",
    "mail/quote_markers.py",
    "mail/compose.py",
    "mail/htmltext.py",
    "mail/parsed.py",
    "calendar.py",
    "workflow.py",
    "model.py",
    "policy.py",
    "sla.py",
    "followups.py",
    "reports.py",
    "workclock.py",
    "agents.py",
    "routing.py",
    "deskconfig.py",
    "surveys.py",
    "anonymity.py",
]
FORBIDDEN = {
    "maildesk.store",
    "maildesk.ingest",
    "maildesk.outbox",
    "maildesk.daemon",
    "imapclient",
    "aiosmtpd",
    "sqlite_utils",
    "sqlite3",
    "smtplib",
    "socket",
    "asyncio",
    "mailparser",
    "maildesk.clock",
    "subprocess",
    "os",
    "pathlib",
    "random",
    "secrets",
    "time",
}


def clock_or_file_calls(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in {"open", "print", "input"}:
                found.add(func.id)
            if isinstance(func, ast.Attribute) and func.attr in {"now", "today", "utcnow", "time"}:
                found.add(func.attr)
    return found


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("module", PURE)
def test_pure_module_has_no_io(module: str) -> None:
    path = PACKAGE / module
    bad = {
        name
        for name in imports(path)
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)
    }
    assert not bad, f"{module} imports {sorted(bad)}"
    assert not clock_or_file_calls(path), f"{module} reads the clock or files"
