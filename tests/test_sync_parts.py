"""The parts AccountSync is assembled from, each on its own against the real Dovecot: what one part
gives the next (folder positions -> deciding a batch -> moving and reconciling -> history). Whole
passes are in test_sync.py, test_crash.py and test_faults.py."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from imapkit import (
    OFFENDERS,
    QUARANTINE,
    account_of,
    append_all,
    config_of,
    folders,
    new_mail,
    one_pass,
    open_store,
    seed_history,
    snapshot,
    write_config,
)

from test_imap_layers import upward_uses

from mailguard.imap.batch import BatchDecisions
from mailguard.imap.history import HistoryLearning
from mailguard.imap.moves import QuarantineMoves
from mailguard.imap.position import FolderPositions, Mark
from mailguard.imap.report import SYNC_TAG, PassReport
from mailguard.imap.session import make_account
from mailguard.imap.sync import AccountSync, make_pipeline
from mailguard.store import DONE, INTENT, MoveIntent

pytestmark = pytest.mark.dovecot


@contextmanager
def part(cls: type, home: Path, model, **options) -> Iterator:
    """One part of AccountSync (cls) over the account of the config in home, as a pass makes it."""
    cfg, acct = config_of(home), account_of(home)
    with open_store(home) as store, make_account(acct) as account:
        pipeline = make_pipeline(cfg, acct, store, model)
        yield cls(acct, account, store, pipeline, window_days=cfg.rules.window_days, **options)
        pipeline.finish()


def test_sync_is_the_parts_in_order_each_using_only_the_parts_below():
    assert AccountSync.__mro__[:5] == (AccountSync, HistoryLearning, QuarantineMoves, BatchDecisions,
                                       FolderPositions)
    assert upward_uses(AccountSync) == []


def test_positions_alone_keep_marks_and_find_the_folders(dovecot, imap_user, home, model):
    write_config(home, dovecot, imap_user)
    seed_history(dovecot, imap_user)
    with part(FolderPositions, home, model, dry_run=True) as dry:
        assert dry.folders() == ("INBOX", "Sent", QUARANTINE)
        dry._set_mark("INBOX", Mark(7, 3, None))
        assert dry.mark("INBOX") == Mark(7, 3, None)
    assert QUARANTINE not in folders(dovecot, imap_user)  # a dry run creates nothing
    with part(FolderPositions, home, model) as real:
        assert real.mark("INBOX") is None  # the dry run's mark lived in memory only
        assert real.folders()[2] == QUARANTINE and QUARANTINE in folders(dovecot, imap_user)
        st = real.account.select("INBOX")
        assert real._boundary(st) == 3  # the highest UID now
        real._set_mark("INBOX", Mark(st.uidvalidity, 3, None))
        assert real.progress == 1
    with part(FolderPositions, home, model) as later:
        assert later.mark("INBOX") == Mark(dovecot.uidvalidity(imap_user), 3, None)


def test_batch_alone_decides_notes_places_and_knows_them_after_a_uidvalidity_change(
        dovecot, imap_user, home, model):
    write_config(home, dovecot, imap_user)
    seed_history(dovecot, imap_user)
    with part(BatchDecisions, home, model) as batch:
        st = batch.account.select("INBOX")
        items = batch._fetch("INBOX", st, [1, 2, 3], 65536)
        report = PassReport(batch.name)
        results = batch._decide(items, learn_only=True, report=report)
        assert [it.msg.uid for it, _, _ in results] == [1, 2, 3]
        assert all(did for _, _, did in results)  # each decision's id, saved with its place
        assert batch._decided_uids("INBOX", st.uidvalidity, [1, 2, 3, 4]) == {1, 2, 3}
    dovecot.change_uidvalidity(imap_user)
    with part(BatchDecisions, home, model) as later:
        st = later.account.select("INBOX")
        assert later._decided_uids("INBOX", st.uidvalidity, [1, 2, 3]) == set()  # other UIDs now
        heads = list(later.account.fetch([1, 2, 3]))
        assert later._seen_anywhere(heads) == {1, 2, 3}  # the same content: seen before


def test_moves_alone_act_on_a_batch_and_reconcile_an_interrupted_move(dovecot, imap_user, home, model):
    write_config(home, dovecot, imap_user)
    seed_history(dovecot, imap_user)
    one_pass(home, model)  # the first run
    uids = append_all(dovecot, imap_user, new_mail())
    with part(QuarantineMoves, home, model) as moves:
        quarantine = moves.folders()[2]
        st = moves.account.select("INBOX")
        mark = moves.mark("INBOX")
        report = PassReport(moves.name)
        moves._act_on("INBOX", st, uids[:2], quarantine, report, commit_mark=mark)
        assert {m.decision.message_id for m in report.moved} == {"<df@dataflow.io>"}
        assert moves.mark("INBOX").last_uid == uids[1]  # the mark moved with the batch
        # a crash after the intent of Acme's blast, before its MOVE
        (blast,) = moves.account.fetch([uids[2]])
        moves.journal.intend([MoveIntent(moves.name, blast.message_id, "INBOX", blast.uid,
                                         st.uidvalidity, quarantine, None, SYNC_TAG + "test",
                                         blast.content_hash)])
        assert [r.state for r in moves.pending_intents()] == [INTENT]
        report = PassReport(moves.name)
        moves._reconcile(quarantine, report)
        assert report.reconciled == 1 and moves.pending_intents() == []
    assert set(snapshot(dovecot, imap_user, QUARANTINE)) == OFFENDERS
    with open_store(home) as store:
        states = [r["state"] for r in store.execute("SELECT state FROM moves ORDER BY id")]
    assert states == [DONE, DONE]


def test_history_alone_learns_the_first_run_and_moves_nothing(dovecot, imap_user, home, model):
    write_config(home, dovecot, imap_user)
    seed_history(dovecot, imap_user)
    before = snapshot(dovecot, imap_user)
    with part(HistoryLearning, home, model) as history:
        watch, sent, _ = history.folders()
        report = PassReport(history.name)
        assert history._first_run(watch, sent, report, lambda: False) is True
        assert report.learned == 4 and not report.moved
        assert history.mark(watch).learned_until is not None
        assert history.mark(sent).learned_until is not None
        assert {"jane@acme.io", "tom@dataflow.io"} <= {c.email for c in history.store.load_contacts()}
    assert snapshot(dovecot, imap_user) == before


def test_history_stopped_between_batches_resumes_each_message_learned_once(dovecot, imap_user,
                                                                           home, model):
    # batches of one: when the first run stops, the next batches' FETCH is on its way and two
    # are analysed ahead; the connection stays usable and the next run learns the rest once
    write_config(home, dovecot, imap_user, imap="batch_size = 1")
    seed_history(dovecot, imap_user)
    before = snapshot(dovecot, imap_user)
    with part(HistoryLearning, home, model) as history:
        watch, sent, _ = history.folders()
        report = PassReport(history.name)
        assert history._first_run(watch, sent, report, lambda: True) is False
        assert report.learned == 1 and history.mark(watch).learned_until is None
        imap = history.account._client._imap  # no command left waiting for its answer
        assert imap.tagged_commands == {}
        again = PassReport(history.name)
        assert history._first_run(watch, sent, again, lambda: False) is True
        refs = [r[0] for r in history.store.execute("SELECT ref FROM decisions")]
        assert len(refs) == len(set(refs)) == 1 + again.learned  # each message decided once
        inbox = [r for r in refs if r.startswith(f"imap:{history.name}/{watch}/")]
        assert len(inbox) == len(dovecot.flags(imap_user))  # every INBOX message of the window
    assert snapshot(dovecot, imap_user) == before
