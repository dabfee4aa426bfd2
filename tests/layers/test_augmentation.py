"""Augmentation layers: identity at inference, random per image in training,
repeatable with a seed, geometry against a naive NumPy resampler (float64),
exact flips, contrast and erasing, errors, config and save/load."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from brainnet.layers import (
    Dense,
    Flatten,
    RandomContrast,
    RandomErasing,
    RandomFlip,
    RandomRotation,
    RandomSharpness,
    RandomTranslation,
    RandomZoom,
)
from brainnet import layers
from brainnet.models import Sequential, load_model

F64 = torch.float64


def _images(n: int = 4, h: int = 7, w: int = 9, c: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).random((n, h, w, c)))  # float64


def _all_layers(seed: int | None = 1) -> list:
    return [
        RandomFlip(seed=seed), RandomRotation(0.2, seed=seed), RandomTranslation(0.2, 0.3, seed=seed),
        RandomZoom(0.3, seed=seed), RandomContrast(0.5, seed=seed), RandomErasing(p=1.0, seed=seed),
    ]


# ------------------------------------------------------- the NumPy reference
def _index(i: np.ndarray, n: int, mode: str) -> np.ndarray:
    """Keras's fill modes, applied to each integer neighbour index."""
    if mode == "nearest":
        return np.clip(i, 0, n - 1)
    if mode == "reflect":  # (d c b a | a b c d | d c b a)
        period = 2 * n
        i = np.mod(i, period)
        return np.where(i >= n, period - 1 - i, i)
    if mode == "mirror":  # (d c b | a b c d | c b a)
        period = 2 * (n - 1)
        i = np.mod(i, period)
        return np.where(i >= n, period - i, i)
    return i  # constant: handled by the caller


def _bilinear(img: np.ndarray, yin: np.ndarray, xin: np.ndarray, mode: str, fill: float = 0.0) -> np.ndarray:
    """y[i, j] = Σ over the 4 neighbours of (yin, xin) of weight · x[neighbour]."""
    h, w, _ = img.shape
    y0, x0 = np.floor(yin).astype(int), np.floor(xin).astype(int)
    out = np.zeros(yin.shape + (img.shape[2],))
    for dy in (0, 1):
        for dx in (0, 1):
            yi, xi = y0 + dy, x0 + dx
            weight = (1 - np.abs(yin - yi)) * (1 - np.abs(xin - xi))
            if mode == "constant":
                inside = (yi >= 0) & (yi < h) & (xi >= 0) & (xi < w)
                vals = np.where(inside[..., None], img[np.clip(yi, 0, h - 1), np.clip(xi, 0, w - 1)], fill)
            else:
                vals = img[_index(yi, h, mode), _index(xi, w, mode)]
            out += weight[..., None] * vals
    return out


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray, float, float]:
    i, j = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
    return i, j, (h - 1) / 2, (w - 1) / 2


def _np_rotate(img: np.ndarray, turns: float, mode: str, fill: float = 0.0) -> np.ndarray:
    """The docstring's equation: y[i, j] = x(c_y + sin θ (j − c_x) + cos θ (i − c_y), c_x + cos θ (j − c_x) − sin θ (i − c_y))."""
    i, j, cy, cx = _grid(*img.shape[:2])
    t = 2 * math.pi * turns
    yin = cy + math.sin(t) * (j - cx) + math.cos(t) * (i - cy)
    xin = cx + math.cos(t) * (j - cx) - math.sin(t) * (i - cy)
    return _bilinear(img, yin, xin, mode, fill)


# ------------------------------------------------------------- all layers
@pytest.mark.parametrize("layer", _all_layers(), ids=lambda l: type(l).__name__)
def test_identity_at_inference_and_random_in_training(layer):
    x = _images(n=16)
    assert layer(x, training=False) is x
    assert layer.compute_output_shape((None, 7, 9, 2)) == (None, 7, 9, 2)
    y = layer(x, training=True)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert not torch.equal(y, x)
    changed = [not torch.equal(y[k], x[k]) for k in range(16)]
    assert sum(changed) >= 2  # per-image parameters: not all-or-nothing across the batch
    layer.eval()  # model.eval() / predict: training=None follows the module's mode
    assert layer(x) is x


