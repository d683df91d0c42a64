"""mailguard.store.MoveJournal: the one move log, used by the IMAP sync and by review's undo.

Unit tests on a real SQLite file (no IMAP): intent -> done, intent -> failed, intents left by a
crash found again by a new process, reconciling them, and what the log answers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mailguard.errors import StoreError
from mailguard.store import DONE, FAILED, INTENT, UNDONE, MoveIntent, MoveRecord, Settled, Store


def intent(uid: int, *, account: str = "work", reason: str = "sync: promotion from a contact",
           content_hash: str | None = None, decision_id: int | None = None) -> MoveIntent:
    return MoveIntent(account=account, message_id=f"<m{uid}@acme.io>", src_folder="INBOX",
                      src_uid=uid, src_uidvalidity=7, dst_folder="Contact-Promo",
                      decision_id=decision_id, reason=reason,
                      content_hash=content_hash or f"hash{uid}")


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "state.sqlite3") as s:
        yield s


def row(store: Store, move_id: int) -> dict:
    return dict(store.execute("SELECT * FROM moves WHERE id = ?", (move_id,)).fetchone())


def test_intent_then_done(store):
    ids = store.journal.intend([intent(11), intent(12)])
    assert [row(store, i)["state"] for i in ids] == [INTENT, INTENT]
    assert [r.id for r in store.journal.unresolved("work")] == ids
    store.journal.done(ids[0], 501)
    done = row(store, ids[0])
    assert (done["state"], done["dst_uid"], done["src_uid"]) == (DONE, 501, 11)
    assert done["done_at"] and done["reason"] == "sync: promotion from a contact"
    assert [r.id for r in store.journal.unresolved("work")] == [ids[1]]


def test_intent_then_failed_keeps_why_and_moved_nothing(store):
    (move_id,) = store.journal.intend([intent(11, content_hash="h-failed")])
    store.journal.fail(move_id, "expunged from INBOX by another client before the move")
    failed = row(store, move_id)
    assert failed["state"] == FAILED and failed["dst_uid"] is None
    assert failed["reason"] == ("sync: promotion from a contact "
                                "(expunged from INBOX by another client before the move)")
    assert store.journal.unresolved("work") == []
    # a failed move moved nothing: the message may still be moved later
    assert store.journal.moved_hashes("work", ["h-failed"]) == set()


def test_intend_records_all_or_nothing(store):
    # the second intent names a decision that does not exist (a foreign key): neither is kept
    with pytest.raises(StoreError):
        store.journal.intend([intent(11), intent(12, decision_id=999)])
    assert store.execute("SELECT COUNT(*) FROM moves").fetchone()[0] == 0


def test_settle_only_to_done_or_failed(store):
    (move_id,) = store.journal.intend([intent(11)])
    with pytest.raises(ValueError):
        store.journal.settle(move_id, Settled(UNDONE))
    assert row(store, move_id)["state"] == INTENT


_CRASH = """
import os, sys
from mailguard.store import MoveIntent, Store
store = Store(sys.argv[1])
ids = store.journal.intend([MoveIntent("work", "<m%d@acme.io>" % u, "INBOX", u, 7, "Contact-Promo",
                                       None, "sync: promotion", "hash%d" % u) for u in (11, 12, 13)])
