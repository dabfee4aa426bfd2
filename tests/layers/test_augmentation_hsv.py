"""Keras 3's HSV colour layers (RandomSaturation, RandomHue,
RandomColorJitter) against naive per-pixel NumPy versions of their docstring
equations built on Python's own colorsys (an independent HSV), float64; the
draws pinned by zero-width ranges, a half turn of hue (the same either way),
or replayed from the layer's seeded generator; identity at inference, seeds,
configs, save/load and errors."""

from __future__ import annotations

import colorsys
import doctest

import numpy as np
import pytest
import torch

import brainnet.layers.augmentation_hsv
from brainnet.layers import Dense, Flatten, RandomColorJitter, RandomHue, RandomSaturation
from brainnet.layers.augmentation_hsv import hsv_to_rgb, rgb_to_hsv
from brainnet.models import Sequential, load_model


def _rgb(n: int = 6, h: int = 4, w: int = 5, seed: int = 0, scale: float = 255.0) -> torch.Tensor:
    img = np.random.default_rng(seed).random((n, h, w, 3))
    img[0, 0, 0] = [0.5, 0.5, 0.5]  # a gray pixel: no hue
    img[0, 0, 1] = [0.0, 0.0, 0.0]  # black: no saturation
    img[0, 0, 2] = [0.8, 0.8, 0.2]  # ties between the largest channels
    return torch.from_numpy(img * scale)


# ------------------------------------------------------- the NumPy references
def np_saturate(img: np.ndarray, u: float) -> np.ndarray:
    out = np.empty_like(img)
    for i, j in np.ndindex(*img.shape[:2]):
        h, s, v = colorsys.rgb_to_hsv(*img[i, j])
        s2 = (1.0 if s > 0 else 0.0) if u == 1 else min(s * u / (1 - u), 1.0)
        out[i, j] = colorsys.hsv_to_rgb(h, s2, v)
    return out


def np_hue(img: np.ndarray, delta: float, r: tuple[float, float]) -> np.ndarray:
    out = np.empty_like(img)
    for i, j in np.ndindex(*img.shape[:2]):
        h, s, v = colorsys.rgb_to_hsv(*((img[i, j] - r[0]) / (r[1] - r[0])))
        rgb = np.clip(colorsys.hsv_to_rgb((h + delta) % 1.0, s, v), 0.0, 1.0)
        out[i, j] = rgb * (r[1] - r[0]) + r[0]
    return out


# ------------------------------------------------------------------ HSV
def test_hsv_round_trip_and_colorsys_agree():
    x = _rgb(scale=1.0)
    hsv = rgb_to_hsv(x)
    for idx in np.ndindex(*x.shape[:3]):
        np.testing.assert_allclose(hsv[idx].numpy(), colorsys.rgb_to_hsv(*x[idx].numpy()), rtol=0, atol=1e-12)
    np.testing.assert_allclose(hsv_to_rgb(hsv).numpy(), x.numpy(), rtol=0, atol=1e-12)


def _random_layers(seed: int | None = 1) -> list:
    return [RandomSaturation(0.8, seed=seed), RandomHue(0.5, (0, 255), seed=seed),
            RandomColorJitter(brightness_factor=0.2, contrast_factor=0.3, saturation_factor=(0.2, 0.8),
                              hue_factor=0.3, seed=seed)]


@pytest.mark.parametrize("layer", _random_layers(), ids=lambda l: type(l).__name__)
def test_identity_at_inference_random_per_image_in_training(layer):
    x = _rgb(n=16)
    assert layer(x, training=False) is x
    y = layer(x, training=True)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert sum(not torch.allclose(y[k], x[k]) for k in range(16)) >= 2


@pytest.mark.parametrize("index", range(3))
def test_same_seed_same_output_other_seed_other_output(index):
    x = _rgb(n=8)
    a, b, c = _random_layers(7)[index], _random_layers(7)[index], _random_layers(8)[index]
    ya = a(x, training=True)
    assert torch.equal(ya, b(x, training=True)) and not torch.equal(ya, c(x, training=True))


# ------------------------------------------------------------------ RandomSaturation
@pytest.mark.parametrize("u", [0.0, 0.3, 0.5, 0.8, 1.0])
def test_saturation_matches_the_equation(u):
    x = _rgb()
    y = RandomSaturation((u, u))(x, training=True).numpy()
    np.testing.assert_allclose(y, np.stack([np_saturate(img, u) for img in x.numpy()]), rtol=0, atol=1e-9)
    if u == 0.5:
        np.testing.assert_allclose(y, x.numpy(), rtol=0, atol=1e-9)  # ½: unchanged


# ------------------------------------------------------------------ RandomHue
@pytest.mark.parametrize("value_range", [(0, 255), (0, 1), (-1, 1)])
def test_hue_half_turn_matches_the_equation(value_range):
    x = _rgb(scale=1.0) * (value_range[1] - value_range[0]) + value_range[0]
    y = RandomHue((1.0, 1.0), value_range)(x, training=True).numpy()  # ± half a turn: the same turn
    expected = np.stack([np_hue(img, 0.5, value_range) for img in x.numpy()])
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-9)


