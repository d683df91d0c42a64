"""Hashed token counts, tf-idf and the sparse-dense product of scoring, in numpy alone.

Scoring a message needs the hashing trick, a tf-idf weighting and a dot product: this module does
them without scikit-learn or scipy, whose imports cost a command about a second of start-up. The
numbers are the same, bit for bit, as those of the code that trains a model:

- :func:`murmurhash3_32` is MurmurHash3 (x86, 32 bits, seed 0), the hash of scikit-learn's
  ``FeatureHasher``; :func:`hash_rows` gives the rows ``FeatureHasher(n, alternate_sign=False)
  .transform`` followed by ``sum_duplicates`` gives (sorted buckets, summed counts);
- :func:`tfidf` is sublinear tf times idf with rows L2-normalised as scikit-learn's ``normalize``
  does it (a float64 sum of float32 squares, in index order, then a float64 division);
- :func:`dot` is scipy's CSR-times-dense product (a float32 sum per row, in index order).

Each row's result depends on that row alone, never on the others in the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain

import numpy as np

_C1 = np.uint32(0xCC9E2D51)
_C2 = np.uint32(0x1B873593)
_TAIL_MASKS = np.array([0, 0xFF, 0xFFFF, 0xFFFFFF], dtype=np.uint32)


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def murmurhash3_32(keys: Sequence[bytes]) -> np.ndarray:
    """MurmurHash3_x86_32 of each key with seed 0, as unsigned 32-bit integers."""
    lens = np.fromiter(map(len, keys), dtype=np.int64, count=len(keys))
    return _murmur(b"".join(keys), np.cumsum(lens) - lens, lens)


def _murmur(joined: bytes, starts: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """MurmurHash3_x86_32 (seed 0) of the keys at ``starts`` (``lens`` bytes each) in ``joined``."""
    n = len(starts)
    buf = joined + b"\0\0\0\0"
    # every 4-byte window of the keys, little-endian (unaligned reads: a stride of one byte)
    words = np.ndarray((len(buf) - 3,), dtype="<u4", buffer=buf, strides=(1,))
    h = np.zeros(n, dtype=np.uint32)
    nblocks = lens >> 2
    for b in range(int(nblocks.max(initial=0))):
        sel = np.flatnonzero(nblocks > b)
        k = words[starts[sel] + 4 * b]
        k *= _C1
        k = _rotl(k, 15)
        k *= _C2
        hs = h[sel] ^ k
        hs = _rotl(hs, 13)
        hs *= np.uint32(5)
        hs += np.uint32(0xE6546B64)
        h[sel] = hs
    tail = lens & 3
    sel = np.flatnonzero(tail)
    if sel.size:
        k = words[starts[sel] + 4 * nblocks[sel]] & _TAIL_MASKS[tail[sel]]
        k *= _C1
        k = _rotl(k, 15)
        k *= _C2
        h[sel] ^= k
    h ^= lens.astype(np.uint32)
    h ^= h >> np.uint32(16)
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0xC2B2AE35)
    h ^= h >> np.uint32(16)
    return h


def buckets(keys: Sequence[bytes], n_features: int) -> np.ndarray:
    """FeatureHasher's column of each key: ``abs(h) % n_features`` of the signed 32-bit hash."""
    signed = murmurhash3_32(keys).view(np.int32).astype(np.int64)
    return np.abs(signed) % n_features  # abs(-2**31) is 2**31 here, as FeatureHasher defines it


class Rows:
    """Sparse rows in CSR form: ``indptr`` (n + 1), sorted ``indices`` per row, float32 ``data``."""

    __slots__ = ("indptr", "indices", "data")

    def __init__(self, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray) -> None:
        self.indptr = indptr
        self.indices = indices
        self.data = data

    def __len__(self) -> int:
        return len(self.indptr) - 1


def hash_rows(docs: Sequence[Sequence[bytes]], n_features: int, min_len: int = 0,
              max_len: int | None = None) -> Rows:
    """Each document's keys (those of ``min_len`` to ``max_len`` bytes) hashed into
    ``n_features`` buckets and counted: the rows (buckets in increasing order, float32 counts)
    of FeatureHasher's transform after ``sum_duplicates``."""
    per_doc = np.fromiter(map(len, docs), dtype=np.int64, count=len(docs))
    keys = list(chain.from_iterable(docs))
    lens = np.fromiter(map(len, keys), dtype=np.int64, count=len(keys))
    starts = np.cumsum(lens) - lens
    row = np.repeat(np.arange(len(docs), dtype=np.int64), per_doc)
    if min_len > 0 or max_len is not None:
        keep = lens >= min_len
        if max_len is not None:
            keep &= lens <= max_len
        row, starts, lens = row[keep], starts[keep], lens[keep]
    return _counted(b"".join(keys), starts, lens, row, len(docs), n_features)


