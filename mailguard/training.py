"""Labelled mail -> features, a model with a threshold chosen on out-of-fold scores, and metrics.

Used by `mailguard train` / `mailguard evaluate` (:mod:`mailguard.cli.train`),
``scripts/train_default_model.py`` and ``bench/bench_model.py``.

Thresholds come from *out-of-fold* probabilities: each training message is scored by a model that
did not see it (:func:`mailguard.core.classify.fit`). The promo threshold is the lowest at which at most
``max_fpr`` of the personal mail and at most ``max_fpr_transactional`` of the transactional mail
lie above it; the transactional threshold the lowest at which at most ``max_fpr`` of the personal
mail that is not promotional is called transactional. Scores of messages a model was trained on are
too confident to choose anything from.

Parsing is the slow part of training and scoring, so :func:`load_examples` and :class:`RawScorer`
spread it over a process pool (``workers``, default: every core).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .core import classify
from .errors import ConfigError, SourceError
from .core.features import Features, extract
from .core.identity import registrable_domain
from .core.parse import parse_message
from .pipeline import analyse_one
from .sources import open_source

log = logging.getLogger(__name__)

#: Messages sent to a worker at a time.
CHUNK = 128
#: Below this many messages a process pool costs more than it saves.
MIN_PARALLEL = 256
#: Thresholds shown in the precision/recall table.
TABLE_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99)
IMAP_PREFIX = "imap:"
#: Bytes of each IMAP message fetched (the parser reads no more than this).
IMAP_MAX_BYTES = 512 * 1024
#: The lowest threshold choose_threshold returns.
MIN_THRESHOLD = 0.05
#: rules.Policy's default strong_threshold: discussion posts and mail without bulk signals are
#: promotional only from here (the thresholds are chosen for the rules as they decide)
STRONG_THRESHOLD = 0.97
#: the lowest promo threshold of a three-way model: promotional only when more likely than not
PROMO_FLOOR = 0.5


@dataclass(frozen=True)
class Example:
    """One labelled message: its features, its category (0 personal, 1 promotional, 2 transactional:
    an index into :data:`mailguard.core.classify.CLASSES`), its Date and where it came from."""

    feats: Features
    label: int
    date: float  # POSIX seconds, 0 when unknown
    origin: str


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


# -- reading sources -----------------------------------------------------------------------


def _open_imap(folder: str, config: Any) -> tuple[int, Iterator[tuple[str, bytes]]]:
    try:
        from .imap.session import open_account
    except ImportError:  # the IMAP side is not installed in this tree
        open_account = None  # type: ignore[assignment]
    if config is None or open_account is None or not (config.raw.get("imap") or config.raw.get("accounts")):
        raise ConfigError(f"imap: sources need an [imap] config (cannot read imap:{folder})")
    account = open_account(config)
    try:
        account.select(folder, readonly=True)
        uids = account.uids_after(0)
    except BaseException:
        account.close()
        raise

    def messages() -> Iterator[tuple[str, bytes]]:
        with account:  # read-only: BODY.PEEK, \Seen is never set
            for m in account.fetch(uids, max_body_bytes=IMAP_MAX_BYTES):
                yield f"imap:{folder}/{m.uid}", m.raw

    return len(uids), messages()


def open_messages(spec: str | Path, config: Any = None) -> tuple[int, Iterator[tuple[str, bytes]]]:
    """How many messages a source has and an iterator of their (ref, raw bytes): an mbox, a
    Maildir, a folder, a message file, or ``imap:FOLDER`` on the account of ``config``. The source
    is listed once and closed when the iterator is done. A message larger than what is parsed
    is read only that far (:meth:`mailguard.sources.Source.read_message`)."""
    s = str(spec)
    if s.startswith(IMAP_PREFIX):
        folder = s[len(IMAP_PREFIX):]
        if not folder:
            raise SourceError("imap: needs a folder name, e.g. imap:Newsletters")
        return _open_imap(folder, config)
    src = open_source(spec)
    try:
        items = src.items(dates=False)  # file order: no Date needed
    except BaseException:
        src.close()
        raise

    def messages() -> Iterator[tuple[str, bytes]]:
        with src:
            for it in items:
                try:
                    raw = src.read_message(it)
                except (OSError, KeyError) as exc:
                    log.warning("cannot read %s: %s", it.ref, exc)
                    continue
                yield f"{spec}:{it.ref}", raw

    return len(items), messages()


def iter_source(spec: str | Path, config: Any = None) -> Iterator[tuple[str, bytes]]:
    """(ref, raw bytes) of every message of a source (see :func:`open_messages`)."""
    yield from open_messages(spec, config)[1]


# -- parallel analysis ---------------------------------------------------------------------


def analyse_raws(raws: Iterable[bytes], *, workers: int | None = None, total: int | None = None,
                 progress: Callable[[int], None] | None = None) -> Iterator[tuple[Features | None, float]]:
    """(features or None, date) of each message, in order; parsed in ``workers`` processes (the
    shared pool of :mod:`mailguard.parallel`)."""
    from .parallel import _features_chunk, map_chunks

    for res in map_chunks(_features_chunk, raws, None, workers, total=total):
        yield from res
        if progress:
            progress(len(res))


def load_examples(paths: Iterable[Path | str], label: int, *, workers: int | None = None,
                  config: Any = None, progress: Callable[[int], None] | None = None,
                  on_total: Callable[[int], None] | None = None) -> tuple[list[Example], int]:
    """Every readable message of ``paths`` (mbox, Maildir, folder, ``imap:FOLDER``) with ``label``;
    returns (examples, n_unreadable). ``on_total(n)`` is told each source's size as it is opened,
    ``progress(n)`` the messages done."""
    out: list[Example] = []
    bad = 0
    for p in paths:
        total, messages = open_messages(p, config)
        if on_total:
            on_total(total)
        refs: list[str] = []

        def raws(messages: Iterator[tuple[str, bytes]] = messages) -> Iterator[bytes]:
            for ref, raw in messages:
                refs.append(ref)
                yield raw

        for i, (feats, date) in enumerate(analyse_raws(raws(), workers=workers, total=total,
                                                       progress=progress)):
            if feats is None:
                bad += 1
                continue
            out.append(Example(feats, label, date, refs[i]))
    return out, bad


def score_sources(paths: Iterable[Path | str], model: classify.PromoModel, *, workers: int | None = None,
                  config: Any = None, progress: Callable[[int], None] | None = None,
                  on_total: Callable[[int], None] | None = None) -> tuple[np.ndarray, int]:
    """The calibrated probabilities (n, 3) of every readable message of ``paths``, in order, and
    the number of messages without features. Parsed, extracted and scored in ``workers``
    processes, SCORE_BLOCK messages at a time from the start of each source: the same numbers
    with any number of workers. ``on_total`` and ``progress`` as for :func:`load_examples`."""
    return start_scoring(paths, model, workers=workers, config=config)(progress=progress, on_total=on_total)


def start_scoring(paths: Iterable[Path | str], model: classify.PromoModel, *, workers: int | None = None,
                  config: Any = None) -> Callable[..., tuple[np.ndarray, int]]:
    """Start :func:`score_sources`: the sources that can be located (files, mbox) are listed now
    and all their chunks handed to the workers at once, so that they score while the caller
    lists the next sources (or starts scoring other ones); the others (IMAP, Maildir) are read
    when the result is asked for. Returns ``collect(progress=None, on_total=None)``, which gives
    what :func:`score_sources` gives."""
    from .parallel import _probs_chunk, _probs_spans_chunk, map_chunks, submit_chunks

    paths = list(paths)
    started: list[tuple[list[str], int, Iterator[Any]] | None] = []
    for p in paths:
        located = _located(p)
        if located is None:
            started.append(None)
        else:
            refs, spans = located
            started.append((refs, len(spans), submit_chunks(_probs_spans_chunk, spans, model, workers)))

    def collect(progress: Callable[[int], None] | None = None,
                on_total: Callable[[int], None] | None = None) -> tuple[np.ndarray, int]:
        parts: list[np.ndarray] = []
        bad = 0
        for p, begun in zip(paths, started):
            if begun is None:
                total, messages = open_messages(p, config)
                refs: list[str] = []
                results: Iterator[Any] = ((probs, []) for probs in map_chunks(
                    _probs_chunk, (raw for _, raw in messages), model, workers, total=total))
            else:  # the workers read the files: the bytes never pass through this process
                refs, total, results = begun
            if on_total:
                on_total(total)
            done = 0
            for probs, errors in results:
                lost = np.zeros(len(probs), dtype=bool)
                for i, why in errors:  # as open_messages: said, and left out
                    log.warning("cannot read %s: %s", refs[done + i], why)
                    lost[i] = True
                ok = ~np.isnan(probs[:, 0])
                bad += int((~ok & ~lost).sum())
                parts.append(probs[ok])
                done += len(probs)
                if progress:
                    progress(len(probs))
        return (np.concatenate(parts) if parts else np.zeros((0, classify.N_CLASSES))), bad

    return collect


def _located(spec: str | Path) -> tuple[list[str], list[Any]] | None:
    """The refs and spans (:meth:`mailguard.sources.Source.spans`) of a source's messages in
    file order, or None (an IMAP folder, a Maildir)."""
    if str(spec).startswith(IMAP_PREFIX):
        return None
    with open_source(spec) as src:
        items = src.items(dates=False)
        spans = src.spans(items)
        return None if spans is None else ([f"{spec}:{it.ref}" for it in items], spans)


def review_examples(store: Any) -> tuple[list[Example], int]:
    """Labels from review (allow = personal, block = promo), read back from their sources.
    Returns ([], 0) when the review module is not there."""
    try:
        from .review.actions import labelled_examples, read_examples
    except ImportError:
        return [], 0
    out: list[Example] = []
    bad = 0
    for ex, raw in read_examples(labelled_examples(store)):
        msg, feats = analyse_one(raw, header_tokens=True)
        if feats is None:
            bad += 1
            continue
        out.append(Example(feats, int(ex.label), msg.date.timestamp() if msg.date else 0.0,
                           f"review:{ex.source}:{ex.ref}"))
    return out, bad


# -- scoring raw mail fast -----------------------------------------------------------------

_WORKER_MODEL: classify.PromoModel | None = None


def _set_worker_model(model: classify.PromoModel) -> None:
    global _WORKER_MODEL
    _WORKER_MODEL = model
    registrable_domain("warm.example.co.uk")  # loads the public suffix list once, now


def _score_chunk(raws: list[bytes]) -> tuple[np.ndarray, float]:
    """Scores of a chunk (NaN where the bytes are not a message) and the CPU seconds it took."""
    t0 = time.process_time()
    model = _WORKER_MODEL
    assert model is not None
    feats: list[Features] = []
    where: list[int] = []
    for i, raw in enumerate(raws):
        msg = parse_message(raw)
        if msg.unreadable and msg.sender is None and not msg.headers:
            continue
        try:
            # a message without a usable From is still scored: the pipeline keeps such mail
            # whatever its score, but a score is what a benchmark compares
            f = extract(msg, with_header_tokens=model.uses_header_tokens)
        except Exception:  # noqa: BLE001 - as in pipeline.analyse_one
            continue
        feats.append(f)
        where.append(i)
    out = np.full(len(raws), np.nan)
    if feats:
        out[where] = model.score_many(feats)
    return out, time.process_time() - t0


class RawScorer:
    """Parse, extract and score raw messages on every core; NaN for a message that is not mail.

    The pool starts once (``with RawScorer(model) as s: s.score(raws)``); workers keep the model.
    """

    def __init__(self, model: classify.PromoModel, workers: int | None = None) -> None:
        self.model = model
        self.workers = default_workers() if workers is None else max(1, workers)
        self._pool: ProcessPoolExecutor | None = None
        #: CPU seconds the workers spent in the last score() call
        self.cpu_seconds = 0.0

    def __enter__(self) -> RawScorer:
        if self.workers > 1:
            self._pool = ProcessPoolExecutor(self.workers, initializer=_set_worker_model,
                                             initargs=(self.model,))
            # start every worker now (each task holds its worker a moment, so all of them spawn),
            # not inside the first score() call
            list(self._pool.map(_pause, [0.05] * self.workers))
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def score(self, raws: Sequence[bytes], chunk: int = CHUNK) -> np.ndarray:
        if self._pool is None or len(raws) < 2 * chunk:
            _set_worker_model(self.model)
            scores, self.cpu_seconds = _score_chunk(list(raws))
            return scores
        parts = [list(raws[i:i + chunk]) for i in range(0, len(raws), chunk)]
        results = list(self._pool.map(_score_chunk, parts))
        self.cpu_seconds = sum(cpu for _, cpu in results)
        return np.concatenate([scores for scores, _ in results])


def _pause(seconds: float) -> None:
    time.sleep(seconds)


# -- threshold and metrics -----------------------------------------------------------------


def choose_threshold(y: np.ndarray | Sequence[int], p: np.ndarray | Sequence[float],
                     max_fpr: float = 0.01) -> float:
    """The lowest threshold at which at most max_fpr of the negatives (``y == 0``) score at or
    above it.

    Give it out-of-fold scores (``classify.fit(...).oof_scores``), never the scores of the messages
    a model was trained on.
    """
    y = np.asarray(y)
    p = np.asarray(p, dtype=np.float64)
    neg = np.sort(p[y == 0])
    if len(neg) == 0:
        return 0.5
    k = int(np.floor(max_fpr * len(neg) + 1e-9))
    # scores strictly above the (n-k)-th highest personal score are positives
    cut = neg[len(neg) - k - 1] if k < len(neg) else 0.0
    # never below MIN_THRESHOLD (that would call nearly everything promotion)
    return float(min(max(cut + 1e-6, MIN_THRESHOLD), 0.9999))


def choose_thresholds(y: np.ndarray | Sequence[int], probs: np.ndarray, max_fpr: float = 0.005,
                      max_fpr_transactional: float = 0.02,
                      recognised: np.ndarray | Sequence[bool] | None = None,
                      guarded: np.ndarray | Sequence[bool] | None = None,
                      strong: float = STRONG_THRESHOLD) -> tuple[float, float]:
    """(promo threshold, transactional threshold) from out-of-fold probabilities ``probs`` (n, 3).

    Promo: the lowest threshold with at most ``max_fpr`` of the personal and at most
    ``max_fpr_transactional`` of the transactional mail at or above it. The transactional bound
    needs at least ``1 / max_fpr_transactional`` transactional examples (with fewer, that share
    cannot be estimated and one odd message would set the threshold); below that the promo
    threshold comes from the personal mail alone. ``recognised``: transactional mail the rules'
    structural/subject check already calls transactional (:func:`mailguard.core.categories.transactional_reason`)
    is never flagged promotional whatever its score, so it does not count against the bound.
    ``guarded``: posts to discussion lists and mail without bulk signals, which the rules call
    promotional only from ``strong`` (:func:`mailguard.core.rules.guarded`); they count as flagged only
    from there.
    Transactional (on the share
    P(transactional) / (P(transactional) + P(personal))): the lowest with at most ``max_fpr`` of the
    personal mail below the promo threshold at or above it, and never below 0.5 (a message is not
    called transactional when the model finds personal likelier).
    """
    y = np.asarray(y)
    p = np.asarray(probs, dtype=np.float64)
    promo = p[:, classify.PROMOTIONAL]
    if guarded is not None:  # below ``strong`` these are never promotional: as if scored 0
        promo = np.where(np.asarray(guarded, dtype=bool) & (promo < strong), 0.0, promo)
    t_promo = choose_threshold((y != classify.PERSONAL).astype(int), promo, max_fpr)
    tx = y == classify.TRANSACTIONAL
    n_tx = int(tx.sum())
    if n_tx and max_fpr_transactional > 0 and n_tx * max_fpr_transactional >= 1.0:
        flaggable = promo if recognised is None else np.where(np.asarray(recognised, dtype=bool), 0.0, promo)
        t_promo = max(t_promo, choose_threshold((~tx).astype(int), flaggable, max_fpr_transactional))
    # never below PROMO_FLOOR: promotional only when promotion is more likely than not
    t_promo = max(t_promo, PROMO_FLOOR)
    if not (y == classify.TRANSACTIONAL).any():
        return t_promo, 1.0
    share = _transactional_share(p)
    kept = promo < t_promo
    t_tx = choose_threshold((y[kept] != classify.PERSONAL).astype(int), share[kept], max_fpr)
    return t_promo, float(min(max(t_tx, 0.5), 1.0))


def _transactional_share(p: np.ndarray) -> np.ndarray:
    rest = p[:, classify.TRANSACTIONAL] + p[:, classify.PERSONAL]
    return np.divide(p[:, classify.TRANSACTIONAL], rest, out=np.zeros(len(p)), where=rest > 0)


def roc_auc(pos: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve of scores ``p`` for the positives ``pos`` (both classes present),
    computed as scikit-learn's ``roc_auc_score`` does (its curve's corners, the trapezoidal rule):
    the same number without importing it."""
    order = np.argsort(-p, kind="stable")
    score, truth = p[order], pos[order].astype(np.float64)
    ends = np.r_[np.flatnonzero(np.diff(score)), len(score) - 1]
    tps = np.cumsum(truth)[ends]
    fps = 1 + ends.astype(np.float64) - tps
    if len(fps) > 2:  # drop the points between collinear ones (roc_curve's drop_intermediate)
        keep = np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True]
        fps, tps = fps[keep], tps[keep]
    fpr = np.r_[0.0, fps] / fps[-1]
    tpr = np.r_[0.0, tps] / tps[-1]
    return float(np.sum((fpr[1:] - fpr[:-1]) * (tpr[1:] + tpr[:-1]) / 2.0))