@pytest.mark.parametrize("index", range(6))
def test_same_seed_same_output_other_seed_other_output(index):
    x = _images()
    a, b, c = _all_layers(seed=7)[index], _all_layers(seed=7)[index], _all_layers(seed=8)[index]
    ya, yb, yc = a(x, training=True), b(x, training=True), c(x, training=True)
    assert torch.equal(ya, yb)
    assert not torch.equal(ya, yc)
    assert not torch.equal(a(x, training=True), ya)  # the next batch gets new draws


def test_inside_a_model_predict_is_identity_and_fit_runs(tmp_path):
    x = _images(n=8).float().numpy()
    model = Sequential([RandomFlip("horizontal", input_shape=(7, 9, 2)), RandomRotation(0.1), RandomZoom(0.1),
                        RandomTranslation(0.1, 0.1), RandomContrast(0.2), RandomErasing(), Flatten(), Dense(3)])
    model.compile("sgd", "mse")
    plain = Sequential([Flatten(input_shape=(7, 9, 2)), Dense(3)])
    plain.set_weights(model.get_weights())
    # Identity: equal up to the float rounding of the device's matrix kernels.
    np.testing.assert_allclose(model.predict(x), plain.predict(x), rtol=1e-6, atol=1e-6)
    model.fit(x, np.zeros((8, 3), np.float32), epochs=1, verbose=0)
    path = tmp_path / "aug.brainnet"
    model.save(path)
    again = load_model(path)
    assert [l.get_config() for l in again.layers] == [l.get_config() for l in model.layers]
    np.testing.assert_array_equal(again.predict(x), model.predict(x))


@pytest.mark.parametrize("layer", _all_layers(seed=3), ids=lambda l: type(l).__name__)
def test_config_round_trip(layer):
    config = layer.get_config()
    again = type(layer).from_config(config)
    assert again.get_config() == config
    x = _images()
    assert torch.equal(type(layer).from_config(config)(x, training=True), again(x, training=True))


# ------------------------------------------------------------------ flips
def test_flips_are_exact_per_image():
    x = _images(n=16)
    y = RandomFlip("horizontal", seed=0)(x, training=True)
    kinds = ["same" if torch.equal(y[k], x[k]) else "flip" if torch.equal(y[k], x[k].flip(1)) else "?"
             for k in range(16)]
    assert set(kinds) == {"same", "flip"}
    y = RandomFlip("vertical", seed=0)(x, training=True)
    assert all(torch.equal(y[k], x[k]) or torch.equal(y[k], x[k].flip(0)) for k in range(16))
    y = RandomFlip(seed=0)(x, training=True)
    options = lambda k: [x[k], x[k].flip(0), x[k].flip(1), x[k].flip(0).flip(1)]  # noqa: E731
    assert all(any(torch.equal(y[k], o) for o in options(k)) for k in range(16))


# --------------------------------------------------------------- geometry
@pytest.mark.parametrize("mode", ["constant", "nearest", "reflect", "mirror"])
def test_rotation_matches_the_numpy_equation(mode):
    x = _images(n=2, h=7, w=9)
    turns = 0.07  # about 25°
    y = RandomRotation((turns, turns), fill_mode=mode, fill_value=0.5 if mode == "constant" else 0.0)(
        x, training=True)
    for k in range(2):
        expected = _np_rotate(x[k].numpy(), turns, mode, fill=0.5)
        np.testing.assert_allclose(y[k].numpy(), expected, rtol=0, atol=1e-9)


def test_quarter_turn_with_nearest_interpolation_is_rot90():
    x = _images(n=3, h=6, w=6)
    y = RandomRotation((0.25, 0.25), interpolation="nearest")(x, training=True)
    for k in range(3):  # counter-clockwise as displayed (rows down)
        np.testing.assert_array_equal(y[k].numpy(), np.rot90(x[k].numpy(), 1, axes=(0, 1)))


