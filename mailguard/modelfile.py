"""Model files: named numpy arrays and a JSON header in one ``.npz`` zip, read without pickle.

A model is data. Loading one never runs anything from it: the arrays are numpy's ``.npy`` format,
read with ``allow_pickle=False`` (an object array is refused, never unpickled), and everything else
is JSON. The file is a zip archive holding::

    header.json    {"format": "mailguard-model", "format_version": 1, "kind": "promo",
                    "arrays": {"idf": {"dtype": "<f4", "shape": [262144]}, ...},
                    "params": {...}}            # kind-specific numbers, names and flags
    idf.npy, ...   one .npy file per array named in the header

:func:`write` and :func:`read` know nothing about what a kind of model holds; the model's own code
(``core/classify.py`` for ``kind = "promo"``) says which arrays and params it needs and checks them.
:func:`read` checks what every model file must satisfy before any array is read: a zip whose
members are exactly the header and the arrays it lists, sizes that match the declared dtypes and
shapes (no zip bomb), finite floating-point values. Any failure is one ModelError line.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelError

FORMAT = "mailguard-model"
FORMAT_VERSION = 1
HEADER = "header.json"
#: dtypes a model array may have (little-endian numbers; never objects or strings)
DTYPES = frozenset({"<f4", "<f8", "<i4", "<i8", "|i1", "|u1", "|b1"})
#: no model file is larger than this unpacked (the promo model is 2.1 MB)
MAX_BYTES = 512 * 1024 * 1024
MAX_HEADER_BYTES = 1024 * 1024
#: a .npy file is its array plus a header of at most this many bytes
_NPY_OVERHEAD = 4096
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed: the same model gives the same bytes (and sha256)


@dataclass(frozen=True)
class ModelData:
    """What a model file holds: its kind, its params (JSON values) and its arrays by name."""

    kind: str
    params: dict[str, Any]
    arrays: dict[str, np.ndarray]


def write(path: Path, kind: str, arrays: Mapping[str, np.ndarray], params: Mapping[str, Any]) -> None:
    """Write a model file atomically (a temporary file beside it, then a rename)."""
    for name, a in arrays.items():
        if not name.isidentifier() or np.dtype(a.dtype).str not in DTYPES:
            raise ModelError(f"cannot store array {name!r} of dtype {a.dtype} in a model file")
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "arrays": {n: {"dtype": a.dtype.str, "shape": list(a.shape)} for n, a in sorted(arrays.items())},
        "params": dict(params),
    }
    try:
        text = json.dumps(header, indent=1, allow_nan=False) + "\n"
    except ValueError as exc:
        raise ModelError(f"model params are not plain finite JSON values: {exc}") from None
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr(zipfile.ZipInfo(HEADER, _ZIP_TIME), text)
        for name, a in sorted(arrays.items()):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(a), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", _ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, buf.getvalue())
    tmp.replace(path)


def looks_like_pickle(path: Path) -> bool:
    """A joblib or pickle file (the format models had before), by its first bytes: a pickle
    protocol mark, or the zlib/gzip/xz/lz4 header of a compressed joblib file."""
    try:
        with open(path, "rb") as f:
            head = f.read(6)
    except OSError:
        return False
    return (head[:1] == b"\x80" or head[:1] == b"\x78" or head[:2] == b"\x1f\x8b"
            or head[:6] == b"\xfd7zXZ\x00" or head[:4] == b"\x04\x22\x4d\x18" or head.startswith(b"ZF"))


def read(path: Path, kind: str) -> ModelData:
    """Read and check a model file of the given kind; ModelError (one line) on anything wrong."""
    path = Path(path)
    try:
        if not zipfile.is_zipfile(path):
            raise ModelError(f"{path} is not a mailguard model file (not an .npz archive)")
        with zipfile.ZipFile(path) as z:
            header = _header(z, path)
            _check_members(z, header, path)
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: _array(npz, name, spec, path) for name, spec in header["arrays"].items()}
    except ModelError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:  # ValueError: object arrays
        raise ModelError(f"model {path} cannot be read: {_one_line(exc)}") from None
    if header["kind"] != kind:
        raise ModelError(f"{path} is a {header['kind']!r} model, not a {kind!r} model")
    return ModelData(header["kind"], header["params"], arrays)


def _one_line(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:300]


def _header(z: zipfile.ZipFile, path: Path) -> dict[str, Any]:
    try:
        info = z.getinfo(HEADER)
    except KeyError:
        raise ModelError(f"{path} is not a mailguard model file (no {HEADER})") from None
    if info.file_size > MAX_HEADER_BYTES:
        raise ModelError(f"model {path}: {HEADER} is too large ({info.file_size} bytes)")
    try:
        header = json.loads(z.read(info).decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ModelError(f"model {path}: {HEADER} is not valid JSON: {_one_line(exc)}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ModelError(f"{path} is not a mailguard model file (format is not {FORMAT!r})")
    version = header.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ModelError(f"model {path} has no valid format_version")
    if version > FORMAT_VERSION:
        raise ModelError(f"model {path} is in format version {version}, made by a newer mailguard "
                         f"(this one reads version {FORMAT_VERSION}): upgrade mailguard or retrain")
    if not isinstance(header.get("kind"), str) or not isinstance(header.get("params"), dict):
        raise ModelError(f"model {path}: the header needs a 'kind' string and a 'params' object")
    arrays = header.get("arrays")
    if not isinstance(arrays, dict):
        raise ModelError(f"model {path}: the header needs an 'arrays' object")
    for name, spec in arrays.items():
        if not (isinstance(name, str) and name.isidentifier() and isinstance(spec, dict)
                and spec.get("dtype") in DTYPES and isinstance(spec.get("shape"), list)
                and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in spec["shape"])):
            raise ModelError(f"model {path}: bad array entry {name!r} in {HEADER}")
    return header


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed")


def _check_members(z: zipfile.ZipFile, header: dict[str, Any], path: Path) -> None:
    expected = {HEADER} | {f"{name}.npy" for name in header["arrays"]}
    names = [i.filename for i in z.infolist()]
    if len(names) != len(set(names)) or set(names) != expected:
        extra = sorted(set(names) - expected) or sorted(expected - set(names))
        raise ModelError(f"model {path} does not hold exactly the arrays its header lists "
                         f"({', '.join(extra[:3])})")
    total = 0
    for name, spec in header["arrays"].items():
        nbytes = math.prod(spec["shape"]) * np.dtype(spec["dtype"]).itemsize
        size = z.getinfo(f"{name}.npy").file_size
        if size > nbytes + _NPY_OVERHEAD:
            raise ModelError(f"model {path}: array {name} is larger than its header says")
        total += size
    if total > MAX_BYTES:
        raise ModelError(f"model {path} is too large ({total} bytes unpacked)")


def _array(npz: Any, name: str, spec: dict[str, Any], path: Path) -> np.ndarray:
    a = npz[name]
    if not isinstance(a, np.ndarray) or a.dtype.str != spec["dtype"] or list(a.shape) != spec["shape"]:
        raise ModelError(f"model {path}: array {name} is not the {spec['dtype']} {tuple(spec['shape'])} "
                         "its header says")
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise ModelError(f"model {path}: array {name} has values that are not finite")
    return a
