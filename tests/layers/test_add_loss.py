"""Layer.add_loss (Keras 3): what a layer's call adds is in ``layer.losses``
and ``model.losses``, replaced at each outermost call (the model's, or the
layer's own) and added to by every call inside it, and what fit and
evaluate minimize and report; a model compiled without a loss trains on it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet
from brainnet import layers


class Penalty(layers.Layer):
    """Adds 0.1 · Σ x, twice per call (so a call's losses add up)."""

    def call(self, inputs):
        self.add_loss(0.05 * inputs.sum())
        self.add_loss(0.05 * inputs.sum())
        return inputs


class ViaHelper(layers.Layer):
    """Adds its loss from a helper, which its call's code does not name."""

    def call(self, inputs):
        self._penalize(inputs)
        return inputs

    def _penalize(self, inputs):
        self.add_loss(torch.full((2,), 2.5))  # a non-scalar counts by its sum: 5


def test_losses_of_the_last_call_only():
    layer = Penalty()
    layer(torch.ones(2, 3))
    assert [float(v) for v in layer.losses] == pytest.approx([0.3, 0.3])
    layer(torch.zeros(4, 3))  # a new call replaces them
    assert [float(v) for v in layer.losses] == [0.0, 0.0]
    model = brainnet.Sequential([layers.Input(shape=(3,)), layers.Dense(2, kernel_regularizer="l2"), Penalty()])
    model(torch.ones(1, 3))
    assert len(model.losses) == 3  # the kernel's L2 penalty, then the two added


def test_evaluate_reports_the_loss_plus_the_added_ones():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 3)).astype("float32"), rng.normal(size=(8, 2)).astype("float32")
    model = brainnet.Sequential([layers.Input(shape=(3,)), layers.Dense(2), Penalty()])
    model.compile("sgd", "mse")
    out = model.predict(x, verbose=0).astype(np.float64)
    expected = np.mean((y - out) ** 2) + 0.1 * out.sum()  # one batch: its mean loss + 0.1 Σ output
    assert model.evaluate(x, y, batch_size=8, verbose=0) == pytest.approx(expected, rel=1e-5)


def test_a_loss_added_from_a_helper_counts_from_the_first_fit():
    model = brainnet.Sequential([layers.Dense(2, input_shape=(3,)), ViaHelper()])  # never called before fit
    model.compile("sgd", "mse")
    zeros = np.zeros((4, 3), "float32"), np.zeros((4, 2), "float32")
    assert model.fit(*zeros, verbose=0).history["loss"] == [5.0]  # mse 0 + Σ (2.5, 2.5)


def test_compiled_without_a_loss_trains_on_the_added_losses():
    model = brainnet.Sequential([layers.Input(shape=(1,)), layers.Dense(1, use_bias=False), Penalty()])
    model.compile(brainnet.optimizers.SGD(0.01))  # no loss: 0.1 Σ w·x is all there is
    x = np.ones((4, 1), "float32")
    w0 = float(model.layers[0].kernel.detach())
    history = model.fit(x, epochs=1, batch_size=4, verbose=0).history
    assert history["loss"] == [pytest.approx(0.4 * w0)]  # 0.1 · 4 · w
    assert float(model.layers[0].kernel.detach()) == pytest.approx(w0 - 0.01 * 0.4)  # ∂/∂w = 0.1 · 4


def test_add_loss_refuses_a_number_and_an_empty_list_but_takes_a_list_of_tensors():
    class Bad(layers.Layer):
        def __init__(self, loss, **kwargs):
            super().__init__(**kwargs)
            self.loss = loss

        def call(self, inputs):
            self.add_loss(self.loss)
            return inputs

    for loss, got in ((0.5, r"float 0\.5"), ([], "an empty list"), ([torch.ones(()), 2.0], r"float 2\.0")):
        with pytest.raises(ValueError, match=r"Layer 'bad' \(Bad\)\.add_loss: expected a torch tensor \(or a list "
                                             rf"of them\) computed in call\(\) .*got {got}\. Fix: compute the loss "
                                             r"with torch"):
            Bad(loss, name="bad")(torch.ones(1, 2))
    layer = Bad([torch.tensor(1.0), torch.tensor([2.0, 3.0])])
    layer(torch.ones(1, 2))
    assert [t.tolist() for t in layer.losses] == [1.0, [2.0, 3.0]]


