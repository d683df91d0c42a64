"""review.py over a really scanned mailbox: flagged senders, rules, labels, the log, and undo
(scan-only, through a fake IMAP account, and against the real Dovecot)."""

from __future__ import annotations

import json

import pytest

from mailguard.errors import ImapError, ReviewError
from mailguard.review.actions import (
    ALLOWED,
    BLOCKED,
    FLAGGED,
    MoveBack,
    apply_undo,
    decision_log,
    flagged_senders,
    labelled_examples,
    moved_messages,
    normalise_entry,
    plan_moves_back,
    plan_revert,
    plan_undo,
    read_examples,
    review_actions,
    rule_status,
    set_rule,
    undo_depth,
)
from mailfactory import day
from reviewkit import ACME, DATAFLOW, SHOP, open_store, scan, write_inbox


@pytest.fixture
def home(tmp_path, monkeypatch):
    h = tmp_path / "home"
    monkeypatch.setenv("MAILGUARD_HOME", str(h))
    return h


@pytest.fixture
def inbox(tmp_path):
    return write_inbox(tmp_path)


@pytest.fixture
def scanned(home, inbox):
    scan(inbox)
    with open_store(home) as store:
        yield store


# -- flagged ----------------------------------------------------------------------------------


def test_flagged_senders_one_row_each_newest_first_with_the_contact(scanned):
    rows = flagged_senders(scanned)
    assert [f.sender for f in rows] == [DATAFLOW, ACME]  # last messages on day 30 and day 27
    df, acme = rows
    assert acme.messages == 2 and df.messages == 1
    assert acme.linked_contact == "jane@acme.io" and acme.link == "same organisation"
    assert acme.contact_since == day(0)
    assert acme.contact_subject == "Great meeting you"
    assert acme.contact_how == "they wrote to you personally"
    assert acme.last_subject == "Last chance: 30% off"
    assert acme.last_date == day(27)
    assert 0.5 < acme.max_score <= 1.0
    assert acme.status == FLAGGED and acme.rule is None
    assert set(acme.message_ids) == {"<blast1@acme.io>", "<blast2@acme.io>"}
    assert df.contact_how == "you wrote to them" and df.contact_subject == "Intro: Sam <> Tom"
    d = acme.as_dict()
    assert {"sender", "linked_contact", "link", "contact_since", "messages", "last_subject",
            "status"} <= d.keys()
    assert d["contact_since"] == "2026-03-02"


def test_scanning_twice_does_not_double_the_counts(scanned, inbox):
    before = {f.sender: f.messages for f in flagged_senders(scanned)}
    scan(inbox)
    assert len(scanned.decisions(where="action = 'move'")) == 6  # 3 per scan
    assert len(moved_messages(scanned)) == 3
    assert {f.sender: f.messages for f in flagged_senders(scanned)} == before == {ACME: 2, DATAFLOW: 1}


# -- allow / block, labels ----------------------------------------------------------------------


@pytest.mark.parametrize("text, entry", [
    ("News@Acme.IO", "news@acme.io"), ("<news@acme.io>", "news@acme.io"), ("@acme.io", "acme.io"),
    ("acme.io", "acme.io"), (" mail.acme.co.uk ", "mail.acme.co.uk"),
])
def test_normalise_entry(text, entry):
    assert normalise_entry(text) == entry


@pytest.mark.parametrize("bad", ["", "acme", "news@", "a b@acme.io", "news@acme", "@", "x@y@z.io"])
def test_normalise_entry_refuses_what_is_not_an_address_or_domain(bad):
    with pytest.raises(ReviewError, match="neither an email address nor a domain"):
        normalise_entry(bad)


def test_rule_status_allow_wins_and_domains_cover_subdomains():
    rules = {"acme.io": BLOCKED, "jane@acme.io": ALLOWED}
    assert rule_status("news@mail.acme.io", rules) == (BLOCKED, "acme.io")
    assert rule_status("jane@acme.io", rules) == (ALLOWED, "jane@acme.io")
    assert rule_status("x@other.io", rules) == (FLAGGED, None)


