"""A crash in the middle of a pass of deliveries: ``maildesk run`` killed with SIGKILL while
a slow relay takes its acknowledgements, started again, and what each requester got."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from tests.servers import SmtpSink
from tests.support.daemon import Maildesk, mail

REQUESTS = 120


def received(sink: SmtpSink) -> Counter[str]:
    return Counter(m.rcpt_tos[0] for m in sink.messages)


def wait_until(test: object, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(test) and test():
            return
        time.sleep(0.02)
    raise AssertionError(f"never: {what}")


def test_a_kill_mid_pass_resends_at_most_the_delivery_in_flight(
    tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    smtp_sink.delay = 0.02  # each delivery takes a while: a kill lands in a pass
    desk = Maildesk(
        tmp_path / "desk",
        extra_config=(
            f'[outgoing]\ntransport = "smtp"\nhost = "127.0.0.1"\nport = {smtp_sink.port}\n'
            'tls = "none"\nretry_seconds = 1\n'
        ),
    )
    desk.start()
    kills = 0
    try:
        with desk.smtp() as client:
            for n in range(REQUESTS):
                client.send_message(mail(f"p{n:03d}@example.com", "info@uni.example", f"Caso {n}"))
        # Kill in the middle of passes of up to 50 deliveries, three times.
        for at in (20, 65, 95):
            wait_until(lambda at=at: len(smtp_sink.messages) >= at, f"{at} delivered")
            desk.kill()
            kills += 1
            desk.start()
        wait_until(lambda: len(received(smtp_sink)) == REQUESTS, "every requester answered")
        wait_until(lambda: all(r["state"] == "sent" for r in desk.json("outbox")), "every row sent")
        counts = received(smtp_sink)
        duplicates = sum(n - 1 for n in counts.values())
        assert duplicates <= kills, {a: n for a, n in counts.items() if n > 1}
        assert len(counts) == REQUESTS
    finally:
        assert desk.stop() == 0, desk.log()


def test_unfinished_files_left_in_the_outbox_folder_are_cleared_at_start(tmp_path: Path) -> None:
    desk = Maildesk(tmp_path / "desk")
    desk.start()
    try:
        with desk.smtp() as client:
            for n in range(30):
                client.send_message(mail(f"q{n:02d}@example.com", "info@uni.example", f"Caso {n}"))
        desk.kill()  # perhaps in the middle of writing one
        # What a kill inside FileTransport.send leaves: half a message under a temporary name.
        left = desk.outbox / ".tmp-k1ll3d.part"
        left.write_bytes(b"From: info@uni.example\r\nSubject: [INFO#")
        # The kill itself may have left one more, if it came inside a write.
        unfinished = len(list(desk.outbox.glob("*.part")))
        desk.start()
        files = desk.outbox_files(30)
        assert not list(desk.outbox.glob("*.part"))
        removed = f"removed {unfinished} unfinished .part file(s) from the outbox folder"
        assert removed in desk.log()
        wait_until(lambda: all(r["state"] == "sent" for r in desk.json("outbox")), "every row sent")
        assert len(files) == 30
    finally:
        assert desk.stop() == 0, desk.log()
