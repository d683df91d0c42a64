#!/usr/bin/env python3
"""Reproducible random samples for noise estimation.

sample.py ham    -> 300 of the easy_ham/easy_ham_2 messages no structural filter fired on (rule-labelled)
sample.py spam   -> 250 of spam/spam_2 (prior-labelled)
Writes work/sample_<name>.txt (the ids) and prints listing lines."""
import json, os, random, sys
sys.path.insert(0, os.path.dirname(__file__))
from common import line  # noqa: E402
from draft import draft  # noqa: E402
from filters import fired  # noqa: E402

name = sys.argv[1]
recs = [json.loads(l) for l in open(os.path.join(os.path.dirname(__file__), "..", "work", "listing.jsonl"))]
if name == "ham":
    pool = [r for r in recs if r["folder"] in ("easy_ham", "easy_ham_2") and not fired(r)]
    k = 300
else:
    pool = [r for r in recs if r["folder"] in ("spam", "spam_2")]
    k = 250
rng = random.Random(20240601)
pick = sorted(rng.sample(pool, k), key=lambda r: r["source"])
with open(os.path.join(os.path.dirname(__file__), "..", "work", f"sample_{name}.txt"), "w") as out:
    for r in pick:
        out.write(r["source"] + "\n")
print(f"# pool={len(pool)} sample={k}", file=sys.stderr)
nb = int(sys.argv[2]) if len(sys.argv) > 2 else 120
for r in pick:
    d = draft(r)
    fid = r["source"].replace("spamassassin/", "").split(".")[0]
    print(f"[{d[0][:5]}/{d[1]}] " + line(fid, r, nb))
