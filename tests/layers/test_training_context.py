"""A ``training`` flag given to a call reaches every layer called inside it,
through a layer of one's own whose ``call`` takes no ``training`` argument,
as Keras 3's call context does (brainnet/layers/_training_mode.py,
``CALL_FLAG``): ``model(x, training=True)`` drops units in the Dropout of
keras.io's Gated Residual Network, whose ``call(self, inputs)`` calls it
without a flag. A flag given to the inner call wins, and the flag ends with
the call that was given it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers


class Holder(layers.Layer):
    """call takes no training flag; its Dropout and BatchNormalization are called without one."""

    def __init__(self, inner_training=None):
        super().__init__()
        self.dropout = layers.Dropout(0.5)
        self.norm = layers.BatchNormalization(momentum=0.0)
        self.inner_training = inner_training

    def call(self, inputs):
        if self.inner_training is None:
            return self.dropout(self.norm(inputs))
        return self.dropout(self.norm(inputs), training=self.inner_training)


def test_a_flag_given_to_a_layer_reaches_the_layers_inside_its_call():
    layer = Holder()
    x = torch.randn(64, 8) * 3 + 5
    out = layer(x, training=True).detach()
    assert (out == 0).float().mean() > 0.3  # Dropout(0.5) acted
    kept = out != 0
    # BatchNormalization trained: the batch's statistics normalize, and momentum 0 stores them
    mean, var = x.mean(0).numpy(), x.var(0, unbiased=False).numpy()
    expected = (x.numpy() - mean) / np.sqrt(var + layer.norm.epsilon) * 2  # kept units scaled by 1 / (1 - 0.5)
    np.testing.assert_allclose(out[kept].numpy(), expected[kept.numpy()], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(layer.norm.moving_mean.numpy(), mean, rtol=1e-5)


def test_the_flag_ends_with_the_call():
    layer = Holder()
    x = torch.randn(16, 8)
    layer(x, training=True)
    out = layer(x).detach()  # no flag given: inference, as before the training call
    np.testing.assert_allclose(out.numpy(), layer(x, training=False).detach().numpy())
    assert not (out == 0).any()


def test_the_flag_ends_when_the_call_raises():
    layer = Holder()
    layer(torch.randn(4, 8))
    with pytest.raises(ValueError):
        layer(torch.randn(4, 3), training=True)  # built for 8 features: refused inside the call
    out = layer.dropout(torch.ones(100, 8))
    assert torch.equal(out, torch.ones(100, 8))  # inference again


def test_a_flag_given_to_the_inner_call_wins():
    layer = Holder(inner_training=False)
    x = torch.randn(32, 8)
    assert not (layer(x, training=True) == 0).any()


@pytest.mark.parametrize("kind", ["functional", "sequential"])
def test_a_model_called_with_training_trains_the_layers_inside_a_layer_of_ones_own(kind):
    if kind == "functional":
        inputs = keras.Input(shape=(8,))
        model = keras.Model(inputs, Holder()(inputs))
    else:
        model = keras.Sequential([keras.Input(shape=(8,)), Holder()])
    x = torch.randn(64, 8)
    assert (model(x, training=True) == 0).float().mean() > 0.3
    out = model(x)
    assert not (out == 0).any()
    np.testing.assert_allclose(out.detach().numpy(), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_the_flag_of_a_call_in_one_thread_does_not_reach_a_call_in_another():
    """Keras keeps its call context per thread: while a call with ``training=True`` runs in one
    thread, a Dropout called without ``training=`` in another infers (returns its input)."""
    import threading

    inside, release = threading.Event(), threading.Event()

    class Waiting(layers.Layer):
        def call(self, inputs):  # takes no training: the flag stays in the context while it waits
            inside.set()
            release.wait(10)
            return inputs

    worker = threading.Thread(target=lambda: Waiting()(torch.ones(2, 3), training=True))
    worker.start()
    try:
        assert inside.wait(10)
        x = torch.ones(64, 16)
        assert torch.equal(layers.Dropout(0.5)(x), x)  # this thread's calls take no flag from the other
    finally:
        release.set()
        worker.join(10)
