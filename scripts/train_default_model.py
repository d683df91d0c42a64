#!/usr/bin/env python3
"""Train the default three-way model shipped with mailguard on the labelled data (data/labels).

Categories: personal (people writing, discussion-list posts), promotional (newsletters, offers,
announcements, sales, spam) and transactional (receipts, invoices, confirmations, resets, security
and account alerts, statements, shipping, calendar invitations, document shares, event logistics,
tracker, build and commit notifications, bounces). Labels, their method and the train/held-out
split: data/labels/LABELS.md.

The model is trained on the **train** part only; every figure this script reports is measured on
mail the measured model did not see:

- 5-fold cross-validation on the train part (stratified, as for a model trained on one's own mail):
  calibration and thresholds come from these out-of-fold scores;
- the **held-out** part (never used to choose anything): AUC, promo recall, and the share of personal
  mail, discussion posts and transactional mail flagged promotional.

Features (the default model must hold up across mailboxes and years): hashed words of the subject and
the start of the body, and the structural signals of ``features.NUMERIC_NAMES``. No header tokens
(hosts, addresses, Message-ID domains): those are for models of one mailbox (``mailguard train``).

    python scripts/train_default_model.py [--out mailguard/models/promo.npz]

The messages are read from where they live (see scripts/labelset.py for the paths and variables).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import labelset  # noqa: E402

from mailguard import models_io  # noqa: E402

from mailguard.core import classify  # noqa: E402
from mailguard.training import train_model  # noqa: E402

DEFAULT_MAX_FPR = 0.005
DEFAULT_MAX_FPR_TRANSACTIONAL = 0.02


def _rounded(d):
    if isinstance(d, dict):
        return {k: _rounded(v) for k, v in d.items()}
    return round(d, 4) if isinstance(d, float) else d


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=models_io.DEFAULT_MODEL_PATH)
    ap.add_argument("--corpus", type=Path, default=None, help="SpamAssassin corpus (default: $MAILGUARD_CORPUS or shared/...)")
    ap.add_argument("--max-fpr", type=float, default=DEFAULT_MAX_FPR,
                    help="share of personal mail allowed above the promo threshold (out-of-fold)")
    ap.add_argument("--max-fpr-transactional", type=float, default=DEFAULT_MAX_FPR_TRANSACTIONAL,
                    help="share of transactional mail allowed above the promo threshold (out-of-fold)")
    ap.add_argument("--workers", type=int, default=None, help="processes for parsing (default: all cores)")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    data, skipped = labelset.load(corpus=args.corpus)
    if not data:
        print("no labelled messages found; see scripts/labelset.py for where they are read from", file=sys.stderr)
        return 2
    fs, not_mail = labelset.featurise(data, workers=args.workers)
    print(f"featurised {len(fs.rows)} labelled messages in {time.perf_counter() - t0:.1f}s "
          f"({not_mail} not mail; skipped rows: {dict(skipped) or 'none'})")
    train = fs.where(lambda r: r.split == "train")
    held = fs.where(lambda r: r.split == "heldout")
    counts = {s: dict(Counter(r.label for r in part.rows)) for s, part in (("train", train), ("heldout", held))}
    print("counts:", json.dumps(counts))

    t1 = time.perf_counter()
    result = train_model(train.feats, train.y, max_fpr=args.max_fpr,
                         max_fpr_transactional=args.max_fpr_transactional,
                         neutral=classify.ERA_CONFOUNDED)
    t_train = time.perf_counter() - t1
    cv = result.cv_metrics
    print(f"trained in {t_train:.1f}s; thresholds: promotional {result.model.threshold:.3f}, "
          f"transactional {result.model.transactional_threshold:.3f}")
    print("cross-validated on train (5-fold, out-of-fold):",
          json.dumps(_rounded({k: v for k, v in cv.items() if k != "categories"})))

    rep = labelset.heldout_report(result.model, held)
    print("\nheld-out (labelled mail the model did not see):")
    print(labelset.format_heldout(rep))

    card = {
        "data": {
            "labels": "data/labels/labels.tsv (see data/labels/LABELS.md: how each label was made)",
            "train": counts["train"],
            "heldout": counts["heldout"],
            "methods": dict(Counter(r.method for r in train.rows)),
            "generated_data": f"{sum(r.method == 'template' for r in train.rows)} training messages are texts "
                              "modelled on open-source transactional templates (train only)",
            "not_mail": not_mail,
        },
        "classes": list(classify.CLASSES),
        "features": "hashed words of subject and body start (tf-idf) + structural signals "
                    f"(features.NUMERIC_NAMES, feature version {classify.FEATURE_VERSION}); the era-confounded "
                    f"{', '.join(classify.ERA_CONFOUNDED)} (and the __esp__ token) only in the personal part; "
                    "no header tokens",
        "classifier": "one-vs-rest logistic regressions (liblinear, balanced, C "
                      f"{classify.C_DEFAULT}), calibrated by matrix scaling on 5-fold out-of-fold margins",
        "threshold_rule": f"promotional: lowest threshold with at most {args.max_fpr:.1%} of personal and "
                          f"{args.max_fpr_transactional:.1%} of transactional training mail above it, on "
                          "out-of-fold probabilities; transactional: share of P(transactional) in "
                          "P(transactional)+P(personal), at most the same share of personal mail above it",
        "metrics": {"cross_validation": cv, "heldout": rep},
        "train_seconds": round(t_train, 2),
        "command": "python scripts/train_default_model.py",
    }
    full = models_io.save(result.model, args.out, card)
    size = args.out.stat().st_size
    print(f"\nwrote {args.out} ({size / 1e6:.1f} MB, sha256 {full['sha256'][:12]}...)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
