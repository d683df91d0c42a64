#!/usr/bin/env python3
"""Assemble labels.tsv from the corpus/realmail listing, the external listing and the label rules.

Run after make_listing.py and external.py:  python3 tools/build_labels.py
Split:
  * corpus: within each folder the newest 30% by Date header -> heldout (unparsable dates count as oldest)
  * realmail: all heldout
  * external: whole repositories held out (HELDOUT_REPOS); sisimai split by MTA family (HELDOUT_SISIMAI_FAMILIES
    plus a fixed hash half of the other families); public-inbox bot mail split by bot family (external.INBOX_SPLIT);
    moralmunky and imapdigester split by carrier/service (FAMILY_SPLIT_REPOS),
    so one template never lands on both sides.
"""
from __future__ import annotations

import collections
import hashlib
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from corpus_labels import label_for  # noqa: E402
from ext_labels import ext_label  # noqa: E402
from external import INBOX_SPLIT, PINNED_FAMILY, pinned_key  # noqa: E402
from realmail_labels import REALMAIL  # noqa: E402
from templates import rows as template_rows  # noqa: E402

WORK = os.path.join(HERE, "..", "work")
OUT = os.path.join(HERE, "..", "labels.tsv")
EXCL = os.path.join(HERE, "..", "excluded.tsv")
HELDOUT_FRACTION = 0.30

HELDOUT_REPOS = {
    "deltachat/deltachat-core-rust",                 # realmail holds 9 of its files
    "jstedfast/MimeKit",                             # realmail holds 1 of its files
    "jelmer/janitor",                                # realmail holds both its files
    "domainaware/parsedmarc",
}
# sisimai families held out: those realmail copies come from, plus half of the rest by a fixed hash
HELDOUT_SISIMAI_FAMILIES = {"lhost-amazonses", "lhost-office365", "lhost-postfix", "rfc3834"}


# repositories split by sender/template family instead of whole: (repo, regex on path) -> heldout
#   moralmunky: carriers that realmail also holds (Amazon, FedEx, UPS, USPS) are held out, other carriers train
#   imapdigester: services realmail also holds (Jira, LinkedIn, Reddit) and GitHub (realmail has a GitHub
#   notification from jelmer/janitor) are held out; Confluence and HipChat train
FAMILY_SPLIT_REPOS = {
    "moralmunky/Home-Assistant-Mail-And-Packages": r"/(amazon|fedex|ups|usps|informed_delivery)",
    "paul-hammant/imapdigester": r"(jira|linkedin|reddit|github)",
}


# sender families held out by the splits above (moralmunky's carriers, realmail's shipping mail): new sources'
# messages from them are held out too, everything else new trains (external.PINNED_SOURCES)
HELDOUT_SENDER_FAMILIES = {"amazon", "fedex", "ups", "usps"}


def sisimai_heldout(family: str) -> bool:
    if family in HELDOUT_SISIMAI_FAMILIES:
        return True
    if family.startswith("arf"):
        return False
    return int(hashlib.sha256(family.encode()).hexdigest(), 16) % 2 == 0


def corpus_split(recs: list[dict]) -> dict[str, str]:
    split = {}
    by_folder = collections.defaultdict(list)
    for r in recs:
        if r["folder"] != "realmail":
            by_folder[r["folder"]].append(r)
    for folder, rs in by_folder.items():
        rs.sort(key=lambda r: (r["ts"] if r["ts"] is not None else float("-inf"), r["source"]))
        cut = int(round(len(rs) * (1 - HELDOUT_FRACTION)))
        for i, r in enumerate(rs):
            split[r["source"]] = "train" if i < cut else "heldout"
    return split


def main() -> None:
    recs = [json.loads(l) for l in open(os.path.join(WORK, "listing.jsonl"))]
    split = corpus_split(recs)
    rows = []
    seen: dict[str, str] = {}
    for r in recs:
        if r["folder"] == "realmail":
            key = r["source"].split("/", 1)[1]
            label, sub, note = REALMAIL[key]
            rows.append((r["source"], r["sha256"], label, sub, "heldout", "read", note))
        else:
            label, sub, method, note = label_for(r)
            rows.append((r["source"], r["sha256"], label, sub, split[r["source"]], method, note))
        seen.setdefault(r["sha256"], r["source"])
    excluded = []
    for l in open(os.path.join(WORK, "ext_listing.jsonl")):
        r = json.loads(l)
        if r["sha256"] in seen:
            excluded.append((r["source"], r["sha256"], f"byte-identical to {seen[r['sha256']]}"))
            continue
        lab = ext_label(r)
        if lab is None:
            from ext_labels import EXCLUDE
            excluded.append((r["source"], r["sha256"], EXCLUDE[r["path"]]))
            continue
        seen[r["sha256"]] = r["source"]
        if pinned_key(r["repo"], r["path"], r["source"]) in PINNED_FAMILY:
            sp = "heldout" if PINNED_FAMILY[pinned_key(r["repo"], r["path"], r["source"])] in HELDOUT_SENDER_FAMILIES else "train"
        elif r["repo"] == "sisimai/set-of-emails":
            sp = "heldout" if sisimai_heldout(r["family"]) else "train"
        elif r["repo"].startswith("linux-mailinglist-archives/"):
            sp = INBOX_SPLIT[r["family"]]
        elif r["repo"] in FAMILY_SPLIT_REPOS:
            sp = "heldout" if re.search(FAMILY_SPLIT_REPOS[r["repo"]], r["path"]) else "train"
        else:
            sp = "heldout" if r["repo"] in HELDOUT_REPOS else "train"
        rows.append((r["source"], r["sha256"], lab[0], lab[1], sp, "read", lab[2]))
    # texts modelled on open-source transactional templates (train only; see tools/templates.py)
    rows.extend(template_rows())
    with open(OUT, "w") as out:
        out.write("source\tsha256\tlabel\tsubkind\tsplit\tmethod\tnote\n")
        for row in rows:
            out.write("\t".join(x.replace("\t", " ") for x in row) + "\n")
    with open(EXCL, "w") as out:
        out.write("source\tsha256\treason\n")
        for row in excluded:
            out.write("\t".join(row) + "\n")
    print(f"{len(rows)} rows -> {os.path.normpath(OUT)}; {len(excluded)} excluded -> {os.path.normpath(EXCL)}")


if __name__ == "__main__":
    main()
