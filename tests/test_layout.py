"""The package's layout keeps its promises: one folder per feature, no import cycle, and
each package imports only what its ``__init__`` docstring allows; pure modules, and every
module they reach, stay away from the store, the adapters, the network and the clock.

The rules are read from the docstrings themselves (``Pure:`` and ``May import:`` lines),
so the documentation and the check cannot drift apart.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "maildesk"
TOP_LIMIT = 8  # modules at the top of maildesk/, __init__ included

# Never reached from a pure module, directly or through another module.
UNREACHABLE_FROM_PURE = (
    "maildesk.store",
    "maildesk.ingest",
    "maildesk.outbox",
    "maildesk.service",
    "maildesk.cli",
    "maildesk.clock",
    "maildesk.desk",
    "imapclient",
    "aiosmtpd",
    "sqlite_utils",
    "sqlite3",
    "smtplib",
    "socket",
    "asyncio",
    "subprocess",
    "http.client",
    "http.server",
    "urllib.request",
)
# Not imported by a pure module itself (a configuration dataclass it reads may come from
# a module that also reads a file, such as the holiday list).
NOT_IN_PURE = ("os", "pathlib", "random", "secrets", "time", "mailparser")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
PACKAGES = sorted(
    module_name(p) for p in PACKAGE.glob("*/__init__.py") if p.parent.name != "templates"
)


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in node.body:
                lines |= set(range(inner.lineno, (inner.end_lineno or inner.lineno) + 1))
    return lines


@cache
def imports(module: str) -> frozenset[str]:
    """Every module ``module`` imports, at the top or inside a function, resolved to a
    module of maildesk where it is one; TYPE_CHECKING imports are left out."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    skip = _type_checking_lines(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", 0) in skip:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:  # relative imports are not used, but resolve them anyway
                base = ".".join([*module.split(".")[: -node.level], node.module])
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in MODULES else base)
    return frozenset(found)


def internal(module: str) -> set[str]:
    return {m for m in imports(module) if m in MODULES}


@cache
def reach(module: str) -> frozenset[str]:
    """Everything ``module`` imports, transitively (a package's ``__init__`` included)."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        current = todo.pop()
        for target in imports(current) if current in MODULES else ():
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return frozenset(seen)


def rules(package: str) -> tuple[set[str], list[str]]:
    """(pure modules, allowed imports) from the package docstring."""
    doc = ast.get_docstring(ast.parse(MODULES[package].read_text(encoding="utf-8"))) or ""
    text = " ".join(doc.split())
    pure: set[str] = set()
    found = re.search(r"Pure: ([\w, ]+?)(?:\s\(|\.|$|\s[A-Z])", text)
    if found:
        pure = {f"{package}.{n.strip()}" for n in found.group(1).split(",")}
    allowed = re.search(r"May import: (.+?)\.(?:\s|$)", text)
    names = allowed.group(1) if allowed else ""
    return pure, [n.strip() for n in re.split(r",\s*", names) if n.strip()]


def pure_modules() -> set[str]:
    found = set()
    for package in ["maildesk", *PACKAGES]:
        pure, _ = rules(package)
        if package == "maildesk":
            pure = {p.replace("maildesk.", "maildesk.", 1) for p in pure}
        found |= pure
    return found


def test_at_most_eight_modules_at_the_top() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= TOP_LIMIT, top


@pytest.mark.parametrize("package", ["maildesk", *PACKAGES])
def test_every_package_says_what_it_holds(package: str) -> None:
    doc = ast.get_docstring(ast.parse(MODULES[package].read_text(encoding="utf-8")))
    assert doc, f"{package}/__init__.py opens with no docstring"
    if package != "maildesk":
        assert "May import:" in doc or package == "maildesk.cli" or "every maildesk" in doc


def test_no_import_cycle() -> None:
    # Tarjan's strongly connected components over the module graph.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(internal(node)):
            if target == node:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(MODULES):
        if module not in index:
            visit(module)
    assert not cycles, f"import cycles: {cycles}"


def _allowed(target: str, package: str, allowed: list[str]) -> bool:
    if target == package or target.startswith(package + "."):
        return True
    if target == "maildesk":  # the version
        return True
    return any(target == a or target.startswith(a + ".") for a in allowed)


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_imports_only_what_its_docstring_allows(package: str) -> None:
    _, allowed = rules(package)
    everything = "every maildesk package" in " ".join(
        (ast.get_docstring(ast.parse(MODULES[package].read_text(encoding="utf-8"))) or "").split()
    )
    if everything:
        return
    bad = {
        f"{module} -> {target}"
        for module in MODULES
        if module == package or module.startswith(package + ".")
        for target in internal(module)
        if not _allowed(target, package, allowed)
    }
    assert not bad, sorted(bad)


@pytest.mark.parametrize("module", sorted(pure_modules()))
def test_pure_modules_reach_no_io(module: str) -> None:
    assert module in MODULES, f"{module} is named pure but does not exist"
    reached = reach(module)
    bad = {
        name
        for name in reached
        if any(name == f or name.startswith(f + ".") for f in UNREACHABLE_FROM_PURE)
    }
    assert not bad, f"{module} reaches {sorted(bad)}"
    direct = {
        n for n in imports(module) if any(n == f or n.startswith(f + ".") for f in NOT_IN_PURE)
    }
    assert not direct, f"{module} imports {sorted(direct)}"
    assert not clock_or_file_calls(MODULES[module]), f"{module} reads the clock or files"


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


def test_the_rules_catch_a_violation() -> None:
    """The checker itself: a pure module that reached the store would be caught."""
    assert "maildesk.store.store" in reach("maildesk.ingest.pipeline")
    assert not _allowed("maildesk.store.store", "maildesk.mail", rules("maildesk.mail")[1])
    assert "maildesk.mail.thread" in pure_modules()
