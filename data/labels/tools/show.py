#!/usr/bin/env python3
"""Print listing lines (with draft label) for a selection.

show.py EXPR [n_body]; EXPR is a Python expression over r (record), f (fired filters), d (draft)."""
import json, os, re, sys
sys.path.insert(0, os.path.dirname(__file__))
from common import line  # noqa: E402
from draft import draft  # noqa: E402
from filters import fired  # noqa: E402

expr = sys.argv[1]
nb = int(sys.argv[2]) if len(sys.argv) > 2 else 150
for l in open(os.path.join(os.path.dirname(__file__), "..", "work", "listing.jsonl")):
    r = json.loads(l)
    f = fired(r)
    d = draft(r)
    if eval(expr):
        fid = r["source"].replace("spamassassin/", "")
        fid = fid.split(".")[0] if fid.startswith(("easy", "hard", "spam")) else fid
        print(f"[{d[0][:5]}/{d[1]}] " + line(fid, r, nb))
