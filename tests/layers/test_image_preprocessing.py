"""Resizing, CenterCrop, RandomCrop and RandomBrightness against naive NumPy
loops over their docstring equations (float64, atol 1e-12): half-pixel
bilinear, nearest, bicubic (PyTorch's a = −0.75 kernel, Keras's torch
backend) and Lanczos (jax.image.resize's normalised windowed sinc)
resizing up and down, the aspect-ratio crop, centre
and random windows; training-only randomness with seeds; configs, a model
saved and loaded, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from brainnet.layers import CenterCrop, Dense, Flatten, RandomBrightness, RandomCrop, Resizing
from brainnet.models import Sequential, load_model


def images(n: int = 2, h: int = 5, w: int = 7, c: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).random((n, h, w, c)) * 255)


def np_bilinear(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """Half-pixel centres, no antialias: each output pixel from its 4 neighbours, by explicit loops."""
    h, w, c = img.shape
    out = np.zeros((height, width, c))
    for i in range(height):
        u = max((i + 0.5) * h / height - 0.5, 0.0)
        p0 = min(int(math.floor(u)), h - 1)
        p1, wu = min(p0 + 1, h - 1), u - p0
        for j in range(width):
            v = max((j + 0.5) * w / width - 0.5, 0.0)
            q0 = min(int(math.floor(v)), w - 1)
            q1, wv = min(q0 + 1, w - 1), v - q0
            for k in range(c):
                out[i, j, k] = ((1 - wu) * (1 - wv) * img[p0, q0, k] + (1 - wu) * wv * img[p0, q1, k]
                                + wu * (1 - wv) * img[p1, q0, k] + wu * wv * img[p1, q1, k])
    return out


def np_nearest(img: np.ndarray, height: int, width: int) -> np.ndarray:
    h, w, _ = img.shape
    out = np.zeros((height, width, img.shape[2]))
    for i in range(height):
        for j in range(width):
            out[i, j] = img[min(int((i + 0.5) * h / height), h - 1), min(int((j + 0.5) * w / width), w - 1)]
    return out


def np_bicubic(img: np.ndarray, height: int, width: int, a: float = -0.75) -> np.ndarray:
    """Cubic convolution: 4 × 4 taps around the unclamped half-pixel source, indices clamped."""
    def kernel(t: float) -> float:
        t = abs(t)
        if t <= 1:
            return (a + 2) * t ** 3 - (a + 3) * t ** 2 + 1
        return a * t ** 3 - 5 * a * t ** 2 + 8 * a * t - 4 * a if t < 2 else 0.0

    h, w, c = img.shape
    out = np.zeros((height, width, c))
    for i in range(height):
        u = (i + 0.5) * h / height - 0.5
        for j in range(width):
            v = (j + 0.5) * w / width - 0.5
            for p in range(math.floor(u) - 1, math.floor(u) + 3):
                for q in range(math.floor(v) - 1, math.floor(v) + 3):
                    out[i, j] += kernel(u - p) * kernel(v - q) * img[min(max(p, 0), h - 1), min(max(q, 0), w - 1)]
    return out


def np_lanczos(img: np.ndarray, height: int, width: int, a: int) -> np.ndarray:
    """Separable windowed sinc over every pixel, each output's weights normalised to sum 1."""
    def kernel(t: float) -> float:
        if abs(t) >= a:
            return 0.0
        return 1.0 if t == 0 else a * math.sin(math.pi * t) * math.sin(math.pi * t / a) / (math.pi * t) ** 2

    def weights(n: int, m: int) -> np.ndarray:
        w = np.zeros((m, n))
        for i in range(m):
            u = (i + 0.5) * n / m - 0.5
            w[i] = [kernel(u - p) for p in range(n)]
            w[i] /= w[i].sum()
        return w

    h, w, c = img.shape
    rows, cols = weights(h, height), weights(w, width)
    out = np.zeros((height, width, c))
    for i in range(height):
        for j in range(width):
            for p in range(h):
                for q in range(w):
                    out[i, j] += rows[i, p] * cols[j, q] * img[p, q]
    return out


def np_aspect_crop(img: np.ndarray, height: int, width: int) -> np.ndarray:
    h, w, _ = img.shape
    ch = max(min(h, int(w * height / width)), 1)
    cw = max(min(w, int(h * width / height)), 1)
    top, left = (h - ch) // 2, (w - cw) // 2
    return img[top:top + ch, left:left + cw]