def metrics(y: Sequence[int] | np.ndarray, p: Sequence[float] | np.ndarray,
            threshold: float) -> dict[str, float]:
    """Promotional against the rest: precision, recall, F1, ROC AUC, the false-positive rate at
    ``threshold`` (all non-promotional mail, and personal and transactional mail apart), the counts,
    and ``fpr_at_90_recall``: the share of non-promotional mail above the threshold that catches 90%
    of the promotional. ``y``: 1 promotional; 0 personal, 2 transactional."""
    y = np.asarray(y)
    p = np.asarray(p, dtype=np.float64)
    pos = y == classify.PROMOTIONAL
    pred = p >= threshold
    neg = ~pos
    tp, n_pred, n_true = int((pos & pred).sum()), int(pred.sum()), int(pos.sum())
    out = {
        "auc": roc_auc(pos, p) if pos.any() and neg.any() else float("nan"),
        # as scikit-learn computes them (zero_division=0), to the last bit
        "precision": tp / n_pred if n_pred else 0.0,
        "recall": tp / n_true if n_true else 0.0,
        "f1": 2.0 * tp / (1.0 * n_true + n_pred) if n_true + n_pred else 0.0,
        "false_positive_rate": float(pred[neg].mean()) if neg.any() else 0.0,
        "threshold": float(threshold),
        "n_promo": int(pos.sum()),
        "n_personal": int((y == classify.PERSONAL).sum()),
    }
    tx = y == classify.TRANSACTIONAL
    if tx.any():
        out["n_transactional"] = int(tx.sum())
        out["false_promo_personal"] = float(pred[y == classify.PERSONAL].mean()) if out["n_personal"] else 0.0
        out["false_promo_transactional"] = float(pred[tx].mean())
    pos_scores = np.sort(p[pos])
    if len(pos_scores) and neg.any():
        t90 = pos_scores[int(np.floor(0.10 * len(pos_scores)))]
        out["fpr_at_90_recall"] = float((p[neg] >= t90).mean())
    return out


