"""parse_commands: every command and alias, bad arguments, placement, injection attempts."""

from __future__ import annotations

import ast
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import maildesk.mail.commands as commands_module
from maildesk.agents.actions import explain
from maildesk.mail.commands import (
    AssignArgs,
    CategoryArgs,
    Command,
    CommandArgs,
    CommandName,
    MacroArgs,
    MergeArgs,
    PendingArgs,
    Priority,
    PriorityArgs,
    parse_commands,
)
from maildesk.templates import Templates

N = CommandName

VALID: list[tuple[str, CommandName, CommandArgs]] = [
    ("#note", N.NOTE, None),
    ("#nota", N.NOTE, None),
    ("#close", N.CLOSE, None),
    ("#cerrar", N.CLOSE, None),
    ("#CLOSE", N.CLOSE, None),
    ("  #Cerrar  ", N.CLOSE, None),
    ("#resolve", N.RESOLVE, None),
    ("#resolver", N.RESOLVE, None),
    ("#cancel", N.CANCEL, None),
    ("#cancelar", N.CANCEL, None),
    ("#pending", N.PENDING, PendingArgs(None)),
    ("#pending 3", N.PENDING, PendingArgs(3)),
    ("#pending 1", N.PENDING, PendingArgs(1)),
    ("#pending 365", N.PENDING, PendingArgs(365)),
    ("#pending 3d", N.PENDING, PendingArgs(3)),
    ("#pending 10 days", N.PENDING, PendingArgs(10)),
    ("#pendiente", N.PENDING, PendingArgs(None)),
    ("#pendiente 7 días", N.PENDING, PendingArgs(7)),
    ("#pendiente\t2", N.PENDING, PendingArgs(2)),
    ("#assign ana@x.edu", N.ASSIGN, AssignArgs("ana@x.edu")),
    ("#assign Ana.Perez", N.ASSIGN, AssignArgs("Ana.Perez")),
    ("#asignar secretaria-academica", N.ASSIGN, AssignArgs("secretaria-academica")),
    ("#asignar ana+tickets@x.edu", N.ASSIGN, AssignArgs("ana+tickets@x.edu")),
    ("#assign " + "a" * 100, N.ASSIGN, AssignArgs("a" * 100)),
    ("#priority low", N.PRIORITY, PriorityArgs(Priority.LOW)),
    ("#priority normal", N.PRIORITY, PriorityArgs(Priority.NORMAL)),
    ("#priority high", N.PRIORITY, PriorityArgs(Priority.HIGH)),
    ("#priority URGENT", N.PRIORITY, PriorityArgs(Priority.URGENT)),
    ("#prioridad baja", N.PRIORITY, PriorityArgs(Priority.LOW)),
    ("#prioridad alta", N.PRIORITY, PriorityArgs(Priority.HIGH)),
    ("#prioridad urgente", N.PRIORITY, PriorityArgs(Priority.URGENT)),
    ("#category becas", N.CATEGORY, CategoryArgs("becas")),
    ("#category Becas_2026", N.CATEGORY, CategoryArgs("becas_2026")),
    ("#categoria admisiones", N.CATEGORY, CategoryArgs("admisiones")),
    ("#categoría admisiones", N.CATEGORY, CategoryArgs("admisiones")),
    # A Mac may send the accent as a combining character.
    (unicodedata.normalize("NFD", "#categoría pagos"), N.CATEGORY, CategoryArgs("pagos")),
    ("#category " + "x" * 64, N.CATEGORY, CategoryArgs("x" * 64)),
    ("#macro bienvenida", N.MACRO, MacroArgs("bienvenida")),
    ("#plantilla Cierre-OK", N.MACRO, MacroArgs("cierre-ok")),
    ("#macro 0day", N.MACRO, MacroArgs("0day")),
    ("#merge 42", N.MERGE, MergeArgs(42, None)),
    ("#merge #42", N.MERGE, MergeArgs(42, None)),
    ("#fusionar INFO#42", N.MERGE, MergeArgs(42, "INFO")),
    ("#merge [SOP-2#7]", N.MERGE, MergeArgs(7, "SOP-2")),
]


