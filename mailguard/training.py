"""Labelled mail -> features, a model with a threshold chosen on out-of-fold scores, and metrics.

Used by `mailguard train` / `mailguard evaluate` (:mod:`mailguard.cli_train`),
``scripts/train_default_model.py`` and ``bench/bench_model.py``.

The threshold is the lowest score at which at most ``max_fpr`` of the *out-of-fold* personal scores
lie above it: each training message is scored by a model that did not see it
(:func:`mailguard.classify.fit`). Scores of messages a model was trained on are too confident to
choose anything from.

Parsing is the slow part of training and scoring, so :func:`load_examples` and :class:`RawScorer`
spread it over a process pool (``workers``, default: every core).
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

from . import classify
from .errors import ConfigError, SourceError
from .features import Features, extract
from .identity import registrable_domain
from .parse import parse_message
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


@dataclass(frozen=True)
class Example:
    """One labelled message: its features, 1 promo / 0 personal, its Date and where it came from."""

    feats: Features
    label: int
    date: float  # POSIX seconds, 0 when unknown
    origin: str


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


# -- reading sources -----------------------------------------------------------------------


def _open_imap(folder: str, config: Any) -> tuple[int, Iterator[tuple[str, bytes]]]:
    try:
        from .imap_session import open_account
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
    is listed once and closed when the iterator is done."""
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
                    raw = src.read(it)
                except (OSError, KeyError) as exc:
                    log.warning("cannot read %s: %s", it.ref, exc)
                    continue
                yield f"{spec}:{it.ref}", raw

    return len(items), messages()


def iter_source(spec: str | Path, config: Any = None) -> Iterator[tuple[str, bytes]]:
    """(ref, raw bytes) of every message of a source (see :func:`open_messages`)."""
    yield from open_messages(spec, config)[1]


# -- parallel analysis ---------------------------------------------------------------------


def _analyse_chunk(raws: list[bytes]) -> list[tuple[Features | None, float]]:
    out: list[tuple[Features | None, float]] = []
    for raw in raws:
        msg, feats = analyse_one(raw)
        out.append((feats, msg.date.timestamp() if msg.date else 0.0))
    return out


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for x in items:
        chunk.append(x)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _bounded_map(fn: Callable[[Any], Any], chunks: Iterable[Any], workers: int,
                 initializer: Callable[..., None] | None = None, initargs: tuple = ()) -> Iterator[Any]:
    """fn over chunks in a process pool, results in order, at most 2 chunks per worker in flight
    (memory stays flat on a large mailbox)."""
    with ProcessPoolExecutor(workers, initializer=initializer, initargs=initargs) as pool:
        pending: deque[Future] = deque()
        for chunk in chunks:
            pending.append(pool.submit(fn, chunk))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def analyse_raws(raws: Iterable[bytes], *, workers: int | None = None, total: int | None = None,
                 progress: Callable[[int], None] | None = None) -> Iterator[tuple[Features | None, float]]:
    """(features or None, date) of each message, in order; parsed in ``workers`` processes (the
    shared pool of :mod:`mailguard.parallel`)."""
    from .parallel import _features_chunk, map_chunks

    for res in map_chunks(_features_chunk, raws, None, workers, total=total):
        yield from res
        if progress:
            progress(len(res))


def score_sources(paths: Iterable[Path | str], model: classify.PromoModel, *,
                  workers: int | None = None, config: Any = None,
                  progress: Callable[[int], None] | None = None,
                  on_total: Callable[[int], None] | None = None) -> tuple[list[float], int]:
    """The score of every readable message of ``paths`` (as :func:`load_examples` reads them),
    parsed, extracted and scored in ``workers`` processes; returns (scores, n_unreadable)."""
    from .parallel import _scores_chunk, map_chunks

    scores: list[float] = []
    bad = 0
    for p in paths:
        total, messages = open_messages(p, config)
        if on_total:
            on_total(total)
        for res in map_chunks(_scores_chunk, (raw for _, raw in messages), model, workers,
                              total=total):
            for s in res:
                if s is None:
                    bad += 1
                else:
                    scores.append(s)
            if progress:
                progress(len(res))
    return scores, bad


def evaluate_scores(p: Sequence[float] | np.ndarray, labels: Sequence[int] | np.ndarray,
                    threshold: float) -> tuple[dict[str, float], list[dict[str, float]]]:
    """Metrics at ``threshold`` and the threshold table, from scores already computed."""
    y = np.asarray(labels)
    return metrics(y, p, threshold), threshold_table(y, p)


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


