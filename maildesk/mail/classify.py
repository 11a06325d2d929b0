"""PURE: is this mail from a person, or from a robot the daemon must never answer?

The rules come from RFC 3834 (automatic responses), RFC 3464 (delivery status
notifications), RFC 5965 (ARF feedback reports), RFC 8098 (read receipts) and the
loop guards mail systems add. The first rule that matches decides, in this order:

1. LOOP (ours): ``X-Maildesk-Loop``, ``X-Loop`` equal to our marker or to a queue
   address, or mail whose From or reverse-path is one of our queue addresses. First,
   because answering our own mail is the loop this module exists to prevent.
2. BOUNCE: a DSN (``report-type=delivery-status`` or a ``message/delivery-status``
   part), ``X-Failed-Recipients``, an Exchange NDR, a MAILER-DAEMON sender, or a
   bounce-like subject from postmaster, a null reverse-path or a robot.
3. COMPLAINT: an ARF feedback report. Below BOUNCE, as asked, though the two never meet.
4. LOOP (foreign): any other ``X-Loop``. It ranks below BOUNCE and COMPLAINT only
   because those name the report more precisely (AOL's feedback loop sets
   ``X-Loop: scomp``); it is still a loop guard we honour.
5. OUT_OF_OFFICE: an out-of-office subject (see ``_OOO_STRONG``/``_OOO_WEAK``).
6. AUTO_REPLY: ``Auto-Submitted`` other than ``no``, ``X-Autoreply`` and kin,
   ``Precedence: junk|auto_reply``, Exchange-generated mail, read receipts and other
   ``multipart/report``, a null reverse-path.
7. LIST: RFC 2369/2919 list headers, ``Mailing-List``, ``Precedence: list|bulk``.
8. HUMAN: none of the above.

Only HUMAN may be answered automatically. HUMAN and LIST open tickets: a support
address is often itself a list or group (Google Groups, Mailman, Exchange
distribution lists put list headers on every requester's mail), and a request must
never be lost; such mail is registered but not acknowledged, since RFC 3834 forbids
answering list traffic. Everything else is recorded by the caller but opens no ticket.

Two headers are deliberately *not* evidence on their own, because public help-desk
projects (GLPI #2170, osTicket #726, Redmine #19558) lost people's mail to them:
``X-Auto-Response-Suppress`` asks *us* not to auto-respond and Exchange adds it to
mail expanded from distribution lists; ``X-MS-Exchange-Inbox-Rules-Loop`` marks mail an
inbox rule forwarded as well as mail a rule generated. They only show up in the
reason of a HUMAN verdict. Real Exchange responders also send ``Auto-Submitted``, an
"Automatic reply:" subject or a null reverse-path, and our acknowledgement carries
``Auto-Submitted``, so an Exchange responder will not answer it back.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from email.utils import getaddresses
from enum import Enum

from maildesk.mail.parsed import ParsedMail


class MailKind(Enum):
    HUMAN = "human"
    AUTO_REPLY = "auto_reply"
    OUT_OF_OFFICE = "out_of_office"
    BOUNCE = "bounce"
    COMPLAINT = "complaint"  # an ARF feedback report: someone marked our mail as spam
    LIST = "list"
    LOOP = "loop"


_OPENS_TICKET = frozenset({MailKind.HUMAN, MailKind.LIST})


@dataclass(frozen=True)
class Classification:
    kind: MailKind
    reason: str  # short, for the log: which header or pattern decided

    @property
    def may_answer(self) -> bool:
        """Whether the daemon may send an automatic acknowledgement."""
        return self.kind is MailKind.HUMAN

    @property
    def may_open_ticket(self) -> bool:
        """Whether the message may open (or add to) a ticket; see the module docstring."""
        return self.kind in _OPENS_TICKET


def classify(
    mail: ParsedMail,
    *,
    envelope_sender: str | None,
    own_addresses: Collection[str],
    loop_marker: str = "maildesk",
) -> Classification:
    """Decide what kind of sender wrote ``mail``; the module docstring gives the order.

    ``envelope_sender`` is the SMTP MAIL FROM: "" is the null reverse-path <>, None means
    unknown (IMAP), in which case the ``Return-Path`` header stands in for it.
    ``own_addresses`` are our queue addresses; "info@*" means that local part anywhere.

    >>> from maildesk.mail.parsed import Address
    >>> mail = ParsedMail("id@x", "Automatic reply: Hello", Address("ana@example.org"),
    ...     (), (), (), (), (), None, "", "", (), (("auto-submitted", "auto-replied"),),
    ...     "text/plain")
    >>> classify(mail, envelope_sender="", own_addresses={"info@*"}).kind
    <MailKind.OUT_OF_OFFICE: 'out_of_office'>
    """
    facts = _Facts(mail, envelope_sender, own_addresses, loop_marker)
    for kind, rule in _RULES:
        reason = rule(facts)
        if reason:
            return Classification(kind, reason)
    weak = _weak_auto(facts)
    return Classification(
        MailKind.HUMAN, f"no automation signal ({weak} alone)" if weak else "no automation signal"
    )


# --- what the rules look at -------------------------------------------------------

_DAEMON_LOCAL = re.compile(r"mailer[-_]?daemon|mail-daemon|microsoftexchange[0-9a-f]{32}")
_REPORT_TYPE = re.compile(r"""report-type\s*=\s*"?\s*([\w.-]+)""", re.IGNORECASE)
_BRACKET_TAGS = re.compile(r"^(?:\s*\[[^\]]*\])+")


