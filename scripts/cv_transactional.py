#!/usr/bin/env python3
"""How the default model does on transactional mail of senders it has not seen, on the TRAIN part only.

Cross-validation grouped by sender (``labelset.sender_groups``: a sender organisation, or a fixture's
template family, stays in one fold), so each out-of-fold score comes from a model that saw nothing of
its sender: the situation of a retailer or carrier the training data does not hold. Thresholds are
chosen on these scores as ``train_default_model.py`` chooses them. The held-out part is never read.

Each configuration leaves out some structural features (``classify.fit(..., exclude=...)``), so a
feature block is judged against the same folds without it:

    python scripts/cv_transactional.py        # all features, and without the delivery and order features
    python scripts/cv_transactional.py --exclude transactional_subject,noreply_sender

Prints, per configuration: grouped-CV AUC (promotional against the rest), promo recall, and the
share flagged promotional (as the rules decide) of personal mail, discussion posts and transactional
mail, with the transactional subkinds flagged.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import labelset  # noqa: E402

from mailguard.core import classify  # noqa: E402
from mailguard.training import STRONG_THRESHOLD, train_model  # noqa: E402

MAX_FPR = 0.005
MAX_FPR_TRANSACTIONAL = 0.02
#: the structural features of parcel and order notices (features.NUMERIC_NAMES)
DELIVERY_AND_ORDER = ("delivery_words", "tracking_number", "order_reference")


def run(train: labelset.Featurised, groups: list[str], exclude: tuple[str, ...]) -> dict:
    result = train_model(train.feats, train.y, max_fpr=MAX_FPR, max_fpr_transactional=MAX_FPR_TRANSACTIONAL,
                         neutral=classify.ERA_CONFOUNDED, groups=groups, exclude=exclude)
    p = result.oof[:, classify.PROMOTIONAL]
    t = result.model.threshold
    y = train.y
    recognised = np.array([f.transactional_reason is not None for f in train.feats])
    guarded = np.array([f.discussion_list or not f.is_bulk for f in train.feats])
    decided = (p >= t) & ~recognised & (~guarded | (p >= STRONG_THRESHOLD))
    disc = np.array([r.subkind == "discussion" for r in train.rows])
    tx = y == classify.TRANSACTIONAL
    from sklearn.metrics import roc_auc_score

    subs = Counter(r.subkind for r, d in zip(train.rows, decided) if d and r.label == "transactional")
    # at the shipped model's threshold (0.5: its thresholds come from stratified folds, where this
    # part's senders are mostly seen), as the rules decide
    at_half = (p >= 0.5) & ~recognised & (~guarded | (p >= STRONG_THRESHOLD))
    pt = (y == classify.PROMOTIONAL) | tx
    return {
        "auc": roc_auc_score(y == classify.PROMOTIONAL, p),
        "auc_pt": roc_auc_score(y[pt] == classify.PROMOTIONAL, p[pt]),
        "half": (int(at_half[tx].sum()), float(at_half[y == classify.PROMOTIONAL].mean()),
                 float(at_half[y == classify.PERSONAL].mean())),
        "threshold": t,
        "recall": decided[y == classify.PROMOTIONAL].mean(),
        "personal": decided[y == classify.PERSONAL].mean(),
        "discussion": decided[disc].mean(),
        "transactional": (int(decided[tx].sum()), int(tx.sum())),
        "subkinds": dict(subs.most_common()),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--exclude", default=None,
                    help="comma-separated structural features to leave out in a second configuration "
                         "(default: the delivery and order features)")
    args = ap.parse_args(argv)
    data, _ = labelset.load(labelset.read_rows())
    train, _ = labelset.featurise([d for d in data if d.row.split == "train"])
    groups = labelset.sender_groups(train)
    other = tuple(args.exclude.split(",")) if args.exclude else DELIVERY_AND_ORDER
    print(f"train part: {len(train.rows)} messages, {len(set(groups))} sender groups; "
          f"{dict(Counter(r.label for r in train.rows))}")
    print("| features | AUC | AUC promo vs transactional | threshold | promo recall | personal flagged | "
          "discussion flagged | transactional flagged | subkinds flagged | at 0.5: transactional / recall / personal |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, excl in (("all", ()), ("without " + ", ".join(other), other)):
        m = run(train, groups, excl)
        n, of = m["transactional"]
        h_tx, h_rec, h_pers = m["half"]
        print(f"| {name} | {m['auc']:.4f} | {m['auc_pt']:.4f} | {m['threshold']:.3f} | {m['recall']:.2%} | "
              f"{m['personal']:.2%} | {m['discussion']:.2%} | {n / of:.2%} ({n}/{of}) | "
              + ", ".join(f"{k} {v}" for k, v in m["subkinds"].items())
              + f" | {h_tx / of:.2%} ({h_tx}) / {h_rec:.2%} / {h_pers:.2%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
