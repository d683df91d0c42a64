#!/usr/bin/env python3
"""Structural scan of spam/spam_2 for transactional-looking subjects (fake or real notices).
Every hit's listing line was read; writes work/read_spam_scan.txt."""
import json, os, re

PAT = re.compile(r"order|account|password|confirm|receipt|invoice|undeliver|delivery|returned mail|failure|verif|"
                 r"suspend|billing|statement|payment|paypal|ebay|bank|security|subscri|welcome|registration|"
                 r"your request|auto|out of office", re.I)
work = os.path.join(os.path.dirname(__file__), "..", "work")
hits = []
for l in open(os.path.join(work, "listing.jsonl")):
    r = json.loads(l)
    if r["folder"] in ("spam", "spam_2") and PAT.search(r["Subject"]):
        hits.append(r["source"])
open(os.path.join(work, "read_spam_scan.txt"), "w").write("\n".join(hits) + "\n")
print(len(hits), "hits")