@pytest.mark.parametrize("size", [(10, 14), (3, 4), (5, 7), (8, 3), (1, 1)])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest", "bicubic", "lanczos3", "lanczos5"])
def test_resizing_matches_naive(size, interpolation):
    x = images()
    y = Resizing(*size, interpolation=interpolation)(x)
    assert y.shape == (2, *size, 2) and y.dtype == torch.float64
    naive = {"bilinear": np_bilinear, "nearest": np_nearest, "bicubic": np_bicubic,
             "lanczos3": lambda img, h, w: np_lanczos(img, h, w, 3),
             "lanczos5": lambda img, h, w: np_lanczos(img, h, w, 5)}[interpolation]
    for n in range(2):
        np.testing.assert_allclose(y[n].numpy(), naive(x[n].numpy(), *size), rtol=0, atol=1e-9)


@pytest.mark.parametrize("interpolation", ["bicubic", "lanczos3", "lanczos5"])
def test_smooth_kernels_keep_a_constant_image_and_overshoot_at_an_edge(interpolation):
    flat = torch.full((1, 4, 5, 1), 7.0, dtype=torch.float64)
    torch.testing.assert_close(Resizing(9, 3, interpolation=interpolation)(flat), torch.full((1, 9, 3, 1), 7.0,
                                                                                              dtype=torch.float64))
    step = torch.zeros(1, 4, 4, 1, dtype=torch.float64)
    step[:, :, 2:] = 255.0
    y = Resizing(4, 12, interpolation=interpolation)(step)
    assert float(y.min()) < 0 and float(y.max()) > 255  # the negative lobes ring at the edge (bilinear does not)


def test_bicubic_of_uint8_pixels_stays_in_0_255_as_keras():
    step = torch.zeros(1, 4, 4, 1, dtype=torch.uint8)
    step[:, :, 2:] = 255
    y = Resizing(4, 12, interpolation="bicubic")(step)
    assert y.dtype == torch.get_default_dtype() and float(y.min()) == 0.0 and float(y.max()) == 255.0
    free = Resizing(4, 12, interpolation="bicubic")(step.to(torch.get_default_dtype()))
    torch.testing.assert_close(y, free.clamp(0, 255))


def test_lanczos_weights_are_jax_s_on_a_known_case():
    # Upsampling 2 → 4: output 0 samples u = −0.25; jax.image.resize's lanczos3 weights there are
    # L(−0.25), L(−1.25) normalised; L(t) = 3·sin(πt)·sin(πt/3)/(πt)².
    from brainnet.layers.image_preprocessing import lanczos_weights

    lanczos = lambda t: 3 * math.sin(math.pi * t) * math.sin(math.pi * t / 3) / (math.pi * t) ** 2  # noqa: E731
    w = lanczos_weights(2, 4, 3, torch.float64)
    expected = np.array([lanczos(-0.25), lanczos(-1.25)])
    np.testing.assert_allclose(w[:, 0].numpy(), expected / expected.sum(), rtol=0, atol=1e-15)
    np.testing.assert_allclose(w.sum(0).numpy(), np.ones(4), rtol=0, atol=1e-15)


@pytest.mark.parametrize("size", [(4, 4), (3, 6), (6, 2)])
def test_resizing_crop_to_aspect_ratio(size):
    x = images(h=6, w=9)
    y = Resizing(*size, crop_to_aspect_ratio=True)(x)
    for n in range(2):
        expected = np_bilinear(np_aspect_crop(x[n].numpy(), *size), *size)
        np.testing.assert_allclose(y[n].numpy(), expected, rtol=0, atol=1e-9)


def test_resizing_uint8_gives_floats_and_same_size_is_unchanged():
    x = (images() ).to(torch.uint8)
    y = Resizing(5, 7)(x)
    assert y.dtype == torch.float32 and torch.equal(y, x.float())


def test_center_crop_matches_naive_and_resizes_small_images():
    x = images(h=7, w=8)
    y = CenterCrop(4, 5)(x)
    top, left = (7 - 4) // 2, (8 - 5) // 2
    for n in range(2):
        for i in range(4):
            for j in range(5):
                assert torch.equal(y[n, i, j], x[n, top + i, left + j])
    small = CenterCrop(10, 6)(x)  # taller than the image: resized as Keras
    for n in range(2):
        np.testing.assert_allclose(small[n].numpy(), np_bilinear(np_aspect_crop(x[n].numpy(), 10, 6), 10, 6),
                                   rtol=0, atol=1e-9)


