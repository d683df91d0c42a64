"""The promo model: train, save with a card, load (hash-checked), score.

A linear model over hashed words and word pairs plus the structural features of
:mod:`mailguard.features`, with calibrated probabilities. Hashing keeps the model small and needs no
vocabulary pass; the linear model scores thousands of messages a second.

joblib loads pickles, and a pickle runs code: a model is loaded only when the sha256 of its file
matches the one written in the card beside it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import scipy.sparse as sp
import sklearn
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from . import __version__
from .errors import ModelError
from .features import NUMERIC_NAMES, Features

log = logging.getLogger(__name__)

FEATURE_VERSION = 1
DEFAULT_MODEL_PATH = Path(__file__).resolve().parent.parent / "models" / "promo.joblib"


def card_path(model_path: Path) -> Path:
    return model_path.with_suffix(".card.json")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class PromoModel:
    """Everything needed to score: the fitted transforms, the classifier and the threshold."""

    vectorizer: HashingVectorizer
    tfidf: TfidfTransformer
    scaler: StandardScaler
    classifier: Any
    threshold: float = 0.5
    feature_version: int = FEATURE_VERSION
    numeric_names: tuple[str, ...] = NUMERIC_NAMES
    meta: dict[str, Any] = field(default_factory=dict)

    def matrix(self, feats: Sequence[Features]) -> sp.csr_matrix:
        words = self.tfidf.transform(self.vectorizer.transform([f.text for f in feats]))
        nums = self.scaler.transform(np.asarray([f.numeric for f in feats], dtype=np.float64))
        return sp.hstack([words, sp.csr_matrix(nums)], format="csr")

    def score_many(self, feats: Sequence[Features]) -> np.ndarray:
        if not feats:
            return np.zeros(0)
        return self.classifier.predict_proba(self.matrix(feats))[:, 1]

    def score(self, feat: Features) -> float:
        return float(self.score_many([feat])[0])


def make_vectorizer() -> HashingVectorizer:
    return HashingVectorizer(
        n_features=2**18,
        ngram_range=(1, 2),
        alternate_sign=False,
        norm=None,
        lowercase=True,
        token_pattern=r"(?u)\b[^\W\d_]{2,24}\b|__esp__",
        dtype=np.float32,
    )


def train(feats: Sequence[Features], labels: Sequence[int], *, C: float = 1.0,
          calibration_folds: int = 3) -> PromoModel:
    """Fit a model; labels are 1 for promo/bulk, 0 for personal. Raises ModelError on too little data."""
    y = np.asarray(labels, dtype=np.int8)
    n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
    if min(n_pos, n_neg) < max(5, calibration_folds * 2):
        raise ModelError(
            f"too few examples to train: {n_pos} promo and {n_neg} personal; need at least "
            f"{max(5, calibration_folds * 2)} of each"
        )
    vec = make_vectorizer()
    counts = vec.transform([f.text for f in feats])
    tfidf = TfidfTransformer(sublinear_tf=True).fit(counts)
    scaler = StandardScaler().fit(np.asarray([f.numeric for f in feats], dtype=np.float64))
    model = PromoModel(vec, tfidf, scaler, classifier=None)
    X = model.matrix(feats)
    base = LogisticRegression(C=C, class_weight="balanced", max_iter=2000, solver="liblinear")
    clf = CalibratedClassifierCV(base, method="sigmoid", cv=calibration_folds)
    clf.fit(X, y)
    model.classifier = clf
    return model


def save(model: PromoModel, path: Path, card: dict[str, Any]) -> dict[str, Any]:
    """Write the model and its card (JSON beside it, with the model file's sha256)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    joblib.dump(model, tmp, compress=3)
    tmp.replace(path)
    full = {
        "model": path.name,
        "created": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "mailguard_version": __version__,
        "feature_version": model.feature_version,
        "threshold": model.threshold,
        "versions": {
            "python": platform.python_version(),
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
            "joblib": joblib.__version__,
        },
        **card,
        "sha256": sha256_file(path),
    }
    card_path(path).write_text(json.dumps(full, indent=2, sort_keys=False) + "\n")
    return full


def load(path: Path | None = None) -> PromoModel:
    """Load a model whose sha256 matches its card; ModelError otherwise."""
    path = Path(path) if path else DEFAULT_MODEL_PATH
    if not path.is_file():
        raise ModelError(f"no model at {path}; train one with `mailguard train` or pass --model")
    cpath = card_path(path)
    if not cpath.is_file():
        raise ModelError(f"model {path} has no card {cpath.name}; refusing to load an unverified pickle")
    try:
        card = json.loads(cpath.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"model card {cpath} is unreadable: {exc}") from None
    expected = str(card.get("sha256", ""))
    actual = sha256_file(path)
    if expected != actual:
        raise ModelError(
            f"model {path} does not match its card (sha256 {actual[:12]}... != {expected[:12]}...); "
            "refusing to load it"
        )
    try:
        model = joblib.load(path)
    except Exception as exc:  # noqa: BLE001 - unpickling can fail in many ways
        raise ModelError(f"model {path} cannot be loaded: {type(exc).__name__}: {exc}") from None
    if not isinstance(model, PromoModel):
        raise ModelError(f"{path} is not a mailguard promo model")
    if model.feature_version != FEATURE_VERSION or tuple(model.numeric_names) != NUMERIC_NAMES:
        raise ModelError(
            f"model {path} was built for feature version {model.feature_version}; this mailguard uses "
            f"{FEATURE_VERSION}: retrain it with `mailguard train`"
        )
    model.meta = card
    return model
