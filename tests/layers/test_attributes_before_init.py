"""Attributes a subclass sets before ``super().__init__()``, which Keras 3
takes (keras.io's Switch Transformer sets its router's Dense so) and torch
refuses for a module: kept, readable in ``__init__``, and registered once
the layer exists (brainnet/layers/_tracking.py, ``hold_early``)."""

from __future__ import annotations

import numpy as np
import torch

import brainnet as keras
from brainnet import layers


class Early(layers.Layer):
    def __init__(self, units):
        self.units = units
        self.first = layers.Dense(units)
        self.blocks = [layers.Dense(units), layers.Dense(units)]
        self.scale = torch.nn.Parameter(torch.tensor(2.0))
        self.doubled = self.units * 2  # read back before super().__init__()
        super().__init__(name="early")

    def call(self, x):
        x = self.first(x)
        for block in self.blocks:
            x = block(x)
        return self.scale * x


def test_layers_lists_and_weights_set_before_init_are_the_layers_own():
    keras.utils.set_random_seed(0)
    layer = Early(3)
    assert layer.name == "early" and layer.units == 3 and layer.doubled == 6
    x = torch.randn(4, 5)
    out = layer(x)
    assert len(layer.trainable_weights) == 1 + 3 * 2  # scale, then three kernels and biases
    assert any(w is layer.scale for w in layer.trainable_weights)
    assert sorted(layer.state_dict()) == sorted(["scale", "first.kernel", "first.bias", "blocks.0.kernel",
                                                 "blocks.0.bias", "blocks.1.kernel", "blocks.1.bias"])
    expected = x.numpy().astype("float64")
    for dense in [layer.first, *layer.blocks]:
        expected = expected @ dense.kernel.detach().numpy() + dense.bias.detach().numpy()
    np.testing.assert_allclose(out.detach().numpy(), 2.0 * expected, rtol=1e-5, atol=1e-6)
    assert "_attributes_before_init" not in layer.__dict__


def test_a_model_with_such_a_layer_trains_its_weights():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(shape=(5,)), Early(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    x = np.random.default_rng(0).normal(size=(64, 5)).astype("float32")
    y = x.sum(1, keepdims=True)
    before = [w.detach().clone() for w in model.trainable_weights]
    history = model.fit(x, y, epochs=5, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert all(not torch.equal(a, b) for a, b in zip(before, model.trainable_weights))


class EarlyModel(keras.Model):
    def __init__(self):
        self.blocks = [layers.Dense(3, activation="relu")]
        self.head = layers.Dense(2)
        super().__init__()

    def call(self, x):
        return self.head(self.blocks[0](x))


def test_a_model_subclass_may_set_its_layers_before_init_too():
    keras.utils.set_random_seed(0)
    model = EarlyModel()
    assert tuple(model(torch.zeros(4, 5)).shape) == (4, 2)
    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "Dense"]
    assert len(model.trainable_weights) == 4
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(np.ones((32, 5), "float32"), np.ones((32, 2), "float32"), epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


class EarlyFrozen(layers.Layer):
    def __init__(self):
        self.dense = layers.Dense(2)
        self.trainable = False  # a property: its setter runs once the layer exists, in the order written
        super().__init__()

    def call(self, x):
        return self.dense(x)


def test_a_property_set_before_init_takes_effect_once_the_layer_exists():
    layer = EarlyFrozen()
    layer(torch.zeros(1, 3))
    assert layer.trainable is False and layer.trainable_weights == [] and len(layer.weights) == 2
