"""The three-way model: fit, calibrated probabilities, categories, header tokens, save with a card,
hash-checked load."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from mailguard import models_io

from mailguard.core import classify
from mailguard.core.classify import PERSONAL, PROMOTIONAL, TRANSACTIONAL
from mailguard.errors import ModelError
from mailguard.core.features import NUMERIC_NAMES, extract
from mailguard.core.parse import parse_message
from mailfactory import newsletter, personal, transactional

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


def feats_of(raw: bytes, header_tokens: bool = False):
    return extract(parse_message(raw), with_header_tokens=header_tokens)


def generated(n: int = 40, *, with_transactional: bool = True, header_tokens: bool = False
              ) -> tuple[list, list[int]]:
    """n personal notes, n newsletters and (optionally) n receipts/resets, varied enough to learn from."""
    feats, labels = [], []
    for i in range(n):
        raws = [(personal(f"Person {i} <p{i}@friend{i % 7}.example>", subject=SUBJECTS[i % len(SUBJECTS)],
                          body=BODIES[i % len(BODIES)]), PERSONAL),
                (newsletter(f"Brand {i} <news@brand{i % 9}.example>", subject=OFFERS[i % len(OFFERS)],
                            esp=("sendgrid", "mailchimp", "ses", "none")[i % 4]), PROMOTIONAL)]
        if with_transactional:
            raws.append((transactional(f"Shop {i} <no-reply@shop{i % 8}.example>", order=f"A-{1000 + 37 * i}",
                                       kind=("receipt", "reset")[i % 2]), TRANSACTIONAL))
        for raw, y in raws:
            feats.append(feats_of(raw, header_tokens))
            labels.append(y)
    return feats, labels


@pytest.fixture(scope="module")
def fitted() -> classify.Fitted:
    feats, labels = generated()
    return classify.fit(feats, labels)


def test_tokens() -> None:
    assert classify.tokens("Hello, WORLD! 2x a bb __esp__ Ünïcode " + "x" * 30) == \
        [b"hello", b"world", b"bb", b"__esp__", "ünïcode".encode()]


def test_fit_gives_three_calibrated_probabilities_that_rank(fitted: classify.Fitted) -> None:
    feats, labels = generated(12)
    y = np.array(labels)
    p = fitted.model.predict(feats)
    assert p.shape == (len(feats), 3)
    assert np.allclose(p.sum(axis=1), 1.0) and ((p >= 0) & (p <= 1)).all()
    for c in (PERSONAL, PROMOTIONAL, TRANSACTIONAL):
        assert roc_auc_score(y == c, p[:, c]) > 0.95, classify.CLASSES[c]
    assert (p.argmax(axis=1) == y).mean() > 0.9
    promo = fitted.model.score_many(feats)
    assert np.allclose(promo, p[:, PROMOTIONAL])
    assert fitted.model.score_many([]).shape == (0,)
    assert fitted.model.predict([]).shape == (0, 3)
    assert fitted.model.score(feats[0]) == pytest.approx(promo[0])


def test_out_of_fold_probabilities_cover_every_example(fitted: classify.Fitted) -> None:
    feats, labels = generated()
    assert fitted.oof.shape == (len(labels), 3)
    assert np.allclose(fitted.oof.sum(axis=1), 1.0)
    assert fitted.oof_scores.shape == (len(labels),)
    y = np.array(labels)
    assert roc_auc_score(y == PROMOTIONAL, fitted.oof_scores) > 0.9
    # the calibration maps a higher promotional margin to a higher promotional probability
    assert fitted.model.cal_coef[PROMOTIONAL, PROMOTIONAL] > 0


def test_two_categories_when_there_is_no_transactional_mail() -> None:
    feats, labels = generated(30, with_transactional=False)
    model = classify.fit(feats, labels).model
    assert list(model.classes) == [PERSONAL, PROMOTIONAL]
    p = model.predict(feats)
    assert (p[:, TRANSACTIONAL] == 0).all() and np.allclose(p.sum(axis=1), 1.0)
    assert roc_auc_score(np.array(labels) == PROMOTIONAL, p[:, PROMOTIONAL]) > 0.95
    assert {model.category(x) for x in p} <= {"personal", "promotional"}


def test_too_few_examples_is_one_clear_line() -> None:
    feats, labels = generated(12, with_transactional=False)
    few = [f for f, y in zip(feats, labels) if y == PERSONAL][:3] + [f for f, y in zip(feats, labels) if y == PROMOTIONAL]
    with pytest.raises(ModelError) as exc:
        classify.fit(few, [PERSONAL] * 3 + [PROMOTIONAL] * 12)
    msg = str(exc.value)
    assert "\n" not in msg
    assert "too few examples to train: 3 personal, 12 promotional, 0 transactional" in msg
    # transactional: none is fine, a handful is not
    tx = generated(3)[0][2::3]
    with pytest.raises(ModelError, match="transactional: none, or at least 10"):
        classify.check_counts([PERSONAL] * 12 + [PROMOTIONAL] * 12 + [TRANSACTIONAL] * 3)
    assert len(tx) == 3
    assert classify.check_counts([PERSONAL] * 12 + [PROMOTIONAL] * 12) == \
        {"personal": 12, "promotional": 12, "transactional": 0}
    with pytest.raises(ModelError, match="labels must be"):
        classify.check_counts([0] * 12 + [1] * 12 + [5])


def test_labels_must_match(fitted: classify.Fitted) -> None:
    feats, _ = generated(12)
    with pytest.raises(ModelError):
        classify.fit(feats, [0, 1])


def test_content_not_understood_gets_the_prior_not_a_confident_score(fitted: classify.Fitted) -> None:
    """Random bytes from a person: the model must not call it promotional with confidence."""
    junk = bytes(range(256)) * 20
    raw = (b"From: Jane <jane@friend1.example>\r\nTo: sam@rivera.dev\r\nSubject: hi\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + junk)
    f = feats_of(raw)
    assert not f.understood and not f.is_bulk
    assert classify.unknown(f)
    p = fitted.model.predict([f])[0]
    assert np.allclose(p, fitted.model.prior)
    assert np.allclose(fitted.model.prior, [1 / 3, 1 / 3, 1 / 3])  # 40 of each in training
    assert fitted.model.threshold == 0.5 and fitted.model.category(p) != "promotional"
    # an image-only newsletter keeps its bulk structure: it is judged
    news = feats_of(newsletter("Brand <news@brand1.example>"))
    assert not classify.unknown(replace(news, understood=False))


def test_category_rule() -> None:
    feats, labels = generated(12)
    model = classify.fit(feats, labels).model
    model.threshold, model.transactional_threshold = 0.6, 0.5
    assert model.category([0.1, 0.6, 0.3]) == "promotional"
    assert model.category([0.2, 0.3, 0.5]) == "transactional"
    # likelier promotional than transactional, but below the threshold: not transactional
    assert model.category([0.05, 0.55, 0.4]) == "personal"
    assert model.category([0.01, 0.55, 0.04]) == "personal"
    assert model.category([0.7, 0.1, 0.2]) == "personal"
    model.transactional_threshold = 0.9
    assert model.category([0.2, 0.3, 0.5]) == "personal"


def test_header_tokens_learn_who_sends_what() -> None:
    """Promotion and personal notes with the same words, told apart only by where they come from:
    a model of one mailbox (header tokens) learns it; words and structure alone cannot."""
    body = "Hello,\n\nplease see the attached update about the project and let me know.\n\nThanks\n"
    raws, labels = [], []
    for i in range(60):
        promo = i % 2 == 0
        frm = f"Team <news@{'bulkco' if promo else 'friends'}.example>"
        rcvd = "mta7.bulkco-mailer.example" if promo else "smtp.friends-isp.example"
        raw = personal(frm, subject=f"Update {i}", body=body).replace(
            b"From: ", f"Received: from {rcvd} ({rcvd} [192.0.2.{i % 50 + 1}]) by mx.rivera.dev\r\nFrom: ".encode(), 1)
        raws.append(raw)
        labels.append(PROMOTIONAL if promo else PERSONAL)
    feats = [feats_of(r, header_tokens=True) for r in raws]
    assert any(t.startswith("rcvd:") for t in feats[0].header_tokens)
    assert any(t.startswith("from:") for t in feats[0].header_tokens)
    y = np.array(labels) == PROMOTIONAL
    own = classify.fit(feats, labels, header_tokens=True)
    plain = classify.fit(feats, labels)
    assert own.model.uses_header_tokens and not plain.model.uses_header_tokens
    assert roc_auc_score(y, own.oof_scores) > 0.95
    assert roc_auc_score(y, plain.oof_scores) < 0.7
    # features without header tokens still score with an own-mail model (their block is empty)
    assert own.model.predict([feats_of(raws[0])]).shape == (1, 3)


def test_neutral_features_are_used_by_the_personal_part_only() -> None:
    feats, labels = generated(30)
    model = classify.fit(feats, labels, neutral=classify.ERA_CONFOUNDED).model
    cols = {c: i for i, c in enumerate(model.classes)}
    for name in classify.ERA_CONFOUNDED:
        j = NUMERIC_NAMES.index(name)
        assert model.num_coef[j, cols[PROMOTIONAL]] == 0.0
        assert model.num_coef[j, cols[TRANSACTIONAL]] == 0.0
    assert model.word_coef[classify._ESP_TOKEN_BUCKET, cols[PROMOTIONAL]] == 0.0
    assert model.num_coef[NUMERIC_NAMES.index("esp"), cols[PERSONAL]] != 0.0
    with pytest.raises(ModelError, match="no such structural features"):
        classify.fit(feats, labels, neutral=("nonsense",))


def test_excluded_features_have_no_weight() -> None:
    feats, labels = generated(20)
    model = classify.fit(feats, labels, exclude=("money_marks", "subject_exclaim")).model
    for name in ("money_marks", "subject_exclaim"):
        assert (model.num_coef[NUMERIC_NAMES.index(name)] == 0.0).all()
    assert (model.num_coef[NUMERIC_NAMES.index("log_links")] != 0.0).any()


def test_grouped_out_of_fold_scores_are_those_of_unseen_senders() -> None:
    feats, labels = generated(30)
    groups = [i // 3 % 10 for i in range(len(labels))]
    calls = []
    fitted = classify.fit(feats, labels, groups=groups, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (2 * classify.FOLDS + 1, 2 * classify.FOLDS + 1)
    assert fitted.oof.shape == (len(labels), 3)


def test_save_writes_card_with_hash_and_load_checks_it(fitted: classify.Fitted, tmp_path: Path) -> None:
    path = tmp_path / "m" / "promo.npz"
    card = models_io.save(fitted.model, path, {"data": {"n_promo": 40, "n_personal": 40}})
    on_disk = json.loads(models_io.card_path(path).read_text())
    assert on_disk == card
    assert card["sha256"] == models_io.sha256_file(path)
    assert card["feature_version"] == classify.FEATURE_VERSION
    assert card["classes"] == ["personal", "promotional", "transactional"]
    assert card["threshold"] == fitted.model.threshold
    assert card["transactional_threshold"] == fitted.model.transactional_threshold
    assert card["header_tokens"] is False
    assert card["data"] == {"n_promo": 40, "n_personal": 40}
    assert {"python", "scikit-learn", "numpy"} <= set(card["versions"])
    assert card["created"]
    loaded = models_io.load(path)
    feats, _ = generated(5)
    assert np.allclose(loaded.predict(feats), fitted.model.predict(feats))
    assert loaded.meta["sha256"] == card["sha256"]


def test_load_refuses_a_tampered_model(fitted: classify.Fitted, tmp_path: Path) -> None:
    path = tmp_path / "promo.npz"
    models_io.save(fitted.model, path, {})
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="does not match its card"):
        models_io.load(path)


def test_load_refuses_a_missing_or_broken_card(fitted: classify.Fitted, tmp_path: Path) -> None:
    path = tmp_path / "promo.npz"
    models_io.save(fitted.model, path, {})
    cpath = models_io.card_path(path)
    cpath.write_text("{not json")
    with pytest.raises(ModelError, match="unreadable"):
        models_io.load(path)
    cpath.unlink()
    with pytest.raises(ModelError, match="has no card"):
        models_io.load(path)
    with pytest.raises(ModelError, match="no model at"):
        models_io.load(tmp_path / "missing.npz")


def test_load_refuses_another_feature_version(fitted: classify.Fitted, tmp_path: Path) -> None:
    path = tmp_path / "promo.npz"
    fitted.model.feature_version = classify.FEATURE_VERSION - 1
    try:
        models_io.save(fitted.model, path, {})
    finally:
        fitted.model.feature_version = classify.FEATURE_VERSION
    with pytest.raises(ModelError, match="retrain"):
        models_io.load(path)


def test_strongest_signals(fitted: classify.Fitted) -> None:
    feats, _ = generated(3)
    top = fitted.model.strongest_signals(feats[1], n=2)
    assert len(top) == 2 and all(name in fitted.model.numeric_names for name, _ in top)


def test_shipped_model_loads_is_small_and_ranks_real_mail() -> None:
    path = models_io.DEFAULT_MODEL_PATH
    assert path.is_file(), "the default model must ship with the package"
    assert path.stat().st_size < 5 * 1024 * 1024
    model = models_io.load(path)
    card = model.meta
    assert card["sha256"] == models_io.sha256_file(path)
    assert card["classes"] == ["personal", "promotional", "transactional"]
    assert "cross_validation" in card["metrics"] and "heldout" in card["metrics"]
    assert not model.uses_header_tokens  # the default model must travel between mailboxes
    assert 0.0 < model.threshold < 1.0
    feats, labels = [], []
    for label, folder in ((1, "promo"), (0, "personal")):
        for f in sorted((SAMPLE / folder).glob("*.eml")):
            msg = parse_message(f.read_bytes())
            if msg.unreadable is None:
                feats.append(extract(msg))
                labels.append(label)
    assert roc_auc_score(labels, model.score_many(feats)) > 0.9
    # account mail is not promotion
    receipt = feats_of(transactional("Shop <no-reply@shop.example>"))
    reset = feats_of(transactional("Shop <no-reply@shop.example>", kind="reset"))
    for f in (receipt, reset):
        assert model.category(model.predict([f])[0]) == "transactional"