def hash_texts(texts: Sequence[bytes], n_features: int, min_len: int = 0,
               max_len: int | None = None) -> Rows:
    """:func:`hash_rows` of ``[t.split() for t in texts]`` for texts whose only whitespace is the
    space (b" "), without making a bytes object of each token: the tokens are found in numpy."""
    joined = b" ".join(texts) + b" "
    lens_doc = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    offsets = np.cumsum(lens_doc + 1) - (lens_doc + 1)  # where each text starts in ``joined``
    word = np.frombuffer(joined, dtype=np.uint8) != 32
    edges = np.flatnonzero(word[1:] != word[:-1]) + 1  # where a token starts or ends (not at 0)
    if word.size and word[0]:
        edges = np.concatenate(([0], edges))
    starts, ends = edges[0::2], edges[1::2]  # ``joined`` ends in a space: every token ends
    lens = ends - starts
    keep = lens >= min_len
    if max_len is not None:
        keep &= lens <= max_len
    starts, lens = starts[keep], lens[keep]
    row = np.searchsorted(offsets, starts, side="right") - 1
    return _counted(joined, starts, lens, row, len(texts), n_features)


def _counted(joined: bytes, starts: np.ndarray, lens: np.ndarray, row: np.ndarray, n_docs: int,
             n_features: int) -> Rows:
    """The rows of the keys at ``starts`` (``lens`` bytes) of ``joined``, each in its ``row``:
    buckets in increasing order, counts summed."""
    signed = _murmur(joined, starts, lens).view(np.int32).astype(np.int64)
    col = np.abs(signed) % n_features  # as buckets()
    keys = row * n_features + col
    if n_docs * n_features <= 2**31:
        keys = keys.astype(np.int32)  # the same keys, sorted in about half the time
    uniq, counts = np.unique(keys, return_counts=True)
    indptr = np.zeros(n_docs + 1, dtype=np.int64)
    np.cumsum(np.bincount(uniq // n_features, minlength=n_docs), out=indptr[1:])
    return Rows(indptr, (uniq % n_features).astype(np.int32), counts.astype(np.float32))


def _row_sums(values: np.ndarray, indptr: np.ndarray) -> np.ndarray:
    """Per row, the sum of ``values`` (nnz,) or (nnz, k) in index order, one addition at a time
    in their dtype (as a C loop does; numpy's own sums add pairwise)."""
    n = len(indptr) - 1
    lens = np.diff(indptr)
    width = int(lens.max(initial=0))
    shape = (n, width, *values.shape[1:])
    if width == 0:
        return np.zeros((n, *values.shape[1:]), dtype=values.dtype)
    padded = np.zeros(shape, dtype=values.dtype)
    row = np.repeat(np.arange(n), lens)
    padded[row, np.arange(len(row)) - indptr[row]] = values
    # accumulate is sequential (out[j] = out[j - 1] + in[j]); the zeros after a row's end add nothing
    return np.cumsum(padded, axis=1, dtype=values.dtype)[:, -1]


def tfidf(counts: Rows, idf: np.ndarray) -> Rows:
    """Sublinear tf times idf, each row L2-normalised (sklearn's ``TfidfTransformer(sublinear_tf=
    True)`` with its ``normalize``): float32 data."""
    x = counts.data.astype(np.float32, copy=True)
    np.log(x, out=x)
    x += np.float32(1.0)
    x *= idf[counts.indices]
    norms = np.sqrt(_row_sums((x * x).astype(np.float64), counts.indptr))
    per = np.repeat(norms, np.diff(counts.indptr))
    nonzero = per != 0.0
    out = x.astype(np.float64)
    out[nonzero] /= per[nonzero]
    return Rows(counts.indptr, counts.indices, out.astype(np.float32))


#: rows multiplied at a time by :func:`dot` (bounds the padded work array)
DOT_ROWS = 256


def dot(rows: Rows, dense: np.ndarray) -> np.ndarray:
    """``rows @ dense`` (dense: (n_features, k), same dtype as the data) as scipy computes a CSR
    matrix times a dense one: per row, ``y += a * x`` over the row's entries in index order."""
    n = len(rows)
    out = np.zeros((n, dense.shape[1]), dtype=np.result_type(rows.data, dense))
    for a in range(0, n, DOT_ROWS):
        b = min(n, a + DOT_ROWS)
        lo, hi = rows.indptr[a], rows.indptr[b]
        prod = rows.data[lo:hi, None] * dense[rows.indices[lo:hi]]
        out[a:b] = _row_sums(prod.astype(out.dtype, copy=False), rows.indptr[a:b + 1] - lo)
    return out
