"""The service catalogue and same-matter detection. PURE: configuration and text in.

Routing rules set a new ticket's category, group, priority and requester segment from
where the mail was sent, who sent it and what it says. Same-matter detection lets an
untagged second mail about the same thing join the open ticket instead of opening another.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from maildesk.config import address_matches
from maildesk.config.desk import RouteConfig
from maildesk.mail.thread import base_subject, strip_tags

_BODY_LIMIT = 20_000  # keywords are looked for near the top; a long thread adds nothing


@dataclass(frozen=True)
class Routing:
    category: str = ""
    group: str = ""
    priority: str = ""
    segment: str = ""


def normalise(text: str) -> str:
    """Lower case, no accents, words separated by single spaces: for comparing words.

    >>> normalise("  Inscripción:  AÑO 2027! ")
    'inscripcion ano 2027'
    """
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    kept = "".join(
        ch if ch.isalnum() else " " for ch in decomposed if not unicodedata.combining(ch)
    )
    return " ".join(kept.split())


def _has_any(text: str, phrases: Iterable[str]) -> bool:
    padded = f" {text} "
    return any(f" {p} " in padded for p in (normalise(p) for p in phrases) if p)


def route(
    rules: Sequence[RouteConfig],
    *,
    queue: str,
    recipients: Collection[str],
    sender: str,
    subject: str,
    body: str,
) -> Routing:
    """Apply ``rules`` in order: each field is set by the first matching rule that sets it.

    >>> rules = [RouteConfig(subject_keywords=("beca",), group="becas", priority="high"),
    ...          RouteConfig(sender_domains=("uni.example",), segment="staff", priority="low")]
    >>> route(rules, queue="info", recipients=["info@uni.example"], sender="ana@uni.example",
    ...       subject="RE: Solicitud de BECA", body="")
    Routing(category='', group='becas', priority='high', segment='staff')
    """
    domain = sender.rpartition("@")[2].lower()
    # Normalised only when a rule gets to its keywords: the body is most of the text, and
    # a site without keyword rules (or no rules at all) never needs it.
    subject_words: str | None = None
    body_words: str | None = None
    result = Routing()
    for rule in rules:
        if rule.queue and rule.queue != queue:
            continue
        if rule.recipients and not any(
            address_matches(p, r) for p in rule.recipients for r in recipients
        ):
            continue
        if rule.sender_domains and not any(
            domain == d or domain.endswith("." + d) for d in rule.sender_domains
        ):
            continue
        if rule.subject_keywords:
            subject_words = normalise(subject) if subject_words is None else subject_words
            if not _has_any(subject_words, rule.subject_keywords):
                continue
        if rule.body_keywords:
            body_words = normalise(body[:_BODY_LIMIT]) if body_words is None else body_words
            if not _has_any(body_words, rule.body_keywords):
                continue
        result = replace(
            result,
            category=result.category or rule.category,
            group=result.group or rule.group,
            priority=result.priority or rule.priority,
            segment=result.segment or rule.segment,
        )
    return result


def matter(subject: str, tags: Collection[str]) -> str:
    """What a subject is about, for comparing two requests: no tags, prefixes, case or accents.

    >>> matter("RE: [INFO#3] Certificado de  notas", {"INFO"}) == matter("certificado de NOTAS", {})
    True
    """
    return normalise(base_subject(strip_tags(subject, tags)))


def same_matter(
    candidates: Sequence[tuple[int, str, datetime]], subject: str, since: datetime
) -> int | None:
    """The most recently active candidate (number, its matter, last activity) about
    ``subject`` (a matter) and active at or after ``since``; None for an empty subject.

    >>> from datetime import UTC
    >>> t = datetime(2026, 11, 20, tzinfo=UTC)
    >>> same_matter([(3, "beca", t), (5, "beca", t)], "beca", t)
    5
    """
    if not subject:
        return None
    fitting = [(active, number) for number, key, active in candidates if key == subject]
    fitting = [(active, number) for active, number in fitting if active >= since]
    return max(fitting)[1] if fitting else None
