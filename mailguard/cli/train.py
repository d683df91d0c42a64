"""`mailguard train` and `mailguard evaluate`: the promo model on the user's own labelled mail.

Typer commands only: load the config, read the sources through :mod:`mailguard.training`, call
:mod:`mailguard.core.classify`, print. Errors are MailguardError subclasses, which ``cli.main`` turns into
one line on stderr and an exit code.
"""

from __future__ import annotations

import logging
import time
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from ..config import Config, configured_workers, load_config
from ..errors import StoreError
from .output import console, write_json

if TYPE_CHECKING:  # scikit-learn and rich's tables: imported by the command that runs, not --help
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from ..core import classify
    from ..training import Example

log = logging.getLogger(__name__)

#: personal mail allowed above the chosen threshold, on out-of-fold scores
DEFAULT_MAX_FPR = 0.005
#: transactional mail allowed above it
DEFAULT_MAX_FPR_TRANSACTIONAL = 0.02

SourcesOpt = Annotated[
    list[str],
    typer.Option(help="An mbox, a Maildir, a folder of message files, or imap:FOLDER on the configured "
                      "account. Repeat the option for several sources."),
]
OptionalSourcesOpt = Annotated[
    Optional[list[str]],
    typer.Option(help="Transactional mail (receipts, confirmations, resets, statements, notifications): an "
                      "mbox, a Maildir, a folder of message files, or imap:FOLDER. Repeat for several "
                      "sources. Optional; without it the model knows personal and promotional only."),
]
ConfigOpt = Annotated[Optional[Path], typer.Option("--config", help="config.toml (default: $MAILGUARD_HOME/config.toml)")]
WorkersOpt = Annotated[Optional[int], typer.Option("--workers", min=1, help="Processes for parsing (default: [performance] workers, else every core).")]


class EvalFormat(str, Enum):
    table = "table"
    json = "json"


def default_model_out(config: Config) -> Path:
    """Where `mailguard train` writes: the configured model path, else the data directory (where
    models_io.load() looks first)."""
    from .. import models_io

    return config.model or (config.home / models_io.USER_MODEL_NAME)


class _NoProgress:
    """What the commands ask of a Progress, doing nothing (rich's progress and tables are then
    never imported: --format json, or stderr not a terminal)."""

    def add_task(self, *args: Any, **kwargs: Any) -> int:
        return 0

    def update(self, *args: Any, **kwargs: Any) -> None:
        pass


@contextmanager
def _progress(err: Console, enabled: bool) -> Iterator[Progress]:
    if not enabled:
        yield _NoProgress()  # type: ignore[misc]
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=err, transient=True, disable=not enabled)
    with progress:
        yield progress


def _with_progress(label_name: str, progress: Progress, run: Callable[..., Any]) -> Any:
    """``run(on_total=..., progress=...)`` under a progress task named after ``label_name``."""
    task = progress.add_task(f"reading {label_name}", total=0)
    total = [0]

    def grow(n: int) -> None:
        total[0] += n
        progress.update(task, total=total[0])

    out = run(on_total=grow, progress=lambda n: progress.update(task, advance=n))
    progress.update(task, visible=False)
    return out


def _read(label_name: str, label: int, sources: list[str], cfg: Config, workers: int | None,
          progress: Progress) -> tuple[list[Example], int]:
    from ..training import load_examples

    return _with_progress(label_name, progress, lambda **kw: load_examples(
        sources, label, workers=workers, config=cfg, **kw))


def _start_scores(sources: list[str], model: classify.PromoModel, cfg: Config,
                  workers: int | None) -> Callable[..., tuple[Any, int]]:
    """Start scoring the messages of ``sources`` in the workers (:func:`training.start_scoring`);
    the function returned collects the probabilities."""
    from ..training import start_scoring

    return start_scoring(sources, model, workers=workers, config=cfg)


def _review_labels(include: bool, cfg: Config) -> tuple[list[Example], int, str]:
    """Labels from review decisions; ([], 0, why) when there are none to take."""
    if not include:
        return [], 0, "not asked"
    from ..store import DB_NAME, Store
    from ..training import review_examples

    path = cfg.home / DB_NAME
    if not path.is_file():
        return [], 0, "no state database yet"
    try:
        store = Store(path)
    except StoreError as exc:
        log.warning("review labels skipped: %s", exc)
        return [], 0, "state database unreadable"
    try:
        examples, bad = review_examples(store)
    finally:
        store.close()
    return examples, bad, "from review"


def _fmt(x: Any) -> str:
    return f"{x:.3f}" if isinstance(x, float) else str(x)


