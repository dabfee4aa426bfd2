"""A loss function of the user's (``compile(loss=fn)``) gets the targets as
given, as in Keras: a mixture density network's loss (keras.io's
"Approximating non-Function Mappings") reads ``(N,)`` targets beside its
``(N, 3k)`` parameters (brainnet/training/data.py, ``prepare_labels``).
brainnet's own losses still refuse targets not shaped like the output."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers


def _first_column_mse(y_true, y_pred):
    assert y_true.shape == (y_pred.shape[0],)  # as given
    return torch.mean((y_pred[:, 0] - y_true) ** 2) + 0.0 * y_pred.sum()


def test_a_function_loss_gets_targets_of_another_shape_as_given():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(shape=(2,)), layers.Dense(3)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=_first_column_mse)
    x = np.random.default_rng(0).normal(size=(64, 2)).astype("float32")
    y = (x[:, 0] - x[:, 1]).astype("float32")
    history = model.fit(x, y, batch_size=16, epochs=5, verbose=0)
    assert history.history["loss"][-1] < 0.2 * history.history["loss"][0]
    pred = model.predict(x, verbose=0)
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), np.mean((pred[:, 0] - y) ** 2), rtol=1e-5)


def test_a_function_loss_on_one_unit_gets_the_targets_with_the_outputs_rank():
    seen = []

    def loss(y_true, y_pred):
        seen.append(tuple(y_true.shape))
        return torch.mean((y_true - y_pred) ** 2)

    model = keras.Sequential([keras.Input(shape=(2,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss=loss)
    model.fit(np.zeros((8, 2), "float32"), np.zeros(8, "float32"), batch_size=8, epochs=1, verbose=0)
    assert seen[-1] == (8, 1)  # (N,) beside (N, 1) made (N, 1), as Keras matches their ranks


def test_brainnets_own_losses_still_refuse_targets_of_another_shape():
    model = keras.Sequential([keras.Input(shape=(2,)), layers.Dense(3)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match=r"expects targets shaped like the model output \(8, 3\), got \(8,\)"):
        model.fit(np.zeros((8, 2), "float32"), np.zeros(8, "float32"), verbose=0)
