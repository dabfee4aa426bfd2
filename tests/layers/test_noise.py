"""GaussianNoise and GaussianDropout: the identity at inference; in training,
the docstring equations against NumPy given the same normal draws (float64),
the noise's mean and standard deviation over many draws, repeatable with a
seed, errors, and a model that trains, saves and loads with them."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from brainnet.layers import Dense, GaussianDropout, GaussianNoise
from brainnet.models import Sequential, load_model
from brainnet.utils import set_random_seed

F64 = torch.float64


def _x(shape=(4, 5, 3), seed=0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(size=shape))  # float64


def _draws(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """The standard normals a layer with ``seed`` draws first (a fresh CPU generator)."""
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=F64).numpy()


@pytest.mark.parametrize("layer", [GaussianNoise(0.3), GaussianDropout(0.4)], ids=["noise", "dropout"])
def test_identity_at_inference(layer):
    x = _x()
    assert layer(x, training=False) is x
    layer.eval()
    assert layer(x) is x


def test_gaussian_noise_equation_against_numpy():
    x = _x()
    y = GaussianNoise(0.3, seed=11)(x, training=True).numpy()
    expected = x.numpy() + 0.3 * _draws(11, tuple(x.shape))  # y = x + σ·z
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_gaussian_dropout_equation_against_numpy(rate):
    x = _x()
    y = GaussianDropout(rate, seed=5)(x, training=True).numpy()
    std = math.sqrt(rate / (1 - rate))
    expected = x.numpy() * (1.0 + std * _draws(5, tuple(x.shape)))  # y = x·n, n ~ N(1, rate/(1 − rate))
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


def test_gaussian_noise_statistics_over_many_draws():
    n = 400_000
    x = torch.full((n,), 2.0, dtype=F64)
    noise = (GaussianNoise(0.5, seed=0)(x, training=True) - x).numpy()
    # mean 0 within 4 standard errors; standard deviation σ within 1 %
    assert abs(noise.mean()) < 4 * 0.5 / math.sqrt(n)
    assert noise.std() == pytest.approx(0.5, rel=0.01)


@pytest.mark.parametrize("rate", [0.2, 0.5])
def test_gaussian_dropout_statistics_over_many_draws(rate):
    n = 400_000
    x = torch.full((n,), 3.0, dtype=F64)
    factor = (GaussianDropout(rate, seed=1)(x, training=True) / x).numpy()
    std = math.sqrt(rate / (1 - rate))  # 0.5 for rate 0.2, 1 for rate 0.5
    assert abs(factor.mean() - 1.0) < 4 * std / math.sqrt(n)  # E[y] = x, as Dropout's
    assert factor.std() == pytest.approx(std, rel=0.01)


@pytest.mark.parametrize("make", [lambda s: GaussianNoise(0.2, seed=s), lambda s: GaussianDropout(0.3, seed=s)],
                         ids=["noise", "dropout"])
def test_same_seed_same_noise_other_seed_other_noise(make):
    x = _x()
    a, b, c = make(7), make(7), make(8)
    first_a, first_b = a(x, training=True), b(x, training=True)
    torch.testing.assert_close(first_a, first_b, rtol=0, atol=0)
    torch.testing.assert_close(a(x, training=True), b(x, training=True), rtol=0, atol=0)  # the sequence too
    assert not torch.equal(first_a, c(x, training=True))
    assert not torch.equal(first_a, a(x, training=True))  # fresh noise every call


@pytest.mark.parametrize("make", [lambda: GaussianNoise(0.2), lambda: GaussianDropout(0.3)], ids=["noise", "dropout"])
def test_without_a_seed_torch_manual_seed_makes_it_repeatable(make):
    x = _x()
    torch.manual_seed(3)
    first = make()(x, training=True)
    torch.manual_seed(3)
    torch.testing.assert_close(make()(x, training=True), first, rtol=0, atol=0)
    assert not torch.equal(first, x)


def test_zero_scale_is_the_identity_in_training():
    x = _x()
    assert GaussianNoise(0.0)(x, training=True) is x
    assert GaussianDropout(0.0)(x, training=True) is x


def test_gaussian_dropout_gradient_is_the_noise():
    x = _x().requires_grad_(True)
    y = GaussianDropout(0.3, seed=2)(x, training=True)
    y.sum().backward()
    torch.testing.assert_close(x.grad, (y / x).detach(), rtol=1e-12, atol=1e-12)  # ∂y/∂x = n


def test_float32_inputs_get_float32_noise():
    y = GaussianNoise(0.1, seed=0)(torch.zeros(3, 4), training=True)
    assert y.dtype == torch.float32 and y.abs().max() > 0


def test_in_a_model_fit_trains_predict_is_clean_and_save_load_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype("float32")
    y = (x.sum(1) > 0).astype("float32")
    set_random_seed(0)
    model = Sequential([GaussianNoise(0.1, seed=1, input_shape=(6,)), Dense(8, activation="relu"),
                        GaussianDropout(0.2, seed=2), Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    history = model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    assert all(math.isfinite(v) for v in history.history["loss"])
    first = model.predict(x, verbose=0)
    np.testing.assert_array_equal(first, model.predict(x, verbose=0))  # no noise at inference
    # without the noise layers, the same weights predict the same values
    plain = Sequential([Dense(8, activation="relu", input_shape=(6,)), Dense(1, activation="sigmoid")])
    plain.build((None, 6))
    plain.set_weights(model.get_weights())
    np.testing.assert_allclose(plain.predict(x, verbose=0), first, rtol=1e-6, atol=1e-7)
    model.save(tmp_path / "noise.brainnet")
    loaded = load_model(tmp_path / "noise.brainnet")
    assert [type(l).__name__ for l in loaded.layers] == ["GaussianNoise", "Dense", "GaussianDropout", "Dense"]
    assert loaded.layers[0].get_config() == model.layers[0].get_config()
    assert loaded.layers[2].seed == 2 and loaded.layers[2].rate == 0.2
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), first)


@pytest.mark.parametrize("layer", [GaussianNoise(0.25, seed=3, name="n"), GaussianDropout(0.4, name="d")],
                         ids=["noise", "dropout"])
def test_config_round_trip(layer):
    again = type(layer).from_config(layer.get_config())
    assert again.get_config() == layer.get_config()


def test_errors():
    for bad in (-0.1, "0.1", None, True, math.inf):
        with pytest.raises(ValueError, match=r"GaussianNoise: expected stddev to be a number ≥ 0, got .*\. "
                                             r"Fix: GaussianNoise\(0\.1\)\."):
            GaussianNoise(bad)
    for bad in (1.0, -0.1, "0.5", None):
        with pytest.raises(ValueError, match=r"GaussianDropout: expected rate in \[0, 1\), got .* \(rate 1 would "
                                             r"make the noise's variance infinite\)\. Fix: GaussianDropout\(0\.2\)\."):
            GaussianDropout(bad)
    with pytest.raises(ValueError, match=r"GaussianNoise: expected seed to be an integer or None, got 1\.5\. "
                                         r"Fix: GaussianNoise\(\.\.\., seed=42\)\."):
        GaussianNoise(0.1, seed=1.5)
    with pytest.raises(TypeError, match=r"Layer 'gd' \(GaussianDropout\): expected floating-point inputs, got "
                                        r"torch\.int64\. Fix: x = x\.astype\('float32'\)"):
        GaussianDropout(0.2, name="gd")(torch.ones(2, 3, dtype=torch.int64), training=True)
