"""RMSNormalization against a naive NumPy version of its docstring equation,
in float64 (atol=1e-12), and against torch.nn.RMSNorm with copied weights:

    rms(x) = √(mean_axis(x²) + ε),   y = x / rms(x) · scale

the mean taken over the normalized axes of each sample, one group at a time.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch

from brainnet.layers import Dense, Input, RMSNormalization, rms_normalization
from brainnet.models import Model, Sequential, load_model
from brainnet.optimizers import Adam

ATOL = 1e-12


def f64(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape) * 3 + 1


def np_rms_norm(x: np.ndarray, axes: tuple[int, ...], eps: float, scale: np.ndarray) -> np.ndarray:
    """Loop over every group of values that share all the other axes."""
    others = [a for a in range(x.ndim) if a not in axes]
    y = np.empty_like(x)
    for outer in np.ndindex(*[x.shape[a] for a in others]):
        positions = []
        for inner in np.ndindex(*[x.shape[a] for a in axes]):
            index = [0] * x.ndim
            for a, i in zip(others, outer):
                index[a] = i
            for a, i in zip(axes, inner):
                index[a] = i
            positions.append((tuple(index), inner))
        rms = math.sqrt(sum(x[p] ** 2 for p, _ in positions) / len(positions) + eps)
        for p, inner in positions:
            y[p] = x[p] / rms * scale[inner]
    return y


@pytest.mark.parametrize("shape, axis, axes", [
    ((4, 6), -1, (1,)),
    ((2, 3, 5), -1, (2,)),
    ((2, 3, 5), [-2, -1], (1, 2)),
    ((2, 3, 5), 1, (1,)),              # not the last axis: scale (3,) along the time axis
    ((2, 3, 4, 5), [1, 3], (1, 3)),    # axes apart
])
@pytest.mark.parametrize("eps", [1e-6, 0.5])
def test_matches_naive_equation(shape, axis, axes, eps):
    x = f64(*shape)
    layer = RMSNormalization(axis=axis, epsilon=eps)
    layer(torch.from_numpy(x))
    assert tuple(layer.scale.shape) == tuple(shape[a] for a in axes)
    assert np.array_equal(layer.scale.detach().numpy(), np.ones(layer.scale.shape))  # Keras: ones
    scale = f64(*layer.scale.shape, seed=1)
    layer.set_weights([scale])
    y = layer(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(y, np_rms_norm(x, axes, eps, scale), rtol=0, atol=ATOL)
    assert layer.compute_output_shape(shape) == shape


def test_equals_torch_rms_norm_with_copied_weights():
    x = torch.from_numpy(f64(3, 4, 8))
    layer = RMSNormalization(axis=[-2, -1], epsilon=1e-5)
    layer(x)
    layer.set_weights([f64(4, 8, seed=2)])
    reference = torch.nn.RMSNorm((4, 8), eps=1e-5, dtype=torch.float64)
    with torch.no_grad():
        reference.weight.copy_(layer.scale)
    torch.testing.assert_close(layer(x), reference(x), rtol=0, atol=1e-12)


def test_half_precision_is_normalized_in_float32():
    x = torch.tensor([[1e3, 2e3, 3e3]], dtype=torch.float16)  # x² overflows float16 (max 65504)
    y = RMSNormalization()(x)
    assert y.dtype == torch.float16
    want = np.array([1, 2, 3]) / math.sqrt(14 / 3)
    np.testing.assert_allclose(y.detach().float().numpy()[0], want, rtol=1e-3)


def test_in_a_model_get_config_and_save_load(tmp_path):
    layer = RMSNormalization(axis=[1, 2], epsilon=1e-4, name="rms")
    config = json.loads(json.dumps(layer.get_config()))
    assert config["axis"] == [1, 2] and config["epsilon"] == 1e-4 and config["name"] == "rms"
    assert RMSNormalization.from_config(config).get_config() == config
    assert RMSNormalization().get_config()["axis"] == -1 and RMSNormalization().get_config()["epsilon"] == 1e-6

    torch.manual_seed(0)
    inputs = Input(shape=(3, 4))
    norm = RMSNormalization(axis=[1, 2], name="rms")
    model = Model(inputs, Dense(2)(norm(Dense(4)(inputs))))
    norm.set_weights([np.random.default_rng(4).normal(size=(3, 4)).astype("float32")])
    x = np.random.default_rng(3).normal(size=(5, 3, 4)).astype("float32")
    model.save(tmp_path / "m.brainnet")
    again = load_model(tmp_path / "m.brainnet")
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
    np.testing.assert_array_equal(again.get_layer("rms").scale.detach().numpy(), norm.scale.detach().numpy())


def test_it_trains():
    """A Dense → RMSNormalization → Dense regressor fits y = x₀ / rms(x), a target that needs the norm."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 8)).astype("float32") * rng.uniform(0.1, 10, size=(256, 1)).astype("float32")
    y = (x[:, :1] / np.sqrt((x ** 2).mean(axis=1, keepdims=True))).astype("float32")
    torch.manual_seed(0)
    model = Sequential([RMSNormalization(input_shape=(8,)), Dense(16, activation="tanh"), Dense(1)])
    model.compile(Adam(0.01), "mse")
    history = model.fit(x, y, epochs=40, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < 0.02 * history.history["loss"][0], history.history["loss"][::10]


def test_errors():
    with pytest.raises(ValueError, match=re.escape(
            "RMSNormalization: expected axis to be an int or a list of ints, got 'last'. Fix: "
            "RMSNormalization(axis=-1) normalizes the features (the last axis).")):
        RMSNormalization(axis="last")
    with pytest.raises(ValueError, match=re.escape("RMSNormalization: expected axis to be an int or a list")):
        RMSNormalization(axis=[])
    with pytest.raises(ValueError, match=re.escape(
            "RMSNormalization: expected epsilon to be a number ≥ 0, got -1.0. Fix: RMSNormalization(epsilon=1e-6).")):
        RMSNormalization(epsilon=-1.0)
    with pytest.raises(ValueError, match=re.escape(
            "Layer 'r' (RMSNormalization) expected axes of inputs of shape (2, 3, 4) other than the batch axis (0), "
            "got axis=[0, -1]. Fix: axis=-1 for the features, or axes among 1..2 (or -1..-2).")):
        RMSNormalization(axis=[0, -1], name="r")(torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match=re.escape("got axis=3. Fix: axis=-1")):
        RMSNormalization(axis=3, name="r")(torch.zeros(2, 3, 4))


def test_docstring_example_runs():
    import doctest

    failures, tried = doctest.testmod(rms_normalization)
    assert tried > 0 and failures == 0
