"""Issue 13: a Message-ID alone never decides that a different message was already seen.

Against the real Dovecot: "already decided" is keyed on the message's place (folder, UIDVALIDITY,
UID); where identity must survive a move (the "moved once, never moved again" rule, reconciling an
interrupted move, a UIDVALIDITY change, undo) a content hash stands beside the Message-ID. A
promotion that reuses the Message-ID of a kept note, of a history message or of an earlier
promotion is decided and moved like any other."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from imapkit import (
    ACME,
    OFFENDERS,
    QUARANTINE,
    append_all,
    config_of,
    moves,
    new_mail,
    one_pass,
    open_store,
    seed_history,
    write_config,
)
from mailfactory import day, newsletter, personal

from mailguard.cli.main import main
from mailguard.imap.session import open_account
from mailguard.review.actions import UndoPlan, apply_undo, moved_messages, plan_moves_back
from mailguard.store import DB_NAME, MIGRATIONS, Store
from mailguard.imap.sync import PassReport

pytestmark = pytest.mark.dovecot



class Crash(Exception):
    """Stands for the process dying at a checkpoint."""


def messages(server, user: str, folder: str = "INBOX") -> list[tuple[str, str]]:
    """(Message-ID, Subject) of every message in folder, sorted; duplicates are kept."""
    with server.client(user) as client:
        if not client.folder_exists(folder):
            return []
        client.select_folder(folder, readonly=True)
        uids = client.search()
        data = client.fetch(uids, ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID SUBJECT)]"]) if uids else {}
    out = []
    for item in data.values():
        fields = {}
        for line in item[b"BODY[HEADER.FIELDS (MESSAGE-ID SUBJECT)]"].decode().splitlines():
            if ":" in line:
                name, _, value = line.partition(":")
                fields[name.strip().lower()] = value.strip()
        out.append((fields.get("message-id", ""), fields.get("subject", "")))
    return sorted(out)


def promo(msgid: str, subject: str, when: int) -> bytes:
    return newsletter(f"Acme News <{ACME}>", when=day(when), subject=subject, msgid=msgid)


def subjects_moved(report: PassReport) -> list[str]:
    return sorted(m.decision.subject for m in report.moved)


@pytest.fixture
def settled(dovecot, imap_user, home, model):
    """First run on the history, then the new mail: Dataflow's and Acme's blasts moved, Jane's
    notes <hello@acme.io> (history) and <coffee@acme.io> (new) kept."""
    seed_history(dovecot, imap_user)
    write_config(home, dovecot, imap_user)
    one_pass(home, model)
    append_all(dovecot, imap_user, new_mail())
    assert {m.decision.message_id for m in one_pass(home, model).moved} == OFFENDERS
    return dovecot


def test_promo_reusing_a_kept_notes_message_id_is_decided_and_moved(settled, imap_user, home, model):
    append_all(settled, imap_user, [promo("<hello@acme.io>", "Flash sale", 14),
                                    promo("<coffee@acme.io>", "Final hours", 15)])

    report = one_pass(home, model)

    assert report.decided == 2 and report.skipped == 0
    assert subjects_moved(report) == ["Final hours", "Flash sale"]
    inbox = messages(settled, imap_user)
    assert ("<hello@acme.io>", "Great meeting you") in inbox and ("<coffee@acme.io>", "Re: coffee") in inbox
    assert {s for _, s in messages(settled, imap_user, QUARANTINE)} >= {"Flash sale", "Final hours"}


def test_promo_reusing_a_moved_promos_message_id_is_moved_too(settled, imap_user, home, model):
    append_all(settled, imap_user, [promo("<blast1@acme.io>", "Second wave", 16)])

    report = one_pass(home, model)

    assert subjects_moved(report) == ["Second wave"] and report.skipped == 0
    assert [s for m, s in messages(settled, imap_user, QUARANTINE) if m == "<blast1@acme.io>"] == [
        "Last chance: 30% off", "Second wave"]
    rows = [r for r in moves(home) if r["message_id"] == "<blast1@acme.io>"]
    assert len(rows) == 2 and rows[0]["content_hash"] != rows[1]["content_hash"]


def test_first_run_history_reusing_an_id_is_learned_not_taken_for_decided(dovecot, imap_user, home,
                                                                           model):
    """Two history messages with one Message-ID: both are learned in the first run (the second
    is not "already decided"), so the personal one still makes its sender a contact."""
    write_config(home, dovecot, imap_user)
    append_all(dovecot, imap_user, [
        newsletter("Shop <hi@shop.example>", when=day(0), msgid="<same@x.example>"),
        personal("Ola <ola@brightloop.ai>", when=day(1), msgid="<same@x.example>"),
    ])
    report = one_pass(home, model)
    assert report.first_run and report.learned == 2
    with open_store(home) as store:
        assert "ola@brightloop.ai" in {c.email for c in store.load_contacts()}


def test_undone_message_is_never_moved_again_but_a_new_reuse_of_its_id_is(settled, imap_user, home,
                                                                          model, capsys):
    assert main(["undo", "--message-id", "<blast1@acme.io>", "--no-allow"]) == 0
    assert ("<blast1@acme.io>", "Last chance: 30% off") in messages(settled, imap_user)

    again = one_pass(home, model)
    assert again.skipped == 1 and not again.moved  # the undone message: left alone

    append_all(settled, imap_user, [promo("<blast1@acme.io>", "Second wave", 16)])
    report = one_pass(home, model)
    assert subjects_moved(report) == ["Second wave"]
    assert ("<blast1@acme.io>", "Last chance: 30% off") in messages(settled, imap_user)

    assert not one_pass(home, model).moved  # and the undone one still stays


def test_undo_moves_back_only_the_message_its_move_put_there(settled, imap_user, home, model, capsys):
    """Two moved messages share a Message-ID, and the move log has no destination UID (a server
    that does not say it, no COPYUID): an undo of one of them moves back that one, not both."""
    append_all(settled, imap_user, [promo("<blast1@acme.io>", "Second wave", 16)])
    assert subjects_moved(one_pass(home, model)) == ["Second wave"]
    with open_store(home) as store:
        store.execute("UPDATE moves SET dst_uid = NULL")
    first = next(r for r in moves(home) if r["message_id"] == "<blast1@acme.io>")
    with open_store(home) as store:  # undo only the first move
        plan = UndoPlan(action="undo", target="test", moves=tuple(plan_moves_back([first])))
        with open_account(config_of(home)) as account:
            result = apply_undo(store, plan, connect=lambda _name: account)
    assert not result.failed and len(result.moved) == 1
    inbox = messages(settled, imap_user)
    assert ("<blast1@acme.io>", "Last chance: 30% off") in inbox
    assert ("<blast1@acme.io>", "Second wave") not in inbox
    assert ("<blast1@acme.io>", "Second wave") in messages(settled, imap_user, QUARANTINE)


def test_undo_last_moves_back_the_last_message_not_every_one_with_its_message_id(
        settled, imap_user, home, model, capsys):
    append_all(settled, imap_user, [promo("<blast1@acme.io>", "Second wave", 16)])
    assert subjects_moved(one_pass(home, model)) == ["Second wave"]
    assert main(["undo", "--last", "--no-allow", "--yes"]) == 0, capsys.readouterr().err
    assert ("<blast1@acme.io>", "Second wave") in messages(settled, imap_user)
    assert ("<blast1@acme.io>", "Last chance: 30% off") in messages(settled, imap_user, QUARANTINE)


@pytest.mark.parametrize("crash_at", ["intents", "moved"])
def test_interrupted_move_of_a_reused_id_is_reconciled_to_the_right_message(
        settled, imap_user, home, model, crash_at):
    """The quarantine already holds Acme's blast <blast1@acme.io>; a new promotion reuses its
    Message-ID and the process dies around its move: the restart moves (or confirms) the new one."""
    append_all(settled, imap_user, [promo("<blast1@acme.io>", "Second wave", 16)])

    def crash(at: str) -> None:
        if at == crash_at:
            raise Crash(at)

    with pytest.raises(Crash):
        one_pass(home, model, checkpoint=crash)
    report = one_pass(home, model)

    assert report.reconciled == 1
    assert ("<blast1@acme.io>", "Second wave") not in messages(settled, imap_user)
    assert [s for m, s in messages(settled, imap_user, QUARANTINE) if m == "<blast1@acme.io>"] == [
        "Last chance: 30% off", "Second wave"]
    rows = [r for r in moves(home) if r["message_id"] == "<blast1@acme.io>"]
    assert [r["state"] for r in rows] == ["done", "done"]
    assert rows[0]["dst_uid"] != rows[1]["dst_uid"]  # each row names its own message


def test_uidvalidity_change_acts_on_new_mail_reusing_a_decided_id(settled, imap_user, home, model):
    settled.change_uidvalidity(imap_user, "INBOX")
    append_all(settled, imap_user, [promo("<coffee@acme.io>", "Final hours", 15)])

    report = one_pass(home, model)

    assert report.resynced == ["INBOX"] and subjects_moved(report) == ["Final hours"]
    inbox = messages(settled, imap_user)
    assert ("<coffee@acme.io>", "Re: coffee") in inbox  # the kept note: recognised, left alone
    assert ("<blast0@acme.io>", "Spring launch: 30% off this week") in inbox  # history stays
    assert not one_pass(home, model).busy


def test_a_moved_promo_stays_listed_when_a_later_message_reuses_its_id(settled, imap_user, home, model):
    """review: the latest decision of *that message* counts, not of its Message-ID."""
    append_all(settled, imap_user, [
        personal("Jane Doe <jane@acme.io>", when=day(13), subject="Re: your order",
                 body="It ships on Friday.\n\nJane\n", msgid="<blast1@acme.io>")])
    assert not one_pass(home, model).moved  # Jane's note is kept
    with open_store(home) as store:
        listed = {(m.message_id, m.subject) for m in moved_messages(store)}
    assert ("<blast1@acme.io>", "Last chance: 30% off") in listed


# -- a state database from before the content hash ---------------------------------------------


def _strip_to_legacy(home: Path) -> None:
    """Make the state look as a version without content hashes left it: no imap_decided rows, no
    content_hash in the move log."""
    with open_store(home) as store:
        store.execute("DELETE FROM imap_decided")
        store.execute("UPDATE moves SET content_hash = NULL")


def test_legacy_moves_without_a_hash_still_keep_a_put_back_message_where_it_is(settled, imap_user,
                                                                               home, model):
    _strip_to_legacy(home)
    with settled.client(imap_user) as client:  # the user drags Dataflow's blast back
        client.select_folder(QUARANTINE)
        client.move(client.search(["HEADER", "Message-ID", "<df@dataflow.io>"]), "INBOX")
    report = one_pass(home, model)
    assert report.skipped == 1 and not report.moved


def test_legacy_decisions_are_recognised_after_a_uidvalidity_change(settled, imap_user, home, model):
    _strip_to_legacy(home)
    settled.change_uidvalidity(imap_user, "INBOX")
    before = messages(settled, imap_user)
    report = one_pass(home, model)
    assert report.resynced == ["INBOX"] and not report.moved and messages(settled, imap_user) == before


def test_a_database_of_the_previous_schema_is_migrated_in_place(tmp_path):
    path = tmp_path / DB_NAME
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, at TEXT)")
    for version, sql in MIGRATIONS:
        if version >= 4:
            continue
        db.executescript(sql)
        db.execute("INSERT INTO schema_migrations VALUES (?, 'x')", (version,))
    db.execute("""INSERT INTO moves (account, message_id, src_folder, src_uid, src_uidvalidity,
                      dst_folder, state, reason, at) VALUES ('a', '<m@x>', 'INBOX', 3, 9,
                      'Contact-Promo', 'done', 'sync: x', 'now')""")
    db.commit()
    db.close()
    with Store(path) as store:
        (row,) = store.execute("SELECT message_id, content_hash, state FROM moves")
        assert tuple(row) == ("<m@x>", None, "done")
        assert store.execute("SELECT COUNT(*) FROM imap_decided").fetchone()[0] == 0
        assert 4 in {r[0] for r in store.execute("SELECT version FROM schema_migrations")}

