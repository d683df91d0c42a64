#!/usr/bin/env python3
"""mailguard's model: the default model on held-out labelled mail, and a model of one's own mail against
bogofilter and SpamAssassin on a time-ordered split, in one run.

Settings:

- ``heldout``: the shipped default model (``models/``, trained on the *train* part of
  ``data/labels/labels.tsv`` only) on the held-out part: AUC (promotional against the rest), promo
  recall, and the share flagged promotional of personal mail, of discussion posts and of
  transactional mail, by the model alone and as the rules categorise (``scripts/labelset.py``).
- ``own-mail``: the SpamAssassin corpus as one person's mailbox, labelled by labels.tsv, split by Date
  (older half to train, newer half to test). Promotional against the rest (personal and
  transactional), as bogofilter and SpamAssassin see mail. mailguard is trained as ``mailguard
  train`` trains (three categories, 5-fold cross-validation, thresholds from out-of-fold scores,
  header tokens), and once more without header tokens (words and structure only, the default model's
  features) to show what the header tokens add;
- ``cross-source`` (optional): train spam + easy_ham + half of hard_ham, test spam_2 + easy_ham_2 +
  the other half (other collection, other months), labels from labels.tsv.

Peers, trained on the same training messages and scoring the same test messages:

- bogofilter: ``bogofilter -d TMP -n -b`` / ``-s -b`` to register, ``-T -b`` to score (spamicity,
  and its own Spam/Ham/Unsure verdict for F1 and FPR);
- SpamAssassin: ``sa-learn --dbpath TMP`` (Bayes), then ``spamd`` on 127.0.0.1 with a temporary
  site config (local tests only: ``-L``, no DNS, no network tests, Bayes on that database) scored
  with ``spamc`` (the score for AUC, its 5.0 verdict for F1 and FPR).

mailguard's F1 and FPR are at its own threshold (promo probability), the peers' at their own verdicts.

Throughput is test messages per second: for mailguard parse + features + score from raw bytes in
memory (workers started beforehand, interpreter start-up not counted); for bogofilter one
``bogofilter -B`` over the same files; the two are measured back to back ``--repeat`` times and the
median ratio is reported. SpamAssassin's is spamc over two connections to spamd's two children.

Every peer run has a time-out; a peer that fails or times out is reported as such, not hidden.

    python bench/bench_model.py [--settings heldout,own-mail] [--spamassassin own-mail]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

import labelset  # noqa: E402

from mailguard import models_io  # noqa: E402

from mailguard.core import classify  # noqa: E402
from mailguard.sources import date_of_head  # noqa: E402
from mailguard.training import STRONG_THRESHOLD, RawScorer, analyse_raws, metrics, train_model  # noqa: E402

SETTINGS = ("heldout", "own-mail", "cross-source")
MAX_FPR = 0.005
MAX_FPR_TRANSACTIONAL = 0.02
SA_CONFIG = """\
use_bayes 1
bayes_path {db}/bayes
bayes_auto_learn 0
bayes_auto_expire 0
bayes_learn_to_journal 0
bayes_min_ham_num 1
bayes_min_spam_num 1
skip_rbl_checks 1
dns_available no
"""


@dataclass
class Split:
    name: str
    describe: str
    #: (path, label) with label 1 promotional, 0 not (bogofilter's and SpamAssassin's view)
    train: list[tuple[Path, int]]
    test: list[tuple[Path, int]]
    #: path -> category (0 personal, 1 promotional, 2 transactional): what mailguard learns
    category: dict[Path, int] = field(default_factory=dict)


@dataclass
class Row:
    tool: str
    auc: float = float("nan")
    f1: float = float("nan")
    fpr: float = float("nan")
    fpr90: float = float("nan")
    train_s: float = float("nan")
    msg_s: float = float("nan")
    note: str = ""
    extra: dict = field(default_factory=dict)


# -- data -----------------------------------------------------------------------------------


def corpus_rows(corpus: Path) -> list[tuple[labelset.Row, Path]]:
    """The SpamAssassin corpus's labelled rows and their files."""
    out = []
    for r in labelset.read_rows():
        if r.source.startswith("spamassassin/") and r.label in labelset.CLASS_OF:
            p = labelset.locate(r, corpus, Path(), Path())
            if p is not None and p.is_file():
                out.append((r, p))
    return out


