"""Survey tokens and which survey a mail answers: pure functions, tables of cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from maildesk.config.surveys import SurveysConfig
from maildesk.mail.thread import sign_message_id
from maildesk.surveys.rules import Token, sign_token, survey_replied, verify_token

SECRET = b"survey-unit-secret-0123456789"
NOW = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=30)


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
