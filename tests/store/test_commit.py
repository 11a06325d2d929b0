"""Store.after_commit: what is said after a commit is said only once it is true."""

from __future__ import annotations

import pytest

from maildesk.store.store import Store

pytestmark = pytest.mark.stores("sqlite", "postgresql")


def undone(store: Store, said: list[str], what: str) -> None:
    """A transaction (or savepoint) that says ``what`` after commit, then fails."""
    with store.transaction():
        store.after_commit(lambda: said.append(what))
        raise RuntimeError(f"{what}: this cannot be stored")


def test_callbacks_run_after_the_outermost_commit_and_never_for_undone_work(
    store: Store,
) -> None:
    said: list[str] = []
    with store.transaction():
        store.after_commit(lambda: said.append("first"))
        with store.transaction():  # a savepoint that holds
            store.after_commit(lambda: said.append("kept"))
        with pytest.raises(RuntimeError):  # one that is undone
            undone(store, said, "undone")
        assert said == []  # nothing is committed yet
    assert said == ["first", "kept"]

    with pytest.raises(RuntimeError):
        undone(store, said, "rolled back")
    with store.transaction():
        store.after_commit(lambda: said.append("next"))
    assert said == ["first", "kept", "next"]  # nothing left over from the rollback

    store.after_commit(lambda: said.append("outside"))  # no transaction: at once
    assert said[-1] == "outside"


def test_a_failing_callback_is_logged_and_the_others_still_run(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    said: list[str] = []

    def broken() -> None:
        raise ValueError("oops")

    with store.transaction():
        store.after_commit(broken)
        store.after_commit(lambda: said.append("after"))
    assert said == ["after"]
    assert "after-commit callback failed" in caplog.text
