#!/usr/bin/env python3
"""Precision and recall of `move` on a generated sample mailbox against its truth file.

    python scripts/eval_sample.py sample_mbox/inbox.mbox sample_mbox/truth.jsonl
    python scripts/make_sample.py --seed 8 --out /tmp/s8.mbox --truth /tmp/s8.jsonl && \
        python scripts/eval_sample.py /tmp/s8.mbox /tmp/s8.jsonl

Prints the figures, every disagreement with its reasons, and a per-case table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

from mailguard import models_io

from mailguard.core import classify
from mailguard.pipeline import Pipeline
from mailguard.core.rules import MOVE, Policy
from mailguard.scan import scan
from mailguard.sources import open_source

ME = ("sam@rivera.dev", "sam.rivera@gmail.com")


def evaluate(mbox: Path, truth_path: Path, model: classify.PromoModel, me=ME) -> dict:
    truth = {}
    for line in truth_path.read_text().splitlines():
        if line.strip():
            t = json.loads(line)
            if t.get("message_id"):
                truth[t["message_id"]] = t
    pipe = Pipeline(model, Policy(me=frozenset(me), promo_threshold=model.threshold), None)
    t0 = time.perf_counter()
    with open_source(mbox) as src:
        decisions = list(scan(src, pipe))
    secs = time.perf_counter() - t0
    tp = fp = fn = tn = 0
    wrong = []
    per_case: dict[str, Counter] = defaultdict(Counter)
    for d in decisions:
        t = truth.get(d.message_id)
        if t is None:
            continue
        exp_move = t["expected"] == "move"
        got_move = d.action == MOVE
        ok = exp_move == got_move
        per_case[t.get("case", "?")]["ok" if ok else "wrong"] += 1
        if got_move and exp_move:
            tp += 1
            if t.get("contact") and d.linked_contact and t["contact"] != d.linked_contact:
                per_case[t.get("case", "?")]["other-contact"] += 1
        elif got_move:
            fp += 1
        elif exp_move:
            fn += 1
        else:
            tn += 1
        if not ok:
            wrong.append((t, d))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return {
        "messages": len(decisions), "judged": tp + fp + fn + tn, "tp": tp, "fp": fp, "fn": fn,
        "tn": tn, "precision": precision, "recall": recall, "seconds": secs,
        "msgs_per_s": len(decisions) / secs if secs else 0.0,
        "per_case": {k: dict(v) for k, v in sorted(per_case.items())}, "wrong": wrong,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mbox", type=Path)
    ap.add_argument("truth", type=Path)
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()
    r = evaluate(args.mbox, args.truth, models_io.load(args.model))
    print(f"{args.mbox}: {r['messages']} messages, {r['judged']} with truth; move precision "
          f"{r['precision']:.3f} recall {r['recall']:.3f} (tp {r['tp']} fp {r['fp']} fn {r['fn']} "
          f"tn {r['tn']}); {r['msgs_per_s']:.0f} msgs/s")
    if not args.quiet:
        for case, c in r["per_case"].items():
            print(f"  {case:28s} {c}")
        for t, d in r["wrong"]:
            print(f"- expected {t['expected']} ({t.get('case')}), got {d.action}: {d.sender} "
                  f"{d.subject[:50]!r} score={d.promo_score} link={d.link_kind}:{d.linked_contact}")
            for reason in d.reasons[:3]:
                print(f"      {reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
