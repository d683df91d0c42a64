"""Store.group: transactions committed together, and kept whatever ends the group."""

from __future__ import annotations

import sqlite3

import pytest

from mailguard.store import DB_NAME, Store


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / DB_NAME)
    yield s
    s.close()


def _rules(path) -> dict[str, str]:
    """The sender rules another connection (another process: the web page) sees."""
    with sqlite3.connect(path) as other:
        return dict(other.execute("SELECT entry, status FROM sender_rules"))


def test_a_group_commits_its_transactions_once_at_its_end(store):
    with store.group():
        with store.transaction():
            store.set_sender_rule("a@x.example", "allowed")
        with store.transaction():
            store.set_sender_rule("b@x.example", "blocked")
        assert store.db.in_transaction
        assert _rules(store.path) == {}  # nothing committed yet
    assert not store.db.in_transaction
    assert _rules(store.path) == {"a@x.example": "allowed", "b@x.example": "blocked"}


def test_an_error_ending_a_group_keeps_what_its_transactions_did(store):
    with pytest.raises(RuntimeError, match="connection lost"):
        with store.group():
            with store.transaction():
                store.set_sender_rule("kept@x.example", "allowed")
            with pytest.raises(ValueError):
                with store.transaction():  # undone on its own
                    store.set_sender_rule("undone@x.example", "blocked")
                    raise ValueError("a batch failed")
            raise RuntimeError("connection lost")
    assert not store.db.in_transaction
    assert _rules(store.path) == {"kept@x.example": "allowed"}


def test_a_group_inside_a_transaction_adds_nothing(store):
    with pytest.raises(KeyError):
        with store.transaction():
            with store.group():
                store.set_sender_rule("a@x.example", "allowed")
            assert store.db.in_transaction  # the group did not commit the transaction
            raise KeyError("undo it all")
    assert _rules(store.path) == {}
