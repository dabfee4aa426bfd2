"""A layer whose ``build`` takes no shape (``def build(self): self.built =
True``, as keras.io's GRN and VSN example writes for a layer that makes its
sublayers in ``__init__``) is built without one, as Keras 3 does
(brainnet/layers/_shapes.py, ``takes_no_shape``)."""

from __future__ import annotations

import torch

import brainnet as keras
from brainnet import layers


class Doubler(layers.Layer):
    def __init__(self):
        super().__init__()
        self.dense = layers.Dense(3)
        self.builds = 0

    def call(self, inputs):
        return 2 * self.dense(inputs)

    def build(self):
        self.builds += 1
        self.built = True


def test_a_build_without_a_shape_is_called_once_on_a_tensor():
    layer = Doubler()
    out = layer(torch.ones(4, 5))
    assert tuple(out.shape) == (4, 3) and layer.built and layer.builds == 1
    layer(torch.ones(2, 5))
    assert layer.builds == 1
    torch.testing.assert_close(out, 2 * layer.dense(torch.ones(4, 5)))


def test_a_build_without_a_shape_in_a_functional_model():
    inputs = keras.Input(shape=(5,))
    layer = Doubler()
    model = keras.Model(inputs, layer(inputs))
    assert layer.builds == 1 and tuple(model.output.shape) == (None, 3)
    x = torch.randn(6, 5)
    torch.testing.assert_close(model(x), 2 * layer.dense(x))
