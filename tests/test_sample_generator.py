"""scripts/make_sample.py: deterministic, valid mbox, complete truth, committed sample up to date."""

from __future__ import annotations

import email.utils
import importlib.util
import json
import mailbox
import sys
from collections import Counter
from datetime import timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "make_sample.py"
SAMPLE = ROOT / "sample_mbox" / "inbox.mbox"
SAMPLE_TRUTH = ROOT / "sample_mbox" / "truth.jsonl"
SMALL = 90


def _load():
    spec = importlib.util.spec_from_file_location("make_sample", SCRIPT)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("make_sample", mod)
    spec.loader.exec_module(mod)
    return mod


ms = _load()


def _run(tmp: Path, seed: int, n: int = SMALL, name: str = "s") -> tuple[Path, Path]:
    out, truth = tmp / f"{name}.mbox", tmp / f"{name}.jsonl"
    assert ms.main(["--seed", str(seed), "--out", str(out), "--truth", str(truth), "--messages", str(n)]) == 0
    return out, truth


def _truth(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _social(t: dict) -> bool:
    """Social-network notifications come from scripts/social_samples.py (tested in test_social.py)."""
    return t["case"].startswith("social:")


SOCIAL_NETWORK_CASES = {"social:linkedin-invitation", "social:github-follow", "social:x-follow",
                        "social:mastodon-follow", "social:bluesky-follow", "social:meetup-rsvp",
                        "social:eventbrite-order", "social:luma-registration"}


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> tuple[Path, Path]:
    return _run(tmp_path_factory.mktemp("small"), 7)


def test_same_seed_gives_identical_bytes(tmp_path: Path, small) -> None:
    out, truth = _run(tmp_path, 7)
    assert out.read_bytes() == small[0].read_bytes()
    assert truth.read_bytes() == small[1].read_bytes()
    raws1, t1 = ms.generate(11, 60)
    raws2, t2 = ms.generate(11, 60)
    assert raws1 == raws2 and t1 == t2


def test_other_seed_gives_other_mailbox(tmp_path: Path, small) -> None:
    out, truth = _run(tmp_path, 8)
    assert out.read_bytes() != small[0].read_bytes()
    social7 = {t["message_id"] for t in _truth(small[1]) if _social(t)}
    social8 = {t["message_id"] for t in _truth(truth) if _social(t)}
    senders7 = {m["From"] for m in mailbox.mbox(str(small[0])) if m["Message-ID"] not in social7}
    senders8 = {m["From"] for m in mailbox.mbox(str(out)) if m["Message-ID"] not in social8}
    assert len(senders7 & senders8) < len(senders7) / 4
    assert {t["case"] for t in _truth(truth) if not _social(t)} == set(ms.CASES)


def test_generate_api_matches_files(small) -> None:
    raws, truths = ms.generate(7, SMALL)
    box = mailbox.mbox(str(small[0]))
    assert len(raws) == len(box)
    assert truths == _truth(small[1])
    for raw, key in zip(raws, box.keys()):
        assert box.get_bytes(key).replace(b"\n>From ", b"\nFrom ") == raw.replace(b"\n>From ", b"\nFrom ")


def _check_mailbox(mbox: Path, truth_path: Path) -> tuple[list, list[dict]]:
    box = mailbox.mbox(str(mbox))
    msgs = list(box)
    truths = _truth(truth_path)
    assert len(msgs) > 0
    parser = BytesParser(policy=policy.default)
    ids = []
    for key in box.iterkeys():
        raw = box.get_bytes(key)
        m = parser.parsebytes(raw)  # must not raise
        assert not raw.startswith(b"From ")
        mid = m["Message-ID"]
        if mid is not None:
            ids.append(str(mid))
    assert len(ids) == len(set(ids)), "Message-IDs must be unique"
    # exactly one message has no Message-ID and it is left out of the truth
    assert len(msgs) - len(ids) == 1
    truth_ids = [t["message_id"] for t in truths]
    assert truth_ids == ids, "truth covers every message with a Message-ID, in mbox order"
    for t in truths:
        assert set(t) == {"message_id", "expected", "case", "contact"}
        assert t["expected"] in ("move", "keep")
        if _social(t):
            continue
        assert t["case"] in ms.CASES
        assert (t["expected"] == "move") == (t["case"] in ms.MOVE_CASES)
        assert (t["contact"] is not None) == (t["expected"] == "move")
    return msgs, truths


def test_small_mailbox_parses_and_truth_is_complete(small) -> None:
    _, truths = _check_mailbox(*small)
    assert {t["case"] for t in truths if not _social(t)} == set(ms.CASES)
    assert SOCIAL_NETWORK_CASES <= {t["case"] for t in truths}


def test_committed_sample_is_seed_7(tmp_path: Path) -> None:
    out, truth = _run(tmp_path, 7, ms.DEFAULT_MESSAGES, "seed7")
    assert SAMPLE.read_bytes() == out.read_bytes(), \
        "sample_mbox/ is stale: python scripts/make_sample.py --seed 7 --out sample_mbox/inbox.mbox --truth sample_mbox/truth.jsonl"
    assert SAMPLE_TRUTH.read_bytes() == truth.read_bytes()


def test_committed_sample_is_realistic() -> None:
    _check_realistic(SAMPLE, SAMPLE_TRUTH)


def test_second_seed_is_equally_realistic(tmp_path: Path) -> None:
    _check_realistic(*_run(tmp_path, 8, ms.DEFAULT_MESSAGES, "seed8"))


def _check_realistic(mbox: Path, truth_path: Path) -> None:
    msgs, truths = _check_mailbox(mbox, truth_path)
    assert mbox.stat().st_size < 2_000_000
    assert 300 <= len(msgs) <= 400
    cases = Counter(t["case"] for t in truths if not _social(t))
    assert set(cases) == set(ms.CASES)
    assert SOCIAL_NETWORK_CASES <= {t["case"] for t in truths}
    for important in ms.MOVE_CASES + ("personal", "own_reply", "brand_newsletter", "discussion_list",
                                      "pre_existing_list", "cold_sequence", "notification"):
        assert cases[important] >= 3, important
    moves = sum(t["expected"] == "move" for t in truths)
    assert 0.15 <= moves / len(truths) <= 0.25
    by_id = {str(m["Message-ID"]): m for m in msgs if m["Message-ID"]}

    def when(m):
        d = m["Date"]
        try:
            return email.utils.parsedate_to_datetime(d) if d else None
        except (TypeError, ValueError):
            return None

    dates = [when(m) for m in msgs]
    bad_dates = sum(d is None for d in dates)
    assert 2 <= bad_dates <= 4
    good = [d for d in dates if d is not None]
    assert good != sorted(good), "the mbox is not in date order"
    assert min(good).date().isoformat() >= "2026-03-02" and (max(good) - min(good)).days >= 180
    assert len({d.utcoffset() for d in good}) >= 4, "several time zones"

    # personal contact dates: a contact wrote to Sam one-to-one or Sam wrote to them
    met: dict[str, list] = {}
    for t in truths:
        m = by_id[t["message_id"]]
        if t["case"] in ("personal", "own_reply", "colleague_note") and when(m):
            who = email.utils.parseaddr(m["To"] if t["case"] == "own_reply" else m["From"])[1]
            met.setdefault(who.lower(), []).append(when(m))
    for t in truths:
        m = by_id[t["message_id"]]
        if t["case"] == "own_reply":
            assert email.utils.parseaddr(m["From"])[1] == ms.ME
        if t["expected"] == "move" and not _social(t):
            d = when(m)
            prior = [x for x in met.get(t["contact"], []) if x < d]
            assert prior, f"{t} has no earlier personal exchange"
            assert d - max(prior) <= timedelta(days=180)
            if t["case"] != "contact_sequence":
                assert m["List-Unsubscribe"] and m.get_content_type() == "multipart/alternative"
        if t["case"] == "esp_reply_to":
            assert t["contact"] in str(m["Reply-To"]) and t["contact"] not in str(m["From"])
        if t["case"] == "outside_window":
            contacts = [k for k, v in met.items() if k.split("@")[1] in str(m["From"])]
            assert contacts and all(when(m) - max(met[c]) > timedelta(days=180) for c in contacts)
        if t["case"] == "discussion_list":
            assert m["List-Post"] and m["Precedence"] == "list"
    # replies point at messages in the mailbox; some names and subjects are RFC 2047 encoded
    for m in msgs:
        for ref in (m["References"] or "").split() + ([m["In-Reply-To"]] if m["In-Reply-To"] else []):
            assert ref in by_id, f"{m['Subject']!r} refers to a message that is not in the mailbox"
    raw = mbox.read_bytes()
    assert b"=?utf-8?" in raw.lower() and b"In-Reply-To:" in raw
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in raw
    for marker in (b"X-SG-EID", b"X-MC-User", b"X-Mailgun-Sid", b"AmazonSES", b"X-HS-Cid", b"X-Kit-ID",
                   b"mail.beehiiv.com"):
        assert marker in raw, marker
