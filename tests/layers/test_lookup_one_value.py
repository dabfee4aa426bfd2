"""StringLookup and IntegerLookup on one value (a scalar): one sample, as Keras 3
upranks a scalar, so multi_hot / count give a vector (depth,)."""

from __future__ import annotations

import numpy as np

from brainnet import layers


def test_string_lookup_of_one_string_is_one_sample():
    lookup = layers.StringLookup(vocabulary=["fixed", "normal", "reversible"], mask_token=None,
                                 num_oov_indices=0, output_mode="multi_hot")
    out = lookup("normal")
    np.testing.assert_array_equal(out.numpy(), [0.0, 1.0, 0.0])
    np.testing.assert_array_equal(lookup(np.array("reversible", dtype=object)).numpy(), [0.0, 0.0, 1.0])
    counted = layers.StringLookup(vocabulary=["a", "b"], output_mode="count")("b")
    assert tuple(counted.shape) == (3,) and counted.numpy().tolist() == [0.0, 0.0, 1.0]


def test_integer_lookup_of_one_integer_is_one_sample():
    lookup = layers.IntegerLookup(vocabulary=[0, 1, 2], mask_token=None, num_oov_indices=0, output_mode="binary")
    np.testing.assert_array_equal(lookup(np.int64(2)).numpy(), [0.0, 0.0, 1.0])
