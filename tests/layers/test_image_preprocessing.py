"""Resizing, CenterCrop, RandomCrop and RandomBrightness against naive NumPy
loops over their docstring equations (float64, atol 1e-12): half-pixel
bilinear and nearest resizing up and down, the aspect-ratio crop, centre
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


def np_aspect_crop(img: np.ndarray, height: int, width: int) -> np.ndarray:
    h, w, _ = img.shape
    ch = max(min(h, int(w * height / width)), 1)
    cw = max(min(w, int(h * width / height)), 1)
    top, left = (h - ch) // 2, (w - cw) // 2
    return img[top:top + ch, left:left + cw]


@pytest.mark.parametrize("size", [(10, 14), (3, 4), (5, 7), (8, 3), (1, 1)])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_resizing_matches_naive(size, interpolation):
    x = images()
    y = Resizing(*size, interpolation=interpolation)(x)
    assert y.shape == (2, *size, 2) and y.dtype == torch.float64
    naive = np_bilinear if interpolation == "bilinear" else np_nearest
    for n in range(2):
        np.testing.assert_allclose(y[n].numpy(), naive(x[n].numpy(), *size), rtol=0, atol=1e-9)


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
              RandomCrop(4, 4, seed=1), RandomBrightness((-0.1, 0.2), value_range=(0, 1), seed=2)]
    for layer in layers:
        config = layer.get_config()
        assert type(layer).from_config(config).get_config() == config
    x = (images(n=4, h=9, w=9, c=3) / 255).float().numpy()
    model = Sequential([Resizing(8, 8, input_shape=(9, 9, 3)), RandomCrop(6, 6, seed=0),
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
    with pytest.raises(ValueError, match="interpolation to be one of 'bilinear', 'nearest', got 'bicubic'"):
        Resizing(4, 4, interpolation="bicubic")
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