def _metrics_table(title: str, m: dict[str, Any]) -> Table:
    from rich.table import Table

    t = Table(title=title, show_header=False)
    t.add_column("metric")
    t.add_column("value", justify="right")
    names = (("auc", "ROC AUC (promotional against the rest)"), ("precision", "precision"),
             ("recall", "recall"), ("f1", "F1"),
             ("false_positive_rate", "false-positive rate (not promotional, above threshold)"),
             ("false_promo_personal", "personal above threshold"),
             ("false_promo_transactional", "transactional above threshold"),
             ("false_promo_personal_decided", "personal the rules call promotional"),
             ("false_promo_transactional_decided", "transactional the rules call promotional"),
             ("fpr_at_90_recall", "not promotional, above the 90%-recall threshold"),
             ("threshold", "promo threshold"), ("transactional_threshold", "transactional threshold"),
             ("n_promo", "promotional messages"), ("n_personal", "personal messages"),
             ("n_transactional", "transactional messages"))
    for key, label in names:
        if key in m:
            t.add_row(label, _fmt(m[key]))
    return t


def _pr_table(rows: list[dict[str, float]], chosen: float) -> Table:
    from rich.table import Table

    t = Table(title="precision / recall by threshold (pick one with --threshold or [rules] promo_threshold)")
    for col in ("threshold", "precision", "recall", "F1", "false-positive rate"):
        t.add_column(col, justify="right")
    for r in rows:
        t.add_row(f"{r['threshold']:.2f}", f"{r['precision']:.3f}", f"{r['recall']:.3f}", f"{r['f1']:.3f}",
                  f"{r['false_positive_rate']:.4f}")
    t.caption = f"the model's threshold: {chosen:.3f}"
    return t


