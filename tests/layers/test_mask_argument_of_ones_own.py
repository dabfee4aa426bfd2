"""A ``mask=`` given to a layer's own ``call`` (Swin's window attention mask,
``(windows, N, N)``, not a time-step mask of the inputs) is an argument of
that layer: as in Keras 3, which warns only when the *inputs* carry a mask,
no "does not support masking" warning is given, by hand or in a graph.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers


class Biased(layers.Layer):
    """y = softmax(x + mask) over the last axis (mask added as given)."""

    def call(self, x, mask=None):
        return torch.softmax(x if mask is None else x + mask, dim=-1)


def test_an_explicit_mask_argument_is_used_without_the_masking_warning():
    x = np.random.default_rng(0).normal(size=(2, 3, 3)).astype("float32")
    mask = np.where(np.eye(3, dtype=bool), -100.0, 0.0).astype("float32")[None]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        got = Biased()(torch.from_numpy(x), mask=torch.from_numpy(mask))
        inputs = keras.Input(shape=(3, 3))
        model = keras.Model(inputs, Biased()(inputs, mask=torch.from_numpy(mask)))
        predicted = model.predict(x, verbose=0)
    s = x + mask
    expected = np.exp(s - s.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(predicted, expected, rtol=1e-5, atol=1e-7)
    assert getattr(got, "_keras_mask", None) is None


class Doubled(layers.Layer):
    """y = 2x."""

    def call(self, x):
        return 2 * x


def test_a_mask_the_inputs_carry_still_warns_when_the_layer_drops_it():
    tokens = torch.tensor([[3, 1, 0], [2, 0, 0]])
    embedded = layers.Embedding(5, 3, mask_zero=True)(tokens)
    with pytest.warns(UserWarning, match=r"\(Doubled\) was given inputs that carry a time-step mask"):
        out = Doubled()(embedded)
    assert getattr(out, "_keras_mask", None) is None
    inputs = keras.Input(shape=(3,), dtype="int32")
    with pytest.warns(UserWarning, match=r"\(Doubled\) was given inputs that carry a time-step mask"):
        Doubled()(layers.Embedding(5, 3, mask_zero=True)(inputs))
