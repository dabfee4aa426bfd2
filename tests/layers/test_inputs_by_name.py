"""A layer's input named by ``call``'s first argument, as Keras 3 takes it:
``patch_layer(images=x)`` for ``call(self, images)`` (the masked image
modeling example), on tensors, on symbolic tensors, and on built-in layers
(``Dense()(inputs=x)``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers


class Scale(layers.Layer):
    def __init__(self, factor, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, images, offset=0.0):
        return images * self.factor + offset


def test_the_input_by_name_is_the_input_by_position():
    x = torch.arange(6.0).reshape(2, 3)
    layer = Scale(2.0)
    np.testing.assert_array_equal(layer(images=x).numpy(), layer(x).numpy())
    np.testing.assert_array_equal(layer(images=x, offset=1.0).numpy(), x.numpy() * 2 + 1)
    np.testing.assert_array_equal(layer(images=x.numpy()).numpy(), x.numpy() * 2)  # NumPy, as by position
    dense = layers.Dense(4)
    np.testing.assert_allclose(dense(inputs=x).detach().numpy(), dense(x).detach().numpy())


def test_the_input_by_name_records_a_graph_node():
    inputs = keras.Input(shape=(3,))
    model = keras.Model(inputs, Scale(3.0)(images=inputs))
    x = np.ones((2, 3), dtype="float32")
    np.testing.assert_array_equal(model.predict(x, verbose=0), 3 * x)


class Doubler(keras.Model):
    def call(self, data):
        return 2 * data


def test_a_subclassed_model_takes_its_input_by_name_too():
    x = torch.ones(2, 3)
    np.testing.assert_array_equal(Doubler()(data=x).numpy(), 2 * x.numpy())


def test_no_input_is_refused_with_the_name_to_use():
    with pytest.raises(TypeError, match=r"Scale 'scale.*': expected the inputs as the first argument, or by the "
                                        r"name of call's first argument \(images=\.\.\.\), got neither \(keyword "
                                        r"arguments: \['offset'\]\)\. Fix: layer\(x\), or layer\(images=x\)\."):
        Scale(2.0)(offset=1.0)
    with pytest.raises(TypeError, match=r"got neither \(keyword arguments: none\)\. Fix: layer\(x\), or "
                                        r"layer\(images=x\)"):
        Scale(2.0)()
