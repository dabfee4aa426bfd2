"""Discretization against NumPy's digitize and a naive loop over the
quantile rule of its docstring, Keras's documented examples, save and load,
and its errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainnet.layers import Dense, Discretization, Input
from brainnet.models import Model, load_model

X = np.array([[-1.5, 1.0, 3.4, .5], [0.0, 3.0, 1.3, 0.0]])


def naive_quantiles(values: np.ndarray, num_bins: int) -> list[float]:
    """Boundary k: where the CDF (i/n at the i-th smallest value, linear in between) reaches k/num_bins."""
    v = sorted(np.float32(values).reshape(-1).tolist())
    n, out = len(v), []
    for k in range(1, num_bins):
        q = k / num_bins
        i = max(1, min(n, int(np.ceil(q * n - 1e-12))))  # first i with i/n ≥ q
        if i == 1:
            out.append(v[0])
        else:  # between (i−1)/n and i/n
            t = (q - (i - 1) / n) * n
            out.append(v[i - 2] + t * (v[i - 1] - v[i - 2]))
    return out


def test_keras_examples():
    assert Discretization(bin_boundaries=[0., 1., 2.])(X).tolist() == [[0, 2, 3, 1], [1, 3, 2, 1]]
    learned = Discretization(num_bins=4, epsilon=0.01)
    learned.adapt(X)
    assert learned(X).tolist() == [[0, 2, 3, 2], [1, 3, 3, 1]]


@pytest.mark.parametrize("mode", ["int", "one_hot", "multi_hot", "count"])
@pytest.mark.parametrize("shape", [(9,), (9, 1), (9, 4)])
def test_matches_digitize(mode, shape):
    rng = np.random.default_rng(3)
    x = rng.normal(size=shape).astype(np.float32)
    boundaries = [-1.0, -0.25, 0.0, 0.5]
    layer = Discretization(bin_boundaries=boundaries, output_mode=mode)
    got = layer(torch.from_numpy(x))
    assert tuple(got.shape) == layer.compute_output_shape(x.shape)
    ids = np.digitize(x, boundaries)
    if mode == "int":
        assert got.dtype == torch.int64
        np.testing.assert_array_equal(got.numpy(), ids)
        return
    eye = np.eye(len(boundaries) + 1)
    if mode == "one_hot":
        want = eye[ids[..., 0] if len(shape) > 1 and shape[-1] == 1 else ids]
    else:
        want = eye[ids].sum(-2)
        want = np.minimum(want, 1) if mode == "multi_hot" else want
    np.testing.assert_array_equal(got.numpy(), want)


@pytest.mark.parametrize("n, num_bins", [(8, 4), (1000, 5), (37, 10), (3, 5)])
def test_adapt_matches_naive_quantiles(n, num_bins):
    values = np.random.default_rng(n).gamma(2.0, size=n)
    layer = Discretization(num_bins=num_bins)
    layer.adapt(values)
    np.testing.assert_allclose(layer.bin_boundaries, naive_quantiles(values, num_bins), rtol=1e-6)
    if n >= num_bins * 50:  # bins of about equal count
        counts = np.bincount(layer(values.astype(np.float32)).numpy(), minlength=num_bins)
        assert counts.min() >= n / num_bins - 2 and counts.max() <= n / num_bins + 2
    batches = Discretization(num_bins=num_bins)
    batches.adapt([values[: n // 2], values[n // 2:]])  # a list of batches: the same values
    assert batches.bin_boundaries == layer.bin_boundaries


def test_adapted_layer_saved_and_loaded(tmp_path):
    values = np.random.default_rng(4).normal(size=(50, 1)).astype(np.float32)
    bins = Discretization(num_bins=4, output_mode="one_hot")
    bins.adapt(values)
    clone = Discretization.from_config(bins.get_config())
    assert clone.bin_boundaries == bins.bin_boundaries and clone.get_config() == bins.get_config()
    inputs = Input(shape=(1,))
    model = Model(inputs, Dense(1)(bins(inputs)))
    model.summary()
    before = model.predict(values, verbose=0)
    model.save(tmp_path / "m.brainnet")
    loaded = load_model(tmp_path / "m.brainnet")
    assert loaded.layers[1].bin_boundaries == bins.bin_boundaries  # after the InputLayer
    np.testing.assert_allclose(loaded.predict(values, verbose=0), before, rtol=1e-6)


@pytest.mark.parametrize("kwargs, message", [
    ({}, r"expected either bin_boundaries or num_bins, got neither.*Fix: Discretization\(bin_boundaries="),
    ({"num_bins": 3, "bin_boundaries": [0.0]}, r"expected either bin_boundaries or num_bins, got both.*Fix: "),
    ({"num_bins": 0}, r"expected num_bins a positive integer, got 0.*Fix: num_bins=4"),
    ({"bin_boundaries": [1.0, 0.0]}, r"expected ascending finite bin_boundaries, got \[1.0, 0.0\].*Fix: sort them"),
    ({"num_bins": 2, "output_mode": "tf_idf"}, r"expected output_mode among 'int', 'one_hot'.*got 'tf_idf'.*Fix: "),
    ({"num_bins": 2, "sparse": True}, r"expected sparse=False, got sparse=True.*Fix: leave sparse out"),
])
def test_argument_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Discretization(**kwargs)


def test_adapt_and_call_errors():
    with pytest.raises(ValueError, match=r"expected num_bins for adapt.*got a layer made with bin_boundaries.*Fix: "
                                         r"Discretization\(num_bins=4\)"):
        Discretization(bin_boundaries=[0.0]).adapt(X)
    with pytest.raises(ValueError, match=r"expected bin boundaries, got a layer with num_bins=3 that was not adapted"
                                         r".*Fix: layer.adapt\(x_train\) first"):
        Discretization(num_bins=3)(X)
    with pytest.raises(ValueError, match=r"expected at least one value, all finite, got 2 values of which 1 NaN.*"
                                         r"Fix: drop or fill"):
        Discretization(num_bins=3).adapt(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match=r"expected numbers to adapt on, got ndarray.*Fix: adapt\(np.asarray"):
        Discretization(num_bins=3).adapt(np.array(["a", "b"]))