@pytest.mark.parametrize(("line", "name", "args"), VALID, ids=[v[0] for v in VALID])
def test_valid_command(line: str, name: CommandName, args: CommandArgs) -> None:
    parsed = parse_commands(f"{line}\n\nReply text.\n")
    assert parsed.errors == ()
    assert parsed.commands == (Command(name, args),)
    assert parsed.body == "Reply text.\n"


ENGLISH = Templates(None, "en")
INVALID: list[tuple[str, str]] = [
    ("#close now", "takes no argument"),
    ("#note internal", "takes no argument"),
    ("#close.", "followed by a space"),
    ("#pending 0", "between 1 and 365"),
    ("#pending 366", "between 1 and 365"),
    ("#pending 100000", "between 1 and 365"),
    ("#pending -3", "number of days"),
    ("#pending tomorrow", "number of days"),
    ("#pending 3 weeks", "number of days"),
    ("#pending ٣", "number of days"),
    ("#assign", "needs an argument"),
    ("#assign Ana Perez", "single argument"),
    ("#assign ana;rm", "agent address"),
    ("#assign <ana@x.edu>", "agent address"),
    ("#assign " + "a" * 101, "agent address"),
    ("#priority", "needs an argument"),
    ("#priority critical", "one of low"),
    ("#priority high please", "single argument"),
    ("#category", "needs an argument"),
    ("#category ../becas", "name must be"),
    ("#category " + "x" * 65, "name must be"),
    ("#category -becas", "name must be"),
    ("#category becas.txt", "name must be"),
    ("#macro ../../etc/passwd", "name must be"),
    ("#macro /etc/passwd", "name must be"),
    ("#macro ..\\..\\win.ini", "name must be"),
    ("#macro {{ config }}", "single argument"),
    ("#macro café", "name must be"),
    ("#macro \u212a", "name must be"),  # KELVIN SIGN lower-cases to ASCII "k"
    ("#plantilla", "needs an argument"),
    ("#merge", "needs an argument"),
    ("#merge abc", "ticket number"),
    ("#merge INFO#", "ticket number"),
    ("#merge 0", "positive"),
    ("#merge [42", "ticket number"),
    ("#merge 1;2", "ticket number"),
    ("#merge 1234567890123", "ticket number"),
    ("#closed", "unknown command"),
    ("#foo bar", "unknown command"),
    ("#cierre", "unknown command"),
    ("#assign a\x00b", "control characters"),
    ("#assign a\x0bBcc: x", "control characters"),
    ("#assign a\u2028Bcc: x", "control characters"),
    ("#assign a\u0085Bcc: x", "control characters"),
    ("#category becas\u202egpj.exe", "control characters"),
    ("#macro hola\u200b", "control characters"),
]


@pytest.mark.parametrize(("line", "reason"), INVALID, ids=[repr(i[0])[:40] for i in INVALID])
def test_invalid_command(line: str, reason: str) -> None:
    parsed = parse_commands(f"{line}\nReply text.")
    assert parsed.commands == ()
    assert len(parsed.errors) == 1
    error = parsed.errors[0]
    assert reason in explain(ENGLISH, error, "en").lower()
    assert error.line
    assert all(unicodedata.category(c)[0] != "C" for c in error.line)
    assert len(error.line) <= 200
    assert parsed.body == "Reply text."


