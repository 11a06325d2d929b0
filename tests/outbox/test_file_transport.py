"""The file outbox: whole messages under their row's name; a crash's leftovers cleared."""

from __future__ import annotations

from pathlib import Path

from maildesk.outbox.transports import FileTransport


def test_clear_partial_removes_only_unfinished_files(tmp_path: Path) -> None:
    transport = FileTransport(tmp_path / "outbox")
    assert transport.clear_partial() == 0  # no folder yet: nothing to do
    transport.send(7, "info@uni.example", ["ana@x.example"], b"Subject: hola\r\n\r\nHola\r\n")
    (tmp_path / "outbox" / ".tmp-abc.part").write_bytes(b"Subject: ha")
    (tmp_path / "outbox" / "notes.part").write_bytes(b"not ours")
    assert transport.clear_partial() == 1
    names = sorted(p.name for p in (tmp_path / "outbox").iterdir())
    assert names == ["00000007.eml", "notes.part"]
