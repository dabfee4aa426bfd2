"""RandomGaussianBlur and Equalization: against naive NumPy versions of their
docstring equations (float64; the blur's draws replayed from its seed),
identity at inference for the blur and always on for equalization, seeds,
config, save/load in a model, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from brainnet.layers import Dense, Equalization, Flatten, RandomGaussianBlur
from brainnet.models import Sequential, load_model


def _images(n: int = 4, h: int = 7, w: int = 9, c: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).random((n, h, w, c)))  # float64


# ------------------------------------------------------------------ blur
def _np_gaussian(sigma: float, size: int) -> np.ndarray:
    g = np.array([math.exp(-((t - (size - 1) / 2) ** 2) / (2 * sigma**2)) for t in range(size)])
    return g / g.sum()


def _np_blur(img: np.ndarray, sigma_y: float, sigma_x: float, kh: int, kw: int) -> np.ndarray:
    """b[i, j, c] = Σ_{s,t} g_σy[s]·g_σx[t]·x[i + s, j + t, c], zeros outside, one output at a time."""
    kernel = np.outer(_np_gaussian(sigma_y, kh), _np_gaussian(sigma_x, kw))
    h, w, c = img.shape
    out = np.zeros_like(img)
    for i, j, k in np.ndindex(h, w, c):
        for s in range(kh):
            for t in range(kw):
                ii, jj = i + s - kh // 2, j + t - kw // 2
                if 0 <= ii < h and 0 <= jj < w:
                    out[i, j, k] += kernel[s, t] * img[ii, jj, k]
    return out


def test_blur_matches_the_numpy_equation_with_the_draws_replayed():
    x = _images(n=10)
    seed, (low, high) = 5, (0.5, 2.0)
    y = RandomGaussianBlur((0.5, 0.5), kernel_size=(5, 3), sigma=(low, high), value_range=(0.1, 0.9), seed=seed)(
        x, training=True).numpy()
    g = torch.Generator().manual_seed(seed)  # the layer's draws in its order: p, u, (σ_x, σ_y)
    p = 0.5 + 0.0 * torch.rand((10,), generator=g, dtype=torch.float64)
    apply = (torch.rand((10,), generator=g, dtype=torch.float64) < p).numpy()
    sigma = (low + (high - low) * torch.rand((10, 2), generator=g, dtype=torch.float64) + 1e-6).numpy()
    assert 0 < apply.sum() < 10
    for k in range(10):
        img = x[k].numpy()
        expected = _np_blur(img, sigma[k, 1], sigma[k, 0], 5, 3) if apply[k] else img
        np.testing.assert_allclose(y[k], np.clip(expected, 0.1, 0.9), rtol=0, atol=1e-12)


def test_blur_with_a_tiny_sigma_is_the_image_and_probability_zero_never_blurs():
    x = _images(n=8) * 255
    torch.testing.assert_close(RandomGaussianBlur((1.0, 1.0), 5, sigma=(0.0, 0.0))(x, training=True), x,
                               rtol=0, atol=1e-9)
    assert torch.equal(RandomGaussianBlur(factor=0.0, seed=1)(x, training=True), x)
    y = RandomGaussianBlur(seed=2)(_images(n=64) * 255, training=True)  # p ~ U(0, 1): half on average
    blurred = sum(not torch.equal(y[k], _images(n=64)[k] * 255) for k in range(64))
    assert 16 <= blurred <= 48


def test_blur_identity_at_inference_seeds_per_image_sigma_and_config():
    x = _images(n=16) * 255
    layer = RandomGaussianBlur((1.0, 1.0), kernel_size=5, sigma=(0.3, 3.0), seed=7)
    assert layer(x, training=False) is x
    assert layer.compute_output_shape((None, 7, 9, 2)) == (None, 7, 9, 2)
    y = layer(x, training=True)
    assert torch.equal(RandomGaussianBlur((1.0, 1.0), kernel_size=5, sigma=(0.3, 3.0), seed=7)(x, training=True), y)
    assert not torch.equal(RandomGaussianBlur((1.0, 1.0), kernel_size=5, sigma=(0.3, 3.0), seed=8)(
        x, training=True), y)
    assert not torch.equal(layer(x, training=True), y)  # the next batch gets new draws
    flat = torch.full((16, 7, 9, 1), 100.0, dtype=torch.float64)
    corner = RandomGaussianBlur((1.0, 1.0), 5, sigma=(0.3, 3.0), seed=7)(flat, training=True)[:, 0, 0, 0]
    assert len({round(float(v), 6) for v in corner}) == 16  # the corner's loss differs: one σ per image
    layer.eval()
    assert layer(x) is x
    config = layer.get_config()
    assert config["kernel_size"] == 5 and config["sigma"] == [0.3, 3.0] and config["value_range"] == [0.0, 255.0]
    again = RandomGaussianBlur.from_config(config)
    assert again.get_config() == config
    assert torch.equal(RandomGaussianBlur.from_config(config)(x, training=True), again(x, training=True))


# ------------------------------------------------------------ equalization
def _np_equalize(img: np.ndarray, value_range: tuple[float, float], bins: int) -> np.ndarray:
    """The docstring's equation, per channel, with Python loops over the pixels."""
    low, high = value_range
    out = np.empty_like(img)
    for c in range(img.shape[2]):
        v = (img[:, :, c] - low) / (high - low) * 255.0
        b = np.clip(np.trunc(v * (bins - 1) / 255.0), 0, bins - 1).astype(int)
        h = np.zeros(bins)
        for k in b.flat:
            h[k] += 1
        cdf = np.cumsum(h)
        c0 = cdf[np.flatnonzero(cdf)[0]]
        spread = (cdf[-1] - c0) or 1.0
        if np.count_nonzero(h) <= 1:
            y = v
        else:
            y = np.array([min(max(np.round(255.0 * (cdf[k] - c0) / spread), 0), 255) for k in b.flat]).reshape(v.shape)
        out[:, :, c] = y / 255.0 * (high - low) + low
    return out