def train_cmd(
    promo: SourcesOpt,
    personal: SourcesOpt,
    transactional: OptionalSourcesOpt = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Model file to write; its .card.json goes beside it (default: \\[model] path, else the data directory).")] = None,
    include_review: Annotated[bool, typer.Option("--include-review/--no-include-review", help="Add review decisions as labels: allowed senders personal, blocked senders promo.")] = True,
    max_fpr: Annotated[float, typer.Option("--max-fpr", min=0.0, max=0.5, help="Share of personal mail allowed above the promo threshold, on cross-validated scores.")] = DEFAULT_MAX_FPR,
    max_fpr_transactional: Annotated[float, typer.Option("--max-fpr-transactional", min=0.0, max=0.5, help="Share of transactional mail allowed above the promo threshold (with at least 1/this many transactional messages).")] = DEFAULT_MAX_FPR_TRANSACTIONAL,
    workers: WorkersOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Train the model on your own mail: promotional, personal and (optionally) transactional folders.

    Writes the model and its card (data counts, date, versions, cross-validated metrics, sha256).
    Besides words and structure, a model of your own mail learns header tokens (sender addresses,
    Received hosts, Message-ID domains, mail programs), which are reliable within one mailbox. The
    promo threshold is chosen on cross-validated scores so that at most --max-fpr of your personal
    mail and --max-fpr-transactional of your transactional mail score above it.

    Example: mailguard train --promo ~/Mail/Newsletters --transactional ~/Mail/Receipts --personal ~/Mail/INBOX
    """
    from .. import models_io
    from ..core import classify
    from ..training import train_model

    transactional = transactional or []
    cfg = load_config(config)
    err = console(stderr=True)
    target = models_io.check_name(out or default_model_out(cfg))  # before the slow part
    t0 = time.perf_counter()
    with _progress(err, err.is_terminal) as progress:
        n = configured_workers(cfg, workers)
        promo_ex, bad_promo = _read("promo", classify.PROMOTIONAL, promo, cfg, n, progress)
        tx_ex, bad_tx = _read("transactional", classify.TRANSACTIONAL, transactional, cfg, n, progress)
        personal_ex, bad_personal = _read("personal", classify.PERSONAL, personal, cfg, n, progress)
        review_ex, bad_review, review_why = _review_labels(include_review, cfg)
        examples = promo_ex + tx_ex + personal_ex + review_ex
        labels = [e.label for e in examples]
        counts = classify.check_counts(labels)  # before the slow part: one clear line when a class is short
        fit_task = progress.add_task("training (5-fold cross-validation)", total=classify.FOLDS + 1)
        result = train_model([e.feats for e in examples], labels, max_fpr=max_fpr,
                             max_fpr_transactional=max_fpr_transactional, header_tokens=True,
                             progress=lambda done, total: progress.update(fit_task, completed=done, total=total))
    seconds = time.perf_counter() - t0
    n_review_promo = sum(e.label == classify.PROMOTIONAL for e in review_ex)
    card = {
        "data": {
            "promo_sources": promo,
            "transactional_sources": transactional,
            "personal_sources": personal,
            "n_promo": counts["promotional"],
            "n_transactional": counts["transactional"],
            "n_personal": counts["personal"],
            "from_sources": {"promo": len(promo_ex), "transactional": len(tx_ex), "personal": len(personal_ex)},
            "from_review": {"promo": n_review_promo, "personal": len(review_ex) - n_review_promo,
                            "note": review_why},
            "unreadable": {"promo": bad_promo, "transactional": bad_tx, "personal": bad_personal,
                           "review": bad_review},
        },
        "features": "hashed words of subject and body start (tf-idf) + structural signals + header tokens "
                    "(addresses, Received hosts and networks, Message-ID domain, mail program, DKIM domain, "
                    f"list, content types, header names) (feature version {classify.FEATURE_VERSION})",
        "classifier": "one-vs-rest logistic regressions, calibrated by matrix scaling on 5-fold out-of-fold "
                      "margins" + ("" if counts["transactional"] else "; no transactional examples: two categories"),
        "threshold_rule": f"promotional: lowest threshold with at most {max_fpr:.1%} of personal and "
                          f"{max_fpr_transactional:.1%} of transactional mail above it, on out-of-fold scores",
        "metrics": {"cross_validation": result.cv_metrics},
        "train_seconds": round(seconds, 2),
        "command": "mailguard train " + " ".join([*(f"--promo {p}" for p in promo),
                                                  *(f"--transactional {p}" for p in transactional),
                                                  *(f"--personal {p}" for p in personal)]),
    }
    full = models_io.save(result.model, target, card)
    outc = console()
    outc.print(_metrics_table("cross-validated (5-fold) on your mail", result.cv_metrics))
    outc.print(f"wrote {target} (promo threshold {result.model.threshold:.3f}, sha256 {full['sha256'][:12]}...) "
               f"from {counts['promotional']} promotional, {counts['transactional']} transactional and "
               f"{counts['personal']} personal messages in {seconds:.1f}s", markup=False)
    if out is not None and cfg.model is None and target != default_model_out(cfg):
        outc.print(f"to use it: --model {target}, or [model] path = \"{target}\" in config.toml",
                   markup=False)


def evaluate_cmd(
    promo: SourcesOpt,
    personal: SourcesOpt,
    transactional: OptionalSourcesOpt = None,
    model: Annotated[Optional[Path], typer.Option("--model", help="Model file (its .card.json must sit beside it; default: the one scan uses).")] = None,
    threshold: Annotated[Optional[float], typer.Option("--threshold", min=0.0, max=1.0, help="Evaluate at this threshold instead of the model's.")] = None,
    fmt: Annotated[EvalFormat, typer.Option("--format", help="table, or json (one object).")] = EvalFormat.table,
    workers: WorkersOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Measure a model on labelled mail: precision, recall, F1, ROC AUC (promotional against the
    rest), the share of personal and of transactional mail above the threshold, the categories
    against the labels, and a precision/recall table over thresholds.

    Example: mailguard evaluate --promo ~/Mail/Newsletters --transactional ~/Mail/Receipts --personal ~/Mail/INBOX
    """
    import numpy as np

    from .. import models_io
    from ..core import classify
    from ..training import evaluate_probs

    cfg = load_config(config)
    promo_model = models_io.load(model or cfg.model)
    err = console(stderr=True)
    n = configured_workers(cfg, workers)
    probs: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    unreadable = 0
    # every label's files are handed to the workers before the first result is read: they score
    # the promotional mail while this process lists the personal mail
    started = [(name, label, _start_scores(sources, promo_model, cfg, n))
               for name, label, sources in (("promo", classify.PROMOTIONAL, promo),
                                            ("transactional", classify.TRANSACTIONAL, transactional or []),
                                            ("personal", classify.PERSONAL, personal))]
    with _progress(err, err.is_terminal and fmt == EvalFormat.table) as progress:
        for name, label, collect in started:
            p, bad = _with_progress(name, progress, collect)
            probs.append(p)
            labels.append(np.full(len(p), label))
            unreadable += bad
    if not sum(map(len, probs)):
        from ..errors import SourceError

        raise SourceError("no readable messages in the given sources")
    m, table = evaluate_probs(promo_model, np.concatenate(probs), np.concatenate(labels), threshold)
    m["unreadable"] = unreadable
    m["model"] = str(model or cfg.model or "default")
    if fmt == EvalFormat.json:
        write_json({**_no_nan(m), "table": table})
        return
    outc = console()
    outc.print(_metrics_table("evaluation", m))
    if "categories" in m:
        outc.print(_confusion_table(m["categories"]["confusion"]))
    outc.print(_pr_table(table, m["threshold"]))


def _no_nan(v: Any) -> Any:
    """NaN (an undefined metric) as null, at any depth: JSON has no NaN."""
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, dict):
        return {k: _no_nan(x) for k, x in v.items()}
    return v


def _confusion_table(confusion: dict[str, dict[str, int]]) -> Table:
    t = Table(title="categories (rows: the labels; columns: the model's category)")
    t.add_column("label")
    for c in classify.CLASSES:
        t.add_column(c, justify="right")
    for label, row in confusion.items():
        t.add_row(label, *(str(row[c]) for c in classify.CLASSES))
    return t


def register(app: typer.Typer) -> None:
    """Add `train` and `evaluate` to the mailguard CLI."""
    app.command("train")(train_cmd)
    app.command("evaluate")(evaluate_cmd)

