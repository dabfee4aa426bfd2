"""ReLU, LeakyReLU and Softmax layers against naive NumPy loops over their
docstring equations, in float64 (ReLU, LeakyReLU: exact; Softmax: atol=1e-12);
their configs and a saved model round trip.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from brainnet.layers import ELU, Activation, Dense, LeakyReLU, PReLU, ReLU, Softmax
from brainnet.models import Sequential, load_model
from brainnet.optimizers import SGD


def f64(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(size=shape) * 3)


def relu_naive(x: np.ndarray, max_value, slope: float, threshold: float) -> np.ndarray:
    """y = min(x, m) if x > θ else α·(x − θ), value by value."""
    y = np.empty_like(x)
    for idx in np.ndindex(*x.shape):
        v = x[idx]
        if v > threshold:
            y[idx] = v if max_value is None else min(v, max_value)
        else:
            y[idx] = slope * (v - threshold)
    return y


@pytest.mark.parametrize("max_value, slope, threshold", [
    (None, 0.0, 0.0), (6.0, 0.0, 0.0), (None, 0.1, 0.0), (2.0, 0.2, 1.0), (None, 0.0, 0.5), (0.5, 0.3, 1.0),
])
def test_relu_matches_naive(max_value, slope, threshold):
    x = f64(3, 4, 5)
    x[0, 0, :2] = torch.tensor([threshold, max_value or 1.0], dtype=torch.float64)  # the edges themselves
    y = ReLU(max_value=max_value, negative_slope=slope, threshold=threshold)(x)
    assert y.dtype == torch.float64
    np.testing.assert_array_equal(y.numpy(), relu_naive(x.numpy(), max_value, slope, threshold))


@pytest.mark.parametrize("slope", [0.3, 0.01, 0.0])
def test_leaky_relu_matches_naive(slope):
    x = f64(4, 6)
    expected = np.array([[v if v >= 0 else slope * v for v in row] for row in x.numpy()])
    np.testing.assert_array_equal(LeakyReLU(slope)(x).numpy(), expected)
    assert LeakyReLU().negative_slope == 0.3  # Keras 3's default


def test_leaky_relu_takes_keras_2_alpha_with_a_warning():
    with pytest.warns(DeprecationWarning, match="alpha= is deprecated"):
        layer = LeakyReLU(alpha=0.2)
    assert layer.negative_slope == 0.2 and "alpha" not in layer.get_config()


def softmax_naive(x: np.ndarray, axis: int) -> np.ndarray:
    """y_i = exp(x_i) / Σ_j exp(x_j) along axis, one slice at a time."""
    moved = np.moveaxis(x, axis, -1)
    out = np.empty_like(moved)
    for idx in np.ndindex(*moved.shape[:-1]):
        e = np.exp(moved[idx] - moved[idx].max())
        out[idx] = e / e.sum()
    return np.moveaxis(out, -1, axis)


@pytest.mark.parametrize("axis", [-1, 1, 2, -2])
def test_softmax_matches_naive(axis):
    x = f64(2, 3, 4)
    y = Softmax(axis=axis)(x)
    np.testing.assert_allclose(y.numpy(), softmax_naive(x.numpy(), axis), rtol=0, atol=1e-12)


def test_softmax_on_the_last_axis_is_the_output_activation_and_fuses_the_loss():
    x = np.random.default_rng(0).normal(size=(20, 4)).astype("float32")
    y = np.arange(20) % 3
    models = []
    for last in (Softmax(), Activation("softmax")):
        torch.manual_seed(0)
        model = Sequential([Dense(3, input_shape=(4,)), last])
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        models.append(model)
    assert models[0].trainer.fused and models[0].output_activation_name == "softmax"
    assert models[0].evaluate(x, y, verbose=0) == pytest.approx(models[1].evaluate(x, y, verbose=0), rel=1e-6)
    assert Softmax(axis=1).activation is None  # another axis is not an output activation


def test_argument_errors():
    with pytest.raises(ValueError, match=re.escape("ReLU: expected max_value to be a number ≥ 0 or None, got -1. "
                                                   "Fix: ReLU(max_value=6.0).")):
        ReLU(max_value=-1)
    with pytest.raises(ValueError, match=r"ReLU: expected threshold to be a number ≥ 0, got None\. "):
        ReLU(threshold=None)
    with pytest.raises(ValueError, match=r"LeakyReLU: expected negative_slope to be a number ≥ 0, got '0.2'\. "
                                         r"Fix: LeakyReLU\(negative_slope=0\.3\)\."):
        LeakyReLU("0.2")
    with pytest.raises(ValueError, match=re.escape("Softmax: expected axis to be an int, got 1.5. Fix: Softmax(axis=-1).")):
        Softmax(axis=1.5)
    with pytest.raises(ValueError, match=re.escape(
            "(Softmax): expected axis from -2 to 1 for inputs of shape (2, 3), got axis=2. Fix: Softmax(axis=-1)")):
        Softmax(axis=2)(torch.zeros(2, 3))


@pytest.mark.parametrize("make", [
    lambda: ReLU(), lambda: ReLU(max_value=6, negative_slope=0.1, threshold=0.5, name="r"),
    lambda: LeakyReLU(0.2), lambda: Softmax(axis=1), lambda: Softmax(),
])
def test_get_config_round_trip(make):
    layer = make()
    config = json.loads(json.dumps(layer.get_config()))
    assert type(layer).from_config(config).get_config() == layer.get_config()


def test_saved_model_comes_back(tmp_path):
    torch.manual_seed(0)
    model = Sequential([Dense(6, input_shape=(4,)), ReLU(max_value=1.0, negative_slope=0.1),
                        Dense(5), LeakyReLU(0.2), Dense(3), Softmax()])
    model.save(tmp_path / "m.brainnet")
    loaded = load_model(tmp_path / "m.brainnet")
    assert [type(layer).__name__ for layer in loaded.layers[1::2]] == ["ReLU", "LeakyReLU", "Softmax"]
    assert loaded.layers[1].get_config() == model.layers[1].get_config()
    x = np.random.default_rng(1).normal(size=(5, 4)).astype("float32")
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


# ------------------------------------------------------------------ ELU, PReLU
@pytest.mark.parametrize("alpha", [1.0, 0.5, 0.0])
def test_elu_matches_naive(alpha):
    x = f64(3, 5)
    expected = np.array([[v if v > 0 else alpha * (np.exp(v) - 1.0) for v in row] for row in x.numpy()])
    np.testing.assert_allclose(ELU(alpha)(x).numpy(), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("shared_axes, alpha_shape", [(None, (4, 3, 2)), ([1, 2], (1, 1, 2)), (3, (4, 3, 1))])
def test_prelu_matches_naive_with_shared_axes(shared_axes, alpha_shape):
    x = f64(5, 4, 3, 2)
    layer = PReLU(alpha_initializer="random_normal", shared_axes=shared_axes).double()
    y = layer(x)
    alpha = layer.alpha.detach().numpy()
    assert alpha.shape == alpha_shape and layer.alpha.requires_grad
    xs = x.numpy()
    for idx in np.ndindex(*xs.shape):
        a = alpha[tuple(0 if alpha_shape[k] == 1 else idx[k + 1] for k in range(3))]
        assert y[idx].item() == (xs[idx] if xs[idx] >= 0 else a * xs[idx])


def test_prelu_starts_as_relu_and_learns_its_slopes():
    x = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
    y = np.where(x >= 0, x, 0.25 * x)  # a leaky target: α should go from 0 towards 0.25
    model = Sequential([PReLU(input_shape=(3,))])
    np.testing.assert_array_equal(model.predict(x), np.maximum(x, 0))  # Keras's zeros initializer
    model.compile(SGD(learning_rate=0.5), "mse")
    model.fit(x, y, epochs=30, batch_size=16, verbose=0)
    np.testing.assert_allclose(model.layers[0].alpha.detach().numpy(), 0.25, atol=0.02)


def test_elu_prelu_config_and_save_load(tmp_path):
    for layer in (ELU(0.5), PReLU(shared_axes=[1]), PReLU(alpha_initializer="ones")):
        config = json.loads(json.dumps(layer.get_config()))
        assert type(layer).from_config(config).get_config() == layer.get_config()
    model = Sequential([Dense(4, input_shape=(3,)), PReLU(alpha_initializer="random_uniform"), ELU(0.7), Dense(2)])
    model.save(tmp_path / "p.brainnet")
    x = np.random.default_rng(2).normal(size=(5, 3)).astype("float32")
    np.testing.assert_array_equal(load_model(tmp_path / "p.brainnet").predict(x), model.predict(x))


def test_elu_prelu_errors():
    with pytest.raises(ValueError, match=re.escape("ELU: expected alpha to be a number ≥ 0, got -1. Fix: ELU(alpha=1.0).")):
        ELU(-1)
    with pytest.raises(ValueError, match="PReLU: expected alpha_initializer among zeros.*got 'zero'.*Fix"):
        PReLU(alpha_initializer="zero")
    with pytest.raises(ValueError, match="expected shared_axes to be None or a list of axes ≥ 1.*got 0"):
        PReLU(shared_axes=0)
    with pytest.raises(ValueError, match=r"expected shared_axes from 1 to 2 for inputs of shape \(2, 3, 4\), got \[3\]"):
        PReLU(shared_axes=3)(torch.ones(2, 3, 4))
    with pytest.raises(ValueError, match=r"axis 1 is None\). Fix: PReLU\(shared_axes=\[1\]\)"):
        PReLU().build_from_shape((None, None, 4))
    layer = PReLU()
    layer(torch.ones(2, 3))
    with pytest.raises(ValueError, match=r"axis 1: expected 3, got 4"):
        layer(torch.ones(2, 4))
