"""Advisory locks among daemons: one holder at a time, freed when its session ends."""

from __future__ import annotations

from pathlib import Path

import pytest

from maildesk.store.locks import SWEEP_LOCK, Ownership, account_key
from maildesk.store.store import Store


@pytest.mark.stores("postgresql")
def test_one_session_holds_a_lock_until_it_ends(store: Store, store_location: Path | str) -> None:
    mine, info = Ownership(store), account_key("info")
    other_store = Store(store_location)
    other = Ownership(other_store)
    try:
        assert mine.take(SWEEP_LOCK)
        assert mine.take(SWEEP_LOCK)  # asked again: still ours, counted once
        assert not other.take(SWEEP_LOCK)
        assert other.take(info)
        assert not mine.take(info)
        assert (mine.held, other.held) == (frozenset({SWEEP_LOCK}), frozenset({info}))
        mine.give_up(SWEEP_LOCK)
        assert other.take(SWEEP_LOCK)
    finally:
        other_store.close()  # a daemon gone: its session and its locks with it
    assert mine.take(SWEEP_LOCK)
    assert mine.take(info)


@pytest.mark.stores("sqlite")
def test_on_sqlite_the_one_daemon_holds_everything(store: Store) -> None:
    mine = Ownership(store)
    assert mine.take(SWEEP_LOCK)
    assert mine.take(account_key("info"))
    assert mine.held == {SWEEP_LOCK, account_key("info")}
