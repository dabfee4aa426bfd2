"""Metrics a layer keeps itself (a ``Metric`` stored as an attribute and updated
in ``call``), as Keras 3: ``layer.metrics`` lists them, ``model.metrics`` adds
them after the loss tracker and the compiled metrics, and fit and evaluate
report them in the logs by their own names (``val_`` for validation) and reset
them at each epoch and at the start of evaluate."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainnet import metrics
from brainnet.layers import Dense, Layer
from brainnet.models import Model, Sequential
from brainnet.utils import set_random_seed


class Total(metrics.Metric):
    """Σ of every value given since the last reset (a Keras 3-style metric with a variable)."""

    def __init__(self, name: str = "total") -> None:
        super().__init__(name=name)
        self.sum = self.add_variable(name="sum", dtype="float64")

    def update_state(self, values):
        self.sum.assign_add(values.detach().double().sum())

    def result(self):
        return self.sum.value


class InputTotal(Layer):
    """y = x, and Σ x into its own metric."""

    def __init__(self, name=None):
        super().__init__(name=name)
        self.total = Total(name="input_total")

    def call(self, inputs):
        self.total.update_state(inputs)
        return inputs


class Counting(Model):
    """A subclassed model that counts the samples it sees in a metric of its own."""

    def __init__(self):
        super().__init__()
        self.dense = Dense(1)
        self.seen = Total(name="samples_seen")

    def call(self, inputs):
        self.seen.update_state(torch.ones(inputs.shape[0]))
        return self.dense(inputs)


def _data(n, seed):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 3)), rng.normal(size=(n, 1))


def test_layer_metrics_lists_its_own_then_those_inside_each_once():
    outer = InputTotal(name="outer")
    outer.inner = InputTotal(name="inner")
    outer.again = [outer.total]  # the same metric held twice is listed once
    assert [m.name for m in outer.metrics] == ["input_total", "input_total"]
    assert outer.metrics[0] is outer.total and outer.metrics[1] is outer.inner.total
    assert Dense(2).metrics == []
    model = Counting()
    assert model.metrics == [model.seen]  # not compiled: the model's own metrics only (Keras 3)


def test_fit_reports_a_layers_metric_and_resets_it_each_epoch():
    set_random_seed(0)
    x, y = _data(100, 0)
    xv, yv = _data(40, 1)
    model = Sequential([InputTotal(), Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    assert [m.name for m in model.metrics] == ["loss", "compile_metrics", "input_total"]
    history = model.fit(x, y, validation_data=(xv, yv), epochs=3, batch_size=16, verbose=0)
    assert list(history.history) == ["loss", "mae", "input_total", "val_loss", "val_mae", "val_input_total"]
    # each epoch sums x once (reset at its start, validation's own sum apart)
    np.testing.assert_allclose(history.history["input_total"], [x.sum()] * 3, rtol=1e-6)
    np.testing.assert_allclose(history.history["val_input_total"], [xv.sum()] * 3, rtol=1e-6)
    assert model.metrics_names == ["loss", "mae", "input_total"]
    logs = model.evaluate(xv, yv, batch_size=7, verbose=0, return_dict=True)
    assert logs["input_total"] == pytest.approx(xv.sum(), rel=1e-6)  # evaluate starts it over too
    loss, mae, total = model.evaluate(x, y, verbose=0)
    assert total == pytest.approx(x.sum(), rel=1e-6)


def test_a_subclassed_models_own_metric_is_in_the_logs():
    set_random_seed(1)
    x, y = _data(50, 2)
    model = Counting()
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert history.history["samples_seen"] == [50.0, 50.0]
    loss, seen = model.evaluate(x[:30], y[:30], batch_size=4, verbose=0)
    assert seen == 30.0 and model.metrics_names == ["loss", "samples_seen"]
    assert model.get_metrics_result()["samples_seen"] == 30.0


def test_a_custom_train_step_returns_the_layer_metrics_through_compute_metrics():
    class Stepping(Sequential):
        def train_step(self, data):
            return super().train_step(data)

    set_random_seed(2)
    x, y = _data(64, 3)
    model = Stepping([InputTotal(), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    np.testing.assert_allclose(history.history["input_total"], [x.sum()] * 2, rtol=1e-6)