def make_split(name: str, corpus: Path) -> Split:
    rows = corpus_rows(corpus)
    category = {p: r.y for r, p in rows}

    def lab(items: list[tuple[labelset.Row, Path]]) -> list[tuple[Path, int]]:
        return [(p, int(r.y == classify.PROMOTIONAL)) for r, p in items]

    if name == "own-mail":
        dated = []
        for r, p in rows:
            with open(p, "rb") as fh:
                d = date_of_head(fh.read(16384))
            if d is not None:
                dated.append((d.timestamp(), r, p))
        dated.sort(key=lambda x: x[0])
        half = len(dated) // 2
        return Split(name, "SpamAssassin corpus as one mailbox, by Date: older half -> newer half",
                     lab([(r, p) for _, r, p in dated[:half]]), lab([(r, p) for _, r, p in dated[half:]]),
                     category)
    if name == "cross-source":
        folder = lambda r: r.source.split("/")[1]  # noqa: E731
        hard = [(r, p) for r, p in rows if folder(r) == "hard_ham"]
        train = [(r, p) for r, p in rows if folder(r) in ("spam", "easy_ham")] + hard[::2]
        test = [(r, p) for r, p in rows if folder(r) in ("spam_2", "easy_ham_2")] + hard[1::2]
        return Split(name, "train spam+easy_ham+½hard_ham -> test spam_2+easy_ham_2+½hard_ham",
                     lab(train), lab(test), category)
    raise ValueError(name)


def _read(paths: list[Path]) -> list[bytes]:
    out = []
    for p in paths:
        with open(p, "rb") as fh:
            out.append(fh.read())
    return out


# -- mailguard ------------------------------------------------------------------------------


def run_mailguard(split: Split, workers: int, *, header_tokens: bool
                  ) -> tuple[Row, classify.PromoModel, list[bytes]]:
    """Train as `mailguard train` does (three categories; header tokens when asked) and score the
    test messages from raw bytes."""
    t0 = time.perf_counter()
    train_raws = _read([p for p, _ in split.train])
    feats, labels = [], []
    for (f, _), (path, _) in zip(analyse_raws(train_raws, workers=workers, total=len(train_raws)), split.train):
        if f is not None:
            feats.append(f)
            labels.append(split.category[path])
    result = train_model(feats, labels, max_fpr=MAX_FPR, max_fpr_transactional=MAX_FPR_TRANSACTIONAL,
                         header_tokens=header_tokens)
    train_s = time.perf_counter() - t0
    test_raws = _read([p for p, _ in split.test])
    y = np.array([lab for _, lab in split.test])
    with RawScorer(result.model, workers=workers) as scorer:
        t1 = time.perf_counter()
        p = scorer.score(test_raws)
        score_s = time.perf_counter() - t1
    unreadable = int(np.isnan(p).sum())
    p = np.nan_to_num(p, nan=0.0)  # not mail at all: never promo
    m = metrics(y, p, result.model.threshold)
    # as the rules categorise: the structural check's transactional mail never, discussion posts and
    # mail without bulk signals only from the strong threshold
    test_feats = [f for f, _ in analyse_raws(test_raws, workers=workers, total=len(test_raws))]
    recognised = np.array([f is not None and f.transactional_reason is not None for f in test_feats])
    guarded = np.array([f is None or f.discussion_list or not f.is_bulk for f in test_feats])
    decided = (p >= result.model.threshold) & ~recognised & (~guarded | (p >= STRONG_THRESHOLD))
    f1_d, fpr_d = _f1_fpr(y, decided)
    name = "mailguard own" if header_tokens else "mailguard w+s"
    row = Row(name, m["auc"], m["f1"], m["false_positive_rate"], m.get("fpr_at_90_recall", float("nan")),
              train_s, len(test_raws) / score_s,
              note=f"threshold {result.model.threshold:.3f} (out-of-fold, {MAX_FPR:.1%} personal / "
                   f"{MAX_FPR_TRANSACTIONAL:.0%} transactional); "
                   + ("words + structure + header tokens" if header_tokens else "words + structure only")
                   + (f"; {unreadable} unreadable scored 0" if unreadable else ""),
              extra={"precision": m["precision"], "recall": m["recall"], "f1_decided": f1_d,
                     "fpr_decided": fpr_d, "recall_decided": float(decided[y == 1].mean())})
    row.note += f"; as the rules categorise: F1 {f1_d:.4f}, FPR {fpr_d:.4f}"
    return row, result.model, test_raws


