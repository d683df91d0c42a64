"""The promo model: train and score (pure: a model file is read and written at the edge, in
:mod:`mailguard.models_io`, and the model passed in).

A logistic regression over hashed words (tf-idf) plus the structural features of
:mod:`mailguard.core.features`, with probabilities calibrated on out-of-fold scores (Platt scaling).
Hashing keeps the model small and needs no vocabulary pass; scoring is a sparse dot product, so
the model scores thousands of messages a second. The fitted model is plain numpy arrays
(:func:`to_arrays`, and back with every value checked: :func:`from_arrays`).

:func:`fit` returns the model *and* the out-of-fold probability of every training message: the
cross-validated scores that :mod:`mailguard.training` picks the threshold from and reports metrics
on. Scores of messages a model was trained on are optimistic and are never used for either.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ModelError
from . import vectorize
from .features import NUMERIC_NAMES, Features

if TYPE_CHECKING:  # training only: scoring needs numpy alone (mailguard.core.vectorize), not their imports
    import scipy.sparse as sp
    from sklearn.linear_model import LogisticRegression

log = logging.getLogger(__name__)

#: Bump when features.extract, the word tokens or the model's outputs change: older models are then
#: refused. 3: three categories (personal, promotional, transactional), header tokens.
FEATURE_VERSION = 3
#: ``kind`` of the promo model in its file's header.
MODEL_KIND = "promo"

#: Hash buckets for words (2**18: few collisions at mailbox vocabulary sizes, 1 MB of weights).
HASH_BITS = 18
#: Inverse regularisation strength of the logistic regressions (chosen on cross-validated AUC and F1
#: of the default model's training part, among 1, 4 and 10).
C_DEFAULT = 10.0
#: Weight of the standardised structural block against the L2-normalised word block.
NUMERIC_WEIGHT = 0.3
#: Weight of the L2-normalised header-token block (models of one mailbox only).
HEADER_WEIGHT = 1.0
#: Folds of the cross-validation that calibrates and yields the out-of-fold scores.
FOLDS = 5
#: Fewest examples of each class :func:`fit` accepts.
MIN_PER_CLASS = 10

# Word tokens: lower-cased runs of letters (ASCII, or any non-ASCII UTF-8 bytes) and "_", 2 to 24
# bytes. Done with bytes.translate and bytes.split, which run at C speed.
_TOKEN_TABLE = bytes(
    (c + 32 if 65 <= c <= 90 else c) if (65 <= c <= 90 or 97 <= c <= 122 or c == 95 or c >= 128) else 32
    for c in range(256)
)
# Tokens are hashed into 2**HASH_BITS buckets as scikit-learn's FeatureHasher(alternate_sign=False)
# does it, by mailguard.core.vectorize (numpy alone: scoring does not import scikit-learn or scipy).


MIN_TOKEN, MAX_TOKEN = 2, 24


def tokens(text: str) -> list[bytes]:
    """The word tokens the model hashes (see the comment above)."""
    raw = text.lower().encode("utf-8", "surrogatepass").translate(_TOKEN_TABLE).split()
    return [w for w in raw if MIN_TOKEN <= len(w) <= MAX_TOKEN]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40.0, 40.0)))


def _word_rows(feats: Sequence[Features]) -> vectorize.Rows:
    # tokens() of each text: the translated texts have no whitespace but spaces; hash_texts splits
    # them and keeps the lengths in numpy
    return vectorize.hash_texts([f.text.lower().encode("utf-8", "surrogatepass").translate(_TOKEN_TABLE)
                                 for f in feats], 2**HASH_BITS, MIN_TOKEN, MAX_TOKEN)


def _csr(rows: vectorize.Rows) -> sp.csr_matrix:
    """The scipy matrix of hashed rows (what FeatureHasher.transform gave), for training."""
    import scipy.sparse as sp

    return sp.csr_matrix((rows.data, rows.indices, rows.indptr.astype(np.int32)),
                         shape=(len(rows), 2**HASH_BITS))


def _counts(feats: Sequence[Features]) -> sp.csr_matrix:
    return _csr(_word_rows(feats))


def _numeric(feats: Sequence[Features]) -> np.ndarray:
    return np.asarray([f.numeric for f in feats], dtype=np.float64).reshape(len(feats), len(NUMERIC_NAMES))


def _tfidf(counts: sp.csr_matrix, idf: np.ndarray) -> sp.csr_matrix:
    """Sublinear tf times idf, rows L2-normalised (as sklearn's TfidfTransformer(sublinear_tf=True))."""
    from sklearn.preprocessing import normalize

    x = counts.astype(np.float32, copy=True)
    np.log(x.data, out=x.data)
    x.data += 1.0
    x.data *= idf[x.indices]
    return normalize(x, norm="l2", copy=False)


def _idf(counts: sp.csr_matrix) -> np.ndarray:
    n = counts.shape[0]
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    return (np.log((1.0 + n) / (1.0 + df)) + 1.0).astype(np.float32)


#: The categories, in the order of the model's outputs; a label is an index into this tuple.
CLASSES: tuple[str, ...] = ("personal", "promotional", "transactional")
PERSONAL, PROMOTIONAL, TRANSACTIONAL = 0, 1, 2
N_CLASSES = len(CLASSES)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _header_rows(feats: Sequence[Features]) -> vectorize.Rows:
    # whole strings ("rcvd:mail.example.org"), hashed into a block of their own
    return vectorize.hash_rows([[t.encode("utf-8") for t in f.header_tokens] for f in feats],
                               2**HASH_BITS)


def _header_counts(feats: Sequence[Features]) -> sp.csr_matrix:
    return _csr(_header_rows(feats))


def unknown(feat: Features) -> bool:
    """Content the model cannot judge: not understood (undecodable, random bytes, nearly no text)
    and without bulk structure. Such a message gets no confident score: the class prior."""
    return not feat.understood and not feat.is_bulk


@dataclass
class PromoModel:
    """Everything needed to score: per class (columns, in the order of ``classes``) the word weights,
    the structural block's scaling and weights, the header-token weights (models trained on one
    mailbox only), the intercepts, the calibration, and the thresholds. Plain numpy arrays and
    JSON-able scalars."""

    idf: np.ndarray                 # (2**HASH_BITS,) float32
    word_coef: np.ndarray           # (2**HASH_BITS, k) float32
    num_mean: np.ndarray            # (n_numeric,)
    num_scale: np.ndarray           # (n_numeric,)
    num_coef: np.ndarray            # (n_numeric, k)
    intercept: np.ndarray           # (k,)
    #: the categories the columns stand for (indices into CLASSES); a class without training mail
    #: has no column and probability 0
    classes: np.ndarray = field(default_factory=lambda: np.arange(N_CLASSES))
    #: calibration (matrix scaling, fitted on out-of-fold margins):
    #: probabilities = softmax(margins @ cal_coef.T + cal_intercept)
    cal_coef: np.ndarray = field(default_factory=lambda: np.eye(N_CLASSES))
    cal_intercept: np.ndarray = field(default_factory=lambda: np.zeros(N_CLASSES))
    #: the share of each category in the training mail: the probabilities of mail it cannot judge
    prior: np.ndarray = field(default_factory=lambda: np.full(N_CLASSES, 1.0 / N_CLASSES))
    #: header tokens (empty arrays when the model does not use them)
    header_idf: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    header_coef: np.ndarray = field(default_factory=lambda: np.zeros((0, N_CLASSES), dtype=np.float32))
    #: promotional probability from which a message is promotional
    threshold: float = 0.5
    #: share of transactional in P(transactional) + P(personal) from which a message that is not
    #: promotional is transactional
    transactional_threshold: float = 0.5
    feature_version: int = FEATURE_VERSION
    numeric_names: tuple[str, ...] = NUMERIC_NAMES
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def uses_header_tokens(self) -> bool:
        return self.header_idf.size > 0

    def margins(self, feats: Sequence[Features]) -> np.ndarray:
        """The uncalibrated decision values, one column per fitted class."""
        words = vectorize.tfidf(_word_rows(feats), self.idf)
        nums = (_numeric(feats) - self.num_mean) / self.num_scale
        m = vectorize.dot(words, self.word_coef) + nums @ self.num_coef + self.intercept
        if self.uses_header_tokens:
            m += vectorize.dot(vectorize.tfidf(_header_rows(feats), self.header_idf), self.header_coef)
        return m

    def predict(self, feats: Sequence[Features]) -> np.ndarray:
        """Calibrated probabilities, shape (n, 3): personal, promotional, transactional (CLASSES).
        Mail the model cannot judge (:func:`unknown`) gets the prior."""
        out = np.zeros((len(feats), N_CLASSES))
        if not len(feats):
            return out
        z = self.margins(feats) @ self.cal_coef.T + self.cal_intercept
        out[:, self.classes] = _softmax(z)
        lost = [i for i, f in enumerate(feats) if unknown(f)]
        if lost:
            out[lost] = self.prior
        return out

    def score_many(self, feats: Sequence[Features]) -> np.ndarray:
        """Calibrated probability that each message is promotional."""
        return self.predict(feats)[:, PROMOTIONAL]

    def score(self, feat: Features) -> float:
        return float(self.score_many([feat])[0])

    def category(self, probs: np.ndarray | Sequence[float]) -> str:
        """The category of one message's probabilities: promotional from ``threshold``; otherwise
        transactional when P(transactional) is at least P(promotional) and its share of
        P(transactional) + P(personal) reaches ``transactional_threshold``; else personal."""
        p = np.asarray(probs, dtype=np.float64)
        if p[PROMOTIONAL] >= self.threshold:
            return CLASSES[PROMOTIONAL]
        rest = p[TRANSACTIONAL] + p[PERSONAL]
        if (rest > 0 and p[TRANSACTIONAL] >= p[PROMOTIONAL]
                and p[TRANSACTIONAL] / rest >= self.transactional_threshold):
            return CLASSES[TRANSACTIONAL]
        return CLASSES[PERSONAL]

    def strongest_signals(self, feat: Features, n: int = 3) -> list[tuple[str, float]]:
        """The structural features that pushed this message's promotional margin most (name,
        contribution)."""
        col = int(np.flatnonzero(self.classes == PROMOTIONAL)[0])
        z = (np.asarray(feat.numeric, dtype=np.float64) - self.num_mean) / self.num_scale
        contrib = z * self.num_coef[:, col]
        order = np.argsort(-np.abs(contrib))[:n]
        return [(self.numeric_names[i], float(contrib[i])) for i in order]


@dataclass(frozen=True)
class Fitted:
    """A model and the calibrated out-of-fold probabilities of its training examples, shape (n, 3)."""

    model: PromoModel
    oof: np.ndarray

    @property
    def oof_scores(self) -> np.ndarray:
        """Out-of-fold promotional probability of each training example."""
        return self.oof[:, PROMOTIONAL]


#: Structural signals whose meaning the default model's training mail confounds with its era: bulk
#: platforms, Feedback-ID, tracking pixels and One-Click unsubscribe are on much of its modern
#: transactional mail and on almost none of its 2002-2003 promotion, so a model learns "platform, hence
#: transactional, not promotional" and misses today's newsletters. ``fit(..., neutral=ERA_CONFOUNDED)``
#: lets only the personal-against-the-rest part of the model use them (and the ``__esp__`` word token):
#: they say "machine-sent, not a person", never which kind of machine mail. A model of one mailbox,
#: where they mean what they say, uses them everywhere. The rules use them as bulk signals either way.
ERA_CONFOUNDED: tuple[str, ...] = ("esp", "feedback_id", "tracking_pixel", "one_click_unsubscribe")
_ESP_TOKEN_BUCKET = int(vectorize.buckets([b"__esp__"], 2**HASH_BITS)[0])


class _Block:
    """The design matrix of one set of messages, built once and sliced for each fold."""

    def __init__(self, feats: Sequence[Features], header_tokens: bool) -> None:
        self.counts = _counts(feats)
        self.nums = _numeric(feats)
        self.headers = _header_counts(feats) if header_tokens else None

    def fit_transforms(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        idf = _idf(self.counts[rows])
        mean = self.nums[rows].mean(axis=0)
        scale = self.nums[rows].std(axis=0)
        scale[scale == 0.0] = 1.0
        hidf = _idf(self.headers[rows]) if self.headers is not None else np.zeros(0, dtype=np.float32)
        return idf, mean, scale, hidf

    def matrix(self, rows: np.ndarray, idf: np.ndarray, mean: np.ndarray, scale: np.ndarray,
               hidf: np.ndarray) -> sp.csr_matrix:
        import scipy.sparse as sp

        words = _tfidf(self.counts[rows], idf)
        nums = (self.nums[rows] - mean) / scale * NUMERIC_WEIGHT
        blocks = [words, sp.csr_matrix(nums)]
        if self.headers is not None:
            blocks.append(_tfidf(self.headers[rows], hidf) * HEADER_WEIGHT)
        return sp.hstack(blocks, format="csr")


def _fit_linear(x: sp.csr_matrix, y: np.ndarray, C: float) -> LogisticRegression:
    # the dual problem: far fewer messages than hashed features, so it solves several times faster
    # (same solution)
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=C, class_weight="balanced", max_iter=5000, solver="liblinear", dual=True)
    return clf.fit(x, y)


def _columns(names: Sequence[str]) -> np.ndarray:
    """Columns of the design matrix (words, then structure) of structural features (and, for
    "esp", the ``__esp__`` word token)."""
    bad = set(names) - set(NUMERIC_NAMES)
    if bad:
        raise ModelError(f"no such structural features: {sorted(bad)}")
    cols = [2**HASH_BITS + NUMERIC_NAMES.index(n) for n in names]
    if "esp" in names:
        cols.append(_ESP_TOKEN_BUCKET)
    return np.array(sorted(cols), dtype=np.int64)


def _without(x: sp.csr_matrix, cols: np.ndarray) -> sp.csr_matrix:
    import scipy.sparse as sp

    keep = np.ones(x.shape[1])
    keep[cols] = 0.0
    out = (x @ sp.diags(keep)).tocsr()
    out.eliminate_zeros()
    return out


class _OneVsRest:
    """One balanced binary logistic regression per class (liblinear), as one weight matrix.
    ``neutral`` columns are zeroed for every class but personal (see ERA_CONFOUNDED)."""

    def __init__(self, x: sp.csr_matrix, y: np.ndarray, classes: np.ndarray, C: float,
                 neutral: np.ndarray | None = None) -> None:
        masked = _without(x, neutral) if neutral is not None and len(neutral) else x
        fits = [_fit_linear(x if c == PERSONAL else masked, (y == c).astype(np.int8), C) for c in classes]
        self.coef = np.stack([f.coef_[0] for f in fits], axis=1)          # (d, k)
        self.intercept = np.array([f.intercept_[0] for f in fits])        # (k,)

    def decision(self, x: sp.csr_matrix) -> np.ndarray:
        return np.asarray(x @ self.coef) + self.intercept


def _calibrate(margins: np.ndarray, y_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Matrix scaling: a multinomial logistic regression from the k out-of-fold margins to the k
    classes (Platt scaling for k classes). Returns (coef (k, k), intercept (k,))."""
    from sklearn.linear_model import LogisticRegression

    k = margins.shape[1]
    cal = LogisticRegression(C=1e4, max_iter=5000).fit(margins, y_idx)
    if k == 2:  # sklearn gives one row for two classes: logits (0, w.m + b)
        coef = np.vstack([np.zeros(k), cal.coef_[0]])
        intercept = np.array([0.0, float(cal.intercept_[0])])
        return coef, intercept
    return cal.coef_.copy(), cal.intercept_.copy()


def check_counts(labels: Sequence[int] | np.ndarray) -> dict[str, int]:
    """How many examples of each category; ModelError with one clear line when personal or
    promotional has too few, or transactional has some but too few. (Transactional may be absent:
    the model then knows two categories.)"""
    y = np.asarray(labels)
    counts = {name: int((y == i).sum()) for i, name in enumerate(CLASSES)}
    bad = set(np.unique(y).tolist()) - set(range(N_CLASSES))
    if bad:
        raise ModelError(f"labels must be 0 (personal), 1 (promotional) or 2 (transactional), not {sorted(bad)}")
    short = [n for n in ("promotional", "personal") if counts[n] < MIN_PER_CLASS]
    if 0 < counts["transactional"] < MIN_PER_CLASS:
        short.append("transactional")
    if short:
        have = ", ".join(f"{counts[n]} {n}" for n in CLASSES)
        raise ModelError(
            f"too few examples to train: {have}; need at least {MIN_PER_CLASS} promotional and "
            f"{MIN_PER_CLASS} personal (and transactional: none, or at least {MIN_PER_CLASS})"
        )
    return counts


def fit(feats: Sequence[Features], labels: Sequence[int] | np.ndarray, *, C: float | None = None,
        folds: int = FOLDS, seed: int = 0, header_tokens: bool = False,
        groups: Sequence[Any] | None = None, neutral: Sequence[str] = (), exclude: Sequence[str] = (),
        progress: Callable[[int, int], None] | None = None) -> Fitted:
    """Train on all examples; calibrate on, and return, ``folds``-fold out-of-fold probabilities.

    Labels are indices into :data:`CLASSES`: 0 personal, 1 promotional, 2 transactional (which may
    be absent). ``header_tokens``: also learn the header tokens of the features (extracted with
    ``with_header_tokens=True``): for a model of one mailbox. ``groups``: the calibration still comes
    from stratified folds, but the out-of-fold probabilities returned (which thresholds are chosen
    from) come from a second cross-validation in which a group (e.g. one sender organisation) stays
    in one fold: the scores of senders a model has not seen.
    ``neutral``: structural features (names of ``NUMERIC_NAMES``, e.g. :data:`ERA_CONFOUNDED`) that
    only the personal-against-the-rest part may use; their promotional and transactional weights are 0.
    ``exclude``: structural features no part uses.
    Raises ModelError on too little data. ``progress(done, total)`` is called after each fit
    (``folds + 1``, or ``2 * folds + 1`` with ``groups``).
    """
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    C = C_DEFAULT if C is None else C
    y = np.asarray(labels, dtype=np.int8)
    if len(y) != len(feats):
        raise ModelError(f"{len(feats)} messages but {len(y)} labels")
    counts = check_counts(y)
    classes = np.array([i for i in range(N_CLASSES) if counts[CLASSES[i]] > 0])
    folds = max(2, min(folds, *(counts[CLASSES[i]] for i in classes)))
    y_idx = np.searchsorted(classes, y)
    block = _Block(feats, header_tokens)
    if exclude:
        block.nums[:, [NUMERIC_NAMES.index(n) for n in exclude if n in NUMERIC_NAMES]] = 0.0
        _columns(exclude)  # unknown names: ModelError
    neutral_cols = _columns(neutral) if neutral else None
    total = (2 if groups is not None else 1) * folds + 1
    done = [0]

    def out_of_fold(splits: Any) -> np.ndarray:
        margins = np.zeros((len(y), len(classes)))
        for tr, te in splits:
            transforms = block.fit_transforms(tr)
            clf = _OneVsRest(block.matrix(tr, *transforms), y[tr], classes, C, neutral_cols)
            margins[te] = clf.decision(block.matrix(te, *transforms))
            done[0] += 1
            if progress:
                progress(done[0], total)
        return margins

    margins = out_of_fold(StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))
    cal_coef, cal_intercept = _calibrate(margins, y_idx)
    if groups is not None:
        # scores of unseen senders, on the same calibration: what thresholds are chosen from
        margins = out_of_fold(StratifiedGroupKFold(folds, shuffle=True, random_state=seed)
                              .split(np.zeros(len(y)), y, groups))
    everything = np.arange(len(y))
    idf, mean, scale, hidf = block.fit_transforms(everything)
    clf = _OneVsRest(block.matrix(everything, idf, mean, scale, hidf), y, classes, C, neutral_cols)
    if progress:
        progress(total, total)
    n_words, n_num = 2**HASH_BITS, len(NUMERIC_NAMES)
    coef = clf.coef
    prior = np.array([counts[c] for c in CLASSES], dtype=np.float64) / len(y)
    model = PromoModel(
        idf=idf,
        word_coef=coef[:n_words].astype(np.float32),
        num_mean=mean,
        num_scale=scale,
        num_coef=coef[n_words:n_words + n_num] * NUMERIC_WEIGHT,
        intercept=clf.intercept,
        classes=classes,
        cal_coef=cal_coef,
        cal_intercept=cal_intercept,
        prior=prior,
        header_idf=hidf,
        header_coef=(coef[n_words + n_num:] * HEADER_WEIGHT).astype(np.float32) if header_tokens
        else np.zeros((0, len(classes)), dtype=np.float32),
    )
    oof = np.zeros((len(y), N_CLASSES))
    oof[:, classes] = _softmax(margins @ cal_coef.T + cal_intercept)
    lost = [i for i, f in enumerate(feats) if unknown(f)]
    if lost:
        oof[lost] = prior
    return Fitted(model, oof)


def train(feats: Sequence[Features], labels: Sequence[int] | np.ndarray, **kw: Any) -> PromoModel:
    """Fit a model (see :func:`fit`); its thresholds stay 0.5 until the caller sets them.
    :func:`mailguard.training.train_model` sets them from the out-of-fold probabilities."""
    return fit(feats, labels, **kw).model


#: The arrays of a promo model: dtype and shape, in terms of W (2**HASH_BITS word buckets), N (the
#: structural features), K (the categories), k (the categories fitted) and H (header-token buckets:
#: W, or 0 for a model that does not use header tokens).
_ARRAYS: dict[str, tuple[str, tuple[str, ...]]] = {
    "idf": ("<f4", ("W",)), "word_coef": ("<f4", ("W", "k")),
    "num_mean": ("<f8", ("N",)), "num_scale": ("<f8", ("N",)), "num_coef": ("<f8", ("N", "k")),
    "intercept": ("<f8", ("k",)), "classes": ("<i8", ("k",)),
    "cal_coef": ("<f8", ("k", "k")), "cal_intercept": ("<f8", ("k",)), "prior": ("<f8", ("K",)),
    "header_idf": ("<f4", ("H",)), "header_coef": ("<f4", ("H", "k")),
}


def to_arrays(model: PromoModel) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    arrays = {name: np.asarray(getattr(model, name), dtype=dtype) for name, (dtype, _) in _ARRAYS.items()}
    params = {
        "feature_version": int(model.feature_version),
        "hash_bits": HASH_BITS,
        "numeric_names": list(model.numeric_names),
        "classes": list(CLASSES),
        "threshold": float(model.threshold),
        "transactional_threshold": float(model.transactional_threshold),
    }
    return arrays, params


def from_arrays(params: Mapping[str, Any], arrays: Mapping[str, np.ndarray], path: Path | str) -> PromoModel:
    """A PromoModel from a model file's contents (read at the edge: :mod:`mailguard.models_io`), every
    value checked; ModelError (naming ``path``) otherwise."""
    p = params
    retrain = "retrain it with `mailguard train`"
    version = p.get("feature_version")
    if version != FEATURE_VERSION or p.get("numeric_names") != list(NUMERIC_NAMES) \
            or p.get("hash_bits") != HASH_BITS or p.get("classes") != list(CLASSES):
        raise ModelError(f"model {path} was built for feature version {version}; this mailguard uses "
                         f"{FEATURE_VERSION}: {retrain}")
    if set(arrays) != set(_ARRAYS):
        raise ModelError(f"model {path} does not hold the arrays of a promo model "
                         f"({', '.join(sorted(arrays))}): {retrain}")
    a = arrays
    k = a["classes"].shape[0] if a["classes"].ndim == 1 else -1
    h = a["header_idf"].shape[0] if a["header_idf"].ndim == 1 else -1
    sizes = {"W": 2**HASH_BITS, "N": len(NUMERIC_NAMES), "K": N_CLASSES, "k": k,
             "H": h if h in (0, 2**HASH_BITS) else -1}
    for name, (dtype, dims) in _ARRAYS.items():
        want = tuple(sizes[d] for d in dims)
        if a[name].dtype.str != dtype or a[name].shape != want or -1 in want:
            raise ModelError(f"model {path}: {name} is {a[name].dtype.str} {a[name].shape}, not "
                             f"{dtype} {want}: {retrain}")
    classes = a["classes"]
    if not 1 <= k <= N_CLASSES or len(set(classes.tolist())) != k \
            or not ((classes >= 0) & (classes < N_CLASSES)).all():
        raise ModelError(f"model {path}: classes must be distinct category numbers below {N_CLASSES}")
    if not (a["num_scale"] > 0).all():
        raise ModelError(f"model {path}: num_scale must be positive")
    thresholds = [p.get("threshold"), p.get("transactional_threshold")]
    if not all(isinstance(t, float | int) and not isinstance(t, bool) and 0.0 <= t <= 1.0 for t in thresholds):
        raise ModelError(f"model {path}: threshold and transactional_threshold must be numbers in [0, 1]")
    return PromoModel(
        idf=a["idf"], word_coef=a["word_coef"], num_mean=a["num_mean"], num_scale=a["num_scale"],
        num_coef=a["num_coef"], intercept=a["intercept"], classes=classes, cal_coef=a["cal_coef"],
        cal_intercept=a["cal_intercept"], prior=a["prior"], header_idf=a["header_idf"],
        header_coef=a["header_coef"], threshold=float(thresholds[0]),
        transactional_threshold=float(thresholds[1]), feature_version=FEATURE_VERSION,
        numeric_names=NUMERIC_NAMES,
    )
