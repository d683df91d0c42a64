"""The batch writes of the state database leave exactly the rows the plain ones left.

``Store.note_senders`` merges the rows of a key before its upsert, and the decisions' JSON columns
are written without json.dumps; each is checked against the plain way (kept here as the oracle) on
generated rows and on real messages."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mailguard import models_io
from mailguard.core.rules import Decision, Policy
from mailguard.pipeline import Pipeline
from mailguard.store import _NOTE_SENDER, DB_NAME, Store, _iso, _json_scores, _json_texts

_ROOT = Path(__file__).resolve().parents[1]
SHARED = next((p for p in (_ROOT.parent / "shared", _ROOT.parent.parent / "shared") if p.is_dir()),
              _ROOT.parent / "shared")


def plain_note_senders(store: Store, rows) -> None:
    """Store.note_senders as it was: the single-key upsert of each row, in order."""
    store.db.executemany(_NOTE_SENDER, ((k, _iso(w), _iso(w), n) for k, w, n in rows))


def _senders(store: Store) -> list[tuple]:
    return [tuple(r) for r in store.db.execute("SELECT rowid, * FROM senders ORDER BY rowid")]


BASE = datetime(2024, 3, 1, 12, 0, tzinfo=timezone.utc)
#: a few instants, some the same instant in another zone, some a second apart (ties and near ties)
WHENS = st.sampled_from([
    BASE, BASE + timedelta(seconds=1), BASE - timedelta(days=3), BASE + timedelta(days=40),
    BASE.astimezone(timezone(timedelta(hours=-5))), BASE + timedelta(microseconds=400),
    datetime(1999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=9))),
])
KEYS = st.sampled_from(["from:a@x.io", "org:x.io", "at:x.io/a@x.io", "list:news", "from:b@y.org"])
ROWS = st.lists(st.tuples(KEYS, WHENS, st.sampled_from(["", "first", "second", "é third"])),
                max_size=30)


@settings(max_examples=300, deadline=None)
@given(before=ROWS, rows=ROWS, same_object=st.booleans())
@example(before=[], rows=[("from:a@x.io", BASE, "one"), ("from:a@x.io", BASE, "two")], same_object=True)
@example(before=[("org:x.io", BASE, "old")],
         rows=[("org:x.io", BASE.astimezone(timezone(timedelta(hours=-5))), "same instant")],
         same_object=False)
def test_note_senders_leaves_the_rows_of_the_single_upserts(before, rows, same_object):
    """Existing rows (``before``), then a batch: the same table, the note tie rule included (a
    later note only replaces one strictly later), whether a message's keys share one time object
    (as the pipeline's do) or not."""
    if same_object and rows:  # consecutive rows with an equal time share the object
        shared = [rows[0]]
        for k, w, n in rows[1:]:
            prev = shared[-1][1]
            shared.append((k, prev if prev == w else w, n))
        rows = shared
    with Store(":memory:") as ours, Store(":memory:") as plain:
        for store in (ours, plain):
            plain_note_senders(store, before)
        ours.note_senders(rows)
        plain_note_senders(plain, rows)
        assert _senders(ours) == _senders(plain)


def test_note_senders_without_a_time_fails_as_the_single_upsert_does():
    with Store(":memory:") as store:
        with pytest.raises(Exception) as caught:
            store.note_senders([("from:a@x.io", BASE, "n"), ("from:b@x.io", None, "n")])
        assert "NOT NULL" in str(caught.value)


TEXTS = st.lists(st.one_of(st.text(), st.text(st.characters(codec="utf-8")),
                           st.sampled_from(['"quoted"', "back\\slash", "tab\tnew\nline", "\x00\x1f\x7f",
                                            "\ud800 lone", "é ☃ 𝄞", "</script>"])), max_size=8)


@settings(max_examples=400, deadline=None)
@given(texts=TEXTS)
def test_reasons_json_is_json_dumps(texts):
    assert _json_texts(tuple(texts)) == json.dumps(list(texts))
    assert json.loads(_json_texts(tuple(texts))) == texts


def test_reasons_json_of_items_that_are_not_text_is_json_dumps():
    class Text(str):
        pass

    for items in ((1, "a"), (Text("sub"), "b"), (None,), ()):
        assert _json_texts(items) == json.dumps(list(items))


SCORE = st.one_of(st.floats(), st.floats(min_value=0, max_value=1), st.integers(-3, 3),
                  st.sampled_from([0.0, -0.0, 1e-300, 5e-324, 0.00005, 0.99995, 1 / 3, 1e16, math.nan]))


@settings(max_examples=400, deadline=None)
@given(scores=st.one_of(st.tuples(SCORE, SCORE, SCORE), st.lists(SCORE, max_size=5).map(tuple)))
def test_scores_json_is_json_dumps_of_scores_dict(scores):
    d = Decision(message_id="<m@x>", date=None, sender="a@x.io", subject="s", action="keep",
                 promo_score=None, linked_contact=None, link_kind=None, reasons=(), scores=scores)
    assert _json_scores(d) == json.dumps(d.scores_dict())


@pytest.fixture(scope="module")
def model():
    return models_io.load()


def _real_messages(limit: int = 600) -> list[bytes]:
    files = sorted(p for p in (_ROOT / "tests" / "data" / "corpus_sample").rglob("*")
                   if p.is_file() and p.name != "README.md")
    files += sorted(p for p in (_ROOT / "tests").rglob("*.eml") if p.is_file())  # cases, social
    files += sorted(p for p in (SHARED / "corpus" / "spamassassin").glob("*/*")
                    if p.is_file() and p.name[0].isdigit())[:limit]
    files += sorted(p for p in (SHARED / "realmail").rglob("*.eml") if p.is_file())
    return [p.read_bytes() for p in files]


def test_real_mail_leaves_the_rows_of_the_plain_writes(model, tmp_path, monkeypatch):
    """A pipeline over real mail, in batches (senders repeat inside one): the senders table is
    the one the single upserts leave, and each decision's reasons and scores are json.dumps's."""
    raws = _real_messages()
    assert len(raws) >= 100  # the repository's own sample at least: never an empty loop
    policy = Policy(me=frozenset({"me@example.com"}))
    with Store(tmp_path / "ours" / DB_NAME) as ours, Store(tmp_path / "plain" / DB_NAME) as plain:
        p_ours, p_plain = Pipeline(model, policy, ours), Pipeline(model, policy, plain)
        analysed = p_ours.analyse(raws)
        decisions = []
        for start in range(0, len(raws), 200):
            part = raws[start:start + 200]
            decisions += p_ours.process(part, learn_only=True, analysed=analysed[start:start + 200])
            with monkeypatch.context() as m:
                m.setattr(Store, "note_senders", plain_note_senders)
                p_plain.process(part, learn_only=True, analysed=analysed[start:start + 200])
        repeated = ours.db.execute("SELECT COUNT(*) FROM senders WHERE messages > 1").fetchone()[0]
        assert repeated > 10  # keys that came more than once: the merge was exercised
        assert _senders(ours) == _senders(plain)
        cols = "message_id, sender, action, reasons, scores, category, linked_contact, link_strength"
        rows = ours.db.execute(f"SELECT {cols} FROM decisions ORDER BY id").fetchall()
        assert [tuple(r) for r in rows] == [tuple(r) for r in plain.db.execute(
            f"SELECT {cols} FROM decisions ORDER BY id")]
    assert [r["reasons"] for r in rows] == [json.dumps(list(d.reasons)) for d in decisions]
    assert [r["scores"] for r in rows] == [None if d.scores is None else json.dumps(d.scores_dict())
                                           for d in decisions]
