#!/usr/bin/env python3
"""mailguard's promo model against bogofilter and SpamAssassin, side by side, on the same splits.

Each tool is trained on the same training messages and scores the same test messages:

- mailguard: ``mailguard.training.train_model`` (5-fold cross-validation; threshold chosen on the
  out-of-fold scores), scored from raw bytes with ``RawScorer`` on every core;
- bogofilter: ``bogofilter -d TMP -n -b`` / ``-s -b`` to register, ``-T -b`` to score (spamicity,
  and its own Spam/Ham/Unsure verdict for F1 and FPR);
- SpamAssassin: ``sa-learn --dbpath TMP`` (Bayes), then ``spamd`` on 127.0.0.1 with a temporary
  site config (local tests only: ``-L``, no DNS, no network tests, Bayes on that database) scored
  with ``spamc`` (the score for AUC, its 5.0 verdict for F1 and FPR).

Settings (labels: promo = spam, spam_2, hard_ham; personal = easy_ham, easy_ham_2):

- cross-source: train spam + easy_ham + half of hard_ham, test spam_2 + easy_ham_2 + the other half;
- literal: the issue's split with the corpus's own labels: train spam + easy_ham, test spam_2
  against hard_ham *as ham* (mailguard counts hard_ham, wanted newsletters, as promotion; see
  docs/model.md);
- by-date: all mail, older half by Date to train, newer half to test.

Throughput is test messages per second: for mailguard parse + features + score from raw bytes in
memory (workers started beforehand, interpreter start-up not counted); for bogofilter one
``bogofilter -B`` over the same files; the two are measured back to back ``--repeat`` times and the
median ratio is reported. SpamAssassin's is spamc over two connections to spamd's two children.

Every peer run has a time-out; a peer that fails or times out is reported as such, not hidden.

    python bench/bench_model.py --corpus ../shared/corpus/spamassassin
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

from mailguard import classify
from mailguard.sources import date_of_head
from mailguard.training import RawScorer, analyse_raws, metrics, train_model

PROMO = ("spam", "spam_2", "hard_ham")
SETTINGS = ("cross-source", "literal", "by-date")
MAX_FPR = 0.005
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
    train: list[tuple[Path, int]]
    test: list[tuple[Path, int]]


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


def _files(corpus: Path, folder: str) -> list[Path]:
    return sorted(p for p in (corpus / folder).iterdir() if p.is_file() and not p.name.startswith("."))


def make_split(name: str, corpus: Path) -> Split:
    f = {d: _files(corpus, d) for d in ("spam", "spam_2", "hard_ham", "easy_ham", "easy_ham_2")}
    hard = f["hard_ham"]

    def lab(folder: str, paths: list[Path], label: int | None = None) -> list[tuple[Path, int]]:
        return [(p, int(folder in PROMO) if label is None else label) for p in paths]

    if name == "cross-source":
        train = lab("spam", f["spam"]) + lab("easy_ham", f["easy_ham"]) + lab("hard_ham", hard[::2])
        test = lab("spam_2", f["spam_2"]) + lab("easy_ham_2", f["easy_ham_2"]) + lab("hard_ham", hard[1::2])
        return Split(name, "train spam+easy_ham+½hard_ham -> test spam_2+easy_ham_2+½hard_ham", train, test)
    if name == "literal":
        train = lab("spam", f["spam"]) + lab("easy_ham", f["easy_ham"])
        test = lab("spam_2", f["spam_2"]) + lab("hard_ham", hard, label=0)
        return Split(name, "train spam+easy_ham -> test spam_2 vs hard_ham labelled ham (corpus labels)",
                     train, test)
    if name == "by-date":
        dated = []
        for folder, paths in f.items():
            for p in paths:
                with open(p, "rb") as fh:
                    d = date_of_head(fh.read(16384))
                if d is not None:
                    dated.append((d.timestamp(), p, int(folder in PROMO)))
        cut = float(np.quantile([t for t, _, _ in dated], 0.5))
        train = [(p, y) for t, p, y in dated if t < cut]
        test = [(p, y) for t, p, y in dated if t >= cut]
        return Split(name, "all mail by Date: older half -> newer half", train, test)
    raise ValueError(name)


def _read(paths: list[Path]) -> list[bytes]:
    out = []
    for p in paths:
        with open(p, "rb") as fh:
            out.append(fh.read())
    return out


# -- mailguard ------------------------------------------------------------------------------


def run_mailguard(split: Split, workers: int) -> tuple[Row, classify.PromoModel, list[bytes]]:
    t0 = time.perf_counter()
    train_raws = _read([p for p, _ in split.train])
    feats, labels = [], []
    for (f, _), (_, y) in zip(analyse_raws(train_raws, workers=workers, total=len(train_raws)), split.train):
        if f is not None:
            feats.append(f)
            labels.append(y)
    result = train_model(feats, labels, max_fpr=MAX_FPR)
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
    row = Row("mailguard", m["auc"], m["f1"], m["false_positive_rate"], m.get("fpr_at_90_recall", float("nan")),
              train_s, len(test_raws) / score_s,
              note=f"threshold {result.model.threshold:.3f} (out-of-fold, {MAX_FPR:.1%} FPR)"
                   + (f"; {unreadable} unreadable scored 0" if unreadable else ""),
              extra={"precision": m["precision"], "recall": m["recall"]})
    return row, result.model, test_raws


def mailguard_throughput(model: classify.PromoModel, raws: list[bytes], workers: int) -> float:
    with RawScorer(model, workers=workers) as scorer:
        t = time.perf_counter()
        scorer.score(raws)
        return len(raws) / (time.perf_counter() - t)


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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path,
                    default=Path(__file__).resolve().parents[2] / "shared/corpus/spamassassin")
    ap.add_argument("--settings", default="cross-source,literal,by-date",
                    help=f"comma-separated, of {', '.join(SETTINGS)}")
    ap.add_argument("--spamassassin", default="cross-source",
                    help="settings SpamAssassin runs in ('all', 'none', or a list; it is the slow one)")
    ap.add_argument("--workers", type=int, default=2, help="mailguard processes and spamd children")
    ap.add_argument("--repeat", type=int, default=3, help="paired speed runs mailguard/bogofilter")
    ap.add_argument("--timeout", type=float, default=300, help="seconds for each peer training/scoring step")
    ap.add_argument("--sa-timeout", type=float, default=420,
                    help="seconds for SpamAssassin to score a test set (spamd is slow: ~10-25 msg/s)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    if not args.corpus.is_dir():
        print(f"no corpus at {args.corpus}", file=sys.stderr)
        return 2
    settings = [s.strip() for s in args.settings.split(",") if s.strip()]
    sa_settings = (SETTINGS if args.spamassassin == "all" else
                   [] if args.spamassassin == "none" else [s.strip() for s in args.spamassassin.split(",")])
    command = "python bench/bench_model.py " + " ".join(a for a in (argv if argv is not None else sys.argv[1:]))
    report: dict = {"command": command.strip(), "cpus": os.cpu_count(), "settings": {}}
    t_all = time.perf_counter()
    for name in settings:
        split = make_split(name, args.corpus)
        n_tr = (sum(y for _, y in split.train), sum(1 - y for _, y in split.train))
        n_te = (sum(y for _, y in split.test), sum(1 - y for _, y in split.test))
        print(f"\n## {name}: {split.describe}")
        print(f"train {len(split.train)} ({n_tr[0]} promo / {n_tr[1]} personal), "
              f"test {len(split.test)} ({n_te[0]} promo / {n_te[1]} personal)", flush=True)
        with tempfile.TemporaryDirectory(prefix="mailguard-bench-") as tmpdir:
            tmp = Path(tmpdir)
            mg, model, test_raws = run_mailguard(split, args.workers)
            bogo, db = run_bogofilter(split, tmp, args.timeout)
            rows = [mg, bogo]
            speed: dict = {}
            if db is not None:
                ratios, mg_runs, bogo_runs = [], [], []
                test_paths = [p for p, _ in split.test]
                for _ in range(args.repeat):
                    b = bogofilter_throughput(db, test_paths, args.timeout)
                    m = mailguard_throughput(model, test_raws, args.workers)
                    bogo_runs.append(b)
                    mg_runs.append(m)
                    ratios.append(m / b)
                speed = {"mailguard_msg_s": mg_runs, "bogofilter_msg_s": bogo_runs, "ratios": ratios,
                         "median_ratio": statistics.median(ratios)}
                mg.msg_s = statistics.median(mg_runs)
                bogo.msg_s = statistics.median(bogo_runs)
            if name in sa_settings:
                print("spamassassin: sa-learn + spamd/spamc (the slow one)...", flush=True)
                rows.append(run_spamassassin(split, tmp, args.timeout, args.sa_timeout, args.workers))
        print(table(rows))
        for r in rows:
            if r.note:
                print(f"  {r.tool}: {r.note}")
        if speed:
            print(f"  speed: mailguard / bogofilter = {speed['median_ratio']:.2f} (median of {args.repeat} "
                  f"paired runs: {', '.join(f'{x:.2f}' for x in speed['ratios'])}; "
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
