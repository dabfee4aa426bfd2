"""Sequence outputs with one target per time step, as a language model has:
labels ``(N, T)`` of class ids against outputs ``(N, T, V)``.

The loss that fit, evaluate and the loss classes report is the mean over all
N·T positions of −log softmax(z)[y]; accuracy is the share of positions whose
argmax is the label. Both are checked against NumPy in float64
(tolerance 1e-5 on float32 models), for logits (``from_logits=True``) and for
a softmax output (the fused path), and labels of the wrong shape are refused.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainnet.layers import Dense, Embedding, Input
from brainnet.losses import SparseCategoricalCrossentropy, sparse_categorical_crossentropy
from brainnet.metrics import SparseCategoricalAccuracy
from brainnet.models import Model

N, T, V = 12, 7, 5


def _numpy_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64)
    log_p = z - z.max(-1, keepdims=True)
    log_p = log_p - np.log(np.exp(log_p).sum(-1, keepdims=True))
    return -np.take_along_axis(log_p, labels[..., None], axis=-1)[..., 0]  # (N, T)


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, V, size=(N, T)), rng.integers(0, V, size=(N, T))


def _model(activation: str | None) -> Model:
    torch.manual_seed(0)
    ids = Input(shape=(T,), dtype="int64")
    return Model(inputs=ids, outputs=Dense(V, activation=activation)(Embedding(V, 3)(ids)))


def test_the_loss_functions_average_over_every_position():
    logits = np.random.default_rng(1).normal(size=(N, T, V))
    _, labels = _data()
    expected = _numpy_cross_entropy(logits, labels)
    per_step = sparse_categorical_crossentropy(torch.tensor(labels), torch.tensor(logits), from_logits=True)
    assert per_step.shape == (N, T)
    np.testing.assert_allclose(per_step.numpy(), expected, atol=1e-10)
    loss = SparseCategoricalCrossentropy(from_logits=True)
    np.testing.assert_allclose(float(loss(torch.tensor(labels), torch.tensor(logits))), expected.mean(), atol=1e-10)
    np.testing.assert_allclose(float(loss.from_logits_mean(torch.tensor(labels), torch.tensor(logits))),
                               expected.mean(), atol=1e-10)


def test_accuracy_counts_positions_not_sequences():
    logits = np.random.default_rng(2).normal(size=(N, T, V))
    _, labels = _data()
    metric = SparseCategoricalAccuracy()
    metric.update_state(torch.tensor(labels), torch.tensor(logits))
    assert metric.result() == pytest.approx(float((logits.argmax(-1) == labels).mean()), abs=1e-12)


@pytest.mark.parametrize(
    "activation, loss",
    [
        pytest.param(None, SparseCategoricalCrossentropy(from_logits=True), id="logits"),
        pytest.param("softmax", "sparse_categorical_crossentropy", id="softmax-fused"),
    ],
)
def test_evaluate_and_fit_report_the_mean_over_every_position(activation, loss):
    x, y = _data()
    model = _model(activation)
    model.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
    outputs = model.predict(x)  # (N, T, V): logits, or probabilities after softmax
    assert outputs.shape == (N, T, V)
    logits = outputs if activation is None else np.log(outputs)
    expected_loss = _numpy_cross_entropy(logits, y).mean()
    expected_accuracy = (outputs.argmax(-1) == y).mean()
    loss_value, accuracy = model.evaluate(x, y, batch_size=5, verbose=0)  # batches of unequal size
    assert loss_value == pytest.approx(expected_loss, abs=1e-5)
    assert accuracy == pytest.approx(expected_accuracy, abs=1e-12)

    history = model.fit(x, y, batch_size=N, epochs=1, shuffle=False, verbose=0)  # one step, on the weights above
    assert history.history["loss"][0] == pytest.approx(expected_loss, abs=1e-5)


@pytest.mark.parametrize("shape", [(N, T + 1), (N,), (N, T, 2)])
def test_labels_not_shaped_like_the_positions_are_refused(shape):
    model = _model(None)
    model.compile(optimizer="adam", loss=SparseCategoricalCrossentropy(from_logits=True))
    x, _ = _data()
    y = np.zeros(shape, dtype="int64")
    with pytest.raises(ValueError, match=rf"y: sparse_categorical_crossentropy expects one class index per output "
                                         rf"position, labels of shape \({N}, {T}\) for outputs \(None, {T}, {V}\), "
                                         rf"got \({', '.join(map(str, shape))},?\)\. Fix: give labels shaped like "
                                         r"the outputs without their last axis"):
        model.fit(x, y, verbose=0)
