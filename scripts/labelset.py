"""The labelled messages of data/labels/labels.tsv, read from where they live (never from the repo).

Each row names its message by ``source``:

- ``spamassassin/<folder>/<file>``: the SpamAssassin public corpus (``--corpus``,
  ``$MAILGUARD_CORPUS``, default ``shared/corpus/spamassassin`` beside the repository or its parent);
- ``realmail/<folder>/<file>``: the real-mail reference set (``$MAILGUARD_REALMAIL``, default
  ``shared/realmail`` found the same way);
- ``github:owner/repo@commit:path``: a public repository's fixture or archive message, copied out
  of the fetched mirrors by ``data/labels/extra/copy_external.py`` into ``$MAILGUARD_LABELS_EXTERNAL``
  (default ``~/.cache/mailguard/labels-external``; copied on first use when the mirrors,
  ``$MAILGUARD_MIRROR`` or ``/work/.mirror``, are there; the few files no mirror holds come from
  the index copies, ``$MAILGUARD_INDEX_COPIES`` or ``/work/.index-copies``: see
  ``data/labels/extra/index_copies.md``);
- ``template/<file>``: a text modelled on an open-source project's transactional template, kept in
  ``data/labels/templates/`` (train only; see LABELS.md).

Every file's sha256 is checked against its row; a row whose file is missing or differs is skipped
and counted, never silently used.

Labels map to the model's classes: personal 0, promotional 1, transactional 2 (``unsure`` rows are
left out).
"""

from __future__ import annotations

import csv
import hashlib
import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LABELS = REPO / "data" / "labels" / "labels.tsv"
TEMPLATES = REPO / "data" / "labels" / "templates"
CLASS_OF = {"personal": 0, "promotional": 1, "transactional": 2}
#: rules.Policy().strong_threshold
STRONG = 0.97


def _env_path(var: str, default: Path) -> Path:
    v = os.environ.get(var)
    return Path(v).expanduser() if v else default


def _shared(*parts: str) -> Path:
    """``shared/...`` beside the repository (or beside the folder of worktrees it is in)."""
    for base in (REPO.parent, REPO.parent.parent):
        p = base.joinpath("shared", *parts)
        if p.exists():
            return p
    return REPO.parent.joinpath("shared", *parts)


def default_corpus() -> Path:
    return _env_path("MAILGUARD_CORPUS", _shared("corpus", "spamassassin"))


def default_realmail() -> Path:
    return _env_path("MAILGUARD_REALMAIL", _shared("realmail"))


def default_external() -> Path:
    return _env_path("MAILGUARD_LABELS_EXTERNAL", Path.home() / ".cache" / "mailguard" / "labels-external")


def default_mirror() -> Path:
    return _env_path("MAILGUARD_MIRROR", Path("/work/.mirror"))


def default_index_copies() -> Path:
    return _env_path("MAILGUARD_INDEX_COPIES", Path("/work/.index-copies"))


@dataclass(frozen=True)
class Row:
    source: str
    sha256: str
    label: str
    subkind: str
    split: str
    method: str
    note: str

    @property
    def y(self) -> int:
        return CLASS_OF[self.label]

    @property
    def origin(self) -> str:
        """Where a message comes from, coarsely: spamassassin/easy_ham, realmail, github:owner/repo, template."""
        if self.source.startswith("github:"):
            return self.source.split("@", 1)[0]
        parts = self.source.split("/")
        return "/".join(parts[:2]) if parts[0] == "spamassassin" else parts[0]


@dataclass(frozen=True)
class Labelled:
    row: Row
    raw: bytes


def read_rows(path: Path = LABELS) -> list[Row]:
    with open(path, newline="", encoding="utf-8") as f:
        return [Row(**{k: (v or "") for k, v in r.items()}) for r in csv.DictReader(f, delimiter="\t")]


def _external_name(source: str) -> str:
    # as copy_external.py names it
    repo, rest = source[len("github:"):].split("@", 1)
    commit, path = rest.split(":", 1)
    name = (commit[:12] if path == "m" else path).replace("/", "__").replace("#", "__")
    return os.path.join(repo.replace("/", "+"), name if name.endswith(".eml") else name + ".eml")


