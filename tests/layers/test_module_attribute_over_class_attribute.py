"""A layer assigned to an attribute whose name the class also defines (Layer's
``activation = None``, a method's name) is what the attribute reads back, as
in Keras 3. keras.io's traffic-forecasting ``GraphConv`` sets
``self.activation = layers.Activation(activation)`` in ``__init__``; torch
keeps a module only in ``_modules``, which Python reads after the class
attribute, so ``self.activation`` was Layer's None."""

from __future__ import annotations

import numpy as np
import torch

import brainnet as keras
from brainnet import layers


class Scaled(layers.Layer):
    def __init__(self, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.activation = layers.Activation(activation)

    def call(self, x):
        return self.activation(2.0 * x)


def test_a_sub_layer_named_activation_is_the_layer_read_back_and_applied():
    layer = Scaled("relu")
    assert isinstance(layer.activation, layers.Activation)
    assert dict(layer.named_children()) == {"activation": layer.activation}  # still registered with torch
    x = np.array([[-1.0, 0.5, 2.0]], dtype="float32")
    np.testing.assert_allclose(layer(x).detach().numpy(), np.maximum(2 * x, 0))  # y = relu(2x)
    layer.activation = layers.Activation("tanh")  # assigned again: the new layer
    np.testing.assert_allclose(layer(x).detach().numpy(), np.tanh(2 * x), rtol=1e-6)
    layer.activation = None  # torch's rule for a module attribute: set to None
    assert layer.activation is None and layer._modules["activation"] is None


def test_a_sub_layer_named_like_a_method_is_the_layer_read_back():
    class Block(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.update = layers.Dense(2)  # 'update' is also a method name on this class below

        def update(self, x):  # pragma: no cover - shadowed by the instance's layer
            raise AssertionError("the method, not the layer")

        def call(self, x):
            return self.update(x)

    block = Block()
    assert isinstance(block.update, layers.Dense)
    assert block(torch.ones(3, 4)).shape == (3, 2)
    assert [tuple(w.shape) for w in block.trainable_weights] == [(4, 2), (2,)]


def test_a_model_of_the_layer_trains_and_predicts_through_the_sub_layer():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    outputs = layers.Dense(1)(Scaled("relu")(inputs))
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    dense = model.layers[-1]
    w, b = (v.astype("float64") for v in dense.get_weights())
    np.testing.assert_allclose(model.predict(x, verbose=0), np.maximum(2 * x, 0) @ w + b, rtol=1e-5, atol=1e-6)


def test_a_dense_layer_given_a_layer_as_activation_applies_it():
    """``Dense(3, activation=layers.ReLU())``: Keras 3 takes any callable; the layer was silently left out."""
    dense = layers.Dense(3, activation=layers.ReLU())
    x = np.random.default_rng(2).normal(size=(8, 2)).astype("float32")
    kernel, bias = (w.astype("float64") for w in (dense(x), *dense.get_weights())[1:])
    assert isinstance(dense.activation, layers.ReLU)
    np.testing.assert_allclose(dense(x).detach().numpy(), np.maximum(x @ kernel + bias, 0), rtol=1e-5, atol=1e-6)


def test_a_layer_activation_is_saved_as_its_spec_and_loaded_and_cloned(tmp_path):
    """Keras 3 saves a layer given as activation as the layer's spec; brainnet wrote its repr, which no load read."""
    model = keras.Sequential([keras.Input((2,)), layers.Dense(3, activation=layers.LeakyReLU(negative_slope=0.3))])
    spec = model.layers[0].get_config()["activation"]
    assert spec["class_name"] == "LeakyReLU" and spec["config"]["negative_slope"] == 0.3
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    x = np.random.default_rng(3).normal(size=(16, 2)).astype("float32")
    kernel, bias = (w.astype("float64") for w in model.get_weights())
    z = x @ kernel + bias
    want = np.where(z > 0, z, 0.3 * z)  # y = LeakyReLU(x·W + b)
    for m in (model, loaded, clone):
        assert isinstance(m.layers[0].activation, layers.LeakyReLU)
        np.testing.assert_allclose(m.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)
