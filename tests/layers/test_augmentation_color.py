"""Keras 3's tone augmentation layers (RandomInvert, Solarization,
RandomPosterization, RandomGrayscale, RandomColorDegeneration, AutoContrast) against naive NumPy
versions of their docstring equations (float64), with the random draws
pinned by zero-width factor ranges; per-image draws, identity at inference,
seeds, configs, save/load and errors."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import torch

import brainnet.layers.augmentation_color
from brainnet.layers import (AutoContrast, Dense, Equalization, Flatten, RandomColorDegeneration, RandomGrayscale,
                             RandomInvert, RandomPosterization, Solarization)
from brainnet.models import Sequential, load_model


def _pixels(n: int = 6, h: int = 5, w: int = 4, c: int = 3, seed: int = 0) -> torch.Tensor:
    """Integer pixel values in [0, 255], as float64."""
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (n, h, w, c)).astype(np.float64))


def _random_layers(seed: int | None = 1) -> list:
    return [RandomInvert(seed=seed), Solarization(0.3, 0.8, seed=seed), RandomPosterization(6, seed=seed),
            RandomGrayscale(seed=seed), RandomColorDegeneration(0.8, seed=seed)]


# ------------------------------------------------------- the NumPy references
def np_to_255(x: np.ndarray, r: tuple[float, float]) -> np.ndarray:
    return x if r == (0, 255) else (x - r[0]) / (r[1] - r[0]) * 255.0


def np_from_255(x: np.ndarray, r: tuple[float, float]) -> np.ndarray:
    return x if r == (0, 255) else x / 255.0 * (r[1] - r[0]) + r[0]


def np_solarize(img: np.ndarray, add: float, threshold: float, r: tuple[float, float]) -> np.ndarray:
    """s = clip(x̂ + a, 0, 255); ŷ = s if s < t else 255 − s, value by value."""
    out = np.empty_like(img)
    scaled = np_to_255(img, r)
    for idx in np.ndindex(*img.shape):
        s = min(max(scaled[idx] + add, 0.0), 255.0)
        out[idx] = s if s < threshold else 255.0 - s
    return np_from_255(out, r)


def np_posterize(img: np.ndarray, bits: int, r: tuple[float, float]) -> np.ndarray:
    """Keep the top ``bits`` of each 8-bit value: integer shifts, value by value."""
    out = np.empty_like(img)
    scaled = np_to_255(img, r)
    shift = 8 - bits
    for idx in np.ndindex(*img.shape):
        byte = int(np.floor(min(max(scaled[idx], 0.0), 255.0)))
        out[idx] = (byte >> shift) << shift
    return np_from_255(out, r)


def np_gray(img: np.ndarray) -> np.ndarray:
    out = np.empty_like(img)
    for i, j in np.ndindex(*img.shape[:2]):
        out[i, j, :] = 0.2989 * img[i, j, 0] + 0.5870 * img[i, j, 1] + 0.1140 * img[i, j, 2]
    return out


def np_autocontrast(img: np.ndarray, r: tuple[float, float]) -> np.ndarray:
    out = img.copy()
    for c in range(img.shape[2]):
        lo, hi = img[:, :, c].min(), img[:, :, c].max()
        if hi > lo:
            for i, j in np.ndindex(*img.shape[:2]):
                out[i, j, c] = r[0] + (r[1] - r[0]) * min(max((img[i, j, c] - lo) / (hi - lo), 0.0), 1.0)
    return out


# ------------------------------------------------------------- all layers
@pytest.mark.parametrize("layer", _random_layers(), ids=lambda l: type(l).__name__)
def test_identity_at_inference_random_per_image_in_training(layer):
    x = _pixels(n=16)
    assert layer(x, training=False) is x
    layer.eval()
    assert layer(x) is x
    y = layer(x, training=True)
    assert y.shape == x.shape and y.dtype == x.dtype
    changed = [not torch.equal(y[k], x[k]) for k in range(16)]
    assert 2 <= sum(changed)  # per-image draws
    assert layer.compute_output_shape((None, 5, 4, 3)) == (None, 5, 4, 3)


@pytest.mark.parametrize("index", range(5))
def test_same_seed_same_output_other_seed_other_output(index):
    x = _pixels(n=16)
    a, b, c = _random_layers(7)[index], _random_layers(7)[index], _random_layers(8)[index]
    ya = a(x, training=True)
    assert torch.equal(ya, b(x, training=True))
    assert not torch.equal(ya, c(x, training=True))
    assert not torch.equal(a(x, training=True), ya)  # the next batch gets new draws


def test_configs_and_save_load(tmp_path):
    layers = [RandomInvert((0.2, 0.6), value_range=(0, 1), seed=1), Solarization((0.1, 0.2), 0.5, (0, 1), seed=2),
              RandomPosterization((3, 5), value_range=(-1, 1), seed=3), RandomGrayscale(0.3, seed=4),
              RandomColorDegeneration((0.2, 0.7), value_range=(0, 1), seed=5), AutoContrast(value_range=(0, 1))]
    for layer in layers:
        config = layer.get_config()
        assert type(layer).from_config(config).get_config() == config
    x = (_pixels(n=8) / 255).float().numpy()
    model = Sequential([AutoContrast((0, 1), input_shape=(5, 4, 3)), *layers[:5], Flatten(), Dense(2)])
    model.compile("sgd", "mse")
    model.fit(x, np.zeros((8, 2), np.float32), epochs=1, verbose=0)
    path = tmp_path / "tone.brainnet"
    model.save(path)
    again = load_model(path)
    assert [l.get_config() for l in again.layers] == [l.get_config() for l in model.layers]
    np.testing.assert_array_equal(again.predict(x), model.predict(x))


def test_docstring_examples():
    failures, tried = doctest.testmod(brainnet.layers.augmentation_color)
    assert tried >= 10 and failures == 0


# ------------------------------------------------------------------ RandomInvert
@pytest.mark.parametrize("value_range", [(0, 255), (0, 1), (-1, 1)])
def test_invert_matches_the_equation(value_range):
    x = _pixels().numpy() / 255 * (value_range[1] - value_range[0]) + value_range[0]
    t = torch.from_numpy(x)
    np.testing.assert_array_equal(RandomInvert((1.0, 1.0), value_range)(t, training=True).numpy(),
                                  value_range[1] - x)
    assert torch.equal(RandomInvert(0.0, value_range)(t, training=True), t)  # p = 0


def test_invert_each_image_all_or_nothing_with_probability_factor():
    x = _pixels(n=200, h=2, w=2)
    y = RandomInvert((0.5, 0.5), seed=3)(x, training=True)
    inverted = [torch.equal(y[k], 255 - x[k]) for k in range(200)]
    kept = [torch.equal(y[k], x[k]) for k in range(200)]
    assert all(a or b for a, b in zip(inverted, kept))
    assert 70 <= sum(inverted) <= 130


# ------------------------------------------------------------------ Solarization
@pytest.mark.parametrize("value_range", [(0, 255), (0, 1)])
@pytest.mark.parametrize("add,threshold", [(0.0, 0.0), (0.0, 0.5), (0.2, 0.6), (0.9, 1.0)])
def test_solarization_matches_the_equation(value_range, add, threshold):
    x = _pixels().numpy() / 255 * (value_range[1] - value_range[0]) + value_range[0]
    layer = Solarization((add, add), (threshold, threshold), value_range)
    y = layer(torch.from_numpy(x), training=True).numpy()
    np.testing.assert_allclose(y, np_solarize(x, 255 * add, 255 * threshold, value_range), rtol=0, atol=1e-12)


def test_solarization_defaults_invert_everything_and_draw_per_image():
    x = _pixels()
    np.testing.assert_array_equal(Solarization()(x, training=True).numpy(), 255 - x.numpy())
    y = Solarization(threshold_factor=1.0, seed=0)(x, training=True).numpy()
    xs = x.numpy()
    for k in range(6):  # each image: one threshold t, values below it kept, others inverted
        kept = y[k] == xs[k]
        assert np.all(kept | (y[k] == 255 - xs[k]))
        if kept.any() and (~kept).any():
            assert xs[k][kept].max() <= xs[k][~kept & (xs[k] != 127.5)].min()


# ------------------------------------------------------------------ RandomPosterization
@pytest.mark.parametrize("value_range", [(0, 255), (0, 1)])
@pytest.mark.parametrize("bits", [1, 3, 8])
def test_posterization_matches_the_equation(value_range, bits):
    x = _pixels().numpy() / 255 * (value_range[1] - value_range[0]) + value_range[0]
    y = RandomPosterization((bits, bits), value_range)(torch.from_numpy(x), training=True).numpy()
    np.testing.assert_allclose(y, np_posterize(x, bits, value_range), rtol=0, atol=1e-12)


def test_posterization_draws_bits_from_one_to_factor_per_image():
    x = _pixels(n=200, h=4, w=4)
    y = RandomPosterization(4, seed=5)(x, training=True).numpy()
    drawn = []
    for k in range(200):
        matches = [b for b in range(1, 9) if np.array_equal(y[k], np_posterize(x[k].numpy(), b, (0, 255)))]
        drawn.append(min(matches))  # fewer bits can coincide with more on some images: take the smallest
    assert set(drawn) == {1, 2, 3, 4}


# ------------------------------------------------------------------ RandomGrayscale
def test_grayscale_matches_the_equation_and_keeps_three_channels():
    x = _pixels()
    y = RandomGrayscale(1.0)(x, training=True).numpy()
    np.testing.assert_allclose(y, np.stack([np_gray(img) for img in x.numpy()]), rtol=0, atol=1e-12)
    assert torch.equal(RandomGrayscale(0.0)(x, training=True), x)
    z = RandomGrayscale(0.5, seed=2)(_pixels(n=100, h=2, w=2), training=True)
    gray = [bool((z[k] == z[k, :, :, :1]).all()) for k in range(100)]
    assert 30 <= sum(gray) <= 70


# ------------------------------------------------------------------ RandomColorDegeneration
def np_degenerate(img: np.ndarray, f: float, r: tuple[float, float]) -> np.ndarray:
    """y = clip(x + f·(g − x), r₀, r₁), g the luma (the image itself with one channel), pixel by pixel."""
    out = np.empty_like(img)
    for i, j in np.ndindex(*img.shape[:2]):
        g = img[i, j, 0] if img.shape[2] == 1 else 0.2989 * img[i, j, 0] + 0.5870 * img[i, j, 1] + 0.1140 * img[i, j, 2]
        for c in range(img.shape[2]):
            out[i, j, c] = min(max(img[i, j, c] + f * (g - img[i, j, c]), r[0]), r[1])
    return out


@pytest.mark.parametrize("f", [0.0, 0.35, 1.0])
def test_color_degeneration_matches_the_equation_at_a_pinned_factor(f):
    x = _pixels()
    y = RandomColorDegeneration((f, f))(x, training=True).numpy()
    np.testing.assert_allclose(y, np.stack([np_degenerate(img, f, (0, 255)) for img in x.numpy()]), rtol=0, atol=1e-9)
    if f == 1.0:  # wholly gray: the three channels agree
        assert np.allclose(y, y[..., :1])
    unit = RandomColorDegeneration((f, f), value_range=(0, 1))(x / 255 * 1.2 - 0.1, training=True).numpy()
    want = np.stack([np_degenerate(img, f, (0, 1)) for img in x.numpy() / 255 * 1.2 - 0.1])
    np.testing.assert_allclose(unit, want, rtol=0, atol=1e-12)  # clipped to the range
    assert unit.min() >= 0 and unit.max() <= 1


def test_color_degeneration_draws_f_per_image_with_the_draws_replayed():
    x = _pixels(n=40)
    y = RandomColorDegeneration((0.2, 0.9), seed=11)(x, training=True).numpy()
    u = torch.rand(40, generator=torch.Generator().manual_seed(11), dtype=torch.float64).numpy()  # its first draws
    f = 0.2 + 0.7 * u
    for n in range(40):
        np.testing.assert_allclose(y[n], np_degenerate(x[n].numpy(), f[n], (0, 255)), rtol=0, atol=1e-9)
    assert f.std() > 0.1  # one f per image, not one for the batch
    gray = _pixels(c=1)  # one channel: already gray, so kept as it is
    assert torch.equal(RandomColorDegeneration((1.0, 1.0))(gray, training=True), gray)


# ------------------------------------------------------------------ AutoContrast
@pytest.mark.parametrize("value_range", [(0, 255), (0, 1), (-1, 1)])
def test_autocontrast_matches_the_equation_in_training_and_inference(value_range):
    x = _pixels().numpy() / 255 * 0.5 * (value_range[1] - value_range[0]) + value_range[0] + 0.1
    x[2, :, :, 1] = value_range[0] + 0.3  # a constant channel stays as it is
    layer = AutoContrast(value_range)
    expected = np.stack([np_autocontrast(img, value_range) for img in x])
    for training in (False, True):
        np.testing.assert_allclose(layer(torch.from_numpy(x), training=training).numpy(), expected,
                                   rtol=0, atol=1e-12)
    u8 = AutoContrast()(torch.tensor([[[[10], [60]]]], dtype=torch.uint8))
    assert u8.dtype == torch.get_default_dtype() and u8.flatten().tolist() == [0.0, 255.0]


# ------------------------------------------------------------------ errors
def test_errors():
    with pytest.raises(ValueError, match=r"RandomInvert: expected factor within \[0, 1\] \(a number f means "
                                         r"\(0, f\)\), got 1.5\. Fix: RandomInvert\(factor=0.5\)"):
        RandomInvert(1.5)
    with pytest.raises(ValueError, match=r"Solarization: expected threshold_factor within \[0, 1\].*got "
                                         r"\(-0.1, 0.5\)\. Fix: Solarization\(threshold_factor=0.5\)"):
        Solarization(threshold_factor=(-0.1, 0.5))
    with pytest.raises(ValueError, match=r"Solarization: expected value_range as a pair \(low, high\) with low < "
                                         r"high, got \(1, 0\)\. Fix: value_range=\(0, 255\) for raw pixels"):
        Solarization(value_range=(1, 0))
    for bad in (0, 9, 2.5, (5, 3), (1, 2, 3)):
        with pytest.raises(ValueError, match=r"RandomPosterization: expected factor to be the number of bits to "
                                             r"keep, an integer in \[1, 8\].*Fix: RandomPosterization\(4\)"):
            RandomPosterization(bad)
    with pytest.raises(ValueError, match=r"RandomGrayscale: expected factor to be a probability in \[0, 1\], got "
                                         r"2\. Fix: RandomGrayscale\(0.2\)"):
        RandomGrayscale(2)
    with pytest.raises(ValueError, match=r"\(RandomGrayscale\): expected RGB images with 3 channels, got 1 "
                                         r"channel\(s\) in shape \(2, 3, 3, 1\)\. Fix: use it on colour images"):
        RandomGrayscale(1.0)(torch.ones(2, 3, 3, 1), training=True)
    with pytest.raises(ValueError, match=r"RandomColorDegeneration: expected factor within \[0, 1\] \(a number f "
                                         r"means \(0, f\)\), got -0.5\. Fix: RandomColorDegeneration\(factor=0.5\)"):
        RandomColorDegeneration(-0.5)
    with pytest.raises(ValueError, match=r"RandomColorDegeneration: expected value_range as a pair"):
        RandomColorDegeneration(0.5, value_range=(255, 0))
    with pytest.raises(ValueError, match=r"\(RandomColorDegeneration\): expected RGB images with 3 channels \(or "
                                         r"gray ones with 1\), got 2 channels in shape \(2, 3, 3, 2\)\. Fix: use it "
                                         r"on RGB or one-channel images only"):
        RandomColorDegeneration(0.5)(torch.ones(2, 3, 3, 2), training=True)
    first = r"Fix: the channels come first; brainnet's images are \(batch, height, width, channels\): " \
            r"x\.permute\(0, 2, 3, 1\) \(NumPy: x\.transpose\(0, 2, 3, 1\)\)"
    for layer in (RandomGrayscale(1.0), RandomColorDegeneration(0.5)):  # torchvision's (N, C, H, W) images
        with pytest.raises(ValueError, match=rf"\({type(layer).__name__}\): expected RGB images with 3 channels.*"
                                             rf"got 8 channels?(\(s\))? in shape \(2, 3, 5, 8\)\. {first}"):
            layer(torch.ones(2, 3, 5, 8), training=True)
    with pytest.raises(ValueError, match=r"got 2 channel\(s\) in shape \(2, 3, 3, 2\)\. Fix: use it on colour "
                                         r"images only, or repeat a gray channel with x\.repeat\(1, 1, 1, 3\) "
                                         r"\(NumPy: np\.repeat\(x, 3, axis=-1\)\)"):
        RandomGrayscale(1.0)(torch.ones(2, 3, 3, 2), training=True)
    with pytest.raises(ValueError, match="AutoContrast: expected value_range as a pair"):
        AutoContrast(value_range=(0, 0))
    with pytest.raises(ValueError, match="expected input of rank 4"):
        AutoContrast()(torch.ones(3, 3, 3))
    # one unbatched RGB image (Keras takes it): the fix says x[None], not only the one-channel x[..., None]
    for layer in (AutoContrast(), RandomInvert(), Equalization()):
        with pytest.raises(ValueError, match=rf"\({type(layer).__name__}\) expected input of rank 4 \(batch, height, "
                                             r"width, channels\), got shape \(8, 8, 3\) of rank 3\. Fix: give a batch "
                                             r"of images: one image \(height, width, channels\) is x\[None\], "
                                             r"one-channel images \(batch, height, width\) are x\[\.\.\., None\]"):
            layer(torch.ones(8, 8, 3), training=True)
    with pytest.raises(ValueError, match="expected seed to be an integer or None"):
        RandomInvert(seed="one")
