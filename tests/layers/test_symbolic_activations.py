"""``keras.activations.<name>(x)`` on a functional graph's symbolic tensor, as
Keras 3 allows (the DDPM example's ``activation_fn(t)`` with
``activation_fn=keras.activations.swish``): recorded as an ``Activation``
layer (``Softmax(axis)`` for softmax), replayed as the function on the real
tensor, saved and loaded; and ``activations.swish``, Keras 3's other name
of ``silu``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import activations, layers

NAMES = sorted(set(activations._BY_NAME) - {"linear"})


@pytest.mark.parametrize("name", NAMES)
def test_an_activation_on_a_symbolic_tensor_is_an_activation_layer(name):
    fn = getattr(activations, name)
    inputs = keras.Input(shape=(3, 4))
    out = fn(inputs)
    assert out.shape == (None, 3, 4)
    model = keras.Model(inputs, out)
    recorded = model.layers[-1]
    assert type(recorded).__name__ in ("Activation", "Softmax")
    x = torch.randn(2, 3, 4, dtype=torch.float64).float()
    torch.testing.assert_close(model(x), fn(x))


def test_linear_gives_the_symbolic_tensor_back():
    inputs = keras.Input(shape=(3,))
    assert activations.linear(inputs) is inputs


def test_swish_is_silu_and_is_x_times_sigmoid_x():
    assert activations.swish is activations.silu
    assert activations.get("swish") is activations.swish
    x = np.linspace(-6, 6, 25)
    np.testing.assert_allclose(activations.swish(torch.from_numpy(x)).numpy(), x / (1 + np.exp(-x)), rtol=1e-12)


def test_softmax_over_another_axis_is_a_softmax_layer():
    inputs = keras.Input(shape=(3, 4))
    model = keras.Model(inputs, activations.softmax(inputs, axis=1))
    assert isinstance(model.layers[-1], layers.Softmax) and model.layers[-1].axis == 1
    x = torch.randn(2, 3, 4)
    torch.testing.assert_close(model(x), torch.softmax(x, dim=1))


def test_a_model_built_with_keras_activations_saves_and_loads(tmp_path):
    inputs = keras.Input(shape=(5,))
    x = keras.activations.swish(layers.Dense(4)(inputs))
    outputs = keras.activations.sigmoid(layers.Dense(2)(x))
    model = keras.Model(inputs, outputs)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    data = np.random.default_rng(0).normal(size=(3, 5)).astype("float32")
    np.testing.assert_array_equal(loaded.predict(data, verbose=0), model.predict(data, verbose=0))
    kinds = [type(layer).__name__ for layer in loaded.layers]
    assert kinds.count("Activation") == 2


def test_an_activation_given_other_arguments_on_a_symbolic_tensor_is_refused():
    inputs = keras.Input(shape=(3, 4))
    model = keras.Model(inputs, activations.log_softmax(inputs, axis=-1))  # the last axis: Activation("log_softmax")
    torch.testing.assert_close(model(torch.ones(1, 3, 4)), torch.full((1, 3, 4), -np.log(4.0)))
    with pytest.raises(TypeError, match=r"activations\.relu: expected a symbolic tensor alone \(it becomes "
                                        r"Activation\('relu'\)\), got it with 0\.1\."):
        activations.relu(inputs, 0.1)
    with pytest.raises(TypeError, match=r"activations\.log_softmax: expected a symbolic tensor alone \(it becomes "
                                        r"Activation\('log_softmax'\)\), got it with axis=1\. Fix: layers\.Lambda\("
                                        r"lambda t: activations\.log_softmax\(t, axis=1\)\)\(x\)\."):
        activations.log_softmax(inputs, axis=1)