store.journal.done(ids[0], 501)
os._exit(0)  # killed between the intents and the IMAP command: no close, no cleanup
"""


def test_unresolved_after_a_crash_are_found_by_the_next_process(tmp_path):
    path = tmp_path / "state.sqlite3"
    subprocess.run([sys.executable, "-c", _CRASH, str(path)], check=True)
    with Store(path) as store:
        store.journal.intend([intent(20, account="other")])
        store.journal.intend([intent(21, reason="undo of move #1")])
        pending = store.journal.unresolved("work", "sync: ")
        assert [(r.src_uid, r.state, r.message_id, r.content_hash) for r in pending] == [
            (12, INTENT, "<m12@acme.io>", "hash12"), (13, INTENT, "<m13@acme.io>", "hash13")]
        assert all(isinstance(r, MoveRecord) and r.account == "work" for r in pending)
        # every intent of the account, whatever started it
        assert [r.src_uid for r in store.journal.unresolved("work")] == [12, 13, 21]


def test_reconcile_settles_each_row_as_resolve_says(store):
    ids = store.journal.intend([intent(11), intent(12)])
    outcomes = {11: Settled(DONE, 601, "reconciled: found in the destination"),
                12: Settled(FAILED, None, "reconciled: in neither INBOX nor Contact-Promo")}
    settled = store.journal.reconcile(store.journal.unresolved("work"),
                                      lambda r: outcomes[r.src_uid])
    assert [(r.id, how.state) for r, how in settled] == [(ids[0], DONE), (ids[1], FAILED)]
    first, second = row(store, ids[0]), row(store, ids[1])
    assert (first["state"], first["dst_uid"]) == (DONE, 601)
    assert first["reason"].endswith("(reconciled: found in the destination)")
    assert (second["state"], second["dst_uid"]) == (FAILED, None)
    assert store.journal.unresolved("work") == []


def test_reconcile_keeps_what_was_settled_when_a_later_row_cannot_be_looked_at(store):
    ids = store.journal.intend([intent(11), intent(12), intent(13)])

    def resolve(r: MoveRecord) -> Settled:
        if r.src_uid == 12:
            raise ConnectionError("connection lost")
        return Settled(DONE, 700 + r.src_uid)

    with pytest.raises(ConnectionError):
        store.journal.reconcile(store.journal.unresolved("work"), resolve)
    assert row(store, ids[0])["state"] == DONE
    assert [r.id for r in store.journal.unresolved("work")] == ids[1:]  # retried next time


def test_what_the_log_answers(store):
    done_id, failed_id, undone_id, _open = store.journal.intend(
        [intent(1, content_hash="h1"), intent(2, content_hash="h2"), intent(3, content_hash="h3"),
         intent(4, content_hash="h4")])
    store.journal.done(done_id, 10)
    store.journal.fail(failed_id, "refused")
    store.journal.done(undone_id, 11)
    store.journal.mark_undone(undone_id)
    legacy = store.journal.record(MoveIntent("work", "<old@acme.io>", "INBOX", 5, 7, "Contact-Promo",
                                             None, "sync: before content hashes"))
    store.journal.done(legacy, 12)
    # moved once (done, undone since, or under way) is never moved again; a failure moved nothing
    assert store.journal.moved_hashes("work", ["h1", "h2", "h3", "h4", "h9"]) == {"h1", "h3", "h4"}
    assert store.journal.moved_hashes("other", ["h1"]) == set()
    assert store.journal.legacy_moved_ids("work", "sync: ", ["<old@acme.io>", "<m1@acme.io>"]) == {
        "<old@acme.io>"}
    assert store.journal.legacy_moved_ids("work", "undo of", ["<old@acme.io>"]) == set()
    assert [r["id"] for r in store.journal.done_among([failed_id, legacy, done_id, undone_id])] == [
        done_id, legacy]
    assert store.journal.reasons()[failed_id] == "sync: promotion from a contact (refused)"


def test_carried_out_means_done_or_undone_on_a_server(store):
    decision = {}
    for name in ("done", "undone", "failed", "open", "none"):
        cur = store.execute("INSERT INTO decisions (action, decided_at) VALUES ('move', '2026-01-01')")
        decision[name] = cur.lastrowid
    ids = store.journal.intend([intent(n, decision_id=decision[k])
                                for n, k in enumerate(("done", "undone", "failed", "open"))])
    store.journal.done(ids[0], 1)
    store.journal.done(ids[1], 2)
    store.journal.mark_undone(ids[1])
    store.journal.fail(ids[2], "refused")
    assert store.journal.carried_out(list(decision.values())) == {decision["done"], decision["undone"]}
