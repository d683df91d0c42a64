"""The promo model: fit, calibrated scores, save with a card, hash-checked load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from mailguard import classify
from mailguard.errors import ModelError
from mailguard.features import extract
from mailguard.parse import parse_message
from mailfactory import newsletter, personal

SAMPLE = Path(__file__).parent / "data" / "corpus_sample"

SUBJECTS = ["Coffee next week?", "Notes from today", "Re: the draft", "Dinner on Friday", "Quick question",
            "Thanks for the intro", "Photos from the trip", "Re: budget", "Call tomorrow?", "Lunch?"]
BODIES = ["Hi Sam,\n\nGreat to see you. Coffee next week?\n\nJane\n",
          "Sam,\n\nI read the draft; two comments inline.\n\n> intro\nShorter, please.\n\nTom\n",
          "Hey,\n\nAre you free for a call tomorrow at 10?\n\n-- \nPriya\n"]
OFFERS = ["Spring launch: 30% off this week", "Last chance: free shipping", "Your weekly deals",
          "Upgrade now and save", "New arrivals are here", "Webinar: grow your pipeline",
          "Flash sale ends tonight", "Don't miss our biggest offer", "Exclusive deal for you",
          "Limited time: 2 months free"]


def generated(n: int = 40) -> tuple[list, list[int]]:
    """n personal notes and n newsletters, varied enough to learn from."""
    feats, labels = [], []
    for i in range(n):
        p = personal(f"Person {i} <p{i}@friend{i % 7}.example>", subject=SUBJECTS[i % len(SUBJECTS)],
                     body=BODIES[i % len(BODIES)])
        b = newsletter(f"Brand {i} <news@brand{i % 9}.example>", subject=OFFERS[i % len(OFFERS)],
                       esp=("sendgrid", "mailchimp", "ses", "none")[i % 4])
        for raw, y in ((p, 0), (b, 1)):
            feats.append(extract(parse_message(raw)))
            labels.append(y)
    return feats, labels


@pytest.fixture(scope="module")
def fitted() -> classify.Fitted:
    feats, labels = generated()
    return classify.fit(feats, labels)


def test_tokens() -> None:
    assert classify.tokens("Hello, WORLD! 2x a bb __esp__ Ünïcode " + "x" * 30) == \
        [b"hello", b"world", b"bb", b"__esp__", "ünïcode".encode()]


def test_fit_scores_are_probabilities_that_rank(fitted: classify.Fitted) -> None:
    feats, labels = generated(12)
    p = fitted.model.score_many(feats)
    assert p.shape == (len(feats),)
    assert ((p >= 0) & (p <= 1)).all()
    assert roc_auc_score(labels, p) > 0.95
    assert fitted.model.score_many([]).shape == (0,)
    assert fitted.model.score(feats[0]) == pytest.approx(p[0])


def test_out_of_fold_scores_cover_every_example(fitted: classify.Fitted) -> None:
    feats, labels = generated()
    assert fitted.oof_scores.shape == (len(labels),)
    assert ((fitted.oof_scores >= 0) & (fitted.oof_scores <= 1)).all()
    assert roc_auc_score(labels, fitted.oof_scores) > 0.9
    a, b = fitted.model.calibration
    assert a > 0  # a higher margin means more promotional


def test_too_few_examples_is_one_clear_line() -> None:
    feats, labels = generated(12)
    few = [f for f, y in zip(feats, labels) if y == 0][:3] + [f for f, y in zip(feats, labels) if y == 1]
    with pytest.raises(ModelError) as exc:
        classify.fit(few, [0] * 3 + [1] * 12)
    msg = str(exc.value)
    assert "\n" not in msg
    assert "too few examples to train: 12 promo and 3 personal" in msg


def test_labels_must_match(fitted: classify.Fitted) -> None:
    feats, _ = generated(12)
    with pytest.raises(ModelError):
        classify.fit(feats, [0, 1])


def test_save_writes_card_with_hash_and_load_checks_it(fitted: classify.Fitted, tmp_path: Path) -> None:
    path = tmp_path / "m" / "promo.npz"
    card = classify.save(fitted.model, path, {"data": {"n_promo": 40, "n_personal": 40}})
    on_disk = json.loads(classify.card_path(path).read_text())
    assert on_disk == card
    assert card["sha256"] == classify.sha256_file(path)
    assert card["feature_version"] == classify.FEATURE_VERSION
    assert card["data"] == {"n_promo": 40, "n_personal": 40}
    assert {"python", "scikit-learn", "numpy"} <= set(card["versions"])
    assert card["format"].startswith("mailguard-model 1")
    assert card["created"]
    loaded = classify.load(path)
    feats, _ = generated(5)
    assert np.array_equal(loaded.score_many(feats), fitted.model.score_many(feats))
    assert loaded.meta["sha256"] == card["sha256"]


def test_load_refuses_a_tampered_model(fitted: classify.Fitted, tmp_path: Path) -> None:
    path = tmp_path / "promo.npz"
    classify.save(fitted.model, path, {})
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="does not match its card"):
        classify.load(path)


def test_load_refuses_a_missing_or_broken_card(fitted: classify.Fitted, tmp_path: Path) -> None:
    path = tmp_path / "promo.npz"
    classify.save(fitted.model, path, {})
    cpath = classify.card_path(path)
    cpath.write_text("{not json")
    with pytest.raises(ModelError, match="unreadable"):
        classify.load(path)
    cpath.unlink()
    with pytest.raises(ModelError, match="has no card"):
        classify.load(path)
    with pytest.raises(ModelError, match="no model at"):
        classify.load(tmp_path / "missing.npz")


def test_load_refuses_another_feature_version(fitted: classify.Fitted, tmp_path: Path) -> None:
    path = tmp_path / "promo.npz"
    fitted.model.feature_version = classify.FEATURE_VERSION - 1
    try:
        classify.save(fitted.model, path, {})
    finally:
        fitted.model.feature_version = classify.FEATURE_VERSION
    with pytest.raises(ModelError, match="retrain"):
        classify.load(path)


def test_strongest_signals(fitted: classify.Fitted) -> None:
    feats, _ = generated(3)
    top = fitted.model.strongest_signals(feats[1], n=2)
    assert len(top) == 2 and all(name in fitted.model.numeric_names for name, _ in top)


def test_shipped_model_loads_is_small_and_ranks_real_mail() -> None:
    path = classify.DEFAULT_MODEL_PATH
    assert path.is_file(), "the default model must ship with the package"
    assert path.stat().st_size < 10 * 1024 * 1024
    model = classify.load(path)
    card = model.meta
    assert card["sha256"] == classify.sha256_file(path)
    assert "cross_validation" in card["metrics"]
    assert 0.0 < model.threshold < 1.0
    feats, labels = [], []
    for label, folder in ((1, "promo"), (0, "personal")):
        for f in sorted((SAMPLE / folder).glob("*.eml")):
            msg = parse_message(f.read_bytes())
            if msg.unreadable is None:
                feats.append(extract(msg))
                labels.append(label)
    assert roc_auc_score(labels, model.score_many(feats)) > 0.9