@pytest.mark.parametrize("value_range, bins", [((0, 255), 256), ((0, 255), 64), ((0, 1), 256), ((-1, 1), 100)])
def test_equalization_matches_the_numpy_equation(value_range, bins):
    rng = np.random.default_rng(3)
    levels = rng.beta(2, 5, (3, 12, 10, 3)) * 255  # skewed histograms
    levels[1, :, :, 2] = 77.0  # one constant channel: left as it is
    low, high = value_range
    x = torch.from_numpy(np.round(levels) / 255 * (high - low) + low)
    y = Equalization(value_range, bins)(x).numpy()
    for k in range(3):
        np.testing.assert_allclose(y[k], _np_equalize(x[k].numpy(), value_range, bins), rtol=0, atol=1e-9)
    np.testing.assert_array_equal(y[1, :, :, 2], x[1, :, :, 2].numpy())
    assert y.min() == low and y.max() == high  # each equalized channel spans the range


def test_equalization_is_per_image_and_always_on():
    x = torch.from_numpy(np.round(np.random.default_rng(4).random((4, 8, 8, 3)) ** 3 * 255))
    layer = Equalization()
    y = layer(x)
    for k in range(4):  # each image's histogram alone, not the batch's (Keras pools the batch)
        assert torch.equal(layer(x[k:k + 1])[0], y[k])
    assert torch.equal(layer(x, training=False), y) and torch.equal(layer(x, training=True), y)
    layer.eval()
    assert torch.equal(layer(x), y)
    assert layer.compute_output_shape((None, 8, 8, 3)) == (None, 8, 8, 3)
    uint8 = layer(x.to(torch.uint8))
    assert uint8.is_floating_point() and torch.equal(uint8, y.float())
    config = layer.get_config()
    assert config["bins"] == 256 and config["value_range"] == [0.0, 255.0]
    assert Equalization.from_config(config).get_config() == config


def test_equalization_counts_exactly_for_half_precision_images():
    x = torch.round(torch.from_numpy(np.random.default_rng(6).random((2, 80, 80, 1))) ** 2 * 255).float()
    half = Equalization()(x.half())  # 6,400 pixels: more than float16 counts exactly
    assert half.dtype == torch.float16
    torch.testing.assert_close(half.float(), Equalization()(x), rtol=0, atol=0)


# ------------------------------------------------------------------ both
def test_inside_a_model_save_load_and_fit(tmp_path):
    x = (_images(n=8) * 255).round().float().numpy()
    model = Sequential([Equalization(input_shape=(7, 9, 2)), RandomGaussianBlur(kernel_size=5, sigma=(0.5, 1.5)),
                        Flatten(), Dense(3)])
    model.compile("sgd", "mse")
    plain = Sequential([Flatten(input_shape=(7, 9, 2)), Dense(3)])
    plain.set_weights(model.get_weights())
    equalized = Equalization()(torch.from_numpy(x)).numpy()  # predict: equalized, not blurred
    np.testing.assert_allclose(model.predict(x), plain.predict(equalized), rtol=1e-5, atol=1e-4)
    model.fit(x, np.zeros((8, 3), np.float32), epochs=1, verbose=0)
    path = tmp_path / "filter.brainnet"
    model.save(path)
    again = load_model(path)
    assert [l.get_config() for l in again.layers] == [l.get_config() for l in model.layers]
    np.testing.assert_array_equal(again.predict(x), model.predict(x))


def test_errors():
    with pytest.raises(ValueError, match=r"RandomGaussianBlur: expected kernel_size to be an odd positive integer "
                                         r"or a pair \(height, width\) of them, got 4.*Fix: RandomGaussianBlur"):
        RandomGaussianBlur(kernel_size=4)
    with pytest.raises(ValueError, match=r"expected kernel_size.*got \(3, 0\).*Fix"):
        RandomGaussianBlur(kernel_size=(3, 0))
    with pytest.raises(ValueError, match=r"RandomGaussianBlur: expected sigma to be a number s ≥ 0 \(meaning "
                                         r"\(0, s\)\) or a pair.*got -1.*Fix: RandomGaussianBlur\(sigma=1.0\)"):
        RandomGaussianBlur(sigma=-1)
    with pytest.raises(ValueError, match=r"expected sigma.*got \(2.0, 1.0\).*Fix"):
        RandomGaussianBlur(sigma=(2.0, 1.0))
    with pytest.raises(ValueError, match=r"RandomGaussianBlur: expected factor within \[0, 1\].*Fix"):
        RandomGaussianBlur(factor=(0.5, 2.0))
    with pytest.raises(ValueError, match=r"RandomGaussianBlur: expected value_range as a pair.*Fix"):
        RandomGaussianBlur(value_range=(1, 0))
    with pytest.raises(ValueError, match=r"Equalization: expected bins to be an integer ≥ 2, got 1.*"
                                         r"Fix: Equalization\(bins=256\)"):
        Equalization(bins=1)
    with pytest.raises(ValueError, match=r"Equalization: expected value_range as a pair.*Fix"):
        Equalization(value_range=(0,))
    with pytest.raises(ValueError, match="expected input of rank 4"):
        Equalization()(torch.ones(2, 3, 4))