def review_examples(store: Any) -> tuple[list[Example], int]:
    """Labels from review (allow = personal, block = promo), read back from their sources.
    Returns ([], 0) when the review module is not there."""
    try:
        from .review import labelled_examples, read_examples
    except ImportError:
        return [], 0
    out: list[Example] = []
    bad = 0
    for ex, raw in read_examples(labelled_examples(store)):
        msg, feats = analyse_one(raw)
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
            f = extract(msg)
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
    """The lowest threshold whose false-positive rate on personal mail is <= max_fpr.

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


def metrics(y: Sequence[int] | np.ndarray, p: Sequence[float] | np.ndarray,
            threshold: float) -> dict[str, float]:
    """Precision, recall, F1, ROC AUC, false-positive rate at ``threshold``, the counts, and
    ``fpr_at_90_recall``: the share of personal mail above the threshold that catches 90% of promo."""
    y = np.asarray(y)
    p = np.asarray(p, dtype=np.float64)
    pred = (p >= threshold).astype(int)
    neg = y == 0
    out = {
        "auc": float(roc_auc_score(y, p)) if len(set(y.tolist())) == 2 else float("nan"),
        "precision": float(precision_score(y, pred, zero_division=0)),
        "recall": float(recall_score(y, pred, zero_division=0)),
        "f1": float(f1_score(y, pred, zero_division=0)),
        "false_positive_rate": float(pred[neg].mean()) if neg.any() else 0.0,
        "threshold": float(threshold),
        "n_promo": int((y == 1).sum()),
        "n_personal": int(neg.sum()),
    }
    pos = np.sort(p[y == 1])
    if len(pos) and neg.any():
        t90 = pos[int(np.floor(0.10 * len(pos)))]
        out["fpr_at_90_recall"] = float((p[neg] >= t90).mean())
    return out


def threshold_table(y: np.ndarray | Sequence[int], p: np.ndarray | Sequence[float],
                    thresholds: Sequence[float] = TABLE_THRESHOLDS) -> list[dict[str, float]]:
    """Precision, recall, F1 and false-positive rate at each threshold (for picking one)."""
    keep = ("threshold", "precision", "recall", "f1", "false_positive_rate")
    return [{k: v for k, v in metrics(y, p, t).items() if k in keep} for t in thresholds]


# -- training ------------------------------------------------------------------------------


@dataclass
class TrainResult:
    """A trained model (threshold set) and its cross-validated evaluation."""

    model: classify.PromoModel
    oof_scores: np.ndarray
    labels: np.ndarray
    cv_metrics: dict[str, float]
    table: list[dict[str, float]] = field(default_factory=list)


def train_model(feats: Sequence[Features], labels: Sequence[int] | np.ndarray, *,
                max_fpr: float = 0.01, folds: int = classify.FOLDS,
                progress: Callable[[int, int], None] | None = None) -> TrainResult:
    """Fit on everything; the threshold and the reported metrics come from out-of-fold scores."""
    if not 0.0 <= max_fpr < 1.0:
        raise ConfigError(f"max_fpr must be in [0, 1), not {max_fpr}")
    y = np.asarray(labels, dtype=np.int8)
    fitted = classify.fit(feats, y, folds=folds, progress=progress)
    threshold = choose_threshold(y, fitted.oof_scores, max_fpr)
    fitted.model.threshold = threshold
    cv = metrics(y, fitted.oof_scores, threshold)
    cv["folds"] = folds
    return TrainResult(fitted.model, fitted.oof_scores, y, cv, threshold_table(y, fitted.oof_scores))


def evaluate(model: classify.PromoModel, feats: Sequence[Features], labels: Sequence[int] | np.ndarray,
             threshold: float | None = None) -> tuple[dict[str, float], list[dict[str, float]]]:
    """Metrics of ``model`` on labelled mail at its threshold (or ``threshold``), and the table."""
    y = np.asarray(labels)
    p = model.score_many(feats)
    t = model.threshold if threshold is None else threshold
    return metrics(y, p, t), threshold_table(y, p)


def split_by_date(examples: Sequence[Example], quantile: float = 0.5
                  ) -> tuple[list[Example], list[Example]]:
    """Older / newer halves by Date (undated messages are left out)."""
    dated = [e for e in examples if e.date > 0]
    if not dated:
        return [], []
    cut = float(np.quantile([e.date for e in dated], quantile))
    return [e for e in dated if e.date < cut], [e for e in dated if e.date >= cut]