def test_allow_changes_status_and_the_next_scan_keeps_the_sender(scanned, inbox):
    change = set_rule(scanned, "News@Acme.io", ALLOWED, note="my friend's company")
    assert (change.entry, change.before, change.after) == (ACME, None, ALLOWED)
    status = {f.sender: f.status for f in flagged_senders(scanned)}
    assert status == {ACME: ALLOWED, DATAFLOW: FLAGGED}
    scan(inbox)  # the pipeline reads the rule: acme's newsletters are kept now
    assert {f.sender for f in flagged_senders(scanned)} == {DATAFLOW}
    latest = scanned.decisions(where="message_id = '<blast1@acme.io>'", limit=1)[0]
    assert latest["action"] == "keep" and json.loads(latest["reasons"])[0] == f"sender allowed ({ACME})"
    assert review_actions(scanned)[0]["action"] == "allow"


def test_block_moves_an_unlinked_sender_and_both_rules_become_labels(scanned, inbox):
    set_rule(scanned, "shop.example", BLOCKED)
    set_rule(scanned, ACME, ALLOWED)
    scan(inbox)
    rows = {f.sender: f for f in flagged_senders(scanned)}
    assert rows[SHOP].status == BLOCKED and rows[SHOP].linked_contact is None
    labels = {ex.message_id: (ex.label, ex.why) for ex in labelled_examples(scanned)}
    assert labels == {
        "<shop@shop.example>": (1, "blocked (shop.example)"),
        "<blast1@acme.io>": (0, f"allowed ({ACME})"),
        "<blast2@acme.io>": (0, f"allowed ({ACME})"),
    }
    raws = {ex.message_id: raw for ex, raw in read_examples(labelled_examples(scanned))}
    assert set(raws) == set(labels)
    assert b"Message-ID: <shop@shop.example>" in raws["<shop@shop.example>"]


def test_unrule_logs_and_removes(scanned):
    set_rule(scanned, ACME, BLOCKED)
    change = set_rule(scanned, ACME, None)
    assert (change.before, change.after) == (BLOCKED, None)
    assert scanned.sender_rules() == {}
    assert [a["action"] for a in review_actions(scanned)] == ["unrule", "block"]


# -- the decision log ---------------------------------------------------------------------------


def test_decision_log_newest_first_with_reasons_and_filters(scanned):
    rows = decision_log(scanned)
    assert len(rows) == 7
    assert [r["id"] for r in rows] == sorted((r["id"] for r in rows), reverse=True)
    assert all(r["reasons"] for r in rows)
    moves = decision_log(scanned, moves_only=True)
    assert {r["sender"] for r in moves} == {ACME, DATAFLOW}
    assert [r["sender"] for r in decision_log(scanned, sender="acme.io")] == [ACME, ACME, "jane@acme.io"]
    assert len(decision_log(scanned, limit=2)) == 2
    from datetime import datetime, timedelta, timezone

    assert decision_log(scanned, since=datetime.now(timezone.utc) + timedelta(days=1)) == []


# -- undo without IMAP --------------------------------------------------------------------------


