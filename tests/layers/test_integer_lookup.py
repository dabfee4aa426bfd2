"""IntegerLookup against a naive pure-Python version of its docstring rule
(rank by count, map, OOV x mod n, mask, encode), Keras's documented
examples, save and load, and its errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from brainnet.layers import Dense, Embedding, Flatten, Input, IntegerLookup
from brainnet.models import Model, Sequential, load_model


# ------------------------------------------------------------------ the naive rule
def naive_vocabulary(values: np.ndarray, max_tokens: int | None, specials: list[int], reserved: int) -> list[int]:
    counts: dict[int, int] = {}
    for v in values.reshape(-1).tolist():
        if v not in specials:
            counts[v] = counts.get(v, 0) + 1
    ranked = sorted(counts, reverse=True)  # ties: larger integer first ...
    ranked.sort(key=lambda t: -counts[t])  # ... under count, most frequent first (a stable sort)
    return ranked if max_tokens is None else ranked[: max_tokens - reserved]


def naive_index(x: int, vocabulary: list[int], n_oov: int, mask: int | None, int_mode: bool) -> int:
    start = 1 if mask is not None and int_mode else 0
    if mask is not None and x == mask:
        return 0 if int_mode else -1  # -1: left out of the vectors
    if x in vocabulary:
        return start + n_oov + vocabulary.index(x)
    return start + x % n_oov  # Python's % is a floor modulo, as Keras's


def naive_encode(ids: np.ndarray, mode: str, depth: int) -> np.ndarray:
    if mode == "one_hot":
        ids = ids[..., 0] if ids.ndim > 1 and ids.shape[-1] == 1 else ids
        out = np.zeros(ids.shape + (depth,))
        for pos in np.ndindex(ids.shape):
            if ids[pos] >= 0:
                out[pos + (ids[pos],)] = 1
        return out
    out = np.zeros(ids.shape[:-1] + (depth,))
    for pos in np.ndindex(ids.shape):
        if ids[pos] >= 0:
            out[pos[:-1] + (ids[pos],)] += 1
    return np.minimum(out, 1) if mode == "multi_hot" else out


RNG = np.random.default_rng(0)
DATA = RNG.choice([3, 7, 7, 11, 11, 11, 40, 40, 0, -5, 1000], size=(60, 3))
QUERY = RNG.integers(-20, 50, size=(25, 3))


# ------------------------------------------------------------------ Keras's documented examples
def test_keras_examples():
    vocab = [12, 36, 1138, 42]
    data = np.array([[12, 1138, 42], [42, 1000, 36]])
    assert IntegerLookup(vocabulary=vocab)(data).tolist() == [[1, 3, 4], [4, 0, 2]]
    learned = IntegerLookup()
    learned.adapt(data)
    assert learned.get_vocabulary() == [-1, 42, 1138, 1000, 36, 12]
    assert learned(data).tolist() == [[5, 2, 1], [1, 3, 4]]
    two = IntegerLookup(vocabulary=vocab, num_oov_indices=2)
    assert two(np.array([[12, 1138, 42], [37, 1000, 36]])).tolist() == [[2, 4, 5], [1, 0, 3]]
    one_hot = IntegerLookup(vocabulary=vocab, output_mode="one_hot")(np.array([12, 36, 1138, 42, 7]))
    np.testing.assert_array_equal(one_hot.numpy(), np.eye(5)[[1, 2, 3, 4, 0]])
    rows = np.array([[12, 1138, 42, 42], [42, 7, 36, 7]])
    assert IntegerLookup(vocabulary=vocab, output_mode="multi_hot")(rows).tolist() == [[0, 1, 0, 1, 1], [1, 0, 1, 0, 1]]
    assert IntegerLookup(vocabulary=vocab, output_mode="count")(rows).tolist() == [[0, 1, 0, 1, 2], [2, 0, 1, 0, 1]]
    tfidf = IntegerLookup(output_mode="tf_idf", vocabulary=vocab, idf_weights=[0.25, 0.75, 0.6, 0.4])
    np.testing.assert_allclose(tfidf(rows).numpy(), [[0, 0.25, 0, 0.6, 0.8], [1.0, 0, 0.75, 0, 0.4]], rtol=1e-6)
    own_oov = IntegerLookup(output_mode="tf_idf", vocabulary=[-1] + vocab, idf_weights=[0.9, 0.25, 0.75, 0.6, 0.4])
    np.testing.assert_allclose(own_oov(rows).numpy(), [[0, 0.25, 0, 0.6, 0.8], [1.8, 0, 0.75, 0, 0.4]], rtol=1e-6)
    inverse = IntegerLookup(vocabulary=vocab, invert=True)
    assert inverse(np.array([[1, 3, 4], [4, 0, 2]])).tolist() == [[12, 1138, 42], [42, -1, 36]]


# ------------------------------------------------------------------ against the naive rule
@pytest.mark.parametrize("n_oov", [1, 3])
@pytest.mark.parametrize("mask", [None, 0])
@pytest.mark.parametrize("mode", ["int", "one_hot", "multi_hot", "count"])
def test_adapted_lookup_matches_naive(n_oov, mask, mode):
    layer = IntegerLookup(num_oov_indices=n_oov, mask_token=mask, output_mode=mode, max_tokens=6 + n_oov)
    layer.adapt(DATA)
    int_mode = mode == "int"
    specials = ([mask] if mask is not None else []) + [-1]
    vocabulary = naive_vocabulary(DATA, 6 + n_oov, specials, n_oov + (mask is not None and int_mode))
    want_vocab = ([mask] if mask is not None and int_mode else []) + [-1] * n_oov + vocabulary
    assert layer.get_vocabulary() == want_vocab
    assert layer.get_vocabulary(include_special_tokens=False) == vocabulary
    ids = np.vectorize(lambda x: naive_index(int(x), vocabulary, n_oov, mask, int_mode))(QUERY)
    got = layer(torch.from_numpy(QUERY))
    assert tuple(got.shape) == layer.compute_output_shape(QUERY.shape)
    if int_mode:
        assert got.dtype == torch.int64
        np.testing.assert_array_equal(got.numpy(), ids)
    else:
        np.testing.assert_array_equal(got.numpy(), naive_encode(ids, mode, layer.vocabulary_size()))
    column = QUERY[:, :1]  # (N, 1): one_hot encodes on that axis
    assert tuple(layer(column).shape) == layer.compute_output_shape(column.shape)


def test_tf_idf_adapt_matches_naive():
    layer = IntegerLookup(output_mode="tf_idf")
    layer.adapt(DATA)
    tokens = layer.get_vocabulary(include_special_tokens=False)
    documents = [set(row) for row in DATA.tolist()]
    idf = [math.log(1 + len(documents) / (1 + sum(t in d for d in documents))) for t in tokens]
    idf = np.array([np.mean(idf)] + idf)  # the OOV index takes the mean
    ids = np.vectorize(lambda x: naive_index(int(x), tokens, 1, None, False))(QUERY)
    np.testing.assert_allclose(layer(QUERY).numpy(), naive_encode(ids, "count", len(idf)) * idf, rtol=1e-6)


def test_pad_to_max_tokens_invert_with_mask_and_whole_floats():
    padded = IntegerLookup(vocabulary=[5, 6], max_tokens=6, pad_to_max_tokens=True, output_mode="multi_hot")
    assert padded([[5, 9]]).tolist() == [[1, 1, 0, 0, 0, 0]]
    inverse = IntegerLookup(vocabulary=[5, 6], mask_token=0, invert=True)
    assert inverse(torch.tensor([0, 1, 2, 3, 7])).tolist() == [0, -1, 5, 6, -1]
    assert IntegerLookup(vocabulary=[5, 6])(np.array([5.0, 6.0, 2.0])).tolist() == [1, 2, 0]
    assert IntegerLookup(vocabulary=[5, 6])(6).tolist() == 2
    assert IntegerLookup(vocabulary=np.array([5, 6]), num_oov_indices=0)([6, 5]).tolist() == [1, 0]


def test_vocabulary_file_and_config_round_trip(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("12\n36\n1138\n")
    layer = IntegerLookup(vocabulary=str(path), mask_token=0, num_oov_indices=2)
    assert layer.get_vocabulary() == [0, -1, -1, 12, 36, 1138]
    clone = IntegerLookup.from_config(layer.get_config())
    assert clone.get_vocabulary() == layer.get_vocabulary()
    np.testing.assert_array_equal(clone(QUERY).numpy(), layer(QUERY).numpy())
    assert clone.get_config() == layer.get_config()


# ------------------------------------------------------------------ in models, saved and loaded
def test_in_a_model_saved_and_loaded_gives_the_same_outputs(tmp_path):
    lookup = IntegerLookup(output_mode="one_hot")
    lookup.adapt(DATA[:, 0])
    inputs = Input(shape=(1,), dtype="int64")
    model = Model(inputs, Dense(2, activation="softmax")(lookup(inputs)))
    x = QUERY[:, :1]
    before = model.predict(x, verbose=0)
    model.save(tmp_path / "m.brainnet")
    loaded = load_model(tmp_path / "m.brainnet")
    assert loaded.layers[1].get_vocabulary() == lookup.get_vocabulary()  # after the InputLayer
    np.testing.assert_allclose(loaded.predict(x, verbose=0), before, rtol=1e-6)
    indices = IntegerLookup(vocabulary=[3, 7, 11])
    embed = Sequential([indices, Embedding(4, 2), Flatten(), Dense(1)])
    embed.compile("adam", "mse")
    embed.fit(DATA[:, :2], np.ones(len(DATA)), epochs=1, verbose=0)  # integers in, through the trainer
    out = embed.predict(DATA[:, :2], verbose=0)
    embed.save(tmp_path / "e.brainnet")
    np.testing.assert_allclose(load_model(tmp_path / "e.brainnet").predict(DATA[:, :2], verbose=0), out, rtol=1e-6)


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("kwargs, message", [
    ({"num_oov_indices": -1}, r"expected num_oov_indices an integer ≥ 0, got -1.*Fix: num_oov_indices=1"),
    ({"mask_token": "0"}, r"expected mask_token an integer or None, got '0'.*Fix: mask_token=0"),
    ({"vocabulary_dtype": "int32"}, r"expected vocabulary_dtype='int64'.*got 'int32'.*Fix: leave vocabulary_dtype"),
    ({"sparse": True}, r"expected sparse=False, got sparse=True.*Fix: leave sparse out"),
    ({"output_mode": "binary_bag"}, r"expected output_mode among 'int', 'one_hot', 'multi_hot'.*Fix: "),
    ({"invert": True, "output_mode": "count"}, r"expected output_mode='int' with invert=True \(indices back to "
                                               r"integers\).*Fix: IntegerLookup\("),
    ({"vocabulary": ["a"]}, r"expected a non-empty list of integer tokens as vocabulary, got \['a'\].*Fix: "
                            r"vocabulary=\[12, 36, 1138\]"),
    ({"vocabulary": [1, 2, 1]}, r"expected each vocabulary token once.*got repeated \[1\].*Fix: "),
    ({"vocabulary": [1, 2], "max_tokens": 2}, r"expected at most max_tokens=2 indices, got a vocabulary of 3"),
])
def test_argument_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        IntegerLookup(**kwargs)


def test_call_errors():
    with pytest.raises(ValueError, match=r"expected a vocabulary, got a layer that was neither adapted nor given one"
                                         r".*Fix: layer.adapt\(values\) first"):
        IntegerLookup()([1, 2])
    with pytest.raises(ValueError, match=r"expected only vocabulary integers with num_oov_indices=0, got \[9\].*"
                                         r"Fix: num_oov_indices=1"):
        IntegerLookup(vocabulary=[1], num_oov_indices=0)([1, 9])
    with pytest.raises(TypeError, match=r"expected integers, got a non-integer value 1.5.*Fix: pass integer codes"):
        IntegerLookup(vocabulary=[1])(np.array([1.5]))
    with pytest.raises(TypeError, match=r"expected integers, got <U1 values such as \['a'\].*Fix: pass integer "
                                        r"codes.*StringLookup"):
        IntegerLookup().adapt(np.array(["a"]))
