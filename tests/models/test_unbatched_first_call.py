"""A subclassed model whose first call is on one unbatched input (keras.io's Barlow
Twins maps its ``RandomAugmentor(keras.Model)`` over single images): Keras 3 runs
it on that input's own shape; brainnet's build tries a batch of 1 first, then the
whole shape."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet
from brainnet import layers


class WholeImage(brainnet.Model):
    """Reads a (4, 3) input as one flat vector of 12: no axis of it is a batch."""

    def __init__(self):
        super().__init__()
        self.dense = layers.Dense(2)

    def call(self, x):
        return self.dense(x.reshape(1, 12))[0]  # (12,) → (2,)


def test_a_subclassed_model_first_called_on_one_unbatched_input_builds_on_its_shape():
    brainnet.utils.set_random_seed(0)
    model = WholeImage()
    x = torch.arange(12.0).reshape(4, 3)
    y = model(x)  # a trial run on (1, 3) would fail: reshape of 3 values to (1, 12)
    assert y.shape == (2,) and model.built
    kernel, bias = (w.detach().numpy().astype("float64") for w in model.dense.weights)
    want = x.numpy().reshape(12).astype("float64") @ kernel.reshape(12, 2) + bias  # y = x·W + b
    np.testing.assert_allclose(y.detach().numpy(), want, rtol=1e-5)
    assert model(x + 1).shape == (2,)


def test_an_input_that_fails_both_ways_raises_the_error_of_its_own_shape():
    model = WholeImage()
    with pytest.raises(RuntimeError, match=r"shape '\[1, 12\]' is invalid for input of size 15"):
        model(torch.zeros(5, 3))  # the whole input's error (15 values), not the trial batch's (3)
