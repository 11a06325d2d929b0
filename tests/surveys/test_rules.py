"""Survey tokens and answers: pure functions, tables of cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from maildesk.config.surveys import SurveysConfig
from maildesk.mail.thread import sign_message_id
from maildesk.surveys.rules import (
    Answer,
    Token,
    parse_reply,
    parse_score,
    parse_yes_no,
    sign_token,
    survey_replied,
    verify_token,
)

SECRET = b"survey-unit-secret-0123456789"
NOW = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=30)
FIVE = range(1, 6)
TEN = range(0, 11)


def test_a_token_verifies_until_it_expires() -> None:
    token = sign_token(SECRET, 42, LATER, "0123abcd")
    assert verify_token(SECRET, token, NOW) == Token(42, LATER, "0123abcd")
    assert verify_token(SECRET, token, LATER - timedelta(seconds=1)) == Token(42, LATER, "0123abcd")
    assert verify_token(SECRET, token, LATER) == "expired"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda t: t.replace("42.", "43.", 1), "forged"),  # another ticket
        (lambda t: t.replace(".0123abcd.", ".0123abce."), "forged"),  # another survey
        (
            lambda t: (
                t.split(".")[0]
                + "."
                + str(int(t.split(".")[1]) + 86400)
                + "."
                + ".".join(t.split(".")[2:])
            ),
            "forged",
        ),
        (lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"), "forged"),
        (lambda t: t[:-2], "malformed"),
        (lambda t: "", "malformed"),
        (lambda t: t + ".x", "malformed"),
        (lambda t: "<script>alert(1)</script>", "malformed"),
    ],
)
def test_an_altered_token_is_refused(change: object, reason: str) -> None:
    token = sign_token(SECRET, 42, LATER, "0123abcd")
    assert callable(change)
    assert verify_token(SECRET, change(token), NOW) == reason


def test_a_token_signed_with_another_secret_is_forged() -> None:
    token = sign_token(b"another-secret-0123456789", 42, LATER, "0123abcd")
    assert verify_token(SECRET, token, NOW) == "forged"


def test_a_token_is_not_a_message_id_signature() -> None:
    # Same secret, but a distinct context: neither can stand for the other.
    message_id = sign_message_id(SECRET, 42, "s", "0123abcd", "uni.example")
    mac = message_id.split("@")[0].split(".")[-1]
    assert verify_token(SECRET, f"42.{int(LATER.timestamp())}.0123abcd.{mac}", NOW) != Token(
        42, LATER, "0123abcd"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sí", True),
        ("Si", True),
        ("SÍ.", True),
        ("yes!", True),
        ("Resuelto", True),
        ("no", False),
        ("No.", False),
        ("no se resolvió", False),
        ("No se resolvio", False),
        ("not solved", False),
        ("gracias", None),
        ("", None),
        ("no sé", None),
    ],
)
def test_yes_and_no(text: str, expected: bool | None) -> None:
    assert parse_yes_no(text) is expected


@pytest.mark.parametrize(
    ("lines", "scores", "expected"),
    [
        (["5"], FIVE, Answer(score=5)),
        (["", "  4  ", "bien"], FIVE, Answer(score=4, comment="bien")),
        (["5/5"], FIVE, Answer(score=5)),
        (["4 de 5"], FIVE, Answer(score=4)),
        (["3 - regular"], FIVE, Answer(score=3)),
        (["10"], TEN, Answer(score=10)),
        (["0"], TEN, Answer(score=0)),
        (["0"], FIVE, None),
        (["9"], FIVE, None),
        (["sí"], FIVE, Answer(solved=True)),
        (
            ["no se resolvió", "sigo sin certificado"],
            FIVE,
            Answer(False, None, "sigo sin certificado"),
        ),
        (["Sí, 5"], FIVE, Answer(solved=True, score=5)),
        (["no, 2"], FIVE, Answer(solved=False, score=2)),
        (["Gracias por todo"], FIVE, None),
        (["2026 fue un buen año"], FIVE, None),
        ([], FIVE, None),
        (["", ""], FIVE, None),
    ],
)
def test_a_reply_by_mail(lines: list[str], scores: range, expected: Answer | None) -> None:
    assert parse_reply(lines, scores) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("4", 4), ("1", 1), ("0", None), ("6", None), ("x", None), ("", None), ("-1", None)],
)
def test_a_score_from_the_form(text: str, expected: int | None) -> None:
    assert parse_score(text, FIVE) == expected


def test_a_second_answer_keeps_what_it_leaves_out() -> None:
    first = Answer(solved=False, score=2, comment="falta el sello")
    assert Answer(score=4).merged(first) == Answer(False, 4, "falta el sello", None)
    assert Answer(solved=True, recommend=True).merged(first) == Answer(
        True, 2, "falta el sello", True
    )


def test_only_replies_to_the_survey_mail_answer_it() -> None:
    survey = sign_message_id(SECRET, 7, "s", "abcdef", "uni.example")
    reply = sign_message_id(SECRET, 7, "r", "abcdef", "uni.example")
    assert survey_replied(SECRET, [survey], [reply, survey]) == 7
    assert survey_replied(SECRET, [], [reply, survey]) == 7
    assert survey_replied(SECRET, [reply], [survey, reply]) is None
    assert survey_replied(b"other-secret-0123456789", [survey], []) is None


@pytest.mark.parametrize(
    ("config", "low"),
    [
        (SurveysConfig(), 3),
        (SurveysConfig(scale="0-10"), 7),
        (SurveysConfig(threshold=4), 4),
        (SurveysConfig(scale="0-10", threshold=9), 9),
    ],
)
def test_the_low_threshold(config: SurveysConfig, low: int) -> None:
    assert config.low == low
