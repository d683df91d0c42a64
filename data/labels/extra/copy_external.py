#!/usr/bin/env python3
"""Copy the external messages listed in labels.tsv out of the fetched mirrors into a local folder.

usage: python3 extra/copy_external.py OUTDIR [--mirror DIR] [--index-copies DIR]
       (defaults: $MAILGUARD_MIRROR, else /work/.mirror; $MAILGUARD_INDEX_COPIES, else /work/.index-copies)

Writes OUTDIR/<owner+repo>/<path-or-commit>[__VAR].eml and OUTDIR/manifest.tsv (source, file, sha256, label,
subkind, split). Each file's sha256 is checked against labels.tsv; a mismatch is reported and the file skipped.
Mail files must stay out of the project repository: point OUTDIR somewhere else.
Sources of the form github:owner/repo@commit:path#VAR are Python string literals re-encoded as UTF-8, exactly as
tools/external.py did when the labels were made. A file no mirror holds (tools/external.py INDEX_SOURCES) is read
from the index copies, laid out owner+repo/COMMIT/PATH (extra/index_copies.md lists their raw URLs).
"""
from __future__ import annotations

import argparse
import ast
import csv
import hashlib
import os
import re
import subprocess
import sys


def gitdir(mirror: str, repo: str) -> str:
    base = os.path.join(mirror, repo.replace("/", "+"), "repo")
    return os.path.join(base, ".git") if os.path.isdir(os.path.join(base, ".git")) else base


def read_source(mirror: str, source: str, index_copies: str | None = None) -> bytes:
    m = re.match(r"^github:([^@]+)@([0-9a-f]{40}):(.+)$", source)
    if not m:
        raise ValueError(f"not an external source: {source}")
    repo, commit, path = m.groups()
    if index_copies and "#" not in path and path != "m":
        copy = os.path.join(index_copies, repo.replace("/", "+"), commit, *path.split("/"))
        if os.path.isfile(copy):
            with open(copy, "rb") as f:
                return f.read()
    var = None
    if "#" in path:
        path, var = path.split("#", 1)
    data = subprocess.run(["git", "--git-dir", gitdir(mirror, repo), "show", f"{commit}:{path}"],
                          check=True, capture_output=True).stdout
    if var is None:
        return data
    tree = ast.parse(data.decode("utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == var for t in node.targets):
            return node.value.value.encode("utf-8")
    raise KeyError(f"{var} not found in {repo}:{path}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--mirror", default=os.environ.get("MAILGUARD_MIRROR", "/work/.mirror"))
    ap.add_argument("--index-copies", default=os.environ.get("MAILGUARD_INDEX_COPIES", "/work/.index-copies"))
    ap.add_argument("--labels", default=os.path.join(os.path.dirname(__file__), "..", "labels.tsv"))
    a = ap.parse_args()
    os.makedirs(a.outdir, exist_ok=True)
    n = bad = 0
    with open(a.labels, newline="") as f, open(os.path.join(a.outdir, "manifest.tsv"), "w") as man:
        man.write("source\tfile\tsha256\tlabel\tsubkind\tsplit\n")
        for row in csv.DictReader(f, delimiter="\t"):
            src = row["source"]
            if not src.startswith("github:"):
                continue
            try:
                data = read_source(a.mirror, src, a.index_copies)
            except (subprocess.CalledProcessError, OSError) as e:
                print(f"not found in the mirrors or index copies, skipped: {src} ({type(e).__name__})", file=sys.stderr)
                bad += 1
                continue
            if hashlib.sha256(data).hexdigest() != row["sha256"]:
                print(f"sha256 mismatch, skipped: {src}", file=sys.stderr)
                bad += 1
                continue
            repo, rest = src[len("github:"):].split("@", 1)
            commit, path = rest.split(":", 1)
            name = (commit[:12] if path == "m" else path).replace("/", "__").replace("#", "__")
            rel = os.path.join(repo.replace("/", "+"), name if name.endswith(".eml") else name + ".eml")
            dest = os.path.join(a.outdir, rel)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with open(dest, "wb") as out:
                out.write(data)
            man.write("\t".join([src, rel, row["sha256"], row["label"], row["subkind"], row["split"]]) + "\n")
            n += 1
    print(f"copied {n} messages to {a.outdir} ({bad} missing or mismatched)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
