"""Keras 3's ``variables``, ``trainable_variables`` and ``non_trainable_variables``
on every layer and model: the same lists as ``weights``, ``trainable_weights``
and ``non_trainable_weights`` (brainnet has no seed-generator state, which
Keras adds to ``variables``), so a train_step written with
``self.trainable_variables`` (keras.io's "Trainer pattern") trains as the
built-in loop does."""

from __future__ import annotations

import numpy as np
import torch

import brainnet as keras
from brainnet import layers


def _model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input(shape=(3,)), layers.Dense(4), layers.BatchNormalization(), layers.Dense(1)])


def _same(a, b):
    return len(a) == len(b) and all(x is y for x, y in zip(a, b))


def test_the_variables_are_the_weights_and_follow_trainable():
    model = _model()
    assert _same(model.variables, model.weights) and len(model.variables) == 2 + 4 + 2
    assert _same(model.trainable_variables, model.trainable_weights) and len(model.trainable_variables) == 6
    # BatchNormalization's moving mean and variance
    assert _same(model.non_trainable_variables, model.non_trainable_weights)
    assert [tuple(v.shape) for v in model.non_trainable_variables] == [(4,), (4,)]
    model.layers[0].trainable = False
    assert len(model.trainable_variables) == 4 and len(model.non_trainable_variables) == 4
    model.trainable = False
    assert model.trainable_variables == [] and _same(model.non_trainable_variables, model.weights)
    dense = layers.Dense(2)
    assert dense.variables == [] and dense.trainable_variables == []  # not built yet
    dense(torch.zeros(1, 5))
    assert [tuple(v.shape) for v in dense.trainable_variables] == [(5, 2), (2,)]


class _StepWithVariables(keras.Sequential):
    """A train_step as keras.io's "Trainer pattern" writes it, in torch."""

    def train_step(self, data):
        x, y = data
        self.zero_grad()
        loss = self.compute_loss(y=y, y_pred=self(x, training=True))
        loss.backward()
        trainable_vars = self.trainable_variables
        gradients = [v.grad for v in trainable_vars]
        self.optimizer.apply_gradients(zip(gradients, trainable_vars))
        return {"loss": loss}


def test_a_train_step_over_trainable_variables_trains_as_the_builtin_loop():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(32, 3)).astype("float32"), rng.normal(size=(32, 1)).astype("float32")
    builtin = _model()
    own = _StepWithVariables([keras.Input(shape=(3,)), layers.Dense(4), layers.BatchNormalization(), layers.Dense(1)])
    own.set_weights(builtin.get_weights())
    for model in (own, builtin):
        model.compile(keras.optimizers.SGD(learning_rate=0.05), "mse")
        model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for got, want in zip(own.get_weights(), builtin.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