class _Facts:
    """Values several rules need, computed once per message."""

    def __init__(
        self,
        mail: ParsedMail,
        envelope_sender: str | None,
        own_addresses: Collection[str],
        loop_marker: str,
    ) -> None:
        self.mail = mail
        self.own = frozenset(a.strip().lower() for a in own_addresses)
        self.loop_marker = loop_marker.strip().lower()
        if envelope_sender is None:
            # IMAP gives no envelope; the delivering MTA records MAIL FROM in Return-Path.
            paths = mail.header_all("return-path")
            envelope_sender = paths[0] if paths else None
        self.reverse_path = None if envelope_sender is None else _bare(envelope_sender)
        self.null_path = self.reverse_path == ""
        self.from_locals = _from_locals(mail)
        if self.reverse_path:
            self.from_locals.add(_local(self.reverse_path))
        match = _REPORT_TYPE.search(mail.header("content-type") or mail.content_type)
        self.report_type = match.group(1).lower() if match else ""
        self.part_types = {mail.content_type.split(";")[0].strip().lower()} | {
            a.content_type.split(";")[0].strip().lower() for a in mail.attachments
        }
        # Responders put their tag before the original subject ("Automatic reply: Re: x");
        # a person replying puts "Re:" first. So patterns are anchored at the very start,
        # after tags a gateway may prepend ("[EXTERNAL]"), and reply prefixes are not skipped.
        self.subject = _BRACKET_TAGS.sub("", " ".join(mail.subject.split())).strip()
        self.strong_auto = _strong_auto(self)

    def has(self, name: str) -> bool:
        return bool(self.mail.header_all(name))

    def value(self, name: str) -> str:
        return " ".join(self.mail.header(name).split())


def _bare(address: str) -> str:
    return address.strip().strip("<>").strip().lower()


def _local(address: str) -> str:
    return address.rpartition("@")[0] if "@" in address else address


def _from_locals(mail: ParsedMail) -> set[str]:
    found = {_local(mail.sender.email)} if mail.sender else set()
    # "From: MAILER-DAEMON" (no domain) or "From: MAILER-DAEMON <>" yields no usable sender.
    for name, address in getaddresses(mail.header_all("from")):
        found.add(_local((address or name).strip().lower()))
    return found


def _show(value: str) -> str:
    """A header value fit for one log line: no control characters, bounded length."""
    value = " ".join("".join(c if c.isprintable() else " " for c in value).split())
    return value if len(value) <= 60 else value[:57] + "..."


def _is_own(address: str, own: frozenset[str]) -> bool:
    address = _bare(address)
    local, _, domain = address.rpartition("@")
    if not local:
        return False
    base = local.split("+", 1)[0]  # info+ticket-7@ is the info@ mailbox
    return address in own or f"{base}@{domain}" in own or f"{local}@*" in own or f"{base}@*" in own


# --- the rules, in order ----------------------------------------------------------