def test_compiled_without_a_loss_from_batches_of_inputs_only():
    """Keras takes batches without labels when nothing compiled needs them."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(8, 3)).astype("float32")
    model = brainnet.Sequential([layers.Input(shape=(3,)), layers.Dense(2), Penalty()])
    model.compile("sgd")
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(x)), batch_size=4)
    expected = np.mean([0.1 * model.predict(x[i:i + 4], verbose=0).astype(np.float64).sum() for i in (0, 4)])
    assert model.evaluate(loader, verbose=0) == pytest.approx(expected, rel=1e-5)
    assert model.evaluate(x, batch_size=4, verbose=0) == pytest.approx(expected, rel=1e-5)
    assert np.isfinite(model.fit(loader, verbose=0).history["loss"][0])


class DensePenalty(layers.Layer):
    """y = x W, adding 0.1 · Σ y at each call (Keras 3: every call of a shared layer counts)."""

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], 2), initializer="glorot_uniform")

    def call(self, inputs):
        y = inputs @ self.kernel
        self.add_loss(0.1 * y.sum())
        return y


def test_a_shared_layer_adds_the_losses_of_both_calls_to_model_losses_and_to_fit():
    rng = np.random.default_rng(2)
    x1, x2 = rng.normal(size=(8, 3)).astype("float32"), rng.normal(size=(8, 3)).astype("float32")
    y = rng.normal(size=(8, 2)).astype("float32")
    shared = DensePenalty()
    a, b = layers.Input(shape=(3,)), layers.Input(shape=(3,))
    model = brainnet.Model([a, b], layers.Add()([shared(a), shared(b)]))
    assert model.losses == []  # the trial runs that built the graph leave nothing
    w = shared.get_weights()[0].astype(np.float64)
    ya, yb = x1.astype(np.float64) @ w, x2.astype(np.float64) @ w
    model([x1, x2])
    assert [float(v.detach()) for v in model.losses] == pytest.approx([0.1 * ya.sum(), 0.1 * yb.sum()], rel=1e-5)
    assert [float(v.detach()) for v in shared.losses] == pytest.approx([0.1 * ya.sum(), 0.1 * yb.sum()], rel=1e-5)
    model([x1, x2])  # the next model call starts afresh: still two, not four
    assert len(model.losses) == 2
    model.compile("sgd", "mse")
    expected = np.mean((y - (ya + yb)) ** 2) + 0.1 * (ya.sum() + yb.sum())  # one batch: the loss before the update
    history = model.fit([x1, x2], y, batch_size=8, epochs=1, verbose=0).history
    assert history["loss"] == [pytest.approx(expected, rel=1e-5)]


def test_a_layer_called_twice_inside_a_layer_or_a_shared_model_counts_each_call():
    class Twice(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.inner = Penalty()

        def call(self, inputs):
            return self.inner(inputs) + self.inner(2 * inputs)

    x = np.arange(6, dtype="float32").reshape(2, 3)
    twice = Twice()
    twice(x)
    assert [float(v) for v in twice.losses] == pytest.approx([0.05 * 15, 0.05 * 15, 0.05 * 30, 0.05 * 30])
    inner = brainnet.Sequential([layers.Input(shape=(3,)), Penalty()])
    a = layers.Input(shape=(3,))
    outer = brainnet.Model(a, inner(inner(a)))  # one model applied at two places
    outer(x)
    assert sum(float(v) for v in outer.losses) == pytest.approx(0.1 * 15 * 2)
    inner(2 * x)  # the inner model called alone: its own call starts afresh
    assert sum(float(v) for v in inner.losses) == pytest.approx(0.1 * 30)


def test_a_layer_left_out_of_the_last_outermost_call_keeps_no_losses():
    class Maybe(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.inner, self.use = Penalty(), True

        def call(self, inputs):
            return self.inner(inputs) if self.use else inputs

    layer = Maybe()
    layer(torch.ones(1, 3))
    assert len(layer.losses) == 2
    layer.use = False
    layer(torch.ones(1, 3))  # Keras 3 empties every inner layer's losses at the outermost call
    assert layer.losses == []
