"""Keras 3: a layer or model whose ``trainable`` is False has no trainable
weights, also those of layers it gets after it was frozen (a sublayer set in
``__init__`` after ``self.trainable = False``, a layer added to a frozen
Sequential); ``trainable = True`` unfreezes them all again. Checked by the
weight lists and by what one optimizer step changes."""

from __future__ import annotations

import numpy as np
import torch

import brainnet
from brainnet import layers


class Wrapper(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.trainable = False
        self.inner = layers.Dense(2)

    def call(self, x):
        return self.inner(x)


def test_a_sublayer_set_after_freezing_is_frozen_and_unfreezes_with_its_owner():
    layer = Wrapper()
    layer(torch.ones(1, 3))
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 2
    assert not layer.inner.trainable
    layer.trainable = True
    assert len(layer.trainable_weights) == 2 and layer.inner.trainable


def test_a_layer_added_to_a_frozen_sequential_does_not_train():
    brainnet.utils.set_random_seed(0)
    model = brainnet.Sequential([layers.Input((4,)), layers.Dense(3)])
    model.trainable = False
    model.add(layers.Dense(2))
    assert model.trainable_weights == [] and len(model.non_trainable_weights) == 4
    head = brainnet.Sequential([layers.Input((4,)), model, layers.Dense(1)])
    head.compile("sgd", "mse")
    before = [w.copy() for w in model.get_weights()]
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    head.fit(x, x[:, :1], epochs=1, verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)  # frozen, the added Dense too
    assert len(head.trainable_weights) == 2  # the head's own Dense trains
