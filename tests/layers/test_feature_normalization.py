"""Normalization against naive NumPy loops over its docstring equation
(float64, atol 1e-12): adapt's per-feature mean and population variance,
given statistics, invert, ε, batched and iterable adapt; the Keras
regression tutorial's program end to end with save/load; errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainnet.layers import Dense, Normalization
from brainnet.models import Sequential, load_model

F64 = torch.float64


def features(n: int = 50, f: int = 4, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, f)) * np.arange(1, f + 1) * 10 + np.arange(f) * 100


def naive_stats(x: np.ndarray, keep: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """μ and σ² for each index of the kept axes, by explicit sums over every other position."""
    kept_shape = tuple(x.shape[a] for a in keep)
    mean, var = np.zeros(kept_shape), np.zeros(kept_shape)
    for k in np.ndindex(*kept_shape):
        values = []
        for idx in np.ndindex(*x.shape):
            if tuple(idx[a] for a in keep) == k:
                values.append(x[idx])
        total = sum(values)
        mean[k] = total / len(values)
        var[k] = sum((v - mean[k]) ** 2 for v in values) / len(values)
    return mean, var


def naive_normalize(x: np.ndarray, mean: np.ndarray, var: np.ndarray, keep: tuple[int, ...],
                    invert: bool = False) -> np.ndarray:
    """y = (x − μ)/max(√σ², 1e-7) (invert: μ + x·max(√σ², 1e-7)), value by value."""
    y = np.empty_like(x)
    for idx in np.ndindex(*x.shape):
        k = tuple(idx[a] for a in keep)
        std = max(var[k] ** 0.5, 1e-7)
        y[idx] = mean[k] + x[idx] * std if invert else (x[idx] - mean[k]) / std
    return y


@pytest.mark.parametrize("shape, axis, keep", [
    ((30, 4), -1, (1,)),
    ((6, 5, 3), -1, (2,)),
    ((4, 3, 5, 2), (1, 3), (1, 3)),
    ((8, 3), None, ()),
    ((5, 3, 2), 1, (1,)),
])
def test_adapt_and_call_match_the_naive_equation(shape, axis, keep):
    x = np.random.default_rng(1).normal(size=shape) * 5 + 3
    layer = Normalization(axis=axis)
    layer.adapt(x)
    mean, var = naive_stats(x, keep)
    np.testing.assert_allclose(layer.mean.numpy(), mean, rtol=0, atol=1e-5)  # stored in float32
    np.testing.assert_allclose(layer.variance.numpy(), var, rtol=1e-6, atol=1e-5)
    assert int(layer.count) == x.size // max(int(np.prod([shape[a] for a in keep])), 1)
    layer.double()
    z = np.random.default_rng(2).normal(size=shape) * 5 + 3
    y = layer(torch.from_numpy(z))
    assert y.dtype == F64
    np.testing.assert_allclose(y.numpy(), naive_normalize(z, layer.mean.numpy(), layer.variance.numpy(), keep),
                               rtol=0, atol=1e-12)


def test_keras_docstring_values():
    layer = Normalization(axis=-1)
    layer.adapt(np.array([[0.0, 7.0, 4.0], [2.0, 9.0, 6.0], [0.0, 7.0, 4.0], [2.0, 9.0, 6.0]]))
    np.testing.assert_allclose(layer(np.array([[0.0, 7.0, 4.0]])).numpy(), [[-1.0, -1.0, -1.0]], atol=1e-6)
    inverse = Normalization(axis=-1, invert=True)
    inverse.adapt(np.array([[0.0, 7.0, 4.0], [2.0, 9.0, 6.0], [0.0, 7.0, 4.0], [2.0, 9.0, 6.0]]))
    np.testing.assert_allclose(inverse(np.array([[1.0, 2.0, 3.0]])).numpy(), [[2.0, 10.0, 8.0]], atol=1e-6)
    scalar = Normalization(axis=None)
    scalar.adapt(np.array([1.0, 2.0, 3.0, 4.0, 5.0])[:, None])
    np.testing.assert_allclose(scalar(np.array([[1.0], [2.0], [3.0]])).numpy()[:, 0],
                               [-1.4142135, -0.70710677, 0.0], atol=1e-6)


def test_given_mean_and_variance_broadcast_and_invert_round_trip():
    x = torch.from_numpy(np.random.default_rng(3).normal(size=(7, 3)))
    mean, var = [1.0, -2.0, 0.5], [4.0, 0.25, 9.0]
    layer = Normalization(mean=mean, variance=var).double()
    expected = naive_normalize(x.numpy(), np.array(mean), np.array(var), (1,))
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=0, atol=1e-12)
    back = Normalization(mean=mean, variance=var, invert=True).double()
    np.testing.assert_allclose(back(layer(x)).numpy(), x.numpy(), rtol=0, atol=1e-12)
    scalar = Normalization(mean=3.0, variance=2.0).double()  # one number for every feature
    np.testing.assert_allclose(scalar(x).numpy(), (x.numpy() - 3.0) / 2.0 ** 0.5, rtol=0, atol=1e-12)


def test_zero_variance_divides_by_epsilon():
    layer = Normalization(mean=[1.0, 0.0], variance=[0.0, 1e-20]).double()
    y = layer(torch.tensor([[1.0 + 2e-7, 3e-7]], dtype=F64))
    np.testing.assert_allclose(y.numpy(), [[2.0, 3.0]], rtol=1e-6)  # max(√σ², 1e-7) = 1e-7


def test_batched_steps_and_iterable_adapt_equal_the_whole_array():
    x = features(n=103)
    whole = Normalization()
    whole.adapt(x)
    for kwargs in ({"batch_size": 10}, {"batch_size": 1}):
        chunked = Normalization()
        chunked.adapt(x, **kwargs)
        torch.testing.assert_close(chunked.mean, whole.mean)
        torch.testing.assert_close(chunked.variance, whole.variance)
    batches = Normalization()
    batches.adapt([x[:40], x[40:41], x[41:]])
    torch.testing.assert_close(batches.variance, whole.variance)
    pairs = Normalization()
    pairs.adapt((xb, np.zeros(len(xb))) for xb in (x[:50], x[50:]))  # a generator of (x, y) batches
    torch.testing.assert_close(pairs.mean, whole.mean)
    first = Normalization()
    first.adapt(x, batch_size=20, steps=2)  # only the first 40 samples
    mean, var = naive_stats(x[:40], (1,))
    np.testing.assert_allclose(first.mean.numpy(), mean, atol=1e-4)
    assert int(first.count) == 40
    tensor = Normalization()
    tensor.adapt(torch.from_numpy(x))
    torch.testing.assert_close(tensor.mean, whole.mean)


def test_regression_tutorial_end_to_end(tmp_path):
    # tensorflow.org/tutorials/keras/regression, with synthetic features of very different scales.
    x = features(n=160, f=9).astype("float32")
    y = (x - x.mean(0)) / x.std(0) @ np.linspace(-1, 1, 9)[:, None] + 20
    train_features, train_labels = x[:128], y[:128].astype("float32")
    normalizer = Normalization(axis=-1)
    normalizer.adapt(np.array(train_features))
    model = Sequential([normalizer, Dense(64, activation="relu"), Dense(1)])
    model.compile(optimizer="adam", loss="mean_absolute_error")
    before = model.evaluate(x[128:], y[128:], verbose=0)
    history = model.fit(train_features, train_labels, validation_split=0.2, epochs=30, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.evaluate(x[128:], y[128:], verbose=0) < before
    prediction = model.predict(x[128:])
    assert prediction.shape == (32, 1)
    path = tmp_path / "dnn_model.brainnet"
    model.save(path)
    again = load_model(path)
    np.testing.assert_array_equal(again.predict(x[128:]), prediction)
    np.testing.assert_array_equal(again.layers[0].mean.numpy(), normalizer.mean.numpy())
    assert [w.shape for w in normalizer.get_weights()] == [(9,), (9,), ()]


def test_config_round_trip():
    for layer in (Normalization(axis=(1, 2), invert=True), Normalization(mean=[1.0, 2.0], variance=[3.0, 4.0]),
                  Normalization(axis=None)):
        config = layer.get_config()
        assert Normalization.from_config(config).get_config() == config


# ------------------------------------------------------------------ errors
def test_errors():
    with pytest.raises(ValueError, match="expected mean and variance together, got mean without variance.*Fix"):
        Normalization(mean=[0.0])
    with pytest.raises(ValueError, match=r"mean and variance of the same shape, got \(2,\) and \(3,\)"):
        Normalization(mean=[0.0, 1.0], variance=[1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="expected variance ≥ 0"):
        Normalization(mean=0.0, variance=-1.0)
    with pytest.raises(ValueError, match="expected mean to be a finite number"):
        Normalization(mean="zero", variance=1.0)
    with pytest.raises(ValueError, match="expected axis to be an int, a tuple of ints or None, got '-1'"):
        Normalization(axis="-1")
    with pytest.raises(ValueError, match="expected a mean and variance, from adapt.*got neither.*Fix: normalizer.adapt"):
        Normalization()(torch.ones(2, 3))
    layer = Normalization()
    layer.adapt(features(f=4))
    with pytest.raises(ValueError, match=r"expected data of shape \(None, 4\) \(axis 1: 4\), got \(10, 5\).*Fix"):
        layer.adapt(np.ones((10, 5)))
    with pytest.raises(ValueError, match=r"axis -1: expected 4, got 5"):
        layer(torch.ones(2, 5))
    with pytest.raises(ValueError, match="fit the shape \\(3,\\) of axis -1.*got shape \\(2,\\)"):
        Normalization(mean=[0.0, 1.0], variance=[1.0, 1.0])(torch.ones(2, 3))
    with pytest.raises(ValueError, match="expected axes other than the batch axis 0"):
        Normalization(axis=-1).adapt(np.arange(5.0))
    with pytest.raises(ValueError, match="expected axis from -2 to 1.*got axis=3"):
        Normalization(axis=3).adapt(np.ones((4, 2)))
    with pytest.raises(ValueError, match="2 NaN or infinite values.*dropna"):
        Normalization().adapt(np.array([[1.0, np.nan], [np.inf, 2.0]]))
    with pytest.raises(ValueError, match="expected numbers.*pd.get_dummies"):
        Normalization().adapt(np.array([["a", "b"], ["c", "d"]], dtype=object))
    with pytest.raises(ValueError, match="at least one sample, got none"):
        Normalization().adapt(np.ones((0, 3)))
    with pytest.raises(ValueError, match="expected a layer without a given mean and variance for adapt"):
        Normalization(mean=0.0, variance=1.0).adapt(np.ones((3, 2)))
    with pytest.raises(ValueError, match="expected batch_size to be a positive integer or None, got 0"):
        Normalization().adapt(np.ones((3, 2)), batch_size=0)
