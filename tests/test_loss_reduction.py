"""Keras 3's ``reduction`` argument of the loss classes, weights per loss value
(a weight per time step or per token, Keras's temporal sample weights) in
losses, ``fit`` and ``evaluate``, and ``metrics.Mean(values, sample_weight)``,
each against NumPy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers, losses, metrics

rng = np.random.default_rng(0)
PROBS = rng.dirichlet(np.ones(5), size=(4, 3)).astype("float32")  # (N, T, classes)
LABELS = rng.integers(0, 5, size=(4, 3))
TOKEN_LOSSES = -np.log(np.take_along_axis(PROBS.astype("float64"), LABELS[..., None], -1)[..., 0])  # (4, 3)


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "mean", "sum", "mean_with_sample_weight", None, "none"])
def test_each_reduction_against_numpy(reduction):
    loss_fn = losses.SparseCategoricalCrossentropy(reduction=reduction)
    w = (rng.random((4, 3)) < 0.5).astype("float32")
    w[0, 0] = 2.0
    got = loss_fn(LABELS, PROBS, w).numpy()
    weighted = w * TOKEN_LOSSES
    expected = {"sum_over_batch_size": weighted.sum() / 12, "mean": weighted.sum() / 12, "sum": weighted.sum(),
                "mean_with_sample_weight": weighted.sum() / w.sum(), None: weighted, "none": weighted}[reduction]
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    unweighted = loss_fn(LABELS, PROBS).numpy()
    expected = {"sum": TOKEN_LOSSES.sum(), None: TOKEN_LOSSES, "none": TOKEN_LOSSES}.get(reduction, TOKEN_LOSSES.mean())
    np.testing.assert_allclose(unweighted, expected, rtol=1e-5)


def test_one_weight_per_sample_weighs_each_of_its_steps_and_the_fused_path_reduces_alike():
    w = np.array([1.0, 0.0, 2.0, 0.5], dtype="float32")
    for reduction in ("sum_over_batch_size", "sum", "mean_with_sample_weight"):
        loss_fn = losses.SparseCategoricalCrossentropy(reduction=reduction)
        weighted = w[:, None] * TOKEN_LOSSES
        expected = {"sum_over_batch_size": weighted.sum() / 12, "sum": weighted.sum(),
                    "mean_with_sample_weight": weighted.sum() / (3 * w.sum())}[reduction]
        np.testing.assert_allclose(loss_fn(LABELS, PROBS, w).numpy(), expected, rtol=1e-5)
        logits = torch.log(torch.from_numpy(PROBS)) + 0.7  # the same softmax
        np.testing.assert_allclose(loss_fn.from_logits_mean(torch.from_numpy(LABELS), logits,
                                                            torch.from_numpy(w)).numpy(), expected, rtol=1e-5)
    # all weights 0: mean_with_sample_weight gives 0, not NaN
    zero = losses.SparseCategoricalCrossentropy(reduction="mean_with_sample_weight")(LABELS, PROBS, np.zeros((4, 3)))
    assert float(zero) == 0.0
    # every loss class takes it, and writes it in its config only when it is not the default
    for cls in (losses.MeanSquaredError, losses.MeanAbsoluteError, losses.Huber, losses.LogCosh, losses.Hinge,
                losses.SquaredHinge, losses.KLDivergence, losses.BinaryCrossentropy, losses.CategoricalCrossentropy):
        assert "reduction" not in cls().get_config()
        config = cls(reduction="sum").get_config()
        assert config["reduction"] == "sum" and cls(**config).reduction == "sum"
    y, p = np.array([[0.0, 1.0], [1.0, 1.0]]), np.array([[0.5, 0.5], [0.0, 2.0]])
    np.testing.assert_allclose(losses.MeanSquaredError(reduction=None)(y, p).numpy(), [0.25, 1.0], rtol=1e-6)


def test_an_unknown_reduction_is_refused():
    with pytest.raises(ValueError, match=r"SparseCategoricalCrossentropy: expected reduction 'sum_over_batch_size' "
                                         r"\(the default\), 'sum', 'mean', 'mean_with_sample_weight' or None, got "
                                         r"'average'\. Fix: SparseCategoricalCrossentropy\(reduction='sum'\)"):
        losses.SparseCategoricalCrossentropy(reduction="average")
    with pytest.raises(ValueError, match=r"MeanSquaredError: expected reduction .* got \['sum'\]\. Fix:"):
        losses.MeanSquaredError(reduction=["sum"])


def test_weights_that_fit_neither_the_values_nor_the_samples_are_refused():
    with pytest.raises(ValueError, match=r"loss sparse_categorical_crossentropy: expected sample_weight of the loss "
                                         r"values' shape \(4, 3\) \(a weight per loss value\) or one weight per "
                                         r"sample \(4,\), got shape \(4, 2\)\. Fix: give weights of shape \(4, 3\)"):
        losses.SparseCategoricalCrossentropy()(LABELS, PROBS, np.ones((4, 2)))


def _token_model():
    keras.utils.set_random_seed(0)
    inputs = layers.Input((5,), dtype="int64")
    outputs = layers.Dense(7, activation="softmax")(layers.Embedding(7, 4)(inputs))
    model = keras.Model(inputs, outputs)
    model.compile("adam", "sparse_categorical_crossentropy", weighted_metrics=["accuracy"])
    return model


def test_fit_and_evaluate_take_a_weight_per_token():
    """Keras's temporal sample weights: loss Σ w·L / (N·T), weighted accuracy Σ w·[right] / Σ w."""
    model = _token_model()
    x = rng.integers(0, 7, (32, 5))
    y = (x + 1) % 7
    w = (rng.random((32, 5)) < 0.3).astype("float32")
    loss, accuracy = model.evaluate(x, y, sample_weight=w, verbose=0)
    p = model.predict(x, verbose=0).astype("float64")
    token_losses = -np.log(np.take_along_axis(p, y[..., None], -1)[..., 0])
    np.testing.assert_allclose(loss, (w * token_losses).sum() / w.size, rtol=1e-5)
    np.testing.assert_allclose(accuracy, ((p.argmax(-1) == y) * w).sum() / w.sum(), rtol=1e-6)
    # fit trains on the weighted tokens only (here the first of each sequence)
    only_first = np.zeros_like(w)
    only_first[:, 0] = 1.0
    history = model.fit(x, y, sample_weight=only_first, epochs=30, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    with pytest.raises(ValueError, match=r"sample_weight: expected weights ≥ 0, got -1\.0 \(sample 3\)"):
        bad = np.ones_like(w)
        bad[3, 2] = -1.0
        model.fit(x, y, sample_weight=bad, verbose=0)


def test_mean_takes_a_sample_weight_per_value():
    mean = metrics.Mean(name="loss")
    mean.update_state(np.array([[1.0, 2.0], [3.0, 4.0]]), sample_weight=np.array([[1.0, 0.0], [0.0, 3.0]]))
    assert mean.result() == pytest.approx((1.0 + 12.0) / 4.0)
    mean.update_state(torch.tensor([10.0]), sample_weight=torch.tensor([1.0]))
    assert mean.result() == pytest.approx((1.0 + 12.0 + 10.0) / 5.0)
    mean.update_state(np.array([2.0, 4.0]), np.array([1.0]))  # broadcast
    assert mean.result() == pytest.approx((23.0 + 6.0) / 7.0)
    with pytest.raises(ValueError, match=r"Mean 'loss': expected sample_weight of the values' shape \(2,\) \(or one "
                                         r"that broadcasts to it\), got shape \(3,\)\. Fix: one weight per value"):
        mean.update_state(np.array([1.0, 2.0]), sample_weight=np.ones(3))