def _own_loop(facts: _Facts) -> str:
    mail, own = facts.mail, facts.own
    if facts.has("x-maildesk-loop"):
        return f"X-Maildesk-Loop: {_show(mail.header('x-maildesk-loop'))}"
    for value in mail.header_all("x-loop"):
        if _bare(value) == facts.loop_marker or _is_own(value, own):
            return f"X-Loop: {_show(value)}"
    if mail.sender and _is_own(mail.sender.email, own):
        return f"From our own address {_show(mail.sender.email)}"
    if facts.reverse_path and _is_own(facts.reverse_path, own):
        return f"reverse-path is our own address {_show(facts.reverse_path)}"
    return ""


def _bounce(facts: _Facts) -> str:
    if facts.report_type == "delivery-status":
        return "multipart/report; report-type=delivery-status"
    for part in ("message/delivery-status", "message/global-delivery-status"):
        if part in facts.part_types:
            return f"{part} part"
    for header in ("x-failed-recipients", "x-ms-exchange-message-is-ndr"):
        if facts.has(header):
            return f"{header} header"
    daemon = next((lp for lp in sorted(facts.from_locals) if _DAEMON_LOCAL.fullmatch(lp)), "")
    if daemon:
        return f"sender {_show(daemon)}"
    if not _BOUNCE_SUBJECT.search(facts.subject):
        return ""
    if facts.null_path:
        why = "null reverse-path"
    elif "postmaster" in facts.from_locals:
        why = "sender postmaster"
    else:
        why = facts.strong_auto
    return f"bounce subject {_show(facts.subject)!r} and {why}" if why else ""


def _complaint(facts: _Facts) -> str:
    if facts.report_type == "feedback-report" or "message/feedback-report" in facts.part_types:
        return "ARF report-type=feedback-report"
    return ""


def _foreign_loop(facts: _Facts) -> str:
    value = facts.mail.header("x-loop")
    return f"X-Loop: {_show(value)} (another system's loop guard)" if facts.has("x-loop") else ""


def _out_of_office(facts: _Facts) -> str:
    if _OOO_STRONG.match(facts.subject):
        return f"out-of-office subject {_show(facts.subject)!r}"
    if _OOO_WEAK.match(facts.subject):
        why = facts.strong_auto or ("null reverse-path" if facts.null_path else "")
        if why:
            return f"out-of-office subject {_show(facts.subject)!r} and {why}"
    return ""


def _auto_reply(facts: _Facts) -> str:
    if facts.strong_auto:
        return facts.strong_auto
    if facts.report_type == "disposition-notification" or (
        "message/disposition-notification" in facts.part_types
    ):
        return "read receipt (report-type=disposition-notification)"
    if "multipart/report" in facts.part_types:
        return f"multipart/report; report-type={_show(facts.report_type) or '(none)'}"
    if facts.null_path:
        return "null reverse-path (RFC 3834: never answer <>)"
    # A postmaster sender alone proves nothing: people run those mailboxes too, and a
    # postmaster's human complaint deserves a ticket. With a bounce subject it is BOUNCE.
    return ""


_LIST_HEADERS = (
    "list-id",
    "list-post",
    "list-unsubscribe",
    "list-subscribe",
    "list-help",
    "list-owner",
    "list-archive",
    "mailing-list",
)


def _mailing_list(facts: _Facts) -> str:
    for header in _LIST_HEADERS:
        if facts.has(header):
            return f"{header}: {_show(facts.mail.header(header))}"
    precedence = _token(facts.value("precedence"))
    # "bulk" is mass mail (newsletters, Mailman); registering it costs an agent a click,
    # while calling it an auto-reply would drop a list-borne request for good.
    if precedence in {"list", "bulk"}:
        return f"Precedence: {precedence}"
    return ""


# The order is the policy: see the module docstring.
_RULES: tuple[tuple[MailKind, Callable[[_Facts], str]], ...] = (
    (MailKind.LOOP, _own_loop),
    (MailKind.BOUNCE, _bounce),
    (MailKind.COMPLAINT, _complaint),
    (MailKind.LOOP, _foreign_loop),
    (MailKind.OUT_OF_OFFICE, _out_of_office),
    (MailKind.AUTO_REPLY, _auto_reply),
    (MailKind.LIST, _mailing_list),
)


# --- signals ----------------------------------------------------------------------

