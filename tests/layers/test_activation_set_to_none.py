"""``layer.activation = None`` after the layer was made: the layer is then
linear, as in Keras 3 (the Grad-CAM example removes the classifier's softmax
with ``model.layers[-1].activation = None``)."""

from __future__ import annotations

import numpy as np
import torch

import brainnet as keras
from brainnet import layers


def test_a_dense_layer_whose_activation_is_set_to_none_computes_x_w_plus_b():
    dense = layers.Dense(3, activation="softmax")
    x = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")
    dense(x)
    dense.activation = None
    kernel, bias = (w.astype("float64") for w in dense.get_weights())
    expected = x.astype("float64") @ kernel + bias  # y = x·W + b, no softmax
    np.testing.assert_allclose(dense(x).detach().numpy(), expected, rtol=1e-5, atol=1e-6)
    assert dense.get_config()["activation"] == "linear"


def test_a_models_last_softmax_removed_gives_logits_and_saves_and_loads(tmp_path):
    model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(6, activation="relu"),
                              layers.Dense(3, activation="softmax")])
    x = np.random.default_rng(1).normal(size=(8, 4)).astype("float32")
    probabilities = model.predict(x, verbose=0)
    model.layers[-1].activation = None
    logits = model.predict(x, verbose=0)
    assert not np.allclose(logits.sum(axis=1), 1.0)
    np.testing.assert_allclose(torch.softmax(torch.from_numpy(logits), dim=1).numpy(), probabilities, rtol=1e-5)
    model.save(tmp_path / "logits.keras")
    np.testing.assert_allclose(keras.models.load_model(tmp_path / "logits.keras").predict(x, verbose=0), logits,
                               rtol=1e-6)


def test_a_conv2d_whose_activation_is_set_to_none_is_linear():
    conv = layers.Conv2D(2, 3, activation="relu")
    x = torch.randn(1, 5, 5, 1)
    conv(x)
    conv.activation = None
    assert (conv(x) < 0).any()  # relu would leave none below zero
    relu = layers.Conv2D(2, 3, activation="relu")
    relu(x)
    relu.set_weights(conv.get_weights())
    torch.testing.assert_close(relu(x), torch.relu(conv(x)))
