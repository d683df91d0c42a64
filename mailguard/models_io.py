"""Promo model files at the edge: the shipped model's place, the user's model in the data
directory, and saving and loading one with its card (the pure model is :mod:`mailguard.core.classify`).

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
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__, modelfile
from .core.classify import CLASSES, MODEL_KIND, PromoModel, from_arrays, to_arrays
from .errors import ModelError
from .permissions import check_file

#: The model shipped inside the package (trained on the SpamAssassin public corpus), found with
#: importlib.resources: a file on disk in a checkout and in every pip/pipx install (not zipped).
DEFAULT_MODEL_PATH = Path(str(importlib.resources.files("mailguard") / "models" / "promo.npz"))
#: File name of a model trained with `mailguard train` in the data directory.
USER_MODEL_NAME = "promo.npz"
#: ... and of one trained before models were data: refused, never unpickled.
OLD_USER_MODEL_NAME = "promo.joblib"


def card_path(model_path: Path) -> Path:
    return model_path.with_suffix(".card.json")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


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
    import sklearn  # only for its version on the card: scoring does not import it

    path = check_name(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays, params = to_arrays(model)
    modelfile.write(path, MODEL_KIND, arrays, params)
    full = {
        "model": path.name,
        "format": f"{modelfile.FORMAT} {modelfile.FORMAT_VERSION} (npz: header.json + .npy arrays, no pickle)",
        "created": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "mailguard_version": __version__,
        "feature_version": model.feature_version,
        "classes": [CLASSES[int(c)] for c in model.classes],
        "threshold": model.threshold,
        "transactional_threshold": model.transactional_threshold,
        "header_tokens": model.uses_header_tokens,
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
    data = modelfile.read(path, MODEL_KIND)
    model = from_arrays(data.params, data.arrays, path)
    model.meta = card
    return model
