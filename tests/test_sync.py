"""mailguard.imap.sync against a real Dovecot (no mocks): first run, new mail, a second run, a server
without MOVE, a dropped connection, a UIDVALIDITY change, a missing quarantine, interrupted moves,
mail that cannot be understood, dry runs and apply-history."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from dovecot import DovecotServer
from imapkit import (
    ACME,
    DATAFLOW,
    OFFENDERS,
    QUARANTINE,
    account_of,
    append_all,
    config_of,
    folders,
    moves,
    new_mail,
    open_store,
    seed_history,
    snapshot,
    write_config,
)

from mailguard.imap.client import ImapConnectionLost
from mailguard.imap.session import make_account
from mailguard.imap.sync import SYNC_TAG, AccountSync, PassReport, make_pipeline

pytestmark = pytest.mark.dovecot


class Crash(Exception):
    """Stands for the process dying at a checkpoint."""


@pytest.fixture
def run(home: Path, model):
    """run(server, user, dry_run=False, checkpoint=None) -> PassReport: one pass, as a fresh
    process would do it (new connection, store and pipeline)."""

    def go(server: DovecotServer, user: str, *, dry_run: bool = False,
           checkpoint: Callable[[str], None] | None = None, history: bool = False,
           **config: str) -> PassReport:
        if not (home / "config.toml").exists() or config:
            write_config(home, server, user, **config)
        with syncer(home, model, dry_run=dry_run, checkpoint=checkpoint) as sync:
            return sync.apply_history() if history else sync.run_pass()

    return go


@contextmanager
def syncer(home: Path, model, **options) -> Iterator[AccountSync]:
    cfg = config_of(home)
    acct = account_of(home)
    with open_store(home) as store, make_account(acct) as account:
        pipeline = make_pipeline(cfg, acct, store, model)
        yield AccountSync(acct, account, store, pipeline, window_days=cfg.rules.window_days, **options)
        pipeline.finish()


def contacts(home: Path) -> set[str]:
    with open_store(home) as store:
        return {c.email for c in store.load_contacts()}


def moved_ids(report: PassReport) -> set[str]:
    return {m.decision.message_id for m in report.moved}


# -- first run, new mail, second run ------------------------------------------------------------


def test_first_run_learns_from_inbox_and_sent_but_moves_nothing(dovecot, imap_user, home, run):
    seed_history(dovecot, imap_user)
    before = snapshot(dovecot, imap_user)
    report = run(dovecot, imap_user)
    assert report.first_run and report.learned == 4 and not report.moved
    assert snapshot(dovecot, imap_user) == before  # Acme's blast is history: not moved, not \Seen
    assert {"jane@acme.io", "tom@dataflow.io"} <= contacts(home)
    assert snapshot(dovecot, imap_user, QUARANTINE) == {}  # created, empty
    assert QUARANTINE in folders(dovecot, imap_user)
    with open_store(home) as store:
        state = {r["folder"]: r for r in store.execute("SELECT * FROM folder_state")}
    assert set(state) == {"INBOX", "Sent"} and state["INBOX"]["learned_until"]
    assert state["INBOX"]["uidvalidity"] == dovecot.uidvalidity(imap_user)


def test_new_mail_offenders_land_in_quarantine_and_nothing_else_changes(dovecot, imap_user, home, run):
    seed_history(dovecot, imap_user)
    run(dovecot, imap_user)
    uids = append_all(dovecot, imap_user, new_mail(),
                      flags={0: [b"\\Flagged"], 1: [b"\\Seen", b"$Label1"], 3: [b"\\Answered"]})
    before = snapshot(dovecot, imap_user)

    report = run(dovecot, imap_user)

    assert moved_ids(report) == OFFENDERS and report.decided == 4 and not report.first_run
    after = snapshot(dovecot, imap_user)
    assert after == {k: v for k, v in before.items() if k not in OFFENDERS}  # same flags, no \Seen
    assert snapshot(dovecot, imap_user, QUARANTINE) == {k: before[k] for k in OFFENDERS}
    rows = moves(home)
    assert [(r["message_id"], r["src_uid"], r["state"]) for r in rows] == [
        ("<df@dataflow.io>", uids[0], "done"), ("<blast1@acme.io>", uids[2], "done")]
    assert all(r["dst_uid"] and r["decision_id"] and r["reason"].startswith(SYNC_TAG) for r in rows)
    senders = {m.decision.sender: m.decision.linked_contact for m in report.moved}
    assert senders == {DATAFLOW: "tom@dataflow.io", ACME: "jane@acme.io"}  # Tom only from Sent

    again = run(dovecot, imap_user)  # a second run does nothing
    assert not again.moved and again.decided == 0 and again.learned == 0 and not again.busy
    assert snapshot(dovecot, imap_user) == after and len(moves(home)) == 2


def test_new_sent_mail_is_learned_before_new_inbox_mail(dovecot, imap_user, home, run):
    seed_history(dovecot, imap_user)
    run(dovecot, imap_user)
    from mailfactory import ME, day, newsletter, personal
    dovecot.append(imap_user, personal(f"Sam <{ME}>", to="Ola <ola@brightloop.ai>", when=day(20),
                                       subject="Thanks for the demo", msgid="<thx@rivera.dev>"),
                   folder="Sent")
    dovecot.append(imap_user, newsletter("Brightloop <hello@brightloop.ai>", when=day(25),
                                         msgid="<bl@brightloop.ai>"))
    report = run(dovecot, imap_user)
    assert report.learned == 1 and moved_ids(report) == {"<bl@brightloop.ai>"}


def test_message_put_back_by_the_user_is_never_moved_again(dovecot, imap_user, home, run):
    seed_history(dovecot, imap_user)
    run(dovecot, imap_user)
    append_all(dovecot, imap_user, new_mail())
    run(dovecot, imap_user)
    with dovecot.client(imap_user) as client:  # the user drags one back to the inbox
        client.select_folder(QUARANTINE)
        client.move(client.search(["HEADER", "Message-ID", "<df@dataflow.io>"]), "INBOX")
    report = run(dovecot, imap_user)
    assert report.skipped == 1 and not report.moved
    assert "<df@dataflow.io>" in snapshot(dovecot, imap_user)


# -- servers and faults -------------------------------------------------------------------------


def test_server_without_move_copies_and_expunges_only_those_uids(dovecot_nomove, imap_user, home, run):
    server = dovecot_nomove
    seed_history(server, imap_user)
    run(server, imap_user)
    with server.client(imap_user) as client:
        assert b"MOVE" not in client.capabilities()
    append_all(server, imap_user, new_mail(), flags={0: [b"\\Flagged"], 3: [b"\\Deleted"]})
    before = snapshot(server, imap_user)
    report = run(server, imap_user)
    assert moved_ids(report) == OFFENDERS
    # the message the user marked \Deleted is still there: no bare EXPUNGE
    assert snapshot(server, imap_user) == {k: v for k, v in before.items() if k not in OFFENDERS}
    assert snapshot(server, imap_user, QUARANTINE) == {k: before[k] for k in OFFENDERS}
    assert all(r["state"] == "done" and r["dst_uid"] for r in moves(home))


@pytest.mark.parametrize("phase", ["fetched", "intents", "moved"])
def test_connection_dropped_mid_batch_resumes_without_loss_or_double_move(
        dovecot, imap_user, home, run, phase):
    seed_history(dovecot, imap_user)
    run(dovecot, imap_user)
    append_all(dovecot, imap_user, new_mail())
    everything = set(snapshot(dovecot, imap_user))

    def kick(at: str) -> None:
        if at == phase:
            dovecot.kick(imap_user)

    if phase == "moved":  # the MOVE went through; the next command finds the connection gone
        with pytest.raises(ImapConnectionLost):
            run(dovecot, imap_user, checkpoint=lambda at: (kick(at), _next_command_fails(at)))
    else:
        with pytest.raises(ImapConnectionLost):
            run(dovecot, imap_user, checkpoint=kick)
    report = run(dovecot, imap_user)  # reconnect and resume
    inbox, quarantine = snapshot(dovecot, imap_user), snapshot(dovecot, imap_user, QUARANTINE)
    assert set(quarantine) == OFFENDERS and set(inbox) | set(quarantine) == everything
    assert not set(inbox) & set(quarantine)
    rows = moves(home)
    assert sorted(r["message_id"] for r in rows) == sorted(OFFENDERS)  # one row each
    assert all(r["state"] == "done" and r["dst_uid"] for r in rows)
    if phase in ("intents", "moved"):
        assert report.reconciled == 2


def _next_command_fails(at: str) -> None:
    if at == "moved":
        raise ImapConnectionLost("connection lost after the move (test)")


def test_uidvalidity_change_resyncs_without_moving_anything_decided(dovecot, imap_user, home, run):
    seed_history(dovecot, imap_user)
    run(dovecot, imap_user)
    append_all(dovecot, imap_user, new_mail()[:2])  # Dataflow (moved) and Jane's note (kept)
    assert moved_ids(run(dovecot, imap_user)) == {"<df@dataflow.io>"}
    old = dovecot.uidvalidity(imap_user)
    new = dovecot.change_uidvalidity(imap_user, "INBOX")
    append_all(dovecot, imap_user, new_mail()[2:])  # Acme's second blast (offender), a shop mail
    before = snapshot(dovecot, imap_user)

    report = run(dovecot, imap_user)

    assert report.resynced == ["INBOX"] and moved_ids(report) == {"<blast1@acme.io>"}
    # the history blast and everything decided before the change stay where they are
    assert snapshot(dovecot, imap_user) == {k: v for k, v in before.items() if k != "<blast1@acme.io>"}
    assert "<blast0@acme.io>" in before
    with open_store(home) as store:
        row = store.execute("SELECT uidvalidity FROM folder_state WHERE folder = 'INBOX'").fetchone()
    assert row[0] == new != old
    assert not run(dovecot, imap_user).busy


def test_missing_quarantine_is_created_with_a_nested_non_ascii_name(dovecot, imap_user, home, run):
    seed_history(dovecot, imap_user)
    name = "Werbung/Kontakt-Übersicht"
    run(dovecot, imap_user, quarantine=name)
    assert name in folders(dovecot, imap_user)
    append_all(dovecot, imap_user, new_mail())
    report = run(dovecot, imap_user)
    assert moved_ids(report) == OFFENDERS
    assert set(snapshot(dovecot, imap_user, name)) == OFFENDERS


@pytest.mark.parametrize("crash_at", ["intents", "moved"])
def test_half_done_move_is_reconciled_after_a_crash(dovecot, imap_user, home, run, crash_at):
    seed_history(dovecot, imap_user)
    run(dovecot, imap_user)
    append_all(dovecot, imap_user, new_mail())

    def crash(at: str) -> None:
        if at == crash_at:
            raise Crash(at)

    with pytest.raises(Crash):
        run(dovecot, imap_user, checkpoint=crash)
    assert {r["state"] for r in moves(home)} == {"intent"}
    in_quarantine = set(snapshot(dovecot, imap_user, QUARANTINE))
    assert in_quarantine == (OFFENDERS if crash_at == "moved" else set())

    report = run(dovecot, imap_user)  # the restart

    assert report.reconciled == 2
    rows = moves(home)
    assert len(rows) == 2 and all(r["state"] == "done" and r["dst_uid"] for r in rows)
    assert set(snapshot(dovecot, imap_user, QUARANTINE)) == OFFENDERS  # once each
    assert not OFFENDERS & set(snapshot(dovecot, imap_user))


@pytest.mark.parametrize("same", [True, False])
def test_copy_without_expunge_is_completed_only_when_identical(dovecot_nomove, imap_user, home, run, same):
    """A crash between COPY and EXPUNGE (no MOVE): nothing is copied twice; the original is removed
    only when it is byte for byte the copy in the quarantine, else both stay."""
    seed_history(dovecot_nomove, imap_user)
    run(dovecot_nomove, imap_user)
    raw = new_mail()[0]
    uid = dovecot_nomove.append(imap_user, raw)
    if same:
        with dovecot_nomove.client(imap_user) as client:
            client.select_folder("INBOX")
            client.copy([uid], QUARANTINE)
    else:  # another message with the same Message-ID is in the quarantine
        dovecot_nomove.append(imap_user, raw.replace(b"Dataflow 2.0", b"Dataflow 1.9"), folder=QUARANTINE)
    with open_store(home) as store:
        store.execute(
            """INSERT INTO moves (account, message_id, src_folder, src_uid, src_uidvalidity,
                   dst_folder, state, reason, at) VALUES (?, ?, 'INBOX', ?, ?, ?, 'intent', ?, 'x')""",
            (imap_user, "<df@dataflow.io>", uid, dovecot_nomove.uidvalidity(imap_user), QUARANTINE,
             SYNC_TAG + "test"))
        store.execute("UPDATE folder_state SET last_uid = ? WHERE folder = 'INBOX'", (uid,))
    report = run(dovecot_nomove, imap_user)
    assert report.reconciled == 1 and not report.moved
    assert list(snapshot(dovecot_nomove, imap_user, QUARANTINE)) == ["<df@dataflow.io>"]
    assert ("<df@dataflow.io>" in snapshot(dovecot_nomove, imap_user)) is not same
    (row,) = moves(home)
    assert row["state"] == "done"
    assert ("the original removed now" if same else "a copy also remains") in row["reason"]


def test_message_the_pipeline_cannot_understand_stays_and_is_logged(dovecot, imap_user, home, run, caplog):
    seed_history(dovecot, imap_user)
    run(dovecot, imap_user)
    dovecot.append(imap_user, b"Subject: \xff\xfe broken\r\nMessage-ID: <broken@x>\r\n\r\n\x00\xff\r\n")
    caplog.set_level("WARNING", logger="mailguard.imap.sync")
    report = run(dovecot, imap_user)
    assert report.unreadable == 1 and not report.moved
    assert "<broken@x>" in snapshot(dovecot, imap_user)
    assert "not understood" in caplog.text and "<broken@x>" in caplog.text


# -- dry run and history ------------------------------------------------------------------------


def test_dry_run_decides_but_changes_nothing(dovecot, imap_user, home, run):
    seed_history(dovecot, imap_user)
    assert not run(dovecot, imap_user, dry_run=True).moved
    assert QUARANTINE not in folders(dovecot, imap_user)  # not even created
    with open_store(home) as store:
        assert store.execute("SELECT COUNT(*) FROM folder_state").fetchone()[0] == 0
    run(dovecot, imap_user)  # the real first run
    append_all(dovecot, imap_user, new_mail())
    before = snapshot(dovecot, imap_user)
    report = run(dovecot, imap_user, dry_run=True)
    assert moved_ids(report) == OFFENDERS and report.dry_run
    assert snapshot(dovecot, imap_user) == before and moves(home) == []
    assert moved_ids(run(dovecot, imap_user)) == OFFENDERS  # the dry run did not use them up


def test_apply_history_moves_offenders_from_before_the_first_run(dovecot, imap_user, home, run):
    seed_history(dovecot, imap_user)
    run(dovecot, imap_user)
    assert moved_ids(run(dovecot, imap_user, history=True, dry_run=True)) == {"<blast0@acme.io>"}
    assert "<blast0@acme.io>" in snapshot(dovecot, imap_user)
    report = run(dovecot, imap_user, history=True)
    assert moved_ids(report) == {"<blast0@acme.io>"}
    assert set(snapshot(dovecot, imap_user, QUARANTINE)) == {"<blast0@acme.io>"}
    assert not run(dovecot, imap_user, history=True).moved  # already moved: left alone