def mailguard_throughput(model: classify.PromoModel, raws: list[bytes], workers: int) -> float:
    with RawScorer(model, workers=workers) as scorer:
        t = time.perf_counter()
        scorer.score(raws)
        return len(raws) / (time.perf_counter() - t)


def run_heldout(workers: int) -> dict:
    """The shipped default model on the held-out part of the labelled data."""
    model = models_io.load(models_io.DEFAULT_MODEL_PATH)
    rows = [r for r in labelset.read_rows() if r.split == "heldout"]
    data, skipped = labelset.load(rows, quiet=True)
    fs, not_mail = labelset.featurise(data, workers=workers)
    rep = labelset.heldout_report(model, fs)
    rep["skipped"] = dict(skipped)
    rep["not_mail"] = not_mail
    rep["model_file"] = {"path": str(models_io.DEFAULT_MODEL_PATH), "sha256": model.meta.get("sha256", "")[:12],
                    "trained_on": model.meta.get("data", {}).get("train")}
    return rep


# -- bogofilter -----------------------------------------------------------------------------


def _bogo(args: list[str], names: list[Path], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(["bogofilter", *args, "-b"], input="\n".join(map(str, names)).encode(),
                          capture_output=True, timeout=timeout, check=False)


def run_bogofilter(split: Split, tmp: Path, timeout: float) -> tuple[Row, Path | None]:
    if shutil.which("bogofilter") is None:
        return Row("bogofilter", note="not installed (apt-get install bogofilter)"), None
    db = tmp / "bogofilter"
    db.mkdir()
    try:
        t0 = time.perf_counter()
        for flag, label in (("-n", 0), ("-s", 1)):
            r = _bogo(["-d", str(db), flag], [p for p, y in split.train if y == label], timeout)
            if r.returncode not in (0, 1, 2):
                return Row("bogofilter", note=f"training failed: {r.stderr.decode()[:200]}"), None
        train_s = time.perf_counter() - t0
        test = [p for p, _ in split.test]
        t1 = time.perf_counter()
        r = _bogo(["-d", str(db), "-T"], test, timeout)
        score_s = time.perf_counter() - t1
    except subprocess.TimeoutExpired:
        return Row("bogofilter", note=f"timed out after {timeout:.0f}s"), None
    scores, verdict = _parse_bogo(r.stdout.decode("utf-8", "replace"))
    y = np.array([lab for _, lab in split.test])
    p = np.array([scores.get(str(path), 0.5) for path in test])
    spam = np.array([verdict.get(str(path)) == "S" for path in test])
    m = metrics(y, p, 0.5)
    f1, fpr = _f1_fpr(y, spam)
    return Row("bogofilter", m["auc"], f1, fpr, m.get("fpr_at_90_recall", float("nan")), train_s,
               len(test) / score_s, note="verdict: its own Spam class (spam_cutoff)"), db


def _parse_bogo(text: str) -> tuple[dict[str, float], dict[str, str]]:
    scores, verdict = {}, {}
    for line in text.splitlines():
        try:
            path, cls, value = line.rsplit(" ", 2)
            scores[path] = float(value)
            verdict[path] = cls
        except ValueError:
            continue
    return scores, verdict


def bogofilter_throughput(db: Path, paths: list[Path], timeout: float) -> float:
    t = time.perf_counter()
    subprocess.run(["bogofilter", "-d", str(db), "-T", "-B", *map(str, paths)], capture_output=True,
                   timeout=timeout, check=False)
    return len(paths) / (time.perf_counter() - t)


def _f1_fpr(y: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    tp = int((pred & (y == 1)).sum())
    fp = int((pred & (y == 0)).sum())
    fn = int((~pred & (y == 1)).sum())
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return f1, fp / max(1, int((y == 0).sum()))


# -- SpamAssassin ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.3)
    return False


def _spamc(path: Path, port: int, timeout: float) -> tuple[float, bool] | None:
    with open(path, "rb") as fh:
        r = subprocess.run(["spamc", "-d", "127.0.0.1", "-p", str(port), "-c", "-t", str(int(timeout)),
                            "-s", "2000000"], stdin=fh, capture_output=True, timeout=timeout + 5, check=False)
    out = r.stdout.decode().strip()
    try:
        score, required = out.split("/")
        return float(score), float(score) >= float(required)
    except ValueError:
        return None


def _bayes_fired(path: Path, port: int) -> bool:
    """Whether spamd's report on one message names a BAYES_ rule (Bayes is on and trained)."""
    with open(path, "rb") as fh:
        r = subprocess.run(["spamc", "-d", "127.0.0.1", "-p", str(port), "-R", "-t", "60"], stdin=fh,
                           capture_output=True, timeout=70, check=False)
    return b"BAYES_" in r.stdout


def run_spamassassin(split: Split, tmp: Path, timeout: float, score_timeout: float, workers: int) -> Row:
    missing = [t for t in ("sa-learn", "spamd", "spamc") if shutil.which(t) is None]
    if missing:
        return Row("spamassassin", note=f"not installed ({', '.join(missing)}): apt-get install spamassassin spamc")
    base = tmp / "sa"
    site, db, home = base / "site", base / "db", base / "home"
    for d in (site, db, home):
        d.mkdir(parents=True)
    for pre in Path("/etc/spamassassin").glob("*.pre"):  # plugin loading (Bayes among them)
        shutil.copy(pre, site / pre.name)
    (site / "local.cf").write_text(SA_CONFIG.format(db=db))
    # spamd started as root reads its config as "nobody": the path must be traversable, and
    # SpamAssassin ignores a world-writable config directory; Bayes and home must be writable
    for d in (tmp, base, site):
        os.chmod(d, 0o755)
    for f in site.iterdir():
        os.chmod(f, 0o644)
    for d in (db, home):
        os.chmod(d, 0o777)
    common = ["--siteconfigpath", str(site), "-L"]
    t0 = time.perf_counter()
    try:
        for flag, label in (("--ham", 0), ("--spam", 1)):
            lst = base / f"train{label}.lst"
            lst.write_text("\n".join(str(p) for p, y in split.train if y == label) + "\n")
            r = subprocess.run(["sa-learn", *common, "--dbpath", str(db), flag, "-f", str(lst)],
                               capture_output=True, timeout=timeout, check=False)
            if r.returncode != 0:
                return Row("spamassassin", note=f"sa-learn failed: {r.stderr.decode()[-200:]}")
    except subprocess.TimeoutExpired:
        return Row("spamassassin", note=f"sa-learn timed out after {timeout:.0f}s")
    train_s = time.perf_counter() - t0
    for f in db.iterdir():
        os.chmod(f, 0o666)
    port = _free_port()
    log = open(base / "spamd.log", "wb")
    spamd = subprocess.Popen(
        ["spamd", *common, "-x", "-i", f"127.0.0.1:{port}", "-m", str(workers), "--min-children",
         str(workers), "--max-conn-per-child", "100000", "-H", str(home), "-s", "stderr",
         "-r", str(base / "spamd.pid")],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        if not _wait_port(port, spamd, 90):
            tail = (base / "spamd.log").read_text(errors="replace").strip().splitlines()[-2:]
            return Row("spamassassin", train_s=train_s, note=f"spamd did not start: {' | '.join(tail)}")
        test = [p for p, _ in split.test]
        bayes = _bayes_fired(test[0], port)
        deadline = time.monotonic() + score_timeout
        t1 = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(lambda p: None if time.monotonic() > deadline else _spamc(p, port, 60), test))
        score_s = time.perf_counter() - t1
    finally:
        spamd.terminate()
        try:
            spamd.wait(10)
        except subprocess.TimeoutExpired:
            spamd.kill()
        log.close()
    done = [i for i, r in enumerate(results) if r is not None]
    failed = len(test) - len(done)
    if failed > len(test) // 4:
        return Row("spamassassin", train_s=train_s,
                   note=f"{failed} of {len(test)} messages not scored within {score_timeout:.0f}s "
                        "(raise --sa-timeout) or spamd errors")
    y = np.array([split.test[i][1] for i in done])
    p = np.array([results[i][0] for i in done])  # type: ignore[index]
    spam = np.array([results[i][1] for i in done])  # type: ignore[index]
    m = metrics(y, p, 5.0)
    f1, fpr = _f1_fpr(y, spam)
    return Row("spamassassin", m["auc"], f1, fpr, m.get("fpr_at_90_recall", float("nan")), train_s,
               len(done) / score_s,
               note=f"verdict: score >= 5.0; Bayes rules fired: {'yes' if bayes else 'NO'}"
                    + (f"; {failed} messages not scored in time, metrics on the {len(done)} scored"
                       if failed else ""))


# -- report ---------------------------------------------------------------------------------


def table(rows: list[Row]) -> str:
    head = f"| {'tool':<13} | {'AUC':>6} | {'F1':>6} | {'FPR':>6} | {'FPR@90%rec':>10} | {'train s':>7} | {'msg/s':>7} |"
    lines = [head, "|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|"]
    for r in rows:
        def f(x: float, spec: str) -> str:
            return "n/a" if x != x else format(x, spec)
        lines.append(f"| {r.tool:<13} | {f(r.auc, '.4f'):>6} | {f(r.f1, '.4f'):>6} | {f(r.fpr, '.4f'):>6} | "
                     f"{f(r.fpr90, '.4f'):>10} | {f(r.train_s, '.1f'):>7} | {f(r.msg_s, '.0f'):>7} |")
    return "\n".join(lines)


def paired_speed(model: classify.PromoModel, raws: list[bytes], db: Path, paths: list[Path], args) -> dict:
    ratios, mg_runs, bogo_runs = [], [], []
    for _ in range(args.repeat):
        b = bogofilter_throughput(db, paths, args.timeout)
        m = mailguard_throughput(model, raws, args.workers)
        bogo_runs.append(b)
        mg_runs.append(m)
        ratios.append(m / b)
    return {"mailguard_msg_s": mg_runs, "bogofilter_msg_s": bogo_runs, "ratios": ratios,
            "median_ratio": statistics.median(ratios)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=labelset.default_corpus(),
                    help="the SpamAssassin corpus (default: $MAILGUARD_CORPUS, else shared/corpus/spamassassin)")
    ap.add_argument("--settings", default="heldout,own-mail",
                    help=f"comma-separated, of {', '.join(SETTINGS)}")
    ap.add_argument("--spamassassin", default="own-mail",
                    help="settings SpamAssassin runs in ('all', 'none', or a list; it is the slow one)")
    ap.add_argument("--workers", type=int, default=2, help="mailguard processes and spamd children")
    ap.add_argument("--repeat", type=int, default=3, help="paired speed runs mailguard/bogofilter")
    ap.add_argument("--timeout", type=float, default=300, help="seconds for each peer training/scoring step")
    ap.add_argument("--sa-timeout", type=float, default=420,
                    help="seconds for SpamAssassin to score a test set (spamd is slow: ~10-25 msg/s)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    settings = [s.strip() for s in args.settings.split(",") if s.strip()]
    unknown_settings = set(settings) - set(SETTINGS)
    if unknown_settings:
        print(f"no such setting: {', '.join(sorted(unknown_settings))} (of {', '.join(SETTINGS)})", file=sys.stderr)
        return 2
    if any(s != "heldout" for s in settings) and not args.corpus.is_dir():
        print(f"no corpus at {args.corpus}", file=sys.stderr)
        return 2
    sa_settings = (SETTINGS if args.spamassassin == "all" else
                   [] if args.spamassassin == "none" else [s.strip() for s in args.spamassassin.split(",")])
    command = "python bench/bench_model.py " + " ".join(a for a in (argv if argv is not None else sys.argv[1:]))
    report: dict = {"command": command.strip(), "cpus": os.cpu_count(), "settings": {}}
    t_all = time.perf_counter()
    for name in settings:
        if name == "heldout":
            print("\n## heldout: the shipped default model on the held-out labelled mail", flush=True)
            rep = run_heldout(args.workers)
            print(f"{rep['n']} messages; model {rep['model_file']['sha256']}..., trained on {rep['model_file']['trained_on']}")
            print(labelset.format_heldout(rep))
            report["settings"][name] = rep
            continue
        split = make_split(name, args.corpus)
        n_tr = (sum(y for _, y in split.train), sum(1 - y for _, y in split.train))
        n_te = (sum(y for _, y in split.test), sum(1 - y for _, y in split.test))
        print(f"\n## {name}: {split.describe}")
        print(f"train {len(split.train)} ({n_tr[0]} promotional / {n_tr[1]} not), "
              f"test {len(split.test)} ({n_te[0]} promotional / {n_te[1]} not: personal and transactional)",
              flush=True)
        with tempfile.TemporaryDirectory(prefix="mailguard-bench-") as tmpdir:
            tmp = Path(tmpdir)
            own, own_model, test_raws = run_mailguard(split, args.workers, header_tokens=True)
            plain, plain_model, _ = run_mailguard(split, args.workers, header_tokens=False)
            bogo, db = run_bogofilter(split, tmp, args.timeout)
            rows = [own, plain, bogo]
            speed: dict = {}
            if db is not None:
                test_paths = [p for p, _ in split.test]
                speed = {"own": paired_speed(own_model, test_raws, db, test_paths, args),
                         "w+s": paired_speed(plain_model, test_raws, db, test_paths, args)}
                own.msg_s = statistics.median(speed["own"]["mailguard_msg_s"])
                plain.msg_s = statistics.median(speed["w+s"]["mailguard_msg_s"])
                bogo.msg_s = statistics.median(speed["own"]["bogofilter_msg_s"] + speed["w+s"]["bogofilter_msg_s"])
            if name in sa_settings:
                print("spamassassin: sa-learn + spamd/spamc (the slow one)...", flush=True)
                rows.append(run_spamassassin(split, tmp, args.timeout, args.sa_timeout, args.workers))
        print(table(rows))
        for r in rows:
            if r.note:
                print(f"  {r.tool}: {r.note}")
        for which, sp in speed.items():
            print(f"  speed ({which}): mailguard / bogofilter = {sp['median_ratio']:.2f} (median of {args.repeat} "
                  f"paired runs: {', '.join(f'{x:.2f}' for x in sp['ratios'])}; "
                  f"{args.workers} mailguard workers, bogofilter single process)")
        report["settings"][name] = {"describe": split.describe, "n_train": len(split.train),
                                    "n_test": len(split.test), "rows": [r.__dict__ for r in rows],
                                    "speed": speed}
    total = time.perf_counter() - t_all
    print(f"\nbench took {total:.0f}s on {os.cpu_count()} CPUs. Reproduce: {report['command']}")
    report["seconds"] = total
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