def category_report(y: Sequence[int] | np.ndarray, probs: np.ndarray,
                    model: classify.PromoModel) -> dict[str, Any]:
    """How the model's categories (at its thresholds) compare with the labels: a confusion matrix
    (true category -> predicted category -> count) and the share of each true category predicted
    right."""
    y = np.asarray(y)
    pred = [model.category(p) for p in np.asarray(probs)]
    confusion = {t: {c: 0 for c in classify.CLASSES} for t in classify.CLASSES}
    for yi, pi in zip(y, pred):
        confusion[classify.CLASSES[int(yi)]][pi] += 1
    recall = {t: (row[t] / sum(row.values()) if sum(row.values()) else float("nan"))
              for t, row in confusion.items()}
    return {"confusion": confusion, "recall": recall}


def threshold_table(y: np.ndarray | Sequence[int], p: np.ndarray | Sequence[float],
                    thresholds: Sequence[float] = TABLE_THRESHOLDS) -> list[dict[str, float]]:
    """Precision, recall, F1 and false-positive rate at each threshold (for picking one)."""
    keep = ("threshold", "precision", "recall", "f1", "false_positive_rate")
    return [{k: v for k, v in metrics(y, p, t).items() if k in keep} for t in thresholds]


# -- training ------------------------------------------------------------------------------