def test_random_crop_training_windows_inference_resize_and_seeds():
    x = images(n=3, h=9, w=10)
    layer = RandomCrop(4, 6, seed=3)
    corners = set()
    for _ in range(20):
        y = layer(x, training=True)
        assert y.shape == (3, 4, 6, 2)
        # one window for the whole batch (Keras): find it by exact match
        found = [(t, l) for t in range(9 - 4 + 1) for l in range(10 - 6 + 1)
                 if torch.equal(y, x[:, t:t + 4, l:l + 6])]
        assert len(found) == 1
        corners.add(found[0])
    assert len(corners) > 5
    a, b, c = RandomCrop(4, 6, seed=1), RandomCrop(4, 6, seed=1), RandomCrop(4, 6, seed=2)
    ya = [a(x, training=True) for _ in range(3)]
    assert all(torch.equal(p, b(x, training=True)) for p in ya)
    assert not all(torch.equal(p, c(x, training=True)) for p in ya)
    inference = layer(x, training=False)
    for n in range(3):
        np.testing.assert_allclose(inference[n].numpy(), np_bilinear(np_aspect_crop(x[n].numpy(), 4, 6), 4, 6),
                                   rtol=0, atol=1e-9)
    layer.eval()
    assert torch.equal(layer(x), inference)
    assert RandomCrop(12, 12)(x, training=True).shape == (3, 12, 12, 2)  # smaller images: resized


def test_random_brightness_formula_per_image_and_identity_at_inference():
    x = images(n=16)
    low, high = -0.3, 0.5
    y = RandomBrightness((low, high), seed=4)(x, training=True).numpy()
    xs = x.numpy()
    inside = (xs[:, 0, 0, 0] > 100) & (xs[:, 0, 0, 0] < 150)  # far from the clip at 0 and 255
    a = (y[:, 0, 0, 0] - xs[:, 0, 0, 0]) / 255.0
    assert np.all((a[inside] >= low) & (a[inside] <= high))
    for n in range(16):
        if not inside[n]:
            continue
        for idx in np.ndindex(*xs.shape[1:]):
            expected = min(max(xs[(n, *idx)] + a[n] * 255.0, 0.0), 255.0)
            assert abs(y[(n, *idx)] - expected) < 1e-9
    assert np.ptp(a[inside]) > 0  # per image
    layer = RandomBrightness(0.2, value_range=(0, 1))
    unit = torch.rand(4, 3, 3, 1, dtype=torch.float64)
    assert layer(unit, training=False) is unit
    out = layer(unit, training=True)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    s1, s2 = RandomBrightness(0.5, seed=9), RandomBrightness(0.5, seed=9)
    assert torch.equal(s1(x, training=True), s2(x, training=True))


def test_configs_and_save_load(tmp_path):
    layers = [Resizing(6, 8, interpolation="nearest", crop_to_aspect_ratio=True), CenterCrop(4, 4),
              Resizing(5, 5, interpolation="Lanczos5"), Resizing(3, 2, interpolation="bicubic"),
              RandomCrop(4, 4, seed=1), RandomBrightness((-0.1, 0.2), value_range=(0, 1), seed=2)]
    for layer in layers:
        config = layer.get_config()
        assert type(layer).from_config(config).get_config() == config
    x = (images(n=4, h=9, w=9, c=3) / 255).float().numpy()
    model = Sequential([Resizing(8, 8, interpolation="lanczos3", input_shape=(9, 9, 3)), RandomCrop(6, 6, seed=0),
                        RandomBrightness(0.1, value_range=(0, 1)), CenterCrop(4, 4), Flatten(), Dense(2)])
    assert model.compute_output_shape((None, 9, 9, 3)) == (None, 2)
    model.compile("sgd", "mse")
    model.fit(x, np.zeros((4, 2), np.float32), epochs=1, verbose=0)
    path = tmp_path / "images.brainnet"
    model.save(path)
    np.testing.assert_array_equal(load_model(path).predict(x), model.predict(x))


def test_errors():
    with pytest.raises(ValueError, match="Resizing: expected height to be a positive integer, got 0"):
        Resizing(0, 4)
    with pytest.raises(ValueError, match="Resizing: expected interpolation to be one of 'bilinear', 'nearest', "
                                         "'bicubic', 'lanczos3', 'lanczos5', got 'area'. Fix: Resizing"):
        Resizing(4, 4, interpolation="area")
    with pytest.raises(ValueError, match="CenterCrop: expected width to be a positive integer"):
        CenterCrop(4, -1)
    with pytest.raises(ValueError, match="RandomCrop: expected height to be a positive integer"):
        RandomCrop(2.5, 4)
    with pytest.raises(ValueError, match=r"RandomBrightness: expected factor within \[-1, 1\].*Fix"):
        RandomBrightness(1.5)
    with pytest.raises(ValueError, match="expected value_range as a pair.*got \\(1, 0\\)"):
        RandomBrightness(0.1, value_range=(1, 0))
    with pytest.raises(ValueError, match="expected input of rank 4"):
        Resizing(4, 4)(torch.ones(2, 3, 3))
