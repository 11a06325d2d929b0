"""The survey pages on the daemon's HTTP listener: GET and POST /survey, /survey/optout.

A link in the survey mail opens the form with the answer it names already chosen; the
answer is recorded when the form is sent (POST). Following a link changes nothing, so the
link scanners of mail gateways, which open every link of a mail, cannot answer for the
requester (nor reopen the ticket). Plain HTML, no JavaScript, in the requester's language.

Every store access runs on the single writer; a token is checked (signature, expiry, the
survey it names) before anything is read or recorded, and a refused token records nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from datetime import datetime
from http import HTTPStatus
from typing import Any, Protocol
from urllib.parse import parse_qs

from maildesk.clock import Clock
from maildesk.config import Config
from maildesk.service.web import Request, Response, WebServer
from maildesk.store.store import Store
from maildesk.surveys.replies import Answer, parse_score, parse_yes_no
from maildesk.surveys.rules import Token, verify_token
from maildesk.surveys.service import Recorded, Surveyor
from maildesk.templates import Templates

log = logging.getLogger(__name__)

_HTML = "text/html; charset=utf-8"
_PAGE = "survey_page.html.j2"
_STATUS = {"malformed": HTTPStatus.BAD_REQUEST, "forged": HTTPStatus.FORBIDDEN}
_WAIT = 30.0  # seconds for the writer


class Host(Protocol):
    """What the pages need from the daemon (read at each request: a reload applies)."""

    @property
    def config(self) -> Config: ...

    @property
    def store(self) -> Store: ...

    @property
    def templates(self) -> Templates: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def secret(self) -> bytes: ...

    @property
    def surveyor(self) -> Surveyor: ...

    def submit(self, func: Callable[..., Any], *args: Any) -> Future[Any]: ...

    def wake_sender(self) -> None: ...


def install(web: WebServer, host: Host) -> None:
    pages = _Pages(host)
    web.route("GET", "/survey", pages.form)
    web.route("POST", "/survey", pages.answer)
    web.route("GET", "/survey/optout", pages.optout)
    web.route("POST", "/survey/optout", pages.optout)


class _Pages:
    def __init__(self, host: Host) -> None:
        self.host = host

    def _surveyor(self) -> Surveyor:
        return self.host.surveyor  # the desk in force: a reload applies at the next request

    def _run(self, func: Callable[..., Any], *args: Any) -> Any:
        return self.host.submit(func, *args).result(_WAIT)

    def _render(self, status: int, language: str, context: Mapping[str, Any]) -> Response:
        body = self.host.templates.render(
            _PAGE, language, {"organization": self.host.config.organization, **context}
        )
        return Response(status, body.encode("utf-8"), _HTML)

    def _refused(self, request: Request, reason: str) -> Response:
        log.info("survey: refused a %s link from %s", reason, request.client)
        status = _STATUS.get(reason, HTTPStatus.GONE if reason == "expired" else 404)
        return self._render(
            status,
            _language(request, self.host.config.language),
            {
                "mode": "error",
                "reason": reason,
            },
        )

    def _check(self, request: Request, fields: Mapping[str, list[str]]) -> tuple[Token, Any] | str:
        """The token and its survey row, or why they are refused."""
        token = (fields.get("t") or [""])[0]
        verified = verify_token(self.host.secret, token, self.host.clock.now())
        if isinstance(verified, str):
            return verified
        row = self._run(self._find, verified)
        if row is None:
            return "unknown"
        return verified, {**row, "token": token.strip()}

    def _find(self, token: Token) -> Any:
        row = self._surveyor().find(token)
        return None if row is None else dict(row)

    def _context(self, token: Token, row: Mapping[str, Any]) -> dict[str, Any]:
        first, last = (int(x) for x in row["scale"].split("-"))
        page = f"{self.host.config.http.base_url}survey?t={row['token']}"
        return {
            "token": row["token"],
            "page": page,
            "ref": self._surveyor().ref(row["ticket"], row["queue"]),
            "subject": row["subject"],
            "scores": list(range(first, last + 1)),
            "requester": row["requester"],
        }

    # -- routes ---------------------------------------------------------------------------

    def form(self, request: Request) -> Response:
        checked = self._check(request, request.query)
        if isinstance(checked, str):
            return self._refused(request, checked)
        token, row = checked
        context = self._context(token, row)
        chosen = _answer(request.query, context["scores"])
        return self._render(
            HTTPStatus.OK,
            row["language"],
            {
                **context,
                "mode": "form",
                "problem": False,
                "answered": row["answered_at"] is not None,
                "solved": _pick(chosen.solved, row["solved"]),
                "score": chosen.score if chosen.score is not None else row["score"],
                "comment": row["comment"],
                "recommend": _pick(chosen.recommend, row["recommend"]),
            },
        )

    def answer(self, request: Request) -> Response:
        fields = _form(request)
        checked = self._check(request, fields)
        if isinstance(checked, str):
            return self._refused(request, checked)
        token, row = checked
        context = self._context(token, row)
        answer = _answer(fields, context["scores"])
        if answer.empty and answer.recommend is None:
            return self._render(
                HTTPStatus.UNPROCESSABLE_ENTITY,
                row["language"],
                {
                    **context,
                    "mode": "form",
                    "problem": True,
                    "answered": row["answered_at"] is not None,
                    "solved": None,
                    "score": None,
                    "comment": "",
                    "recommend": None,
                },
            )
        recorded: Recorded = self._run(self._record, token.ticket, answer, self.host.clock.now())
        self.host.wake_sender()  # a reopened ticket's notice, a question why: out now
        return self._render(
            HTTPStatus.OK,
            row["language"],
            {**context, "mode": "thanks", "reopened": recorded.reopened},
        )

    def _record(self, number: int, answer: Answer, now: datetime) -> Recorded:
        with self.host.store.transaction():
            return self._surveyor().record(number, answer, "web", now)

    def optout(self, request: Request) -> Response:
        fields = _form(request) if request.method == "POST" else request.query
        checked = self._check(request, fields)
        if isinstance(checked, str):
            return self._refused(request, checked)
        token, row = checked
        done = request.method == "POST"
        if done:
            self._run(self._opt_out, row["requester"], row["ticket"], self.host.clock.now())
        return self._render(
            HTTPStatus.OK,
            row["language"],
            {**self._context(token, row), "mode": "optout", "done": done},
        )

    def _opt_out(self, address: str, number: int, now: datetime) -> None:
        with self.host.store.transaction():
            self._surveyor().opt_out(address, now)
            self.host.store.add_event(number, "survey-optout", address, now)


def _form(request: Request) -> dict[str, list[str]]:
    text = request.body.decode("utf-8", "replace")
    return parse_qs(text, keep_blank_values=True, max_num_fields=20)


def _answer(fields: Mapping[str, list[str]], scores: list[int]) -> Answer:
    def one(name: str) -> str:
        return (fields.get(name) or [""])[0]

    return Answer(
        solved=parse_yes_no(one("solved")),
        score=parse_score(one("score"), range(scores[0], scores[-1] + 1)),
        comment=one("comment").strip()[:4000],
        recommend=parse_yes_no(one("recommend")),
    )


def _pick(chosen: bool | None, stored: int | None) -> bool | None:
    if chosen is not None:
        return chosen
    return None if stored is None else bool(stored)


def _language(request: Request, default: str) -> str:
    """The first of es and en that the browser asks for; else the desk's language."""
    for part in request.headers.get("accept-language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in ("es", "en"):
            return code
    return default