@dataclass
class TrainResult:
    """A trained model (thresholds set) and its cross-validated evaluation."""

    model: classify.PromoModel
    #: out-of-fold probabilities (n, 3)
    oof: np.ndarray
    labels: np.ndarray
    cv_metrics: dict[str, Any]
    table: list[dict[str, float]] = field(default_factory=list)

    @property
    def oof_scores(self) -> np.ndarray:
        return self.oof[:, classify.PROMOTIONAL]


def train_model(feats: Sequence[Features], labels: Sequence[int] | np.ndarray, *,
                max_fpr: float = 0.01, max_fpr_transactional: float = 0.02,
                folds: int = classify.FOLDS, header_tokens: bool = False,
                groups: Sequence[Any] | None = None, neutral: Sequence[str] = (),
                exclude: Sequence[str] = (), guard: bool = True,
                progress: Callable[[int, int], None] | None = None) -> TrainResult:
    """Fit on everything; the thresholds and the reported metrics come from out-of-fold
    probabilities (see :func:`choose_thresholds`). ``guard``: choose them for the rules as they
    decide (mail the structural check calls transactional is never promotional; discussion posts
    and mail without bulk signals only from the strong threshold); else for the model alone."""
    for name, v in (("max_fpr", max_fpr), ("max_fpr_transactional", max_fpr_transactional)):
        if not 0.0 <= v < 1.0:
            raise ConfigError(f"{name} must be in [0, 1), not {v}")
    y = np.asarray(labels, dtype=np.int8)
    fitted = classify.fit(feats, y, folds=folds, header_tokens=header_tokens, groups=groups,
                          neutral=neutral, exclude=exclude, progress=progress)
    recognised = np.array([guard and f.transactional_reason is not None for f in feats], dtype=bool)
    guarded = np.array([guard and (f.discussion_list or not f.is_bulk) for f in feats], dtype=bool)
    t_promo, t_tx = choose_thresholds(y, fitted.oof, max_fpr, max_fpr_transactional, recognised, guarded)
    fitted.model.threshold = t_promo
    fitted.model.transactional_threshold = t_tx
    cv: dict[str, Any] = metrics(y, fitted.oof_scores, t_promo)
    cv["folds"] = folds
    cv["transactional_threshold"] = t_tx
    decided = (fitted.oof_scores >= t_promo) & ~recognised & (~guarded | (fitted.oof_scores >= STRONG_THRESHOLD))
    cv["false_promo_personal_decided"] = float(decided[y == classify.PERSONAL].mean()) \
        if (y == classify.PERSONAL).any() else 0.0
    if (y == classify.TRANSACTIONAL).any():  # as the rules decide (see choose_thresholds)
        cv["false_promo_transactional_decided"] = float(decided[y == classify.TRANSACTIONAL].mean())
    if (y == classify.TRANSACTIONAL).any():
        cv["categories"] = category_report(y, fitted.oof, fitted.model)
    return TrainResult(fitted.model, fitted.oof, y, cv, threshold_table(y, fitted.oof_scores))


