#!/usr/bin/env python3
"""Print markdown count tables from labels.tsv (used for LABELS.md)."""
import collections
import csv
import os

rows = list(csv.DictReader(open(os.path.join(os.path.dirname(__file__), "..", "labels.tsv")), delimiter="\t"))


def group(src: str) -> str:
    if src.startswith("github:"):
        return src[len("github:"):].split("@")[0].replace("linux-mailinglist-archives/", "lma/")
    return "/".join(src.split("/")[:2])


def table(keyf, title, filt=lambda r: True):
    c = collections.Counter()
    for r in rows:
        if filt(r):
            c[(keyf(r), r["split"])] += 1
    keys = sorted({k for k, _ in c}, key=lambda k: (-(c[(k, "train")] + c[(k, "heldout")]), k))
    print(f"\n| {title} | train | heldout | total |\n|---|---:|---:|---:|")
    for k in keys:
        t, h = c[(k, "train")], c[(k, "heldout")]
        print(f"| {k} | {t} | {h} | {t + h} |")
    t = sum(v for (k, s), v in c.items() if s == "train")
    h = sum(v for (k, s), v in c.items() if s == "heldout")
    print(f"| **all** | {t} | {h} | {t + h} |")


table(lambda r: r["label"], "label")
table(lambda r: r["subkind"], "transactional subkind", lambda r: r["label"] == "transactional")
table(lambda r: f'{r["label"]} / {r["subkind"] or "-"}', "label / subkind")
table(lambda r: r["method"], "method")
table(lambda r: f'{group(r["source"])} : {r["label"]}', "source : label")
table(lambda r: f'{group(r["source"])} : {r["subkind"]}', "source : transactional subkind",
      lambda r: r["label"] == "transactional")
table(lambda r: f'{group(r["source"])} : {r["label"]} / {r["subkind"] or "-"}', "source : label / subkind")