# The last is Exchange saying it made the message itself: OOF, journal, rule notice.
_AUTO_HEADERS = (
    "x-autoreply",
    "x-autorespond",
    "x-autogenerated",
    "x-autoreply-from",
    "x-mail-autoreply",
    "x-ms-exchange-generated-message-source",
)


def _token(value: str) -> str:
    """The first word of a structured value: "auto-replied; x=1" -> "auto-replied"."""
    return re.split(r"[\s;(,]", value.strip().lower(), maxsplit=1)[0]


def _strong_auto(facts: _Facts) -> str:
    """The first header by which a robot declares itself, or ""."""
    submitted = facts.value("auto-submitted")
    if _token(submitted) not in {"", "no"}:
        return f"Auto-Submitted: {_show(submitted)}"
    for header in _AUTO_HEADERS:
        if facts.has(header) and _token(facts.value(header)) not in {"no", "false", "0"}:
            return f"{header}: {_show(facts.value(header))}"
    precedence = _token(facts.value("precedence"))
    if precedence in {"junk", "auto_reply", "auto-reply"}:
        return f"Precedence: {precedence}"
    return ""


def _weak_auto(facts: _Facts) -> str:
    """A header that hints at Exchange automation but proves nothing (module docstring)."""
    suppress = _token(facts.value("x-auto-response-suppress"))
    if suppress not in {"", "none"}:
        return "X-Auto-Response-Suppress"
    if facts.has("x-ms-exchange-inbox-rules-loop"):
        return "X-MS-Exchange-Inbox-Rules-Loop"
    return ""


# Where a leading tag ends: "Out of Office: x", "Out of office", "Autoreply - x".
_END = r"\s*(?:[:\-\u2013\u2014|(]|$)"

# Enough alone: the phrase, as a leading tag, is what responders write and people don't.
_OOO_STRONG = re.compile(
    r"(?:auto(?:matic)?[\s_-]*(?:reply|replied|respon(?:se|der|s)|answer)"
    r"|out[\s-]+of[\s-]+(?:the\s+)?office(?:\s+(?:auto[\s-]*reply|reply|notice|notification"
    r"|message|response))?"
    r"|vacation\s+(?:auto[\s-]*)?(?:reply|response|notice|message)"
    r"|respuesta\s+autom[aá]tica|mensaje\s+autom[aá]tico|fuera\s+de\s+(?:la\s+)?oficina"
    r"|r[ée]ponse\s+automatique|absen(?:ce|t)\s+du\s+bureau|message\s+d'absence"
    r"|abwesenheitsnotiz|automatische\s+antwort|resposta\s+autom[aá]tica"
    r"|risposta\s+automatica|automatisch\s+antwoord)" + _END,
    re.IGNORECASE,
)

# Only with a robot's own header or a null reverse-path beside them: a person may well
# write "Vacation request" or "Absence: Juan Pérez, 3 March" to a service desk, and may
# do so through an Exchange list that adds X-Auto-Response-Suppress.
_OOO_WEAK = re.compile(
    r"(?:out\s+of\s+(?:the\s+)?office|(?:on\s+)?vacation|holiday|away|absen(?:ce|t)"
    r"|ausen(?:te|cia)|fuera\s+de|de\s+vacaciones|vacaciones|abwesen|afwezig|congés"
    r"|i(?:'|\u2019|\s+a)m\s+(?:currently\s+)?(?:out|away|on\s+leave))\b",
    re.IGNORECASE,
)

# Searched anywhere, but only ever trusted together with another sign of a robot.
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|returned\s+(?:mail|to\s+sender)|returning\s+message"
    r"|delivery\s+(?:status|fail|notification|problem|report|delayed|has\s+failed)"
    r"|mail\s+delivery|failure\s+notice|failed\s+delivery|could\s+not\s+(?:be\s+)?(?:send|sent"
    r"|deliver)|delayed\s+mail|message\s+(?:\S+\s+)?delayed|bounce|mail\s+system\s+error"
    r"|no\s+se\s+(?:puede|pudo)\s+entregar|no\s+entregad|entrega\s+fallida|devuelto"
    r"|non\s+recapitabile|unzustellbar|non\s+remis|não\s+(?:foi\s+)?entregue|onbestelbaar"
    r"|недоставлен|не\s+доставлен",
    re.IGNORECASE,
)