def test_scan_only_undo_marks_kept_allows_and_can_be_undone(scanned, inbox):
    scan(inbox)  # two scans: every message has two move decisions
    plan = plan_undo(scanned, sender=ACME)
    assert len(plan.decisions) == 4 and plan.moves == ()
    assert plan.rule and (plan.rule.entry, plan.rule.after) == (ACME, ALLOWED)
    assert any("allow news@acme.io so it is not flagged again" in line for line in plan.lines())
    assert {f.sender for f in flagged_senders(scanned)} == {ACME, DATAFLOW}  # planning changed nothing

    result = apply_undo(scanned, plan)
    assert result.decisions == 4
    assert {f.sender for f in flagged_senders(scanned)} == {DATAFLOW}
    assert scanned.sender_rules() == {ACME: ALLOWED}
    assert {r["status"] for r in scanned.decisions(where="sender = ?", params=[ACME])
            if r["action"] == "move"} == {"undone"}
    assert [ex.label for ex in labelled_examples(scanned) if ex.sender == ACME] == [0, 0]

    # the undo is logged, and the newest thing done, so --last reverts it
    again = plan_undo(scanned, last=True)
    assert again.reverts == result.entry_id
    assert again.messages == (f"{ACME}: Spring launch: 30% off this week", f"{ACME}: Last chance: 30% off")
    assert "  mark 2 message(s) moved (flagged again) (4 decisions over several scans):" in again.lines()
    apply_undo(scanned, again)
    assert {f.sender: f.messages for f in flagged_senders(scanned)} == {ACME: 2, DATAFLOW: 1}
    assert scanned.sender_rules() == {}
    log = review_actions(scanned)
    assert [a["action"] for a in log] == ["revert", "undo"]
    assert log[1]["reverted_by"] == log[0]["id"]

    # and the revert can be reverted: the undo holds again
    apply_undo(scanned, plan_undo(scanned, last=True))
    assert {f.sender for f in flagged_senders(scanned)} == {DATAFLOW}
    with pytest.raises(ReviewError, match="already reverted"):
        plan_revert(scanned, result.entry_id)


def test_undo_last_without_an_undo_takes_the_newest_moved_message(scanned):
    plan = plan_undo(scanned, last=True, allow=False)
    assert plan.target == "<df@dataflow.io>" and plan.rule is None
    apply_undo(scanned, plan)
    assert {f.sender for f in flagged_senders(scanned)} == {ACME}
    assert scanned.sender_rules() == {}


def test_undo_one_message_by_id_with_or_without_brackets(scanned):
    plan = plan_undo(scanned, message_id="blast1@acme.io")
    assert [m for m in plan.messages] == [f"{ACME}: Spring launch: 30% off this week"]
    apply_undo(scanned, plan)
    assert [f.messages for f in flagged_senders(scanned) if f.sender == ACME] == [1]


def test_undo_of_nothing_says_so(scanned):
    with pytest.raises(ReviewError, match="nothing to undo for hi@shop.example"):
        plan_undo(scanned, sender=SHOP)
    with pytest.raises(ReviewError, match="name one of"):
        plan_undo(scanned)
    with pytest.raises(ReviewError, match="no review log entry #99"):
        plan_revert(scanned, 99)


# -- undo on an IMAP account ---------------------------------------------------------------------


def test_plan_moves_back_is_pure_and_reverses_done_moves_only():
    rows = [
        {"id": 1, "account": "a", "message_id": "<m1>", "src_folder": "INBOX", "dst_folder": "Promo",
         "dst_uid": 7, "state": "done", "decision_id": 3},
        {"id": 2, "account": "a", "message_id": "<m2>", "src_folder": "INBOX", "dst_folder": "Promo",
         "dst_uid": None, "state": "intent", "decision_id": 4},
        {"id": 3, "account": "a", "message_id": "<m3>", "src_folder": "INBOX", "dst_folder": "Promo",
         "dst_uid": 9, "state": "undone", "decision_id": 5},
    ]
    assert plan_moves_back(rows) == [MoveBack(1, "a", "<m1>", "Promo", "INBOX", 7, 3)]


def test_undo_depth_follows_the_chain():
    reasons = {1: "contact then promo", 2: "undo of move #1", 3: "undo of move #2"}
    assert [undo_depth(reasons, i) for i in (1, 2, 3)] == [0, 1, 2]


class FakeAccount:
    """The three ImapAccount methods an undo uses, over folders of {uid: message_id}. Checks that
    the intent is in the move log before each move."""

    def __init__(self, store, folders):
        self.store = store
        self.folders = folders
        self.selected = None
        self.next_uid = 100
        self.calls = []

    def select(self, folder):
        if folder not in self.folders:
            raise ImapError(f"no folder {folder}")
        self.selected = folder
        self.calls.append(("select", folder))
        return type("State", (), {"uidvalidity": 42})()

    def find_by_message_id(self, folder, message_id):
        return sorted(u for u, m in self.folders[folder].items() if m == message_id)

    def move(self, uids, dest):
        intents = self.store.execute("SELECT src_uid FROM moves WHERE state = 'intent'").fetchall()
        assert sorted(r[0] for r in intents) == sorted(uids), "intent must be logged before the move"
        out = {}
        for uid in uids:
            self.next_uid += 1
            self.folders[dest][self.next_uid] = self.folders[self.selected].pop(uid)
            out[uid] = self.next_uid
        self.calls.append(("move", tuple(uids), dest))
        return out


