"""``Layer.trainable_variables``: Keras 3's other name for ``trainable_weights``,
the list a hand-written step (``tape.gradient(loss, model.trainable_variables)``
in Keras) takes its gradients for."""

from __future__ import annotations

import numpy as np
import torch

import brainnet as keras
from brainnet import layers


def _model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((3,)), layers.Dense(4), layers.BatchNormalization(), layers.Dense(1)])


def test_trainable_variables_are_the_trainable_weights_and_follow_freezing():
    model = _model()
    assert [id(v) for v in model.trainable_variables] == [id(v) for v in model.trainable_weights]
    assert len(model.trainable_variables) == 6  # kernel, bias; gamma, beta; kernel, bias (not the moving statistics)
    model.layers[0].trainable = False
    assert len(model.trainable_variables) == 4
    assert all(v is not model.layers[0].kernel for v in model.trainable_variables)
    assert model.layers[0].trainable_variables == []


def test_a_step_on_trainable_variables_is_one_sgd_update():
    model = _model()
    before = [v.detach().clone() for v in model.trainable_variables]
    optimizer = keras.optimizers.SGD(learning_rate=0.1)
    x, y = torch.randn(8, 3), torch.randn(8, 1)
    loss = torch.mean((model(x, training=True) - y) ** 2)
    loss.backward()
    grads = [v.grad.clone() for v in model.trainable_variables]
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    for v, old, g in zip(model.trainable_variables, before, grads):
        np.testing.assert_allclose(v.detach().numpy(), (old - 0.1 * g).numpy(), rtol=1e-6, atol=1e-7)
