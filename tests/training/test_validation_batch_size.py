"""fit's ``validation_batch_size`` (Keras 3's argument): validation arrays (or
a ``Dataset``) are evaluated in batches of that size, also with
``validation_steps``, with the built-in evaluation and with a model's own
``test_step``. Left out, arrays validate in batches of 256. The reference is a
model whose inference depends on the batch (it subtracts the batch's mean),
computed in NumPy batch by batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import brainnet
from brainnet import layers
from brainnet.callbacks import Callback
from brainnet.optimizers import SGD
from brainnet.utils import set_random_seed


class Centered(layers.Layer):
    """y = x - mean(x over the batch), in inference too: the output depends on the batch."""

    def call(self, inputs):
        return inputs - inputs.mean(dim=0, keepdim=True)


class CountedBatches(Callback):
    def __init__(self):
        super().__init__()
        self.sizes: list[int] = []
        self.seen = 0

    def on_test_batch_end(self, batch, logs=None):
        self.seen += 1


def _model(cls=brainnet.Sequential):
    set_random_seed(0)
    model = cls([layers.Input((3,)), Centered(), layers.Dense(1)])
    model.compile(SGD(0.0), "mse", device="cpu")  # rate 0: the weights stay, so the reference is exact
    return model


def _data(n, seed):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 3)).astype("float32"), rng.normal(size=(n, 1)).astype("float32")


def _val_loss(model, x, y, batch):
    """Mean squared error over the batches of ``batch`` samples, each centred on its own mean (NumPy)."""
    w, b = (a.astype(np.float64) for a in model.layers[-1].get_weights())
    errors = []
    for start in range(0, len(x), batch):
        xb = x[start:start + batch].astype(np.float64)
        errors.append(((xb - xb.mean(0)) @ w + b - y[start:start + batch]) ** 2)
    return float(np.concatenate(errors).mean())


@pytest.mark.parametrize("size", [4, 5])
def test_validation_arrays_run_in_batches_of_validation_batch_size(size):
    x, y = _data(16, 0)
    xv, yv = _data(12, 1)
    model = _model()
    counted = CountedBatches()
    history = model.fit(x, y, batch_size=8, epochs=1, validation_data=(xv, yv), validation_batch_size=size,
                        callbacks=[counted], verbose=0)
    assert history.history["val_loss"][0] == pytest.approx(_val_loss(model, xv, yv, size), rel=1e-5)
    assert history.history["val_loss"][0] != pytest.approx(_val_loss(model, xv, yv, 12), rel=1e-3)
    assert counted.seen == -(-12 // size)
    assert history.history["val_loss"][0] == pytest.approx(model.evaluate(xv, yv, batch_size=size, verbose=0),
                                                            rel=1e-6)
    default = model.fit(x, y, batch_size=8, epochs=1, validation_data=(xv, yv), verbose=0)  # one batch of 256
    assert default.history["val_loss"][0] == pytest.approx(_val_loss(model, xv, yv, 256), rel=1e-5)


def test_validation_steps_take_the_first_batches_of_validation_batch_size():
    x, y = _data(16, 0)
    xv, yv = _data(12, 1)
    model = _model()
    history = model.fit(x, y, batch_size=8, epochs=1, validation_data=(xv, yv), validation_steps=2,
                        validation_batch_size=3, verbose=0)
    assert history.history["val_loss"][0] == pytest.approx(_val_loss(model, xv[:6], yv[:6], 3), rel=1e-5)


def test_a_dataset_is_batched_with_it_and_a_loader_refuses_it():
    x, y = _data(16, 0)
    xv, yv = _data(12, 1)
    model = _model()
    dataset = TensorDataset(torch.from_numpy(xv), torch.from_numpy(yv))
    counted = CountedBatches()
    history = model.fit(x, y, batch_size=8, epochs=1, validation_data=dataset, validation_batch_size=4,
                        callbacks=[counted], verbose=0)
    assert counted.seen == 3
    assert history.history["val_loss"][0] == pytest.approx(_val_loss(model, xv, yv, 4), rel=1e-5)
    with pytest.raises(ValueError, match=r"fit: expected no validation_batch_size with validation_data a DataLoader, "
                                         r"which makes its own batches, got validation_batch_size=4\. Fix: leave "
                                         r"validation_batch_size out and set the size where the batches are made"):
        model.fit(x, y, epochs=1, validation_data=DataLoader(dataset, batch_size=6), validation_batch_size=4,
                  verbose=0)


@pytest.mark.parametrize("bad", [0, 2.5, True, "64"])
def test_a_bad_validation_batch_size_is_refused(bad):
    x, y = _data(16, 0)
    with pytest.raises(ValueError, match=r"fit: expected validation_batch_size to be a positive integer or None, got "
                                         r".*\. Fix: validation_batch_size=256"):
        _model().fit(x, y, validation_data=(x, y), validation_batch_size=bad, verbose=0)


class OwnTestStep(brainnet.Sequential):
    """Records the size of each batch its own test_step gets (its own train_step
    makes fit run the custom loop, which validates with test_step)."""

    sizes: list[int]

    def train_step(self, data):
        return super().train_step(data)

    def test_step(self, data):
        x, y = data
        self.sizes.append(len(x))
        return super().test_step(data)


def test_a_models_own_test_step_gets_batches_of_validation_batch_size():
    x, y = _data(16, 0)
    xv, yv = _data(10, 1)
    model = _model(OwnTestStep)
    model.sizes = []
    history = model.fit(x, y, batch_size=8, epochs=1, validation_data=(xv, yv), validation_batch_size=4, verbose=0)
    assert model.sizes == [4, 4, 2]
    assert history.history["val_loss"][0] == pytest.approx(_val_loss(model, xv, yv, 4), rel=1e-5)