def _imap_moved(store, message_id, dst_uid, account="sam@imap"):
    """A move row as the IMAP side logs it after moving a message of a scan decision."""
    decision = store.decisions(where="message_id = ?", params=[message_id], limit=1)[0]["id"]
    cur = store.execute(
        """INSERT INTO moves (account, message_id, src_folder, src_uid, src_uidvalidity, dst_folder,
               dst_uid, state, decision_id, reason, at, done_at)
           VALUES (?, ?, 'INBOX', 5, 1, 'Contact-Promo', ?, 'done', ?, 'contact then promo',
                   '2026-03-28T09:00:00+00:00', '2026-03-28T09:00:01+00:00')""",
        (account, message_id, dst_uid, decision))
    return cur.lastrowid


def test_imap_undo_moves_back_logs_intent_then_done_and_can_be_undone(scanned):
    first = _imap_moved(scanned, "<blast1@acme.io>", 11)
    second = _imap_moved(scanned, "<blast2@acme.io>", 12)
    acct = FakeAccount(scanned, {"INBOX": {}, "Contact-Promo": {11: "<blast1@acme.io>",
                                                                  12: "<blast2@acme.io>"}})
    plan = plan_undo(scanned, sender="acme.io")
    assert [(s.move_id, s.from_folder, s.to_folder) for s in plan.moves] == [
        (first, "Contact-Promo", "INBOX"), (second, "Contact-Promo", "INBOX")]
    assert plan.rule.entry == "acme.io"  # the domain named is what gets allowed

    with pytest.raises(ReviewError, match=r"needs an \[imap\] config"):
        apply_undo(scanned, plan, None)
    assert acct.folders["INBOX"] == {} and len(moved_messages(scanned)) == 3  # nothing changed

    connected = []
    result = apply_undo(scanned, plan, lambda name: connected.append(name) or acct)
    assert connected == ["sam@imap"] and result.failed == []
    assert sorted(acct.folders["INBOX"].values()) == ["<blast1@acme.io>", "<blast2@acme.io>"]
    assert acct.folders["Contact-Promo"] == {}
    rows = {r["id"]: r for r in scanned.execute("SELECT * FROM moves")}
    assert rows[first]["state"] == rows[second]["state"] == "undone"
    undo_rows = [r for r in rows.values() if r["reason"].startswith("undo of")]
    assert sorted(r["reason"] for r in undo_rows) == [f"undo of move #{first}", f"undo of move #{second}"]
    for r in undo_rows:
        assert (r["state"], r["src_folder"], r["dst_folder"], r["src_uidvalidity"]) == (
            "done", "Contact-Promo", "INBOX", 42)
        assert r["dst_uid"] in acct.folders["INBOX"] and r["done_at"]
    assert {f.sender for f in flagged_senders(scanned)} == {DATAFLOW}

    # undo of the undo: back to Contact-Promo, logged as undo of the undo rows
    revert = plan_undo(scanned, last=True)
    assert {s.from_folder for s in revert.moves} == {"INBOX"}
    apply_undo(scanned, revert, lambda name: acct)
    assert acct.folders["INBOX"] == {}
    assert sorted(acct.folders["Contact-Promo"].values()) == ["<blast1@acme.io>", "<blast2@acme.io>"]
    assert {f.sender for f in flagged_senders(scanned)} == {ACME, DATAFLOW}
    assert scanned.sender_rules() == {}
    # the messages are where mailguard put them again: undoing the sender finds the new moves
    assert len(plan_undo(scanned, sender=ACME).moves) == 2


