"""The test servers themselves: a real Dovecot and a real aiosmtpd sink on loopback."""

from __future__ import annotations

import smtplib
import socket
import time
from pathlib import Path

import pytest
from imapclient import IMAPClient  # type: ignore[import-untyped, unused-ignore]
from imapclient.exceptions import LoginError  # type: ignore[import-untyped, unused-ignore]

from tests.servers import Dovecot, SmtpSink

pytestmark = pytest.mark.server

RAW = (
    b"From: Requester <requester@example.test>\r\n"
    b"To: info@example.test\r\n"
    b"Subject: Printer on fire\r\n"
    b"Message-ID: <fire-1@example.test>\r\n"
    b"\r\n"
    b"It is still burning.\r\n"
)


def _fetch(server: Dovecot, uid: int, folder: str = "INBOX") -> bytes:
    with server.client("info") as imap:
        imap.select_folder(folder, readonly=True)
        data = imap.fetch([uid], ["RFC822"])
    body: bytes = data[uid][b"RFC822"]
    return body


def _refused(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


# -- Dovecot -----------------------------------------------------------------------


def test_append_then_fetch_by_uid(dovecot: Dovecot) -> None:
    first = dovecot.append("info", "INBOX", RAW)
    second = dovecot.append("info", "INBOX", RAW.replace(b"fire-1", b"fire-2"))

    assert second > first
    assert _fetch(dovecot, first) == RAW
    assert b"fire-2" in _fetch(dovecot, second)


def test_append_creates_a_missing_folder(dovecot: Dovecot) -> None:
    uid = dovecot.append("info", "Processed", RAW, flags=[b"\\Seen"])

    with dovecot.client("info") as imap:
        assert imap.folder_exists("Processed")
        imap.select_folder("Processed", readonly=True)
        flags = imap.get_flags([uid])[uid]
    assert b"\\Seen" in flags
    assert _fetch(dovecot, uid, "Processed") == RAW


def test_idle_wakes_up_when_another_connection_appends(dovecot: Dovecot) -> None:
    with dovecot.client("info") as watcher:
        watcher.select_folder("INBOX")
        watcher.idle()
        started = time.monotonic()
        dovecot.append("info", "INBOX", RAW)
        responses: list[tuple[object, ...]] = []
        while not any(b"EXISTS" in r for r in responses) and time.monotonic() - started < 5:
            responses += watcher.idle_check(timeout=1)
        watcher.idle_done()

    assert (1, b"EXISTS") in responses
    assert time.monotonic() - started < 5


def test_restart_keeps_the_mail_and_the_port(dovecot: Dovecot) -> None:
    uid = dovecot.append("info", "INBOX", RAW)
    with dovecot.client("info") as imap:
        validity = imap.select_folder("INBOX")[b"UIDVALIDITY"]
    port = dovecot.port

    dovecot.restart()

    assert dovecot.port == port
    with dovecot.client("info") as imap:
        assert imap.select_folder("INBOX")[b"UIDVALIDITY"] == validity
    assert _fetch(dovecot, uid) == RAW


def test_stop_closes_the_port_and_start_reopens_it(dovecot: Dovecot) -> None:
    dovecot.stop()
    assert not dovecot.running
    assert _refused(dovecot.host, dovecot.port)

    dovecot.start()
    with dovecot.client("info") as imap:
        assert imap.select_folder("INBOX")[b"EXISTS"] == 0


def test_users_can_be_added_while_running(dovecot: Dovecot) -> None:
    dovecot.add_user("crm", "other-secret")
    uid = dovecot.append("crm", "INBOX", RAW)

    with dovecot.client("crm") as imap:
        imap.select_folder("INBOX", readonly=True)
        assert imap.search(["HEADER", "Message-ID", "fire-1@example.test"]) == [uid]
    with dovecot.client("info") as imap:
        assert imap.select_folder("INBOX")[b"EXISTS"] == 0


def _login_error(server: Dovecot, user: str, password: str) -> str:
    imap = IMAPClient(server.host, port=server.port, ssl=False, timeout=5)
    try:
        with pytest.raises(LoginError) as failure:
            imap.login(user, password)
    finally:
        imap.logout()
    return str(failure.value)


def test_a_wrong_password_is_refused_at_once(dovecot: Dovecot) -> None:
    started = time.monotonic()
    assert "AUTHENTICATIONFAILED" in _login_error(dovecot, "info", "wrong")
    assert time.monotonic() - started < 5  # no delay on failure: our tests' Dovecot


def test_a_changed_password_takes_effect(dovecot: Dovecot) -> None:
    dovecot.add_user("info", "changed")

    assert "AUTHENTICATIONFAILED" in _login_error(dovecot, "info", "secret")
    with dovecot.client("info") as imap:
        assert imap.select_folder("INBOX")[b"EXISTS"] == 0


def test_start_failure_carries_dovecots_own_error(tmp_path: Path) -> None:
    with Dovecot(tmp_path / "dovecot") as server:
        server.add_user("info", "secret")
        server.stop()
        with socket.socket() as squatter:
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            squatter.bind((server.host, server.port))
            squatter.listen()
            with pytest.raises(RuntimeError, match="Address already in use"):
                server.start()
        assert not server.running
    assert "Address already in use" in (tmp_path / "dovecot" / "dovecot.log").read_text()


# -- SMTP sink ---------------------------------------------------------------------


def _send(sink: SmtpSink, raw: bytes = RAW, to: tuple[str, ...] = ("info@example.test",)) -> None:
    with smtplib.SMTP(sink.host, sink.port, timeout=5) as smtp:
        smtp.sendmail("requester@example.test", list(to), raw)


def test_sink_records_envelope_and_bytes(smtp_sink: SmtpSink) -> None:
    _send(smtp_sink, to=("info@example.test", "crm@example.test"))

    [message] = smtp_sink.wait_for(1)
    assert message.mail_from == "requester@example.test"
    assert message.rcpt_tos == ("info@example.test", "crm@example.test")
    assert message.data == RAW


def test_sink_keeps_dot_stuffed_lines_intact(smtp_sink: SmtpSink) -> None:
    raw = RAW + b".a line that starts with a dot\r\n..two dots\r\n"
    _send(smtp_sink, raw)

    assert smtp_sink.wait_for(1)[0].data == raw


@pytest.mark.parametrize(
    ("reply", "code", "text"),
    [
        ("451 4.3.0 try later", 451, b"4.3.0 try later"),
        ("550 5.1.1 no such user", 550, b"5.1.1 no such user"),
    ],
)
def test_fail_with_makes_every_data_fail(
    smtp_sink: SmtpSink, reply: str, code: int, text: bytes
) -> None:
    smtp_sink.fail_with = reply

    with pytest.raises(smtplib.SMTPDataError) as failure:
        _send(smtp_sink)
    assert (failure.value.smtp_code, failure.value.smtp_error) == (code, text)
    assert smtp_sink.messages == []

    smtp_sink.fail_with = None
    _send(smtp_sink)
    assert len(smtp_sink.wait_for(1)) == 1


def test_sink_restart_keeps_the_port_and_the_messages(smtp_sink: SmtpSink) -> None:
    _send(smtp_sink)
    port = smtp_sink.port

    smtp_sink.stop()
    assert _refused(smtp_sink.host, port)
    with pytest.raises(ConnectionRefusedError):
        _send(smtp_sink)

    smtp_sink.start()
    _send(smtp_sink)
    smtp_sink.restart()
    _send(smtp_sink)

    assert smtp_sink.port == port
    assert len(smtp_sink.wait_for(3)) == 3


def test_wait_for_fails_when_too_few_messages_arrive(smtp_sink: SmtpSink) -> None:
    _send(smtp_sink)

    with pytest.raises(AssertionError, match="expected 2 message"):
        smtp_sink.wait_for(2, timeout=0.2)