PLACEMENT: list[tuple[str, str, tuple[Command, ...], int, str]] = [
    (
        "blank_lines_around_and_between",
        "\n\n#assign ana\n\n#priority high\n\n\nDear Ana,\nsee below.\n",
        (Command(N.ASSIGN, AssignArgs("ana")), Command(N.PRIORITY, PriorityArgs(Priority.HIGH))),
        0,
        "Dear Ana,\nsee below.\n",
    ),
    (
        "unknown_does_not_stop_the_block",
        "#foo\n#close\nText",
        (Command(N.CLOSE),),
        1,
        "Text",
    ),
    ("after_prose_is_text", "Hello\n#close\n", (), 0, "Hello\n#close\n"),
    (
        "number_sign_prose_ends_block",
        "#note\n#1 priority for us is your thesis.\n#close\n",
        (Command(N.NOTE),),
        0,
        "#1 priority for us is your thesis.\n#close\n",
    ),
    (
        "number_sign_prose_first",
        "#1 priority for us is your thesis.",
        (),
        0,
        "#1 priority for us is your thesis.",
    ),
    ("markdown_heading_is_text", "# Steps\n#close", (), 0, "# Steps\n#close"),
    ("quoted_command_is_text", "> #close\nok", (), 0, "> #close\nok"),
    ("only_commands", "#close\n\n", (Command(N.CLOSE),), 0, ""),
    ("no_commands", "Hola Ana,\n\ngracias.", (), 0, "Hola Ana,\n\ngracias."),
    ("empty", "", (), 0, ""),
    (
        "crlf",
        "#cerrar\r\n#nota\r\n\r\nGracias\r\nAdiós\r\n",
        (Command(N.CLOSE), Command(N.NOTE)),
        0,
        "Gracias\nAdiós\n",
    ),
    ("bom", "\ufeff#close\nok", (Command(N.CLOSE),), 0, "ok"),
    (
        "repeated_command",
        "#close\n#close\nok",
        (Command(N.CLOSE),),
        1,
        "ok",
    ),
    (
        "contradicting_state_changes",
        "#close\n#pending 3\n#priority low\nok",
        (Command(N.CLOSE), Command(N.PRIORITY, PriorityArgs(Priority.LOW))),
        1,
        "ok",
    ),
    (
        "note_with_state_change",
        "#nota\n#resolver\nok",
        (Command(N.NOTE), Command(N.RESOLVE)),
        0,
        "ok",
    ),
    # CRLF ends the line, so the "header" is only body text and never part of an argument.
    (
        "crlf_injection_in_assign",
        "#assign a\r\nBcc: x\r\n",
        (Command(N.ASSIGN, AssignArgs("a")),),
        0,
        "Bcc: x\n",
    ),
    (
        "bare_cr_injection_in_assign",
        "#assign a\rBcc: x",
        (Command(N.ASSIGN, AssignArgs("a")),),
        0,
        "Bcc: x",
    ),
    (
        "path_injection_in_macro",
        "#macro ../../etc/passwd\n#close\nok",
        (Command(N.CLOSE),),
        1,
        "ok",
    ),
]


@pytest.mark.parametrize(
    ("text", "commands", "n_errors", "body"),
    [p[1:] for p in PLACEMENT],
    ids=[p[0] for p in PLACEMENT],
)
def test_placement(text: str, commands: tuple[Command, ...], n_errors: int, body: str) -> None:
    parsed = parse_commands(text)
    assert parsed.commands == commands
    assert len(parsed.errors) == n_errors
    assert parsed.body == body


def test_error_line_is_made_safe_and_bounded() -> None:
    parsed = parse_commands("#assign \x1b[31m" + "x" * 300)
    (error,) = parsed.errors
    assert "\x1b" not in error.line
    assert len(error.line) == 200
    assert error.line.startswith("#assign \ufffd[31m")


def test_results_are_frozen() -> None:
    parsed = parse_commands("#close")
    with pytest.raises(AttributeError):
        parsed.body = "x"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        parsed.commands[0].name = N.NOTE  # type: ignore[misc]


def test_canonical_names_are_english_strings() -> None:
    assert [str(n) for n in CommandName] == [
        "note",
        "close",
        "resolve",
        "pending",
        "assign",
        "cancel",
        "priority",
        "category",
        "macro",
        "merge",
    ]


@given(st.text())
def test_arguments_never_carry_line_breaks_or_controls(text: str) -> None:
    parsed = parse_commands(text)
    for command in parsed.commands:
        values = [] if command.args is None else [str(v) for v in vars(command.args).values()]
        for value in values:
            assert all(unicodedata.category(c)[0] != "C" for c in value)
            assert not any(c.isspace() for c in value)
            assert ".." not in value or isinstance(command.args, AssignArgs)
    normalised = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    assert normalised.endswith(parsed.body)


def test_module_is_pure() -> None:
    tree = ast.parse(Path(commands_module.__file__).read_text(encoding="utf-8"))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    }
    assert imported <= {"__future__", "re", "unicodedata", "dataclasses", "enum", "typing"}