def ensure_external(external: Path, mirror: Path, rows: list[Row], labels: Path = LABELS,
                    index_copies: Path | None = None) -> bool:
    """Copy the external messages out of the mirrors (and the index copies) when ``external`` lacks
    some of them."""
    wanted = [r for r in rows if r.source.startswith("github:") and r.label in CLASS_OF]
    if all((external / _external_name(r.source)).is_file() for r in wanted):
        return True
    if not mirror.is_dir():
        return False
    script = REPO / "data" / "labels" / "extra" / "copy_external.py"
    r = subprocess.run([sys.executable, str(script), str(external), "--mirror", str(mirror),
                        "--index-copies", str(index_copies or default_index_copies()),
                        "--labels", str(labels)], capture_output=True, text=True, check=False)
    if r.returncode != 0:
        print(f"copy_external failed: {r.stderr.strip()[-300:]}", file=sys.stderr)
    return (external / "manifest.tsv").is_file()


def locate(row: Row, corpus: Path, realmail: Path, external: Path) -> Path | None:
    s = row.source
    if s.startswith("spamassassin/"):
        return corpus / s[len("spamassassin/"):]
    if s.startswith("realmail/"):
        return realmail / s[len("realmail/"):]
    if s.startswith("github:"):
        return external / _external_name(s)
    if s.startswith("template/"):
        return TEMPLATES / s[len("template/"):]
    return None


def load(rows: list[Row] | None = None, *, corpus: Path | None = None, realmail: Path | None = None,
         external: Path | None = None, mirror: Path | None = None, quiet: bool = False
         ) -> tuple[list[Labelled], Counter]:
    """The raw bytes of every usable row (not ``unsure``, file present, sha256 matching), and a
    count of the rows skipped and why."""
    rows = read_rows() if rows is None else rows
    corpus = corpus or default_corpus()
    realmail = realmail or default_realmail()
    external = external or default_external()
    if any(r.source.startswith("github:") for r in rows):
        ensure_external(external, mirror or default_mirror(), rows)
    out: list[Labelled] = []
    skipped: Counter = Counter()
    for r in rows:
        if r.label not in CLASS_OF:
            skipped[r.label] += 1
            continue
        p = locate(r, corpus, realmail, external)
        if p is None or not p.is_file():
            skipped["missing: " + r.origin] += 1
            continue
        raw = p.read_bytes()
        if hashlib.sha256(raw).hexdigest() != r.sha256:
            skipped["sha256 mismatch: " + r.origin] += 1
            continue
        out.append(Labelled(r, raw))
    if skipped and not quiet:
        print("labelled rows skipped: " + ", ".join(f"{k} {v}" for k, v in sorted(skipped.items())),
              file=sys.stderr)
    return out, skipped


# -- featurising and the held-out report ------------------------------------------------------------


@dataclass
class Featurised:
    """Labelled messages with their features (rows whose bytes are not mail are dropped)."""

    rows: list[Row]
    feats: list
    dates: list[float]
    #: transactional_reason of each message (the rules' structural/subject check), or None
    structural: list

    def where(self, pred) -> "Featurised":
        keep = [i for i, r in enumerate(self.rows) if pred(r)]
        return Featurised([self.rows[i] for i in keep], [self.feats[i] for i in keep],
                          [self.dates[i] for i in keep], [self.structural[i] for i in keep])

    @property
    def y(self):
        import numpy as np

        return np.array([r.y for r in self.rows])


def featurise(data: list[Labelled], workers: int | None = None) -> tuple[Featurised, int]:
    """Features (with header tokens) and the structural transactional check of each message; and how
    many were not mail at all."""
    from mailguard.core.categories import transactional_reason
    from mailguard.core.parse import parse_message
    from mailguard.training import analyse_raws

    out = Featurised([], [], [], [])
    bad = 0
    for d, (f, date) in zip(data, analyse_raws([d.raw for d in data], workers=workers, total=len(data))):
        if f is None:
            bad += 1
            continue
        out.rows.append(d.row)
        out.feats.append(f)
        out.dates.append(date)
        out.structural.append(transactional_reason(parse_message(d.raw)))
    return out, bad


def sender_groups(fs: Featurised) -> list[str]:
    """A group per sender organisation (registrable domain of From), for grouped cross-validation:
    the out-of-fold score of a message then comes from a model that saw nothing of its sender.
    External fixtures (senders often anonymised) are grouped by template family: the carrier of a
    shipping fixture, the MTA family of a bounce, the bot of an archive message; texts modelled on
    templates by the project they follow."""
    import re

    from mailguard.core.identity import registrable_domain

    out = []
    for r, f in zip(fs.rows, fs.feats):
        if r.source.startswith("github:"):
            base = r.source.rsplit("/", 1)[-1]
            if "Mail-And-Packages" in r.source:
                fam = base.split("_")[0]
            elif "sisimai" in r.source:
                fam = re.sub(r"-\d+\.eml$", "", base)
            elif r.source.endswith(":m"):
                fam = r.note
            else:
                fam = f"{r.subkind}|{r.note}"
            out.append(f"{r.origin}|{fam}")
            continue
        if r.source.startswith("template/"):
            out.append("template|" + r.note.removeprefix("modelled on ").split()[0])
            continue
        dom = next((t[6:] for t in f.header_tokens if t.startswith("from:@")), "")
        out.append(registrable_domain(dom) if dom else r.source)
    return out


