"""GroupNormalization and UnitNormalization against explicit NumPy loops,
shapes, saving, and their errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainnet.layers import Conv2D, Dense, Flatten, GroupNormalization, UnitNormalization
from brainnet.models import Sequential, load_model


def naive_group_norm(x, groups, gamma, beta, eps, axis=-1):
    """Sample by sample, group by group: the mean and biased variance of every value
    of the group's channels at every position, then γ_c·(x − μ)/√(σ² + ε) + β_c."""
    x = np.moveaxis(x, axis, -1)
    out = np.empty_like(x)
    n, c = x.shape[0], x.shape[-1]
    size = c // groups
    for i in range(n):
        for g in range(groups):
            block = x[i, ..., g * size:(g + 1) * size]
            mu = block.mean()
            var = ((block - mu) ** 2).mean()
            for ch in range(g * size, (g + 1) * size):
                out[i, ..., ch] = gamma[ch] * (x[i, ..., ch] - mu) / np.sqrt(var + eps) + beta[ch]
    return np.moveaxis(out, -1, axis)


@pytest.mark.parametrize("shape, groups, axis", [((2, 5, 5, 6), 3, -1), ((3, 4, 6), 2, -1), ((2, 6, 4, 4), 6, 1),
                                                 ((2, 4, 4, 8), 1, -1), ((2, 7, 4), -1, -1)])
def test_group_normalization_against_a_loop(shape, groups, axis):
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 3.0, size=shape)
    layer = GroupNormalization(groups=groups, axis=axis, epsilon=1e-3)
    layer(torch.from_numpy(x))
    channels = shape[axis]
    gamma, beta = rng.normal(size=channels), rng.normal(size=channels)
    layer.set_weights([gamma, beta])
    got = layer(torch.from_numpy(x)).detach().numpy()
    want = naive_group_norm(x, channels if groups == -1 else groups, gamma, beta, 1e-3, axis)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
    assert layer.compute_output_shape((None,) + shape[1:]) == (None,) + shape[1:]


def test_unit_normalization_against_a_loop():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 4, 5))
    x[0, 0] = 0.0  # a zero vector: the floor 1e-12 on the squared norm keeps it zero, not NaN
    got = UnitNormalization()(torch.from_numpy(x)).numpy()
    want = np.empty_like(x)
    for i in range(3):
        for t in range(4):
            want[i, t] = x[i, t] / np.sqrt(max((x[i, t] ** 2).sum(), 1e-12))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
    both = UnitNormalization(axis=[1, 2])(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(np.sqrt((both[1:] ** 2).sum(axis=(1, 2))), 1.0, rtol=1e-12)


def test_group_normalization_trains_and_saves(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 6, 6, 1)).astype("float32"), rng.integers(0, 2, 32)
    model = Sequential([Conv2D(8, 3, input_shape=(6, 6, 1)), GroupNormalization(groups=4), Flatten(),
                        UnitNormalization(), Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", device="cpu")
    history = model.fit(x, y, epochs=5, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    model.save(tmp_path / "gn.brainnet")
    np.testing.assert_array_equal(load_model(tmp_path / "gn.brainnet").predict(x, verbose=0),
                                  model.predict(x, verbose=0))


def test_group_and_unit_normalization_errors():
    x = torch.zeros(2, 3, 3, 4)
    with pytest.raises(ValueError, match=r"GroupNormalization: expected groups to be a positive int that divides the "
                                         r"channels, or -1 \(one group per channel\), got 0\. Fix: "):
        GroupNormalization(groups=0)
    with pytest.raises(ValueError, match=r"GroupNormalization: expected axis to be an int \(the channel axis\), got "
                                         r"\[1, 2\]\. Fix: GroupNormalization\(axis=-1\)"):
        GroupNormalization(axis=[1, 2])
    with pytest.raises(ValueError, match=r"GroupNormalization: expected epsilon > 0, got 0\. Fix: epsilon=1e-3\."):
        GroupNormalization(epsilon=0)
    with pytest.raises(ValueError, match=r"\(GroupNormalization\) expected groups=3 to divide the 4 channels of inputs "
                                         r"of shape \(2, 3, 3, 4\)\. Fix: groups equal to one of the divisors of 4, "
                                         r"e\.g\. groups=2\."):
        GroupNormalization(groups=3)(x)
    with pytest.raises(ValueError, match=r"\(GroupNormalization\) expected axis to be a channel axis of inputs of "
                                         r"shape \(2, 3, 3, 4\) \(not the batch axis\), got axis=0\. Fix: axis=-1\."):
        GroupNormalization(axis=0)(x)
    with pytest.raises(ValueError, match=r"UnitNormalization: expected axis to be an int or a list of ints, got 'x'\. "
                                         r"Fix: UnitNormalization\(axis=-1\)\."):
        UnitNormalization(axis="x")
    with pytest.raises(ValueError, match=r"\(UnitNormalization\) expected axes of inputs of shape \(2, 3, 3, 4\) other "
                                         r"than the batch axis, got axis=0\. Fix: axis=-1\."):
        UnitNormalization(axis=0)(x)


def test_a_group_of_one_value_gives_beta_as_keras_does():
    layer = GroupNormalization(groups=-1)  # one channel per group, one position: x − μ = 0
    x = torch.tensor([[[5.0, -2.0, 7.0]]])  # (1, 1, 3)
    layer(x, training=True)
    layer.set_weights([np.array([2.0, 3.0, 4.0]), np.array([0.5, -1.0, 1.5])])
    np.testing.assert_array_equal(layer(x, training=True).detach().numpy(), [[[0.5, -1.0, 1.5]]])
