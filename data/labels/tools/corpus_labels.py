"""Final labels for the SpamAssassin corpus and realmail: draft rules + read-based overrides.

label_for(r) -> (label, subkind, method, note)
method: 'read'  = the listing line (or the full message) was read by a person,
        'rule'  = human-looking list/direct mail labelled by rule (noise estimated by a random sample),
        'prior' = spam folders labelled promotional by folder prior (noise estimated by a random sample).
"""
from __future__ import annotations

import os
import re

from draft import draft
from filters import fired
from spam_subkind import spam_subkind

HERE = os.path.dirname(__file__)
WORK = os.path.join(HERE, "..", "work")


def _load_tsv(name: str) -> dict[str, tuple[str, str, str]]:
    out: dict[str, tuple[str, str, str]] = {}
    path = name if os.path.isabs(name) else os.path.join(WORK, name)
    if not os.path.exists(path):
        return out
    for line in open(path, encoding="utf-8"):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.rstrip("\n").split("\t")
        parts += [""] * (4 - len(parts))
        out[parts[0]] = (parts[1], parts[2], parts[3])
    return out


OVERRIDES = _load_tsv(os.path.join(HERE, "overrides.tsv"))
READ_SAMPLES = set()
for _name in ("sample_ham.txt", "sample_spam.txt", "read_spam_scan.txt"):
    _p = os.path.join(WORK, _name)
    if os.path.exists(_p):
        READ_SAMPLES |= {l.strip() for l in open(_p) if l.strip()}

NOTES = [
    (r"^NYTimes\.com Article:|^Article to check on", "email-this-article share sent by a list member (machine template)"),
    (r"^Headline - ", "news-site share sent by a list member (machine template)"),
]


def fid(source: str) -> str:
    """spamassassin/easy_ham/00001.abc -> easy_ham/00001"""
    return source.replace("spamassassin/", "").split(".")[0]


def label_for(r: dict) -> tuple[str, str, str, str]:
    folder = r["folder"]
    label, sub = draft(r)
    note = ""
    if folder in ("spam", "spam_2"):
        method = "read" if r["source"] in READ_SAMPLES else "prior"
        if method == "read" and label == "promotional":
            sub = spam_subkind(r)
    elif folder == "hard_ham":
        method = "read"
    else:
        method = "read" if (fired(r) or r["source"] in READ_SAMPLES) else "rule"
    for pat, n in NOTES:
        if re.search(pat, r["Subject"]):
            note = n
    if sub == "news-feed":
        note = "RSS/blog item mailed by the recipient's own rss-to-mail gateway"
    if "digest" in r["Subject"].lower() and label == "personal":
        note = note or "reply quoting or digest of human list posts"
    ov = OVERRIDES.get(fid(r["source"]))
    if ov:
        label, sub, note = ov[0], ov[1], ov[2]
        method = "read"
    return label, sub, method, note
