"""The promo model: train, save with a card, load (checked), score.

A logistic regression over hashed words (tf-idf) plus the structural features of
:mod:`mailguard.features`, with probabilities calibrated on out-of-fold scores (Platt scaling).
Hashing keeps the model small and needs no vocabulary pass; scoring is a sparse dot product, so
the model scores thousands of messages a second. The fitted model is plain numpy arrays.

:func:`fit` returns the model *and* the out-of-fold probability of every training message: the
cross-validated scores that :mod:`mailguard.training` picks the threshold from and reports metrics
on. Scores of messages a model was trained on are optimistic and are never used for either.

A model file is data (:mod:`mailguard.modelfile`: numpy arrays and JSON in an ``.npz``, read
without pickle), so loading one runs nothing from it. Models of the old joblib (pickle) format are
refused and never unpickled. The card beside a model records how it was made and its sha256: the
hash catches a corrupted or truncated file, not a planted one (whoever can write the model can
write its card); that is what the ownership and permission checks before loading are for.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import logging
import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import sklearn
from sklearn.feature_extraction import FeatureHasher
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import normalize

from . import __version__, modelfile
from .errors import ModelError
from .features import NUMERIC_NAMES, Features
from .permissions import check_file

log = logging.getLogger(__name__)

#: Bump when features.extract or the word tokens change: older models are then refused.
FEATURE_VERSION = 2
#: The model shipped inside the package (trained on the SpamAssassin public corpus), found with
#: importlib.resources: a file on disk in a checkout and in every pip/pipx install (not zipped).
DEFAULT_MODEL_PATH = Path(str(importlib.resources.files(__package__) / "models" / "promo.npz"))
#: File name of a model trained with `mailguard train` in the data directory.
USER_MODEL_NAME = "promo.npz"
#: ... and of one trained before models were data: refused, never unpickled.
OLD_USER_MODEL_NAME = "promo.joblib"
#: ``kind`` of the promo model in its file's header.
MODEL_KIND = "promo"

#: Hash buckets for words (2**18: few collisions at mailbox vocabulary sizes, 1 MB of weights).
HASH_BITS = 18
#: Inverse regularisation strength of the logistic regression.
C_DEFAULT = 4.0
#: Weight of the standardised structural block against the L2-normalised word block.
NUMERIC_WEIGHT = 0.3
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
# input_type="pair" with zip(tokens, repeat(1)): the hasher then iterates in C, not through a
# Python generator per token (same hashes as input_type="string").
_HASHER = FeatureHasher(n_features=2**HASH_BITS, input_type="pair", alternate_sign=False,
                        dtype=np.float32)


def tokens(text: str) -> list[bytes]:
    """The word tokens the model hashes (see the comment above)."""
    raw = text.lower().encode("utf-8", "surrogatepass").translate(_TOKEN_TABLE).split()
    return [w for w in raw if 2 <= len(w) <= 24]


def card_path(model_path: Path) -> Path:
    return model_path.with_suffix(".card.json")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40.0, 40.0)))


def _counts(feats: Sequence[Features]) -> sp.csr_matrix:
    return sp.csr_matrix(_HASHER.transform(zip(tokens(f.text), repeat(1)) for f in feats))


def _numeric(feats: Sequence[Features]) -> np.ndarray:
    return np.asarray([f.numeric for f in feats], dtype=np.float64).reshape(len(feats), len(NUMERIC_NAMES))


def _tfidf(counts: sp.csr_matrix, idf: np.ndarray) -> sp.csr_matrix:
    """Sublinear tf times idf, rows L2-normalised (as sklearn's TfidfTransformer(sublinear_tf=True))."""
    x = counts.astype(np.float32, copy=True)
    np.log(x.data, out=x.data)
    x.data += 1.0
    x.data *= idf[x.indices]
    return normalize(x, norm="l2", copy=False)


def _idf(counts: sp.csr_matrix) -> np.ndarray:
    n = counts.shape[0]
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    return (np.log((1.0 + n) / (1.0 + df)) + 1.0).astype(np.float32)


@dataclass
class PromoModel:
    """Everything needed to score: word idf and weights, the structural block's scaling and weights,
    the intercept, the calibration and the threshold."""

    idf: np.ndarray
    word_coef: np.ndarray
    num_mean: np.ndarray
    num_scale: np.ndarray
    num_coef: np.ndarray
    intercept: float
    #: Platt scaling (a, b): probability = 1 / (1 + exp(-(a * margin + b)))
    calibration: tuple[float, float] = (1.0, 0.0)
    threshold: float = 0.5
    feature_version: int = FEATURE_VERSION
    numeric_names: tuple[str, ...] = NUMERIC_NAMES
    meta: dict[str, Any] = field(default_factory=dict)

    def margin(self, feats: Sequence[Features]) -> np.ndarray:
        """The uncalibrated decision value of each message."""
        words = _tfidf(_counts(feats), self.idf)
        nums = (_numeric(feats) - self.num_mean) / self.num_scale
        return words @ self.word_coef + nums @ self.num_coef + self.intercept

    def score_many(self, feats: Sequence[Features]) -> np.ndarray:
        """Calibrated probability that each message is promotional/bulk."""
        if not len(feats):
            return np.zeros(0)
        a, b = self.calibration
        return _sigmoid(a * self.margin(feats) + b)

    def score(self, feat: Features) -> float:
        return float(self.score_many([feat])[0])

    def strongest_signals(self, feat: Features, n: int = 3) -> list[tuple[str, float]]:
        """The structural features that pushed this message's score most (name, contribution)."""
        z = (np.asarray(feat.numeric, dtype=np.float64) - self.num_mean) / self.num_scale
        contrib = z * self.num_coef
        order = np.argsort(-np.abs(contrib))[:n]
        return [(self.numeric_names[i], float(contrib[i])) for i in order]


@dataclass(frozen=True)
class Fitted:
    """A model and the calibrated out-of-fold probability of each of its training examples."""

    model: PromoModel
    oof_scores: np.ndarray


class _Block:
    """The design matrix of one set of messages, built once and sliced for each fold."""

    def __init__(self, feats: Sequence[Features]) -> None:
        self.counts = _counts(feats)
        self.nums = _numeric(feats)

    def fit_transforms(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        idf = _idf(self.counts[rows])
        mean = self.nums[rows].mean(axis=0)
        scale = self.nums[rows].std(axis=0)
        scale[scale == 0.0] = 1.0
        return idf, mean, scale

    def matrix(self, rows: np.ndarray, idf: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> sp.csr_matrix:
        words = _tfidf(self.counts[rows], idf)
        nums = (self.nums[rows] - mean) / scale * NUMERIC_WEIGHT
        return sp.hstack([words, sp.csr_matrix(nums)], format="csr")


def _fit_linear(x: sp.csr_matrix, y: np.ndarray, C: float) -> LogisticRegression:
    clf = LogisticRegression(C=C, class_weight="balanced", max_iter=5000, solver="liblinear")
    return clf.fit(x, y)


def check_counts(labels: Sequence[int] | np.ndarray) -> tuple[int, int]:
    """(n_promo, n_personal); ModelError with one clear line when a class has too few examples."""
    y = np.asarray(labels)
    n_pos, n_neg = int((y == 1).sum()), int((y == 0).sum())
    if min(n_pos, n_neg) < MIN_PER_CLASS:
        raise ModelError(
            f"too few examples to train: {n_pos} promo and {n_neg} personal; need at least "
            f"{MIN_PER_CLASS} of each"
        )
    return n_pos, n_neg


def fit(feats: Sequence[Features], labels: Sequence[int] | np.ndarray, *, C: float | None = None,
        folds: int = FOLDS, seed: int = 0,
        progress: Callable[[int, int], None] | None = None) -> Fitted:
    """Train on all examples; calibrate on, and return, ``folds``-fold out-of-fold scores.

    Labels are 1 for promo/bulk, 0 for personal. Raises ModelError on too little data.
    ``progress(done, total)`` is called after each of the ``folds + 1`` fits.
    """
    C = C_DEFAULT if C is None else C
    y = np.asarray(labels, dtype=np.int8)
    if len(y) != len(feats):
        raise ModelError(f"{len(feats)} messages but {len(y)} labels")
    n_pos, n_neg = check_counts(y)
    folds = max(2, min(folds, n_pos, n_neg))
    block = _Block(feats)
    margins = np.zeros(len(y))
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    for i, (tr, te) in enumerate(splitter.split(np.zeros(len(y)), y)):
        transforms = block.fit_transforms(tr)
        clf = _fit_linear(block.matrix(tr, *transforms), y[tr], C)
        margins[te] = clf.decision_function(block.matrix(te, *transforms))
        if progress:
            progress(i + 1, folds + 1)
    platt = LogisticRegression(C=1e6, max_iter=1000).fit(margins[:, None], y)
    a, b = float(platt.coef_[0, 0]), float(platt.intercept_[0])
    everything = np.arange(len(y))
    idf, mean, scale = block.fit_transforms(everything)
    clf = _fit_linear(block.matrix(everything, idf, mean, scale), y, C)
    if progress:
        progress(folds + 1, folds + 1)
    n_words = 2**HASH_BITS
    coef = clf.coef_[0]
    model = PromoModel(
        idf=idf,
        word_coef=coef[:n_words].astype(np.float32),
        num_mean=mean,
        num_scale=scale,
        num_coef=coef[n_words:] * NUMERIC_WEIGHT,
        intercept=float(clf.intercept_[0]),
        calibration=(a, b),
    )
    return Fitted(model, _sigmoid(a * margins + b))


def train(feats: Sequence[Features], labels: Sequence[int] | np.ndarray, **kw: Any) -> PromoModel:
    """Fit a model (see :func:`fit`); its threshold stays 0.5 until the caller sets one.
    :func:`mailguard.training.train_model` sets it from the out-of-fold scores."""
    return fit(feats, labels, **kw).model


def _arrays_and_params(model: PromoModel) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    arrays = {"idf": model.idf, "word_coef": model.word_coef, "num_mean": model.num_mean,
              "num_scale": model.num_scale, "num_coef": model.num_coef}
    params = {
        "feature_version": int(model.feature_version),
        "hash_bits": HASH_BITS,
        "numeric_names": list(model.numeric_names),
        "intercept": float(model.intercept),
        "calibration": [float(x) for x in model.calibration],
        "threshold": float(model.threshold),
    }
    return arrays, params


#: The arrays of a promo model: dtype and shape ("words": 2**HASH_BITS, "numeric": the structural
#: features).
_ARRAYS: dict[str, tuple[str, str]] = {
    "idf": ("<f4", "words"), "word_coef": ("<f4", "words"),
    "num_mean": ("<f8", "numeric"), "num_scale": ("<f8", "numeric"), "num_coef": ("<f8", "numeric"),
}


def _from_data(data: modelfile.ModelData, path: Path) -> PromoModel:
    """A PromoModel from a model file's contents, every value checked; ModelError otherwise."""
    p = data.params
    retrain = "retrain it with `mailguard train`"
    version = p.get("feature_version")
    if version != FEATURE_VERSION or p.get("numeric_names") != list(NUMERIC_NAMES) \
            or p.get("hash_bits") != HASH_BITS:
        raise ModelError(f"model {path} was built for feature version {version}; this mailguard uses "
                         f"{FEATURE_VERSION}: {retrain}")
    sizes = {"words": 2**HASH_BITS, "numeric": len(NUMERIC_NAMES)}
    if set(data.arrays) != set(_ARRAYS):
        raise ModelError(f"model {path} does not hold the arrays of a promo model "
                         f"({', '.join(sorted(data.arrays))}): {retrain}")
    for name, (dtype, size) in _ARRAYS.items():
        a = data.arrays[name]
        if a.dtype.str != dtype or a.shape != (sizes[size],):
            raise ModelError(f"model {path}: {name} is {a.dtype.str} {a.shape}, not {dtype} "
                             f"({sizes[size]},): {retrain}")
    if not (data.arrays["num_scale"] > 0).all():
        raise ModelError(f"model {path}: num_scale must be positive")
    intercept, calibration, threshold = p.get("intercept"), p.get("calibration"), p.get("threshold")
    numbers = [intercept, threshold, *(calibration if isinstance(calibration, list) else [None])]
    if not (isinstance(calibration, list) and len(calibration) == 2
            and all(isinstance(x, float | int) and not isinstance(x, bool) and np.isfinite(x) for x in numbers)
            and 0.0 <= threshold <= 1.0):
        raise ModelError(f"model {path}: intercept, calibration (two numbers) and a threshold in [0, 1] "
                         "must be finite numbers")
    a = data.arrays
    return PromoModel(
        idf=a["idf"], word_coef=a["word_coef"], num_mean=a["num_mean"], num_scale=a["num_scale"],
        num_coef=a["num_coef"], intercept=float(intercept), calibration=(float(calibration[0]), float(calibration[1])),
        threshold=float(threshold), feature_version=FEATURE_VERSION, numeric_names=NUMERIC_NAMES,
    )


def check_name(path: Path) -> Path:
    """A model file's name ends in .npz (an old ``.joblib`` name in config or --out included)."""
    path = Path(path)
    if path.suffix != ".npz":
        raise ModelError(f"model files are .npz files now: give a name such as {path.with_suffix('.npz')} "
                         f"instead of {path.name}")
    return path


def save(model: PromoModel, path: Path, card: dict[str, Any]) -> dict[str, Any]:
    """Write the model (:mod:`mailguard.modelfile`, an ``.npz``) and its card (JSON beside it,
    with the model file's sha256)."""
    path = check_name(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays, params = _arrays_and_params(model)
    modelfile.write(path, MODEL_KIND, arrays, params)
    full = {
        "model": path.name,
        "format": f"{modelfile.FORMAT} {modelfile.FORMAT_VERSION} (npz: header.json + .npy arrays, no pickle)",
        "created": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "mailguard_version": __version__,
        "feature_version": model.feature_version,
        "threshold": model.threshold,
        "versions": {
            "python": platform.python_version(),
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
        },
        **card,
        "sha256": sha256_file(path),
    }
    ctmp = card_path(path).with_suffix(".tmp")
    ctmp.write_text(json.dumps(full, indent=2, sort_keys=False) + "\n")
    ctmp.replace(card_path(path))
    model.meta = full
    return full


def default_model_path() -> Path:
    """The model trained on the user's own mail (``mailguard train``, in the data directory) if
    there is one, else the shipped model. A model trained before models were data
    (``promo.joblib``) is returned too, so that :func:`load` refuses it and says why."""
    from .store import data_dir

    home = data_dir()
    for name in (USER_MODEL_NAME, OLD_USER_MODEL_NAME):
        if (home / name).is_file():
            return home / name
    return DEFAULT_MODEL_PATH


def _refuse_old_format(path: Path, *, by_content: bool) -> None:
    if path.suffix == ".joblib" or (by_content and modelfile.looks_like_pickle(path)):
        raise ModelError(
            f"model {path} is in the old joblib format, which mailguard no longer loads (a pickle can "
            "run code): retrain it with `mailguard train`, or delete it to use the shipped model"
        )


def _is_shipped(path: Path) -> bool:
    try:
        return path.resolve() == DEFAULT_MODEL_PATH.resolve()
    except OSError:
        return False


def load(path: Path | None = None) -> PromoModel:
    """Load a model; ModelError (one line) if it is missing, not data of this version, or does not
    match its card. Without a path: see :func:`default_model_path`. Nothing in the file is ever
    executed: see :mod:`mailguard.modelfile`."""
    path = Path(path) if path else default_model_path()
    if not path.is_file():
        raise ModelError(f"no model at {path}; train one with `mailguard train` or pass --model")
    _refuse_old_format(path, by_content=False)
    cpath = card_path(path)
    if not _is_shipped(path):  # before anything is read (the shipped one: see mailguard.permissions)
        check_file(path, "model", ModelError)
        check_file(cpath, "model card", ModelError)
    _refuse_old_format(path, by_content=True)
    if not cpath.is_file():
        raise ModelError(f"model {path} has no card {cpath.name}; refusing to load it")
    try:
        card = json.loads(cpath.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"model card {cpath} is unreadable: {exc}") from None
    if not isinstance(card, dict):
        raise ModelError(f"model card {cpath} is not a JSON object")
    # the hash catches a corrupted or truncated file; a planted model comes with a matching card
    expected = str(card.get("sha256", ""))
    actual = sha256_file(path)
    if expected != actual:
        raise ModelError(
            f"model {path} does not match its card (sha256 {actual[:12]}... != {expected[:12]}...); "
            "refusing to load it"
        )
    model = _from_data(modelfile.read(path, MODEL_KIND), path)
    model.meta = card
    return model
