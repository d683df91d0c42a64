"""Scoring without scikit-learn or scipy gives the numbers their code gives, bit for bit."""

import dataclasses
import random
from itertools import repeat

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
import scipy.sparse as sp
from sklearn.feature_extraction import FeatureHasher
from sklearn.utils import murmurhash3_32

from mailguard import models_io
from mailguard.core import classify, vectorize
from mailguard.core.features import extract
from mailguard.core.parse import parse_message
from mailfactory import ME, day, newsletter, personal

N = 2**classify.HASH_BITS
HASHER = FeatureHasher(n_features=N, input_type="pair", alternate_sign=False, dtype=np.float32)


def _keys(n: int, seed: int = 0) -> list[bytes]:
    rng = random.Random(seed)
    return [bytes(rng.randrange(256) for _ in range(rng.randrange(0, 41))) for _ in range(n)]


def test_murmurhash_is_scikit_learns_for_every_length_and_byte():
    keys = _keys(5000) + [b"", b"a", b"ab", b"abc", b"abcd", b"__esp__", "naïve".encode()]
    want = [murmurhash3_32(k, seed=0, positive=True) for k in keys]
    assert vectorize.murmurhash3_32(keys).tolist() == want


def test_buckets_are_feature_hashers_columns():
    keys = [k for k in _keys(3000, seed=1) if k]
    want = HASHER.transform([[(k, 1)] for k in keys]).indices
    assert vectorize.buckets(keys, N).tolist() == want.tolist()


def _corpus() -> list:
    raws = [newsletter(f"Shop {i} <deals@shop{i}.example>", to=ME, when=day(i)) if i % 2 else
            personal(f"Jo {i} <jo{i}@acme{i}.io>", when=day(i)) for i in range(60)]
    return [extract(parse_message(r), with_header_tokens=True) for r in raws]


def test_rows_tfidf_and_dot_equal_feature_hasher_sklearn_and_scipy_exactly():
    feats = _corpus()
    rng = np.random.default_rng(0)
    idf = (1.0 + 6.0 * rng.random(N)).astype(np.float32)
    coef = rng.standard_normal((N, 3)).astype(np.float32)
    for docs in ([classify.tokens(f.text) for f in feats],
                 [[t.encode() for t in f.header_tokens] for f in feats],
                 [[], [b"only"], []]):  # rows without tokens
        want = sp.csr_matrix(HASHER.transform(zip(d, repeat(1)) for d in docs))
        rows = vectorize.hash_rows(docs, N)
        assert rows.indptr.tolist() == want.indptr.tolist()
        assert rows.indices.tolist() == want.indices.tolist()
        assert rows.data.tobytes() == want.data.tobytes()
        tf = vectorize.tfidf(rows, idf)
        assert tf.data.tobytes() == classify._tfidf(want, idf).data.tobytes()
        got = vectorize.dot(tf, coef)
        assert got.dtype == np.float32
        assert got.tobytes() == np.asarray(classify._tfidf(want, idf) @ coef).tobytes()


def test_a_rows_product_does_not_depend_on_the_rest_of_the_batch():
    feats = _corpus()
    model = models_io.load()
    rows = vectorize.tfidf(classify._word_rows(feats), model.idf)
    alone = [vectorize.dot(vectorize.tfidf(classify._word_rows([f]), model.idf), model.word_coef)[0]
             for f in feats]
    assert np.array_equal(vectorize.dot(rows, model.word_coef), np.array(alone))


def test_word_rows_keep_the_tokens_tokens_keeps():
    """_word_rows leaves the tokens of the wrong length out in numpy: the rows of tokens()."""
    feats = _corpus()
    text = "a " + "x" * 25 + " ab " + "y" * 24 + " naïve " + "é" * 12 + " " + "é" * 13 + " " + "z" * 30
    feats.append(dataclasses.replace(feats[0], text=text))
    got = classify._word_rows(feats)
    want = vectorize.hash_rows([classify.tokens(f.text) for f in feats], N)
    assert got.indptr.tolist() == want.indptr.tolist() and got.indices.tolist() == want.indices.tolist()
    assert got.data.tolist() == want.data.tolist()
    assert [len(t) for t in classify.tokens(text)] == [2, 24, 6, 24]  # bytes: 25, 26 and 30 are too long


_TEXT_PIECES = st.sampled_from([" ", "  ", "a", "ab", "Ab", "x" * 23, "y" * 24, "z" * 25, "é", "ß", "İ",
                                "\u0301", "\x00", "\t", "\n", "_", "-", ".", "9", "__esp__", "\ud800"])
_TEXTS = st.lists(st.lists(st.one_of(_TEXT_PIECES, st.text(max_size=8)), max_size=30).map("".join),
                  max_size=8)


@settings(max_examples=300, deadline=None)
@given(texts=_TEXTS)
def test_word_rows_are_the_rows_of_tokens_for_any_text(texts):
    """hash_texts (the tokens found in numpy) gives hash_rows of tokens(), empty texts included."""
    base = _corpus()[0]
    feats = [dataclasses.replace(base, text=t) for t in texts]
    got = classify._word_rows(feats)
    want = vectorize.hash_rows([classify.tokens(t) for t in texts], N)
    assert got.indptr.tolist() == want.indptr.tolist()
    assert got.indices.tolist() == want.indices.tolist()
    assert got.data.tobytes() == want.data.tobytes()


def test_word_rows_are_the_rows_of_tokens_on_real_mail():
    from test_fast_paths import _real_messages

    msgs = [parse_message(r) for r in _real_messages(800)]
    feats = [extract(m) for m in msgs if not m.unreadable]
    assert len(feats) >= 300
    for start in range(0, len(feats), 64):
        block = feats[start:start + 64]
        got = classify._word_rows(block)
        want = vectorize.hash_rows([classify.tokens(f.text) for f in block], N)
        assert got.indptr.tolist() == want.indptr.tolist()
        assert got.indices.tolist() == want.indices.tolist()
        assert got.data.tobytes() == want.data.tobytes()


def test_rows_of_a_batch_too_large_for_32_bit_keys_are_feature_hashers():
    """_counted sorts (row, bucket) keys as 32-bit integers while they fit (scoring blocks) and as
    64-bit ones past that (training on many messages): both give FeatureHasher's rows."""
    rng = random.Random(3)
    words = [b"w%d" % i for i in range(500)] + [b"__esp__", "naïve".encode()]
    n_docs = 2**31 // N + 5  # keys up to n_docs * N: past 2**31
    docs = [[rng.choice(words) for _ in range(rng.randrange(0, 4))] for _ in range(n_docs)]
    want = sp.csr_matrix(HASHER.transform(zip(d, repeat(1)) for d in docs))
    for batch in (docs, docs[:64]):
        rows = vectorize.hash_rows(batch, N)
        part = want[:len(batch)]
        assert rows.indptr.tolist() == part.indptr.tolist()
        assert rows.indices.tolist() == part.indices.tolist()
        assert rows.data.tobytes() == part.data.tobytes()
