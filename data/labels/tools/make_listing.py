#!/usr/bin/env python3
"""Build work/listing.jsonl: one compact record per corpus + realmail message.

Usage: python3 tools/make_listing.py   (run from data/labels; $MAILGUARD_CORPUS and $MAILGUARD_REALMAIL say
where the corpus and realmail are, default /work/shared/...)
"""
from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from common import CORPUS, FOLDERS, REALMAIL, record  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "work", "listing.jsonl")


def main() -> None:
    n = 0
    with open(OUT, "w") as out:
        for folder in FOLDERS:
            d = os.path.join(CORPUS, folder)
            for name in sorted(os.listdir(d)):
                data = open(os.path.join(d, name), "rb").read()
                r = record(data)
                r["source"] = f"spamassassin/{folder}/{name}"
                r["folder"] = folder
                out.write(json.dumps(r) + "\n")
                n += 1
        for cat in sorted(os.listdir(REALMAIL)):
            d = os.path.join(REALMAIL, cat)
            if not os.path.isdir(d):
                continue
            for name in sorted(os.listdir(d)):
                data = open(os.path.join(d, name), "rb").read()
                r = record(data)
                r["source"] = f"realmail/{cat}/{name}"
                r["folder"] = "realmail"
                out.write(json.dumps(r) + "\n")
                n += 1
    print(f"wrote {n} records to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
