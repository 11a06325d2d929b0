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
from maildesk.mailer import Mailer
from maildesk.store.store import Store
from maildesk.survey_store import Recorded, Surveyor
from maildesk.surveys import Answer, Token, parse_score, parse_yes_no, verify_token
from maildesk.templates import Templates
from maildesk.web import Request, Response, WebServer

log = logging.getLogger(__name__)

_HTML = "text/html; charset=utf-8"
_PAGE = "survey_page.html.j2"
_STATUS = {"malformed": HTTPStatus.BAD_REQUEST, "forged": HTTPStatus.FORBIDDEN}
_WAIT = 30.0  # seconds for the writer


class Desk(Protocol):
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
    def mailer(self) -> Mailer: ...

    def submit(self, func: Callable[..., Any], *args: Any) -> Future[Any]: ...

    def wake_sender(self) -> None: ...


def install(web: WebServer, desk: Desk) -> None:
    pages = _Pages(desk)
    web.route("GET", "/survey", pages.form)
    web.route("POST", "/survey", pages.answer)
    web.route("GET", "/survey/optout", pages.optout)
    web.route("POST", "/survey/optout", pages.optout)


class _Pages:
    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    def _surveyor(self) -> Surveyor:
        desk = self.desk
        return Surveyor(desk.config, desk.store, desk.mailer)

    def _run(self, func: Callable[..., Any], *args: Any) -> Any:
        return self.desk.submit(func, *args).result(_WAIT)

    def _render(self, status: int, language: str, context: Mapping[str, Any]) -> Response:
        body = self.desk.templates.render(
            _PAGE, language, {"organization": self.desk.config.organization, **context}
        )
        return Response(status, body.encode("utf-8"), _HTML)

    def _refused(self, request: Request, reason: str) -> Response:
        log.info("survey: refused a %s link from %s", reason, request.client)
        status = _STATUS.get(reason, HTTPStatus.GONE if reason == "expired" else 404)
        return self._render(
            status,
            _language(request, self.desk.config.language),
            {
                "mode": "error",
                "reason": reason,
            },
        )

    def _check(self, request: Request, fields: Mapping[str, list[str]]) -> tuple[Token, Any] | str:
        """The token and its survey row, or why they are refused."""
        token = (fields.get("t") or [""])[0]
        verified = verify_token(self.desk.secret, token, self.desk.clock.now())
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
        page = f"{self.desk.config.http.base_url}survey?t={row['token']}"
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
        recorded: Recorded = self._run(self._record, token.ticket, answer, self.desk.clock.now())
        self.desk.wake_sender()  # a reopened ticket's notice, a question why: out now
        return self._render(
            HTTPStatus.OK,
            row["language"],
            {**context, "mode": "thanks", "reopened": recorded.reopened},
        )

    def _record(self, number: int, answer: Answer, now: datetime) -> Recorded:
        with self.desk.store.transaction():
            return self._surveyor().record(number, answer, "web", now)

    def optout(self, request: Request) -> Response:
        fields = _form(request) if request.method == "POST" else request.query
        checked = self._check(request, fields)
        if isinstance(checked, str):
            return self._refused(request, checked)
        token, row = checked
        done = request.method == "POST"
        if done:
            self._run(self._opt_out, row["requester"], row["ticket"], self.desk.clock.now())
        return self._render(
            HTTPStatus.OK,
            row["language"],
            {**self._context(token, row), "mode": "optout", "done": done},
        )

    def _opt_out(self, address: str, number: int, now: datetime) -> None:
        with self.desk.store.transaction():
            self._surveyor().opt_out(address, now)
            self.desk.store.add_event(number, "survey-optout", address, now)


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