def evaluate(model: classify.PromoModel, feats: Sequence[Features], labels: Sequence[int] | np.ndarray,
             threshold: float | None = None) -> tuple[dict[str, Any], list[dict[str, float]]]:
    """Metrics of ``model`` on labelled mail at its threshold (or ``threshold``), and the table."""
    return evaluate_probs(model, model.predict(feats), labels, threshold)


def evaluate_probs(model: classify.PromoModel, probs: np.ndarray, labels: Sequence[int] | np.ndarray,
                   threshold: float | None = None) -> tuple[dict[str, Any], list[dict[str, float]]]:
    """:func:`evaluate` from the model's probabilities (n, 3) of the messages."""
    y = np.asarray(labels)
    p = probs[:, classify.PROMOTIONAL]
    t = model.threshold if threshold is None else threshold
    m: dict[str, Any] = metrics(y, p, t)
    if (y == classify.TRANSACTIONAL).any():
        m["categories"] = category_report(y, probs, model)
    return m, threshold_table(y, p)


def split_by_date(examples: Sequence[Example], quantile: float = 0.5
                  ) -> tuple[list[Example], list[Example]]:
    """Older / newer halves by Date (undated messages are left out)."""
    dated = [e for e in examples if e.date > 0]
    if not dated:
        return [], []
    cut = float(np.quantile([e.date for e in dated], quantile))
    return [e for e in dated if e.date < cut], [e for e in dated if e.date >= cut]