def test_hue_turns_each_image_one_way_or_the_other():
    x = _rgb(n=40, h=2, w=3)
    y = RandomHue((0.4, 0.4), (0, 255), seed=3)(x, training=True).numpy()
    ways = []
    for k in range(40):
        plus, minus = np_hue(x[k].numpy(), 0.2, (0, 255)), np_hue(x[k].numpy(), -0.2, (0, 255))
        ways.append(1 if np.allclose(y[k], plus, atol=1e-9) else -1 if np.allclose(y[k], minus, atol=1e-9) else 0)
    assert 0 not in ways and {1, -1} <= set(ways)


# ------------------------------------------------------------------ RandomColorJitter
def test_color_jitter_matches_the_chain_with_the_draws_replayed():
    x = _rgb(n=5)
    layer = RandomColorJitter((0, 255), brightness_factor=(-0.2, 0.3), contrast_factor=(0.4, 0.5),
                              saturation_factor=(0.2, 0.9), hue_factor=(0.1, 0.6), seed=11)
    y = layer(x, training=True).numpy()
    g = torch.Generator().manual_seed(11)  # the layer's draws, in its order

    def draw() -> np.ndarray:
        return torch.rand((5,), generator=g, dtype=torch.float64).numpy()

    b = -0.2 + 0.5 * draw()
    a = 0.6 + 0.9 * draw()
    u = 0.2 + 0.7 * draw()
    sign = np.where(draw() > 0.5, -1.0, 1.0)
    h = 0.1 + 0.5 * draw()
    for k in range(5):
        img = np.clip(x[k].numpy() + b[k] * 255, 0, 255)
        mean = img.mean(axis=(0, 1))
        img = np.clip((img - mean) * a[k] + mean, 0, 255)
        img = np_hue(np_saturate(img, u[k]), sign[k] * h[k] / 2, (0, 255))
        np.testing.assert_allclose(y[k], img, rtol=0, atol=1e-9)


def test_color_jitter_skips_the_steps_left_out():
    x = _rgb()
    assert torch.equal(RandomColorJitter(seed=0)(x, training=True), x)
    only = RandomColorJitter(value_range=(0, 255), saturation_factor=(0.0, 0.0))(x, training=True).numpy()
    np.testing.assert_allclose(only, np.stack([np_saturate(img, 0.0) for img in x.numpy()]), rtol=0, atol=1e-9)


# ------------------------------------------------------------------ the rest
def test_configs_and_save_load(tmp_path):
    layers = [RandomSaturation((0.3, 0.7), value_range=(0, 1), seed=1), RandomHue(0.2, (0, 1), seed=2),
              RandomColorJitter((0, 1), 0.1, (0.2, 0.3), 0.6, (0.1, 0.2), seed=3), RandomColorJitter()]
    for layer in layers:
        config = layer.get_config()
        assert type(layer).from_config(config).get_config() == config
    x = _rgb(n=8, scale=1.0).float().numpy()
    model = Sequential([*[type(l).from_config(l.get_config()) for l in layers[:3]], Flatten(), Dense(2)])
    model.compile("sgd", "mse")
    model.fit(x, np.zeros((8, 2), np.float32), epochs=1, verbose=0)
    path = tmp_path / "hsv.brainnet"
    model.save(path)
    again = load_model(path)
    assert [l.get_config() for l in again.layers] == [l.get_config() for l in model.layers]
    np.testing.assert_array_equal(again.predict(x), model.predict(x))


def test_docstring_examples():
    failures, tried = doctest.testmod(brainnet.layers.augmentation_hsv)
    assert tried >= 8 and failures == 0


def test_errors():
    with pytest.raises(ValueError, match=r"RandomSaturation: expected factor within \[0, 1\].*Fix"):
        RandomSaturation(1.5)
    with pytest.raises(ValueError, match=r"RandomHue: expected value_range as a pair \(low, high\).*Fix"):
        RandomHue(0.2, value_range=(255, 0))
    with pytest.raises(TypeError, match="value_range"):
        RandomHue(0.2)  # required, as in Keras
    with pytest.raises(ValueError, match=r"RandomColorJitter: expected hue_factor within \[0, 1\].*Fix: "
                                         r"RandomColorJitter\(hue_factor=0.5\)"):
        RandomColorJitter(hue_factor=2.0)
    with pytest.raises(ValueError, match=r"RandomColorJitter: expected brightness_factor within \[-1, 1\] \(a "
                                         r"fraction of the value range\), got 1.5\. Fix: RandomColorJitter\("
                                         r"brightness_factor=0.2\)"):
        RandomColorJitter(brightness_factor=1.5)
    with pytest.raises(ValueError, match=r"RandomColorJitter: expected contrast_factor with lower in \[0, 1\] and "
                                         r"upper ≥ 0, got 1.5\. Fix: RandomColorJitter\(contrast_factor=0.2\)"):
        RandomColorJitter(contrast_factor=1.5)
    with pytest.raises(ValueError, match=r"\(RandomSaturation\): expected RGB images with 3 channels, got 1"):
        RandomSaturation(0.5)(torch.ones(1, 2, 2, 1), training=True)
    with pytest.raises(ValueError, match=r"\(RandomColorJitter\): expected RGB images with 3 channels"):
        RandomColorJitter(hue_factor=0.1)(torch.ones(1, 2, 2, 4), training=True)
    with pytest.raises(ValueError, match=r"\(RandomHue\): expected RGB images with 3 channels, got 32 channel\(s\) "
                                         r"in shape \(1, 3, 32, 32\)\. Fix: the channels come first; .*"
                                         r"x\.permute\(0, 2, 3, 1\)"):
        RandomHue(0.5, value_range=(0, 1))(torch.ones(1, 3, 32, 32), training=True)
