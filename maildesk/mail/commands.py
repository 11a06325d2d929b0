"""Agent commands at the top of a reply: ``#close``, ``#assign ana``, ``#pending 3`` …

PURE: text in, plain data out. An agent steers a ticket from any mail client by putting
commands, each alone on its line, before the reply text:

    #assign secretaria
    #priority high

    Dear Ana, your certificate is on its way.

Commands are only read from the leading block of lines that start with ``#`` and a
letter (blank lines may separate them); the first other line starts the reply text, so
"#1 priority for us is…" or a ``#word`` further down is prose. Every argument is
validated here, because it later becomes a lookup key (agent, group, macro, category)
or a ticket number: nothing that could name a path, a header or a second line gets
through. A command that fails validation is reported, never half-executed.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeAlias

__all__ = [
    "AssignArgs",
    "CategoryArgs",
    "Command",
    "CommandArgs",
    "CommandError",
    "CommandName",
    "MacroArgs",
    "MergeArgs",
    "ParsedCommands",
    "PendingArgs",
    "Priority",
    "PriorityArgs",
    "Refusal",
    "parse_commands",
]


class CommandName(StrEnum):
    """Canonical (English) command names; Spanish aliases map onto these."""

    NOTE = "note"
    CLOSE = "close"
    RESOLVE = "resolve"
    PENDING = "pending"
    ASSIGN = "assign"
    CANCEL = "cancel"
    PRIORITY = "priority"
    CATEGORY = "category"
    MACRO = "macro"
    MERGE = "merge"


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


@dataclass(frozen=True)
class PendingArgs:
    days: int | None  # None: the queue's default reminder delay


@dataclass(frozen=True)
class AssignArgs:
    target: str  # an agent's address or name, or a group name, as written


@dataclass(frozen=True)
class PriorityArgs:
    priority: Priority


@dataclass(frozen=True)
class CategoryArgs:
    name: str  # lower-case, [a-z0-9][a-z0-9_-]{0,63}


@dataclass(frozen=True)
class MacroArgs:
    name: str  # lower-case, [a-z0-9][a-z0-9_-]{0,63}


@dataclass(frozen=True)
class MergeArgs:
    number: int
    tag: str | None  # "INFO" in "INFO#42"; None when only the number was given


CommandArgs: TypeAlias = (
    PendingArgs | AssignArgs | PriorityArgs | CategoryArgs | MacroArgs | MergeArgs | None
)


@dataclass(frozen=True)
class Command:
    name: CommandName
    args: CommandArgs = None  # None for #note, #close, #resolve and #cancel


class Refusal(StrEnum):
    """Why a command is not run. The words people read are in the templates
    (``refusal.txt.j2``, one text per code and language); here the reason is data."""

    UNKNOWN_COMMAND = "unknown_command"  # word
    CONTROL_CHARACTERS = "control_characters"  # command
    SPACE_BEFORE_ARGUMENT = "space_before_argument"  # command
    TAKES_NO_ARGUMENT = "takes_no_argument"  # command
    NEEDS_ARGUMENT = "needs_argument"  # command
    SINGLE_ARGUMENT = "single_argument"  # command
    ASSIGN_TARGET = "assign_target"
    PRIORITY_VALUE = "priority_value"
    NAME_FORMAT = "name_format"  # command
    PENDING_DAYS = "pending_days"
    PENDING_RANGE = "pending_range"  # most
    MERGE_FORMAT = "merge_format"
    MERGE_POSITIVE = "merge_positive"
    REPEATED = "repeated"  # command
    CONTRADICTS = "contradicts"  # command, earlier
    # decided with the configuration (agents/directory.py)
    COORDINATORS_ONLY = "coordinators_only"
    NO_SUCH_TARGET = "no_such_target"  # target
    UNKNOWN_CATEGORY = "unknown_category"  # name, known (a list)
    MERGE_ITSELF = "merge_itself"
    # decided with the store (agents/actions.py)
    NO_MACRO = "no_macro"  # name
    MACRO_BROKEN = "macro_broken"  # name, error
    NO_TICKET = "no_ticket"  # number
    MERGED_ELSEWHERE = "merged_elsewhere"  # number, into
    WRONG_TAG = "wrong_tag"  # number, tag, given
    ANONYMOUS_MERGE = "anonymous_merge"  # number, into


@dataclass(frozen=True)
class CommandError:
    line: str  # the offending line, safe to quote back: no control characters, bounded
    code: Refusal
    values: dict[str, object] = field(default_factory=dict)  # what the text names


@dataclass(frozen=True)
class ParsedCommands:
    commands: tuple[Command, ...]
    errors: tuple[CommandError, ...]
    body: str  # the reply without the command lines, LF line endings, no leading blanks


_ALIASES: dict[str, CommandName] = {
    "note": CommandName.NOTE,
    "nota": CommandName.NOTE,
    "close": CommandName.CLOSE,
    "cerrar": CommandName.CLOSE,
    "resolve": CommandName.RESOLVE,
    "resolver": CommandName.RESOLVE,
    "pending": CommandName.PENDING,
    "pendiente": CommandName.PENDING,
    "assign": CommandName.ASSIGN,
    "asignar": CommandName.ASSIGN,
    "cancel": CommandName.CANCEL,
    "cancelar": CommandName.CANCEL,
    "priority": CommandName.PRIORITY,
    "prioridad": CommandName.PRIORITY,
    "category": CommandName.CATEGORY,
    "categoria": CommandName.CATEGORY,
    "categoría": CommandName.CATEGORY,
    "macro": CommandName.MACRO,
    "plantilla": CommandName.MACRO,
    "merge": CommandName.MERGE,
    "fusionar": CommandName.MERGE,
}

_PRIORITIES: dict[str, Priority] = {
    "low": Priority.LOW,
    "baja": Priority.LOW,
    "normal": Priority.NORMAL,
    "high": Priority.HIGH,
    "alta": Priority.HIGH,
    "urgent": Priority.URGENT,
    "urgente": Priority.URGENT,
}

# Each moves the ticket to another state; two of them in one reply contradict each other.
_STATE_CHANGES = frozenset(
    {CommandName.CLOSE, CommandName.RESOLVE, CommandName.PENDING, CommandName.CANCEL}
)

# '#' then a letter: "#1 priority…" and "# Heading" are text, not commands.
_COMMAND_LINE = re.compile(r"#(\S*)(.*)", re.DOTALL)
_WORD = re.compile(r"[^\W\d_]+")
_DAYS = re.compile(r"([0-9]{1,6})\s?(?:d|days?|días?|dias?)?", re.IGNORECASE)
_PENDING_MAX_DAYS = 365
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_TARGET = re.compile(r"[A-Za-z0-9._@+-]{1,100}")
_MERGE = re.compile(r"\[?(?:([A-Za-z][A-Za-z0-9_-]{0,31})?#)?([0-9]{1,12})\]?")
_QUOTE_LIMIT = 200  # how much of a bad line is kept to quote back to the agent


class _Invalid(Exception):
    """An argument failed validation: the refusal and what its text names."""

    def __init__(self, code: Refusal, **values: object) -> None:
        super().__init__(code.value)
        self.code = code
        self.values = values


def parse_commands(text: str) -> ParsedCommands:
    """Split an agent's reply into validated commands, errors and the reply text.

    Line endings are normalised to LF (a lone CR counts as a line break, so no argument
    can ever hold one). Only the first of two state changes (#close, #resolve,
    #pending, #cancel) and the first of a repeated command are kept; the others are
    reported as errors.

    >>> parse_commands("#pendiente 3\\r\\n\\r\\nQuedo atenta.")
    ParsedCommands(commands=(Command(name=<CommandName.PENDING: 'pending'>, \
args=PendingArgs(days=3)),), errors=(), body='Quedo atenta.')
    """
    lines = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    commands: list[Command] = []
    errors: list[CommandError] = []
    index = 0
    while index < len(lines):
        stripped = lines[index].strip()
        if not stripped:
            index += 1
            continue
        match = _COMMAND_LINE.fullmatch(stripped)
        # NFC for the command word only: a Mac may send "categoría" with a combining
        # accent. Arguments are validated exactly as typed (NFC would turn KELVIN SIGN
        # into "K", for one).
        head = unicodedata.normalize("NFC", match.group(1)) if match else ""
        word = _WORD.match(head)
        if match is None or word is None:
            break
        index += 1
        try:
            command = _parse_one(word.group(), head[word.end() :] + match.group(2))
            _check_combination(command, commands)
        except _Invalid as exc:
            errors.append(CommandError(_quotable(stripped), exc.code, exc.values))
            continue
        commands.append(command)
    body = "\n".join(lines[index:])
    return ParsedCommands(commands=tuple(commands), errors=tuple(errors), body=body)


def _parse_one(word: str, rest: str) -> Command:
    name = _ALIASES.get(word.casefold())
    if name is None:
        raise _Invalid(Refusal.UNKNOWN_COMMAND, word=word)
    if _has_control(rest):
        raise _Invalid(Refusal.CONTROL_CHARACTERS, command=name.value)
    if rest and not rest[0].isspace():
        raise _Invalid(Refusal.SPACE_BEFORE_ARGUMENT, command=name.value)
    argument = rest.strip()
    if name in (CommandName.NOTE, CommandName.CLOSE, CommandName.RESOLVE, CommandName.CANCEL):
        if argument:
            raise _Invalid(Refusal.TAKES_NO_ARGUMENT, command=name.value)
        return Command(name)
    if name is CommandName.PENDING:
        return Command(name, PendingArgs(_days(argument)))
    if not argument:
        raise _Invalid(Refusal.NEEDS_ARGUMENT, command=name.value)
    if len(argument.split()) > 1:
        raise _Invalid(Refusal.SINGLE_ARGUMENT, command=name.value)
    if name is CommandName.ASSIGN:
        if _TARGET.fullmatch(argument) is None:
            raise _Invalid(Refusal.ASSIGN_TARGET)
        return Command(name, AssignArgs(argument))
    if name is CommandName.PRIORITY:
        priority = _PRIORITIES.get(argument.casefold())
        if priority is None:
            raise _Invalid(Refusal.PRIORITY_VALUE)
        return Command(name, PriorityArgs(priority))
    if name is CommandName.CATEGORY:
        return Command(name, CategoryArgs(_name(name, argument)))
    if name is CommandName.MACRO:
        return Command(name, MacroArgs(_name(name, argument)))
    return Command(name, _merge(argument))


def _days(argument: str) -> int | None:
    if not argument:
        return None
    match = _DAYS.fullmatch(argument)
    if match is None:
        raise _Invalid(Refusal.PENDING_DAYS)
    days = int(match.group(1))
    if not 1 <= days <= _PENDING_MAX_DAYS:
        raise _Invalid(Refusal.PENDING_RANGE, most=_PENDING_MAX_DAYS)
    return days


def _name(command: CommandName, argument: str) -> str:
    # ASCII is checked before lower-casing: some non-ASCII letters lower-case to ASCII
    # (KELVIN SIGN -> "k"), and a name that only matches after that is not what was typed.
    lowered = argument.lower()
    if not argument.isascii() or _NAME.fullmatch(lowered) is None:
        raise _Invalid(Refusal.NAME_FORMAT, command=command.value)
    return lowered


def _merge(argument: str) -> MergeArgs:
    match = _MERGE.fullmatch(argument)
    if match is None or (argument.startswith("[") != argument.endswith("]")):
        raise _Invalid(Refusal.MERGE_FORMAT)
    number = int(match.group(2))
    if number < 1:
        raise _Invalid(Refusal.MERGE_POSITIVE)
    return MergeArgs(number=number, tag=match.group(1))


def _check_combination(command: Command, accepted: list[Command]) -> None:
    for earlier in accepted:
        if earlier.name is command.name:
            raise _Invalid(Refusal.REPEATED, command=command.name.value)
        if command.name in _STATE_CHANGES and earlier.name in _STATE_CHANGES:
            raise _Invalid(
                Refusal.CONTRADICTS, command=command.name.value, earlier=earlier.name.value
            )


def _has_control(value: str) -> bool:
    # Tabs are ordinary spacing; everything else in C* (controls, format characters such
    # as bidi overrides) and the Unicode line/paragraph separators is refused.
    return any(
        char != "\t" and unicodedata.category(char) in {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
        for char in value
    )


def _quotable(line: str) -> str:
    cleaned = "".join("\ufffd" if _has_control(char) else char for char in line)
    if len(cleaned) > _QUOTE_LIMIT:
        return cleaned[: _QUOTE_LIMIT - 1] + "\u2026"
    return cleaned
