"""AlphaDropout: the identity at inference; in training, its docstring
equation against NumPy given the same uniform draws (float64), one value at
a time:

    m = [u ≥ p],  α' = −λα,  a = ((1 − p)(1 + p·α'²))^(−1/2),  b = −a·α'·p
    y = a·(x·m + α'(1 − m)) + b

with λ, α SELU's constants from the paper (not from brainnet's code); that
standard-normal inputs keep mean 0 and variance 1; noise_shape; seeds;
config, save/load and errors.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch

from brainnet.layers import AlphaDropout, Dense, noise
from brainnet.models import Sequential, load_model
from brainnet.optimizers import Adam

F64 = torch.float64
LAMBDA, ALPHA = 1.0507009873554805, 1.6732632423543772  # Klambauer et al. (2017), eq. (14)


def _x(shape=(4, 5, 3), seed=0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(size=shape))  # float64


def _uniforms(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """The uniforms a layer with ``seed`` draws first (a fresh CPU generator)."""
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=F64).numpy()


def np_alpha_dropout(x: np.ndarray, u: np.ndarray, p: float) -> np.ndarray:
    u = np.broadcast_to(u, x.shape)
    alpha_p = -LAMBDA * ALPHA
    a = 1.0 / math.sqrt((1 - p) * (1 + p * alpha_p ** 2))
    b = -a * alpha_p * p
    y = np.empty_like(x)
    for i in np.ndindex(*x.shape):
        kept = 1.0 if u[i] >= p else 0.0
        y[i] = a * (x[i] * kept + alpha_p * (1 - kept)) + b
    return y


def test_identity_at_inference_and_at_rate_zero():
    x = _x()
    assert AlphaDropout(0.3)(x, training=False) is x
    assert AlphaDropout(0.0)(x, training=True) is x


@pytest.mark.parametrize("rate", [0.05, 0.3])
def test_equation_against_numpy(rate):
    x = _x()
    y = AlphaDropout(rate, seed=5)(x, training=True).numpy()
    np.testing.assert_allclose(y, np_alpha_dropout(x.numpy(), _uniforms(5, tuple(x.shape)), rate),
                               rtol=0, atol=1e-12)


def test_noise_shape_shares_the_mask_along_size_one_axes():
    x = _x((3, 6, 4))
    layer = AlphaDropout(0.4, noise_shape=(None, 1, None), seed=9)
    y = layer(x, training=True).numpy()
    np.testing.assert_allclose(y, np_alpha_dropout(x.numpy(), _uniforms(9, (3, 1, 4)), 0.4), rtol=0, atol=1e-12)
    assert AlphaDropout(0.4, noise_shape=[3, 1, 4], seed=9)(x, training=True).numpy() == pytest.approx(y)


@pytest.mark.parametrize("rate", [0.1, 0.4])
def test_standard_normal_inputs_keep_mean_zero_and_variance_one(rate):
    n = 400_000
    x = torch.randn(n, generator=torch.Generator().manual_seed(0), dtype=F64)
    y = AlphaDropout(rate, seed=1)(x, training=True).numpy()
    assert abs(y.mean()) < 0.01 and y.var() == pytest.approx(1.0, abs=0.01)
    a = 1.0 / math.sqrt((1 - rate) * (1 + rate * (LAMBDA * ALPHA) ** 2))
    dropped = a * -LAMBDA * ALPHA + a * LAMBDA * ALPHA * rate  # a·α' + b
    assert np.isclose(y, dropped, rtol=0, atol=1e-12).mean() == pytest.approx(rate, abs=0.005)


def test_seeds_and_gradient():
    x = _x().requires_grad_(True)
    a, b = AlphaDropout(0.3, seed=7), AlphaDropout(0.3, seed=7)
    first = a(x, training=True)
    torch.testing.assert_close(first, b(x, training=True), rtol=0, atol=0)
    assert not torch.equal(first, a(x, training=True))  # fresh noise every call
    first.sum().backward()
    scale = 1.0 / math.sqrt(0.7 * (1 + 0.3 * (LAMBDA * ALPHA) ** 2))
    kept = _uniforms(7, tuple(x.shape)) >= 0.3
    np.testing.assert_allclose(x.grad.numpy(), scale * kept, rtol=0, atol=1e-12)  # ∂y/∂x = a·m


def test_selu_network_trains_saves_and_loads(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 8)).astype("float32")
    y = (x[:, :4].sum(1) > x[:, 4:].sum(1)).astype("float32")
    torch.manual_seed(0)
    model = Sequential([Dense(32, activation="selu", kernel_initializer="lecun_normal", input_shape=(8,)),
                        AlphaDropout(0.1, seed=3), Dense(1, activation="sigmoid")])
    model.compile(Adam(0.01), "binary_crossentropy", metrics=["accuracy"])
    model.fit(x[:192], y[:192], epochs=20, batch_size=32, verbose=0)
    _, accuracy = model.evaluate(x[192:], y[192:], verbose=0)
    assert accuracy >= 0.85, accuracy
    model.save(tmp_path / "m.brainnet")
    again = load_model(tmp_path / "m.brainnet")
    assert again.layers[1].get_config() == model.layers[1].get_config()
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))


def test_config_round_trip():
    layer = AlphaDropout(0.2, noise_shape=(None, 1, 5), seed=4, name="ad")
    config = json.loads(json.dumps(layer.get_config()))
    assert config == {"name": "ad", "trainable": True, "seed": 4, "rate": 0.2, "noise_shape": [None, 1, 5]}
    assert AlphaDropout.from_config(config).get_config() == config
    assert AlphaDropout(0.1).get_config()["noise_shape"] is None


def test_errors():
    for bad in (1.0, -0.1, "0.5", None):
        with pytest.raises(ValueError, match=re.escape(
                f"AlphaDropout: expected rate in [0, 1), got {bad!r} (rate 1 would drop everything and make a "
                "infinite). Fix: AlphaDropout(0.1);")):
            AlphaDropout(bad)
    for bad in (5, (None, 0), ("1",), (2.5, None)):
        with pytest.raises(ValueError, match=re.escape(
                f"AlphaDropout: expected noise_shape to be None or a tuple of positive ints and Nones, got {bad!r}. "
                "Fix: AlphaDropout(0.1, noise_shape=(None, 1, None))")):
            AlphaDropout(0.1, noise_shape=bad)
    for bad in ((None, 1), (None, 2, None)):
        with pytest.raises(ValueError, match=re.escape(
                "Layer 'ad' (AlphaDropout): expected noise_shape with one entry per axis of the inputs (4, 5, 3), "
                f"each None, 1 or that axis's size, got noise_shape={list(bad)}. Fix: noise_shape=(None, 1, None) "
                "for one mask per sample and feature")):
            AlphaDropout(0.1, noise_shape=bad, name="ad")(_x(), training=True)


def test_docstring_examples_run():
    import doctest

    failures, tried = doctest.testmod(noise)
    assert tried >= 3 and failures == 0