def test_imap_undo_of_a_missing_message_fails_keeps_the_decision_and_can_be_retried(scanned):
    move = _imap_moved(scanned, "<df@dataflow.io>", 30)
    acct = FakeAccount(scanned, {"INBOX": {}, "Contact-Promo": {}})
    result = apply_undo(scanned, plan_undo(scanned, sender=DATAFLOW), lambda name: acct)
    assert [s.move_id for s, _ in result.failed] == [move]
    assert "not in Contact-Promo any more" in result.failed[0][1]
    assert result.decisions == 0
    assert DATAFLOW in {f.sender for f in flagged_senders(scanned)}
    states = [r["state"] for r in scanned.execute("SELECT state FROM moves ORDER BY id")]
    assert states == ["done", "failed"]

    acct.folders["Contact-Promo"][31] = "<df@dataflow.io>"  # e.g. the user found it
    retry = apply_undo(scanned, plan_undo(scanned, message_id="<df@dataflow.io>"), lambda name: acct)
    assert retry.failed == [] and list(acct.folders["INBOX"].values()) == ["<df@dataflow.io>"]
    assert DATAFLOW not in {f.sender for f in flagged_senders(scanned)}


@pytest.mark.dovecot
def test_imap_undo_on_real_dovecot_puts_the_exact_message_back_with_its_flags(scanned, dovecot, imap_user):
    from mailguard.imap.account import ImapAccount
    from mailguard.imap.client import Credentials, ImapSettings
    from reviewkit import inbox_messages

    raw = next(m for m in inbox_messages() if b"<blast2@acme.io>" in m)
    other = next(m for m in inbox_messages() if b"<blast1@acme.io>" in m)
    # the state after mailguard moved it: in Contact-Promo, read and flagged by the user since
    uid = dovecot.append(imap_user, raw, folder="Contact-Promo", flags=[b"\\Seen", b"\\Flagged"])
    dovecot.append(imap_user, other, folder="Contact-Promo")  # not moved by this undo
    dovecot.append(imap_user, b"Subject: hello\r\nMessage-ID: <inbox@x>\r\n\r\nhi\r\n")
    move = _imap_moved(scanned, "<blast2@acme.io>", uid, account=imap_user)

    settings = ImapSettings(host=dovecot.host, port=dovecot.port, username=imap_user, tls="none",
                            timeout=10)
    with ImapAccount(settings, Credentials(password=lambda: "secret")) as acct:
        result = apply_undo(scanned, plan_undo(scanned, message_id="<blast2@acme.io>"),
                            lambda name: acct)
    assert result.failed == [] and len(result.moved) == 1
    inbox = dovecot.flags(imap_user, "INBOX")
    promo = dovecot.flags(imap_user, "Contact-Promo")
    (_, new_row, new_uid), = result.moved
    assert new_uid in inbox and set(inbox[new_uid]) == {b"\\Seen", b"\\Flagged"}
    assert uid not in promo and len(promo) == 1 and len(inbox) == 2
    with dovecot.client(imap_user) as c:
        c.select_folder("INBOX", readonly=True)
        body = c.fetch([new_uid], ["BODY.PEEK[]"])[new_uid][b"BODY[]"]
    assert body.replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n")
    row = scanned.execute("SELECT * FROM moves WHERE id = ?", (new_row,)).fetchone()
    assert (row["state"], row["reason"], row["src_uid"], row["dst_uid"]) == (
        "done", f"undo of move #{move}", uid, new_uid)
    assert row["src_uidvalidity"] == dovecot.uidvalidity(imap_user, "Contact-Promo")

    # undo the undo: the message goes back to Contact-Promo, flags still there
    with ImapAccount(settings, Credentials(password=lambda: "secret")) as acct:
        again = apply_undo(scanned, plan_undo(scanned, last=True), lambda name: acct)
    (_, _, back_uid), = again.moved
    promo = dovecot.flags(imap_user, "Contact-Promo")
    assert set(promo[back_uid]) == {b"\\Seen", b"\\Flagged"}
    assert len(dovecot.flags(imap_user, "INBOX")) == 1