def test_translation_by_whole_pixels_is_a_shift():
    x = _images(n=2, h=8, w=10)
    y = RandomTranslation((0.25, 0.25), (-0.2, -0.2), fill_mode="constant")(x, training=True)
    expected = torch.zeros_like(x)
    expected[:, 2:, :8] = x[:, :6, 2:]  # down by 2 rows (0.25·8), left by 2 columns (0.2·10)
    torch.testing.assert_close(y, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("mode", ["reflect", "nearest"])
def test_zoom_matches_the_numpy_equation(mode):
    x = _images(n=2, h=7, w=9)
    y = RandomZoom((0.3, 0.3), (-0.2, -0.2), fill_mode=mode)(x, training=True)
    i, j, cy, cx = _grid(7, 9)
    for k in range(2):
        expected = _bilinear(x[k].numpy(), cy + 1.3 * (i - cy), cx + 0.8 * (j - cx), mode)
        np.testing.assert_allclose(y[k].numpy(), expected, rtol=0, atol=1e-9)


# ------------------------------------------------------- contrast, erasing
def test_contrast_formula_per_image_and_channel():
    x = _images(n=8)
    low, high = 0.3, 0.6
    y = RandomContrast((low, high), value_range=(-1, 2), seed=2)(x, training=True).numpy()  # a range that clips nothing
    xs = x.numpy()
    mean = xs.mean(axis=(1, 2), keepdims=True)  # (B, 1, 1, C)
    a = (y[:, 0, 0, 0] - mean[:, 0, 0, 0]) / (xs[:, 0, 0, 0] - mean[:, 0, 0, 0])  # each image's factor
    assert np.all((a >= 1 - low) & (a <= 1 + high)) and np.ptp(a) > 0
    np.testing.assert_allclose(y, (xs - mean) * a[:, None, None, None] + mean, rtol=0, atol=1e-12)


def test_contrast_clips_to_the_value_range_as_keras_3():
    """y = clip((x − μ)·a + μ, r₀, r₁): the default range (0, 255), or value_range."""
    x = _images(n=8)  # in [0, 1)
    xs = x.numpy()
    mean = xs.mean(axis=(1, 2), keepdims=True)
    unclipped = RandomContrast((0.0, 1.0), value_range=(-1, 2), seed=3)(x, training=True).numpy()
    assert unclipped.min() < 0.0 and unclipped.max() > 1.0  # factors above 1 push the extremes out of [0, 1]
    a = (unclipped[:, 0, 0, 0] - mean[:, 0, 0, 0]) / (xs[:, 0, 0, 0] - mean[:, 0, 0, 0])
    want = np.clip((xs - mean) * a[:, None, None, None] + mean, 0.0, 1.0)
    y = RandomContrast((0.0, 1.0), value_range=(0, 1), seed=3)(x, training=True).numpy()
    np.testing.assert_allclose(y, want, rtol=0, atol=1e-12)
    # the default (0, 255): raw pixels stay in [0, 255], and [0, 1) images lose only what falls below 0
    pixels = x * 255.0
    y255 = RandomContrast((0.0, 1.0), seed=3)(pixels, training=True).numpy()
    np.testing.assert_allclose(y255, np.clip(255.0 * ((xs - mean) * a[:, None, None, None] + mean), 0, 255),
                               rtol=0, atol=1e-9)
    assert RandomContrast(0.2).get_config()["value_range"] == [0.0, 255.0]
    layer = RandomContrast.from_config(RandomContrast(0.2, value_range=(0, 1)).get_config())
    assert layer.value_range == (0.0, 1.0)
    assert torch.equal(RandomContrast(0.9, value_range=(0, 1))(x, training=False), x)  # inference: the identity
    import doctest

    import brainnet.layers.augmentation_intensity as module
    assert doctest.testmod(module).failed == 0  # the docstrings' examples, the clip among them


def test_erasing_fills_one_rectangle_of_the_right_area():
    x = _images(n=32, h=40, w=40, c=3) + 1.0  # no zeros in the input
    y = RandomErasing(p=1.0, value=0.0, seed=4)(x, training=True)
    for k in range(32):
        mask = (y[k] == 0).all(-1).numpy()
        assert mask.any() and torch.equal(y[k][~torch.from_numpy(mask)], x[k][~torch.from_numpy(mask)])
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        h, w = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
        assert mask.sum() == h * w  # a full rectangle
        assert 0.3 * 0.8 <= h / w <= 3.3 * 1.25  # aspect ratio range, up to rounding
        s = h * w / 1600
        assert 0.02 * 0.7 <= s <= 0.33 * 1.15  # area range, up to rounding


def test_erasing_probability_and_per_channel_value():
    x = _images(n=64, h=20, w=20, c=3) + 1.0
    assert torch.equal(RandomErasing(p=0.0)(x, training=True), x)
    y = RandomErasing(p=0.5, value=[-1.0, -2.0, -3.0], seed=5)(x, training=True)
    erased = [(y[k] < 0).any().item() for k in range(64)]
    assert 16 <= sum(erased) <= 48
    for k in range(64):
        if erased[k]:
            mask = (y[k, :, :, 0] == -1.0)
            assert torch.equal(y[k][mask], torch.tensor([-1.0, -2.0, -3.0], dtype=F64).expand(int(mask.sum()), 3))


# ------------------------------------------------------------------ sharpness
def _np_sharpen(img: np.ndarray, f: float, value_range: tuple[float, float]) -> np.ndarray:
    """b = (Σ of the 3 × 3 neighbourhood + 4·centre)/13 with zeros outside; y = clip(x + (1 − 2f)(b − x))."""
    h, w, c = img.shape
    out = np.empty_like(img)
    for i, j, k in np.ndindex(h, w, c):
        total = 4.0 * img[i, j, k]
        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                if 0 <= i + di < h and 0 <= j + dj < w:
                    total += img[i + di, j + dj, k]
        out[i, j, k] = min(max(img[i, j, k] + (1 - 2 * f) * (total / 13.0 - img[i, j, k]), value_range[0]),
                           value_range[1])
    return out


@pytest.mark.parametrize("f", [0.0, 0.3, 0.5, 1.0])
@pytest.mark.parametrize("value_range", [(0, 1), (0, 255)])
def test_sharpness_matches_the_equation(f, value_range):
    x = _images() * value_range[1]
    y = RandomSharpness((f, f), value_range)(x, training=True).numpy()
    np.testing.assert_allclose(y, np.stack([_np_sharpen(img, f, value_range) for img in x.numpy()]),
                               rtol=0, atol=1e-12)


def test_sharpness_per_image_seeded_identity_at_inference_and_config():
    x = _images(n=8)
    layer = RandomSharpness(0.9, value_range=(0, 1), seed=3)
    assert layer(x, training=False) is x
    y = layer(x, training=True)
    assert torch.equal(RandomSharpness(0.9, value_range=(0, 1), seed=3)(x, training=True), y)
    # each image is one blend x + (1 − 2f)(b − x) with its own f in (0, 0.9): recover it at an inner pixel
    blur = np.stack([_np_sharpen(img, 0.0, (-1e9, 1e9)) for img in x.numpy()])
    inner = (slice(None), 3, 4, 0)
    f = (1 - (y.numpy()[inner] - x.numpy()[inner]) / (blur[inner] - x.numpy()[inner])) / 2
    assert np.all((f > -1e-9) & (f < 0.9 + 1e-9)) and np.ptp(f) > 0.1
    config = layer.get_config()
    assert config["factor"] == 0.9 and config["value_range"] == [0.0, 1.0]
    assert RandomSharpness.from_config(config).get_config() == config


# ------------------------------------------------------------------ errors
def test_errors():
    with pytest.raises(ValueError, match="fill_mode 'reflect', 'mirror', 'nearest' or 'constant', got 'wrap'.*Fix"):
        RandomRotation(0.1, fill_mode="wrap")
    with pytest.raises(ValueError, match="interpolation to be one of 'bilinear', 'nearest', got 'bicubic'"):
        RandomZoom(0.1, interpolation="bicubic")
    with pytest.raises(ValueError, match="mode to be one of 'horizontal'.*got 'diagonal'"):
        RandomFlip("diagonal")
    with pytest.raises(ValueError, match=r"expected factor to be a number or a pair \(low, high\), got 'big'"):
        RandomRotation("big")
    with pytest.raises(ValueError, match=r"height_factor within \[-1, 1\]"):
        RandomTranslation(1.5, 0.1)
    with pytest.raises(ValueError, match="height_factor > -1"):
        RandomZoom((-1.0, 0.2))
    with pytest.raises(ValueError, match=r"lower in \[0, 1\] and upper ≥ 0"):
        RandomContrast(1.5)
    with pytest.raises(ValueError, match=r"RandomContrast: expected value_range as a pair \(low, high\) with low < high, "
                                         r"got \(1, 0\)\. Fix: value_range=\(0, 255\)"):
        RandomContrast(0.2, value_range=(1, 0))
    with pytest.raises(ValueError, match=r"expected p in \[0, 1\], got 2"):
        RandomErasing(p=2)
    with pytest.raises(ValueError, match="one value per channel \\(2\\), got 3 values"):
        RandomErasing(p=1.0, value=[1, 2, 3])(_images(), training=True)
    with pytest.raises(ValueError, match="expected input of rank 4"):
        RandomFlip()(torch.ones(2, 3, 4))
    with pytest.raises(ValueError, match="expected seed to be an integer or None"):
        RandomFlip(seed=1.5)
    with pytest.raises(ValueError, match=r"RandomSharpness: expected factor within \[0, 1\].*Fix: "
                                         r"RandomSharpness\(factor=0.5\)"):
        RandomSharpness((0.2, 1.5))
    with pytest.raises(ValueError, match=r"RandomSharpness: expected value_range as a pair"):
        RandomSharpness(0.5, value_range=(0, 0))


@pytest.mark.parametrize("make", [
    lambda: layers.RandomFlip(seed=1), lambda: layers.RandomRotation(0.2, seed=1), lambda: layers.RandomCrop(4, 4, seed=1),
    lambda: layers.RandomContrast(0.3, seed=1), lambda: layers.RandomErasing(p=1.0, seed=1),
])
def test_uint8_images_are_cast_to_float32_as_keras_3(make):
    """Keras 3 casts integer images to the layer's float type: uint8 pixels give
    what the same pixels as float32 give, in training (same seed) and inference."""
    pixels = np.random.default_rng(0).integers(0, 256, size=(2, 6, 6, 3)).astype("uint8")
    as_uint8, as_float = make(), make()
    got = as_uint8(torch.from_numpy(pixels), training=True)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, as_float(torch.from_numpy(pixels.astype("float32")), training=True))
    inferred = make()(torch.from_numpy(pixels), training=False)
    assert inferred.dtype == torch.float32
    torch.testing.assert_close(inferred, make()(torch.from_numpy(pixels.astype("float32")), training=False))


def test_random_contrast_after_normalization_warns_once_that_its_clip_changes_the_pixels():
    """The EANet example's pipeline: Normalization, then RandomContrast with its default value_range (0, 255)."""
    import warnings

    from brainnet.layers import RandomContrast

    layer = RandomContrast(0.1, seed=0)
    normalized = torch.randn(8, 6, 6, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layer(torch.zeros(2, 6, 6, 1), training=True)  # a blank batch (a shape probe) is not looked at
    with pytest.warns(UserWarning, match=r"expected pixels within its value_range \(0, 255\), got values from -.*"
                                         r"Fix: RandomContrast\(\.\.\., value_range=\(low, high\)\)"):
        out = layer(normalized, training=True)
    assert float(out.min()) == 0.0  # the clip Keras 3 makes, kept
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layer(normalized, training=True)  # once per layer
        RandomContrast(0.1)(torch.rand(8, 6, 6, 1) * 255, training=True)  # pixels in range: silent
        RandomContrast(0.1, value_range=(-5, 5))(normalized, training=True)
        RandomContrast(0.1)(normalized, training=False)  # inference: no clip, nothing to say
