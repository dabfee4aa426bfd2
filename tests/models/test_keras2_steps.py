"""Keras 2's ``self.compiled_loss`` and ``self.compiled_metrics`` inside a
custom ``train_step`` (brainnet/models/_keras2_steps.py): deprecated shims
that warn, compute what ``compute_loss`` and ``compute_metrics`` do, and
record the loss in the "loss" tracker as Keras 2 did."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import brainnet
from brainnet import layers


class Keras2Step(brainnet.Sequential):
    def train_step(self, data):
        x, y = data
        self.zero_grad()
        y_pred = self(x, training=True)
        loss = self.compiled_loss(y, y_pred, regularization_losses=self.losses)
        loss.backward()
        self.optimizer.apply_gradients(zip([v.grad for v in self.trainable_variables], self.trainable_variables))
        self.compiled_metrics.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 4)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int64") + (x[:, 2] > 1).astype("int64")
    return x, y


def _model(cls, regularized=False):
    brainnet.utils.set_random_seed(3)
    reg = brainnet.regularizers.L2(0.01) if regularized else None
    model = cls([brainnet.Input(shape=(4,)), layers.Dense(8, activation="relu", kernel_regularizer=reg),
                 layers.Dense(3, activation="softmax")])
    model.compile(optimizer=brainnet.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


@pytest.mark.parametrize("regularized", [False, True])
def test_a_keras2_step_trains_and_logs_as_the_standard_step(regularized):
    x, y = _data()
    standard = _model(brainnet.Sequential, regularized)
    want = standard.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0).history
    keras2 = _model(Keras2Step, regularized)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = keras2.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0).history
    messages = {str(w.message).split(" (")[0] for w in caught if issubclass(w.category, UserWarning)}
    assert messages == {"`model.compiled_loss()` is deprecated", "`model.compiled_metrics` is deprecated"}
    assert sorted(got) == sorted(want) == ["accuracy", "loss"]
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-5)
    for a, b in zip(standard.get_weights(), keras2.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_compiled_loss_is_the_cross_entropy_and_fills_the_loss_tracker():
    x, y = _data()
    model = _model(Keras2Step)
    with torch.no_grad():
        probs = model(torch.from_numpy(x[:10]))
        with pytest.warns(UserWarning, match="compute_loss"):
            loss = model.compiled_loss(torch.from_numpy(y[:10]), probs)
    p = probs.double().numpy()
    assert float(loss) == pytest.approx(-np.mean(np.log(p[np.arange(10), y[:10]])), rel=1e-5)
    assert float(model.metrics[0].result()) == pytest.approx(float(loss), rel=1e-6)
    with pytest.warns(UserWarning, match="self.metrics"):
        model.compiled_metrics.update_state(torch.from_numpy(y[:10]), probs)
    logs = model.get_metrics_result()
    assert float(logs["accuracy"]) == pytest.approx(np.mean(p.argmax(axis=1) == y[:10]))


def test_compiled_loss_refuses_an_uncompiled_model_and_other_regularization_losses():
    x, y = _data()
    model = Keras2Step([brainnet.Input(shape=(4,)), layers.Dense(3, activation="softmax")])
    probs = model(torch.from_numpy(x[:4]))
    with pytest.warns(UserWarning), pytest.raises(RuntimeError, match="expected a compiled model"):
        model.compiled_loss(torch.from_numpy(y[:4]), probs)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="expected regularization_losses=None or self.losses"):
        model.compiled_loss(torch.from_numpy(y[:4]), probs, regularization_losses=[probs.sum()])
