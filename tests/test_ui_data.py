"""The web page's data and charts as pure functions (rows in, dataclasses or SVG out), and the
store queries behind them on a really scanned mailbox."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timezone

import pytest
from mailfactory import day
from reviewkit import ACME, DATAFLOW, open_store, scan, write_inbox

from mailguard.review.actions import FLAGGED, flagged_senders, plan_undo, apply_undo
from mailguard.ui import charts
from mailguard.ui.data import (
    BACK,
    CONTACT,
    KEPT,
    MOVED,
    WOULD,
    Origin,
    build_cards,
    build_events,
    category_of,
    describe_moves,
    flagged_page,
    latest_per_message,
    matches_query,
    score_bins,
    story,
    weekly_moves,
)


@pytest.fixture
def home(tmp_path, monkeypatch):
    h = tmp_path / "home"
    monkeypatch.setenv("MAILGUARD_HOME", str(h))
    return h


@pytest.fixture
def scanned(home, tmp_path):
    scan(write_inbox(tmp_path))
    with open_store(home) as store:
        yield store


def _move(id_, reason, state, src="INBOX", dst="Contact-Promo", done="2026-03-21T10:00:00+00:00"):
    return {"id": id_, "reason": reason, "state": state, "src_folder": src, "dst_folder": dst,
            "done_at": done, "at": done, "decision_id": 7}


# -- what mailguard did ----------------------------------------------------------------------------


def test_describe_moves_says_where_each_message_went():
    sync = _move(1, "sync: promotional", "done")
    assert describe_moves("keep", False, "imap:sam", []) == (KEPT, "kept in the inbox")
    assert describe_moves("move", False, "imap:sam", [sync]) == \
        (MOVED, "moved from INBOX to Contact-Promo on 21 Mar 2026")
    back = _move(2, "undo of move #1", "done", src="Contact-Promo", dst="INBOX",
                 done="2026-03-22T08:00:00+00:00")
    assert describe_moves("move", True, "imap:sam", [{**sync, "state": "undone"}, back]) == \
        (BACK, "moved from INBOX to Contact-Promo on 21 Mar 2026; put back in INBOX on 22 Mar 2026 (undo)")
    # the undo itself reverted: in the quarantine again
    assert describe_moves("move", False, "imap:sam", [{**sync, "state": "undone"}, back])[0] == MOVED
    failed = _move(1, "sync: x: expunged from INBOX by another client before the move", "failed")
    assert describe_moves("move", False, "imap:sam", [failed])[0] == KEPT
    assert describe_moves("move", False, "/home/sam/inbox.mbox", []) == \
        (WOULD, "flagged to move by the scan of inbox.mbox")
    assert describe_moves("move", True, "/home/sam/inbox.mbox", [])[0] == BACK
    assert describe_moves("move", False, "imap:sam", [])[1] == "would be moved (dry run on sam: nothing moved)"


def test_latest_decision_per_message_and_undone_from_any_of_them():
    rows = [
        {"id": 1, "mkey": "<a>", "status": "undone", "date": "2026-03-05T00:00:00+00:00"},
        {"id": 5, "mkey": "<a>", "status": "decided", "date": "2026-03-05T00:00:00+00:00"},
        {"id": 2, "mkey": "<b>", "status": "decided", "date": "2026-03-01T00:00:00+00:00"},
    ]
    out = latest_per_message(rows)
    assert [(r["id"], undone) for r, undone in out] == [(2, False), (5, True)]  # by date


def test_category_when_present_and_none_otherwise():
    assert category_of({"category": "promotional"}) == "promotional"
    assert category_of({"id": 1}, ["category: Transactional (receipt)"]) == "transactional"
    assert category_of({"id": 1}, ["promotional: promo score 0.99"]) is None
    assert category_of({"category": None}) is None


def test_events_mark_the_contact_message_and_count_days_after_it():
    origin = Origin("jane@acme.io", "Jane Doe", day(0), "they wrote to you personally",
                    "Great meeting you", "mail", "")
    rows = [
        {"id": 1, "mkey": "<hello>", "message_id": "<hello>", "status": "decided",
         "date": day(0).isoformat(), "sender": "jane@acme.io", "subject": "Great meeting you",
         "action": "keep", "promo_score": 0.01, "link_kind": None, "source": "x.mbox",
         "reasons": json.dumps(["promo score 0.01 below 0.65: not promotional"])},
        {"id": 2, "mkey": "<b1>", "message_id": "<b1>", "status": "decided",
         "date": day(20).isoformat(), "sender": ACME, "subject": "Spring launch", "action": "move",
         "promo_score": 0.99, "link_kind": "same organisation", "source": "x.mbox",
         "reasons": json.dumps(["promotional: promo score 0.99", "linked to jane@acme.io by same organisation",
                                "contact since 2026-03-02", "category: promotional"])},
    ]
    first, blast = build_events(rows, [], origin, "<hello>")
    assert first.kind == CONTACT and first.days_after == 0
    assert blast.kind == WOULD and blast.days_after == 20 and blast.category == "promotional"
    # the timeline says once when the contact was made and how each message is linked
    assert blast.evidence == ("promotional: promo score 0.99", "category: promotional")


def test_the_story_in_one_sentence(scanned):
    acme, = [f for f in flagged_senders(scanned) if f.sender == ACME]
    (card,) = build_cards(scanned, [acme])
    assert card.story == (
        "Jane Doe: they wrote to you personally on 2 Mar 2026 (\"Great meeting you\"); from "
        "22 Mar 2026, 20 days later, 2 promotional messages followed from news@acme.io "
        "(same organisation).")
    assert card.first_move == day(20)
    kinds = [e.kind for e in card.events]
    assert kinds[0] == CONTACT and kinds.count(WOULD) == 2
    # no contact: moved by a block rule
    rule_only = story(acme.__class__(**{**{k: getattr(acme, k) for k in acme.__slots__},
                                       "linked_contact": None, "status": "blocked",
                                       "rule": "acme.io"}), None, [])[0]
    assert rule_only == "No networking contact: 2 promotional messages from news@acme.io moved by the blocked rule acme.io."


def test_cards_show_an_undo_and_the_page_counts(scanned):
    apply_undo(scanned, plan_undo(scanned, sender=ACME, allow=False))
    page = flagged_page(scanned)
    assert page.total == 1 and page.moved_messages == 1 and page.by_status == {FLAGGED: 1}
    assert [c.sender.sender for c in page.cards] == [DATAFLOW]
    rows = scanned.latest_decisions()
    weeks = weekly_moves(rows)
    assert sum(w.back for w in weeks) == 2 and sum(w.moved for w in weeks) == 1


def test_search_matches_every_word_anywhere_in_the_row(scanned):
    acme, = [f for f in flagged_senders(scanned) if f.sender == ACME]
    assert matches_query(acme, "jane ACME")
    assert matches_query(acme, "organisation")
    assert not matches_query(acme, "jane dataflow")
    assert [c.sender.sender for c in flagged_page(scanned, q="tom").cards] == [DATAFLOW]


def test_pages_of_senders(scanned):
    one = flagged_page(scanned, per_page=1, page=2)
    assert (one.page, one.pages, one.matching, len(one.cards)) == (2, 2, 2, 1)
    assert flagged_page(scanned, per_page=1, page=99).page == 2  # clamped


# -- chart figures ---------------------------------------------------------------------------------


def test_weekly_moves_fill_empty_weeks_and_keep_the_last_ones():
    rows = [{"action": "move", "date": "2026-03-04T10:00:00+00:00", "undone": 0},  # Wed, week of 2 Mar
            {"action": "move", "date": "2026-03-08T10:00:00+00:00", "undone": 1},  # Sun, same week
            {"action": "move", "date": "2026-03-24T10:00:00+00:00", "undone": 0},
            {"action": "keep", "date": "2026-03-24T10:00:00+00:00", "undone": 0},
            {"action": "move", "date": None, "undone": 0}]
    weeks = weekly_moves(rows)
    assert [(w.start, w.moved, w.back) for w in weeks] == [
        (date(2026, 3, 2), 1, 1), (date(2026, 3, 9), 0, 0), (date(2026, 3, 16), 0, 0),
        (date(2026, 3, 23), 1, 0)]
    assert [w.start for w in weekly_moves(rows, weeks=2)] == [date(2026, 3, 16), date(2026, 3, 23)]
    assert weekly_moves([]) == []


def test_score_bins_split_moved_and_kept():
    rows = [{"promo_score": 0.0, "action": "keep"}, {"promo_score": 1.0, "action": "move"},
            {"promo_score": 0.97, "action": "keep"}, {"promo_score": None, "action": "keep"}]
    bins = score_bins(rows, bins=4)
    assert [(b.low, b.high, b.kept, b.moved) for b in bins] == [
        (0.0, 0.25, 1, 0), (0.25, 0.5, 0, 0), (0.5, 0.75, 0, 0), (0.75, 1.0, 1, 1)]


def test_nice_axis_tops_and_steps():
    assert [charts.nice_max(v) for v in (0, 1, 3, 7, 11, 160, 201)] == [1, 1, 5, 10, 20, 200, 500]
    assert [charts.divisions(t) for t in (1, 5, 10, 20, 200, 500)] == [1, 5, 5, 4, 4, 5]


def test_svg_charts_are_accessible_and_escape_text():
    svg = charts.stacked_bars(chart_id="c", title="<moves> & co", desc="d\"esc", labels=["a<b", "c"],
                              series=[charts.Series("moved", "c-moved", (3, 0))])
    assert svg.startswith('<svg class="chart"') and 'role="img" aria-labelledby="c-t c-d"' in svg
    assert "<title id=\"c-t\">&lt;moves&gt; &amp; co</title>" in svg and "a&lt;b" in svg
    assert "a<b" not in svg
    assert len(re.findall(r"<rect ", svg)) == 1  # no bar for a zero
    assert "<script" not in svg and "style=" not in svg  # the page's policy allows neither


def test_the_strip_is_decorative_and_empty_without_dates():
    assert charts.strip(None, []) == ""
    origin_day = datetime(2026, 3, 2, tzinfo=timezone.utc)
    svg = charts.strip(origin_day, [])
    assert 'aria-hidden="true"' in svg and 'class="c-contact"' in svg


# -- store queries ---------------------------------------------------------------------------------


def test_decision_page_filters_counts_and_pages(scanned):
    rows, total = scanned.decision_page(text="CHANCE: 30%")
    assert total == 1 and rows[0]["subject"] == "Last chance: 30% off"
    assert scanned.decision_page(text="Last%off")[1] == 0  # % and _ are no wildcards
    assert scanned.decision_page(text="_")[1] == 0
    rows, total = scanned.decision_page(domain="acme.io", action="move")
    assert total == 2 and {r["sender"] for r in rows} == {ACME}
    first, total = scanned.decision_page(limit=3)
    second, _ = scanned.decision_page(limit=3, before_id=first[-1]["id"])
    assert total == 7 and [r["id"] for r in first + second] == list(range(7, 1, -1))
    rows, _ = scanned.decision_page(date_from=day(20), date_to=day(28))
    assert {r["subject"] for r in rows} == {"Spring launch: 30% off this week", "Last chance: 30% off"}
    promotional = scanned.execute(
        "SELECT COUNT(*) FROM decisions WHERE category = 'promotional'").fetchone()[0]
    assert 0 < promotional < 7 and scanned.decision_page(category="promotional")[1] == promotional


def test_decisions_about_a_contact_sender_and_message(scanned):
    rows = scanned.decisions_about(contacts=["jane@acme.io"], message_ids=["<hello@acme.io>"])
    assert {r["message_id"] for r in rows} == {"<hello@acme.io>", "<blast1@acme.io>", "<blast2@acme.io>"}
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    assert all(r["mkey"] == r["message_id"] for r in rows)
    assert scanned.decisions_about() == []