def heldout_report(model, fs: Featurised) -> dict:
    """The default model on labelled mail it did not see: AUC (promotional against the rest), promo
    recall, and the share flagged promotional of personal mail, of discussion posts and of
    transactional mail, by the model alone and as the decision's category (the model, with the rules'
    structural/subject check able to make a message transactional); per transactional subkind; the
    category confusion; and how many messages the model could not judge (``classify.unknown``)."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    from mailguard.core import classify

    y = fs.y
    probs = model.predict(fs.feats)
    p = probs[:, classify.PROMOTIONAL]
    flagged = p >= model.threshold
    structural = np.array([s is not None for s in fs.structural])
    guard = np.array([f.discussion_list or not f.is_bulk for f in fs.feats])
    # as rules.decide: structural transactional never; discussion posts and mail without bulk signals
    # only from the strong threshold
    decided = flagged & ~structural & (~guard | (p >= STRONG))
    disc = np.array([r.subkind == "discussion" for r in fs.rows])

    def share(mask, what):
        return {"n": int(mask.sum()), "flagged": int(what[mask].sum()),
                "rate": float(what[mask].mean()) if mask.any() else float("nan")}

    pos = y == classify.PROMOTIONAL
    out = {
        "n": len(y), "threshold": model.threshold,
        "auc": float(roc_auc_score(pos, p)),
        "promo_recall": share(pos, flagged),
        "model": {"personal": share(y == classify.PERSONAL, flagged), "discussion": share(disc, flagged),
                  "transactional": share(y == classify.TRANSACTIONAL, flagged)},
        "decision": {"personal": share(y == classify.PERSONAL, decided), "discussion": share(disc, decided),
                     "transactional": share(y == classify.TRANSACTIONAL, decided),
                     "promo_recall": share(pos, decided)},
        "unknown": int(sum(classify.unknown(f) for f in fs.feats)),
    }
    subkinds: dict = {}
    for i, r in enumerate(fs.rows):
        if r.label == "transactional":
            s = subkinds.setdefault(r.subkind, {"n": 0, "model": 0, "decision": 0})
            s["n"] += 1
            s["model"] += int(flagged[i])
            s["decision"] += int(decided[i])
    out["transactional_subkinds"] = dict(sorted(subkinds.items(), key=lambda kv: -kv[1]["n"]))
    cats = [model.category(pr) for pr in probs]
    cats = ["transactional" if structural[i] else
            "personal" if c == "promotional" and not decided[i] else c for i, c in enumerate(cats)]
    confusion = {t: {c: 0 for c in classify.CLASSES} for t in classify.CLASSES}
    for r, c in zip(fs.rows, cats):
        confusion[r.label][c] += 1
    out["category_confusion"] = confusion
    return out


def format_heldout(rep: dict) -> str:
    def pct(d):
        return f"{d['rate']:.2%} ({d['flagged']}/{d['n']})"

    m, d = rep["model"], rep["decision"]
    lines = [
        f"| measure | model alone | decision (as the rules categorise) |",
        f"|---|---|---|",
        f"| AUC, promotional vs rest | {rep['auc']:.4f} | |",
        f"| promo recall at {rep['threshold']:.3f} | {pct(rep['promo_recall'])} | {pct(d['promo_recall'])} |",
        f"| personal flagged promotional | {pct(m['personal'])} | {pct(d['personal'])} |",
        f"| discussion posts flagged | {pct(m['discussion'])} | {pct(d['discussion'])} |",
        f"| transactional flagged | {pct(m['transactional'])} | {pct(d['transactional'])} |",
    ]
    subs = ", ".join(f"{k} {v['model']}/{v['decision']} of {v['n']}" for k, v in rep["transactional_subkinds"].items()
                     if v["model"])
    lines.append(f"\ntransactional flagged by subkind (model/decision of n): {subs or 'none'}")
    conf = rep["category_confusion"]
    lines.append("category (decision) by label: " + "; ".join(
        f"{t}: " + ", ".join(f"{c} {n}" for c, n in row.items()) for t, row in conf.items()))
    lines.append(f"not judged (content not understood, no bulk structure): {rep['unknown']} of {rep['n']}")
    return "\n".join(lines)
