"""Labelled mail -> features, metrics and a chosen threshold. Used by `mailguard train`,
`scripts/train_default_model.py` and the benchmarks."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

from .features import Features
from .pipeline import analyse_one
from .sources import open_source

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Example:
    feats: Features
    label: int
    date: float  # POSIX seconds, 0 when unknown
    origin: str


def load_examples(paths: Iterable[Path | str], label: int) -> tuple[list[Example], int]:
    """Every readable message under ``paths`` with ``label``; returns (examples, n_unreadable)."""
    out: list[Example] = []
    bad = 0
    for p in paths:
        with open_source(p) as src:
            for it in src.items():
                msg, feats = analyse_one(src.read(it))
                if feats is None:
                    bad += 1
                    continue
                out.append(Example(feats, label, msg.date.timestamp() if msg.date else 0.0,
                                   f"{p}:{it.ref}"))
    return out, bad


def choose_threshold(y: np.ndarray, p: np.ndarray, max_fpr: float = 0.01) -> float:
    """The lowest threshold whose false-positive rate on personal mail is <= max_fpr."""
    neg = np.sort(p[y == 0])
    if len(neg) == 0:
        return 0.5
    k = int(np.floor(max_fpr * len(neg)))
    # scores strictly above the (n-k)-th highest personal score are positives
    cut = neg[len(neg) - k - 1] if k < len(neg) else 0.0
    return float(min(max(cut + 1e-6, 0.05), 0.99))


def metrics(y: Sequence[int] | np.ndarray, p: Sequence[float] | np.ndarray,
            threshold: float) -> dict[str, float]:
    y = np.asarray(y)
    p = np.asarray(p)
    pred = (p >= threshold).astype(int)
    neg = y == 0
    out = {
        "auc": float(roc_auc_score(y, p)) if len(set(y.tolist())) == 2 else float("nan"),
        "precision": float(precision_score(y, pred, zero_division=0)),
        "recall": float(recall_score(y, pred, zero_division=0)),
        "f1": float(f1_score(y, pred, zero_division=0)),
        "false_positive_rate": float(pred[neg].mean()) if neg.any() else 0.0,
        "threshold": float(threshold),
        "n_promo": int((y == 1).sum()),
        "n_personal": int(neg.sum()),
    }
    # the personal share above the threshold that gives 90% promo recall
    pos = np.sort(p[y == 1])
    if len(pos) and neg.any():
        t90 = pos[int(np.floor(0.10 * len(pos)))]
        out["fpr_at_90_recall"] = float((p[neg] >= t90).mean())
    return out


def threshold_table(y: np.ndarray, p: np.ndarray,
                    thresholds: Sequence[float] = (0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98)
                    ) -> list[dict[str, float]]:
    return [metrics(y, p, t) for t in thresholds]
