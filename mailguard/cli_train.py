"""`mailguard train` and `mailguard evaluate`: the promo model on the user's own labelled mail.

Typer commands only: load the config, read the sources through :mod:`mailguard.training`, call
:mod:`mailguard.classify`, print. Errors are MailguardError subclasses, which ``cli.main`` turns into
one line on stderr and an exit code.
"""

from __future__ import annotations

import logging
import time
import math
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from .config import Config, configured_workers, load_config
from .errors import StoreError
from .output import console, write_json

if TYPE_CHECKING:  # scikit-learn and rich's tables: imported by the command that runs, not --help
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from . import classify
    from .training import Example

log = logging.getLogger(__name__)

#: personal mail allowed above the chosen threshold, on out-of-fold scores
DEFAULT_MAX_FPR = 0.005

SourcesOpt = Annotated[
    list[str],
    typer.Option(help="An mbox, a Maildir, a folder of message files, or imap:FOLDER on the configured "
                      "account. Repeat the option for several sources."),
]
ConfigOpt = Annotated[Optional[Path], typer.Option("--config", help="config.toml (default: $MAILGUARD_HOME/config.toml)")]
WorkersOpt = Annotated[Optional[int], typer.Option("--workers", min=1, help="Processes for parsing (default: [performance] workers, else every core).")]


class EvalFormat(str, Enum):
    table = "table"
    json = "json"


def default_model_out(config: Config) -> Path:
    """Where `mailguard train` writes: the configured model path, else the data directory (where
    classify.load() looks first)."""
    from . import classify

    return config.model or (config.home / classify.USER_MODEL_NAME)


@contextmanager
def _progress(err: Console, enabled: bool) -> Iterator[Progress]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=err, transient=True, disable=not enabled)
    with progress:
        yield progress


def _read(label_name: str, label: int, sources: list[str], cfg: Config, workers: int | None,
          progress: Progress) -> tuple[list[Example], int]:
    from .training import load_examples

    task = progress.add_task(f"reading {label_name}", total=0)
    total = [0]

    def grow(n: int) -> None:
        total[0] += n
        progress.update(task, total=total[0])

    examples, bad = load_examples(sources, label, workers=workers, config=cfg, on_total=grow,
                                  progress=lambda n: progress.update(task, advance=n))
    progress.update(task, visible=False)
    return examples, bad


def _scores(label_name: str, sources: list[str], model: classify.PromoModel, cfg: Config,
            workers: int, progress: Progress) -> tuple[list[float], int]:
    from .training import score_sources

    task = progress.add_task(f"scoring {label_name}", total=0)
    total = [0]

    def grow(n: int) -> None:
        total[0] += n
        progress.update(task, total=total[0])

    scores, bad = score_sources(sources, model, workers=workers, config=cfg, on_total=grow,
                                progress=lambda n: progress.update(task, advance=n))
    progress.update(task, visible=False)
    return scores, bad


