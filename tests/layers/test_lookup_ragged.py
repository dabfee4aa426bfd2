"""StringLookup on rows of several lengths (Keras's ragged tensor of strings):
adapt learns from every string, each row a document; the bag modes give one
vector per row, checked against naive NumPy bags; the modes that give one
index per string take rows of one length and refuse the others."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from brainnet import layers

ROWS = [["cs.LG"], ["cs.CV", "cs.LG", "stat.ML"], ["stat.ML", "cs.LG"], ["cs.AI", "cs.LG", "cs.AI"]]


def naive_bags(rows, vocabulary, mode, idf=None):
    """count[n, i] = #{strings of row n with index i}; unknown strings count at the OOV index 0."""
    out = np.zeros((len(rows), len(vocabulary)))
    for n, row in enumerate(rows):
        for token in row:
            out[n, vocabulary.index(token) if token in vocabulary else 0] += 1
    if mode == "multi_hot":
        return np.minimum(out, 1)
    return out * idf if mode == "tf_idf" else out


def test_adapt_on_ragged_rows_ranks_every_string():
    lookup = layers.StringLookup(output_mode="multi_hot")
    lookup.adapt(ROWS)
    counts = Counter(t for row in ROWS for t in row)
    assert lookup.get_vocabulary() == ["[UNK]"] + sorted(counts, key=lambda t: (counts[t], t), reverse=True)


@pytest.mark.parametrize("mode", ["multi_hot", "count", "tf_idf"])
def test_bag_modes_give_one_vector_per_row(mode):
    lookup = layers.StringLookup(output_mode=mode)
    lookup.adapt(ROWS)
    vocabulary = lookup.get_vocabulary()
    idf = None
    if mode == "tf_idf":  # each row is a document: idf = ln(1 + D / (1 + d_t)), the OOV index the mean
        idf = np.array([math.log(1 + len(ROWS) / (1 + sum(t in row for row in ROWS))) for t in vocabulary[1:]])
        idf = np.concatenate([[idf.mean()], idf])
    rows = [["stat.ML", "q-bio"], ["cs.LG", "cs.LG", "cs.CV", "cs.AI"], []]
    out = lookup(rows)
    assert tuple(out.shape) == (3, len(vocabulary)) == lookup.compute_output_shape((3, None))
    np.testing.assert_allclose(out.numpy(), naive_bags(rows, vocabulary, mode, idf), rtol=1e-6)


def test_pandas_object_array_of_lists_and_bytes():
    """``df["terms"].values`` (an object array of lists), even with rows of one length, and UTF-8 bytes."""
    lookup = layers.StringLookup(output_mode="multi_hot")
    column = pd.Series([["a", "b"], ["b", "c"]]).values
    lookup.adapt(column)
    vocabulary = lookup.get_vocabulary()
    np.testing.assert_array_equal(lookup(column).numpy(), naive_bags(list(column), vocabulary, "multi_hot"))
    np.testing.assert_array_equal(lookup([[b"a"], [b"c", b"b", b"z"]]).numpy(),
                                  naive_bags([["a"], ["c", "b", "z"]], vocabulary, "multi_hot"))


def test_int_mode_takes_rows_of_one_length_from_an_object_array():
    lookup = layers.StringLookup(vocabulary=["a", "b", "c"])
    column = pd.Series([["a", "c"], ["z", "b"]]).values
    assert lookup(column).tolist() == [[1, 3], [0, 2]]
    one_hot = layers.StringLookup(vocabulary=["a", "b"], output_mode="one_hot")
    assert tuple(one_hot(column).shape) == (2, 2, 3)


@pytest.mark.parametrize("mode", ["int", "one_hot"])
def test_ragged_rows_refused_where_each_string_gets_an_index(mode):
    lookup = layers.StringLookup(vocabulary=["a", "b"], output_mode=mode)
    with pytest.raises(ValueError, match=r"expected rows of one length .*got rows of lengths \[1, 2\].*Fix: "
                                         r"output_mode='multi_hot'"):
        lookup([["a"], ["a", "b"]])


def test_numbers_in_ragged_rows_refused():
    lookup = layers.StringLookup(output_mode="multi_hot")
    with pytest.raises(TypeError, match="expected strings .*got int 3"):
        lookup.adapt([["a"], ["b", 3]])
