"""A model that overrides ``test_step`` alone (Keras 3's guide, "Providing your
own evaluation step") is validated by it during ``fit``, as Keras 3's fit
calls ``self.test_step``, while the built-in loop trains it: arrays (one
input, or a dict of inputs and a list of outputs) and a DataLoader. The
reference is ``evaluate`` of the same weights and a NumPy mean."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import brainnet
from brainnet import layers
from brainnet.utils import set_random_seed


class Halved(brainnet.Sequential):
    """Its own test_step reports half the mean absolute error, and counts its batches."""

    def test_step(self, data):
        x, y = data
        self.batches = getattr(self, "batches", 0) + 1
        error = torch.mean(torch.abs(self(x, training=False) - y)) / 2
        self.half_mae.update_state(error)
        return {"half_mae": self.half_mae.result()}


def _data(n, seed):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 3)).astype("float32"), rng.normal(size=(n, 1)).astype("float32")


@pytest.mark.parametrize("as_loader", [False, True])
def test_fit_validates_with_the_models_own_test_step(as_loader):
    set_random_seed(0)
    model = Halved([layers.Input((3,)), layers.Dense(1)])
    model.half_mae = brainnet.metrics.Mean(name="half_mae")
    model.compile("sgd", "mse")
    x, y = _data(32, 0)
    xv, yv = _data(20, 1)
    val = DataLoader(TensorDataset(torch.from_numpy(xv), torch.from_numpy(yv)), batch_size=20) if as_loader \
        else (xv, yv)
    history = model.fit(x, y, batch_size=8, epochs=2, validation_data=val, verbose=0)
    assert "val_half_mae" in history.history and "val_loss" not in history.history  # test_step validated
    w, b = model.layers[-1].get_weights()
    assert history.history["val_half_mae"][-1] == pytest.approx(np.mean(np.abs(xv @ w + b - yv)) / 2, rel=1e-5)
    assert model.evaluate(xv, yv, batch_size=256, verbose=0) == pytest.approx(history.history["val_half_mae"][-1])


class Recording(brainnet.Model):
    """Records the structure of each batch its own test_step gets."""

    def test_step(self, data):
        x, y = data
        self.seen = (sorted(x), [tuple(t.shape) for t in y])
        return super().test_step(data)


def test_a_dict_of_inputs_and_a_list_of_outputs_reach_test_step_as_given():
    set_random_seed(0)
    a, b = layers.Input((3,), name="a"), layers.Input((2,), name="b")
    joined = layers.Concatenate()([a, b])
    model = Recording({"a": a, "b": b}, [layers.Dense(1)(joined), layers.Dense(2)(joined)])
    model.compile("sgd", ["mse", "mse"])
    rng = np.random.default_rng(0)
    x = {"a": rng.normal(size=(10, 3)).astype("float32"), "b": rng.normal(size=(10, 2)).astype("float32")}
    y = [rng.normal(size=(10, 1)).astype("float32"), rng.normal(size=(10, 2)).astype("float32")]
    history = model.fit(x, y, epochs=1, validation_data=(x, y), verbose=0)
    assert model.seen == (["a", "b"], [(10, 1), (10, 2)])
    assert history.history["val_loss"][0] == pytest.approx(model.evaluate(x, y, verbose=0, return_dict=True)["loss"],
                                                           rel=1e-5)
