#!/usr/bin/env python3
"""Print listing lines of external messages: show_ext.py [REPO_SUBSTRING] [n_body]"""
import json, os, sys
sys.path.insert(0, os.path.dirname(__file__))
from common import line  # noqa: E402

sub = sys.argv[1] if len(sys.argv) > 1 else ""
nb = int(sys.argv[2]) if len(sys.argv) > 2 else 150
real = {json.loads(l)["sha256"] for l in open(os.path.join(os.path.dirname(__file__), "..", "work", "listing.jsonl"))}
for l in open(os.path.join(os.path.dirname(__file__), "..", "work", "ext_listing.jsonl")):
    r = json.loads(l)
    if sub in r["repo"]:
        fid = r["repo"].split("/")[-1][:14] + ":" + (r["path"] if r["path"] != "m" else r["source"].split("@")[1][:10])
        dup = " [DUP-of-corpus/realmail]" if r["sha256"] in real else ""
        print(line(fid[-60:], r, nb) + dup)