def _review_labels(include: bool, cfg: Config) -> tuple[list[Example], int, str]:
    """Labels from review decisions; ([], 0, why) when there are none to take."""
    if not include:
        return [], 0, "not asked"
    from .store import DB_NAME, Store
    from .training import review_examples

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
    names = (("auc", "ROC AUC"), ("precision", "precision"), ("recall", "recall"), ("f1", "F1"),
             ("false_positive_rate", "false-positive rate (personal above threshold)"),
             ("fpr_at_90_recall", "personal above the 90%-recall threshold"), ("threshold", "threshold"),
             ("n_promo", "promo messages"), ("n_personal", "personal messages"))
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
    out: Annotated[Optional[Path], typer.Option("--out", help="Model file to write; its .card.json goes beside it (default: \\[model] path, else the data directory).")] = None,
    include_review: Annotated[bool, typer.Option("--include-review/--no-include-review", help="Add review decisions as labels: allowed senders personal, blocked senders promo.")] = True,
    max_fpr: Annotated[float, typer.Option("--max-fpr", min=0.0, max=0.5, help="Share of personal mail allowed above the threshold, on cross-validated scores.")] = DEFAULT_MAX_FPR,
    workers: WorkersOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Train the promo model on your own mail: promotional folders against personal ones.

    Writes the model and its card (data counts, date, versions, cross-validated metrics, sha256).
    The threshold is chosen on cross-validated scores so that at most --max-fpr of your personal
    mail scores above it.

    Example: mailguard train --promo ~/Mail/Newsletters --promo imap:Promotions --personal ~/Mail/INBOX
    """
    from . import classify
    from .training import train_model

    cfg = load_config(config)
    err = console(stderr=True)
    target = out or default_model_out(cfg)
    t0 = time.perf_counter()
    with _progress(err, err.is_terminal) as progress:
        n = configured_workers(cfg, workers)
        promo_ex, bad_promo = _read("promo", 1, promo, cfg, n, progress)
        personal_ex, bad_personal = _read("personal", 0, personal, cfg, n, progress)
        review_ex, bad_review, review_why = _review_labels(include_review, cfg)
        examples = promo_ex + personal_ex + review_ex
        labels = [e.label for e in examples]
        classify.check_counts(labels)  # before the slow part: one clear line when a class is short
        fit_task = progress.add_task("training (5-fold cross-validation)", total=classify.FOLDS + 1)
        result = train_model([e.feats for e in examples], labels, max_fpr=max_fpr,
                             progress=lambda done, total: progress.update(fit_task, completed=done, total=total))
    seconds = time.perf_counter() - t0
    n_review_promo = sum(e.label for e in review_ex)
    card = {
        "data": {
            "promo_sources": promo,
            "personal_sources": personal,
            "n_promo": int(sum(labels)),
            "n_personal": int(len(labels) - sum(labels)),
            "from_sources": {"promo": len(promo_ex), "personal": len(personal_ex)},
            "from_review": {"promo": n_review_promo, "personal": len(review_ex) - n_review_promo,
                            "note": review_why},
            "unreadable": {"promo": bad_promo, "personal": bad_personal, "review": bad_review},
        },
        "features": f"hashed words of subject and body start (tf-idf) + structural signals "
                    f"(feature version {classify.FEATURE_VERSION})",
        "classifier": "logistic regression, Platt-calibrated on 5-fold out-of-fold scores",
        "threshold_rule": f"lowest score with at most {max_fpr:.1%} of personal mail above it, on "
                          "out-of-fold scores",
        "metrics": {"cross_validation": result.cv_metrics},
        "train_seconds": round(seconds, 2),
        "command": "mailguard train " + " ".join([*(f"--promo {p}" for p in promo),
                                                  *(f"--personal {p}" for p in personal)]),
    }
    full = classify.save(result.model, target, card)
    outc = console()
    outc.print(_metrics_table("cross-validated (5-fold) on your mail", result.cv_metrics))
    outc.print(f"wrote {target} (threshold {result.model.threshold:.3f}, sha256 {full['sha256'][:12]}...) "
               f"from {card['data']['n_promo']} promo and {card['data']['n_personal']} personal messages "
               f"in {seconds:.1f}s", markup=False)
    if out is not None and cfg.model is None and target != default_model_out(cfg):
        outc.print(f"to use it: --model {target}, or [model] path = \"{target}\" in config.toml",
                   markup=False)


def evaluate_cmd(
    promo: SourcesOpt,
    personal: SourcesOpt,
    model: Annotated[Optional[Path], typer.Option("--model", help="Model file (its .card.json must sit beside it; default: the one scan uses).")] = None,
    threshold: Annotated[Optional[float], typer.Option("--threshold", min=0.0, max=1.0, help="Evaluate at this threshold instead of the model's.")] = None,
    fmt: Annotated[EvalFormat, typer.Option("--format", help="table, or json (one object).")] = EvalFormat.table,
    workers: WorkersOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Measure a promo model on labelled mail: precision, recall, F1, ROC AUC, false-positive rate,
    and a precision/recall table over thresholds.

    Example: mailguard evaluate --promo ~/Mail/Newsletters --personal ~/Mail/INBOX --format json
    """
    from . import classify
    from .training import evaluate_scores

    cfg = load_config(config)
    promo_model = classify.load(model or cfg.model)
    err = console(stderr=True)
    n = configured_workers(cfg, workers)
    with _progress(err, err.is_terminal and fmt == EvalFormat.table) as progress:
        promo_p, bad_promo = _scores("promo", promo, promo_model, cfg, n, progress)
        personal_p, bad_personal = _scores("personal", personal, promo_model, cfg, n, progress)
    if not promo_p and not personal_p:
        from .errors import SourceError

        raise SourceError("no readable messages in the given sources")
    m, table = evaluate_scores(promo_p + personal_p, [1] * len(promo_p) + [0] * len(personal_p),
                               promo_model.threshold if threshold is None else threshold)
    m["unreadable"] = bad_promo + bad_personal
    m["model"] = str(model or cfg.model or "default")
    if fmt == EvalFormat.json:
        safe = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in m.items()}
        write_json({**safe, "table": table})
        return
    outc = console()
    outc.print(_metrics_table("evaluation", m))
    outc.print(_pr_table(table, m["threshold"]))


def register(app: typer.Typer) -> None:
    """Add `train` and `evaluate` to the mailguard CLI."""
    app.command("train")(train_cmd)
    app.command("evaluate")(evaluate_cmd)

